# Stack instructions: PUSH/POP (registers, r/m, immediates), PUSHA/POPA,
# PUSHF/POPF, ENTER, LEAVE.

# The TLB hit paths of push and pop (RC_MISS otherwise, memory.pxi), for the
# variants of PUSH, POP, CALL and RET (gen_variants.py), which hand anything
# else to their generic handler.  A 64-bit operand is only pushed in 64-bit
# mode, whose stack pointer is all 64 bits.
cdef inline uint64_t sp_mask_for(CPU* c, uint32_t osz) noexcept nogil:
    return <uint64_t>-1 if osz == 8 else sp_mask(c)

cdef inline int push_or_miss(CPU* c, uint32_t osz, uint64_t v) noexcept nogil:
    cdef uint64_t m = sp_mask_for(c, osz), sp = c.r[R_SP] - osz
    cdef uint8_t* p = tlb_host(c.tlb_w, lin_of(c, S_SS, sp & m), osz)
    if p == NULL:
        return RC_MISS
    store_le(p, osz, v)
    c.r[R_SP] = (c.r[R_SP] & ~m) | (sp & m)
    return 0

cdef inline int pop_or_miss(CPU* c, uint32_t osz, uint64_t* v) noexcept nogil:
    cdef uint64_t m = sp_mask_for(c, osz), sp = c.r[R_SP]
    cdef uint8_t* p = tlb_host(c.tlb_r, lin_of(c, S_SS, sp & m), osz)
    if p == NULL:
        return RC_MISS
    v[0] = load_le(p, osz)
    c.r[R_SP] = (sp & ~m) | ((sp + osz) & m)
    return 0

cdef int h_push_r(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    return ok_next(c, i, push(c, i.osz, get_r(c, i.reg, i.osz)))

cdef int h_pop_r(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t v
    if pop(c, i.osz, &v):
        return RC_FAULT
    set_r(c, i.reg, i.osz, v)
    return next_insn(c, i)

cdef inline int push_r(CPU* c, Insn* i, uint32_t osz) noexcept nogil:
    """PUSH r: the template of its variants."""
    if push_or_miss(c, osz, get_r(c, i.reg, osz)):
        return h_push_r(c, i)
    return next_insn_reg(c, i)

cdef inline int pop_r(CPU* c, Insn* i, uint32_t osz) noexcept nogil:
    """POP r: the template of its variants."""
    cdef uint64_t v
    if pop_or_miss(c, osz, &v):
        return h_pop_r(c, i)
    set_r(c, i.reg, osz, v)
    return next_insn_reg(c, i)

cdef int h_push_I(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    return ok_next(c, i, push(c, i.osz, i.imm))

cdef int h_push_E(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t v
    if rm_read(c, i, i.osz, &v):
        return RC_FAULT
    return ok_next(c, i, push(c, i.osz, v))

cdef int h_pop_E(CPU* c, Insn* i) noexcept nogil:
    """POP r/m (8F /0): an rSP-based destination address is computed after
    rSP is incremented; a faulting store leaves rSP unchanged."""
    c.cur = i
    cdef uint64_t v, old = c.r[R_SP]
    if pop(c, i.osz, &v):
        return RC_FAULT
    if rm_write(c, i, i.osz, v):
        c.r[R_SP] = old
        return RC_FAULT
    return next_insn(c, i)

cdef int h_pusha(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
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
    c.cur = i
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
    c.cur = i
    if (c.eflags & F_VM) and iopl(c) < 3:
        return fault(c, EXC_GP, 1, 0)
    return ok_next(c, i, push(c, i.osz, get_eflags(c) & ~<uint64_t>0x30000))

cdef int h_popf(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
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
    look_now(c)       # IF or TF may have changed: look at the next block
    return RC_END

cdef int h_enter(CPU* c, Insn* i) noexcept nogil:
    """ENTER imm16, imm8 (nesting level mod 32).  Every stack write is
    checked (#SS, #PF) before the first is made.  It ends with a write
    check of an operand at the final stack pointer (an access that stores
    nothing): a fault there comes after the pushes, with rBP and rSP as they
    were (the host CPU does so, and Bochs)."""
    c.cur = i
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
    if check_wr(c, stack_la(c, sp - i.imm), osz):
        return RC_FAULT
    # rBP gets the frame pointer at the operand size (BP alone with a 66
    # prefix, as processors do), rSP moves at the stack's address size.
    set_r(c, R_BP, osz, frame)
    set_sp(c, sp - i.imm)
    return next_insn(c, i)

cdef int h_leave(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t v
    cdef uint64_t old = c.r[R_SP]
    set_sp(c, c.r[R_BP])
    if pop(c, i.osz, &v):
        c.r[R_SP] = old
        return RC_FAULT
    set_r(c, R_BP, i.osz, v)
    return next_insn(c, i)
