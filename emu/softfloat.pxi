# Software floating point for the x87: 80-bit extended reals (F80: a 64-bit
# significand with an explicit integer bit J, a 15-bit biased exponent and a
# sign), in portable C through Cython.  Significands are widened to 128 bits
# (gcc/clang's unsigned __int128) so that every result is computed exactly
# or with a sticky bit, then rounded once (round_pack) to 24, 53 or 64 bits
# in the rounding mode of the FEnv.  The host's floating point is never used.
#
# Encodings (SDM Vol. 1 table 8-3): exponent 0 is zero or a denormal (a
# pseudo-denormal when J = 1, valued as if the exponent were 1); exponent
# 0x7FFF with J = 1 is infinity or a NaN (bit 62 set: quiet); J = 0 with a
# nonzero exponent (unnormals, pseudo-NaNs, pseudo-infinities) is an
# unsupported encoding: an invalid operand.  Tininess is detected after
# rounding, as the x87 does.  Exceptions collect in FEnv.ex; FEnv.up records
# a rounding away from zero (the x87's C1).

cdef extern from *:
    ctypedef unsigned long long u128 "unsigned __int128"
    int clz64 "__builtin_clzll"(unsigned long long x) nogil

cdef enum:
    X_IE = 0x01
    X_DE = 0x02
    X_ZE = 0x04
    X_OE = 0x08
    X_UE = 0x10
    X_PE = 0x20
    X_PRE = 0x07           # IE, DE, ZE: found before computing; unmasked, nothing is stored
    RND_NEAR = 0
    RND_DOWN = 1
    RND_UP = 2
    RND_ZERO = 3
    BIAS = 16383
    EXP_INF = 0x7FFF
    WRAP = 24576           # exponent bias adjustment of unmasked OE/UE results

cdef uint64_t J_BIT = 0x8000000000000000ULL
cdef uint64_t QNAN_BIT = 0x4000000000000000ULL
cdef uint64_t M64 = 0xFFFFFFFFFFFFFFFFULL

cdef struct FEnv:
    uint32_t rc            # rounding control (RND_*)
    uint32_t prec          # significand bits of results: 24, 53 or 64
    uint32_t masks         # exception masks (the FCW's low six bits)
    uint32_t ex            # exceptions raised (X_*)
    uint32_t up            # the last rounding went away from zero
    uint32_t den           # the memory operand was a binary32/64 denormal (DE if the operation gets that far)

# --- encodings -------------------------------------------------------------

cdef inline F80 f80(uint32_t sign, uint32_t exp, uint64_t sig) noexcept nogil:
    cdef F80 r
    r.sig = sig
    r.se = <uint16_t>((sign << 15) | exp)
    return r

cdef inline uint32_t f_exp(F80 a) noexcept nogil:
    return a.se & 0x7FFF

cdef inline uint32_t f_sign(F80 a) noexcept nogil:
    return a.se >> 15

cdef inline bint f_unsupported(F80 a) noexcept nogil:
    return (a.se & 0x7FFF) != 0 and not (a.sig >> 63)

cdef inline bint f_nan(F80 a) noexcept nogil:
    return (a.se & 0x7FFF) == EXP_INF and (a.sig >> 63) != 0 and (a.sig << 1) != 0

cdef inline bint f_snan(F80 a) noexcept nogil:
    return f_nan(a) and not (a.sig & QNAN_BIT)

cdef inline bint f_inf(F80 a) noexcept nogil:
    return (a.se & 0x7FFF) == EXP_INF and a.sig == J_BIT

cdef inline bint f_zero(F80 a) noexcept nogil:
    return (a.se & 0x7FFF) == 0 and a.sig == 0

cdef inline bint f_denormal(F80 a) noexcept nogil:
    """A denormal or pseudo-denormal (the x87's denormal operands)."""
    return (a.se & 0x7FFF) == 0 and a.sig != 0

cdef inline F80 f_indefinite() noexcept nogil:
    return f80(1, EXP_INF, 0xC000000000000000ULL)

cdef inline F80 f_inf_of(uint32_t sign) noexcept nogil:
    return f80(sign, EXP_INF, J_BIT)

cdef inline int clz128(u128 v) noexcept nogil:
    cdef uint64_t hi = <uint64_t>(v >> 64)
    if hi:
        return clz64(hi)
    return 64 + clz64(<uint64_t>v)

cdef inline u128 shr_jam(u128 v, int32_t n) noexcept nogil:
    """v >> n, with a 1 in bit 0 if any bit shifted out was set."""
    if n <= 0:
        return v
    if n >= 128:
        return v != 0
    return (v >> n) | ((v << (128 - n)) != 0)

cdef inline void f_unpack(F80 a, int32_t* e, uint64_t* sig) noexcept nogil:
    """A finite nonzero value as sig * 2**(e - BIAS - 63) with J set."""
    cdef int n = clz64(a.sig)
    e[0] = (<int32_t>f_exp(a) or 1) - n
    sig[0] = a.sig << n

cdef inline F80 quiet(F80 a) noexcept nogil:
    a.sig |= QNAN_BIT
    return a

cdef F80 nan_pick(FEnv* f, F80 a, F80 b) noexcept nogil:
    """The result of an operation on NaNs (SDM Vol. 1 table 4-7): an SNaN
    raises IE; a QNaN beats an SNaN; of two NaNs of one kind, the larger
    significand wins (then the positive one)."""
    cdef bint sa = f_snan(a), sb = f_snan(b)
    if sa or sb:
        f.ex |= X_IE
    if not f_nan(a):
        return quiet(b)
    if not f_nan(b):
        return quiet(a)
    if sa != sb:
        return quiet(b) if sa else quiet(a)
    a = quiet(a)
    b = quiet(b)
    if a.sig != b.sig:
        return a if a.sig > b.sig else b
    return a if a.se < b.se else b

cdef inline bint invalid_operands(FEnv* f, F80 a, F80 b, F80* r) noexcept nogil:
    """Unsupported encodings (IE, the indefinite) and NaNs: set *r and say so."""
    if f_unsupported(a) or f_unsupported(b):
        f.ex |= X_IE
        r[0] = f_indefinite()
        return True
    if f_nan(a) or f_nan(b):
        r[0] = nan_pick(f, a, b)
        return True
    return False

cdef inline bint denormal_operand(FEnv* f, F80 a, F80 b) noexcept nogil:
    return f.den or f_denormal(a) or f_denormal(b)

cdef inline bint both_normal(FEnv* f, F80 a, F80 b) noexcept nogil:
    """a and b are normals (J set, exponent neither 0 nor 7FFF) and no memory
    operand was a denormal: none of the special cases applies."""
    return ((<uint32_t>(a.se & 0x7FFF) - 1 < EXP_INF - 1) and (<uint32_t>(b.se & 0x7FFF) - 1 < EXP_INF - 1)
            and ((a.sig & b.sig) >> 63) != 0 and not f.den)

cdef inline bint invalid_operand(FEnv* f, F80 a, F80* r) noexcept nogil:
    return invalid_operands(f, a, a, r)

# --- rounding --------------------------------------------------------------

cdef inline u128 round_bits(FEnv* f, uint32_t sign, u128 v, uint32_t prec, uint32_t rc, bint* carry) noexcept nogil:
    """Round v to its top `prec` bits (of 128; prec is 24, 53 or 64, so the
    rounding point lies in or just below the upper half) in mode rc; PE and
    `up` as the x87 sets them.  *carry: the rounding overflowed 2**128 (v is
    then 2**127).  In 64-bit halves: the remainder is the upper half's bits
    below the unit and the whole lower half."""
    cdef uint64_t hi = <uint64_t>(v >> 64), lo = <uint64_t>v
    cdef uint64_t unit, rem, half
    cdef bint inc
    carry[0] = False
    if prec == 64:
        if lo == 0:
            return v
        unit = 1
        inc = lo > J_BIT or (lo == J_BIT and (hi & 1) != 0)    # (to nearest)
    else:
        unit = (<uint64_t>1) << (64 - prec)
        rem = hi & (unit - 1)
        if rem == 0 and lo == 0:
            return v
        half = unit >> 1
        inc = rem > half or (rem == half and (lo != 0 or (hi & unit) != 0))
        hi -= rem
    f.ex |= X_PE
    if rc == RND_DOWN:
        inc = sign != 0
    elif rc == RND_UP:
        inc = sign == 0
    elif rc == RND_ZERO:
        inc = False
    if inc:
        f.up = 1
        hi += unit
        if hi == 0:
            carry[0] = True
            hi = J_BIT
    return (<u128>hi) << 64

cdef inline bint tiny(FEnv* f, uint32_t sign, int32_t exp, u128 v, uint32_t prec) noexcept nogil:
    """Is sign * v * 2**(exp - BIAS - 127) (v normalized, exp <= 0) tiny?  The
    x87 decides after rounding, as if the exponent were unbounded: only
    exp == 0 rounding up to the smallest normal escapes."""
    cdef FEnv t = f[0]
    cdef bint carry
    if exp < 0:
        return True
    round_bits(&t, sign, v, prec, f.rc, &carry)
    return not carry

cdef F80 round_pack(FEnv* f, uint32_t sign, int32_t exp, u128 v, uint32_t prec) noexcept nogil:
    """The extended real sign * v * 2**(exp - BIAS - 127) (v normalized: bit
    127 set, or 0), rounded to prec bits with the x87's overflow and
    underflow responses (masked: infinity or the largest finite, denormals;
    unmasked: the exponent wrapped by WRAP)."""
    cdef bint carry
    cdef uint64_t s
    if v == 0:
        return f80(sign, 0, 0)
    if exp <= 0 and tiny(f, sign, exp, v, prec):
        if not (f.masks & X_UE):
            f.ex |= X_UE
            if exp + WRAP <= 0:          # too tiny even wrapped (FSCALE): zero
                f.ex |= X_PE
                return f80(sign, 0, 0)
            exp += WRAP
        else:
            v = round_bits(f, sign, shr_jam(v, 1 - exp), prec, f.rc, &carry)
            if f.ex & X_PE:
                f.ex |= X_UE
            s = <uint64_t>(v >> 64)
            return f80(sign, 1 if s >> 63 else 0, s)
    v = round_bits(f, sign, v, prec, f.rc, &carry)
    if carry:
        exp += 1
    if exp >= EXP_INF:
        if not (f.masks & X_OE):
            f.ex |= X_OE
            if exp - WRAP < EXP_INF:
                exp -= WRAP
                return f80(sign, <uint32_t>exp, <uint64_t>(v >> 64))
            f.ex |= X_PE               # too large even wrapped (FSCALE): infinity
            f.up = 1
            return f_inf_of(sign)
        else:
            f.ex |= X_OE | X_PE
            if f.rc == RND_ZERO or (f.rc == RND_DOWN and not sign) or (f.rc == RND_UP and sign):
                f.up = 0
                return f80(sign, EXP_INF - 1, M64 << (64 - prec))
            f.up = 1
            return f_inf_of(sign)
    return f80(sign, <uint32_t>exp, <uint64_t>(v >> 64))

cdef inline F80 norm_pack(FEnv* f, uint32_t sign, int32_t exp, u128 v, uint32_t prec) noexcept nogil:
    """round_pack for an unnormalized v, valued v * 2**(exp - BIAS - 127)."""
    cdef int n
    if v == 0:
        return f80(sign, 0, 0)
    n = clz128(v)
    return round_pack(f, sign, exp - n, v << n, prec)

# --- arithmetic ------------------------------------------------------------

cdef F80 f_add(FEnv* f, F80 a, F80 b, uint32_t negate_b) noexcept nogil:
    """a + b (a - b with negate_b)."""
    cdef F80 r
    cdef uint32_t sa = f_sign(a), sb = f_sign(b) ^ negate_b, ta
    cdef int32_t ea, eb, te
    cdef u128 A, B, R
    if not both_normal(f, a, b):         # (the common case skips the special ones)
        if invalid_operands(f, a, b, &r):
            return r
        if denormal_operand(f, a, b):
            f.ex |= X_DE
        if f_inf(a):
            if f_inf(b) and sa != sb:
                f.ex |= X_IE
                return f_indefinite()
            return f_inf_of(sa)
        if f_inf(b):
            return f_inf_of(sb)
        if f_zero(a) and f_zero(b):
            return f80(sa if sa == sb else f.rc == RND_DOWN, 0, 0)
    ea = <int32_t>f_exp(a) or 1
    eb = <int32_t>f_exp(b) or 1
    A = (<u128>a.sig) << 62
    B = (<u128>b.sig) << 62
    if ea < eb:
        A, B = B, A
        ta = sa
        sa = sb
        sb = ta
        te = ea
        ea = eb
        eb = te
    B = shr_jam(B, ea - eb)
    if sa == sb:
        R = A + B
    elif A >= B:
        R = A - B
    else:
        R = B - A
        sa = sb
    if R == 0:
        return f80(f.rc == RND_DOWN, 0, 0)
    return norm_pack(f, sa, ea + 2, R, f.prec)

cdef F80 f_mul(FEnv* f, F80 a, F80 b) noexcept nogil:
    cdef F80 r
    cdef uint32_t sign = f_sign(a) ^ f_sign(b)
    if not both_normal(f, a, b):
        if invalid_operands(f, a, b, &r):
            return r
        if denormal_operand(f, a, b):
            f.ex |= X_DE
        if f_inf(a) or f_inf(b):
            if f_zero(a) or f_zero(b):
                f.ex |= X_IE
                return f_indefinite()
            return f_inf_of(sign)
        if f_zero(a) or f_zero(b):
            return f80(sign, 0, 0)
    return norm_pack(f, sign, (<int32_t>f_exp(a) or 1) + (<int32_t>f_exp(b) or 1) - BIAS + 1,
                     <u128>a.sig * b.sig, f.prec)

cdef F80 f_div(FEnv* f, F80 a, F80 b) noexcept nogil:
    """a / b."""
    cdef F80 r
    cdef uint32_t sign = f_sign(a) ^ f_sign(b)
    cdef int32_t ea, eb
    cdef uint64_t sa, sb, q, q2
    cdef u128 n, d
    if not both_normal(f, a, b):
        if invalid_operands(f, a, b, &r):
            return r
        if f_zero(b) and not f_inf(a):     # (ZE comes before DE)
            if f_zero(a):
                f.ex |= X_IE
                return f_indefinite()
            f.ex |= X_ZE
            return f_inf_of(sign)
        if denormal_operand(f, a, b):
            f.ex |= X_DE
        if f_inf(a):
            if f_inf(b):
                f.ex |= X_IE
                return f_indefinite()
            return f_inf_of(sign)
        if f_inf(b):
            return f80(sign, 0, 0)
        if f_zero(a):
            return f80(sign, 0, 0)
    f_unpack(a, &ea, &sa)
    f_unpack(b, &eb, &sb)
    d = sb                             # (u128 operands: a 128-bit division)
    n = (<u128>sa) << (63 if sa >= sb else 64)
    q = <uint64_t>(n / d)
    n = (n % d) << 64
    q2 = <uint64_t>(n / d)
    if n % d:
        q2 |= 1                        # sticky
    return round_pack(f, sign, ea - eb + BIAS - (0 if sa >= sb else 1),
                      ((<u128>q) << 64) | q2, f.prec)

cdef extern from "<math.h>" nogil:
    double host_sqrt "sqrt"(double x)

cdef uint64_t isqrt128(u128 m, u128* rem) noexcept nogil:
    """floor(sqrt(m)) for m < 2**128, and m - root**2.  Integer Newton steps,
    x = (x + m // x) // 2, from any x0 >= floor(sqrt(m)) fall strictly until
    they reach floor(sqrt(m)), then stop falling: exact whatever x0 was.
    The host's square root of m as a double only makes x0 close (two or
    three steps, no bit-by-bit loop); x0 is checked to be high enough, and
    the bit-by-bit search is the fallback should it not be."""
    cdef uint64_t x, cand
    cdef u128 y
    cdef int k
    cdef double est = host_sqrt(<double><uint64_t>(m >> 64) * 18446744073709551616.0
                                + <double><uint64_t>m)
    if est >= 18446744073709549568.0:  # (the largest double below 2**64)
        x = M64
    else:
        x = <uint64_t>est + 4096       # (a double's error at 2**64 is 2**11)
        if x < <uint64_t>est:
            x = M64
    if x != M64 and <u128>(x + 1) * (x + 1) <= m:
        x = 0                          # not above the root: search bit by bit
        for k in range(63, -1, -1):
            cand = x | ((<uint64_t>1) << k)
            if <u128>cand * cand <= m:
                x = cand
    else:
        while x != 0:
            y = x                      # (u128 operands: a 128-bit division)
            y = (y + m / y) >> 1
            if y >= x:
                break
            x = <uint64_t>y
    rem[0] = m - <u128>x * x
    return x

cdef F80 f_sqrt(FEnv* f, F80 a) noexcept nogil:
    cdef F80 r
    cdef int32_t e, t, k
    cdef uint64_t sig, root, low
    cdef u128 m, rem
    if invalid_operand(f, a, &r):
        return r
    if f_zero(a):
        return a
    if f_sign(a):
        f.ex |= X_IE                   # (and no DE: IE comes first)
        return f_indefinite()
    if f_inf(a):
        return a
    if f_denormal(a):
        f.ex |= X_DE
    f_unpack(a, &e, &sig)
    t = e - BIAS - 63                  # a = sig * 2**t
    if t & 1:
        m = (<u128>sig) << 63
        k = (t - 63) // 2
    else:
        m = (<u128>sig) << 64
        k = (t - 64) // 2
    root = isqrt128(m, &rem)           # sqrt(a) = (root + frac) * 2**k
    # The fraction is never exactly 1/2: above it iff rem > root.
    low = 0 if rem == 0 else (0x8000000000000001ULL if rem > root else 1)
    return round_pack(f, 0, k + BIAS + 63, ((<u128>root) << 64) | low, f.prec)

cdef int f_compare(FEnv* f, F80 a, F80 b, bint quiet_nans) noexcept nogil:
    """-1, 0, 1 for a <, =, > b; 2 unordered.  Any NaN raises IE, only an
    SNaN with quiet_nans (FUCOM); unsupported encodings always."""
    cdef uint32_t sa, sb
    cdef int32_t ea, eb
    cdef bint less
    if f_unsupported(a) or f_unsupported(b):
        f.ex |= X_IE
        return 2
    if f_nan(a) or f_nan(b):
        if not quiet_nans or f_snan(a) or f_snan(b):
            f.ex |= X_IE
        return 2
    if denormal_operand(f, a, b):
        f.ex |= X_DE
    if f_zero(a) and f_zero(b):
        return 0
    sa = f_sign(a)
    sb = f_sign(b)
    ea = <int32_t>f_exp(a) or 1
    eb = <int32_t>f_exp(b) or 1
    if f_zero(a):
        return 1 if sb else -1
    if f_zero(b):
        return -1 if sa else 1
    if sa != sb:
        return -1 if sa else 1
    if ea == eb and a.sig == b.sig:
        return 0
    less = ea < eb or (ea == eb and a.sig < b.sig)
    return -1 if less != (sa != 0) else 1

# --- integers --------------------------------------------------------------

cdef F80 f_from_int(int64_t v) noexcept nogil:
    """An integer, exactly."""
    cdef uint32_t sign = v < 0
    cdef uint64_t m = <uint64_t>(-v) if sign else <uint64_t>v
    cdef int n
    if m == 0:
        return f80(0, 0, 0)
    n = clz64(m)
    return f80(sign, BIAS + 63 - n, m << n)

cdef u128 round_to_int(FEnv* f, uint32_t sign, int32_t e, uint64_t sig, uint32_t rc) noexcept nogil:
    """sig * 2**(e - BIAS - 63) rounded to an integer in mode rc: returned in
    the upper 64 bits (when the value is below 2**64)."""
    cdef bint carry
    cdef u128 v = shr_jam((<u128>sig) << 64, BIAS + 63 - e)
    # Round at bit 64: the unit of the integer part.
    v = round_bits(f, sign, v, 64, rc, &carry)
    return v

cdef int64_t f_to_int(FEnv* f, F80 a, uint32_t bits, uint32_t rc) noexcept nogil:
    """a as a `bits`-bit integer, rounded in mode rc (FIST, FISTTP).  Out of
    range, NaN, infinity or unsupported: IE and the integer indefinite."""
    cdef int64_t indef = <int64_t>((<uint64_t>1) << (bits - 1))
    cdef uint64_t limit
    cdef int32_t e
    cdef uint64_t sig, iv
    cdef u128 v
    cdef FEnv t
    if f_unsupported(a) or f_nan(a) or f_inf(a):
        f.ex |= X_IE
        return indef
    if f_zero(a):
        return 0                       # (a denormal source raises no DE)
    e = <int32_t>f_exp(a) or 1
    sig = a.sig
    if e > BIAS + 63:
        f.ex |= X_IE
        return indef
    t = f[0]
    v = round_to_int(&t, f_sign(a), e, sig, rc)
    limit = ((<uint64_t>1) << (bits - 1)) - (0 if f_sign(a) else 1)
    iv = <uint64_t>(v >> 64)
    if (v >> 64) > limit:
        f.ex |= X_IE
        return indef
    f.ex = t.ex
    f.up = t.up
    return -<int64_t>iv if f_sign(a) else <int64_t>iv

cdef F80 f_round_int(FEnv* f, F80 a) noexcept nogil:
    """FRNDINT: a rounded to an integer in the current rounding mode."""
    cdef F80 r
    cdef int32_t e
    cdef u128 v
    if invalid_operand(f, a, &r):
        return r
    if f_zero(a) or f_inf(a):
        return a
    if f_denormal(a):
        f.ex |= X_DE
    e = <int32_t>f_exp(a) or 1
    if e >= BIAS + 63:
        return a
    v = round_to_int(f, f_sign(a), e, a.sig, f.rc)
    if v == 0:
        return f80(f_sign(a), 0, 0)
    return norm_pack(f, f_sign(a), BIAS + 127, v >> 64, 64)

# --- binary32 and binary64 -------------------------------------------------

cdef F80 f_from_bin(FEnv* f, uint64_t v, uint32_t mbits, uint32_t ebits, bint quiet_snan) noexcept nogil:
    """A binary32 (mbits 23, ebits 8) or binary64 (52, 11) value, exactly.
    With quiet_snan (loads) a denormal raises DE and an SNaN IE (quieted);
    else (an operand) both are left for the operation: the SNaN as it is,
    the denormal noted in f.den."""
    cdef uint32_t sign = <uint32_t>(v >> (mbits + ebits)) & 1
    cdef uint32_t emax = (1 << ebits) - 1, bias = (1 << (ebits - 1)) - 1
    cdef uint32_t e = <uint32_t>(v >> mbits) & emax
    cdef uint64_t m = v & (((<uint64_t>1) << mbits) - 1)
    cdef int n
    cdef F80 r
    if e == emax:
        if m == 0:
            return f_inf_of(sign)
        r = f80(sign, EXP_INF, J_BIT | (m << (63 - mbits)))
        if quiet_snan and f_snan(r):
            f.ex |= X_IE
            r = quiet(r)
        return r
    if e == 0:
        if m == 0:
            return f80(sign, 0, 0)
        if quiet_snan:
            f.ex |= X_DE
        else:
            f.den = 1
        n = clz64(m)
        return f80(sign, <uint32_t>(BIAS - bias + 1 - mbits + 63 - n), m << n)
    return f80(sign, e - bias + BIAS, J_BIT | (m << (63 - mbits)))

cdef uint64_t f_to_bin(FEnv* f, F80 a, uint32_t mbits, uint32_t ebits) noexcept nogil:
    """a rounded to binary32/binary64 (FST m32fp/m64fp).  Unmasked OE or UE:
    the flag only (the caller stores nothing)."""
    cdef uint32_t sign = f_sign(a)
    cdef uint64_t sbit = (<uint64_t>sign) << (mbits + ebits)
    cdef uint32_t emax = (1 << ebits) - 1, bias = (1 << (ebits - 1)) - 1
    cdef uint64_t mmask = ((<uint64_t>1) << mbits) - 1
    cdef uint64_t qnan = ((<uint64_t>emax) << mbits) | ((<uint64_t>1) << (mbits - 1))
    cdef int32_t e, te
    cdef uint64_t sig, m
    cdef u128 v
    cdef bint carry
    if not (a.sig >> 63) or f_exp(a) == 0 or f_exp(a) == EXP_INF:   # (normals skip these)
        if f_unsupported(a):
            f.ex |= X_IE
            return ((<uint64_t>1) << (mbits + ebits)) | qnan
        if f_nan(a):
            if f_snan(a):
                f.ex |= X_IE
            return sbit | qnan | ((a.sig << 1) >> (64 - mbits))
        if f_inf(a):
            return sbit | ((<uint64_t>emax) << mbits)
        if f_zero(a):
            return sbit                # (a denormal source raises no DE)
    f_unpack(a, &e, &sig)
    te = e - BIAS + <int32_t>bias
    v = (<u128>sig) << 64
    if te <= 0 and tiny(f, sign, te, v, mbits + 1):
        if not (f.masks & X_UE):
            f.ex |= X_UE
            return 0
        v = round_bits(f, sign, shr_jam(v, 1 - te), mbits + 1, f.rc, &carry)
        if f.ex & X_PE:
            f.ex |= X_UE
        m = <uint64_t>(v >> (127 - mbits))      # J lands in the exponent's bit 0
        return sbit | m
    v = round_bits(f, sign, v, mbits + 1, f.rc, &carry)
    if carry:
        te += 1
    if te >= <int32_t>emax:
        if not (f.masks & X_OE):
            f.ex |= X_OE
            return 0
        f.ex |= X_OE | X_PE
        if f.rc == RND_ZERO or (f.rc == RND_DOWN and not sign) or (f.rc == RND_UP and sign):
            f.up = 0
            return sbit | (((<uint64_t>emax - 1) << mbits) | mmask)
        f.up = 1
        return sbit | ((<uint64_t>emax) << mbits)
    m = <uint64_t>(v >> (127 - mbits)) & mmask
    return sbit | ((<uint64_t>te) << mbits) | m

# --- FPREM, FPREM1, FSCALE, FXTRACT ---------------------------------------

cdef F80 f_rem(FEnv* f, F80 a, F80 b, bint nearest, uint64_t* quot, bint* partial) noexcept nogil:
    """The partial remainder of a / b (FPREM: quotient chopped; FPREM1,
    `nearest`: rounded to nearest even).  When the exponents differ by 64 or
    more, only a partial reduction (by 32 to 63 bits, as Intel's) is done and
    *partial is set.  *quot: the low quotient bits.  Exact."""
    cdef F80 r
    cdef int32_t ea, eb, d, n
    cdef uint64_t sa, sb, q
    cdef uint32_t sign = f_sign(a)
    cdef u128 A, B, R
    quot[0] = 0
    partial[0] = False
    if invalid_operands(f, a, b, &r):
        return r
    if f_inf(a) or f_zero(b):
        f.ex |= X_IE                   # (and no DE: IE comes first)
        return f_indefinite()
    if denormal_operand(f, a, b):
        f.ex |= X_DE
    if f_zero(a):
        return a
    f_unpack(a, &ea, &sa)
    if f_inf(b):                       # a, normalized as if it were rounded
        return norm_pack(f, sign, ea + 64, sa, 64)
    f_unpack(b, &eb, &sb)
    d = ea - eb
    if d >= 64:
        n = (d & 31) | 32
        A = (<u128>sa) << n
        R = A % sb
        partial[0] = True
        return norm_pack(f, sign, ea - n + 64, R, 64)
    if d < -1 or (d == -1 and not nearest):
        return norm_pack(f, sign, ea + 64, sa, 64)
    # Both scaled by 2 so that d = -1 fits: A / B with B = 2 * sb.
    A = (<u128>sa) << (d + 1)
    B = (<u128>sb) << 1
    q = <uint64_t>(A / B)
    R = A % B
    if nearest and (2 * R > B or (2 * R == B and (q & 1))):
        R = B - R
        q += 1
        sign ^= 1
    quot[0] = q
    if R == 0:
        return f80(sign, 0, 0)
    return norm_pack(f, sign, eb - 1 + 64, R, 64)

cdef F80 f_scale(FEnv* f, F80 a, F80 b) noexcept nogil:
    """FSCALE: a * 2**trunc(b)."""
    cdef F80 r
    cdef int32_t e, n
    cdef uint64_t sig
    cdef FEnv t
    cdef u128 v
    if invalid_operands(f, a, b, &r):
        return r
    if denormal_operand(f, a, b):
        f.ex |= X_DE
    if f_inf(b):
        if f_sign(b):
            if f_inf(a):
                f.ex |= X_IE
                return f_indefinite()
            return f80(f_sign(a), 0, 0) if not f_zero(a) else a
        if f_zero(a):
            f.ex |= X_IE
            return f_indefinite()
        return f_inf_of(f_sign(a)) if not f_inf(a) else a
    if f_zero(a) or f_inf(a):
        return a
    e = <int32_t>f_exp(b) or 1
    if f_zero(b) or e < BIAS:
        n = 0
    elif e >= BIAS + 16:
        n = 70000
    else:
        t = f[0]
        v = shr_jam((<u128>b.sig) << 64, BIAS + 63 - e)
        n = <int32_t>(v >> 64)
    if f_sign(b):
        n = -n
    f_unpack(a, &e, &sig)
    return round_pack(f, f_sign(a), e + n, (<u128>sig) << 64, 64)

cdef F80 f_exponent(FEnv* f, F80 a, F80* sig) noexcept nogil:
    """FXTRACT: a's unbiased exponent as a real; its significand (with the
    exponent 0) in *sig."""
    cdef F80 r
    cdef int32_t e
    cdef uint64_t s
    if invalid_operand(f, a, &r):
        sig[0] = r
        return r
    if f_zero(a):
        f.ex |= X_ZE
        sig[0] = a
        return f_inf_of(1)
    if f_inf(a):
        sig[0] = a
        return f_inf_of(0)
    if f_denormal(a):
        f.ex |= X_DE
    f_unpack(a, &e, &s)
    sig[0] = f80(f_sign(a), BIAS, s)
    return f_from_int(e - BIAS)
