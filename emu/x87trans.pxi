# The x87 transcendentals: FSIN FCOS FSINCOS FPTAN FPATAN F2XM1 FYL2X
# FYL2XP1.  They are evaluated in a wide software format (W: a 128-bit
# significand, so about 120 good bits after the series) and rounded once to
# 64 bits in the current rounding mode (precision control does not apply).
# Arguments of the trigonometric functions are reduced modulo pi/2 exactly,
# by the same 66-bit approximation of pi the x87 uses, so results track the
# hardware's even near multiples of pi.  The measured distance to the host
# CPU's results is in README ("Floating point: the x87").

cdef struct W:
    uint32_t sign
    int32_t exp             # value = m * 2**(exp - 127); m == 0 is zero
    u128 m                  # normalized: bit 127 set unless zero

cdef inline W w_make(uint32_t sign, int32_t exp, u128 m) noexcept nogil:
    cdef W r
    cdef int n
    r.sign = sign
    if m == 0:
        r.exp = 0
        r.m = 0
        return r
    n = clz128(m)
    r.exp = exp - n
    r.m = m << n
    return r

cdef inline W w_of(F80 a) noexcept nogil:
    """A finite extended real, exactly."""
    return w_make(f_sign(a), (<int32_t>f_exp(a) or 1) - BIAS, (<u128>a.sig) << 64)

cdef inline W w_int(int64_t v) noexcept nogil:
    cdef uint64_t m = <uint64_t>(-v) if v < 0 else <uint64_t>v
    return w_make(v < 0, 127, m)

cdef inline F80 w_round(FEnv* f, W a) noexcept nogil:
    return round_pack(f, a.sign, a.exp + BIAS, a.m, 64)

cdef inline W w_neg(W a) noexcept nogil:
    a.sign ^= 1
    return a

cdef W w_mul(W a, W b) noexcept nogil:
    cdef uint64_t a1 = <uint64_t>(a.m >> 64), a0 = <uint64_t>a.m
    cdef uint64_t b1 = <uint64_t>(b.m >> 64), b0 = <uint64_t>b.m
    cdef u128 m1 = <u128>a1 * b0, m2 = <u128>a0 * b1, m0 = <u128>a0 * b0
    cdef u128 mid = (m1 & M64) + (m2 & M64) + (m0 >> 64)
    cdef u128 hi = <u128>a1 * b1 + (m1 >> 64) + (m2 >> 64) + (mid >> 64)
    if a.m == 0 or b.m == 0:
        return w_make(0, 0, 0)
    if (mid & M64) or (m0 & M64):
        hi |= 1                         # sticky: the product is inexact
    return w_make(a.sign ^ b.sign, a.exp + b.exp + 1, hi)

cdef W w_add(W a, W b) noexcept nogil:
    cdef W t
    cdef int32_t d
    cdef u128 bm
    if b.m == 0:
        return a
    if a.m == 0:
        return b
    if a.exp < b.exp or (a.exp == b.exp and a.m < b.m):
        t = a
        a = b
        b = t
    d = a.exp - b.exp
    bm = shr_jam(b.m, d)
    if a.sign == b.sign:
        return w_make(a.sign, a.exp + 1, (a.m >> 1) + (bm >> 1) + (a.m & bm & 1) | ((a.m | bm) & 1))
    return w_make(a.sign, a.exp, a.m - bm)

cdef inline W w_sub(W a, W b) noexcept nogil:
    return w_add(a, w_neg(b))

cdef W w_div(W a, W b) noexcept nogil:
    """a / b (b nonzero), by long division."""
    cdef u128 r = a.m, q = 0
    cdef bint carry = False
    cdef int k
    if a.m == 0:
        return a
    for k in range(128):
        q <<= 1
        if carry or r >= b.m:
            r -= b.m
            q |= 1
        carry = (r >> 127) != 0
        r <<= 1
    if r or carry:
        q |= 1                          # sticky
    return w_make(a.sign ^ b.sign, a.exp - b.exp, q)

cdef W W_ONE, W_PI, W_PI2, W_PI4, W_LOG2E, W_LN2
# Significands (128 bits, C has no literals that wide): tan(pi/8) and sqrt(2).
cdef u128 M_TAN_PI8 = ((<u128>0xD413CCCFE7799211ULL) << 64) | 0x65F626CDD52AFA7CULL
cdef u128 M_SQRT2 = ((<u128>0xB504F333F9DE6484ULL) << 64) | 0x597D89B3754ABE9FULL
cdef W W_RFACT[64]           # 1/k!
cdef W W_RINV[128]           # 1/k

cdef W w_const(Const80* k) noexcept nogil:
    return w_make(0, <int32_t>k.se - BIAS, ((<u128>k.hi) << 64) | k.lo)

cdef void init_x87_trans() noexcept nogil:
    global W_ONE, W_PI, W_PI2, W_PI4, W_LOG2E, W_LN2
    cdef int k
    W_ONE = w_int(1)
    W_PI = w_const(&CONSTS[3])
    W_PI2 = W_PI
    W_PI2.exp -= 1
    W_PI4 = W_PI
    W_PI4.exp -= 2
    W_LOG2E = w_const(&CONSTS[2])
    W_LN2 = w_const(&CONSTS[5])
    W_RFACT[0] = W_ONE
    for k in range(1, 128):
        W_RINV[k] = w_div(W_ONE, w_int(k))
        if k < 64:
            W_RFACT[k] = w_mul(W_RFACT[k - 1], W_RINV[k])

cdef W w_series(W x, int first, int step, int n, bint alternate, bint factorial) noexcept nogil:
    """sum over j < n of (+-)x**j * c(first + step*j), c(k) = 1/k! or 1/k, by Horner."""
    cdef W s = w_make(0, 0, 0), c
    cdef int j, k
    for j in range(n - 1, -1, -1):
        k = first + step * j
        c = W_RFACT[k] if factorial else W_RINV[k]
        if alternate and (j & 1):
            c = w_neg(c)
        s = w_add(c, w_mul(x, s))
    return s

cdef W w_sin(W r) noexcept nogil:
    """sin r, |r| <= pi/4."""
    return w_mul(r, w_series(w_mul(r, r), 1, 2, 28, True, True))

cdef W w_cos(W r) noexcept nogil:
    return w_series(w_mul(r, r), 0, 2, 28, True, True)

cdef W w_atan_small(W u) noexcept nogil:
    """atan u, |u| <= tan(pi/8)."""
    return w_mul(u, w_series(w_mul(u, u), 1, 2, 48, True, False))

cdef W w_atan2(W y, W x) noexcept nogil:
    """The angle of (x, y), both nonzero finite (FPATAN's general case)."""
    cdef W ay = y, ax = x, t, a
    cdef bint swap
    ay.sign = 0
    ax.sign = 0
    swap = ay.exp > ax.exp or (ay.exp == ax.exp and ay.m > ax.m)
    t = w_div(ax, ay) if swap else w_div(ay, ax)          # in [0, 1]
    if t.exp > -2 or (t.exp == -2 and t.m > M_TAN_PI8):
        a = w_add(W_PI4, w_atan_small(w_div(w_sub(t, W_ONE), w_add(t, W_ONE))))
    else:
        a = w_atan_small(t)
    if swap:
        a = w_sub(W_PI2, a)
    if x.sign:
        a = w_sub(W_PI, a)
    a.sign = y.sign
    return a

cdef W w_ln(W x) noexcept nogil:
    """ln x, x > 0, as e*ln2 + 2*atanh((m-1)/(m+1)) with m in [0.7, 1.42)."""
    cdef int32_t e = x.exp
    cdef W m = x, s, r
    m.exp = 0
    if m.m > M_SQRT2:
        m.exp = -1
        e += 1
    s = w_div(w_sub(m, W_ONE), w_add(m, W_ONE))
    r = w_mul(s, w_series(w_mul(s, s), 1, 2, 22, False, False))
    r.exp += 1
    return w_add(w_mul(w_int(e), W_LN2), r)

cdef W w_ln1p(W x) noexcept nogil:
    """ln(1 + x), x > -1: 2*atanh(x / (2 + x)) for small x."""
    cdef W two = W_ONE, s, r
    if x.exp >= -2:
        return w_ln(w_add(W_ONE, x))
    two.exp = 1
    s = w_div(x, w_add(two, x))
    r = w_mul(s, w_series(w_mul(s, s), 1, 2, 22, False, False))
    r.exp += 1
    return r

# --- argument reduction: the x87's 66-bit pi ----------------------------------

cdef u128 PI2_66 = ((<u128>0x3ULL) << 64) | 0x243F6A8885A308D3ULL   # pi/2 * 2**65, 66 bits

cdef W reduce_pi2(F80 a, uint32_t* quadrant) noexcept nogil:
    """a - k*pi/2 (|a| < 2**63) in [-pi/4, pi/4], k mod 4 in *quadrant;
    exact for the 66-bit pi."""
    cdef int32_t e = (<int32_t>f_exp(a) or 1) - BIAS - 63     # a = sig * 2**e
    cdef int32_t n, left
    cdef u128 r
    cdef uint64_t k = 0
    cdef W w = w_of(a)
    quadrant[0] = 0
    if w.exp < -1 or (w.exp == -1 and w.m <= W_PI4.m):
        return w                        # |a| <= pi/4: nothing to reduce
    # (|a| * 2**65) mod PI2_66, 62 bits at a time, keeping the quotient's low bits.
    r = a.sig % PI2_66
    k = <uint64_t>(a.sig / PI2_66)
    left = e + 65
    while left > 0:
        n = 60 if left > 60 else left
        r <<= n
        k = (k << n) + <uint64_t>(r / PI2_66)
        r = r % PI2_66
        left -= n
    if 2 * r > PI2_66:
        r = PI2_66 - r
        k += 1
        w = w_make(1, 127 - 65, r)
    else:
        w = w_make(0, 127 - 65, r)
    if f_sign(a):
        w.sign ^= 1
        k = -k
    quadrant[0] = <uint32_t>(k & 3)
    return w

# --- the instructions ----------------------------------------------------------

cdef bint trig_operand(CPU* c, FEnv* f, F80 a, F80* r) noexcept nogil:
    """The special operands of FSIN FCOS FSINCOS FPTAN: True with *r set for
    NaNs, unsupported encodings and infinities (IE)."""
    if invalid_operand(f, a, r):
        return True
    if f_inf(a):
        f.ex |= X_IE
        r[0] = f_indefinite()
        return True
    if f_denormal(a):
        f.ex |= X_DE
    return False

cdef inline bint out_of_range(F80 a) noexcept nogil:
    """|a| >= 2**63: C2 set, the operand is left as it is."""
    return f_exp(a) >= BIAS + 63 and not f_inf(a) and not f_nan(a) and not f_unsupported(a)

cdef void sin_cos(FEnv* f, F80 a, F80* s, F80* co) noexcept nogil:
    """sin a and cos a of a finite in range, each rounded once."""
    cdef uint32_t q
    cdef W r, sw, cw
    if f_zero(a):
        if s != NULL:
            s[0] = a
        if co != NULL:
            co[0] = f80(0, BIAS, J_BIT)
        return
    r = reduce_pi2(a, &q)
    sw = w_sin(r)
    cw = w_cos(r)
    if q & 1:
        r = sw
        sw = cw
        cw = w_neg(r)
    if q & 2:
        sw = w_neg(sw)
        cw = w_neg(cw)
    if s != NULL:
        s[0] = w_round(f, sw)
    if co != NULL:
        co[0] = w_round(f, cw)

cdef int h_fsin_fcos(CPU* c, Insn* i) noexcept nogil:
    """FSIN (i.sub 0), FCOS (1)."""
    c.cur = i
    cdef FEnv f
    cdef F80 a, r
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    clear_c1_c2(c)
    if st_empty(c, 0):
        underflow_to(c, 0, False)
        return next_insn(c, i)
    a = st_get(c, 0)
    if out_of_range(a):
        c.fpu.fsw |= SW_C2      # C0 C3 as they were (undefined: as the host CPU)
        return next_insn(c, i)
    if not trig_operand(c, &f, a, &r):
        if i.sub:
            sin_cos(&f, a, NULL, &r)
        else:
            sin_cos(&f, a, &r, NULL)
    if not x87_report(c, &f):
        c.fpu.fsw &= ~SW_C2
        st_set(c, 0, r)
    return next_insn(c, i)

cdef int h_fsincos(CPU* c, Insn* i) noexcept nogil:
    """FSINCOS: ST(0) = sin, then push cos."""
    c.cur = i
    cdef FEnv f
    cdef F80 a, s, co
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    clear_c1_c2(c)
    if st_empty(c, 0) or not st_empty(c, 7):
        if stack_fault(c, not st_empty(c, 7) and not st_empty(c, 0)):
            st_set(c, 0, f_indefinite())
            st_push(c, f_indefinite())
        return next_insn(c, i)
    a = st_get(c, 0)
    if out_of_range(a):
        c.fpu.fsw |= SW_C2      # C0 C3 as they were (undefined: as the host CPU)
        return next_insn(c, i)
    if trig_operand(c, &f, a, &s):
        co = s
    else:
        sin_cos(&f, a, &s, &co)
    if not x87_report(c, &f):
        c.fpu.fsw &= ~SW_C2
        st_set(c, 0, s)
        st_push(c, co)
    return next_insn(c, i)

cdef int h_fptan(CPU* c, Insn* i) noexcept nogil:
    """FPTAN: ST(0) = tan, then push 1."""
    c.cur = i
    cdef FEnv f
    cdef F80 a, t
    cdef uint32_t q
    cdef W r, s, co
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    clear_c1_c2(c)
    if st_empty(c, 0) or not st_empty(c, 7):
        if stack_fault(c, not st_empty(c, 7) and not st_empty(c, 0)):
            st_set(c, 0, f_indefinite())
            st_push(c, f_indefinite())
        return next_insn(c, i)
    a = st_get(c, 0)
    if out_of_range(a):
        c.fpu.fsw |= SW_C2      # C0 C3 as they were (undefined: as the host CPU)
        return next_insn(c, i)
    if not trig_operand(c, &f, a, &t):
        if f_zero(a):
            t = a
        else:
            r = reduce_pi2(a, &q)
            if r.exp < -32:
                # tan r = r + r**3/3, cot r = 1/r - r/3 (the next terms are
                # below 2**-130 relative): spelled out, as the ratio of the
                # two series would lose the tiny terms (tan 2**-64 came out
                # exact, without PE).
                s = w_mul(w_mul(r, w_mul(r, r)), W_RINV[3])
                co = w_mul(r, W_RINV[3])
                t = w_round(&f, w_neg(w_sub(w_div(W_ONE, r), co)) if q & 1 else w_add(r, s))
            else:
                s = w_sin(r)
                co = w_cos(r)
                t = w_round(&f, w_neg(w_div(co, s)) if q & 1 else w_div(s, co))
    if not x87_report(c, &f):
        c.fpu.fsw &= ~SW_C2
        st_set(c, 0, t)
        if not f_nan(t):
            st_push(c, f80(0, BIAS, J_BIT))
        else:
            st_push(c, t)
    return next_insn(c, i)

cdef int h_fpatan(CPU* c, Insn* i) noexcept nogil:
    """FPATAN: ST(1) = the angle of (x = ST(0), y = ST(1)), then pop."""
    c.cur = i
    cdef FEnv f
    cdef F80 x, y, r
    cdef W a
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0) or st_empty(c, 1):
        underflow_to(c, 1, True)
        return next_insn(c, i)
    x = st_get(c, 0)
    y = st_get(c, 1)
    if not invalid_operands(&f, y, x, &r):
        if f_denormal(x) or f_denormal(y):
            f.ex |= X_DE
        if f_inf(x) or f_inf(y) or f_zero(x) or f_zero(y):
            if f_zero(y) or (f_inf(x) and not f_inf(y)):
                a = w_make(0, 0, 0) if not f_sign(x) else W_PI
            elif f_inf(y) and f_inf(x):
                a = W_PI4 if not f_sign(x) else w_sub(W_PI, W_PI4)
            else:
                a = W_PI2
            if a.m == 0:
                r = f80(f_sign(y), 0, 0)
            else:
                a.sign = f_sign(y)
                r = w_round(&f, a)
        else:
            r = w_round(&f, w_atan2(w_of(y), w_of(x)))
    if not x87_report(c, &f):
        st_set(c, 1, r)
        st_pop(c)
    return next_insn(c, i)

cdef int h_f2xm1(CPU* c, Insn* i) noexcept nogil:
    """F2XM1: ST(0) = 2**ST(0) - 1 (defined for -1 <= ST(0) <= 1; beyond,
    the operand is left as it is, with PE, as the hardware does)."""
    c.cur = i
    cdef FEnv f
    cdef F80 a, r
    cdef W t
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0):
        underflow_to(c, 0, False)
        return next_insn(c, i)
    a = st_get(c, 0)
    if not invalid_operand(&f, a, &r):
        if f_denormal(a):
            f.ex |= X_DE
        if f_zero(a):
            r = a
        elif not f_inf(a) and (f_exp(a) > BIAS or (f_exp(a) == BIAS and a.sig != J_BIT)):
            f.ex |= X_PE                # |a| > 1: left as it is, as Intel's
            r = a
        elif f_inf(a):
            r = a if not f_sign(a) else f80(1, BIAS, J_BIT)
        else:
            t = w_mul(w_of(a), W_LN2)          # e**t - 1 = t * sum t**k/(k+1)!
            r = w_round(&f, w_mul(t, w_series(t, 1, 1, 34, False, True)))
    if not x87_report(c, &f):
        st_set(c, 0, r)
    return next_insn(c, i)

cdef int h_fyl2x(CPU* c, Insn* i) noexcept nogil:
    """FYL2X (i.sub 0): ST(1) = ST(1) * log2(ST(0)); FYL2XP1 (1):
    ST(1) * log2(ST(0) + 1).  Then pop."""
    c.cur = i
    cdef FEnv f
    cdef F80 x, y, r
    cdef W l
    cdef bint lzero, lneg
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0) or st_empty(c, 1):
        underflow_to(c, 1, True)
        return next_insn(c, i)
    x = st_get(c, 0)
    y = st_get(c, 1)
    if invalid_operands(&f, x, y, &r):
        pass
    else:
        if (f_denormal(x) or f_denormal(y)) and not (f_zero(x) and not i.sub):
            f.ex |= X_DE                # (log2(0): ZE comes first)
        # The logarithm's sign and whether it is zero or infinite.
        if i.sub:
            lzero = f_zero(x)
            lneg = f_sign(x) != 0
            if f_sign(x) and not f_zero(x) and (f_inf(x) or f_exp(x) > BIAS
                                                or (f_exp(x) == BIAS and x.sig != J_BIT)):
                f.ex |= X_IE            # x + 1 < 0
        else:
            lzero = f_exp(x) == BIAS and x.sig == J_BIT and not f_sign(x)
            lneg = f_zero(x) or (not f_inf(x) and f_exp(x) < BIAS)
            if f_sign(x) and not f_zero(x):
                f.ex |= X_IE
        if f.ex & X_IE:
            r = f_indefinite()
        elif (f_zero(x) and not i.sub) or (i.sub and f_sign(x) and f_exp(x) == BIAS and x.sig == J_BIT):
            # log2(0) = -inf
            if f_zero(y):
                f.ex |= X_IE
                r = f_indefinite()
            else:
                if not f_inf(y):
                    f.ex |= X_ZE
                r = f_inf_of(f_sign(y) ^ 1)
        elif f_inf(x):                           # log2(inf) = inf
            if f_zero(y):
                f.ex |= X_IE
                r = f_indefinite()
            else:
                r = f_inf_of(f_sign(y))
        elif f_inf(y):
            if lzero:
                f.ex |= X_IE
                r = f_indefinite()
            else:
                r = f_inf_of(f_sign(y) ^ lneg)
        elif f_zero(y) or lzero:
            r = f80(f_sign(y) ^ lneg, 0, 0)
        else:
            l = w_ln1p(w_of(x)) if i.sub else w_ln(w_of(x))
            r = w_round(&f, w_mul(w_mul(l, W_LOG2E), w_of(y)))
        if f.ex & X_IE:
            f.ex &= ~X_DE               # an invalid operand comes first
    if not x87_report(c, &f):
        st_set(c, 1, r)
        st_pop(c)
    return next_insn(c, i)
