# Bit instructions: BT BTS BTR BTC, BSF BSR, TZCNT LZCNT POPCNT, BSWAP.

cdef extern from *:
    """
    static inline int pv_ctz64(uint64_t v) { return __builtin_ctzll(v); }
    static inline int pv_clz64(uint64_t v) { return __builtin_clzll(v); }
    static inline int pv_popcount64(uint64_t v) { return __builtin_popcountll(v); }
    static inline uint64_t pv_bswap64(uint64_t v) { return __builtin_bswap64(v); }
    static inline uint32_t pv_bswap32(uint32_t v) { return __builtin_bswap32(v); }
    """
    int pv_ctz64(uint64_t v) nogil
    int pv_clz64(uint64_t v) nogil
    int pv_popcount64(uint64_t v) nogil
    uint64_t pv_bswap64(uint64_t v) nogil
    uint32_t pv_bswap32(uint32_t v) nogil

cdef inline int bit_op(CPU* c, Insn* i, uint32_t kind, bint imm) noexcept nogil:
    """BT (0) BTS (1) BTR (2) BTC (3).  With a register bit offset and a
    memory operand the offset is signed and may reach outside the operand:
    the word addressed is ea + (offset >> log2(bits)) * size."""
    cdef uint32_t osz = i.osz, bits = osz * 8
    cdef int64_t off
    cdef uint64_t d, la, bit, r
    if imm:
        off = <int64_t>(i.imm & (bits - 1))
    else:
        off = sext(get_r(c, i.reg, osz), bits)
    if i.mod == 3:
        d = get_r(c, i.rm, osz)
        off &= bits - 1
    else:
        if imm:
            la = mem_la(c, i)
        else:
            # The offset picks the operand-sized word: ea + (off >> log2(bits))
            # * size, wrapping at the address size like any effective address.
            la = lin_of(c, i.seg, (ea_of(c, i) + <uint64_t>((off >> (3 + (osz >> 1) - (osz >> 3))) * osz)) & i.amask)
            off &= bits - 1
        if kind == 0:
            if rd(c, la, osz, &d):
                return RC_FAULT
        elif rmw_read(c, la, osz, &d):
            return RC_FAULT
    bit = (d >> off) & 1
    materialize(c)
    c.eflags = (c.eflags & ~<uint64_t>F_CF) | bit
    if kind == 0:
        return next_insn(c, i)
    if kind == 1:
        r = d | (<uint64_t>1 << off)
    elif kind == 2:
        r = d & ~(<uint64_t>1 << off)
    else:
        r = d ^ (<uint64_t>1 << off)
    if i.mod == 3:
        set_r(c, i.rm, osz, r)
        return next_insn(c, i)
    return ok_next(c, i, wr(c, la, osz, r))

cdef int h_bt(CPU* c, Insn* i) noexcept nogil: c.cur = i; return bit_op(c, i, 0, False)
cdef int h_bts(CPU* c, Insn* i) noexcept nogil: c.cur = i; return bit_op(c, i, 1, False)
cdef int h_btr(CPU* c, Insn* i) noexcept nogil: c.cur = i; return bit_op(c, i, 2, False)
cdef int h_btc(CPU* c, Insn* i) noexcept nogil: c.cur = i; return bit_op(c, i, 3, False)
cdef int h_bt_I(CPU* c, Insn* i) noexcept nogil: c.cur = i; return bit_op(c, i, 0, True)
cdef int h_bts_I(CPU* c, Insn* i) noexcept nogil: c.cur = i; return bit_op(c, i, 1, True)
cdef int h_btr_I(CPU* c, Insn* i) noexcept nogil: c.cur = i; return bit_op(c, i, 2, True)
cdef int h_btc_I(CPU* c, Insn* i) noexcept nogil: c.cur = i; return bit_op(c, i, 3, True)

cdef int h_bsf(CPU* c, Insn* i) noexcept nogil:
    """BSF.  BSF of 0 sets ZF and leaves the destination unchanged; its
    other flags are undefined (set as for a logic result here)."""
    c.cur = i
    cdef uint64_t s
    if rm_read(c, i, i.osz, &s):
        return RC_FAULT
    if s == 0:
        set_arith(c, F_ZF)
        return next_insn(c, i)
    set_arith(c, 0)
    set_r(c, i.reg, i.osz, pv_ctz64(s))
    return next_insn(c, i)

cdef int h_tzcnt(CPU* c, Insn* i) noexcept nogil:
    """TZCNT (F3 0F BC): the operand size if the source is 0 (CF set)."""
    c.cur = i
    cdef uint64_t s
    if rm_read(c, i, i.osz, &s):
        return RC_FAULT
    set_arith(c, (F_CF if s == 0 else 0) | (F_ZF if (s & 1) else 0))
    set_r(c, i.reg, i.osz, i.osz * 8 if s == 0 else pv_ctz64(s))
    return next_insn(c, i)

cdef int h_bsr(CPU* c, Insn* i) noexcept nogil:
    """BSR: like BSF, from the top."""
    c.cur = i
    cdef uint64_t s
    if rm_read(c, i, i.osz, &s):
        return RC_FAULT
    if s == 0:
        set_arith(c, F_ZF)
        return next_insn(c, i)
    set_arith(c, 0)
    set_r(c, i.reg, i.osz, 63 - pv_clz64(s))
    return next_insn(c, i)

cdef int h_lzcnt(CPU* c, Insn* i) noexcept nogil:
    """LZCNT (F3 0F BD): the operand size if the source is 0 (CF set)."""
    c.cur = i
    cdef uint64_t s
    cdef uint32_t bits = i.osz * 8, n
    if rm_read(c, i, i.osz, &s):
        return RC_FAULT
    n = bits if s == 0 else <uint32_t>(pv_clz64(s) - (64 - bits))
    set_arith(c, (F_CF if s == 0 else 0) | (F_ZF if n == 0 else 0))
    set_r(c, i.reg, i.osz, n)
    return next_insn(c, i)

cdef int h_popcnt(CPU* c, Insn* i) noexcept nogil:
    """POPCNT (F3 0F B8; without F3 the opcode is JMPE, IA-64 only: no row)."""
    c.cur = i
    cdef uint64_t s
    if rm_read(c, i, i.osz, &s):
        return RC_FAULT
    set_arith(c, F_ZF if s == 0 else 0)
    set_r(c, i.reg, i.osz, pv_popcount64(s))
    return next_insn(c, i)

cdef int h_bswap(CPU* c, Insn* i) noexcept nogil:
    """BSWAP r (0F C8+r).  With a 16-bit operand the result is undefined;
    the register's low word becomes 0, as on Intel and AMD processors."""
    c.cur = i
    if i.osz == 8:
        c.r[i.reg] = pv_bswap64(c.r[i.reg])
    elif i.osz == 4:
        set_r(c, i.reg, 4, pv_bswap32(<uint32_t>c.r[i.reg]))
    else:
        set_r(c, i.reg, 2, 0)
    return next_insn(c, i)
