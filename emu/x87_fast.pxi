# Specialized x87 handlers for the common forms of compiled 387 code: FLD
# and FST/FSTP m32fp/m64fp, FLD and FSTP m80fp, FLD ST(i), FXCH, and FADD FMUL FSUB FSUBR with
# an m32fp/m64fp operand, ST(0), ST(i) and ST(i), ST(0) (and the P forms),
# each with its operation and operand kind as constants.  A variant does
# only the common case: no #NM and no pending exception, FCW with every
# exception masked, extended precision and round to nearest (FNINIT's), the
# registers it reads full (and ST(7) empty for a push), normal operands, a
# normal result, and a memory operand in one page the TLB holds.  Then the
# only status changes are PE and C1 (rounded up), computed here exactly as
# softfloat.pxi's round_pack would.  Anything else hands the whole
# instruction, not yet begun, to its generic handler (x87.pxi).

cdef inline bint x87_fast_ok(CPU* c) noexcept nogil:
    """x87_check passes and FCW is masked, extended, to nearest."""
    return ((c.cr0 & (FPU_CR0_EM | CR0_TS)) == 0 and (c.fpu.fsw & SW_ES) == 0
            and (c.fpu.fcw & 0x0F3F) == 0x033F)

cdef inline bint f_normal(F80 a) noexcept nogil:
    """A normal: J set, exponent neither 0 nor 7FFF."""
    return (<uint32_t>(a.se & 0x7FFF) - 1 < EXP_INF - 1) and (a.sig >> 63) != 0

cdef inline bint round64(uint32_t sign, int32_t e, u128 v, F80* r, uint32_t* sw) noexcept nogil:
    """round_pack to 64 bits, to nearest, of v (bit 127 set) * 2**(e - BIAS
    - 127) when the result is a normal: *r, and in *sw the status bits it
    sets (PE, C1 when it rounded up).  False when the result would be tiny
    or overflow (the general path's business)."""
    cdef uint64_t hi = <uint64_t>(v >> 64), lo = <uint64_t>v
    cdef bint inc = lo > J_BIT or (lo == J_BIT and (hi & 1) != 0)
    if e < 1:
        return False
    sw[0] = (X_PE if lo else 0) | (SW_C1 if inc else 0)
    if inc:
        hi += 1
        if hi == 0:
            hi = J_BIT
            e += 1
    if e >= EXP_INF:
        return False
    r[0] = f80(sign, <uint32_t>e, hi)
    return True

cdef inline bint fast_op(uint32_t op, F80 x, F80 y, F80* r, uint32_t* sw) noexcept nogil:
    """x op y (op: 0 FADD, 1 FMUL, 4 FSUB x - y, 5 FSUBR y - x) for normals
    x and y, when the result is a normal (round64); f_add and f_mul's
    arithmetic."""
    cdef uint32_t sa, sb, ea, eb, t
    cdef u128 A, B, R
    cdef int n
    if op == 1:
        R = <u128>x.sig * y.sig
        n = 0 if (R >> 127) else 1
        return round64(f_sign(x) ^ f_sign(y),
                       <int32_t>f_exp(x) + <int32_t>f_exp(y) - BIAS + 1 - n, R << n, r, sw)
    if op == 5:
        x, y = y, x
    sa = f_sign(x)
    sb = f_sign(y) ^ (0 if op == 0 else 1)
    ea = f_exp(x)
    eb = f_exp(y)
    A = (<u128>x.sig) << 62
    B = (<u128>y.sig) << 62
    if ea < eb:
        A, B = B, A
        t = sa
        sa = sb
        sb = t
        t = ea
        ea = eb
        eb = t
    B = shr_jam(B, <int32_t>(ea - eb))
    if sa == sb:
        R = A + B
    elif A >= B:
        R = A - B
    else:
        R = B - A
        sa = sb
    if R == 0:
        r[0] = f80(0, 0, 0)            # an exact zero, +0 to nearest
        sw[0] = 0
        return True
    n = clz128(R)
    return round64(sa, <int32_t>ea + 2 - n, R << n, r, sw)

cdef inline void fast_status(CPU* c, uint32_t sw) noexcept nogil:
    """PE (sticky) and C1 of a fast operation (x87_report, all masked)."""
    c.fpu.fsw = <uint16_t>((c.fpu.fsw & ~SW_C1) | sw)

cdef inline uint8_t* x87_mem(CPU* c, Insn* i, TlbEntry* tlb, uint32_t size, uint64_t* ea) noexcept nogil:
    """The host address of the memory operand if its page is in `tlb`, else
    NULL; *ea its effective address (for x87_note_operand)."""
    ea[0] = ea_of(c, i)
    return tlb_host(tlb, lin_of(c, i.seg, ea[0]), size)

cdef inline void note_mem(CPU* c, Insn* i, uint64_t ea) noexcept nogil:
    """x87_note of a memory form, its effective address known."""
    x87_note_insn(c, i)
    x87_note_operand(c, i, ea)

cdef inline bint bin_operand(uint8_t* p, uint32_t kind, F80* v) noexcept nogil:
    """A normal m32fp/m64fp at p, converted exactly (as normal_operand)."""
    cdef uint64_t x
    cdef uint32_t e
    if kind == K_M64FP:
        x = load_le(p, 8)
        e = <uint32_t>(x >> 52) & 0x7FF
        if e == 0 or e == 0x7FF:
            return False
        v[0] = f80(<uint32_t>(x >> 63), e - 1023 + BIAS, J_BIT | ((x & 0xFFFFFFFFFFFFFULL) << 11))
        return True
    x = load_le(p, 4)
    e = <uint32_t>(x >> 23) & 0xFF
    if e == 0 or e == 0xFF:
        return False
    v[0] = f80(<uint32_t>(x >> 31), e - 127 + BIAS, J_BIT | ((x & 0x7FFFFF) << 40))
    return True

cdef inline int fld_m_fast(CPU* c, Insn* i, uint32_t kind, handler_t slow) noexcept nogil:
    """FLD m32fp/m64fp (h_fld_m)."""
    cdef uint8_t* p
    cdef uint64_t ea
    cdef F80 v
    if not x87_fast_ok(c) or not st_empty(c, 7):
        return slow(c, i)
    p = x87_mem(c, i, c.tlb_r, 8 if kind == K_M64FP else 4, &ea)
    if p == NULL or not bin_operand(p, kind, &v):
        return slow(c, i)
    note_mem(c, i, ea)
    set_c1(c, 0)
    st_push(c, v)
    return next_insn_reg(c, i)

cdef inline int fst_m_fast(CPU* c, Insn* i, uint32_t kind, bint pop, handler_t slow) noexcept nogil:
    """FST/FSTP m32fp/m64fp (h_fst_m): ST(0) a normal whose rounding to the
    format is a normal (f_to_bin's arithmetic)."""
    cdef uint32_t mbits = 52 if kind == K_M64FP else 23
    cdef uint32_t shift = 63 - mbits
    cdef int32_t bias = 1023 if kind == K_M64FP else 127
    cdef int32_t emax = 2047 if kind == K_M64FP else 255
    cdef uint8_t* p
    cdef uint64_t ea
    cdef F80 v
    cdef int32_t te
    cdef uint64_t m, rem, half
    cdef bint inc
    if not x87_fast_ok(c) or st_empty(c, 0):
        return slow(c, i)
    v = st_get(c, 0)
    te = <int32_t>f_exp(v) - BIAS + bias
    if not f_normal(v) or te < 1 or te > emax - 2:
        return slow(c, i)
    p = x87_mem(c, i, c.tlb_w, 8 if kind == K_M64FP else 4, &ea)
    if p == NULL:
        return slow(c, i)
    rem = v.sig & (((<uint64_t>1) << shift) - 1)
    half = (<uint64_t>1) << (shift - 1)
    m = v.sig >> shift                  # J and the fraction
    inc = rem > half or (rem == half and (m & 1) != 0)
    if inc:
        m += 1
        if m >> (mbits + 1):
            m >>= 1
            te += 1
    m = ((<uint64_t>f_sign(v)) << (mbits + (11 if kind == K_M64FP else 8))
         | ((<uint64_t>te) << mbits) | (m & (((<uint64_t>1) << mbits) - 1)))
    store_le(p, 8 if kind == K_M64FP else 4, m)
    note_mem(c, i, ea)
    fast_status(c, (X_PE if rem else 0) | (SW_C1 if inc else 0))
    if pop:
        st_pop(c)
    return next_insn_reg(c, i)

cdef inline bint x87_ready(CPU* c) noexcept nogil:
    """x87_check passes (the m80 moves raise nothing that FCW could mask)."""
    return (c.cr0 & (FPU_CR0_EM | CR0_TS)) == 0 and (c.fpu.fsw & SW_ES) == 0

cdef inline int fld_m80_fast(CPU* c, Insn* i, handler_t slow) noexcept nogil:
    """FLD m80fp (h_fld_m): the value as it is (no IE, no DE for this
    format), C1 clear."""
    cdef uint8_t* p
    cdef uint64_t ea
    if not x87_ready(c) or not st_empty(c, 7):
        return slow(c, i)
    p = x87_mem(c, i, c.tlb_r, 10, &ea)
    if p == NULL:
        return slow(c, i)
    note_mem(c, i, ea)
    set_c1(c, 0)
    st_push(c, f80(<uint32_t>(load_le(p + 8, 2) >> 15), <uint32_t>load_le(p + 8, 2) & 0x7FFF,
                   load_le(p, 8)))
    return next_insn_reg(c, i)

cdef inline int fstp_m80_fast(CPU* c, Insn* i, handler_t slow) noexcept nogil:
    """FSTP m80fp (h_fst_m): ST(0) as it is, C1 clear, pop."""
    cdef uint8_t* p
    cdef uint64_t ea
    cdef F80 v
    if not x87_ready(c) or st_empty(c, 0):
        return slow(c, i)
    p = x87_mem(c, i, c.tlb_w, 10, &ea)
    if p == NULL:
        return slow(c, i)
    v = st_get(c, 0)
    store_le(p, 8, v.sig)
    store_le(p + 8, 2, v.se)
    note_mem(c, i, ea)
    set_c1(c, 0)
    st_pop(c)
    return next_insn_reg(c, i)

cdef inline int fld_sti_fast(CPU* c, Insn* i, handler_t slow) noexcept nogil:
    """FLD ST(i) (h_fld_sti)."""
    cdef uint32_t k = i.modrm & 7
    if not x87_fast_ok(c) or st_empty(c, k) or not st_empty(c, 7):
        return slow(c, i)
    x87_note_insn(c, i)
    set_c1(c, 0)
    st_push(c, st_get(c, k))
    return next_insn_reg(c, i)

cdef inline int fxch_fast(CPU* c, Insn* i, handler_t slow) noexcept nogil:
    """FXCH ST(i) (h_fxch)."""
    cdef uint32_t k = i.modrm & 7
    cdef F80 a, b
    if not x87_fast_ok(c) or st_empty(c, 0) or st_empty(c, k):
        return slow(c, i)
    x87_note_insn(c, i)
    set_c1(c, 0)
    a = st_get(c, 0)
    b = st_get(c, k)
    st_set(c, 0, b)
    st_set(c, k, a)
    return next_insn_reg(c, i)

cdef inline int farith_m_fast(CPU* c, Insn* i, uint32_t op, uint32_t kind, handler_t slow) noexcept nogil:
    """ST(0) = ST(0) op m32fp/m64fp (h_farith_m)."""
    cdef uint8_t* p
    cdef uint64_t ea
    cdef F80 y, r
    cdef uint32_t sw
    if not x87_fast_ok(c) or st_empty(c, 0):
        return slow(c, i)
    p = x87_mem(c, i, c.tlb_r, 8 if kind == K_M64FP else 4, &ea)
    if p == NULL or not bin_operand(p, kind, &y) or not f_normal(st_get(c, 0)) \
            or not fast_op(op, st_get(c, 0), y, &r, &sw):
        return slow(c, i)
    note_mem(c, i, ea)
    fast_status(c, sw)
    st_set(c, 0, r)
    return next_insn_reg(c, i)

cdef inline int farith_st_fast(CPU* c, Insn* i, uint32_t op, bint to_sti, bint pop,
                               handler_t slow) noexcept nogil:
    """ST(0) = ST(0) op ST(i) (h_farith_st0_sti), or ST(i) = ST(0) op ST(i)
    and the P forms (h_farith_sti_st0: op is ModRM.reg's, see there)."""
    cdef uint32_t k = i.modrm & 7, sw
    cdef F80 r
    if not x87_fast_ok(c) or st_empty(c, 0) or st_empty(c, k) or not f_normal(st_get(c, 0)) \
            or not f_normal(st_get(c, k)) or not fast_op(op, st_get(c, 0), st_get(c, k), &r, &sw):
        return slow(c, i)
    x87_note_insn(c, i)
    fast_status(c, sw)
    st_set(c, k if to_sti else 0, r)
    if pop:
        st_pop(c)
    return next_insn_reg(c, i)

# The variants (the op numbers are ModRM.reg's: 0 FADD, 1 FMUL, 4 FSUB, 5 FSUBR).
cdef int v_fld_m32(CPU* c, Insn* i) noexcept nogil: return fld_m_fast(c, i, K_M32FP, h_fld_m)
cdef int v_fld_m64(CPU* c, Insn* i) noexcept nogil: return fld_m_fast(c, i, K_M64FP, h_fld_m)
cdef int v_fst_m32(CPU* c, Insn* i) noexcept nogil: return fst_m_fast(c, i, K_M32FP, False, h_fst_m)
cdef int v_fst_m64(CPU* c, Insn* i) noexcept nogil: return fst_m_fast(c, i, K_M64FP, False, h_fst_m)
cdef int v_fstp_m32(CPU* c, Insn* i) noexcept nogil: return fst_m_fast(c, i, K_M32FP, True, h_fst_m)
cdef int v_fstp_m64(CPU* c, Insn* i) noexcept nogil: return fst_m_fast(c, i, K_M64FP, True, h_fst_m)
cdef int v_fld_m80(CPU* c, Insn* i) noexcept nogil: return fld_m80_fast(c, i, h_fld_m)
cdef int v_fstp_m80(CPU* c, Insn* i) noexcept nogil: return fstp_m80_fast(c, i, h_fst_m)
cdef int v_fld_sti(CPU* c, Insn* i) noexcept nogil: return fld_sti_fast(c, i, h_fld_sti)
cdef int v_fxch(CPU* c, Insn* i) noexcept nogil: return fxch_fast(c, i, h_fxch)
cdef int v_fadd_m32(CPU* c, Insn* i) noexcept nogil: return farith_m_fast(c, i, 0, K_M32FP, h_farith_m)
cdef int v_fmul_m32(CPU* c, Insn* i) noexcept nogil: return farith_m_fast(c, i, 1, K_M32FP, h_farith_m)
cdef int v_fsub_m32(CPU* c, Insn* i) noexcept nogil: return farith_m_fast(c, i, 4, K_M32FP, h_farith_m)
cdef int v_fsubr_m32(CPU* c, Insn* i) noexcept nogil: return farith_m_fast(c, i, 5, K_M32FP, h_farith_m)
cdef int v_fadd_m64(CPU* c, Insn* i) noexcept nogil: return farith_m_fast(c, i, 0, K_M64FP, h_farith_m)
cdef int v_fmul_m64(CPU* c, Insn* i) noexcept nogil: return farith_m_fast(c, i, 1, K_M64FP, h_farith_m)
cdef int v_fsub_m64(CPU* c, Insn* i) noexcept nogil: return farith_m_fast(c, i, 4, K_M64FP, h_farith_m)
cdef int v_fsubr_m64(CPU* c, Insn* i) noexcept nogil: return farith_m_fast(c, i, 5, K_M64FP, h_farith_m)
cdef int v_fadd_st0(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 0, False, False, h_farith_st0_sti)
cdef int v_fmul_st0(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 1, False, False, h_farith_st0_sti)
cdef int v_fsub_st0(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 4, False, False, h_farith_st0_sti)
cdef int v_fsubr_st0(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 5, False, False, h_farith_st0_sti)
cdef int v_fadd_sti(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 0, True, False, h_farith_sti_st0)
cdef int v_fmul_sti(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 1, True, False, h_farith_sti_st0)
cdef int v_fsub_sti(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 4, True, False, h_farith_sti_st0)
cdef int v_fsubr_sti(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 5, True, False, h_farith_sti_st0)
cdef int v_faddp_sti(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 0, True, True, h_farith_sti_st0)
cdef int v_fmulp_sti(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 1, True, True, h_farith_sti_st0)
cdef int v_fsubp_sti(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 4, True, True, h_farith_sti_st0)
cdef int v_fsubrp_sti(CPU* c, Insn* i) noexcept nogil: return farith_st_fast(c, i, 5, True, True, h_farith_sti_st0)

cdef handler_t X87_ARITH_FAST[5][6]    # [form][op]: m32 m64 st0 sti stip

cdef void init_x87_fast() noexcept nogil:
    memset(X87_ARITH_FAST, 0, sizeof(X87_ARITH_FAST))
    X87_ARITH_FAST[0][0] = v_fadd_m32
    X87_ARITH_FAST[0][1] = v_fmul_m32
    X87_ARITH_FAST[0][4] = v_fsub_m32
    X87_ARITH_FAST[0][5] = v_fsubr_m32
    X87_ARITH_FAST[1][0] = v_fadd_m64
    X87_ARITH_FAST[1][1] = v_fmul_m64
    X87_ARITH_FAST[1][4] = v_fsub_m64
    X87_ARITH_FAST[1][5] = v_fsubr_m64
    X87_ARITH_FAST[2][0] = v_fadd_st0
    X87_ARITH_FAST[2][1] = v_fmul_st0
    X87_ARITH_FAST[2][4] = v_fsub_st0
    X87_ARITH_FAST[2][5] = v_fsubr_st0
    X87_ARITH_FAST[3][0] = v_fadd_sti
    X87_ARITH_FAST[3][1] = v_fmul_sti
    X87_ARITH_FAST[3][4] = v_fsub_sti
    X87_ARITH_FAST[3][5] = v_fsubr_sti
    X87_ARITH_FAST[4][0] = v_faddp_sti
    X87_ARITH_FAST[4][1] = v_fmulp_sti
    X87_ARITH_FAST[4][4] = v_fsubp_sti
    X87_ARITH_FAST[4][5] = v_fsubrp_sti

cdef void x87_specialize(Insn* i) noexcept nogil:
    """Swap a generic x87 handler for its variant (see the top of the file)."""
    cdef handler_t f = i.fn
    cdef handler_t v = NULL
    cdef uint32_t op = i.reg & 7
    if f == h_fld_m:
        if i.sub == K_M32FP:
            v = v_fld_m32
        elif i.sub == K_M64FP:
            v = v_fld_m64
        elif i.sub == K_M80FP:
            v = v_fld_m80
    elif f == h_fst_m:
        if i.sub == K_M32FP:
            v = v_fst_m32
        elif i.sub == K_M64FP:
            v = v_fst_m64
        elif i.sub == K_M32FP | ST_POP:
            v = v_fstp_m32
        elif i.sub == K_M64FP | ST_POP:
            v = v_fstp_m64
        elif i.sub == K_M80FP | ST_POP:
            v = v_fstp_m80
    elif f == h_fld_sti:
        v = v_fld_sti
    elif f == h_fxch:
        v = v_fxch
    elif op <= 5:
        if f == h_farith_m and i.sub <= K_M64FP:
            v = X87_ARITH_FAST[i.sub][op]
        elif f == h_farith_st0_sti:
            v = X87_ARITH_FAST[2][op]
        elif f == h_farith_sti_st0:
            v = X87_ARITH_FAST[4 if i.sub else 3][op]
    if v != NULL:
        i.fn = v
