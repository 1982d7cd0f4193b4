# Two-operand arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP (the
# order of their opcode rows and of ModRM.reg in group 1), TEST, INC, DEC,
# NEG, NOT.

cdef enum:
    A_ADD = 0
    A_OR = 1
    A_ADC = 2
    A_SBB = 3
    A_AND = 4
    A_SUB = 5
    A_XOR = 6
    A_CMP = 7

cdef inline uint64_t do_alu(CPU* c, uint32_t op, uint64_t d, uint64_t s, uint32_t bits) noexcept nogil:
    """Compute `d op s` and record the flags lazily."""
    cdef uint64_t r
    if op == A_ADD:
        r = d + s
        set_lazy(c, LF_ADD, bits, d, s, r)
    elif op == A_SUB or op == A_CMP:
        r = d - s
        set_lazy(c, LF_SUB, bits, d, s, r)
    elif op == A_AND:
        r = d & s
        set_lazy(c, LF_LOGIC, bits, 0, 0, r)
    elif op == A_XOR:
        r = d ^ s
        set_lazy(c, LF_LOGIC, bits, 0, 0, r)
    elif op == A_OR:
        r = d | s
        set_lazy(c, LF_LOGIC, bits, 0, 0, r)
    elif op == A_ADC:
        r = d + s + get_cf(c)
        set_lazy(c, LF_ADD, bits, d, s, r)
    else:
        r = d - s - get_cf(c)
        set_lazy(c, LF_SUB, bits, d, s, r)
    return r

cdef inline int alu_rm(CPU* c, Insn* i, uint32_t op, uint64_t s) noexcept nogil:
    """r/m = r/m op s"""
    cdef uint64_t d, r, la
    cdef uint32_t osz = i.osz
    if i.mod == 3:
        r = do_alu(c, op, get_r(c, i.rm, osz), s, osz * 8)
        if op != A_CMP:
            set_r(c, i.rm, osz, r)
        return RC_OK
    la = mem_la(c, i)
    if op == A_CMP:
        if rd(c, la, osz, &d):
            return RC_FAULT
        do_alu(c, op, d, s, osz * 8)
        return RC_OK
    if rmw_read(c, la, osz, &d):
        return RC_FAULT
    return wr(c, la, osz, do_alu(c, op, d, s, osz * 8))

cdef inline int alu_EG(CPU* c, Insn* i, uint32_t op) noexcept nogil:
    return alu_rm(c, i, op, get_r(c, i.reg, i.osz))

cdef inline int alu_EI(CPU* c, Insn* i, uint32_t op) noexcept nogil:
    return alu_rm(c, i, op, i.imm & size_mask(i.osz))

cdef inline int alu_GE(CPU* c, Insn* i, uint32_t op) noexcept nogil:
    cdef uint64_t s, r
    if rm_read(c, i, i.osz, &s):
        return RC_FAULT
    r = do_alu(c, op, get_r(c, i.reg, i.osz), s, i.osz * 8)
    if op != A_CMP:
        set_r(c, i.reg, i.osz, r)
    return RC_OK

# One handler per (operation, form) so the C compiler specializes do_alu.
cdef int h_add_EG(CPU* c, Insn* i) noexcept nogil: return alu_EG(c, i, A_ADD)
cdef int h_or_EG(CPU* c, Insn* i) noexcept nogil: return alu_EG(c, i, A_OR)
cdef int h_adc_EG(CPU* c, Insn* i) noexcept nogil: return alu_EG(c, i, A_ADC)
cdef int h_sbb_EG(CPU* c, Insn* i) noexcept nogil: return alu_EG(c, i, A_SBB)
cdef int h_and_EG(CPU* c, Insn* i) noexcept nogil: return alu_EG(c, i, A_AND)
cdef int h_sub_EG(CPU* c, Insn* i) noexcept nogil: return alu_EG(c, i, A_SUB)
cdef int h_xor_EG(CPU* c, Insn* i) noexcept nogil: return alu_EG(c, i, A_XOR)
cdef int h_cmp_EG(CPU* c, Insn* i) noexcept nogil: return alu_EG(c, i, A_CMP)
cdef int h_add_GE(CPU* c, Insn* i) noexcept nogil: return alu_GE(c, i, A_ADD)
cdef int h_or_GE(CPU* c, Insn* i) noexcept nogil: return alu_GE(c, i, A_OR)
cdef int h_adc_GE(CPU* c, Insn* i) noexcept nogil: return alu_GE(c, i, A_ADC)
cdef int h_sbb_GE(CPU* c, Insn* i) noexcept nogil: return alu_GE(c, i, A_SBB)
cdef int h_and_GE(CPU* c, Insn* i) noexcept nogil: return alu_GE(c, i, A_AND)
cdef int h_sub_GE(CPU* c, Insn* i) noexcept nogil: return alu_GE(c, i, A_SUB)
cdef int h_xor_GE(CPU* c, Insn* i) noexcept nogil: return alu_GE(c, i, A_XOR)
cdef int h_cmp_GE(CPU* c, Insn* i) noexcept nogil: return alu_GE(c, i, A_CMP)
cdef int h_add_EI(CPU* c, Insn* i) noexcept nogil: return alu_EI(c, i, A_ADD)
cdef int h_or_EI(CPU* c, Insn* i) noexcept nogil: return alu_EI(c, i, A_OR)
cdef int h_adc_EI(CPU* c, Insn* i) noexcept nogil: return alu_EI(c, i, A_ADC)
cdef int h_sbb_EI(CPU* c, Insn* i) noexcept nogil: return alu_EI(c, i, A_SBB)
cdef int h_and_EI(CPU* c, Insn* i) noexcept nogil: return alu_EI(c, i, A_AND)
cdef int h_sub_EI(CPU* c, Insn* i) noexcept nogil: return alu_EI(c, i, A_SUB)
cdef int h_xor_EI(CPU* c, Insn* i) noexcept nogil: return alu_EI(c, i, A_XOR)
cdef int h_cmp_EI(CPU* c, Insn* i) noexcept nogil: return alu_EI(c, i, A_CMP)

cdef int h_test_EG(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t d
    if rm_read(c, i, i.osz, &d):
        return RC_FAULT
    set_lazy(c, LF_LOGIC, i.osz * 8, 0, 0, d & get_r(c, i.reg, i.osz))
    return RC_OK

cdef int h_test_EI(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t d
    if rm_read(c, i, i.osz, &d):
        return RC_FAULT
    set_lazy(c, LF_LOGIC, i.osz * 8, 0, 0, d & i.imm)
    return RC_OK

cdef inline int incdec(CPU* c, Insn* i, uint32_t op) noexcept nogil:
    """INC/DEC r/m (op LF_INC or LF_DEC); CF is preserved."""
    cdef uint64_t d, r, la
    cdef uint32_t osz = i.osz
    if i.mod == 3:
        d = get_r(c, i.rm, osz)
    else:
        la = mem_la(c, i)
        if rmw_read(c, la, osz, &d):
            return RC_FAULT
    r = d + 1 if op == LF_INC else d - 1
    c.eflags = (c.eflags & ~<uint64_t>F_CF) | get_cf(c)
    set_lazy(c, op, osz * 8, d, 1, r)
    if i.mod == 3:
        set_r(c, i.rm, osz, r)
        return RC_OK
    return wr(c, la, osz, r)

cdef int h_inc(CPU* c, Insn* i) noexcept nogil: return incdec(c, i, LF_INC)
cdef int h_dec(CPU* c, Insn* i) noexcept nogil: return incdec(c, i, LF_DEC)

cdef int h_not(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t d, la
    if i.mod == 3:
        set_r(c, i.rm, i.osz, ~get_r(c, i.rm, i.osz))
        return RC_OK
    la = mem_la(c, i)
    if rmw_read(c, la, i.osz, &d):
        return RC_FAULT
    return wr(c, la, i.osz, ~d)

cdef int h_neg(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t d, la, r
    if i.mod == 3:
        d = get_r(c, i.rm, i.osz)
    else:
        la = mem_la(c, i)
        if rmw_read(c, la, i.osz, &d):
            return RC_FAULT
    r = 0 - d
    set_lazy(c, LF_SUB, i.osz * 8, 0, d, r)
    if i.mod == 3:
        set_r(c, i.rm, i.osz, r)
        return RC_OK
    return wr(c, la, i.osz, r)
