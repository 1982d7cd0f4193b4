# Decimal arithmetic (not in 64-bit mode): DAA DAS AAA AAS AAM AAD.  The
# flags the SDM leaves undefined are set as a logic result would (0).

cdef int h_daa(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t al = c.r[R_AX] & 0xFF, old = al, cf = get_cf(c), af = get_af(c), ncf = 0
    if (al & 0xF) > 9 or af:
        ncf = cf | (al + 6 > 0xFF)
        al = (al + 6) & 0xFF
        af = 1
    else:
        af = 0
    if old > 0x99 or cf:
        al = (al + 0x60) & 0xFF
        ncf = 1
    else:
        ncf = 0
    set_r(c, R_AX, 1, al)
    set_arith(c, szp_flags(al, 8) | ncf | (af << 4))
    return next_insn(c, i)

cdef int h_das(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t al = c.r[R_AX] & 0xFF, old = al, cf = get_cf(c), af = get_af(c), ncf = 0
    if (al & 0xF) > 9 or af:
        ncf = cf | (al < 6)
        al = (al - 6) & 0xFF
        af = 1
    else:
        af = 0
    if old > 0x99 or cf:
        al = (al - 0x60) & 0xFF
        ncf = 1
    set_r(c, R_AX, 1, al)
    set_arith(c, szp_flags(al, 8) | ncf | (af << 4))
    return next_insn(c, i)

cdef int h_aaa(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t ax = c.r[R_AX] & 0xFFFF, f = 0
    if (ax & 0xF) > 9 or get_af(c):
        ax = (ax + 0x106) & 0xFFFF
        f = F_AF | F_CF
    set_r(c, R_AX, 2, ax & 0xFF0F)
    set_arith(c, szp_flags(ax & 0x0F, 8) | f)
    return next_insn(c, i)

cdef int h_aas(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t ax = c.r[R_AX] & 0xFFFF, f = 0
    if (ax & 0xF) > 9 or get_af(c):
        ax = (ax - 6) & 0xFFFF
        ax = (ax - 0x100) & 0xFFFF
        f = F_AF | F_CF
    set_r(c, R_AX, 2, ax & 0xFF0F)
    set_arith(c, szp_flags(ax & 0x0F, 8) | f)
    return next_insn(c, i)

cdef int h_aam(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t base = i.imm & 0xFF, al = c.r[R_AX] & 0xFF
    if base == 0:
        return fault(c, EXC_DE, 0, 0)
    set_r(c, R_AX, 2, ((al // base) << 8) | (al % base))
    set_arith(c, szp_flags(al % base, 8))
    return next_insn(c, i)

cdef int h_aad(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t ax = c.r[R_AX]
    cdef uint64_t al = ((ax & 0xFF) + ((ax >> 8) & 0xFF) * (i.imm & 0xFF)) & 0xFF
    set_r(c, R_AX, 2, al)
    set_arith(c, szp_flags(al, 8))
    return next_insn(c, i)
