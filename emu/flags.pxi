# Lazy flags (as Bochs' lazy_flags.h and QEMU's cc_op): an arithmetic
# instruction records its kind, width, operands and result; the six
# arithmetic flags are computed only when something reads them.


cdef enum:
    F_CF = 0x0001
    F_PF = 0x0004
    F_AF = 0x0010
    F_ZF = 0x0040
    F_SF = 0x0080
    F_TF = 0x0100
    F_IF = 0x0200
    F_DF = 0x0400
    F_OF = 0x0800
    F_ARITH = 0x08D5
    F_AC = 0x40000
    F_ID = 0x200000

cdef enum:
    LF_NONE = 0    # eflags holds the arithmetic flags
    LF_ADD = 1     # res = dst + src (+ carry-in for ADC)
    LF_SUB = 2     # res = dst - src (- borrow-in for SBB); NEG is 0 - src
    LF_LOGIC = 3   # CF = OF = 0, AF = 0
    LF_INC = 4     # CF kept in eflags
    LF_DEC = 5
    LF_SHL = 6     # src = count (1..63)
    LF_SHR = 7
    LF_SAR = 8
    LF_MUL = 9     # MUL/IMUL: src = CF = OF (the product overflowed); SF ZF PF from res, AF 0
    # Or'ed into another kind by a rotate (ROL/ROR/RCL/RCR), which sets CF
    # and OF only: those two are in eflags, the other four as the kind says.
    # So a rotate costs no materialization of the flags before it.
    LF_CFOF = 16

cdef uint8_t PARITY[256]

cdef void init_parity() noexcept nogil:
    cdef int v, b, n
    for v in range(256):
        n = 0
        for b in range(8):
            n += (v >> b) & 1
        PARITY[v] = F_PF if (n & 1) == 0 else 0

cdef inline uint64_t width_mask(uint32_t bits) noexcept nogil:
    return <uint64_t>-1 if bits == 64 else ((<uint64_t>1 << bits) - 1)

cdef inline uint64_t sign_of(uint64_t v, uint32_t bits) noexcept nogil:
    return (v >> (bits - 1)) & 1

cdef inline int64_t sext(uint64_t v, uint32_t bits) noexcept nogil:
    """Sign-extend the low `bits` of v."""
    if bits == 64:
        return <int64_t>v
    cdef uint32_t s = 64 - bits
    return (<int64_t>(v << s)) >> s

cdef inline void set_lazy(CPU* c, uint32_t op, uint32_t bits, uint64_t dst,
                          uint64_t src, uint64_t res) noexcept nogil:
    c.lf_op = op
    c.lf_bits = bits
    if op != LF_LOGIC:             # (no flag of LF_LOGIC reads them: two stores saved)
        c.lf_dst = dst
        c.lf_src = src
    c.lf_res = res

cdef inline uint64_t get_cf(CPU* c) noexcept nogil:
    cdef uint32_t op = c.lf_op, bits = c.lf_bits
    cdef uint64_t d = c.lf_dst, s = c.lf_src, r = c.lf_res
    if op == LF_SUB:
        return sign_of((~d & s) | (~(d ^ s) & r), bits)
    if op == LF_ADD:
        return sign_of((d & s) | ((d | s) & ~r), bits)
    if op == LF_LOGIC:
        return 0
    if op == LF_SHL:
        if s > bits:
            return 0
        return (d >> (bits - s)) & 1
    if op == LF_SHR:
        if s > bits:
            return 0
        return (d >> (s - 1)) & 1
    if op == LF_SAR:
        if s >= bits:
            return sign_of(d, bits)
        return (<uint64_t>(sext(d, bits) >> (s - 1))) & 1
    if op == LF_MUL:
        return s
    return c.eflags & F_CF   # LF_NONE, LF_INC, LF_DEC, LF_CFOF

cdef inline uint64_t get_zf(CPU* c) noexcept nogil:
    if c.lf_op == LF_NONE:
        return (c.eflags >> 6) & 1
    return (c.lf_res & width_mask(c.lf_bits)) == 0

cdef inline uint64_t get_sf(CPU* c) noexcept nogil:
    if c.lf_op == LF_NONE:
        return (c.eflags >> 7) & 1
    return sign_of(c.lf_res, c.lf_bits)

cdef inline uint64_t get_pf(CPU* c) noexcept nogil:
    if c.lf_op == LF_NONE:
        return (c.eflags >> 2) & 1
    return PARITY[c.lf_res & 0xFF] >> 2

cdef inline uint64_t get_af(CPU* c) noexcept nogil:
    cdef uint32_t op = c.lf_op & ~<uint32_t>LF_CFOF
    if op == LF_NONE:
        return (c.eflags >> 4) & 1
    if op == LF_ADD or op == LF_SUB or op == LF_INC or op == LF_DEC:
        return ((c.lf_dst ^ c.lf_src ^ c.lf_res) >> 4) & 1
    return 0

cdef inline uint64_t get_of(CPU* c) noexcept nogil:
    cdef uint32_t op = c.lf_op, bits = c.lf_bits
    cdef uint64_t d = c.lf_dst, s = c.lf_src, r = c.lf_res
    if op == LF_SUB or op == LF_DEC:
        return sign_of((d ^ s) & (d ^ r), bits)
    if op == LF_ADD or op == LF_INC:
        return sign_of((d ^ r) & (s ^ r), bits)
    if op == LF_SHL:
        return sign_of(r, bits) ^ get_cf(c)
    if op == LF_SHR:
        return sign_of(d, bits)
    if op == LF_MUL:
        return s
    if op == LF_NONE or (op & LF_CFOF):
        return (c.eflags >> 11) & 1
    return 0   # LF_LOGIC, LF_SAR

cdef inline uint64_t get_eflags(CPU* c) noexcept nogil:
    """The architectural EFLAGS, materializing the lazy arithmetic flags."""
    if c.lf_op == LF_NONE:
        return c.eflags
    return ((c.eflags & ~<uint64_t>F_ARITH) | get_cf(c) | (get_pf(c) << 2) |
            (get_af(c) << 4) | (get_zf(c) << 6) | (get_sf(c) << 7) | (get_of(c) << 11))

cdef inline void materialize(CPU* c) noexcept nogil:
    c.eflags = get_eflags(c)
    c.lf_op = LF_NONE

cdef inline void set_arith(CPU* c, uint64_t flags) noexcept nogil:
    """Set the six arithmetic flags eagerly (for rarely used instructions)."""
    materialize(c)
    c.eflags = (c.eflags & ~<uint64_t>F_ARITH) | (flags & F_ARITH)

cdef inline uint64_t szp_flags(uint64_t res, uint32_t bits) noexcept nogil:
    cdef uint64_t f = PARITY[res & 0xFF]
    if (res & width_mask(bits)) == 0:
        f |= F_ZF
    if sign_of(res, bits):
        f |= F_SF
    return f

cdef inline bint eval_cc(CPU* c, uint32_t cc) noexcept nogil:
    """Condition code cc (0 O, 1 NO, 2 B, 3 AE, 4 E, 5 NE, 6 BE, 7 A, 8 S,
    9 NS, A P, B NP, C L, D GE, E LE, F G)."""
    cdef uint32_t bits = c.lf_bits
    cdef uint64_t m, d, s
    cdef bint r
    # ZF and SF come from the result for every lazy kind (after a shift,
    # INC/DEC, a logic op as after CMP), and no call: a Jcc's handler then
    # needs no stack frame.
    if cc == 4 or cc == 5:
        return get_zf(c) ^ (cc & 1)
    if cc == 8 or cc == 9:
        return get_sf(c) ^ (cc & 1)
    if c.lf_op == LF_SUB:
        # Fast paths for CMP/SUB: compare the operands directly.  They hold
        # for SBB too only when no borrow came in, so SBB results use LF_SUB
        # with res != dst - src and fall to the general path below.
        m = width_mask(bits)
        d = c.lf_dst & m
        s = c.lf_src & m
        if ((d - s) & m) == (c.lf_res & m):
            if cc == 2 or cc == 3:
                r = d < s
            elif cc == 6 or cc == 7:
                r = d <= s
            elif cc == 12 or cc == 13:
                r = sext(d, bits) < sext(s, bits)
            elif cc == 14 or cc == 15:
                r = sext(d, bits) <= sext(s, bits)
            else:
                r = cc_generic(c, cc & 14)
            return r ^ (cc & 1)
    return cc_generic(c, cc & 14) ^ (cc & 1)

cdef bint cc_generic(CPU* c, uint32_t cc) noexcept nogil:
    if cc == 0:
        return get_of(c)
    if cc == 2:
        return get_cf(c)
    if cc == 4:
        return get_zf(c)
    if cc == 6:
        return get_cf(c) | get_zf(c)
    if cc == 8:
        return get_sf(c)
    if cc == 10:
        return get_pf(c)
    if cc == 12:
        return get_sf(c) ^ get_of(c)
    return (get_sf(c) ^ get_of(c)) | get_zf(c)
