# MUL, IMUL (one, two and three operands), DIV, IDIV.  The 64-bit forms use
# the C compiler's 128-bit integers.

cdef extern from *:
    """
    static inline uint64_t pv_mulu64(uint64_t a, uint64_t b, uint64_t *hi) {
        unsigned __int128 p = (unsigned __int128)a * b; *hi = (uint64_t)(p >> 64); return (uint64_t)p;
    }
    static inline uint64_t pv_muls64(int64_t a, int64_t b, int64_t *hi) {
        __int128 p = (__int128)a * b; *hi = (int64_t)(p >> 64); return (uint64_t)p;
    }
    /* 128-by-64 division; returns 0 on #DE (zero divisor or quotient overflow). */
    static inline int pv_divu128(uint64_t hi, uint64_t lo, uint64_t d, uint64_t *q, uint64_t *r) {
        if (d == 0 || hi >= d) return 0;
        unsigned __int128 n = ((unsigned __int128)hi << 64) | lo;
        *q = (uint64_t)(n / d); *r = (uint64_t)(n % d); return 1;
    }
    static inline int pv_divs128(uint64_t hi, uint64_t lo, int64_t d, uint64_t *q, uint64_t *r) {
        if (d == 0) return 0;
        __int128 n = (__int128)(((unsigned __int128)hi << 64) | lo);
        if (d == -1) {                 /* avoid the C overflow of MIN / -1 */
            if (n > (__int128)INT64_MAX + 1 || n < -(__int128)INT64_MAX) return 0;
            *q = (uint64_t)(-n); *r = 0; return 1;
        }
        __int128 qq = n / d, rr = n % d;
        if (qq > INT64_MAX || qq < INT64_MIN) return 0;
        *q = (uint64_t)qq; *r = (uint64_t)rr; return 1;
    }
    """
    uint64_t pv_mulu64(uint64_t a, uint64_t b, uint64_t* hi) nogil
    uint64_t pv_muls64(int64_t a, int64_t b, int64_t* hi) nogil
    int pv_divu128(uint64_t hi, uint64_t lo, uint64_t d, uint64_t* q, uint64_t* r) nogil
    int pv_divs128(uint64_t hi, uint64_t lo, int64_t d, uint64_t* q, uint64_t* r) nogil

cdef inline void mul_flags(CPU* c, uint64_t lo, uint32_t bits, bint overflow) noexcept nogil:
    # CF = OF = overflow; SF ZF PF are undefined (set from the low half, as
    # QEMU does), AF undefined (0): recorded lazily (LF_MUL).
    set_lazy(c, LF_MUL, bits, 0, overflow, lo)

cdef inline uint64_t imul_full(uint64_t a, uint64_t b, uint32_t osz, uint64_t* hi, bint* ovf) noexcept nogil:
    """Signed a*b at width osz: the low half, the high half, and whether the
    product does not fit in the low half."""
    cdef int64_t h, p
    cdef uint32_t bits = osz * 8
    cdef uint64_t lo
    if osz == 8:
        lo = pv_muls64(<int64_t>a, <int64_t>b, &h)
        hi[0] = <uint64_t>h
        ovf[0] = h != ((<int64_t>lo) >> 63)
        return lo
    p = sext(a, bits) * sext(b, bits)
    lo = <uint64_t>p & size_mask(osz)
    hi[0] = (<uint64_t>(p >> bits)) & size_mask(osz)
    ovf[0] = p != sext(lo, bits)
    return lo

cdef int h_mul(CPU* c, Insn* i) noexcept nogil:
    """MUL r/m: rDX:rAX = rAX * r/m (AX = AL * r/m8)."""
    c.cur = i
    cdef uint64_t s, a, lo, hi, p
    cdef uint32_t osz = i.osz
    if rm_read(c, i, osz, &s):
        return RC_FAULT
    a = get_r(c, R_AX, osz)
    if osz == 1:
        p = a * s
        set_r(c, R_AX, 2, p)
        mul_flags(c, p & 0xFF, 8, (p >> 8) != 0)
        return next_insn(c, i)
    if osz == 8:
        lo = pv_mulu64(a, s, &hi)
    else:
        p = a * s
        lo = p & size_mask(osz)
        hi = p >> (osz * 8)
    set_r(c, R_AX, osz, lo)
    set_r(c, R_DX, osz, hi)
    mul_flags(c, lo, osz * 8, hi != 0)
    return next_insn(c, i)

cdef int h_imul1(CPU* c, Insn* i) noexcept nogil:
    """IMUL r/m (one operand)."""
    c.cur = i
    cdef uint64_t s, lo, hi
    cdef bint ovf
    cdef uint32_t osz = i.osz
    if rm_read(c, i, osz, &s):
        return RC_FAULT
    lo = imul_full(get_r(c, R_AX, osz), s, osz, &hi, &ovf)
    if osz == 1:
        set_r(c, R_AX, 2, (hi << 8) | lo)
    else:
        set_r(c, R_AX, osz, lo)
        set_r(c, R_DX, osz, hi)
    mul_flags(c, lo, osz * 8, ovf)
    return next_insn(c, i)

cdef inline int imul_G(CPU* c, Insn* i, bint imm, uint32_t osz, uint32_t kind,
                       handler_t slow, bint fl) noexcept nogil:
    """IMUL r, r/m (imm False) and IMUL r, r/m, imm: the template of the
    generic handlers and of their specialized variants (gen_variants.py;
    `slow` and fl as for alu_rm)."""
    cdef uint64_t s, lo, hi
    cdef bint ovf
    cdef int rc
    if is_reg(i, kind):
        s = get_r(c, i.rm, osz)
    else:
        rc = rd_or_miss(c, addr_of(c, i, kind), osz, kind, &s)
        if rc:
            return slow(c, i) if rc == RC_MISS else rc
    lo = imul_full(s, (i.imm & size_mask(osz)) if imm else get_r(c, i.reg, osz), osz, &hi, &ovf)
    set_r(c, i.reg, osz, lo)
    if fl:
        mul_flags(c, lo, osz * 8, ovf)
    return next_insn_reg(c, i) if is_reg(i, kind) else next_mem(c, i, kind)

cdef int h_imul_GE(CPU* c, Insn* i) noexcept nogil:
    """IMUL r, r/m (0F AF)."""
    c.cur = i
    return imul_G(c, i, False, i.osz, K_ANY, NULL, True)

cdef int h_imul_GEI(CPU* c, Insn* i) noexcept nogil:
    """IMUL r, r/m, imm (69, 6B)."""
    c.cur = i
    return imul_G(c, i, True, i.osz, K_ANY, NULL, True)

cdef int h_div(CPU* c, Insn* i) noexcept nogil:
    """DIV r/m: unsigned rDX:rAX / r/m; #DE on a zero divisor or overflow.
    The flags are undefined and left unchanged."""
    c.cur = i
    cdef uint64_t s, n, q, r, hi, lo
    cdef uint32_t osz = i.osz
    if rm_read(c, i, osz, &s):
        return RC_FAULT
    if s == 0:
        return fault(c, EXC_DE, 0, 0)
    if osz == 8:
        if not pv_divu128(c.r[R_DX], c.r[R_AX], s, &q, &r):
            return fault(c, EXC_DE, 0, 0)
    else:
        if osz == 1:
            n = get_r(c, R_AX, 2)
        else:
            n = (get_r(c, R_DX, osz) << (osz * 8)) | get_r(c, R_AX, osz)
        q = n // s
        r = n % s
        if q > size_mask(osz):
            return fault(c, EXC_DE, 0, 0)
    if osz == 1:
        set_r(c, R_AX, 2, (r << 8) | q)
    else:
        set_r(c, R_AX, osz, q)
        set_r(c, R_DX, osz, r)
    return next_insn(c, i)

cdef int h_idiv(CPU* c, Insn* i) noexcept nogil:
    """IDIV r/m: signed division, quotient truncated toward zero."""
    c.cur = i
    cdef uint64_t s, q, r
    cdef int64_t n, d, qq, rr
    cdef uint32_t osz = i.osz, bits = osz * 8
    if rm_read(c, i, osz, &s):
        return RC_FAULT
    if s == 0:
        return fault(c, EXC_DE, 0, 0)
    if osz == 8:
        if not pv_divs128(c.r[R_DX], c.r[R_AX], <int64_t>s, &q, &r):
            return fault(c, EXC_DE, 0, 0)
    else:
        if osz == 1:
            n = sext(get_r(c, R_AX, 2), 16)
        else:
            n = sext((get_r(c, R_DX, osz) << bits) | get_r(c, R_AX, osz), 2 * bits)
        d = sext(s, bits)
        if d == -1 and bits == 32 and n == <int64_t>0x8000000000000000ULL:
            return fault(c, EXC_DE, 0, 0)     # the quotient overflows even int64
        qq = n // d                      # C division (cdivision): truncates
        rr = n % d
        if qq > (<int64_t>1 << (bits - 1)) - 1 or qq < -(<int64_t>1 << (bits - 1)):
            return fault(c, EXC_DE, 0, 0)
        q = <uint64_t>qq
        r = <uint64_t>rr
    if osz == 1:
        set_r(c, R_AX, 2, ((r & 0xFF) << 8) | (q & 0xFF))
    else:
        set_r(c, R_AX, osz, q)
        set_r(c, R_DX, osz, r)
    return next_insn(c, i)
