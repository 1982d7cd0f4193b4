# cython: language_level=3
"""pvemu's core: the x86 CPU model and its run loop, in C via Cython.

One extension module assembled from several .pxi files (one concern each)
so the C compiler can inline across them.  All guest state is the CPU
struct of _core.pxd; every instruction handler is `noexcept nogil` and
reports faults by return code.  The Python-facing class is Machine.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, int32_t, uintptr_t
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy, memset
from cpython.exc cimport PyErr_CheckSignals
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.bytearray cimport PyByteArray_AS_STRING
from posix.mman cimport (mmap, munmap, madvise, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_SHARED,
                          MAP_ANONYMOUS, MAP_FIXED, MAP_FAILED, MADV_DONTNEED)
import os

cdef extern from "<sys/mman.h>":
    int MADV_REMOVE

from emu.bounds import MAX_COUNT, MAX_IPS, MAX_MEMORY
from emu.errors import EmuError
from emu.exits import Exit

include "flags.pxi"
include "memory.pxi"
include "regions.pxi"
include "hooks.pxi"
include "context.pxi"
include "dirty.pxi"
include "coverage.pxi"
include "checks.pxi"
include "paging.pxi"
include "pageprot.pxi"
include "regs.pxi"
include "icache.pxi"
include "hypervisor.pxi"
include "dispatch.pxi"
include "alu.pxi"
include "muldiv.pxi"
include "shift.pxi"
include "bits.pxi"
include "bcd.pxi"
include "datamov.pxi"
include "stack.pxi"
include "strings.pxi"
include "control.pxi"
include "scanloop.pxi"
include "system.pxi"
include "debug.pxi"
include "limits.pxi"
include "segments.pxi"
include "tasks.pxi"
include "interrupts.pxi"
include "pic.pxi"
include "pit.pxi"
include "apic.pxi"
include "ioapic.pxi"
include "smp.pxi"
include "io.pxi"
include "cpuid_gen.pxi"
include "misc.pxi"
include "mca.pxi"
include "cpumodels.pxi"
include "softfloat.pxi"
include "x87.pxi"
include "x87trans.pxi"
include "x87_fast.pxi"
include "simd.pxi"
include "fxsave.pxi"
include "sse_fp.pxi"
include "sse_fast.pxi"
include "memorder.pxi"
include "simd_int.pxi"
include "decode.pxi"
include "opmap_gen.pxi"
include "variants.pxi"
include "trace.pxi"
include "snapshot.pxi"

init_parity()
init_opmap()
init_x87_trans()
init_variants()
init_sse_fast()
init_x87_fast()

# ---------------------------------------------------------------- run loop

cdef bint uses_stack(CPU* c, Insn* i) noexcept nogil:
    """Was the non-canonical access at c.fault_la made through SS (an
    rSP/rBP-based operand, or the stack of a push or pop)?  Decides #SS
    against #GP, rarely."""
    cdef bint stack_op = stack_insn(i)
    cdef bint explicit_ss = (i.mod != 3 and (i.base == R_SP or i.base == R_BP)
                             and (i.seg == S_SS or i.seg == 6))
    if i.mod != 3 and (not stack_op or c.fault_la - mem_la(c, i) < 16):
        return explicit_ss                     # the explicit memory operand faulted
    return stack_op

cdef bint at_stop(CPU* c, uint64_t rip) noexcept nogil:
    """Is rip Machine.run's `until` or one of a debugger's breakpoints?"""
    cdef uint32_t k
    if rip == c.until:
        return True
    for k in range(c.nbreaks):
        if c.breaks[k] == rip:
            return True
    return False

cdef inline void cut_before(Block* b, uint64_t rel, uint32_t* n) noexcept nogil:
    """Cut the block before its instruction at offset rel, if it has one."""
    n[0] = entry_at(b, rel, ~<uint64_t>0, n[0])

cdef inline int exception_exit(CPU* c) noexcept nogil:
    if c.exc_vector == EXC_PROT:
        return EXIT_PROT
    return EXIT_UNMAPPED if c.exc_vector < 0 else EXIT_EXCEPTION

cdef enum:
    NO_BLOCK = -1      # (block_slow) no block ran: an exit, or go round again

cdef int block_slow(CPU* c, uint64_t rip, bint has_until, int* exit, bint* special,
                    bint* step, uint64_t* ipmask_at_start) noexcept nogil:
    """The run loop's slow path: every per-block check in full, then the
    block, cut short if need be.  Returns the block's RC_ (*ipmask_at_start
    is CPU.ipmask as the block began), or NO_BLOCK with *exit set to an exit
    reason (EXIT_NONE: start the loop again)."""
    cdef Block* b
    cdef Insn* i
    cdef Insn* cut
    cdef handler_t saved, fused = NULL
    cdef uint64_t ipmask = c.ipmask, rel
    cdef int rc
    cdef uint32_t n, k
    cdef bint one = False, rf = False
    exit[0] = EXIT_NONE
    if c.icount >= c.next_event:   # timers due, an interrupt pending, a shadow, TF
        if c.step_late == STEP_LATE_TRAP:  # a #DB trap left by the last instruction
            c.step_late = STEP_LATE_NONE
            exit[0] = pending_debug_trap(c, rip)
            return NO_BLOCK
        c.shadow_block = 0
        c.db_blocked = 0           # (cpu_run has seen it)
        if c.shadow:
            c.shadow = 0
            c.shadow_block = 1
            one = True             # one instruction before interrupts again
        else:
            if c.halted:
                rc = halt_wait(c)
                if rc:
                    c.exit_rip = c.halt_rip & ipmask
                    exit[0] = rc
                    return NO_BLOCK
            if c.pv_timer <= vtime(c):     # the supervisor's timer
                c.pv_timer = TLB_EMPTY
                c.exit_rip = rip
                exit[0] = EXIT_VTIMER
                return NO_BLOCK
            if c.dev_timer <= vtime(c):    # a Python device's timer (run() serves it)
                c.dev_timer = TLB_EMPTY
                c.exit_rip = rip
                exit[0] = EXIT_DEVTIMER
                return NO_BLOCK
            rc = service_interrupts(c)
            if rc:
                c.exit_rip = rip
                exit[0] = rc
                return NO_BLOCK
        if c.eflags & F_TF:        # single-step: #DB after each instruction
            step[0] = True
            one = True
            look_now(c)
        special[0] = one or (c.dr_exec | c.dr_data | c.dr_io | c.cs_limited) != 0
        if special[0]:
            rf = (c.eflags & F_RF) != 0
            # Armed breakpoints (debug.pxi) bring every block here.  For a
            # shadow or TF next_event is reached already; at 0 it also keeps
            # a branch from chaining out of this block (dispatch.pxi), so the
            # #DB trap and the shadow's end stay with the run loop.
            look_now(c)
        c.eflags &= ~<uint64_t>F_RF    # RF lasts one instruction (IRET or a task switch set it)
    if upcall_due(c) and not one:   # an event for a paravirtualized guest
        rc = pv_upcall(c)
        if rc:
            c.exit_rip = rip
            exit[0] = rc
            return NO_BLOCK
    rip = c.r[R_RIP]                # an interrupt or the upcall may have moved it
    ipmask = c.ipmask
    if c.budget <= 0 or c.stop_request or (has_until and at_stop(c, rip)):
        c.exit_rip = rip
        if c.stop_request:
            c.stop_request = 0
            exit[0] = EXIT_STOP
        else:
            exit[0] = EXIT_COUNT if c.budget <= 0 else EXIT_UNTIL
        return NO_BLOCK
    b = find_block(c, rip)
    if b == NULL:                      # the fetch of its first byte faulted
        c.exit_rip = rip
        c.noncanonical = 0
        if c.exc_vector >= 0 and has_idt(c):
            # A #PF or #GP on instruction fetch goes to the guest's handler
            # (demand paging of code), like any other fault.
            exit[0] = deliver(c, c.exc_vector, c.exc_has_error, c.exc_error, INT_EXCEPTION, rip)
            c.budget -= 1              # a delivery uses budget, as in cpu_run
            return NO_BLOCK
        exit[0] = exception_exit(c)
        return NO_BLOCK
    # Cut the block short for the budget or `until`, or after one
    # instruction in an interrupt shadow (after STI or MOV SS).
    n = b.n
    if n > c.budget:
        n = <uint32_t>c.budget
    if special[0]:
        if one:
            n = 1
    if b.marks and n < b.n:
        n = entry_of(b, n)         # counted in instructions, not hook markers
    if special[0]:
        if c.dr_exec and exec_bp(c, rip, b, &n, rf):
            c.exit_rip = rip
            if c.dr_host:
                exit[0] = EXIT_DEBUG
                return NO_BLOCK
            if not has_idt(c):
                exit[0] = EXIT_EXCEPTION
                return NO_BLOCK
            exit[0] = deliver(c, EXC_DB, 0, 0, INT_EXCEPTION, rip)
            return NO_BLOCK
        if c.cs_limited and cs_limit_cut(c, rip, b, &n):     # limits.pxi: #GP(0) at rip
            c.exit_rip = rip
            if not has_idt(c):
                exit[0] = EXIT_EXCEPTION
                return NO_BLOCK
            exit[0] = deliver(c, EXC_GP, 1, 0, INT_EXCEPTION, rip)
            c.budget -= 1
            return NO_BLOCK
    if c.next_event < c.chain_stop:
        c.chain_stop = c.next_event    # as the events above left it
    if has_until:
        cut_before(b, c.until - rip, &n)
        for k in range(c.nbreaks):
            cut_before(b, c.breaks[k] - rip, &n)
    i = b.insns
    c.block_abort = 0
    c.r[R_BASE] = rip
    poison_cur(c, i)           # (the handler that returns sets it: dispatch.pxi)
    ipmask_at_start[0] = ipmask
    if n == b.n:
        return i.fn(c, i)          # runs the block, handler to handler
    cut = &b.insns[n]
    saved = cut.fn
    cut.fn = h_block_end
    if n > 0:
        fused = unfuse_before(b.insns, n)   # a fused pair's Jcc is cut (gen_variants.py)
    if not b.marks:
        unfuse_pairs(b.insns, b.n)     # (a pair's second may be the cut, its flags seen)
        flags_all_live(b.insns, n)     # the flags are seen at the cut (gen_variants.py)
    rc = i.fn(c, i)
    cut.fn = saved
    if not b.marks:
        drop_dead_flags(b.insns, b.n)  # as build_block left them
    if fused != NULL:
        b.insns[n - 1].fn = fused
    if not b.marks:
        fuse_pairs(b.insns, b.n)
    return rc

cdef int cpu_run(CPU* c) noexcept nogil:
    """Run until an exit.  Budget, `until` and stop requests are checked
    once per block; a block is cut short to honour them exactly (its
    instruction at the cut point is swapped for the end marker while the
    block runs).  A near branch may go on to the next block by itself when
    none of this is needed (chain, dispatch.pxi)."""
    cdef Block* b
    cdef Insn* i
    cdef uint64_t rip, ipmask
    cdef int rc, reason
    cdef uint32_t k
    cdef bint has_until = c.has_until, step, special
    # `until` may need a cut in any block, so its blocks do not chain.
    cdef int64_t reach = 0 if has_until or c.no_chain else CHAIN_INSNS, lim
    cdef uint64_t start
    while True:
        rip = c.r[R_RIP]
        special = False            # the block needed one of the rare cuts or traps
        step = False
        start = c.icount           # chain() advances icount; the budget follows below
        lim = c.budget if c.budget < reach else reach
        c.chain_stop = start + <uint64_t>(lim if lim > 0 else 0)
        # The fast path, taken by almost every block: nothing due (next_event
        # also stands for an interrupt shadow, TF and armed breakpoints, which
        # keep it at 0), no stop request, no `until` in this run, no upcall,
        # a jump-cache hit, and the whole block within the budget, so there
        # is no cut to work out.  A row of well-predicted tests; anything else
        # goes to block_slow, which makes every check in full.
        b = c.jcache[rip & (JC_SIZE - 1)]
        if (c.icount < c.next_event and not c.stop_request and not has_until
                and starts_at(c, b, rip)
                and <int64_t>b.n <= c.budget and not upcall_due(c)):
            ipmask = c.ipmask      # (the block may change it)
            if c.next_event < c.chain_stop:
                c.chain_stop = c.next_event    # (dispatch.pxi)
            i = b.insns
            c.block_abort = 0
            c.r[R_BASE] = rip
            poison_cur(c, i)       # (the handler that returns sets c.cur: dispatch.pxi)
            rc = i.fn(c, i)        # runs the block (and the blocks it chains to)
            rip = c.r[R_BASE]      # the block that returned
        else:
            rc = block_slow(c, rip, has_until, &reason, &special, &step, &ipmask)
            if rc == NO_BLOCK:
                if reason:
                    return reason
                continue
            rip = c.r[R_BASE]      # the block that returned
        c.budget -= <int64_t>(c.icount - start)    # the blocks chain() went through
        i = cur_insn(c, rc)
        # A handler that returned RC_OK instead of chaining: go on by hand.
        while rc == RC_OK:
            i += 1
            c.cur = i
            rc = i.fn(c, i) if not c.block_abort else RC_DONE
            i = cur_insn(c, rc)
        k = i.idx
        if rc == RC_JUMP:
            k += 1
        elif rc == RC_DONE:            # stopped at the end marker
            c.r[R_RIP] = (rip + i.off) & ipmask
        elif rc == RC_END or rc == RC_EXIT:
            k += 1
            c.r[R_RIP] = (rip + i.next) & ipmask
            if rc == RC_EXIT:
                c.icount += k
                c.budget -= k
                c.exit_rip = (rip + i.off) & ipmask
                return c.exit_reason
        else:                          # RC_AGAIN, RC_FAULT: not retired
            c.r[R_RIP] = (rip + i.off) & ipmask
            if rc == RC_AGAIN:
                c.budget -= 1          # a REP chunk uses budget, so run() ends
            elif rc == RC_EXIT_NR:
                c.icount += k
                c.budget -= k
                c.exit_rip = c.r[R_RIP]
                return c.exit_reason
            else:
                c.icount += k
                c.budget -= k
                c.exit_rip = c.r[R_RIP]
                c.dr_hit = 0                # data breakpoints of a faulting instruction do not trap
                if c.exc_vector == -2:      # a device in Python must answer first
                    return c.exit_reason
                if c.noncanonical:
                    c.noncanonical = 0
                    if c.exc_vector == EXC_GP and uses_stack(c, i):
                        c.exc_vector = EXC_SS   # #SS(0): the stack segment's fault
                if c.exc_vector < 0 or not has_idt(c):
                    return exception_exit(c)
                if c.exc_vector != EXC_DB and (c.cr0 & CR0_PE):
                    c.eflags |= F_RF            # a fault's saved EFLAGS has RF (SDM 17.3.1.1)
                rc = deliver(c, c.exc_vector, c.exc_has_error, c.exc_error, INT_EXCEPTION, c.r[R_RIP])
                if rc:
                    return rc
                c.budget -= 1          # a delivery uses budget: a handler that faults again ends run()
                continue
        c.icount += k
        c.budget -= k
        if special and not c.db_blocked:   # (after MOV SS / POP SS they wait: ss_loaded)
            # the #DB trap after a single-stepped instruction (DR6.BS) or a data breakpoint
            rc = debug_trap(c, step and k and c.step_late != STEP_LATE_CANCEL, rip)
            c.step_late = STEP_LATE_NONE
            if rc:
                return rc

cdef void reset_state(CPU* c, int mode) noexcept nogil:
    """The state a Machine starts in.  16: real mode.  32: protected mode
    with flat 4 GiB segments and no descriptor tables (as Multiboot and
    Unicorn leave it).  64: long mode with flat segments, running without
    page tables until the guest loads CR3 (as Unicorn's 64-bit mode)."""
    cdef uint32_t s
    for s in range(6):
        c.seglimit[s] = 0xFFFF if mode == 16 else 0xFFFFFFFF
        c.segattr[s] = 0x93 if mode == 16 else 0xC093      # present writable data
    c.segattr[S_CS] = 0x9B if mode == 16 else (0xA09B if mode == 64 else 0xC09B)
    c.cr0 = 0x10
    if mode != 16:
        c.cr0 |= CR0_PE
    if mode == 64:
        c.cr0 |= CR0_PG
        c.cr4 = CR4_PAE
        c.efer = EFER_LME | EFER_LMA
        c.pg_bypass = 1
    c.msr_pat = 0x0007040600070406ULL
    c.dr[6] = DR6_FIXED
    c.dr[7] = DR7_FIXED
    c.msr_apic_base = 0xFEE00900
    fpu_power_on(c, mode != 16)
    update_mode(c)

cdef int halt_wait(CPU* c) noexcept nogil:
    """HLT with interrupts on: skip virtual time to the next timer interrupt.
    If nothing could ever wake the CPU, the run ends with 'hlt'."""
    cdef uint64_t now = vtime(c)
    cdef uint64_t wake = TLB_EMPTY
    if c.m.ncpus > 1:
        return smp_halt_wait(c)
    if pic_pending(&c.m.pic[0]) >= 0 or apic_pending(c) >= 0 or nmi_due(c):
        return 0
    look_now(c)
    if c.m.pit.armed and not (c.m.pic[0].imr & 1):
        wake = c.m.pit.next_irq
    if c.apic.next_irq < wake and apic_enabled(c) and not (c.apic.lvt[0] & APIC_MASKED):
        wake = c.apic.next_irq
    if c.dev_timer < wake:
        wake = c.dev_timer                     # a Python device may raise a line then
    if wake != TLB_EMPTY:
        if wake > now:
            c.idle += wake - now
        return 0
    c.halted = 0
    return EXIT_HLT

# ---------------------------------------------------------------- registers

# name -> (kind, index, size): kind 0 GPR, 1 high byte, 2 rip, 3 flags,
# 4 selector, 5 segment base
cdef dict REGS = {}

def _init_reg_names():
    gp64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"]
    for k, name in enumerate(gp64):
        base = name[1:]
        REGS[name] = (0, k, 8)
        REGS["e" + base] = (0, k, 4)
        REGS[base] = (0, k, 2)
    for k, name in enumerate(["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"]):
        REGS[name] = (0, k, 1)
    for k, name in enumerate(["ah", "ch", "dh", "bh"]):
        REGS[name] = (1, k, 1)
    for k in range(8, 16):
        REGS["r%d" % k] = (0, k, 8)
        REGS["r%dd" % k] = (0, k, 4)
        REGS["r%dw" % k] = (0, k, 2)
        REGS["r%db" % k] = (0, k, 1)
        REGS["r%dl" % k] = (0, k, 1)
    REGS.update(rip=(2, 0, 8), eip=(2, 0, 4), ip=(2, 0, 2),
                rflags=(3, 0, 8), eflags=(3, 0, 4), flags=(3, 0, 2))
    for k, name in enumerate(["es", "cs", "ss", "ds", "fs", "gs"]):
        REGS[name] = (4, k, 2)
        REGS[name + "_base"] = (5, k, 8)
    # the SIMD registers (simd.pxi): 6 xmm, 7 mm, 8 mxcsr
    for k in range(16):
        REGS["xmm%d" % k] = (6, k, 16)
    for k in range(8):
        REGS["mm%d" % k] = (7, k, 8)
    REGS["mxcsr"] = (8, 0, 4)
    # x87 (kind 9): st0-st7 as raw 80-bit values, then the control words
    for k, name in enumerate(X87_REG_NAMES):
        REGS[name] = (9, k, 10 if k < 8 else (8 if name in ("fip", "fdp") else 2))

_init_reg_names()

#: Every register name reg_read/reg_write accept.
REGISTER_NAMES = tuple(sorted(REGS))

# ---------------------------------------------------------------- Machine

cdef void* zalloc(size_t size) noexcept nogil:
    """Zeroed memory straight from the kernel: pages are only backed once
    touched, and creating a machine costs no memset however large it is."""
    cdef void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    return NULL if p == MAP_FAILED else p

cdef void zfree(void* p, size_t size) noexcept nogil:
    if p != NULL:
        munmap(p, size)

cdef object EXIT_NAMES = {EXIT_HLT: "hlt", EXIT_UNTIL: "until", EXIT_COUNT: "count",
                          EXIT_EXCEPTION: "exception", EXIT_UNMAPPED: "unmapped",
                          EXIT_STOP: "stop", EXIT_DEBUG_EXIT: "debug-exit", EXIT_SHUTDOWN: "shutdown",
                          EXIT_TRIPLE_FAULT: "triple-fault", EXIT_HYPERCALL: "hypercall",
                          EXIT_PRIVOP: "privop", EXIT_VTIMER: "vtimer", EXIT_DEBUG: "debug",
                          EXIT_PROT: "protection"}

#: The privileged-instruction classes that can trap (bit k of pv_trap_mask).
PRIVOP_CLASSES = ("cli", "sti", "hlt", "popf", "write_cr", "read_cr", "rdmsr", "wrmsr",
                  "cpuid", "in", "out", "lgdt", "lidt", "ltr", "lldt", "invlpg",
                  "wbinvd", "rdtsc", "clts", "lmsw", "syscall", "sysenter")
cdef object ACCESS_NAMES = {ACC_READ: "read", ACC_WRITE: "write", ACC_FETCH: "fetch"}

# A run() is cut into slices of this many instructions so Ctrl-C is seen.
cdef int64_t SLICE = 1 << 26


cdef inline size_t pool_blocks(CPU* c) noexcept nogil:
    return MAX_BLOCKS if c.use_cache else 1

cdef inline size_t pool_insns(CPU* c) noexcept nogil:
    return MAX_INSNS if c.use_cache else BLOCK_MAX


cdef class Machine:
    """An x86 CPU with flat RAM at physical address 0.

    Machine(mode=32, memory=16 MiB, decode_cache=True, shared=False)

    mode          16 (real-mode addressing: linear = segment * 16 + offset),
                  32 (flat protected mode) or 64 (flat 64-bit mode)
    memory        bytes of RAM at 0, rounded up to 4 KiB; 0 for none (map
                  memory anywhere with mem_map, as with Unicorn)
    decode_cache  keep decoded blocks (False decodes every instruction
                  afresh: slower, and a reference for the cache itself)
    shared        keep RAM in a memfd, so frames can be mapped into another
                  machine (map_frame_from: the supervisor's grants)
    cpu           the CPU model, as QEMU's -cpu (emu/cpumodels.py): "pvemu"
                  (default), "qemu64", "max", "Nehalem", "Opteron_G1", ...

    The verbs follow Unicorn's: mem_write/mem_read, mem_map/mem_unmap/
    mem_protect/mem_map_ptr/mem_regions, reg_write/reg_read, hook_add/
    hook_del, context_save/context_restore, snapshot/restore,
    run(start, until, count) -> Exit (emu.unicorn is Unicorn's API on top).  `regs` is an attribute view of the
    registers (m.regs.eax = 1).
    """
    cdef CPU* c
    cdef bint running
    cdef readonly object regs
    cdef dict io_handlers
    cdef list mmio_handlers
    cdef object serial_sink, debugcon_sink
    cdef readonly bytearray serial_output
    cdef readonly bytearray debugcon_output
    cdef object serial_pending
    cdef object on_hypercall, on_privop, on_vtimer
    cdef dict device_timers        # owner -> (virtual time, callback): set_device_timer
    cdef object shutdown_kind
    cdef int mem_fd
    cdef list _guest_dr, _saved_mmio

    def __cinit__(self, int mode=32, memory=16 << 20, bint decode_cache=True, bint shared=False,
                  cpu=None, cpus=1):
        if mode not in (16, 32, 64):
            raise EmuError(f"mode must be 16, 32 or 64, not {mode!r}")
        size = _check_int("memory", memory, 0, MAX_MEMORY)   # 0: none, mem_map it
        _check_int("cpus", cpus, 1, MAX_CPUS)
        size = (size + 0xFFF) & ~0xFFF
        self.c = <CPU*>calloc(1, sizeof(CPU))
        if self.c == NULL:
            raise MemoryError("cannot allocate the CPU state")
        c = self.c
        c.m = &c.mach
        c.mach.cpu[0] = c                  # more CPUs: _add_cpus
        c.mach.ncpus = 1
        c.mach.quantum = SMP_QUANTUM
        c.mem_size = size
        c.npages = size >> 12
        c.nframes = c.npages
        c.hk_pass_addr = TLB_EMPTY
        self._hooks = {}
        self._code_list, self._block_list = [], []
        self._mem_lists = {}
        self._next_hook = 1
        self._regions = []
        self._frame_used = bytearray()
        c.use_cache = decode_cache
        self.mem_fd = -1
        if shared:                   # memory in a memfd: pages can be mapped into another machine
            self.mem_fd = os.memfd_create("pvemu-guest", os.MFD_CLOEXEC)
            os.ftruncate(self.mem_fd, size)
            c.mem = <uint8_t*>mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, self.mem_fd, 0)
            if c.mem == <uint8_t*>MAP_FAILED:
                c.mem = NULL
        elif size:
            c.mem = <uint8_t*>zalloc(size)
        c.hash = <Block**>zalloc(HASH_SIZE * sizeof(Block*))
        c.jcache = <Block**>zalloc(JC_SIZE * sizeof(Block*))
        c.page_blocks = <Block**>zalloc(c.npages * sizeof(Block*)) if size else NULL
        c.blocks = <Block*>zalloc(pool_blocks(c) * sizeof(Block))
        c.insn_pool = <Insn*>zalloc(pool_insns(c) * sizeof(Insn))
        if (size and (c.mem == NULL or c.page_blocks == NULL) or c.hash == NULL or c.jcache == NULL
                or c.blocks == NULL or c.insn_pool == NULL):
            raise MemoryError(f"cannot allocate {size} bytes of guest memory")
        jcache_clear(c.jcache)
        self._grow_dirty()
        c.io_map = <uint8_t*>zalloc(65536)
        if c.io_map == NULL:
            raise MemoryError("cannot allocate the I/O port map")
        self._attach_pc_devices()
        c.eflags = 2
        reset_state(c, mode)
        tlb_flush(c)

    def __init__(self, int mode=32, memory=16 << 20, bint decode_cache=True, bint shared=False,
                 cpu=None, cpus=1):
        from emu import cpumodels
        cpumodels.apply(self, cpumodels.DEFAULT if cpu is None else cpu)
        self._add_cpus(cpus)
        self.regs = Registers(self)
        self.io_handlers = {}
        self.mmio_handlers = []
        self.serial_output = bytearray()
        self.debugcon_output = bytearray()
        self.serial_sink = None
        self.debugcon_sink = None
        self.serial_pending = bytearray()

    cdef void _attach_pc_devices(self):
        """The devices at their PC ports, as QEMU's pc machine has them:
        COM1 16550 UART (0x3F8-0x3FF), isa-debug-exit (0xF4-0xF7), the
        debug console (0xE9), POST codes (0x80 and 0x190)."""
        c = self.c
        c.m.uart.base = 0x3F8
        for port in range(0x3F8, 0x400):
            c.io_map[port] = DEV_UART
        for port in range(0xF4, 0xF8):
            c.io_map[port] = DEV_DEBUG_EXIT
        c.io_map[0xE9] = DEV_DEBUGCON
        c.io_map[0x80] = DEV_POST
        c.io_map[0x190] = DEV_POST
        for port in (0x20, 0x21, 0xA0, 0xA1):
            c.io_map[port] = DEV_PIC
        for port in range(0x40, 0x44):
            c.io_map[port] = DEV_PIT
        c.io_map[0x61] = DEV_PORT61
        c.ips = 100_000_000
        apic_reset(c)
        c.next_event = TLB_EMPTY
        c.m.pit.next_irq = TLB_EMPTY
        c.pv_timer = TLB_EMPTY
        c.pv_pass_rip = TLB_EMPTY
        c.dev_timer = TLB_EMPTY

    # ---- devices

    def add_io_handler(self, port, count=1, read=None, write=None):
        """Handle ports [port, port + count) in Python: read(port, size) ->
        int for IN, write(port, size, value) for OUT.  Replaces any built-in
        device there.  Each access leaves the C loop, so keep these for
        ports that are not in a guest's hot path."""
        port = _check_int("port", port, 0, 0xFFFF)
        count = _check_int("count", count, 1, 0x10000 - port)
        for p in range(port, port + count):
            self.io_handlers[p] = (read, write)
            self.c.io_map[p] = DEV_PYTHON

    def add_mmio_handler(self, address, size, read=None, write=None):
        """Handle physical addresses [address, address + size) outside RAM in
        Python: read(addr, size) -> int, write(addr, size, value).  Each
        access leaves the C loop (the instruction is then run again with the
        answer), so these suit device registers, not bulk memory."""
        c = self.c
        address = _check_int("address", address, 0, (1 << 64) - 1)
        size = _check_int("size", size, 1, (1 << 64) - address)
        for lo, hi, _, _ in self.mmio_handlers:
            if address < hi and lo < address + size:
                raise EmuError(f"MMIO range {address:#x}+{size:#x} overlaps the MMIO range {lo:#x}..{hi:#x}")
        for r in self._regions:
            if address < r[1] and r[0] < address + size:
                raise EmuError(f"MMIO range {address:#x}+{size:#x} overlaps the mapped region {r[0]:#x}..{r[1]:#x}")
        if address < c.mem_size:
            raise EmuError(f"MMIO range {address:#x}+{size:#x} must be non-empty and above RAM "
                           f"(which ends at {c.mem_size:#x})")
        if c.nmmio >= MAX_MMIO:
            raise EmuError(f"at most {MAX_MMIO} MMIO ranges")
        c.mmio_start[c.nmmio] = address
        c.mmio_end[c.nmmio] = address + size
        c.nmmio += 1
        self.mmio_handlers.append((address, address + size, read, write))

    cdef void _python_mmio(self) except *:
        c = self.c
        for start, end, read, write in self.mmio_handlers:
            if start <= c.mmio_addr < end:
                if c.mmio_write:
                    if write is not None:
                        write(c.mmio_addr, c.mmio_size, c.mmio_value)
                    value = 0
                else:
                    value = int(read(c.mmio_addr, c.mmio_size)) if read is not None else -1
                break
        else:
            value = self._hooked_access()           # a page under a memory hook
        if c.mmio_log_n >= 8:
            raise EmuError(f"an instruction made more than 8 device accesses at {c.mmio_addr:#x}")
        c.mmio_log[c.mmio_log_n] = value & size_mask(c.mmio_size)
        c.mmio_log_n += 1
        c.mmio_log_pos = 0

    def set_serial(self, sink=None, input=b""):
        """Where COM1's output goes: a callable taking bytes, a binary file
        (anything with .write), or None to collect it in serial_output.
        `input` is queued for the guest to read."""
        self.serial_sink = sink
        self.serial_pending += bytes(input)
        self._feed_serial()

    def set_debugcon(self, sink=None):
        """Where bytes written to port 0xE9 go (as set_serial)."""
        self.debugcon_sink = sink

    @property
    def virtual_time(self):
        """Virtual time in instructions: those retired plus those a halted
        CPU skipped while waiting for a timer."""
        return self.c.icount + self.c.idle

    @property
    def ips(self):
        """Virtual instructions per second: the time base of the timers (and
        of RDTSC).  Time is virtual, so runs are bit-identical."""
        return self.c.ips

    @ips.setter
    def ips(self, value):
        self.c.ips = _check_int("ips", value, 1, MAX_IPS)

    @property
    def post_code(self):
        """The last POST code written to port 0x80 or 0x190 (None if none)."""
        return self.c.m.post_last if self.c.m.post_count else None

    cdef void _feed_serial(self):
        """Hand queued input to the UART's host queue (it moves on into the
        receive FIFO as the guest reads, uart_pump)."""
        cdef Uart* u = &self.c.m.uart
        cdef uint32_t n = 0
        while n < len(self.serial_pending) and u.hostq_tail - u.hostq_head < INQ_SIZE:
            u.hostq[u.hostq_tail % INQ_SIZE] = self.serial_pending[n]
            u.hostq_tail += 1
            n += 1
        del self.serial_pending[:n]
        uart_pump(self.c)
        uart_update_irq(self.c)

    cdef void _flush_output(self) except *:
        c = self.c
        if c.m.uart.out_len:
            data = (<char*>c.m.uart.out)[:c.m.uart.out_len]
            c.m.uart.out_len = 0
            _emit(self.serial_sink, self.serial_output, data)
        if c.m.dbg_len:
            data = (<char*>c.m.dbg_out)[:c.m.dbg_len]
            c.m.dbg_len = 0
            _emit(self.debugcon_sink, self.debugcon_output, data)

    cdef void _python_io(self) except *:
        """Complete a port access that leaves the C loop for Python."""
        c = self.c
        read, write = self.io_handlers[c.io_port]
        if c.io_write:
            if write is not None:
                write(c.io_port, c.io_size, c.io_value)
        else:
            v = read(c.io_port, c.io_size) if read is not None else -1
            c.io_value = int(v) & size_mask(c.io_size)
            c.io_ready = 1

    def __dealloc__(self):
        if self.c != NULL:
            self._free_cpus()
            c = self.c
            zfree(c.mem, c.mem_size)
            zfree(c.hash, HASH_SIZE * sizeof(Block*))
            zfree(c.jcache, JC_SIZE * sizeof(Block*))
            zfree(c.page_blocks, c.nframes * sizeof(Block*))
            zfree(c.frames, (c.nframes - c.npages) * sizeof(uint8_t*))
            free(c.regions)
            zfree(c.dirty, c.dirty_frames)
            zfree(c.dirty_log, c.dirty_frames * 4)
            zfree(c.snap_list, c.dirty_frames * 4)
            zfree(c.snap, c.snap_frames << 12)
            zfree(c.blocks, pool_blocks(c) * sizeof(Block))
            zfree(c.insn_pool, pool_insns(c) * sizeof(Insn))
            zfree(c.io_map, 65536)
            zfree(c.absent, c.npages)
            free(c)
            if self.mem_fd >= 0:
                os.close(self.mem_fd)
            self.c = NULL

    @property
    def mode(self):
        """16, 32 or 64."""
        return self.c.mode

    @property
    def memory_size(self):
        """Bytes of guest RAM."""
        return self.c.mem_size

    @property
    def instructions(self):
        """Instructions retired over the machine's life (by all its CPUs)."""
        cdef Mach* m = self.c.m
        return sum(m.cpu[k].icount for k in range(m.ncpus))

    @property
    def stats(self):
        """Decode-cache counters: blocks decoded, blocks cached now, and
        blocks invalidated by stores into code (self-modifying code)."""
        return {"blocks_decoded": self.c.blocks_decoded,
                "blocks_cached": self.c.m.nblocks if self.c.use_cache else 0,
                "smc_invalidations": self.c.smc_invalidations,
                "blocks_chained": self.c.blocks_chained}

    @property
    def block_chaining(self):
        """Whether a near branch may go on to the next block without the run
        loop (on by default; off is a reference for tests and profiling,
        with the same results)."""
        return not self.c.no_chain

    @block_chaining.setter
    def block_chaining(self, bint on):
        self.c.no_chain = not on

    # ---- memory

    cdef void _check_range(self, addr, n) except *:
        if addr < 0 or n < 0 or addr + n > self.c.mem_size:
            raise EmuError(f"guest memory range {addr:#x}..{addr + n:#x} is outside "
                           f"RAM (0..{self.c.mem_size:#x})")

    def mem_write(self, addr, data):
        """Write bytes at a guest physical address (RAM or mapped regions,
        whatever their permissions)."""
        try:
            data = data if isinstance(data, (bytes, bytearray)) else memoryview(data).cast("B").tobytes()
        except TypeError:
            raise EmuError(f"data must be bytes-like, not {type(data).__name__}") from None
        cdef const uint8_t[:] view = data
        cdef uint64_t n = len(view), k, chunk, fpa
        cdef uint64_t a = self._check_access(addr, n)
        cdef uint8_t* p
        k = a
        while k < a + n:                     # page by page; stores into decoded code invalidate it
            chunk = min(0x1000 - (k & 0xFFF), a + n - k)
            p = self._host(k, &fpa)
            self._phys_copy(p, fpa, &view[k - a], <uint32_t>chunk)
            k += chunk

    cdef void _phys_copy(self, uint8_t* p, uint64_t fpa, const uint8_t* src, uint32_t n) noexcept:
        """Store n bytes (within one page) at host p, frame address fpa: the
        snapshot keeps the page first, decoded code there is dropped."""
        mark_dirty(self.c, fpa)
        memcpy(p, src, n)
        if fpa >> 12 < self.c.nframes and self.c.page_blocks[fpa >> 12] != NULL:
            smc_write(self.c, fpa, n)

    def mem_read(self, addr, n):
        """Read n bytes at a guest physical address (RAM or mapped regions)."""
        cdef uint64_t a = self._check_access(addr, n), k, chunk, fpa
        if a + n <= self.c.mem_size:
            return (<char*>self.c.mem)[a:a + n]
        out = bytearray(n)
        cdef uint8_t* dst = out
        k = a
        while k < a + n:
            chunk = min(0x1000 - (k & 0xFFF), a + n - k)
            memcpy(dst + (k - a), self._host(k, &fpa), chunk)
            k += chunk
        return bytes(out)

    # ---- registers

    def reg_read(self, name):
        """Read a register by name (see REGISTER_NAMES)."""
        kind, idx, size = _reg_lookup(name)
        c = self.c
        if kind == 0:
            return get_r(c, idx, size) if size > 1 else c.r[idx] & 0xFF
        if kind == 1:
            return (c.r[idx] >> 8) & 0xFF
        if kind == 2:
            return c.r[R_RIP] & size_mask(size)
        if kind == 3:
            return get_eflags(c) & size_mask(size)
        if kind == 4:
            return c.sel[idx]
        if kind == 9:
            return x87_reg_get(c, idx)
        if 6 <= kind <= 8:
            return self._simd_reg_read(kind, idx)
        return c.segbase[idx]

    def reg_write(self, name, value):
        """Write a register by name.  Segment registers: in a 16-bit machine
        the base follows (selector * 16); otherwise only the selector is set
        (write '<seg>_base' for the base, e.g. 'fs_base')."""
        kind, idx, size = _reg_lookup(name)
        if isinstance(value, bool) or not hasattr(type(value), "__index__"):
            raise EmuError(f"register value must be an integer, not {value!r}")
        v = value.__index__()
        if not -(1 << (8 * size - 1)) <= v < (1 << (8 * size)):
            raise EmuError(f"value {v:#x} does not fit {name} ({8 * size} bits)")
        v &= (1 << (8 * size)) - 1             # a negative value as two's complement
        c = self.c
        if kind == 0:
            if size == 1:
                c.r[idx] = (c.r[idx] & ~<uint64_t>0xFF) | v
            elif size == 4:
                c.r[idx] = v            # as a 32-bit write: zero-extends
            else:
                set_r(c, idx, size, v)
        elif kind == 1:
            c.r[idx] = (c.r[idx] & ~<uint64_t>0xFF00) | (v << 8)
        elif kind == 2:
            c.r[R_RIP] = v & c.ipmask
            self._rip_written = True          # (a code hook moved rip: _run_code_hooks)
        elif kind == 3:
            materialize(c)
            c.eflags = (c.eflags & ~size_mask(size)) | v | 2
            c.lf_op = LF_NONE
            look_now(c)          # TF or IF may have changed
        elif 6 <= kind <= 8:
            self._simd_reg_write(kind, idx, v)
        elif kind == 4:
            c.sel[idx] = v
            if c.mode == 16:
                c.segbase[idx] = v << 4
            if idx == S_CS:
                jcache_flush(c)
            segs_changed(c)
        elif kind == 9:
            x87_reg_set(c, idx, v)
        else:
            c.segbase[idx] = v if c.mode == 64 else v & 0xFFFFFFFF
            if idx == S_CS:
                jcache_flush(c)
            segs_changed(c)

    # ---- running

    def run(self, start=None, until=None, count=None):
        """Run from `start` (default: the current rip) until an exit.

        until  stop when rip reaches this address (reason 'until')
        count  retire at most this many instructions (reason 'count')
        Returns an Exit.  The GIL is released while guest code runs, so
        machines in different threads run in parallel; Ctrl-C is honoured.
        """
        c = self.c
        if self.running:
            raise EmuError("this machine is already running (in another thread)")
        if start is not None:
            self.reg_write("rip", _check_int("start", start, 0, c.ipmask))
        if until is not None:
            _check_int("until", until, 0, c.ipmask)
        if count is not None:
            _check_int("count", count, 0, MAX_COUNT)
        c.hk_pass_addr = TLB_EMPTY               # a fresh run: every hook fires
        self._retried = None
        c.has_until = until is not None or c.nbreaks > 0
        c.until = (until & c.ipmask) if until is not None else TLB_EMPTY
        cdef int64_t remaining = count if count is not None else -1, budget, left
        cdef uint64_t first = c.icount, retired = 0
        cdef int reason
        cdef Mach* mach = c.m
        cdef uint32_t who = 0
        self.running = True
        try:
            while True:
                budget = SLICE if remaining < 0 or remaining > SLICE else remaining
                if mach.ncpus > 1:             # several CPUs in turn (smp.pxi); self.c: the one that exited
                    self._smp_share()
                    left = budget
                    with nogil:
                        reason = smp_run(mach, &left, &retired, &who)
                    self.c = mach.cpu[who]
                    if remaining >= 0:
                        remaining -= budget - left
                else:
                    c.budget = budget
                    with nogil:
                        reason = cpu_run(c)
                    if remaining >= 0:
                        remaining -= budget - c.budget
                if reason == EXIT_HOOK:           # (first: a per-instruction hook is hot)
                    self._run_code_hooks()
                    continue
                if reason == EXIT_IO or reason == EXIT_MMIO:
                    self._rerun()                 # its hooks have fired already
                if self._serviced(reason):
                    continue
                if self._hooks and self._hook_exit(reason):
                    continue
                reason = self._take_shutdown(reason)
                if reason == EXIT_COUNT and remaining != 0:
                    PyErr_CheckSignals()
                    continue
                break
        finally:
            self.running = False
            c.has_until = 0
            c.stop_request = 0        # a stop asked for while this run ended anyway
            self._flush_output()
        if mach.ncpus > 1:
            ex = self._exit(reason, retired)
            ex.cpu = who
            self._smp_share()
            self.c = mach.cpu[0]
            return ex
        return self._exit(reason, c.icount - first)

    cdef bint _serviced(self, int reason) except -1:
        """Serve an exit that run() continues after (I/O and MMIO in Python,
        the supervisor's hypercall, privop and timer callbacks): True if it
        was one of those."""
        c = self.c
        if reason == EXIT_IO or reason == EXIT_FLUSH or reason == EXIT_MMIO:
            self._flush_output()
            if reason == EXIT_IO:
                self._python_io()
            elif reason == EXIT_MMIO:
                self._python_mmio()
            if self.shutdown_kind is not None:
                return False           # the device ended the run (_take_shutdown)
            self._feed_serial()
            return True
        if reason == EXIT_HYPERCALL and self.on_hypercall is not None:
            self._hypercall()
            return True
        if reason == EXIT_PRIVOP and self.on_privop is not None:
            self._flush_output()
            result = self.on_privop(PRIVOP_CLASSES[c.pv_class], c.pv_arg[0], c.pv_arg[1], c.pv_arg[2])
            if result is not None:
                self.pv_complete(result)
            return True
        if reason == EXIT_VTIMER and self.on_vtimer is not None:
            self.on_vtimer()
            return True
        if reason == EXIT_DEVTIMER:
            self._device_timers_due()
            return True
        return False

    cdef int _take_shutdown(self, int reason):
        """EXIT_SHUTDOWN if a device asked for it (request_shutdown) during
        the access just served, which retired; else `reason`."""
        if self.shutdown_kind is None:
            return reason
        self.c.exit_rip = self.c.r[R_RIP]
        return EXIT_SHUTDOWN

    def stop(self):
        """Ask a running run() (in another thread) to return with 'stop'."""
        self.c.stop_request = 1

    def request_shutdown(self, kind):
        """For a device written in Python (an I/O or MMIO handler): end the
        run after the access being handled, with reason 'shutdown' and
        Exit.shutdown = kind ('poweroff' or 'reset'), as a PC's power
        control or reset line would."""
        if kind not in ("poweroff", "reset"):
            raise EmuError(f"shutdown kind must be 'poweroff' or 'reset', not {kind!r}")
        self.shutdown_kind = kind

    cdef object _exit(self, int reason, uint64_t retired):
        c = self.c
        ex = Exit(reason=EXIT_NAMES[reason], address=c.exit_rip, instructions=retired)
        if reason in (EXIT_EXCEPTION, EXIT_UNMAPPED, EXIT_TRIPLE_FAULT, EXIT_PROT):
            ex.insn_bytes = self._code_at(c.exit_rip)
            ex.registers = self.state()
        if reason == EXIT_EXCEPTION or reason == EXIT_TRIPLE_FAULT:
            ex.vector = c.exc_vector
            ex.error_code = c.exc_error if c.exc_has_error else None
        elif reason == EXIT_UNMAPPED or reason == EXIT_PROT:
            ex.access = ACCESS_NAMES[c.fault_access]
            ex.access_address = c.fault_addr
        elif reason == EXIT_DEBUG_EXIT:
            ex.status = c.exit_status
        elif reason == EXIT_SHUTDOWN:
            ex.shutdown, self.shutdown_kind = self.shutdown_kind, None
        elif reason == EXIT_PRIVOP:
            ex.privop = PRIVOP_CLASSES[c.pv_class]
            ex.operands = (c.pv_arg[0], c.pv_arg[1], c.pv_arg[2])
        return ex

    # ---- paravirtualization: what a supervisor needs (see paravirt/)

    def pv_enable(self, leaves=None, trap_mask=0):
        """Run under a supervisor: VMCALL exits with 'hypercall' instead of
        #UD, CPUID.1:ECX bit 31 is set and leaves 0x40000000-0x40000002 are
        `leaves` (a dict of leaf -> (eax, ebx, ecx, edx)); the MSRs
        0x40000000-0x400000FF and KVM's 0x4B564D00-0x4B564DFF exit as
        'privop' (rdmsr/wrmsr); privileged
        instructions of the classes in `trap_mask` exit as 'privop'."""
        c = self.c
        c.pv_on = 1
        for leaf, regs in (leaves or {}).items():
            if not 0x40000000 <= leaf <= 0x40000002 or len(regs) != 4:
                raise EmuError(f"supervisor CPUID leaf {leaf:#x} must be 0x40000000-0x40000002 "
                               "with four register values")
            for k in range(4):
                c.pv_cpuid[leaf & 3][k] = regs[k] & 0xFFFFFFFF
        self.pv_trap_mask = trap_mask
        jcache_flush(c)

    @property
    def pv_trap_mask(self):
        """Bit k set: privileged instructions of class PRIVOP_CLASSES[k]
        executed with the privilege to run exit as 'privop' instead."""
        return self.c.pv_trap

    @pv_trap_mask.setter
    def pv_trap_mask(self, value):
        if not 0 <= value < (1 << PV_NCLASSES):
            raise EmuError(f"trap mask {value!r} has bits beyond the {PV_NCLASSES} classes")
        self.c.pv_trap = value

    def set_exit_handlers(self, hypercall=None, privop=None, vtimer=None):
        """Handle supervisor exits inside run() instead of returning:
        hypercall(nr, a1, a2, a3, a4, a5) -> result for rAX (None: leave rAX);
        privop(cls, op0, op1, op2) -> a result to complete the instruction
        with (see pv_complete), or None when the handler dealt with it
        (pv_complete, pv_native, inject); vtimer() when the timer is due.
        A handler that wants run() to return calls stop()."""
        self.on_hypercall = hypercall
        self.on_privop = privop
        self.on_vtimer = vtimer

    cdef void _hypercall(self) except *:
        c = self.c
        self._flush_output()
        result = self.on_hypercall(hc_arg(c, 0), hc_arg(c, 1), hc_arg(c, 2), hc_arg(c, 3),
                                   hc_arg(c, 4), hc_arg(c, 5))
        if result is not None:           # negative errno: two's complement in rAX
            c.r[R_AX] = result & (<uint64_t>-1 if c.mode == 64 else 0xFFFFFFFF)

    def hypercall_args(self):
        """(nr, a1, a2, a3, a4, a5) of the VMCALL that just exited, by the
        mode's convention (i386: EAX; EBX ECX EDX ESI EDI.  x86-64: RAX;
        RDI RSI RDX R10 R8)."""
        return tuple(hc_arg(self.c, k) for k in range(6))

    def pv_trap_info(self):
        """(class, operands, length) of the privileged instruction that
        trapped last."""
        c = self.c
        return PRIVOP_CLASSES[c.pv_class], (c.pv_arg[0], c.pv_arg[1], c.pv_arg[2]), c.pv_len

    def pv_complete(self, value=0):
        """Finish the trapped instruction as the supervisor decided: its
        result goes where the instruction puts it (read_cr: the register;
        rdmsr, rdtsc: EDX:EAX; cpuid: a 4-tuple into EAX EBX ECX EDX; in:
        AL/AX/EAX), and rip moves past it."""
        c = self.c
        cls = c.pv_class
        cdef uint64_t v
        if cls == PV_CPUID:
            for k, r in zip((R_AX, R_BX, R_CX, R_DX), value):
                c.r[k] = r & 0xFFFFFFFF
        elif cls in (PV_READ_CR, PV_RDMSR, PV_RDTSC, PV_IN):
            v = value & 0xFFFFFFFFFFFFFFFF
            if cls == PV_READ_CR:
                set_r(c, <uint32_t>c.pv_arg[1], 8 if c.mode == 64 else 4, v)
            elif cls == PV_IN:
                set_r(c, R_AX, <uint32_t>c.pv_arg[1], v)
            else:
                c.r[R_AX] = v & 0xFFFFFFFF
                c.r[R_DX] = v >> 32
        c.r[R_RIP] = (c.r[R_RIP] + c.pv_len) & c.ipmask

    def pv_native(self):
        """Let the trapped instruction run in the core, once, as if the
        supervisor were not there."""
        self.c.pv_pass_rip = self.c.r[R_RIP]

    def inject(self, vector, error_code=None):
        """Deliver exception `vector` to the guest now (as a fault at rip).
        Returns None, or the Exit that ends the guest ('triple-fault',
        'unmapped', or 'exception' when it has no IDT)."""
        c = self.c
        if not 0 <= vector < 32:
            raise EmuError(f"exception vector {vector!r} is not 0-31")
        c.exc_vector = vector
        c.exc_has_error = error_code is not None
        c.exc_error = error_code or 0
        c.exit_rip = c.r[R_RIP]
        if not has_idt(c):
            return self._exit(EXIT_EXCEPTION, 0)
        rc = deliver(c, vector, error_code is not None, error_code or 0, INT_EXCEPTION, c.r[R_RIP])
        return self._exit(rc, 0) if rc else None

    def set_shared_info(self, address, upcall_vector=None):
        """Watch the vcpu_info at guest-physical `address` (its byte 0 =
        upcall pending, byte 1 = mask); None stops.  Upcalls arrive as an
        interrupt at `upcall_vector` (0: not yet registered)."""
        c = self.c
        if address is None:
            c.pv_vcpu = NULL
            return
        self._check_range(address, 64)
        c.pv_vcpu = c.mem + <uint64_t>address
        if upcall_vector is not None:
            self.upcall_vector = upcall_vector

    @property
    def upcall_vector(self):
        return self.c.pv_upcall_vector

    @upcall_vector.setter
    def upcall_vector(self, v):
        if not 0 <= v < 256:
            raise EmuError(f"upcall vector {v!r} is not 0-255")
        self.c.pv_upcall_vector = v

    def set_timer(self, when):
        """The supervisor's one-shot timer: exit 'vtimer' (or call the vtimer
        handler) once virtual_time reaches `when`; None cancels."""
        c = self.c
        c.pv_timer = TLB_EMPTY if when is None else max(int(when), 0)
        look_now(c)

    def advance_time(self, n):
        """Let n instructions' worth of virtual time pass without running
        (a blocked guest waiting for its timer)."""
        if n > 0:
            self.c.idle += n
            look_now(self.c)

    @property
    def cpl(self):
        """The current privilege level (0-3)."""
        return self.c.cpl

    @property
    def pv_counters(self):
        """Hypercalls, trapped privileged instructions and upcalls so far."""
        return {"hypercalls": self.c.pv_hypercalls, "traps": self.c.pv_traps,
                "upcalls": self.c.pv_upcalls}

    # ---- privileged state, for a supervisor acting for its guest

    def read_cr(self, n):
        """CR0, CR2, CR3, CR4 or CR8."""
        if n not in (0, 2, 3, 4, 8):
            raise EmuError(f"CR{n} does not exist (0, 2, 3, 4, 8 do)")
        return read_cr(self.c, n)

    def write_cr(self, n, value):
        """Write a control register as MOV CRn does (mode changes, TLB
        flush).  Returns True, or False when the CPU would take #GP."""
        if n not in (0, 2, 3, 4, 8):
            raise EmuError(f"CR{n} does not exist (0, 2, 3, 4, 8 do)")
        return write_cr(self.c, n, value & 0xFFFFFFFFFFFFFFFF) == 0

    def read_msr(self, msr):
        """An MSR's value as RDMSR reads it, or None where it would #GP."""
        cdef uint64_t v
        if msr_read(self.c, msr & 0xFFFFFFFF, &v):
            return None
        return v

    def write_msr(self, msr, value):
        """WRMSR; False where it would #GP."""
        return msr_write(self.c, msr & 0xFFFFFFFF, value & 0xFFFFFFFFFFFFFFFF) == 0

    def cpuid(self, leaf, subleaf=0):
        """(eax, ebx, ecx, edx) as CPUID returns them."""
        cdef uint32_t out[4]
        cpuid_leaf(self.c, leaf & 0xFFFFFFFF, subleaf & 0xFFFFFFFF, out)
        return (out[0], out[1], out[2], out[3])

    def load_table(self, which, base, limit):
        """LGDT ('gdt') or LIDT ('idt')."""
        if which not in ("gdt", "idt") or not 0 <= limit <= 0xFFFF:
            raise EmuError(f"load_table takes 'gdt' or 'idt' and a 16-bit limit, not {which!r}, {limit!r}")
        c = self.c
        if which == "gdt":
            c.gdt_base, c.gdt_limit = base & 0xFFFFFFFFFFFFFFFF, limit
        else:
            c.idt_base, c.idt_limit = base & 0xFFFFFFFFFFFFFFFF, limit

    def load_segment_register(self, which, selector):
        """LTR ('tr') or LLDT ('ldt'), with the CPU's checks.  Returns None,
        or (vector, error code) of the fault the CPU would take."""
        if which not in ("tr", "ldt"):
            raise EmuError(f"load_segment_register takes 'tr' or 'ldt', not {which!r}")
        if load_system_segment(self.c, which == "tr", selector & 0xFFFF):
            return (self.c.exc_vector, self.c.exc_error)
        return None

    def flush_tlb(self, address=None):
        """Drop cached translations: all of them, or as INVLPG of the linear
        `address` does (its page's, and any from pages larger than 4 KiB)."""
        if address is None:
            tlb_flush(self.c)
        else:
            tlb_flush_page(self.c, _check_int("address", address, 0, (1 << 64) - 1) & self.c.lamask)

    cdef int _translate(self, uint64_t la, bint write, bint user, uint64_t* pa):
        """translate_as without side effects on the fault state: 0 or RC_*."""
        c = self.c
        cdef uint64_t cr2 = c.cr2
        cdef int vec = c.exc_vector, has = c.exc_has_error, rc
        cdef uint32_t err = c.exc_error
        rc = translate_as(c, la & c.lamask, ACC_WRITE if write else ACC_READ, user, pa)
        c.cr2, c.exc_vector, c.exc_has_error, c.exc_error = cr2, vec, has, err
        c.noncanonical = 0
        return rc

    def translate(self, address, write=False, user=False):
        """Guest-linear -> guest-physical through the current page tables
        (accessed/dirty bits are set as by an access), or None if the access
        would fault or is not RAM.  Leaves no fault behind (CR2 unchanged)."""
        cdef uint64_t pa
        return None if self._translate(address, write, user, &pa) else pa

    def read_virtual(self, uint64_t address, uint64_t n, bint user=False):
        """n bytes at a guest-linear address, page by page through the page
        tables; None if any of it is not mapped RAM."""
        cdef uint64_t pa, chunk, done = 0
        if 0 < n <= 0x1000 - (address & 0xFFF):    # within one page (hypercall arguments): one copy
            if self._translate(address, False, user, &pa):
                return None
            return (<char*>host_of(self.c, pa))[:n]
        out = bytearray(n)
        cdef unsigned char* dst = out
        while done < n:
            if self._translate(address + done, False, user, &pa):
                return None
            chunk = min(n - done, 0x1000 - ((address + done) & 0xFFF))
            memcpy(dst + done, host_of(self.c, pa), chunk)
            done += chunk
        return bytes(out)

    def write_virtual(self, uint64_t address, data, bint user=False):
        """Write bytes at a guest-linear address (all pages are checked
        writable first); False if any of it is not writable mapped RAM."""
        if not isinstance(data, bytes):
            data = bytes(data)
        cdef const unsigned char* src = data
        cdef uint64_t pa, chunk, done = 0, n = len(data)
        while done < n:                           # check every page first
            if self._translate(address + done, True, user, &pa):
                return False
            done += min(n - done, 0x1000 - ((address + done) & 0xFFF))
        done = 0
        while done < n:
            self._translate(address + done, True, user, &pa)
            chunk = min(n - done, 0x1000 - ((address + done) & 0xFFF))
            mark_dirty(self.c, pa)
            memcpy(host_of(self.c, pa), &src[done], chunk)
            if self.c.page_blocks[pa >> 12] != NULL:
                smc_write(self.c, pa, <uint32_t>chunk)
            done += chunk
        return True

    def port_in(self, port, size=1):
        """IN as the guest would do it (the device sees the read)."""
        cdef uint64_t v
        if not 0 <= port <= 0xFFFF or size not in (1, 2, 4):
            raise EmuError(f"bad port access {port!r} size {size!r}")
        if io_in(self.c, port, size, &v) == RC_EXIT_NR:      # a device written in Python
            read, _ = self.io_handlers[port]
            return (int(read(port, size)) if read is not None else -1) & ((1 << (8 * size)) - 1)
        self._feed_serial()
        return v

    def port_out(self, port, size, value):
        """OUT as the guest would do it.  Returns the status written to the
        isa-debug-exit port (the guest asked to end), else None."""
        if not 0 <= port <= 0xFFFF or size not in (1, 2, 4):
            raise EmuError(f"bad port access {port!r} size {size!r}")
        c = self.c
        if io_out(c, port, size, value) == RC_EXIT:
            if c.exit_reason == EXIT_DEBUG_EXIT:
                return c.exit_status
            if c.exit_reason == EXIT_IO:
                self._python_io()
        self._flush_output()
        return None

    # ---- guest frames (ballooning, sharing)

    def _check_frames(self, pfn, count):
        if pfn < 0 or count < 0 or pfn + count > self.c.npages:
            raise EmuError(f"frames {pfn:#x}+{count} are outside the machine's {self.c.npages} frames")

    def release_frames(self, pfn, count=1):
        """Take RAM away from frames [pfn, pfn+count): the host memory behind
        them is given back (madvise), and any guest access to them ends the
        run as 'unmapped' until restore_frames."""
        self._check_frames(pfn, count)
        c = self.c
        if c.absent == NULL:
            c.absent = <uint8_t*>zalloc(c.npages)
            if c.absent == NULL:
                raise MemoryError("cannot allocate the frame map")
        for f in range(pfn, pfn + count):
            if c.page_blocks[f] != NULL:
                smc_write(c, <uint64_t>f << 12, 0x1000)
            c.absent[f] = 1
        if count:
            madvise(c.mem + (<uint64_t>pfn << 12), <size_t>count << 12,
                    MADV_REMOVE if self.mem_fd >= 0 else MADV_DONTNEED)
        tlb_flush(c)

    def restore_frames(self, pfn, count=1):
        """Give frames RAM again (zero-filled)."""
        self._check_frames(pfn, count)
        c = self.c
        if c.absent != NULL:
            for f in range(pfn, pfn + count):
                c.absent[f] = 0
        tlb_flush(c)

    def frame_present(self, pfn):
        """Whether frame pfn has RAM (False once released)."""
        self._check_frames(pfn, 1)
        return self.c.absent == NULL or not self.c.absent[pfn]

    def map_frame_from(self, pfn, Machine other, other_pfn):
        """Make frame pfn of this machine the same memory as frame other_pfn
        of `other` (both made with shared=True): a page two guests share."""
        self._check_frames(pfn, 1)
        other._check_frames(other_pfn, 1)
        if self.mem_fd < 0 or other.mem_fd < 0:
            raise EmuError("sharing frames needs both machines made with shared=True")
        self._remap(pfn, other.mem_fd, other_pfn)

    def unmap_frame(self, pfn):
        """Undo map_frame_from: frame pfn is this machine's own again."""
        self._check_frames(pfn, 1)
        if self.mem_fd < 0:
            raise EmuError("this machine was not made with shared=True")
        self._remap(pfn, self.mem_fd, pfn)

    cdef _remap(self, uint64_t pfn, int fd, uint64_t src):
        c = self.c
        cdef void* p = mmap(c.mem + (pfn << 12), 0x1000, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_FIXED, fd, src << 12)
        if p == MAP_FAILED:
            raise EmuError(f"cannot map frame {src:#x} at {pfn:#x}")
        if c.page_blocks[pfn] != NULL:
            smc_write(c, pfn << 12, 0x1000)
        tlb_flush(c)

    def state(self):
        """A snapshot of the CPU: general registers, rip, rflags, segment
        selectors and bases, control registers, the descriptor tables and
        the x87 registers."""
        c = self.c
        names = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"]
        if c.mode == 64 or c.efer & EFER_LMA:
            names += ["r%d" % k for k in range(8, 16)]
        s = {n: self.reg_read(n) for n in names}
        s.update(rip=c.r[R_RIP], rflags=get_eflags(c), cpl=c.cpl, mode=c.mode,
                 cr0=c.cr0, cr2=c.cr2, cr3=c.cr3, cr4=c.cr4, efer=c.efer,
                 gdtr=(c.gdt_base, c.gdt_limit), idtr=(c.idt_base, c.idt_limit),
                 tr=c.tr_sel, tr_base=c.tr_base, ldtr=c.ldt_sel)
        for k, n in enumerate(("es", "cs", "ss", "ds", "fs", "gs")):
            s[n] = c.sel[k]
            s[n + "_base"] = c.segbase[k]
        for n in ["xmm%d" % k for k in range(16)] + ["mm%d" % k for k in range(8)] + ["mxcsr"]:
            s[n] = self.reg_read(n)
        s.update({n: self.reg_read(n) for n in X87_REG_NAMES})
        return s

    # ---- CPU models and reset (conformance; emu/cpumodels.py, cpumodels.pxi)

    def _set_cpu_model(self, vendor, max_basic, max_ext, ident, signature, brand, addr_sizes,
                       pmu, hidden, counters):
        """Fill the model (emu.cpumodels.apply does this from a model)."""
        cdef CpuModel* m = &self.c.model
        m.vendor = vendor
        m.max_basic = max_basic or CPUID_MAX_BASIC
        m.max_ext = max_ext
        for k in range(3):
            m.ident[k] = ident[k]
        m.signature = signature
        for k in range(12):
            m.brand[k] = brand[k]
        m.addr_sizes = addr_sizes
        m.pmu = pmu
        for k in range(6):
            m.hidden[k] = hidden[k]
        m.counters = min(counters, MODEL_COUNTERS)
        memset(m.evtsel, 0, sizeof(m.evtsel))
        memset(m.ctr, 0, sizeof(m.ctr))

    def power_on(self):
        """Put the CPU in the state after power-up or RESET (SDM Vol. 3A
        table "Processor States Following Power-up, Reset, or INIT"): real
        mode at F000:FFF0 (CS base 0xF0000: see power_on_state), IDTR and GDTR limit
        0xFFFF, EDX the processor signature, CR0 0x60000010."""
        power_on_state(self.c)

    def raise_irq(self, irq):
        """An edge on ISA interrupt line `irq` (0-15) of the 8259 pair; a
        level-triggered device calls it as its line rises (emu/pctestdev.py)."""
        if not 0 <= irq < 16:
            raise EmuError(f"ISA IRQ {irq!r} is outside 0..15")
        irq_raise(self.c, irq)

    def insn_bytes(self, ip=None):
        """The bytes of the instruction at ip (default: rip), read as the CPU
        fetches them (CS base, paging); b'' if it cannot be fetched."""
        return self._code_at(self.c.r[R_RIP] if ip is None else ip)

    cdef bytes _code_at(self, uint64_t ip):
        cdef uint8_t buf[16]
        return (<char*>buf)[:code_at(self.c, ip, buf)]

    # ---- tracing (issue 15; trace.pxi, emu/trace.py)

    def trace_steps(self, bytearray buf, int limit, uint64_t lo=0, uint64_t hi=0xFFFFFFFFFFFFFFFF):
        """Step instruction by instruction, as run(count=1) would each time,
        writing a 32-byte record (trace.pxi) of every instruction whose rip
        is in [lo, hi) into `buf` before it runs, until `limit` records (at
        most what `buf` holds) were written or a step ends another way.
        Returns (records written, Exit of that step or None)."""
        c = self.c
        if self.running:
            raise EmuError("this machine is already running (in another thread)")
        cdef int cap = min(len(buf) // TRACE_REC, limit), n = 0, reason = EXIT_COUNT
        cdef uint8_t* recs = buf
        cdef uint64_t step_start = c.icount
        c.has_until = 0
        self.running = True
        try:
            while n < cap:
                with nogil:
                    reason = trace_run(c, recs, cap, &n, lo, hi, &step_start)
                # A step that left the C loop goes on as run(count=1) would.
                while self._serviced(reason) or (reason == EXIT_COUNT and c.budget != 0):
                    PyErr_CheckSignals()
                    with nogil:
                        reason = cpu_run(c)
                reason = self._take_shutdown(reason)
                if reason != EXIT_COUNT:
                    break
                PyErr_CheckSignals()
        finally:
            self.running = False
            self._flush_output()
        return n, (None if reason == EXIT_COUNT else self._exit(reason, c.icount - step_start))

    # ---- SIMD and FPU state (simd.pxi, fxsave.pxi)

    def _simd_reg_read(self, int kind, int idx):
        c = self.c
        if kind == 6:
            return c.fpu.xmm[idx].q[0] | (<object>c.fpu.xmm[idx].q[1] << 64)
        if kind == 7:
            return mm_get(c, idx)
        return c.fpu.mxcsr

    def _simd_reg_write(self, int kind, int idx, v):
        c = self.c
        if kind == 6:
            c.fpu.xmm[idx].q[0] = v & 0xFFFFFFFFFFFFFFFF
            c.fpu.xmm[idx].q[1] = v >> 64
        elif kind == 7:
            mm_set(c, idx, v)
        else:
            if v & ~MXCSR_MASK:
                raise EmuError(f"mxcsr value {v:#x} sets reserved bits (mask {MXCSR_MASK:#x})")
            c.fpu.mxcsr = v

    def fpu_image(self):
        """The x87 and SSE state as the 512-byte image FXSAVE64 stores
        (all sixteen XMM registers; bytes 416-511 zero)."""
        cdef uint8_t buf[512]
        memset(buf, 0, 512)
        fx_store(self.c, buf, FX_X87 | FX_MXCSR | FX_SSE, True, 16)
        return (<char*>buf)[:512]

    def set_fpu_image(self, data):
        """Load the x87 and SSE state from a 512-byte FXSAVE64 image (as
        FXRSTOR64 does: all sixteen XMM registers)."""
        cdef bytes b = bytes(data)
        if len(b) != 512:
            raise EmuError(f"an FPU image is 512 bytes, not {len(b)}")
        if int.from_bytes(b[24:28], "little") & ~MXCSR_MASK:
            raise EmuError("the image's MXCSR sets reserved bits")
        fx_load(self.c, <const uint8_t*><char*>b, FX_X87 | FX_MXCSR | FX_SSE, True, 16)

    def reset_fpu(self):
        """Put the x87/SSE unit in its power-on state and turn it off as at
        RESET (CR0.MP/NE, CR4.OSFXSR/OSXMMEXCPT/OSXSAVE clear, XCR0 = x87):
        what a kernel booted by `pvemu run` starts from."""
        fpu_power_on(self.c, False)

    # ---- save and restore (snapshot.pxi; the file format: emu/savefile.py)

    def save(self, path):
        """Save the whole machine to the file `path`: CPU state (every field
        of the core's CPU struct, FPU/SIMD included), RAM (all-zero and
        ballooned-out frames take no room), the C devices (UART with its
        queued input, PIC, PIT, APIC, debug ports), the Python devices
        (RTC/CMOS, fw_cfg) and the serial output collected so far.  The
        decode cache is not saved; a loaded machine rebuilds it.  Returns
        the file's size in bytes.  Raises EmuError while running, and on a
        machine of several CPUs (a file holds one)."""
        from emu.savefile import save_machine
        if self.c.m.ncpus > 1:
            raise EmuError(f"save: a save file holds one CPU, this machine has {self.c.m.ncpus}")
        return save_machine(self, path)

    @staticmethod
    def load(path):
        """A new Machine in the state a file made by save() holds, ready to
        run on.  A truncated, corrupted, wrong-version or wrong-kind file
        raises EmuError.  Exit handlers and the serial sink are not part of
        the state: set them again (set_serial, set_exit_handlers)."""
        from emu.savefile import load_machine
        return load_machine(path)

    # ---- a debugger's stops (emu/gdbstub.py)

    def set_breakpoints(self, addresses):
        """run() also ends, with reason 'until', when rip reaches any of
        `addresses` (at most 64; an empty list clears them).  As for
        `until`, a run that starts at one stops at once: step off it with
        the breakpoints cleared."""
        addrs = [int(a) & 0xFFFFFFFFFFFFFFFF for a in addresses]
        if len(addrs) > MAX_BREAKS:
            raise EmuError(f"at most {MAX_BREAKS} breakpoints, not {len(addrs)}")
        c = self.c
        for k, a in enumerate(addrs):
            c.breaks[k] = a
        c.nbreaks = len(addrs)

    def set_debugger_watchpoints(self, points):
        """Let a debugger own DR0-DR3 and DR7: `points` is a list of up to
        four (linear address, length 1/2/4/8, kind) with kind 'exec',
        'write' or 'access'; a hit ends run() with reason 'debug' (the data
        ones after the access) instead of raising #DB in the guest.  The
        guest's own debug registers are kept aside and come back when
        `points` is empty again; a guest that writes them meanwhile
        replaces the debugger's."""
        c = self.c
        kinds = {"exec": 0, "write": 1, "access": 3}
        lens = {1: 0, 2: 1, 4: 3, 8: 2}
        if len(points) > 4 or any(k not in kinds or n not in lens or (k == "exec" and n != 1)
                                  for _, n, k in points):
            raise EmuError(f"up to four (address, length 1/2/4/8, 'exec'|'write'|'access'), not {points!r}")
        if points and not c.dr_host:
            self._guest_dr = [c.dr[k] for k in range(8)]
        if not points:
            if c.dr_host:
                for k in range(8):
                    c.dr[k] = self._guest_dr[k]
                c.dr_host = 0
                dr_update(c)
            return
        dr7 = DR7_FIXED
        for k, (addr, n, kind) in enumerate(points):
            c.dr[k] = addr & 0xFFFFFFFFFFFFFFFF
            dr7 |= (2 << (2 * k)) | ((kinds[kind] | lens[n] << 2) << (16 + 4 * k))
        c.dr[7] = dr7
        c.dr[6] = DR6_FIXED
        c.dr_host = 1
        dr_update(c)

    def fpu_read(self):
        """The x87 and SSE state as plain values: 'st' the eight physical
        registers as (significand, sign+exponent) pairs (ST(i) is
        st[(top + i) % 8]), 'top', 'fcw', 'fsw' (TOP included, as FSTSW
        stores it), 'ftw' (the full tag word, 2 bits a register), 'fop',
        'fip', 'fdp', 'fcs', 'fds', 'mxcsr', 'xmm' (sixteen 16-byte
        values)."""
        cdef Fpu* f = &self.c.fpu
        return {"st": [(f.st[k].sig, f.st[k].se) for k in range(8)], "top": f.top,
                "fcw": f.fcw, "fsw": (f.fsw & ~0x3800) | ((f.top & 7) << 11), "ftw": f.ftw,
                "fop": f.fop, "fip": f.fip, "fdp": f.fdp, "fcs": f.fcs, "fds": f.fds,
                "mxcsr": f.mxcsr, "xmm": [bytes(f.xmm[k].b[:16]) for k in range(16)]}

    def fpu_write(self, state):
        """Change the x87/SSE state: any keys of fpu_read()'s dict ('fsw'
        sets TOP too; 'top' is taken from it)."""
        cdef Fpu* f = &self.c.fpu
        for k, v in state.items():
            if k == "st":
                for j, (sig, se) in enumerate(v):
                    f.st[j].sig, f.st[j].se = sig & 0xFFFFFFFFFFFFFFFF, se & 0xFFFF
            elif k == "xmm":
                for j, b in enumerate(v):
                    if len(b) != 16:
                        raise EmuError("an xmm register takes 16 bytes")
                    memcpy(f.xmm[j].b, <const char*>b, 16)
            elif k == "fsw":
                f.fsw, f.top = v & 0xFFFF, (v >> 11) & 7
            elif k == "fcw":
                f.fcw = v & 0xFFFF
            elif k == "ftw":
                f.ftw = v & 0xFFFF
            elif k == "fop":
                f.fop = v & 0x7FF
            elif k == "fcs":
                f.fcs = v & 0xFFFF
            elif k == "fds":
                f.fds = v & 0xFFFF
            elif k == "fip":
                f.fip = v & 0xFFFFFFFFFFFFFFFF
            elif k == "fdp":
                f.fdp = v & 0xFFFFFFFFFFFFFFFF
            elif k == "mxcsr":
                self._simd_reg_write(8, 0, v)      # the same reserved-bit check as reg_write
            elif k != "top":
                raise EmuError(f"no FPU field {k!r}")

    def debugger_hits(self):
        """Which of the debugger's watchpoints (set_debugger_watchpoints
        order) the last 'debug' exit hit, as a list of indices."""
        return [k for k in range(4) if (self.c.dr[6] >> k) & 1]

    def serial_input(self, data):
        """Queue bytes for the guest to read from COM1 (as set_serial's
        `input`, keeping the output sink)."""
        self.serial_pending += bytes(data)
        self._feed_serial()

    def device_state(self):
        """The C devices' state for a look from outside (tests, gdb's
        `monitor info`): the PIT, both PICs, the APIC timer and IRR, the
        UART's receive queue, and whether an interrupt waits for delivery."""
        c = self.c
        apic_irr = any(c.apic.irr[k] for k in range(8))
        pending = any(pic_pending(&c.m.pic[k]) >= 0 for k in range(2)) or apic_irr
        return {"pit": {"armed": bool(c.m.pit.armed), "mode": c.m.pit.ch[0].mode, "reload": c.m.pit.ch[0].reload,
                        "next_irq": None if c.m.pit.next_irq == TLB_EMPTY else c.m.pit.next_irq},
                "pic": [{"irr": c.m.pic[k].irr, "isr": c.m.pic[k].isr, "imr": c.m.pic[k].imr}
                        for k in range(2)],
                "apic": {"timer_next": None if c.apic.next_irq == TLB_EMPTY else c.apic.next_irq,
                         "irr": apic_irr},
                "uart": {"rx": c.m.uart.rx_tail - c.m.uart.rx_head, "ier": c.m.uart.ier,
                         "queued": len(self.serial_pending)},
                "interrupt_pending": pending, "halted": bool(c.halted), "shadow": c.shadow}

    def guest_state_block(self):
        """The CPU struct as bytes with host pointers, statistics and run-loop
        scratch state cleared: two machines whose guests are in the same
        state give the same bytes however their runs were cut (a check for
        save/restore and replay)."""
        return self._cpu_block(True)

    def _core_state(self, frames=True):
        """For emu/savefile.py: the machine's state as a dict of plain values
        and bytes (see save()); frames=False leaves RAM out (live migration
        sends it separately, paravirt/migrate.py)."""
        if self.running:
            raise EmuError("cannot save a machine while it runs (stop it first)")
        c = self.c
        self._flush_output()
        pfns, data = self._frames() if frames else (b"", b"")
        owners = []
        for read, write in list(self.io_handlers.values()) + [h[2:] for h in self.mmio_handlers]:
            for fn in (read, write):
                owner = getattr(fn, "__self__", None)
                if fn is not None and owner is None and not (
                        ".attach.<locals>." in fn.__qualname__ and not fn.__closure__):
                    # (a function without state that a device's attach() makes
                    # is made again when the device is attached on load)
                    raise EmuError(f"cannot save: device handler {fn!r} is a plain function, "
                                   "not a method of a device object")
                if owner is not None and not any(owner is o for o in owners):
                    owners.append(owner)
        return {"cpu": self._cpu_block(False), "io_map": (<char*>c.io_map)[:65536],
                "absent": (<char*>c.absent)[:c.npages] if c.absent != NULL else None,
                "pfns": pfns, "pages": data, "memory": c.mem_size,
                "decode_cache": bool(c.use_cache), "shared": self.mem_fd >= 0,
                "pv_vcpu": (c.pv_vcpu - c.mem) if c.pv_vcpu != NULL else None,
                "serial_pending": bytes(self.serial_pending),
                "serial_output": bytes(self.serial_output),
                "debugcon_output": bytes(self.debugcon_output),
                "devices": owners}

    cdef bytes _cpu_block(self, bint guest_only):
        cdef CPU* t = <CPU*>calloc(1, sizeof(CPU))
        if t == NULL:
            raise MemoryError("cannot copy the CPU state")
        cpu_copy_scrubbed(self.c, t, guest_only)
        out = (<char*>t)[:sizeof(CPU)]
        free(t)
        return out

    cdef tuple _frames(self):
        """(frame numbers as u32 each, their contents) of the frames worth saving."""
        c = self.c
        cdef uint64_t n
        cdef uint32_t* nums = <uint32_t*>calloc(c.npages + 1, 4)
        cdef unsigned char* resident = <unsigned char*>calloc(c.npages, 1)
        if nums == NULL or resident == NULL:
            free(nums)
            free(resident)
            raise MemoryError("cannot list the guest's frames")
        with nogil:
            n = list_frames(c, nums, resident)
        free(resident)
        data = bytearray(n << 12)
        cdef unsigned char* dst = data
        with nogil:
            copy_frames(c, nums, n, dst, True)
        pfns = (<char*>nums)[:n * 4]
        free(nums)
        return pfns, bytes(data)

    cdef void _put_frames(self, const uint8_t[:] pfns, const uint8_t[:] data) except *:
        c = self.c
        cdef uint64_t n = pfns.shape[0] // 4, k
        cdef const uint32_t* nums = <const uint32_t*>&pfns[0] if n else NULL
        if data.shape[0] != n << 12:
            raise EmuError(f"the save file's memory holds {data.shape[0]} bytes for {n} frames")
        for k in range(n):
            if nums[k] >= c.npages:
                raise EmuError(f"the save file has frame {nums[k]:#x} beyond the machine's {c.npages} frames")
        if n:
            copy_frames(c, nums, n, <uint8_t*>&data[0], False)

    def _devices_attached(self):
        """For emu/savefile.py, once the loaded devices are attached: their
        MMIO ranges back in the order the saved machine had them."""
        c = self.c
        now = [(c.mmio_start[k], c.mmio_end[k]) for k in range(c.nmmio)]
        if sorted(now) != sorted(self._saved_mmio):
            raise EmuError("the save file's devices did not claim the MMIO ranges it had")
        for k, (lo, hi) in enumerate(self._saved_mmio):
            c.mmio_start[k], c.mmio_end[k] = lo, hi

    def _adopt_core_state(self, st):
        """For emu/savefile.py: take the state _core_state gave (the
        machine must have been made with the same memory size and no
        devices; savefile attaches the Python devices itself)."""
        c = self.c
        cdef const uint8_t[:] cpu = st["cpu"]
        cdef const uint8_t[:] io_map = st["io_map"]
        if cpu.shape[0] != sizeof(CPU) or io_map.shape[0] != 65536 or st["memory"] != c.mem_size:
            raise EmuError("the save file's CPU block, port map or memory size does not fit this core")
        absent = st["absent"]
        if absent is not None and len(absent) != c.npages:
            raise EmuError("the save file's frame map does not fit its memory size")
        self._put_frames(st["pfns"], st["pages"])
        cpu_adopt(c, &cpu[0])
        self._saved_mmio = [(c.mmio_start[k], c.mmio_end[k]) for k in range(c.nmmio)]
        c.nmmio = 0                    # the devices' attach() registers their ranges again
        memcpy(c.io_map, &io_map[0], 65536)
        for port in range(65536):      # the devices' attach() claims their ports again
            if c.io_map[port] == DEV_PYTHON:
                c.io_map[port] = DEV_NONE
        if absent is not None:
            if c.absent == NULL:
                c.absent = <uint8_t*>zalloc(c.npages)
                if c.absent == NULL:
                    raise MemoryError("cannot allocate the frame map")
            memcpy(c.absent, <const char*>absent, c.npages)
        if st["pv_vcpu"] is not None:
            self.set_shared_info(st["pv_vcpu"])
        self.serial_pending[:] = st["serial_pending"]
        self.serial_output[:] = st["serial_output"]
        self.debugcon_output[:] = st["debugcon_output"]

    # ---- mapped memory (regions.pxi): Unicorn's mem_map family

    cdef list _regions        # [start, end, perms, frame, owner], sorted, disjoint
    cdef bytearray _frame_used   # one byte per mapped-frame slot (frame npages + k)

    def mem_map(self, address, size, perms=7):
        """Map `size` bytes of zeroed memory at guest-physical `address`
        (both multiples of 4 KiB, anywhere in the 64-bit space outside RAM,
        MMIO ranges and other regions), with `perms` a mask of 1 read,
        2 write, 4 execute (Unicorn's UC_PROT_*).  An access the region
        does not permit ends run() with 'protection'."""
        start, n = self._check_new_region(address, size, perms)
        owner = _HostPages(n)
        self._add_region(start, n, perms, owner, owner.address)

    def mem_map_ptr(self, address, buffer, perms=7):
        """Map a writable Python buffer (bytearray, mmap, numpy array, ...,
        a multiple of 4 KiB long) as guest memory at `address`: the guest
        and the buffer share the bytes.  The machine keeps the buffer alive
        while it is mapped."""
        try:
            view = memoryview(buffer).cast("B")
        except TypeError:
            raise EmuError(f"buffer must support the buffer protocol, not {type(buffer).__name__}") from None
        if view.readonly:
            raise EmuError("buffer must be writable")
        if not view.c_contiguous:
            raise EmuError("buffer must be contiguous")
        start, n = self._check_new_region(address, len(view), perms)
        cdef uint8_t[::1] raw = view
        self._add_region(start, n, perms, view, <size_t>&raw[0])

    def mem_unmap(self, address, size):
        """Unmap [address, address + size) (page-aligned, wholly mapped by
        mem_map regions); decoded code there is dropped."""
        start, end = self._check_mapped(address, size)
        self._regions = self._split_regions(start, end, self._free_pages)
        self._sync_regions()

    def mem_protect(self, address, size, perms):
        """Change the permissions of [address, address + size) (page-aligned,
        wholly mapped by mem_map regions) to `perms` (1 read, 2 write,
        4 execute)."""
        _check_perms(perms)
        start, end = self._check_mapped(address, size)
        self._regions = self._split_regions(
            start, end, lambda r, lo, hi: [[lo, hi, perms, r[3] + ((lo - r[0]) >> 12), r[4]]])
        self._sync_regions()

    def _split_regions(self, start, end, inside):
        """The region list with [start, end) cut out of the regions it
        overlaps; inside(region, lo, hi) gives what stands in each cut."""
        out = []
        for r in self._regions:
            lo, hi = max(r[0], start), min(r[1], end)
            if lo >= hi:
                out.append(r)
                continue
            if r[0] < lo:
                out.append([r[0], lo, r[2], r[3], r[4]])
            out += inside(r, lo, hi)
            if hi < r[1]:
                out.append([hi, r[1], r[2], r[3] + ((hi - r[0]) >> 12), r[4]])
        return out

    def _free_pages(self, r, lo, hi):
        """Give back the frames of [lo, hi) of region r; nothing stands there."""
        c = self.c
        cdef uint64_t f, gpa
        for gpa in range(lo, hi, 0x1000):
            f = r[3] + ((gpa - r[0]) >> 12)
            if c.page_blocks[f] != NULL:
                smc_write(c, f << 12, 0x1000)
            c.frames[f - c.npages] = NULL
            self._frame_used[f - c.npages] = 0
        return []

    def mem_regions(self):
        """The mapped memory as (begin, end, perms) tuples, `end` inclusive
        as Unicorn reports it: RAM at 0 (if any) first, then each region."""
        out = [(0, self.c.mem_size - 1, 7)] if self.c.mem_size else []
        return out + [(r[0], r[1] - 1, r[2]) for r in self._regions]

    cdef tuple _check_new_region(self, address, size, perms):
        _check_perms(perms)
        start = _check_int("address", address, 0, (1 << 64) - 1)
        n = _check_int("size", size, 1, 1 << 64)
        if start & 0xFFF or n & 0xFFF:
            raise EmuError(f"address {start:#x} and size {n:#x} must be multiples of 4 KiB")
        if start + n > 1 << 64:
            raise EmuError(f"region {start:#x}+{n:#x} runs past the 64-bit address space")
        if start < self.c.mem_size:
            raise EmuError(f"region {start:#x}+{n:#x} overlaps RAM (0..{self.c.mem_size:#x})")
        for r in self._regions:
            if start < r[1] and r[0] < start + n:
                raise EmuError(f"region {start:#x}+{n:#x} overlaps the mapped region {r[0]:#x}..{r[1]:#x}")
        for lo, hi, _, _ in self.mmio_handlers:
            if start < hi and lo < start + n:
                raise EmuError(f"region {start:#x}+{n:#x} overlaps the MMIO range {lo:#x}..{hi:#x}")
        if n >> 12 > MAX_MAPPED_PAGES - len(self._frame_used) + self._frame_used.count(0):
            raise EmuError(f"size {n:#x}: at most {MAX_MAPPED_PAGES << 12:#x} bytes can be mapped")
        return start, n

    cdef tuple _check_mapped(self, address, size):
        start = _check_int("address", address, 0, (1 << 64) - 1)
        n = _check_int("size", size, 1, 1 << 64)
        if start & 0xFFF or n & 0xFFF:
            raise EmuError(f"address {start:#x} and size {n:#x} must be multiples of 4 KiB")
        at = start
        for r in self._regions:
            if r[0] <= at < r[1]:
                at = r[1]
        if at < start + n:
            raise EmuError(f"range {start:#x}+{n:#x} is not wholly mapped (nothing at {at:#x})")
        return start, start + n

    cdef void _add_region(self, uint64_t start, uint64_t n, uint32_t perms, owner, size_t host) except *:
        c = self.c
        cdef uint64_t pages = n >> 12, k, f
        f = self._alloc_frames(pages)
        for k in range(pages):
            c.frames[f - c.npages + k] = <uint8_t*>host + (k << 12)
        self._regions.append([start, start + n, perms, f, owner])
        self._regions.sort(key=lambda r: r[0])
        self._sync_regions()

    cdef uint64_t _alloc_frames(self, uint64_t pages) except? 0:
        """First fit of `pages` consecutive free frame slots, growing the
        frame table (and the page lists of decoded blocks) when none fit."""
        c = self.c
        at = self._frame_used.find(bytes(pages))
        if at < 0:
            self._grow_frames(len(self._frame_used) + pages)
            at = self._frame_used.find(bytes(pages))
        self._frame_used[at:at + pages] = b"\1" * pages
        return c.npages + at

    cdef void _grow_frames(self, uint64_t want) except *:
        c = self.c
        cdef uint64_t cap = max(want, 2 * len(self._frame_used))
        cdef uint64_t total = c.npages + cap
        cdef Block** pb = <Block**>zalloc(total * sizeof(Block*))
        cdef uint8_t** fr = <uint8_t**>zalloc(cap * sizeof(uint8_t*))
        if pb == NULL or fr == NULL:
            zfree(pb, total * sizeof(Block*))
            zfree(fr, cap * sizeof(uint8_t*))
            raise MemoryError(f"cannot grow the frame table to {cap} pages")
        memcpy(pb, c.page_blocks, c.nframes * sizeof(Block*))
        memcpy(fr, c.frames, len(self._frame_used) * sizeof(uint8_t*))
        zfree(c.page_blocks, c.nframes * sizeof(Block*))
        zfree(c.frames, len(self._frame_used) * sizeof(uint8_t*))
        c.page_blocks = pb
        c.frames = fr
        c.nframes = total
        self._grow_dirty()
        self._frame_used.extend(bytes(cap - len(self._frame_used)))

    cdef void _sync_regions(self) except *:
        """Copy the region list into the C table and drop every cached
        translation (permissions or frames changed)."""
        c = self.c
        cdef Region* t = <Region*>calloc(max(len(self._regions), 1), sizeof(Region))
        if t == NULL:
            raise MemoryError("cannot allocate the region table")
        for k, r in enumerate(self._regions):
            t[k].start, t[k].end, t[k].perms, t[k].frame = r[0], r[1], r[2], r[3]
        free(c.regions)
        c.regions = t
        c.nregions = len(self._regions)
        tlb_flush(c)

    cdef uint8_t* _host(self, uint64_t gpa, uint64_t* frame_pa):
        """Host byte behind guest-physical gpa (RAM or a region, whatever
        its permissions) and its frame address; NULL if nothing is mapped."""
        frame_pa[0] = frame_of(self.c, gpa)
        return NULL if frame_pa[0] == TLB_EMPTY else host_of(self.c, frame_pa[0])

    cdef uint64_t _check_access(self, addr, n) except? 0:
        """Validate a mem_read/mem_write range: every byte mapped."""
        cdef uint64_t a, k, fpa
        a = _check_int("address", addr, 0, (1 << 64) - 1)
        _check_int("size", n, 0, (1 << 64) - a)
        if a + n <= self.c.mem_size:
            return a
        k = a & ~<uint64_t>0xFFF
        while k < a + n:
            if self._host(max(k, a), &fpa) == NULL:
                raise EmuError(f"guest memory range {a:#x}..{a + n:#x} is outside RAM "
                               f"(0..{self.c.mem_size:#x}) and the mapped regions "
                               f"(nothing at {max(k, a):#x})")
            k += 0x1000
        return a

    # ---- hooks (hooks.pxi): Unicorn's hook kinds

    cdef dict _hooks          # handle -> (kind, callback, begin, end, arg)
    cdef int _next_hook
    cdef object _retried      # the fault a memory-fault hook just asked to retry
    cdef bint _rip_written    # a hook wrote rip
    cdef list _code_list, _block_list   # (lo, hi, callback, data) of code (and fetch), block hooks
    cdef dict _mem_lists      # 'mem_read' ... -> [(lo, hi, callback, data, access)] of memory hooks
    cdef bytes _snap_context  # the CPU at the last snapshot()

    def hook_add(self, kind, callback, begin=1, end=0, arg=None, data=None):
        """Call `callback` at events of `kind` with addresses in [begin, end]
        (inclusive; begin > end, the default, means everywhere).  Returns a
        handle for hook_del.  Kinds and callbacks:

        'code'   callback(address, size) before each instruction
        'block'  callback(address, size) at the start of each block
        'mem_read', 'mem_write', 'mem_fetch', 'mem_read_after'
                 callback(access, address, size, value) around an access to
                 mapped regions (mem_map); value is 0 before a read
        'mem_read_unmapped', 'mem_write_unmapped', 'mem_fetch_unmapped',
        'mem_read_prot', 'mem_write_prot', 'mem_fetch_prot'
                 callback(access, address, size, value) -> True to retry
                 the access (the hook mapped or unprotected it), else the
                 run ends with 'unmapped' / 'protection'
        'intr'   callback(vector) for an exception or INT n with no IDT to
                 take it; the run goes on (after INT n)
        'insn_invalid'  callback() -> True to go on (after changing rip)
        'insn'   arg 'in': callback(port, size) -> value; 'out':
                 callback(port, size, value); 'syscall', 'sysenter':
                 callback(), the instruction is skipped; 'cpuid', 'rdtsc':
                 callback() -> True to skip the instruction, else it runs

        Code, block and fetch hooks are compiled into the decoded blocks of
        their range only; memory hooks route their pages (mapped regions)
        through Python; elsewhere nothing changes.  Adding or removing a
        hook takes effect at once, also from inside a hook.  An exception
        raised by a callback ends run() and reaches its caller.

        data (code, block and memory-access hooks): a pair (first, last)
        passed around the arguments, callback(first, address, size, last)
        or callback(first, access, address, size, value, last), as
        Unicorn's (uc, ..., user_data), saving a wrapper call per event;
        a memory hook's `arg` is then what it passes as access (e.g.
        Unicorn's UC_MEM_WRITE) and its value is signed 64-bit, as
        Unicorn's."""
        if kind not in HOOK_KINDS:
            raise EmuError(f"hook kind {kind!r} is not one of {', '.join(HOOK_KINDS)}")
        if not callable(callback):
            raise EmuError(f"callback must be callable, not {callback!r}")
        b = _check_int("begin", begin, 0, (1 << 64) - 1)
        e = _check_int("end", end, 0, (1 << 64) - 1)
        if kind == "insn" and arg not in HOOK_INSNS:
            raise EmuError(f"an 'insn' hook takes arg in {', '.join(HOOK_INSNS)}, not {arg!r}")
        handle = self._next_hook
        self._next_hook += 1
        if data is not None and (kind not in DATA_HOOK_KINDS or len(data) != 2):
            raise EmuError(f"data is a pair (first, last), for {', '.join(DATA_HOOK_KINDS)} hooks")
        self._hooks[handle] = (kind, callback, b, e, arg, data)
        self._sync_hooks()
        return handle

    def hook_del(self, handle):
        """Remove a hook (a handle from hook_add)."""
        if self._hooks.pop(handle, None) is None:
            raise EmuError(f"no hook with handle {handle!r}")
        self._sync_hooks()

    cdef void _sync_hooks(self) except *:
        """Copy the hooks' ranges into the CPU and drop decoded blocks and
        translations, so that blocks are rebuilt with the markers now due."""
        c = self.c
        code, block, mem = [], [], []
        traps = 0
        self._code_list, self._block_list, self._mem_lists = [], [], {}
        for kind, cb, b, e, arg, data in self._hooks.values():
            r = (0, (1 << 64) - 1) if b > e else (b, e)
            if kind in ("code", "block", "mem_fetch"):
                if kind == "mem_fetch":
                    cb, data = _fetch_adapter(cb, data, arg), None
                (self._block_list if kind == "block" else self._code_list).append(r + (cb, data))
            if kind in ("mem_read", "mem_read_after", "mem_write"):
                self._mem_lists.setdefault(kind, []).append(r + (cb, data, arg))
            if kind in ("code", "mem_fetch"):
                code.append(r)
            elif kind == "block":
                block.append(r)
            elif kind in ("mem_read", "mem_read_after", "mem_write"):
                mem.append(r + ((1 << ACC_WRITE) if kind == "mem_write" else (1 << ACC_READ),))
            elif kind == "insn":
                traps |= 1 << PRIVOP_CLASSES.index(arg)
        c.hk_ncode = Machine._fill_ranges(c.hk_code_lo, c.hk_code_hi, NULL, code)
        c.hk_nblock = Machine._fill_ranges(c.hk_block_lo, c.hk_block_hi, NULL, block)
        c.hk_nmem = Machine._fill_ranges(c.hk_mem_lo, c.hk_mem_hi, c.hk_mem_kind, mem)
        c.pv_trap = (c.pv_trap & ~HOOK_TRAPS) | traps
        cache_flush(c)
        tlb_flush(c)

    cdef void _rerun(self):
        """The instruction at rip runs again after an exit (a device access,
        a retried fault): its hook markers have fired already."""
        self.c.hk_pass_addr = self.c.r[R_RIP]
        self.c.hk_pass_level = HOOK_CODE

    @staticmethod
    cdef uint32_t _fill_ranges(uint64_t* lo, uint64_t* hi, uint32_t* kinds, list ranges) except? 0:
        """Ranges into a CPU table of MAX_HOOK_RANGES; more merge into one that
        covers them all (the hooks themselves still check their own range)."""
        if len(ranges) > MAX_HOOK_RANGES:
            ranges = [(min(r[0] for r in ranges), max(r[1] for r in ranges))
                      + ((ACC_READ_BIT | ACC_WRITE_BIT,) if kinds != NULL else ())]
        for k, r in enumerate(ranges):
            lo[k], hi[k] = r[0], r[1]
            if kinds != NULL:
                kinds[k] = r[2]
        return len(ranges)

    cdef void _resume_after(self):
        """An instruction hook completed its instruction mid-block: the run
        goes on at the next one, which is no new block for a block hook."""
        self.c.hk_pass_addr = self.c.r[R_RIP]
        self.c.hk_pass_level = HOOK_BLOCK

    cdef list _hooks_at(self, kinds, uint64_t address):
        return [cb for kind, cb, b, e, _, _ in list(self._hooks.values())
                if kind in kinds and (b > e or b <= address <= e)]

    cdef void _run_code_hooks(self) except *:
        """A marker exited: call the block or code (and fetch) hooks there,
        then let its instruction through, unless a hook wrote rip."""
        c = self.c
        cdef uint64_t addr = c.hk_addr, lo, hi
        cdef uint32_t size = c.hk_size, level = c.hk_kind
        self._rip_written = False
        for lo, hi, cb, data in (self._block_list if level == HOOK_BLOCK else self._code_list):
            if lo <= addr <= hi:
                if data is None:
                    cb(addr, size)
                else:
                    cb(data[0], addr, size, data[1])
        if not self._rip_written:
            c.hk_pass_addr = addr
            c.hk_pass_level = level

    cdef uint64_t _hooked_access(self) except? 0:
        """An access to a page under a memory hook: call the hooks and do
        the access (within one page: one that straddles two is reported
        unmapped); returns the value read (0 for a store)."""
        c = self.c
        cdef uint64_t addr = c.mmio_addr, value = c.mmio_value & size_mask(c.mmio_size), fpa
        cdef uint32_t size = c.mmio_size
        if c.mmio_write:
            self._mem_hooks("mem_write", "write", addr, size, value)
            self._phys_copy(self._hooked_page(addr, &fpa), fpa, <uint8_t*>&value, size)
            return 0
        self._mem_hooks("mem_read", "read", addr, size, 0)
        value = 0                       # the hooks may have changed or unmapped it
        memcpy(&value, self._hooked_page(addr, &fpa), size)
        self._mem_hooks("mem_read_after", "read", addr, size, value)
        return value

    cdef void _mem_hooks(self, str kind, str access, uint64_t addr, uint32_t size, uint64_t value) except *:
        for lo, hi, cb, data, arg in self._mem_lists.get(kind, ()):
            if lo <= addr <= hi:
                if data is None:
                    cb(access, addr, size, value)
                else:
                    cb(data[0], access if arg is None else arg, addr, size, <int64_t>value, data[1])

    cdef uint8_t* _hooked_page(self, uint64_t addr, uint64_t* fpa) except NULL:
        cdef uint8_t* p = self._host(addr, fpa)
        if p == NULL:
            raise EmuError(f"a memory hook unmapped {addr:#x} while the guest was accessing it")
        return p

    cdef bint _hook_exit(self, int reason) except *:
        """An exit some hook may take: True if it did and the run goes on."""
        c = self.c
        if reason == EXIT_UNMAPPED or reason == EXIT_PROT:
            access = ACCESS_NAMES[c.fault_access]
            kind = f"mem_{access}_{'unmapped' if reason == EXIT_UNMAPPED else 'prot'}"
            fault = (kind, c.exit_rip, c.fault_addr)
            hooks = self._hooks_at((kind,), c.fault_addr)
            if not hooks or fault == self._retried:
                return False           # no hook, or the retry failed the same way
            size = c.fault_size if c.fault_access != ACC_FETCH else 1
            value = c.fault_value if c.fault_access == ACC_WRITE else 0
            retry = False
            for cb in hooks:
                retry = bool(cb(access, c.fault_addr, size, value)) or retry
            self._retried = fault if retry else None
            if retry:
                self._rerun()
            return retry
        self._retried = None
        if reason == EXIT_EXCEPTION:
            if c.exc_vector == 6:
                hooks = self._hooks_at(("insn_invalid",), c.exit_rip)
                return bool(hooks) and all([bool(cb()) for cb in hooks])
            hooks = self._hooks_at(("intr",), c.exit_rip)
            for cb in hooks:
                cb(c.exc_vector)
            return bool(hooks)
        if reason == EXIT_PRIVOP and (HOOK_TRAPS >> c.pv_class) & 1:
            return self._insn_hook(PRIVOP_CLASSES[c.pv_class])
        return False

    cdef bint _insn_hook(self, cls) except *:
        c = self.c
        hooks = [cb for kind, cb, b, e, arg, _ in list(self._hooks.values())
                 if kind == "insn" and arg == cls and (b > e or b <= c.r[R_RIP] <= e)]
        if not hooks:
            self.pv_native()
            self._rerun()
            return True
        if cls == "in":
            value = 0
            for cb in hooks:
                value = cb(c.pv_arg[0], c.pv_arg[1])
            self.pv_complete(int(value or 0))
            self._resume_after()
        elif cls == "out":
            for cb in hooks:
                cb(c.pv_arg[0], c.pv_arg[1], c.pv_arg[2])
            self.pv_complete(0)
            self._resume_after()
        elif cls in ("cpuid", "rdtsc"):
            skip = False
            for cb in hooks:
                skip = bool(cb()) or skip
            if skip:
                c.r[R_RIP] = (c.r[R_RIP] + c.pv_len) & c.ipmask
                self._resume_after()
            else:
                self.pv_native()
                self._rerun()
        else:                          # syscall, sysenter: the hook stands for it
            for cb in hooks:
                cb()
            c.r[R_RIP] = (c.r[R_RIP] + c.pv_len) & c.ipmask
            self._resume_after()
        return True

    # ---- in-memory state: CPU contexts (Unicorn's context_save/restore)

    def context_save(self, into=None):
        """All CPU state (registers, flags, segments, control, debug and
        model-specific registers, x87/SSE, interrupt controllers and timers)
        as bytes, for context_restore on this machine or another of the
        same mode.  Memory, mappings and hooks are not part of it.  `into`:
        a bytearray of a context's size to save into (and return) instead,
        saving an allocation when one context is saved over and over."""
        if into is None:
            out = PyBytes_FromStringAndSize(NULL, ctx_size(self.c))
            context_save(self.c, <uint8_t*><char*>out)
            return out
        if type(into) is not bytearray or len(<bytearray>into) != ctx_size(self.c):
            raise EmuError(f"into must be a bytearray of {ctx_size(self.c)} bytes (a context's), not {into!r:.40}")
        context_save(self.c, <uint8_t*>PyByteArray_AS_STRING(into))
        return into

    def context_restore(self, context):
        """Put back CPU state from context_save.  Cached translations and the
        jump cache are dropped; decoded blocks stay (they are keyed by
        physical address and decode mode)."""
        cdef const uint8_t[:] blob
        if type(context) is bytes or type(context) is bytearray:    # context_save's: no buffer to acquire
            if len(context) != ctx_size(self.c):
                raise EmuError(f"context is {len(context)} bytes, not the {ctx_size(self.c)} of context_save")
            context_restore(self.c, <const uint8_t*>(PyBytes_AS_STRING(context) if type(context) is bytes
                                                     else PyByteArray_AS_STRING(context)))
            return
        try:
            blob = context
        except (TypeError, ValueError):
            raise EmuError(f"context must be bytes from context_save, not {type(context).__name__}") from None
        if blob.shape[0] != ctx_size(self.c):
            raise EmuError(f"context is {blob.shape[0]} bytes, not the {ctx_size(self.c)} of context_save")
        context_restore(self.c, &blob[0])

    def vector_read(self, k):
        """xmm register k (0-15) as a 128-bit integer (little-endian lanes)."""
        _check_int("register number", k, 0, 15)
        return int.from_bytes((<char*>self.c.fpu.xmm[k].b)[:16], "little")

    def vector_write(self, k, value):
        """Set xmm register k (0-15) from a 128-bit integer."""
        _check_int("register number", k, 0, 15)
        v = _check_int("value", value, 0, (1 << 128) - 1)
        cdef bytes raw = v.to_bytes(16, "little")
        memcpy(self.c.fpu.xmm[k].b, <char*>raw, 16)

    def load_segment(self, name, selector):
        """MOV to a data segment register ('ds', 'es', 'fs', 'gs', 'ss') as
        the CPU does it: in protected mode the descriptor is read from the
        GDT/LDT and checked.  Returns None, or (vector, error code) of the
        fault the CPU would take (the register is then unchanged)."""
        kind, idx, _ = _reg_lookup(name)
        if kind != 4 or idx == S_CS:
            raise EmuError(f"load_segment takes ds, es, fs, gs or ss, not {name!r}")
        sel = _check_int("selector", selector, 0, 0xFFFF)
        if load_seg(self.c, idx, sel):
            return (self.c.exc_vector, self.c.exc_error)
        return None


    # ---- in-memory state: whole-machine snapshots and dirty pages (dirty.pxi)

    cdef void _grow_dirty(self) except *:
        """Size the dirty-page marks and lists to the frames there are."""
        c = self.c
        cdef uint64_t n = c.nframes, old = c.dirty_frames
        if n == 0 or n == old:
            return
        cdef uint8_t* d = <uint8_t*>zalloc(n)
        cdef uint32_t* log = <uint32_t*>zalloc(n * 4)
        cdef uint32_t* snl = <uint32_t*>zalloc(n * 4)
        if d == NULL or log == NULL or snl == NULL:
            zfree(d, n)
            zfree(log, n * 4)
            zfree(snl, n * 4)
            raise MemoryError("cannot allocate the dirty-page map")
        if old:
            memcpy(d, c.dirty, old)
            memcpy(log, c.dirty_log, old * 4)
            memcpy(snl, c.snap_list, old * 4)
            zfree(c.dirty, old)
            zfree(c.dirty_log, old * 4)
            zfree(c.snap_list, old * 4)
        c.dirty, c.dirty_log, c.snap_list, c.dirty_frames = d, log, snl, n

    def snapshot(self):
        """Remember the whole machine now (CPU state and the contents of RAM
        and mapped regions) for restore().  Nothing is copied here: after it
        the first store to each page saves that page first (copy on first
        write).  Mappings and hooks are not part of a snapshot, and memory a
        mem_map_ptr buffer's owner writes directly is not seen."""
        c = self.c
        if c.snap == NULL or c.snap_frames < c.nframes:
            zfree(c.snap, c.snap_frames << 12)
            c.snap_frames = 0
            c.snap = <uint8_t*>zalloc(c.nframes << 12) if c.nframes else NULL
            if c.nframes and c.snap == NULL:
                raise MemoryError("cannot reserve the snapshot's page store")
            c.snap_frames = c.nframes
        for k in range(c.m.nsnap):
            c.dirty[c.snap_list[k]] &= ~DIRTY_SNAP
        c.m.nsnap = 0
        drop_write_tlb(c)
        self._snap_context = self.context_save()

    def restore(self):
        """Put the machine back as it was at the last snapshot(): the pages
        written since are copied back (decoded code on them is dropped) and
        the CPU state is restored.  The snapshot stays for the next restore."""
        if self._snap_context is None:
            raise EmuError("restore() needs a snapshot() first")
        snap_restore_pages(self.c)
        self.context_restore(self._snap_context)

    def dirty_pages(self, clear=False):
        """Guest-physical addresses of the pages written since the machine
        was made or dirty_pages(clear=True) was last called (by the guest,
        by mem_write or write_virtual), in the order first written; with
        clear=True the log starts afresh."""
        c = self.c
        out = []
        frame_to_gpa = self._frame_addresses()
        for k in range(c.m.ndirty_log):
            f = c.dirty_log[k]
            gpa = frame_to_gpa(f)
            if gpa is not None:
                out.append(gpa)
            if clear:
                c.dirty[f] &= ~DIRTY_LOG
        if clear:
            c.m.ndirty_log = 0
            drop_write_tlb(c)
        return out

    cdef object _frame_addresses(self):
        """frame number -> guest-physical page address (None if unmapped)."""
        npages = self.c.npages
        regions = [(r[3], r[3] + ((r[1] - r[0]) >> 12), r[0]) for r in self._regions]

        def gpa(f):
            if f < npages:
                return f << 12
            for lo, hi, start in regions:
                if lo <= f < hi:
                    return start + ((f - lo) << 12)
            return None
        return gpa


    # ---- KVM's PV EOI (apic.pxi), for paravirt/kvm.py
    @property
    def pv_eoi(self):
        """The guest-physical address of the guest's PV EOI word with bit 0
        set while PV EOI is on (MSR_KVM_PV_EOI_EN's value), else 0.  While
        on, the local APIC lets the guest skip the EOI of an interrupt that
        went in service with nothing else requested."""
        return self.c.apic.pv_eoi

    @pv_eoi.setter
    def pv_eoi(self, value):
        value = _check_int("pv_eoi", value, 0, (1 << 64) - 1)
        if value & 1 and (value & 2 or not self.c.mem_size > (value & ~3) + 3):
            raise EmuError(f"pv_eoi {value:#x}: the word must be 4-byte aligned guest RAM")
        pv_eoi_collect(self.c)
        pv_eoi_withdraw(self.c)
        self.c.apic.pv_eoi = value if value & 1 else 0

    @property
    def pv_eoi_skipped(self):
        """EOIs the guest skipped through PV EOI (each one an exit saved
        under hardware virtualization)."""
        return self.c.apic.pv_eoi_skipped

    # ---- edge coverage for fuzzers (coverage.pxi)

    cdef object _cov_buffer     # the map's owner, kept alive

    def coverage_start(self, map=None, size=65536):
        """Count edges into an AFL-layout map from now on: `map` is a
        writable buffer (e.g. AFL's shared memory) of a power-of-two size,
        or None for one of `size` bytes (see coverage_map).  Decoded blocks
        are dropped so that every block gets its counter."""
        if map is None:
            _check_int("size", size, 2, 1 << 24)
            if size & (size - 1):
                raise EmuError(f"size {size} must be a power of two")
            map = bytearray(size)
        try:
            view = memoryview(map).cast("B")
        except TypeError:
            raise EmuError(f"map must be a writable buffer, not {type(map).__name__}") from None
        n = len(view)
        if view.readonly or n < 2 or n & (n - 1):
            raise EmuError(f"map must be writable and a power of two in size, not {n} bytes")
        cdef uint8_t[::1] raw = view
        self._cov_buffer = view
        self.c.cov_map = &raw[0]
        self.c.cov_mask = n - 1
        self.c.cov_prev = 0
        cache_flush(self.c)

    def coverage_stop(self):
        """Stop counting (blocks are rebuilt without their counters)."""
        self.c.cov_map = NULL
        self._cov_buffer = None
        cache_flush(self.c)

    @property
    def coverage_map(self):
        """The edge map (a memoryview of the buffer), or None when off."""
        return self._cov_buffer

    def coverage_reset(self):
        """Zero the map and the counters; the next block starts no edge."""
        if self._cov_buffer is not None:
            memset(self.c.cov_map, 0, self.c.cov_mask + 1)
        self.c.cov_prev = 0
        self.c.cov_blocks = 0

    @property
    def coverage_counts(self):
        """{'blocks': blocks run with coverage on, 'instructions': the
        machine's retired instructions}."""
        return {"blocks": self.c.cov_blocks, "instructions": self.c.icount}

    # ---- several CPUs (smp.pxi) and the IOAPIC (ioapic.pxi)

    cdef void _add_cpus(self, n) except *:
        """The application processors 1..n-1: copies of CPU 0 (its model),
        then INIT: each waits for a start-up IPI.  CPU 0 is the BSP
        (IA32_APIC_BASE bit 8); APIC IDs are 0..n-1."""
        c = self.c
        cdef CPU* ap
        cdef uint32_t k
        for k in range(1, n):
            ap = <CPU*>calloc(1, sizeof(CPU))
            if ap == NULL:
                raise MemoryError("cannot allocate a CPU")
            memcpy(ap, c, sizeof(CPU))
            ap.jcache = <Block**>zalloc(JC_SIZE * sizeof(Block*))
            if ap.jcache == NULL:
                free(ap)
                raise MemoryError("cannot allocate a CPU's jump cache")
            jcache_clear(ap.jcache)
            c.mach.cpu[k] = ap
            c.mach.ncpus = k + 1
            ap.m = &c.mach
            ap.cpu_index = k
            ap.key = (c.key & KEY_DECODE) | (k * KEY_GEN)   # generations apart (icache.pxi)
            ap.icount = ap.idle = 0
            ap.apic.id = k
            ap.msr_apic_base = c.msr_apic_base & ~<uint64_t>0x100
            cpu_init(ap)
            ap.apic.id = k
        if n > 1:
            c.mach.target = c.mach.quantum

    cdef void _free_cpus(self):
        cdef Mach* m = self.c.m
        cdef uint32_t k
        self.c = m.cpu[0]
        for k in range(1, m.ncpus):
            zfree(m.cpu[k].jcache, JC_SIZE * sizeof(Block*))
            free(m.cpu[k])
        m.ncpus = 1

    cdef void _smp_share(self):
        """The selected CPU's view of the shared state (pointers the Python
        side may have changed) to the other CPUs."""
        cdef Mach* m = self.c.m
        cdef uint32_t k
        for k in range(m.ncpus):
            if m.cpu[k] != self.c:
                smp_share(self.c, m.cpu[k])

    @property
    def cpus(self):
        """The number of CPUs (Machine(cpus=N))."""
        return self.c.m.ncpus

    @property
    def cpu_index(self):
        """The CPU that reg_read, reg_write, state() and the like act on
        (select_cpu); 0, the BSP, unless chosen otherwise."""
        return self.c.cpu_index

    def select_cpu(self, k):
        """Make CPU k the one the register and state methods act on (run()
        runs them all; it returns with CPU 0 selected and Exit.cpu naming the
        CPU its reason concerns)."""
        k = _check_int("cpu", k, 0, self.c.m.ncpus - 1)
        self._smp_share()
        self.c = self.c.m.cpu[k]

    def cpu_waiting_for_sipi(self, k):
        """Is CPU k waiting for a start-up IPI (after INIT, or at power-up for an AP)?"""
        k = _check_int("cpu", k, 0, self.c.m.ncpus - 1)
        return bool(self.c.m.cpu[k].wait_sipi)

    @property
    def smp_quantum(self):
        """Virtual time (instructions) each CPU runs per turn."""
        return self.c.m.quantum

    @smp_quantum.setter
    def smp_quantum(self, value):
        self.c.m.quantum = _check_int("smp_quantum", value, 1, 1 << 32)

    def attach_ioapic(self):
        """Add the IOAPIC at 0xFEC00000 (ioapic.pxi), as a PC has it: the ISA
        IRQs reach its pins (IRQ 0 on pin 2), every entry masked at first."""
        if self.c.m.ioapic_on:
            return
        for lo, hi, _, _ in self.mmio_handlers:
            if lo < IOAPIC_ADDRESS + 0x1000 and IOAPIC_ADDRESS < hi:
                raise EmuError(f"the IOAPIC page {IOAPIC_ADDRESS:#x} is taken by an MMIO range")
        for r in self._regions:
            if r[0] < IOAPIC_ADDRESS + 0x1000 and IOAPIC_ADDRESS < r[1]:
                raise EmuError(f"the IOAPIC page {IOAPIC_ADDRESS:#x} is taken by a mapped region")
        if self.c.mem_size > IOAPIC_ADDRESS:
            raise EmuError(f"RAM reaches the IOAPIC page {IOAPIC_ADDRESS:#x}")
        ioapic_reset(&self.c.m.ioapic)
        self.c.m.ioapic_on = 1

    def set_irq_line(self, irq, level):
        """Drive interrupt line `irq` (0-23) to `level`, as a level-triggered
        device does: the IOAPIC sees the level (ISA IRQ 0 on its pin 2),
        the 8259 pair (lines 0-15) the rising edge (raise_irq is an edge)."""
        irq = _check_int("irq", irq, 0, IOAPIC_PINS - 1)
        cdef bint rising = level and not (self.c.m.ioapic.level >> isa_pin(irq)) & 1
        ioapic_set_pin(self.c.m, isa_pin(irq), bool(level))
        if rising and irq < 16:
            pic_raise(self.c, irq)

    @property
    def ioapic_redirection(self):
        """The IOAPIC's 24 redirection entries (64-bit values)."""
        return [self.c.m.ioapic.redir[k] for k in range(IOAPIC_PINS)]

    # ---- timers of devices written in Python (the HPET's comparators, emu/hpet.py)

    def set_device_timer(self, owner, when, callback=None):
        """Call callback() from inside run() once virtual_time reaches `when`
        (instructions), once; one timer per `owner` (a new one replaces it),
        `when` None cancels it.  The callback may raise IRQ lines
        (raise_irq) and set timers again."""
        if self.device_timers is None:
            self.device_timers = {}
        if when is None:
            self.device_timers.pop(owner, None)
        else:
            if callback is None or not callable(callback):
                raise EmuError("a device timer needs a callback")
            self.device_timers[owner] = (min(max(int(when), 0), TLB_EMPTY - 1), callback)   # (never: far off)
        self._arm_device_timer()

    cdef void _arm_device_timer(self):
        c = self.c
        c.dev_timer = min((w for w, _ in self.device_timers.values()), default=TLB_EMPTY)
        look_now(c)

    cdef void _device_timers_due(self) except *:
        """Run the callbacks of the timers now due (in time order)."""
        now = self.c.icount + self.c.idle
        due = sorted(((w, o) for o, (w, _) in self.device_timers.items() if w <= now), key=lambda e: e[0])
        for _, owner in due:
            entry = self.device_timers.pop(owner, None)
            if entry is not None:
                entry[1]()
        self._arm_device_timer()

    # ---- superinstructions (gen_variants.py PAIRS): what the tests look at

    def decoded_handlers(self, rip):
        """The handler names of the block of the current CPU's jump cache at
        rip (decoded by a run that went there), end marker included (a
        variant's address where it has no name here); None when the jump
        cache holds none."""
        cdef Block* b = self.c.jcache[<uint64_t>rip & (JC_SIZE - 1)]
        if not starts_at(self.c, b, rip):
            return None
        from emu.gen_variants import PAIRS      # (PAIR_FN and its halves are in its order)
        names = dict(handler_names())
        for k, (first, second) in enumerate(PAIRS):
            names[<uintptr_t>PAIR_FN[k]] = f"p_{first[2:]}__{second[2:]}"
            names[<uintptr_t>PAIR_FIRST[k]] = first
            names[<uintptr_t>PAIR_SECOND[k]] = second
        return [names.get(<uintptr_t>b.insns[k].fn, <uintptr_t>b.insns[k].fn) for k in range(b.n + 1)]


#: Machine(cpus=N): at most this many CPUs; where the IOAPIC is (smp.pxi, ioapic.pxi).
SMP_MAX_CPUS = MAX_CPUS
IOAPIC_ADDRESS = <uint32_t>IOAPIC_BASE


def _fetch_adapter(cb, data, access):
    if data is None:
        return lambda address, size: cb("fetch", address, size, 0)
    first, last = data
    return lambda address, size: cb(first, access if access is not None else "fetch", address, size, 0, last)


#: Machine.hook_add's kinds, and the instructions an 'insn' hook can take.
#: The kinds of hook that take `data` (Machine.hook_add).
DATA_HOOK_KINDS = ("code", "block", "mem_read", "mem_write", "mem_fetch", "mem_read_after")
HOOK_KINDS = ("code", "block", "mem_read", "mem_write", "mem_fetch", "mem_read_after",
              "mem_read_unmapped", "mem_write_unmapped", "mem_fetch_unmapped",
              "mem_read_prot", "mem_write_prot", "mem_fetch_prot",
              "intr", "insn_invalid", "insn")
HOOK_INSNS = ("in", "out", "syscall", "sysenter", "cpuid", "rdtsc")
cdef uint64_t HOOK_TRAPS = sum(1 << PRIVOP_CLASSES.index(k) for k in HOOK_INSNS)

cdef uint32_t ACC_READ_BIT = 1 << ACC_READ, ACC_WRITE_BIT = 1 << ACC_WRITE


def _emit(sink, bytearray collected, bytes data):
    if sink is None:
        collected += data
    elif hasattr(sink, "write"):
        sink.write(data)
        if hasattr(sink, "flush"):
            sink.flush()
    else:
        sink(data)


cdef tuple _reg_lookup(name):
    try:
        return REGS[name.lower()]
    except (KeyError, AttributeError):
        raise EmuError(f"unknown register {name!r}; known: {', '.join(REGISTER_NAMES)}") from None


class Registers:
    """Attribute access to a Machine's registers: m.regs.eax, m.regs.rip = 0."""
    __slots__ = ("_m",)

    def __init__(self, machine):
        object.__setattr__(self, "_m", machine)

    def __getattr__(self, name):
        try:
            return self._m.reg_read(name)
        except EmuError as e:
            raise AttributeError(str(e)) from None

    def __setattr__(self, name, value):
        self._m.reg_write(name, value)

    def __dir__(self):
        return list(REGISTER_NAMES)

    def __repr__(self):
        names = ("rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip rflags"
                 if self._m.mode == 64 else "eax ebx ecx edx esi edi ebp esp eip eflags").split()
        return "Registers(" + ", ".join(f"{n}={self._m.reg_read(n):#x}" for n in names) + ")"


# ---- the opcode table: the core's decoder seen from Python (tests/test_opcode_table.py)

def decode_info(int mode, bytes code):
    """(length, handler name) of the instruction at the start of `code` as
    the core decodes it in `mode` (16, 32 or 64): (-1, None) when the bytes
    run out; the handler is h_ud or h_gp0 when it does not execute."""
    cdef Insn insn
    cdef uint8_t buf[16]
    if mode not in (16, 32, 64):
        raise EmuError(f"mode must be 16, 32 or 64, not {mode}")
    cdef int got = min(len(code), 15)
    memset(buf, 0, sizeof(buf))
    memcpy(buf, <const char*>code, got)
    cdef int n = decode_one(mode, &insn, buf, got) if got > 0 else -1
    if n < 0:
        return -1, None
    return n, handler_names().get(<uintptr_t>insn.fn, "?")
