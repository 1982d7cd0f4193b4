# Control transfer: Jcc, JMP, CALL, RET, LOOP/LOOPE/LOOPNE, JrCXZ, HLT, and
# the #UD/#GP handlers of undefined and over-long instructions.  (INT n and
# friends are in interrupts.pxi, far transfers in segments.pxi.)
# A taken branch sets R_RIP and returns RC_JUMP; a branch not taken returns
# RC_END (the run loop moves on to the next instruction).

cdef inline int jump(CPU* c, uint64_t target, uint32_t osz) noexcept nogil:
    c.r[R_RIP] = target & size_mask(osz)
    return RC_JUMP

cdef inline int jcc(CPU* c, Insn* i, uint32_t cc) noexcept nogil:
    if eval_cc(c, cc):
        return jump(c, next_ip(c, i) + i.imm, i.osz)
    return RC_END

cdef int h_jcc(CPU* c, Insn* i) noexcept nogil: return jcc(c, i, i.sub)

cdef int h_jmp_rel(CPU* c, Insn* i) noexcept nogil:
    return jump(c, next_ip(c, i) + i.imm, i.osz)

cdef int h_call_rel(CPU* c, Insn* i) noexcept nogil:
    if push(c, i.osz, next_ip(c, i)):
        return RC_FAULT
    return jump(c, next_ip(c, i) + i.imm, i.osz)

cdef int h_jmp_E(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t t
    if rm_read(c, i, i.osz, &t):
        return RC_FAULT
    return jump(c, t, i.osz)

cdef int h_call_E(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t t
    if rm_read(c, i, i.osz, &t):
        return RC_FAULT
    if push(c, i.osz, next_ip(c, i)):
        return RC_FAULT
    return jump(c, t, i.osz)

cdef int h_ret(CPU* c, Insn* i) noexcept nogil:
    """RET and RET imm16 (the immediate is 0 for C3)."""
    cdef uint64_t t
    if pop(c, i.osz, &t):
        return RC_FAULT
    set_sp(c, c.r[R_SP] + i.imm)
    return jump(c, t, i.osz)

cdef int h_loop(CPU* c, Insn* i) noexcept nogil:
    """LOOPNE (E0), LOOPE (E1), LOOP (E2): decrement the count register (of
    the address size) without touching flags, branch while it is nonzero."""
    cdef uint64_t m = i.amask
    cdef uint64_t n = (c.r[R_CX] - 1) & m
    set_areg(c, R_CX, m, n)
    if n != 0 and (i.opcode == 0xE2 or get_zf(c) == (i.opcode == 0xE1)):
        return jump(c, next_ip(c, i) + i.imm, i.osz)
    return RC_END

cdef int h_jcxz(CPU* c, Insn* i) noexcept nogil:
    if (c.r[R_CX] & i.amask) == 0:
        return jump(c, next_ip(c, i) + i.imm, i.osz)
    return RC_END

cdef int h_hlt(CPU* c, Insn* i) noexcept nogil:
    if need_cpl0(c):
        return RC_FAULT
    if pv_traps(c, i, PV_HLT):
        return pv_trap_exit(c, i, PV_HLT, 0, 0, 0)
    if (c.eflags & F_IF) and has_idt(c):
        c.halted = 1                   # wait for an interrupt (the run loop)
        c.halt_rip = c.r[R_BASE] + i.off
        return RC_END
    c.exit_reason = EXIT_HLT
    return RC_EXIT

cdef int h_ud(CPU* c, Insn* i) noexcept nogil:
    """UD2, undefined opcodes, and everything not implemented (x87, SSE,
    system instructions not yet modelled): #UD."""
    return fault(c, 6, 0, 0)

cdef int h_gp0(CPU* c, Insn* i) noexcept nogil:
    """An instruction longer than 15 bytes: #GP(0)."""
    return fault(c, 13, 1, 0)
