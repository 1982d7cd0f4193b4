# SSE, SSE2, SSE3 and SSE4.1 floating point: moves, arithmetic, logic,
# comparisons, shuffles, conversions, rounding, dot products and blends.
# The IEEE arithmetic itself (MXCSR rounding, DAZ, FTZ, flags, NaN rules) is
# the C in sse_fp.h; this file gets the operands (simd.pxi), runs the lanes
# and commits the result and the flags.
#
# Insn.sub of the arithmetic handlers: bits 0-3 the operation, bits 4-5 the
# shape (SH_PS SH_PD SH_SS SH_SD).

cdef extern from "sse_fp.h":
    ctypedef struct pv_fp:
        uint32_t mxcsr, pre, post
    void pv_fp_begin(pv_fp* f, uint32_t mxcsr, uint32_t rc) nogil
    void pv_fp_end(pv_fp* f) nogil
    uint32_t pv_s_arith(pv_fp* f, int op, uint32_t a, uint32_t b) nogil
    uint64_t pv_d_arith(pv_fp* f, int op, uint64_t a, uint64_t b) nogil
    uint32_t pv_s_minmax(pv_fp* f, int mx, uint32_t a, uint32_t b) nogil
    uint64_t pv_d_minmax(pv_fp* f, int mx, uint64_t a, uint64_t b) nogil
    int pv_s_cmp(pv_fp* f, int p, uint32_t a, uint32_t b) nogil
    int pv_s_rel(pv_fp* f, int signal, uint32_t a, uint32_t b) nogil
    int pv_d_rel(pv_fp* f, int signal, uint64_t a, uint64_t b) nogil
    uint64_t pv_s_widen(pv_fp* f, uint32_t a) nogil
    int pv_d_cmp(pv_fp* f, int p, uint64_t a, uint64_t b) nogil
    uint64_t pv_s_to_d(pv_fp* f, uint32_t a) nogil
    uint32_t pv_d_to_s(pv_fp* f, uint64_t a) nogil
    uint64_t pv_i_to_f(pv_fp* f, int64_t a, int dbl) nogil
    int64_t pv_d_to_i(pv_fp* f, uint64_t a, int bits, int trunc) nogil
    uint32_t pv_s_round(pv_fp* f, uint32_t a, int no_pe) nogil
    uint64_t pv_d_round(pv_fp* f, uint64_t a, int no_pe) nogil
    uint32_t pv_s_rcp(uint32_t a, int rsqrt) nogil
    int s_nan(uint32_t a) nogil
    int d_nan(uint64_t a) nogil
    int s_snan(uint32_t a) nogil
    int d_snan(uint64_t a) nogil
    uint32_t s_in(pv_fp* f, uint32_t a) nogil
    uint64_t d_in(pv_fp* f, uint64_t a) nogil

cdef enum:
    SH_PS = 0
    SH_PD = 1
    SH_SS = 2
    SH_SD = 3
    FOP_ADD = 0
    FOP_SUB = 1
    FOP_MUL = 2
    FOP_DIV = 3
    FOP_SQRT = 4
    FOP_MIN = 5
    FOP_MAX = 6

# ---- MXCSR: begin, commit -------------------------------------------------

cdef inline void fp_begin(CPU* c, pv_fp* f) noexcept nogil:
    pv_fp_begin(f, c.fpu.mxcsr, (c.fpu.mxcsr >> MX_RC_SHIFT) & 3)

cdef inline int fp_commit(CPU* c, pv_fp* f) noexcept nogil:
    """End an instruction: record its flags in MXCSR.  An unmasked
    pre-computation exception (IE DE ZE) records only those flags and
    faults; an unmasked post-computation one (OE UE PE) records all and
    faults.  RC_FAULT means the destination must stay unchanged."""
    cdef uint32_t unmasked = ~(c.fpu.mxcsr >> MX_MASK_SHIFT) & MX_FLAGS
    pv_fp_end(f)
    if f.pre & unmasked:
        c.fpu.mxcsr |= f.pre
        return simd_fp_fault(c)
    c.fpu.mxcsr |= f.pre | f.post
    if f.post & unmasked:
        return simd_fp_fault(c)
    return 0

cdef inline bint shape_packed(uint32_t shape) noexcept nogil:
    return shape < SH_SS

cdef inline uint32_t shape_size(uint32_t shape) noexcept nogil:
    """Bytes of the r/m source: 16 packed, 4 SS, 8 SD."""
    return 16 if shape < SH_SS else (4 if shape == SH_SS else 8)

cdef inline int fp_src(CPU* c, Insn* i, uint32_t shape, Vec* s) noexcept nogil:
    """SSE checks, then the r/m source of an arithmetic shape (m128 aligned)."""
    if sse_ok(c):
        return RC_FAULT
    return xmm_src(c, i, shape_size(shape), 16 if shape_packed(shape) else 0, s)

cdef inline void lanes_op(pv_fp* f, uint32_t op, uint32_t shape, Vec* d, Vec* a, Vec* b) noexcept nogil:
    """d = a op b lane by lane (only lane 0 for scalar shapes)."""
    cdef uint32_t k, n
    if shape == SH_PS or shape == SH_SS:
        n = 4 if shape == SH_PS else 1
        for k in range(n):
            if op <= FOP_SQRT:
                d.d[k] = pv_s_arith(f, op, a.d[k], b.d[k])
            else:
                d.d[k] = pv_s_minmax(f, op == FOP_MAX, a.d[k], b.d[k])
    else:
        n = 2 if shape == SH_PD else 1
        for k in range(n):
            if op <= FOP_SQRT:
                d.q[k] = pv_d_arith(f, op, a.q[k], b.q[k])
            else:
                d.q[k] = pv_d_minmax(f, op == FOP_MAX, a.q[k], b.q[k])

cdef inline int fp_write(CPU* c, Insn* i, pv_fp* f, uint32_t shape, Vec* r) noexcept nogil:
    """Commit the flags and, when nothing faults, the lanes of the shape to
    xmm[reg] (scalar shapes keep the upper lanes)."""
    cdef Vec* d = xreg(c, i.reg)
    if fp_commit(c, f):
        return RC_FAULT
    if shape == SH_SS:
        d.d[0] = r.d[0]
    elif shape == SH_SD:
        d.q[0] = r.q[0]
    else:
        d.q[0] = r.q[0]
        d.q[1] = r.q[1]
    return next_insn(c, i)

cdef int h_sse_arith(CPU* c, Insn* i) noexcept nogil:
    """ADD SUB MUL DIV SQRT MIN MAX in PS PD SS SD (sub: op | shape << 4)."""
    c.cur = i
    cdef Vec s, r
    cdef pv_fp f
    cdef uint32_t op = i.sub & 15, shape = i.sub >> 4
    if fp_src(c, i, shape, &s):
        return RC_FAULT
    fp_begin(c, &f)
    lanes_op(&f, op, shape, &r, xreg(c, i.reg), &s)
    return fp_write(c, i, &f, shape, &r)

cdef int h_sse_addsub(CPU* c, Insn* i) noexcept nogil:
    """ADDSUBPS/PD (sub: the shape): subtract in even lanes, add in odd."""
    c.cur = i
    cdef Vec s, r
    cdef pv_fp f
    cdef Vec* a = xreg(c, i.reg)
    cdef uint32_t k, shape = i.sub
    if fp_src(c, i, shape, &s):
        return RC_FAULT
    fp_begin(c, &f)
    if shape == SH_PS:
        for k in range(4):
            r.d[k] = pv_s_arith(&f, FOP_ADD if k & 1 else FOP_SUB, a.d[k], s.d[k])
    else:
        for k in range(2):
            r.q[k] = pv_d_arith(&f, FOP_ADD if k & 1 else FOP_SUB, a.q[k], s.q[k])
    return fp_write(c, i, &f, shape, &r)

cdef int h_sse_hop(CPU* c, Insn* i) noexcept nogil:
    """HADDPS/PD, HSUBPS/PD (sub: op | shape << 4): pairs of adjacent lanes
    of the destination, then of the source."""
    c.cur = i
    cdef Vec s, r
    cdef pv_fp f
    cdef Vec* a = xreg(c, i.reg)
    cdef uint32_t op = i.sub & 15, shape = i.sub >> 4
    if fp_src(c, i, shape, &s):
        return RC_FAULT
    fp_begin(c, &f)
    if shape == SH_PS:
        r.d[0] = pv_s_arith(&f, op, a.d[0], a.d[1])
        r.d[1] = pv_s_arith(&f, op, a.d[2], a.d[3])
        r.d[2] = pv_s_arith(&f, op, s.d[0], s.d[1])
        r.d[3] = pv_s_arith(&f, op, s.d[2], s.d[3])
    else:
        r.q[0] = pv_d_arith(&f, op, a.q[0], a.q[1])
        r.q[1] = pv_d_arith(&f, op, s.q[0], s.q[1])
    return fp_write(c, i, &f, shape, &r)

cdef int h_sse_rcp(CPU* c, Insn* i) noexcept nogil:
    """RCPPS/SS and RSQRTPS/SS (sub: rsqrt | shape << 4): no exceptions."""
    c.cur = i
    cdef Vec s
    cdef Vec* d = xreg(c, i.reg)
    cdef uint32_t k, shape = i.sub >> 4
    if fp_src(c, i, shape, &s):
        return RC_FAULT
    for k in range(4 if shape == SH_PS else 1):
        d.d[k] = pv_s_rcp(s.d[k], i.sub & 1)
    return next_insn(c, i)

cdef int h_sse_logic(CPU* c, Insn* i) noexcept nogil:
    """ANDPS ANDNPS ORPS XORPS and the PD forms (sub: 0 and, 1 andn, 2 or,
    3 xor): bitwise, no exceptions."""
    c.cur = i
    cdef Vec s
    cdef Vec* d = xreg(c, i.reg)
    cdef uint32_t k
    if fp_src(c, i, SH_PS, &s):
        return RC_FAULT
    for k in range(2):
        if i.sub == 0:
            d.q[k] &= s.q[k]
        elif i.sub == 1:
            d.q[k] = ~d.q[k] & s.q[k]
        elif i.sub == 2:
            d.q[k] |= s.q[k]
        else:
            d.q[k] ^= s.q[k]
    return next_insn(c, i)

# ---- comparisons -------------------------------------------------------------

cdef int h_sse_cmp(CPU* c, Insn* i) noexcept nogil:
    """CMPPS/PD/SS/SD xmm1, xmm2/m, imm8 (sub: the shape): predicate
    imm8[2:0]; each lane all ones or zeros."""
    c.cur = i
    cdef Vec s, r
    cdef pv_fp f
    cdef Vec* a = xreg(c, i.reg)
    cdef uint32_t k, shape = i.sub
    cdef int p = <int>(i.imm & 7)
    if fp_src(c, i, shape, &s):
        return RC_FAULT
    fp_begin(c, &f)
    if shape == SH_PS or shape == SH_SS:
        for k in range(4 if shape == SH_PS else 1):
            r.d[k] = 0xFFFFFFFFU if pv_s_cmp(&f, p, a.d[k], s.d[k]) else 0
    else:
        for k in range(2 if shape == SH_PD else 1):
            r.q[k] = <uint64_t>-1 if pv_d_cmp(&f, p, a.q[k], s.q[k]) else 0
    return fp_write(c, i, &f, shape, &r)

cdef int h_sse_comi(CPU* c, Insn* i) noexcept nogil:
    """COMISS/COMISD (IE on any NaN) and UCOMISS/UCOMISD (IE on an SNaN
    only) (sub: bit 0 double, bit 1 the unordered form): ZF PF CF = 111
    unordered, 000 greater, 001 less, 100 equal; OF SF AF cleared."""
    c.cur = i
    cdef Vec s
    cdef pv_fp f
    cdef Vec* a = xreg(c, i.reg)
    cdef bint dbl = i.sub & 1
    cdef int signal = (i.sub & 2) == 0, rel
    if fp_src(c, i, SH_SD if dbl else SH_SS, &s):
        return RC_FAULT
    fp_begin(c, &f)
    rel = pv_d_rel(&f, signal, a.q[0], s.q[0]) if dbl else pv_s_rel(&f, signal, a.d[0], s.d[0])
    if fp_commit(c, &f):
        return RC_FAULT
    materialize(c)
    c.eflags &= ~<uint64_t>(F_OF | F_SF | F_AF | F_ZF | F_PF | F_CF)
    if rel == 2:
        c.eflags |= F_ZF | F_PF | F_CF
    elif rel == 0:
        c.eflags |= F_ZF
    elif rel < 0:
        c.eflags |= F_CF
    return next_insn(c, i)

# ---- moves ---------------------------------------------------------------------

cdef int h_sse_load(CPU* c, Insn* i) noexcept nogil:
    """MOVAPS/MOVAPD (sub 16: aligned) and MOVUPS/MOVUPD (sub 0)
    xmm1, xmm2/m128."""
    c.cur = i
    cdef Vec s
    if sse_ok(c) or xmm_src(c, i, 16, i.sub, &s):
        return RC_FAULT
    xreg(c, i.reg).q[0] = s.q[0]
    xreg(c, i.reg).q[1] = s.q[1]
    return next_insn(c, i)

cdef int h_sse_store(CPU* c, Insn* i) noexcept nogil:
    """MOVAPS/MOVAPD/MOVNTPS/MOVNTPD (sub 16) and MOVUPS/MOVUPD (sub 0)
    xmm2/m128, xmm1."""
    c.cur = i
    cdef Vec v
    if sse_ok(c):
        return RC_FAULT
    v = xreg(c, i.reg)[0]
    return ok_next(c, i, xmm_dst(c, i, 16, i.sub, &v))

cdef int h_movss_load(CPU* c, Insn* i) noexcept nogil:
    """MOVSS/MOVSD xmm1, xmm2/m (sub: 4 or 8): from a register the low lane
    only; from memory the lane, the rest of xmm1 zeroed."""
    c.cur = i
    cdef Vec s
    cdef Vec* d = xreg(c, i.reg)
    if sse_ok(c) or xmm_src(c, i, i.sub, 0, &s):
        return RC_FAULT
    if i.mod != 3:
        d.q[0] = 0
        d.q[1] = 0
    if i.sub == 4:
        d.d[0] = s.d[0]
    else:
        d.q[0] = s.q[0]
    return next_insn(c, i)

cdef int h_movss_store(CPU* c, Insn* i) noexcept nogil:
    """MOVSS/MOVSD xmm2/m, xmm1 (sub: 4 or 8)."""
    c.cur = i
    cdef Vec v
    if sse_ok(c):
        return RC_FAULT
    v = xreg(c, i.reg)[0]
    return ok_next(c, i, xmm_dst(c, i, i.sub, 0, &v))

cdef int h_movlps(CPU* c, Insn* i) noexcept nogil:
    """0F 12 / 66 0F 12 / 0F 16 / 66 0F 16 (sub: 0 low, 1 high half):
    MOVLPS/MOVLPD/MOVHPS/MOVHPD xmm, m64 load one half; register forms
    (NP only) MOVHLPS (low = source high) and MOVLHPS (high = source low)."""
    c.cur = i
    cdef Vec s
    cdef Vec* d = xreg(c, i.reg)
    if sse_ok(c) or xmm_src(c, i, 8, 0, &s):
        return RC_FAULT
    if i.mod == 3:
        d.q[i.sub] = s.q[1 - i.sub]
    else:
        d.q[i.sub] = s.q[0]
    return next_insn(c, i)

cdef int h_movlps_store(CPU* c, Insn* i) noexcept nogil:
    """MOVLPS/MOVLPD/MOVHPS/MOVHPD m64, xmm (sub: the half)."""
    c.cur = i
    cdef Vec v
    if sse_ok(c):
        return RC_FAULT
    v.q[0] = xreg(c, i.reg).q[i.sub]
    return ok_next(c, i, xmm_dst(c, i, 8, 0, &v))

cdef int h_movddup(CPU* c, Insn* i) noexcept nogil:
    """MOVDDUP xmm1, xmm2/m64 (no alignment)."""
    c.cur = i
    cdef Vec s
    cdef Vec* d = xreg(c, i.reg)
    if sse_ok(c) or xmm_src(c, i, 8, 0, &s):
        return RC_FAULT
    d.q[0] = s.q[0]
    d.q[1] = s.q[0]
    return next_insn(c, i)

cdef int h_movsldup(CPU* c, Insn* i) noexcept nogil:
    """MOVSLDUP (sub 0) / MOVSHDUP (sub 1) xmm1, xmm2/m128."""
    c.cur = i
    cdef Vec s
    cdef Vec* d = xreg(c, i.reg)
    cdef uint32_t k
    if sse_ok(c) or xmm_src(c, i, 16, 16, &s):
        return RC_FAULT
    for k in range(0, 4, 2):
        d.d[k] = s.d[k + i.sub]
        d.d[k + 1] = s.d[k + i.sub]
    return next_insn(c, i)

cdef int h_movmskps(CPU* c, Insn* i) noexcept nogil:
    """MOVMSKPS/MOVMSKPD r32/64, xmm (sub: 4 or 8 bytes a lane): the sign
    bits, zero-extended into the general register i.reg."""
    c.cur = i
    cdef Vec* s
    cdef uint64_t m = 0
    cdef uint32_t k
    if sse_ok(c):
        return RC_FAULT
    s = xreg(c, i.rm)
    if i.sub == 4:
        for k in range(4):
            m |= (s.d[k] >> 31) << k
    else:
        for k in range(2):
            m |= (s.q[k] >> 63) << k
    c.r[i.reg] = m
    return next_insn(c, i)

# ---- shuffles and unpacks --------------------------------------------------------

cdef int h_shufps(CPU* c, Insn* i) noexcept nogil:
    """SHUFPS (sub 0) / SHUFPD (sub 1) xmm1, xmm2/m128, imm8: the low half
    from the destination, the high half from the source."""
    c.cur = i
    cdef Vec s, r
    cdef Vec* d = xreg(c, i.reg)
    cdef uint32_t sel = <uint32_t>i.imm
    if fp_src(c, i, SH_PS, &s):
        return RC_FAULT
    if i.sub == 0:
        r.d[0] = d.d[sel & 3]
        r.d[1] = d.d[(sel >> 2) & 3]
        r.d[2] = s.d[(sel >> 4) & 3]
        r.d[3] = s.d[(sel >> 6) & 3]
    else:
        r.q[0] = d.q[sel & 1]
        r.q[1] = s.q[(sel >> 1) & 1]
    d.q[0] = r.q[0]
    d.q[1] = r.q[1]
    return next_insn(c, i)

cdef int h_unpck(CPU* c, Insn* i) noexcept nogil:
    """UNPCKLPS/UNPCKHPS (sub 0/1) and UNPCKLPD/UNPCKHPD (sub 2/3):
    interleave the low (high) lanes of destination and source."""
    c.cur = i
    cdef Vec s, r
    cdef Vec* d = xreg(c, i.reg)
    cdef uint32_t h = i.sub & 1
    if fp_src(c, i, SH_PS, &s):
        return RC_FAULT
    if i.sub < 2:
        r.d[0] = d.d[2 * h]
        r.d[1] = s.d[2 * h]
        r.d[2] = d.d[2 * h + 1]
        r.d[3] = s.d[2 * h + 1]
    else:
        r.q[0] = d.q[h]
        r.q[1] = s.q[h]
    d.q[0] = r.q[0]
    d.q[1] = r.q[1]
    return next_insn(c, i)

# ---- conversions -------------------------------------------------------------------

cdef enum:
    # h_cvt sub: what converts to what
    CV_PS2PD = 0        # 0F 5A         xmm, xmm/m64
    CV_PD2PS = 1        # 66 0F 5A      xmm, xmm/m128
    CV_SS2SD = 2        # F3 0F 5A      xmm, xmm/m32
    CV_SD2SS = 3        # F2 0F 5A      xmm, xmm/m64
    CV_DQ2PS = 4        # 0F 5B
    CV_PS2DQ = 5        # 66 0F 5B
    CV_TPS2DQ = 6       # F3 0F 5B
    CV_DQ2PD = 7        # F3 0F E6      xmm, xmm/m64
    CV_PD2DQ = 8        # F2 0F E6
    CV_TPD2DQ = 9       # 66 0F E6

cdef int h_cvt(CPU* c, Insn* i) noexcept nogil:
    """The xmm-to-xmm conversions between singles, doubles and int32s."""
    c.cur = i
    cdef Vec s, r
    cdef pv_fp f
    cdef uint32_t k, cv = i.sub, size = 16, align = 16
    if cv == CV_PS2PD or cv == CV_SD2SS or cv == CV_DQ2PD:
        size, align = 8, 0
    elif cv == CV_SS2SD:
        size, align = 4, 0
    if sse_ok(c) or xmm_src(c, i, size, align, &s):
        return RC_FAULT
    r = xreg(c, i.reg)[0]
    fp_begin(c, &f)
    if cv == CV_PS2PD:
        r.q[1] = pv_s_to_d(&f, s.d[1])
        r.q[0] = pv_s_to_d(&f, s.d[0])
    elif cv == CV_PD2PS:
        r.d[0] = pv_d_to_s(&f, s.q[0])
        r.d[1] = pv_d_to_s(&f, s.q[1])
        r.q[1] = 0
    elif cv == CV_SS2SD:
        r.q[0] = pv_s_to_d(&f, s.d[0])
    elif cv == CV_SD2SS:
        r.d[0] = pv_d_to_s(&f, s.q[0])
    elif cv == CV_DQ2PS:
        for k in range(4):
            r.d[k] = <uint32_t>pv_i_to_f(&f, <int32_t>s.d[k], 0)
    elif cv == CV_PS2DQ or cv == CV_TPS2DQ:
        for k in range(4):
            r.d[k] = <uint32_t>pv_d_to_i(&f, pv_s_widen(&f, s.d[k]), 32, cv == CV_TPS2DQ)
    elif cv == CV_DQ2PD:
        r.q[1] = pv_i_to_f(&f, <int32_t>s.d[1], 1)
        r.q[0] = pv_i_to_f(&f, <int32_t>s.d[0], 1)
    else:
        r.d[0] = <uint32_t>pv_d_to_i(&f, s.q[0], 32, cv == CV_TPD2DQ)
        r.d[1] = <uint32_t>pv_d_to_i(&f, s.q[1], 32, cv == CV_TPD2DQ)
        r.q[1] = 0
    if fp_commit(c, &f):
        return RC_FAULT
    xreg(c, i.reg)[0] = r
    return next_insn(c, i)

cdef int h_cvtsi2s(CPU* c, Insn* i) noexcept nogil:
    """CVTSI2SS/CVTSI2SD xmm, r/m32 (r/m64 with REX.W) (sub: 0 SS, 1 SD)."""
    c.cur = i
    cdef uint64_t v
    cdef pv_fp f
    cdef uint32_t n = 8 if i.rex & 8 else 4
    cdef int64_t x
    cdef uint32_t rs
    cdef uint64_t rd_
    if sse_ok(c) or rm_read(c, i, n, &v):
        return RC_FAULT
    x = <int64_t>v if n == 8 else <int64_t><int32_t>v
    fp_begin(c, &f)
    if i.sub == 0:
        rs = <uint32_t>pv_i_to_f(&f, x, 0)
    else:
        rd_ = pv_i_to_f(&f, x, 1)
    if fp_commit(c, &f):
        return RC_FAULT
    if i.sub == 0:
        xreg(c, i.reg).d[0] = rs
    else:
        xreg(c, i.reg).q[0] = rd_
    return next_insn(c, i)

cdef int h_cvts2si(CPU* c, Insn* i) noexcept nogil:
    """CVTSS2SI/CVTTSS2SI/CVTSD2SI/CVTTSD2SI r32/64, xmm/m (sub: bit 0
    double, bit 1 truncating); REX.W selects a 64-bit result."""
    c.cur = i
    cdef Vec s
    cdef pv_fp f
    cdef bint dbl = i.sub & 1
    cdef uint32_t bits = 64 if i.rex & 8 else 32
    cdef int64_t r
    if sse_ok(c) or xmm_src(c, i, 8 if dbl else 4, 0, &s):
        return RC_FAULT
    fp_begin(c, &f)
    r = pv_d_to_i(&f, s.q[0] if dbl else pv_s_widen(&f, s.d[0]), bits, (i.sub >> 1) & 1)
    if fp_commit(c, &f):
        return RC_FAULT
    c.r[i.reg] = <uint64_t>r if bits == 64 else (<uint64_t>r & 0xFFFFFFFFULL)
    return next_insn(c, i)

cdef int h_cvtpi2p(CPU* c, Insn* i) noexcept nogil:
    """CVTPI2PS (sub 0) / CVTPI2PD (sub 1) xmm, mm/m64: two int32s.  An
    mm register source switches the x87 unit to MMX mode (a memory source
    does not, on the host CPU, for CVTPI2PS either)."""
    c.cur = i
    cdef uint64_t v
    cdef pv_fp f
    cdef Vec r
    if (sse_x87_ok(c) if i.mod == 3 else sse_ok(c)) or mm_src(c, i, 8, &v):
        return RC_FAULT
    if i.mod == 3:
        mmx_enter(c)            # before a SIMD exception, as the host CPU
    r = xreg(c, i.reg)[0]
    fp_begin(c, &f)
    if i.sub == 0:
        r.d[0] = <uint32_t>pv_i_to_f(&f, <int32_t>v, 0)
        r.d[1] = <uint32_t>pv_i_to_f(&f, <int32_t>(v >> 32), 0)
    else:
        r.q[0] = pv_i_to_f(&f, <int32_t>v, 1)
        r.q[1] = pv_i_to_f(&f, <int32_t>(v >> 32), 1)
    if fp_commit(c, &f):
        return RC_FAULT
    xreg(c, i.reg)[0] = r
    return next_insn(c, i)

cdef int h_cvtp2pi(CPU* c, Insn* i) noexcept nogil:
    """CVTPS2PI/CVTTPS2PI mm, xmm/m64 and CVTPD2PI/CVTTPD2PI mm, xmm/m128
    (sub: bit 0 double, bit 1 truncating): two int32s into mm[reg]."""
    c.cur = i
    cdef Vec s
    cdef pv_fp f
    cdef bint dbl = i.sub & 1, trunc = (i.sub >> 1) & 1
    cdef int64_t lo, hi
    if sse_x87_ok(c) or xmm_src(c, i, 16 if dbl else 8, 16 if dbl else 0, &s):
        return RC_FAULT
    mmx_enter(c)                # before a SIMD exception, as the host CPU
    fp_begin(c, &f)
    if dbl:
        lo = pv_d_to_i(&f, s.q[0], 32, trunc)
        hi = pv_d_to_i(&f, s.q[1], 32, trunc)
    else:
        lo = pv_d_to_i(&f, pv_s_widen(&f, s.d[0]), 32, trunc)
        hi = pv_d_to_i(&f, pv_s_widen(&f, s.d[1]), 32, trunc)
    if fp_commit(c, &f):
        return RC_FAULT
    mm_set(c, i.reg, (<uint64_t>lo & 0xFFFFFFFFULL) | ((<uint64_t>hi & 0xFFFFFFFFULL) << 32))
    return next_insn(c, i)

# ---- SSE4.1 ------------------------------------------------------------------------

cdef int h_round(CPU* c, Insn* i) noexcept nogil:
    """ROUNDPS/PD/SS/SD xmm1, xmm2/m, imm8 (sub: the shape): imm8[1:0] the
    rounding mode unless imm8[2] (then MXCSR.RC); imm8[3] suppresses PE."""
    c.cur = i
    cdef Vec s, r
    cdef pv_fp f
    cdef uint32_t k, shape = i.sub
    cdef uint32_t rc = ((c.fpu.mxcsr >> MX_RC_SHIFT) & 3) if i.imm & 4 else (i.imm & 3)
    cdef int no_pe = (i.imm >> 3) & 1
    if fp_src(c, i, shape, &s):
        return RC_FAULT
    pv_fp_begin(&f, c.fpu.mxcsr, rc)
    if shape == SH_PS or shape == SH_SS:
        for k in range(4 if shape == SH_PS else 1):
            r.d[k] = pv_s_round(&f, s.d[k], no_pe)
    else:
        for k in range(2 if shape == SH_PD else 1):
            r.q[k] = pv_d_round(&f, s.q[k], no_pe)
    return fp_write(c, i, &f, shape, &r)

cdef int h_blend(CPU* c, Insn* i) noexcept nogil:
    """BLENDPS/BLENDPD xmm1, xmm2/m128, imm8 (sub 0/1) and BLENDVPS/BLENDVPD
    xmm1, xmm2/m128, <XMM0> (sub 2/3): lane k from the source where the
    immediate's bit k (the sign of XMM0's lane k) is set."""
    c.cur = i
    cdef Vec s
    cdef Vec* d = xreg(c, i.reg)
    cdef Vec* x0 = xreg(c, 0)
    cdef uint32_t k
    cdef bint pick
    if fp_src(c, i, SH_PS, &s):
        return RC_FAULT
    if i.sub & 1 == 0:
        for k in range(4):
            pick = (x0.d[k] >> 31) if i.sub & 2 else ((i.imm >> k) & 1)
            if pick:
                d.d[k] = s.d[k]
    else:
        for k in range(2):
            pick = (x0.q[k] >> 63) if i.sub & 2 else ((i.imm >> k) & 1)
            if pick:
                d.q[k] = s.q[k]
    return next_insn(c, i)

cdef inline bint dp_products_fault(CPU* c, pv_fp* f) noexcept nogil:
    """An unmasked exception among DPPS/DPPD's products ends the instruction
    there (the host CPU reports no flags of the sums then)."""
    return ((f.pre | f.post) & ~(c.fpu.mxcsr >> MX_MASK_SHIFT) & MX_FLAGS) != 0

cdef inline void dp_products_done(pv_fp* f) noexcept nogil:
    """The products' flags (all masked, or dp_products_fault ended it) stay
    in MXCSR whatever the sums raise: counted with the pre-computation ones,
    so an unmasked exception of the sums still reports them (the host CPU
    keeps the products' PE when a sum's denormal operand faults)."""
    f.pre |= f.post
    f.post = 0

cdef int h_dpps(CPU* c, Insn* i) noexcept nogil:
    """DPPS (sub 0) / DPPD (sub 1) xmm1, xmm2/m128, imm8: the products of
    the lanes imm8[7:4] selects (others +0), summed pairwise ((0+1)+(2+3)),
    each step rounded (a denormal product is a denormal operand of the sum:
    DE); the sum goes to the lanes imm8[3:0] selects, +0 to the others."""
    c.cur = i
    cdef Vec s, r
    cdef pv_fp f
    cdef Vec* a = xreg(c, i.reg)
    cdef uint32_t k, p[4]
    cdef uint64_t q[2], sum64
    cdef uint32_t sum32
    if fp_src(c, i, SH_PS, &s):
        return RC_FAULT
    fp_begin(c, &f)
    if i.sub == 0:
        for k in range(4):
            p[k] = pv_s_arith(&f, FOP_MUL, a.d[k], s.d[k]) if (i.imm >> (4 + k)) & 1 else 0
        if dp_products_fault(c, &f):
            return fp_commit(c, &f)
        dp_products_done(&f)
        sum32 = pv_s_arith(&f, FOP_ADD, pv_s_arith(&f, FOP_ADD, p[0], p[1]),
                           pv_s_arith(&f, FOP_ADD, p[2], p[3]))
        for k in range(4):
            r.d[k] = sum32 if (i.imm >> k) & 1 else 0
    else:
        for k in range(2):
            q[k] = pv_d_arith(&f, FOP_MUL, a.q[k], s.q[k]) if (i.imm >> (4 + k)) & 1 else 0
        if dp_products_fault(c, &f):
            return fp_commit(c, &f)
        dp_products_done(&f)
        sum64 = pv_d_arith(&f, FOP_ADD, q[0], q[1])
        for k in range(2):
            r.q[k] = sum64 if (i.imm >> k) & 1 else 0
    return fp_write(c, i, &f, SH_PS, &r)

cdef int h_insertps(CPU* c, Insn* i) noexcept nogil:
    """INSERTPS xmm1, xmm2/m32, imm8: a single (register: lane imm8[7:6];
    memory: the m32) into lane imm8[5:4], then lanes of imm8[3:0] zeroed."""
    c.cur = i
    cdef Vec s
    cdef Vec* d = xreg(c, i.reg)
    cdef uint32_t k, v
    if sse_ok(c) or xmm_src(c, i, 4, 0, &s):
        return RC_FAULT
    v = s.d[(i.imm >> 6) & 3] if i.mod == 3 else s.d[0]
    d.d[(i.imm >> 4) & 3] = v
    for k in range(4):
        if (i.imm >> k) & 1:
            d.d[k] = 0
    return next_insn(c, i)

cdef int h_extractps(CPU* c, Insn* i) noexcept nogil:
    """EXTRACTPS r/m32, xmm, imm8: lane imm8[1:0] (a register destination
    is zero-extended to 64 bits in 64-bit mode)."""
    c.cur = i
    cdef uint32_t v
    if sse_ok(c):
        return RC_FAULT
    v = xreg(c, i.reg).d[i.imm & 3]
    if i.mod == 3:
        c.r[i.rm] = v
        return next_insn(c, i)
    return ok_next(c, i, wr(c, mem_la(c, i), 4, v))
