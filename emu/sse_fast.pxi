# Specialized SSE handlers for the common forms of compiled floating-point
# code: ADD SUB MUL DIV SQRT in PS PD SS SD and the MOVSS/MOVSD, MOVAPS/
# MOVUPS and MOVDDUP moves, each in a register and a memory form, with the
# operation and shape as constants; the register forms of CVTSD2SS,
# CVTSS2SD, CVTSI2SS/SD and PXOR/XORPS/XORPD; PCMPISTRI/PCMPISTRM on bytes.
# A variant does only the common case:
# SSE usable (CR0.EM and CR0.TS clear, CR4.OSFXSR set), a memory operand
# aligned as required and in one page the TLB holds, and for the arithmetic
# MXCSR's fast path (sse_fp.h pv_fast_ok: every exception masked, PE set,
# round to nearest) with zero or normal operands and a normal result.
# Anything else (a fault, #XM, a denormal, NaN or infinity, a miss, a page
# crossing) hands the whole instruction, not yet begun, to its generic
# handler.  sse_specialize picks the variant when a block is decoded.

cdef extern from "sse_fp.h":
    bint pv_fast_ok(uint32_t mxcsr) nogil
    bint pv_fast_arith(int op, int shape, void* d, const void* s) nogil
    bint pv_fast_cvt(int to_single, void* d, const void* s) nogil
    void pv_fast_i2f(int dbl, int64_t x, void* d) nogil

cdef inline bint sse_usable(CPU* c) noexcept nogil:
    """sse_ok would pass: no #UD, no #NM."""
    return (c.cr0 & (CR0_EM | CR0_TS)) == 0 and (c.cr4 & CR4_OSFXSR) != 0

cdef inline uint8_t* fast_mem(CPU* c, Insn* i, TlbEntry* tlb, uint32_t size,
                              uint32_t align) noexcept nogil:
    """The host address of the memory operand when it is aligned (align 16
    or 0) and its page is in `tlb`, else NULL."""
    cdef uint64_t la = mem_la(c, i)
    if align and (la & (align - 1)):
        return NULL
    return tlb_host(tlb, la, size)

cdef inline int arith_fast(CPU* c, Insn* i, uint32_t op, uint32_t shape, bint mem,
                           handler_t slow) noexcept nogil:
    """xmm[reg] = xmm[reg] op source, lane by lane (h_sse_arith)."""
    cdef const void* s
    if not sse_usable(c) or not pv_fast_ok(c.fpu.mxcsr):
        return slow(c, i)
    if mem:
        s = fast_mem(c, i, c.tlb_r, shape_size(shape), 16 if shape_packed(shape) else 0)
        if s == NULL:
            return slow(c, i)
    else:
        s = xreg(c, i.rm)
    if not pv_fast_arith(op, shape, xreg(c, i.reg), s):
        return slow(c, i)
    return next_insn_reg(c, i)

cdef inline int movs_load_fast(CPU* c, Insn* i, uint32_t size, bint mem, handler_t slow) noexcept nogil:
    """MOVSS/MOVSD xmm, xmm/m (h_movss_load)."""
    cdef Vec* d = xreg(c, i.reg)
    cdef uint8_t* p
    cdef uint64_t v = 0
    if not sse_usable(c):
        return slow(c, i)
    if not mem:
        if size == 4:
            d.d[0] = xreg(c, i.rm).d[0]
        else:
            d.q[0] = xreg(c, i.rm).q[0]
        return next_insn_reg(c, i)
    p = fast_mem(c, i, c.tlb_r, size, 0)
    if p == NULL:
        return slow(c, i)
    memcpy(&v, p, size)
    d.q[0] = v
    d.q[1] = 0
    return next_insn_reg(c, i)

cdef inline int movs_store_fast(CPU* c, Insn* i, uint32_t size, bint mem, handler_t slow) noexcept nogil:
    """MOVSS/MOVSD xmm/m, xmm (h_movss_store)."""
    cdef Vec* s = xreg(c, i.reg)
    cdef uint8_t* p
    if not sse_usable(c):
        return slow(c, i)
    if not mem:
        if size == 4:
            xreg(c, i.rm).d[0] = s.d[0]
        else:
            xreg(c, i.rm).q[0] = s.q[0]
        return next_insn_reg(c, i)
    p = fast_mem(c, i, c.tlb_w, size, 0)
    if p == NULL:
        return slow(c, i)
    memcpy(p, s, size)
    return next_insn_reg(c, i)

cdef inline int mov128_fast(CPU* c, Insn* i, bint store, uint32_t align, bint mem,
                            handler_t slow) noexcept nogil:
    """MOVAPS/MOVAPD (align 16), MOVUPS/MOVUPD (align 0): a load (h_sse_load)
    or a store (h_sse_store) of all 16 bytes."""
    cdef uint8_t* p
    cdef Vec* s
    cdef Vec* d
    if not sse_usable(c):
        return slow(c, i)
    if not mem:
        s = xreg(c, i.reg if store else i.rm)
        d = xreg(c, i.rm if store else i.reg)
        d.q[0] = s.q[0]            # (s may be d)
        d.q[1] = s.q[1]
        return next_insn_reg(c, i)
    if store:
        p = fast_mem(c, i, c.tlb_w, 16, align)
    else:
        p = fast_mem(c, i, c.tlb_r, 16, align)
    if p == NULL:
        return slow(c, i)
    if store:
        memcpy(p, xreg(c, i.reg), 16)
    else:
        memcpy(xreg(c, i.reg), p, 16)
    return next_insn_reg(c, i)

cdef inline int movddup_fast(CPU* c, Insn* i, bint mem, handler_t slow) noexcept nogil:
    """MOVDDUP xmm, xmm/m64 (h_movddup)."""
    cdef Vec* d = xreg(c, i.reg)
    cdef uint8_t* p
    cdef uint64_t v
    if not sse_usable(c):
        return slow(c, i)
    if mem:
        p = fast_mem(c, i, c.tlb_r, 8, 0)
        if p == NULL:
            return slow(c, i)
        memcpy(&v, p, 8)
    else:
        v = xreg(c, i.rm).q[0]
    d.q[0] = v
    d.q[1] = v
    return next_insn_reg(c, i)

cdef inline int cvt_fast(CPU* c, Insn* i, bint to_single, handler_t slow) noexcept nogil:
    """CVTSD2SS / CVTSS2SD xmm, xmm (h_cvt)."""
    if not sse_usable(c) or (to_single and not pv_fast_ok(c.fpu.mxcsr)):
        return slow(c, i)
    if not pv_fast_cvt(to_single, xreg(c, i.reg), xreg(c, i.rm)):
        return slow(c, i)
    return next_insn_reg(c, i)

cdef inline int cvtsi2s_fast(CPU* c, Insn* i, bint dbl, uint32_t osz, handler_t slow) noexcept nogil:
    """CVTSI2SS/SD xmm, r32/r64 (h_cvtsi2s): an int32 to a double needs no
    MXCSR test (exact); the others the fast path's."""
    cdef uint64_t v = get_r(c, i.rm, osz)
    if not sse_usable(c) or ((osz == 8 or not dbl) and not pv_fast_ok(c.fpu.mxcsr)):
        return slow(c, i)
    pv_fast_i2f(dbl, <int64_t>v if osz == 8 else <int64_t><int32_t>v, xreg(c, i.reg))
    return next_insn_reg(c, i)

cdef inline int xor128_fast(CPU* c, Insn* i, handler_t slow) noexcept nogil:
    """PXOR / XORPS / XORPD xmm, xmm (h_pxor, h_sse_logic)."""
    cdef Vec* d = xreg(c, i.reg)
    cdef Vec* s = xreg(c, i.rm)
    if not sse_usable(c):
        return slow(c, i)
    d.q[0] ^= s.q[0]
    d.q[1] ^= s.q[1]
    return next_insn_reg(c, i)

cdef inline int pcmpistr_fast(CPU* c, Insn* i, bint index, bint mem, handler_t slow) noexcept nogil:
    """PCMPISTRI / PCMPISTRM on byte elements (imm8 bit 0 clear: the string
    code's, h_pcmpistri, h_pcmpistrm; no alignment needed): the source
    loaded at once from one page, the lengths and IntRes1 word-parallel."""
    cdef Vec s
    cdef const Vec* b
    cdef const Vec* a
    cdef uint8_t* p
    cdef uint32_t imm = <uint32_t>i.imm, la, lb, fl, res
    if not sse_usable(c):
        return slow(c, i)
    if mem:
        p = fast_mem(c, i, c.tlb_r, 16, 0)
        if p == NULL:
            return slow(c, i)
        memcpy(&s, p, 16)
        b = &s
    else:
        b = xreg(c, i.rm)
    a = xreg(c, i.reg)
    la = str_implicit_len(a, imm)
    lb = str_implicit_len(b, imm)
    res = pcmpstr_finish(pcmpstr_bytes(a, b, la, lb, imm), la, lb, 16, imm, &fl)
    pcmpstr_result(c, res, fl, imm, index)
    return next_insn_reg(c, i)

# The variants: v_sse_OP_SHAPE_FORM (FORM r: register, m: memory).
cdef int v_sse_add_ps_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_ADD, SH_PS, False, h_sse_arith)
cdef int v_sse_add_ps_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_ADD, SH_PS, True, h_sse_arith)
cdef int v_sse_add_pd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_ADD, SH_PD, False, h_sse_arith)
cdef int v_sse_add_pd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_ADD, SH_PD, True, h_sse_arith)
cdef int v_sse_add_ss_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_ADD, SH_SS, False, h_sse_arith)
cdef int v_sse_add_ss_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_ADD, SH_SS, True, h_sse_arith)
cdef int v_sse_add_sd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_ADD, SH_SD, False, h_sse_arith)
cdef int v_sse_add_sd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_ADD, SH_SD, True, h_sse_arith)
cdef int v_sse_sub_ps_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SUB, SH_PS, False, h_sse_arith)
cdef int v_sse_sub_ps_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SUB, SH_PS, True, h_sse_arith)
cdef int v_sse_sub_pd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SUB, SH_PD, False, h_sse_arith)
cdef int v_sse_sub_pd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SUB, SH_PD, True, h_sse_arith)
cdef int v_sse_sub_ss_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SUB, SH_SS, False, h_sse_arith)
cdef int v_sse_sub_ss_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SUB, SH_SS, True, h_sse_arith)
cdef int v_sse_sub_sd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SUB, SH_SD, False, h_sse_arith)
cdef int v_sse_sub_sd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SUB, SH_SD, True, h_sse_arith)
cdef int v_sse_mul_ps_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_MUL, SH_PS, False, h_sse_arith)
cdef int v_sse_mul_ps_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_MUL, SH_PS, True, h_sse_arith)
cdef int v_sse_mul_pd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_MUL, SH_PD, False, h_sse_arith)
cdef int v_sse_mul_pd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_MUL, SH_PD, True, h_sse_arith)
cdef int v_sse_mul_ss_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_MUL, SH_SS, False, h_sse_arith)
cdef int v_sse_mul_ss_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_MUL, SH_SS, True, h_sse_arith)
cdef int v_sse_mul_sd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_MUL, SH_SD, False, h_sse_arith)
cdef int v_sse_mul_sd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_MUL, SH_SD, True, h_sse_arith)
cdef int v_sse_div_ps_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_DIV, SH_PS, False, h_sse_arith)
cdef int v_sse_div_ps_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_DIV, SH_PS, True, h_sse_arith)
cdef int v_sse_div_pd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_DIV, SH_PD, False, h_sse_arith)
cdef int v_sse_div_pd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_DIV, SH_PD, True, h_sse_arith)
cdef int v_sse_div_ss_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_DIV, SH_SS, False, h_sse_arith)
cdef int v_sse_div_ss_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_DIV, SH_SS, True, h_sse_arith)
cdef int v_sse_div_sd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_DIV, SH_SD, False, h_sse_arith)
cdef int v_sse_div_sd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_DIV, SH_SD, True, h_sse_arith)
cdef int v_sse_sqrt_ps_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SQRT, SH_PS, False, h_sse_arith)
cdef int v_sse_sqrt_ps_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SQRT, SH_PS, True, h_sse_arith)
cdef int v_sse_sqrt_pd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SQRT, SH_PD, False, h_sse_arith)
cdef int v_sse_sqrt_pd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SQRT, SH_PD, True, h_sse_arith)
cdef int v_sse_sqrt_ss_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SQRT, SH_SS, False, h_sse_arith)
cdef int v_sse_sqrt_ss_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SQRT, SH_SS, True, h_sse_arith)
cdef int v_sse_sqrt_sd_r(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SQRT, SH_SD, False, h_sse_arith)
cdef int v_sse_sqrt_sd_m(CPU* c, Insn* i) noexcept nogil: return arith_fast(c, i, FOP_SQRT, SH_SD, True, h_sse_arith)
cdef int v_movss_load_r(CPU* c, Insn* i) noexcept nogil: return movs_load_fast(c, i, 4, False, h_movss_load)
cdef int v_movss_load_m(CPU* c, Insn* i) noexcept nogil: return movs_load_fast(c, i, 4, True, h_movss_load)
cdef int v_movsd_load_r(CPU* c, Insn* i) noexcept nogil: return movs_load_fast(c, i, 8, False, h_movss_load)
cdef int v_movsd_load_m(CPU* c, Insn* i) noexcept nogil: return movs_load_fast(c, i, 8, True, h_movss_load)
cdef int v_movss_store_r(CPU* c, Insn* i) noexcept nogil: return movs_store_fast(c, i, 4, False, h_movss_store)
cdef int v_movss_store_m(CPU* c, Insn* i) noexcept nogil: return movs_store_fast(c, i, 4, True, h_movss_store)
cdef int v_movsd_store_r(CPU* c, Insn* i) noexcept nogil: return movs_store_fast(c, i, 8, False, h_movss_store)
cdef int v_movsd_store_m(CPU* c, Insn* i) noexcept nogil: return movs_store_fast(c, i, 8, True, h_movss_store)
cdef int v_mov128_load_r(CPU* c, Insn* i) noexcept nogil: return mov128_fast(c, i, False, 0, False, h_sse_load)
cdef int v_movaps_load_m(CPU* c, Insn* i) noexcept nogil: return mov128_fast(c, i, False, 16, True, h_sse_load)
cdef int v_movups_load_m(CPU* c, Insn* i) noexcept nogil: return mov128_fast(c, i, False, 0, True, h_sse_load)
cdef int v_mov128_store_r(CPU* c, Insn* i) noexcept nogil: return mov128_fast(c, i, True, 0, False, h_sse_store)
cdef int v_movaps_store_m(CPU* c, Insn* i) noexcept nogil: return mov128_fast(c, i, True, 16, True, h_sse_store)
cdef int v_movups_store_m(CPU* c, Insn* i) noexcept nogil: return mov128_fast(c, i, True, 0, True, h_sse_store)
cdef int v_movddup_r(CPU* c, Insn* i) noexcept nogil: return movddup_fast(c, i, False, h_movddup)
cdef int v_movddup_m(CPU* c, Insn* i) noexcept nogil: return movddup_fast(c, i, True, h_movddup)

cdef int v_cvtsd2ss_r(CPU* c, Insn* i) noexcept nogil: return cvt_fast(c, i, True, h_cvt)
cdef int v_cvtss2sd_r(CPU* c, Insn* i) noexcept nogil: return cvt_fast(c, i, False, h_cvt)
cdef int v_cvtsi2ss_r4(CPU* c, Insn* i) noexcept nogil: return cvtsi2s_fast(c, i, False, 4, h_cvtsi2s)
cdef int v_cvtsi2ss_r8(CPU* c, Insn* i) noexcept nogil: return cvtsi2s_fast(c, i, False, 8, h_cvtsi2s)
cdef int v_cvtsi2sd_r4(CPU* c, Insn* i) noexcept nogil: return cvtsi2s_fast(c, i, True, 4, h_cvtsi2s)
cdef int v_cvtsi2sd_r8(CPU* c, Insn* i) noexcept nogil: return cvtsi2s_fast(c, i, True, 8, h_cvtsi2s)
cdef int v_pcmpistri_r(CPU* c, Insn* i) noexcept nogil: return pcmpistr_fast(c, i, True, False, h_pcmpistri)
cdef int v_pcmpistri_m(CPU* c, Insn* i) noexcept nogil: return pcmpistr_fast(c, i, True, True, h_pcmpistri)
cdef int v_pcmpistrm_r(CPU* c, Insn* i) noexcept nogil: return pcmpistr_fast(c, i, False, False, h_pcmpistrm)
cdef int v_pcmpistrm_m(CPU* c, Insn* i) noexcept nogil: return pcmpistr_fast(c, i, False, True, h_pcmpistrm)
cdef int v_pxor_r(CPU* c, Insn* i) noexcept nogil: return xor128_fast(c, i, h_pxor)
cdef int v_xorps_r(CPU* c, Insn* i) noexcept nogil: return xor128_fast(c, i, h_sse_logic)

cdef handler_t SSE_ARITH_FAST[5][4][2]    # [op][shape][memory form]

cdef void init_sse_fast() noexcept nogil:
    SSE_ARITH_FAST[FOP_ADD][SH_PS][0] = v_sse_add_ps_r
    SSE_ARITH_FAST[FOP_ADD][SH_PS][1] = v_sse_add_ps_m
    SSE_ARITH_FAST[FOP_ADD][SH_PD][0] = v_sse_add_pd_r
    SSE_ARITH_FAST[FOP_ADD][SH_PD][1] = v_sse_add_pd_m
    SSE_ARITH_FAST[FOP_ADD][SH_SS][0] = v_sse_add_ss_r
    SSE_ARITH_FAST[FOP_ADD][SH_SS][1] = v_sse_add_ss_m
    SSE_ARITH_FAST[FOP_ADD][SH_SD][0] = v_sse_add_sd_r
    SSE_ARITH_FAST[FOP_ADD][SH_SD][1] = v_sse_add_sd_m
    SSE_ARITH_FAST[FOP_SUB][SH_PS][0] = v_sse_sub_ps_r
    SSE_ARITH_FAST[FOP_SUB][SH_PS][1] = v_sse_sub_ps_m
    SSE_ARITH_FAST[FOP_SUB][SH_PD][0] = v_sse_sub_pd_r
    SSE_ARITH_FAST[FOP_SUB][SH_PD][1] = v_sse_sub_pd_m
    SSE_ARITH_FAST[FOP_SUB][SH_SS][0] = v_sse_sub_ss_r
    SSE_ARITH_FAST[FOP_SUB][SH_SS][1] = v_sse_sub_ss_m
    SSE_ARITH_FAST[FOP_SUB][SH_SD][0] = v_sse_sub_sd_r
    SSE_ARITH_FAST[FOP_SUB][SH_SD][1] = v_sse_sub_sd_m
    SSE_ARITH_FAST[FOP_MUL][SH_PS][0] = v_sse_mul_ps_r
    SSE_ARITH_FAST[FOP_MUL][SH_PS][1] = v_sse_mul_ps_m
    SSE_ARITH_FAST[FOP_MUL][SH_PD][0] = v_sse_mul_pd_r
    SSE_ARITH_FAST[FOP_MUL][SH_PD][1] = v_sse_mul_pd_m
    SSE_ARITH_FAST[FOP_MUL][SH_SS][0] = v_sse_mul_ss_r
    SSE_ARITH_FAST[FOP_MUL][SH_SS][1] = v_sse_mul_ss_m
    SSE_ARITH_FAST[FOP_MUL][SH_SD][0] = v_sse_mul_sd_r
    SSE_ARITH_FAST[FOP_MUL][SH_SD][1] = v_sse_mul_sd_m
    SSE_ARITH_FAST[FOP_DIV][SH_PS][0] = v_sse_div_ps_r
    SSE_ARITH_FAST[FOP_DIV][SH_PS][1] = v_sse_div_ps_m
    SSE_ARITH_FAST[FOP_DIV][SH_PD][0] = v_sse_div_pd_r
    SSE_ARITH_FAST[FOP_DIV][SH_PD][1] = v_sse_div_pd_m
    SSE_ARITH_FAST[FOP_DIV][SH_SS][0] = v_sse_div_ss_r
    SSE_ARITH_FAST[FOP_DIV][SH_SS][1] = v_sse_div_ss_m
    SSE_ARITH_FAST[FOP_DIV][SH_SD][0] = v_sse_div_sd_r
    SSE_ARITH_FAST[FOP_DIV][SH_SD][1] = v_sse_div_sd_m
    SSE_ARITH_FAST[FOP_SQRT][SH_PS][0] = v_sse_sqrt_ps_r
    SSE_ARITH_FAST[FOP_SQRT][SH_PS][1] = v_sse_sqrt_ps_m
    SSE_ARITH_FAST[FOP_SQRT][SH_PD][0] = v_sse_sqrt_pd_r
    SSE_ARITH_FAST[FOP_SQRT][SH_PD][1] = v_sse_sqrt_pd_m
    SSE_ARITH_FAST[FOP_SQRT][SH_SS][0] = v_sse_sqrt_ss_r
    SSE_ARITH_FAST[FOP_SQRT][SH_SS][1] = v_sse_sqrt_ss_m
    SSE_ARITH_FAST[FOP_SQRT][SH_SD][0] = v_sse_sqrt_sd_r
    SSE_ARITH_FAST[FOP_SQRT][SH_SD][1] = v_sse_sqrt_sd_m

cdef void sse_specialize(Insn* i) noexcept nogil:
    """Swap a generic SSE handler for its variant (see the top of the file)."""
    cdef bint mem = i.mod != 3
    cdef handler_t f = i.fn
    if f == h_sse_arith:
        if (i.sub & 15) <= FOP_SQRT:
            i.fn = SSE_ARITH_FAST[i.sub & 15][(i.sub >> 4) & 3][mem]
    elif f == h_movss_load:
        i.fn = (v_movss_load_m if mem else v_movss_load_r) if i.sub == 4 else \
               (v_movsd_load_m if mem else v_movsd_load_r)
    elif f == h_movss_store:
        i.fn = (v_movss_store_m if mem else v_movss_store_r) if i.sub == 4 else \
               (v_movsd_store_m if mem else v_movsd_store_r)
    elif f == h_sse_load:
        i.fn = (v_movaps_load_m if i.sub == 16 else v_movups_load_m) if mem else v_mov128_load_r
    elif f == h_sse_store:
        i.fn = (v_movaps_store_m if i.sub == 16 else v_movups_store_m) if mem else v_mov128_store_r
    elif f == h_movddup:
        i.fn = v_movddup_m if mem else v_movddup_r
    elif (f == h_pcmpistri or f == h_pcmpistrm) and not (i.imm & 1):
        if f == h_pcmpistri:
            i.fn = v_pcmpistri_m if mem else v_pcmpistri_r
        else:
            i.fn = v_pcmpistrm_m if mem else v_pcmpistrm_r
    elif mem:
        return                             # (the rest: register forms only)
    elif f == h_cvt and (i.sub == CV_SD2SS or i.sub == CV_SS2SD):
        i.fn = v_cvtsd2ss_r if i.sub == CV_SD2SS else v_cvtss2sd_r
    elif f == h_cvtsi2s:
        if i.rex & 8:
            i.fn = v_cvtsi2sd_r8 if i.sub else v_cvtsi2ss_r8
        else:
            i.fn = v_cvtsi2sd_r4 if i.sub else v_cvtsi2ss_r4
    elif f == h_pxor:
        i.fn = v_pxor_r
    elif f == h_sse_logic and i.sub == 3:
        i.fn = v_xorps_r
