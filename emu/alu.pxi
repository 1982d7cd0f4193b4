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

cdef inline uint64_t do_alu(CPU* c, uint32_t op, uint64_t d, uint64_t s, uint32_t bits,
                            bint fl) noexcept nogil:
    """Compute `d op s` and record the flags lazily (unless fl is False: a
    variant whose flags are dead, gen_variants.py's flag liveness)."""
    cdef uint64_t r
    cdef uint32_t kind
    if op == A_ADD:
        r = d + s
        kind = LF_ADD
    elif op == A_SUB or op == A_CMP:
        r = d - s
        kind = LF_SUB
    elif op == A_AND:
        r = d & s
        kind = LF_LOGIC
    elif op == A_XOR:
        r = d ^ s
        kind = LF_LOGIC
    elif op == A_OR:
        r = d | s
        kind = LF_LOGIC
    elif op == A_ADC:
        r = d + s + get_cf(c)
        kind = LF_ADD
    else:
        r = d - s - get_cf(c)
        kind = LF_SUB
    if fl:
        if kind == LF_LOGIC:
            set_lazy(c, kind, bits, 0, 0, r)
        else:
            set_lazy(c, kind, bits, d, s, r)
    return r

# Operand forms a template can be instantiated for: the r/m operand is a
# register (K_REG), memory (K_MEM), or either, decided at run time (K_ANY);
# K_MEMF and K_MEMX are memory at a flat base + displacement, and base +
# index + displacement; K_MEM32 and K_MEM32X the same with a 32-bit address
# through a segment of base 0 outside 64-bit mode (memory.pxi mem_kind).
# K_PAIR: the register form run as the first half of a fused pair, which
# does not dispatch (next_reg, dispatch.pxi).
cdef enum:
    K_ANY = 0
    K_REG = 1
    K_MEM = 2
    K_MEMF = 3
    K_MEMX = 4
    K_MEM32 = 5
    K_MEM32X = 6
    K_PAIR = 7

cdef inline bint is_reg(Insn* i, uint32_t kind) noexcept nogil:
    return kind == K_REG or kind == K_PAIR or (kind == K_ANY and i.mod == 3)

cdef void redo_dead_flags(CPU* c, Insn* i) noexcept nogil:
    """Record the flags of the instruction before i, a register ADD SUB AND
    OR XOR whose flags flag liveness dropped as i overwrites them (i.fixfl:
    0x80 | its form << 3 | its operation; gen_variants.py FIXABLE), from its
    operands: i has changed nothing yet, its result and source are intact.
    The generic handler does it, which i's memory variant hands a miss to
    (so the variants' hit paths stay as they were)."""
    cdef Insn* w = i - 1
    cdef uint32_t op = i.fixfl & 7, form = (i.fixfl >> 3) & 3, osz = w.osz
    cdef uint64_t m = size_mask(osz), r, s
    if form == FM_GE:
        r = get_r(c, w.reg, osz)
        s = get_r(c, w.rm, osz)
    else:
        r = get_r(c, w.rm, osz)
        s = (w.imm & m) if form == FM_EI else get_r(c, w.reg, osz)
    if op == A_ADD:
        set_lazy(c, LF_ADD, osz * 8, (r - s) & m, s, r)
    elif op == A_SUB:
        set_lazy(c, LF_SUB, osz * 8, (r + s) & m, s, r)
    else:
        set_lazy(c, LF_LOGIC, osz * 8, 0, 0, r)

cdef inline int alu_rm(CPU* c, Insn* i, uint32_t op, uint64_t s, uint32_t osz, uint32_t kind,
                       handler_t slow, bint fl) noexcept nogil:
    """r/m = r/m op s.  A K_MEM variant hands anything but a TLB hit to
    `slow`, its generic handler (memory.pxi, RC_MISS).  fl: record the
    flags (do_alu)."""
    cdef uint64_t d, r, la
    cdef int rc
    cdef uint32_t rm = i.rm            # (read once: the flag stores might alias i)
    if kind == K_ANY and i.fixfl:
        redo_dead_flags(c, i)          # (a memory variant's miss: its generic handler)
    if is_reg(i, kind):
        r = do_alu(c, op, get_r(c, rm, osz), s, osz * 8, fl)
        if op != A_CMP:
            set_r(c, rm, osz, r)
        return next_reg(c, i, kind)
    la = addr_of(c, i, kind)
    if op == A_CMP:
        rc = rd_or_miss(c, la, osz, kind, &d)
    else:
        rc = rmw_or_miss(c, la, osz, kind, &d)
    if rc:
        return slow(c, i) if rc == RC_MISS else rc
    r = do_alu(c, op, d, s, osz * 8, fl)
    if op != A_CMP:
        rc = wr_or_miss(c, la, osz, kind, r)    # (hits after rmw_or_miss's check)
        if rc:
            return rc
    return next_mem(c, i, kind)

cdef inline int alu_EG(CPU* c, Insn* i, uint32_t op, uint32_t osz, uint32_t kind,
                       handler_t slow, bint fl) noexcept nogil:
    return alu_rm(c, i, op, get_r(c, i.reg, osz), osz, kind, slow, fl)

cdef inline int alu_EI(CPU* c, Insn* i, uint32_t op, uint32_t osz, uint32_t kind,
                       handler_t slow, bint fl) noexcept nogil:
    return alu_rm(c, i, op, i.imm & size_mask(osz), osz, kind, slow, fl)

cdef inline int alu_GE(CPU* c, Insn* i, uint32_t op, uint32_t osz, uint32_t kind,
                       handler_t slow, bint fl) noexcept nogil:
    cdef uint64_t s, r
    cdef int rc
    cdef uint32_t reg = i.reg          # (read once: the flag stores might alias i)
    if kind == K_ANY and i.fixfl:
        redo_dead_flags(c, i)
    if is_reg(i, kind):
        s = get_r(c, i.rm, osz)
    else:
        rc = rd_or_miss(c, addr_of(c, i, kind), osz, kind, &s)
        if rc:
            return slow(c, i) if rc == RC_MISS else rc
    r = do_alu(c, op, get_r(c, reg, osz), s, osz * 8, fl)
    if op != A_CMP:
        set_r(c, reg, osz, r)
    return next_reg(c, i, kind) if is_reg(i, kind) else next_mem(c, i, kind)

# The generic handlers; variants.pxi (generated by gen_variants.py) adds
# copies specialized for 32/64-bit register and memory forms.
cdef int h_add_EG(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EG(c, i, A_ADD, i.osz, K_ANY, NULL, True)
cdef int h_or_EG(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EG(c, i, A_OR, i.osz, K_ANY, NULL, True)
cdef int h_adc_EG(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EG(c, i, A_ADC, i.osz, K_ANY, NULL, True)
cdef int h_sbb_EG(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EG(c, i, A_SBB, i.osz, K_ANY, NULL, True)
cdef int h_and_EG(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EG(c, i, A_AND, i.osz, K_ANY, NULL, True)
cdef int h_sub_EG(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EG(c, i, A_SUB, i.osz, K_ANY, NULL, True)
cdef int h_xor_EG(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EG(c, i, A_XOR, i.osz, K_ANY, NULL, True)
cdef int h_cmp_EG(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EG(c, i, A_CMP, i.osz, K_ANY, NULL, True)
cdef int h_add_GE(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_GE(c, i, A_ADD, i.osz, K_ANY, NULL, True)
cdef int h_or_GE(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_GE(c, i, A_OR, i.osz, K_ANY, NULL, True)
cdef int h_adc_GE(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_GE(c, i, A_ADC, i.osz, K_ANY, NULL, True)
cdef int h_sbb_GE(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_GE(c, i, A_SBB, i.osz, K_ANY, NULL, True)
cdef int h_and_GE(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_GE(c, i, A_AND, i.osz, K_ANY, NULL, True)
cdef int h_sub_GE(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_GE(c, i, A_SUB, i.osz, K_ANY, NULL, True)
cdef int h_xor_GE(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_GE(c, i, A_XOR, i.osz, K_ANY, NULL, True)
cdef int h_cmp_GE(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_GE(c, i, A_CMP, i.osz, K_ANY, NULL, True)
cdef int h_add_EI(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EI(c, i, A_ADD, i.osz, K_ANY, NULL, True)
cdef int h_or_EI(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EI(c, i, A_OR, i.osz, K_ANY, NULL, True)
cdef int h_adc_EI(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EI(c, i, A_ADC, i.osz, K_ANY, NULL, True)
cdef int h_sbb_EI(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EI(c, i, A_SBB, i.osz, K_ANY, NULL, True)
cdef int h_and_EI(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EI(c, i, A_AND, i.osz, K_ANY, NULL, True)
cdef int h_sub_EI(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EI(c, i, A_SUB, i.osz, K_ANY, NULL, True)
cdef int h_xor_EI(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EI(c, i, A_XOR, i.osz, K_ANY, NULL, True)
cdef int h_cmp_EI(CPU* c, Insn* i) noexcept nogil: c.cur = i; return alu_EI(c, i, A_CMP, i.osz, K_ANY, NULL, True)

cdef int h_test_EG(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t d
    if rm_read(c, i, i.osz, &d):
        return RC_FAULT
    set_lazy(c, LF_LOGIC, i.osz * 8, 0, 0, d & get_r(c, i.reg, i.osz))
    return next_insn(c, i)

cdef int h_test_EI(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t d
    if rm_read(c, i, i.osz, &d):
        return RC_FAULT
    set_lazy(c, LF_LOGIC, i.osz * 8, 0, 0, d & i.imm)
    return next_insn(c, i)

cdef enum:
    U_INC = 0
    U_DEC = 1
    U_NOT = 2
    U_NEG = 3

cdef inline int unary_op(CPU* c, Insn* i, uint32_t op, uint32_t osz, uint32_t kind,
                         handler_t slow, bint fl) noexcept nogil:
    """INC DEC NOT NEG r/m (op U_*; INC and DEC keep CF, NOT sets no flag;
    fl as for do_alu).
    The template of the generic handlers and their variants (gen_variants.py);
    a K_MEM variant hands anything but a TLB hit to `slow`, as alu_rm."""
    cdef uint64_t d, r, la
    cdef int rc
    cdef uint32_t rm = i.rm            # (read once: the flag stores might alias i)
    if is_reg(i, kind):
        d = get_r(c, rm, osz)
    else:
        la = addr_of(c, i, kind)
        rc = rmw_or_miss(c, la, osz, kind, &d)
        if rc:
            return slow(c, i) if rc == RC_MISS else rc
    if op == U_INC or op == U_DEC:
        r = d + 1 if op == U_INC else d - 1
        if fl:
            c.eflags = (c.eflags & ~<uint64_t>F_CF) | get_cf(c)
            set_lazy(c, LF_INC if op == U_INC else LF_DEC, osz * 8, d, 1, r)
    elif op == U_NOT:
        r = ~d
    else:
        r = 0 - d
        if fl:
            set_lazy(c, LF_SUB, osz * 8, 0, d, r)
    if is_reg(i, kind):
        set_r(c, rm, osz, r)
        return next_reg(c, i, kind)
    rc = wr_or_miss(c, la, osz, kind, r)      # (hits after rmw_or_miss's check)
    if rc:
        return rc
    return next_mem(c, i, kind)

cdef int h_inc(CPU* c, Insn* i) noexcept nogil: c.cur = i; return unary_op(c, i, U_INC, i.osz, K_ANY, NULL, True)
cdef int h_dec(CPU* c, Insn* i) noexcept nogil: c.cur = i; return unary_op(c, i, U_DEC, i.osz, K_ANY, NULL, True)
cdef int h_not(CPU* c, Insn* i) noexcept nogil: c.cur = i; return unary_op(c, i, U_NOT, i.osz, K_ANY, NULL, True)
cdef int h_neg(CPU* c, Insn* i) noexcept nogil: c.cur = i; return unary_op(c, i, U_NEG, i.osz, K_ANY, NULL, True)
