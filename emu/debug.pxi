# Debug registers (Intel SDM vol. 3 ch. 17): DR0-DR3 hold linear addresses,
# DR7 enables them (L0-L3, G0-G3) and says what each watches (R/W: 00
# instruction fetch, 01 data writes, 11 data reads and writes; LEN: 1, 2, 8
# or 4 bytes), DR6 reports which fired (B0-B3) and single steps (BS).
#
# None of this costs anything while DR7 enables nothing: dr_exec and dr_data
# are zero, the run loop's block path is unchanged and TLB fills are as
# before.  While a breakpoint is armed the run loop takes its slow path at
# every block (next_event = 0): there it consumes RF, raises #DB as a fault
# for an instruction breakpoint at the block's first instruction, and cuts
# the block before any other instruction that has one.  Pages holding a
# watched address stay out of the software TLB, so every access to them
# takes the slow path (rd_slow / wr_slow), which notes a hit in dr_hit and
# ends the block after the instruction; the run loop then raises the #DB
# trap with rip after it.  I/O breakpoints (R/W = 10, with CR4.DE) are
# checked by every port access (io_allowed) and trap the same way.  With
# DR7.GD set, any MOV with a debug register is a #DB fault (DR6.BD).  A task
# switch into a task whose TSS has the T flag leaves a #DB trap pending
# (DR6.BT), as SYSRET setting TF does (DR6.BS): it is taken before the next
# instruction (pending_debug_trap).

cdef uint64_t DR6_FIXED = 0xFFFF0FF0ULL   # DR6 bits that read as 1
cdef enum:
    DR7_FIXED = 0x400
    DR6_BS = 0x4000
    DR6_BD = 0x2000
    DR6_BT = 0x8000
    DR7_GD = 0x2000
    DR7_LOCAL = 0x55                      # L0-L3: cleared by a task switch

cdef inline uint32_t dr_rw(CPU* c, uint32_t k) noexcept nogil:
    return <uint32_t>(c.dr[7] >> (16 + 4 * k)) & 3

cdef inline uint64_t dr_len(CPU* c, uint32_t k) noexcept nogil:
    """LEN: 00 one byte, 01 two, 11 four, 10 eight."""
    cdef uint32_t n = <uint32_t>(c.dr[7] >> (18 + 4 * k)) & 3
    return 1 if n == 0 else (2 if n == 1 else (8 if n == 2 else 4))

cdef void dr_update(CPU* c) noexcept nogil:
    """Recompute which breakpoints are armed after DR0-DR3 or DR7 changed."""
    cdef uint32_t k, rw, ex = 0, data = 0, io = 0
    for k in range(4):
        if (c.dr[7] >> (2 * k)) & 3:
            rw = dr_rw(c, k)
            if rw == 0:
                ex |= 1u << k
            elif rw != 2:
                data |= 1u << k
            elif c.cr4 & 0x8:                 # CR4.DE: R/W = 10 watches ports
                io |= 1u << k
    if data or c.dr_data:
        tlb_flush(c)                      # watched pages leave (or may return to) the TLB
    c.dr_exec = ex
    c.dr_data = data
    c.dr_io = io
    if ex or data or io:
        look_now(c)                  # the run loop's slow path looks after them

cdef bint dbp_page(CPU* c, uint64_t page, bint write) noexcept nogil:
    """Does an armed data breakpoint (of the kind that `write` can hit) lie
    in linear page `page`?"""
    cdef uint32_t k
    for k in range(4):
        if not ((c.dr_data >> k) & 1) or (not write and dr_rw(c, k) != 3):
            continue
        if (c.dr[k] & c.lamask) >> 12 == page:
            return True
    return False

cdef void dbp_access(CPU* c, uint64_t la, uint32_t size, bint write) noexcept nogil:
    """An access through the slow path while data breakpoints are armed:
    note the breakpoints it hits and keep watched pages out of the TLB."""
    cdef uint32_t k
    cdef uint64_t a, n, last = (la + size - 1) & c.lamask
    for k in range(4):
        if not ((c.dr_data >> k) & 1) or (not write and dr_rw(c, k) != 3):
            continue
        n = dr_len(c, k)
        a = c.dr[k] & c.lamask & ~(n - 1)
        if la < a + n and a <= last:
            c.dr_hit |= 1u << k
            c.block_abort = 1             # the trap comes after this instruction
    for k in range(2):
        a = la if k == 0 else last
        if dbp_page(c, a >> 12, write):
            if write:
                c.tlb_w[(a >> 12) & 255].tag = TLB_EMPTY
            else:
                c.tlb_r[(a >> 12) & 255].tag = TLB_EMPTY

cdef void io_breakpoint(CPU* c, uint32_t port, uint32_t size) noexcept nogil:
    """A port access while I/O breakpoints are armed: note those it hits
    (the trap comes after the instruction, as for data breakpoints)."""
    cdef uint32_t k
    cdef uint64_t a, n
    for k in range(4):
        if (c.dr_io >> k) & 1:
            n = dr_len(c, k)
            a = c.dr[k] & 0xFFFF & ~(n - 1)
            if port < a + n and a < port + size:
                c.dr_hit |= 1u << k
                c.block_abort = 1

cdef int pending_debug_trap(CPU* c, uint64_t rip) noexcept nogil:
    """The #DB trap an instruction left pending (SYSRET setting TF, a task
    switch into a task with the T flag), before the next instruction."""
    c.dr[6] |= c.dr6_pending
    c.dr6_pending = 0
    if not has_idt(c):
        c.exc_vector = EXC_DB
        c.exc_has_error = 0
        c.exit_rip = rip
        return EXIT_EXCEPTION
    return deliver(c, EXC_DB, 0, 0, INT_EXCEPTION, rip)

cdef int exec_bp(CPU* c, uint64_t rip, Block* b, uint32_t* n, bint rf) noexcept nogil:
    """The instruction breakpoints of a block about to run at rip: #DB (a
    fault, DR6.Bk) for one at its first instruction unless RF is set, else
    cut the block before the first instruction that has one."""
    cdef uint64_t la0 = (c.segbase[S_CS] + rip) & c.lamask, rel
    cdef uint32_t k, hit = 0
    for k in range(4):
        if (c.dr_exec >> k) & 1:
            rel = (c.dr[k] - la0) & c.lamask
            if rel == 0:
                hit |= 1u << k
            else:
                n[0] = entry_at(b, rel, c.lamask, n[0])
    if hit and not rf:
        c.dr[6] = (c.dr[6] & ~<uint64_t>0xF) | hit
        return fault(c, EXC_DB, 0, 0)
    return 0

cdef int debug_trap(CPU* c, bint single_step, uint64_t rip) noexcept nogil:
    """After a block: the #DB trap for data breakpoints it hit and for a
    single step (TF).  0, or an EXIT_ code."""
    cdef uint32_t hit = c.dr_hit
    c.dr_hit = 0
    if not hit and not single_step:
        return 0
    if hit:
        c.dr[6] = (c.dr[6] & ~<uint64_t>0xF) | hit
        if c.dr_host:                     # a debugger's watchpoint: stop after the access
            c.exit_rip = c.r[R_RIP]
            return EXIT_DEBUG
    if single_step:
        c.dr[6] |= DR6_BS
    if not has_idt(c):
        c.exc_vector = EXC_DB
        c.exc_has_error = 0
        c.exit_rip = rip if not hit else c.r[R_RIP]
        return EXIT_EXCEPTION
    return deliver(c, EXC_DB, 0, 0, INT_EXCEPTION, c.r[R_RIP])

cdef int h_mov_dr(CPU* c, Insn* i) noexcept nogil:
    """MOV to/from DR0-DR7.  DR4/DR5 alias DR6/DR7 unless CR4.DE (#UD).
    Writes to DR0-DR3 and DR7 re-arm the breakpoints; the block ends."""
    c.cur = i
    cdef uint32_t n = i.reg & 7, size = 8 if c.mode == 64 else 4
    cdef uint64_t v
    if need_cpl0(c):
        return RC_FAULT
    if (n == 4 or n == 5):
        if c.cr4 & 0x8:
            return fault(c, EXC_UD, 0, 0)
        n += 2
    if c.dr[7] & DR7_GD:                       # general detect: the handler runs with GD clear
        c.dr[6] |= DR6_BD
        c.dr[7] &= ~<uint64_t>DR7_GD
        return fault(c, EXC_DB, 0, 0)
    if i.opcode == 0x121:
        set_r(c, i.rm, size, c.dr[n])
        return next_insn(c, i)
    v = get_r(c, i.rm, size)
    if n == 6:
        c.dr[6] = (v & 0xFFFFFFFFULL) | DR6_FIXED
    elif n == 7:
        if v >> 32:
            return fault(c, EXC_GP, 1, 0)
        c.dr[7] = (v & 0xFFFF23FFULL) | DR7_FIXED
    else:
        c.dr[n] = v
    dr_update(c)
    return RC_END
