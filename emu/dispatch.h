/* Helpers of the threaded dispatch (dispatch.pxi). */
#ifndef PV_DISPATCH_H
#define PV_DISPATCH_H

/* PV_CUR_CHECK: set by dev builds (emu/buildcfg.py).  The tail call to the
 * next instruction then leaves CPU.cur poisoned instead of untouched, so a
 * handler that returns to the run loop, or reads CPU.cur, without having
 * set it is reported instead of running on a stale pointer. */
#ifndef PV_CUR_CHECK
#define PV_CUR_CHECK 0
#endif

/* The next instruction's address, computed into the register the tail call
 * passes it in: GCC then jumps through it (add, jmp *(reg)) instead of
 * computing it twice after a handler's store to the CPU (measured). */
static inline void* pv_in_reg(void* p) {
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+r"(p));
#endif
    return p;
}
#endif
