# Stack instructions: PUSH/POP (registers, r/m, immediates), PUSHA/POPA,
# PUSHF/POPF, ENTER, LEAVE.

cdef int h_push_r(CPU* c, Insn* i) noexcept nogil:
    return ok_next(c, i, push(c, i.osz, get_r(c, i.reg, i.osz)))

cdef int h_pop_r(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t v
    if pop(c, i.osz, &v):
        return RC_FAULT
    set_r(c, i.reg, i.osz, v)
    return next_insn(c, i)

cdef int h_push_I(CPU* c, Insn* i) noexcept nogil:
    return ok_next(c, i, push(c, i.osz, i.imm))

cdef int h_push_E(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t v
    if rm_read(c, i, i.osz, &v):
        return RC_FAULT
    return ok_next(c, i, push(c, i.osz, v))

cdef int h_pop_E(CPU* c, Insn* i) noexcept nogil:
    """POP r/m (8F /0): an rSP-based destination address is computed after
    rSP is incremented; a faulting store leaves rSP unchanged."""
    cdef uint64_t v, old = c.r[R_SP]
    if pop(c, i.osz, &v):
        return RC_FAULT
    if rm_write(c, i, i.osz, v):
        c.r[R_SP] = old
        return RC_FAULT
    return next_insn(c, i)

cdef int h_pusha(CPU* c, Insn* i) noexcept nogil:
    cdef uint32_t osz = i.osz, k
    cdef uint64_t sp = c.r[R_SP]
    if check_wr(c, stack_la(c, sp - 8 * osz), 8 * osz):
        return RC_FAULT
    for k in range(8):                  # AX CX DX BX, the original SP, BP SI DI
        wr(c, stack_la(c, sp - (k + 1) * osz), osz, sp if k == R_SP else get_r(c, k, osz))
    set_sp(c, sp - 8 * osz)
    return next_insn(c, i)

cdef int h_popa(CPU* c, Insn* i) noexcept nogil:
    """POPA: the saved rSP is skipped."""
    cdef uint32_t osz = i.osz, k
    cdef uint64_t v[8]
    for k in range(8):
        if peek(c, osz, (7 - k) * osz, &v[k]):
            return RC_FAULT
    for k in range(8):
        if k != R_SP:
            set_r(c, k, osz, v[k])
    set_sp(c, c.r[R_SP] + 8 * osz)
    return next_insn(c, i)

# EFLAGS bits POPF may change at CPL 0 (VM, RF, VIF, VIP are kept).
cdef uint64_t POPF_MASK = F_ARITH | F_TF | F_IF | F_DF | 0x3000 | 0x4000 | F_AC | F_ID

cdef int h_pushf(CPU* c, Insn* i) noexcept nogil:
    """PUSHF: pushed with VM and RF clear; IOPL-sensitive in v86 mode."""
    if (c.eflags & F_VM) and iopl(c) < 3:
        return fault(c, EXC_GP, 1, 0)
    return ok_next(c, i, push(c, i.osz, get_eflags(c) & ~<uint64_t>0x30000))

cdef int h_popf(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t v, mask = POPF_MASK & size_mask(i.osz), sp = c.r[R_SP]
    if (c.eflags & F_VM) and iopl(c) < 3:
        return fault(c, EXC_GP, 1, 0)
    if pop(c, i.osz, &v):
        return RC_FAULT
    if c.cpl > 0:                  # IOPL changes only at CPL 0, IF at CPL <= IOPL
        mask &= ~<uint64_t>F_IOPL
        if c.cpl > iopl(c):
            mask &= ~<uint64_t>F_IF
    if ((v ^ c.eflags) & mask & F_IF) and pv_traps(c, i, PV_POPF):
        c.r[R_SP] = sp                         # not retired: the supervisor decides
        return pv_trap_exit(c, i, PV_POPF, v & mask, 0, 0)
    materialize(c)
    c.eflags = (c.eflags & ~mask) | (v & mask) | 2
    c.next_event = 0       # IF or TF may have changed: look at the next block
    return RC_END

cdef int h_enter(CPU* c, Insn* i) noexcept nogil:
    """ENTER imm16, imm8 (nesting level mod 32).  Every stack write is
    checked (#SS, #PF) before the first is made."""
    cdef uint32_t osz = i.osz, level = i.imm2 & 31, k
    cdef uint32_t slots = level + 1 if level > 0 else 1
    cdef uint64_t sp = c.r[R_SP], bp = c.r[R_BP], frame, v
    if check_wr(c, stack_la(c, sp - slots * osz), slots * osz):
        return RC_FAULT
    sp -= osz
    if wr(c, stack_la(c, sp), osz, bp):
        return RC_FAULT
    frame = sp
    if level > 0:
        for k in range(1, level):
            bp -= osz
            if rd(c, stack_la(c, bp), osz, &v):
                return RC_FAULT
            sp -= osz
            if wr(c, stack_la(c, sp), osz, v):
                return RC_FAULT
        sp -= osz
        if wr(c, stack_la(c, sp), osz, frame):
            return RC_FAULT
    # rBP gets the frame pointer at the operand size (BP alone with a 66
    # prefix, as processors do), rSP moves at the stack's address size.
    set_r(c, R_BP, osz, frame)
    set_sp(c, sp - i.imm)
    return next_insn(c, i)

cdef int h_leave(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t v
    cdef uint64_t old = c.r[R_SP]
    set_sp(c, c.r[R_BP])
    if pop(c, i.osz, &v):
        c.r[R_SP] = old
        return RC_FAULT
    set_r(c, R_BP, i.osz, v)
    return next_insn(c, i)
