# String instructions MOVS CMPS STOS LODS SCAS with REP/REPE/REPNE.  A REP
# instruction runs at most REP_CHUNK iterations per call and then asks to be
# run again (RC_AGAIN), so the run loop's budget and stop checks stay live
# during a long REP.  A fault mid-way leaves rSI/rDI/rCX at the iteration
# that faulted, as on hardware.

cdef enum:
    REP_CHUNK = 4096
    S_MOVS = 0
    S_CMPS = 1
    S_STOS = 2
    S_LODS = 3
    S_SCAS = 4

cdef inline int string_step(CPU* c, Insn* i, uint32_t kind, int64_t step) noexcept nogil:
    """One iteration; the source is seg:rSI (seg overridable), the
    destination ES:rDI."""
    cdef uint64_t am = i.amask, v, w
    cdef uint32_t osz = i.osz
    cdef uint64_t si = c.r[R_SI] & am, di = c.r[R_DI] & am
    if kind == S_MOVS:
        if rd(c, lin_of(c, i.seg, si), osz, &v) or wr(c, lin_of(c, S_ES, di), osz, v):
            return RC_FAULT
        set_areg(c, R_SI, am, si + step)
        set_areg(c, R_DI, am, di + step)
    elif kind == S_STOS:
        if wr(c, lin_of(c, S_ES, di), osz, c.r[R_AX]):
            return RC_FAULT
        set_areg(c, R_DI, am, di + step)
    elif kind == S_LODS:
        if rd(c, lin_of(c, i.seg, si), osz, &v):
            return RC_FAULT
        set_r(c, R_AX, osz, v)
        set_areg(c, R_SI, am, si + step)
    elif kind == S_CMPS:
        if rd(c, lin_of(c, i.seg, si), osz, &v) or rd(c, lin_of(c, S_ES, di), osz, &w):
            return RC_FAULT
        do_alu(c, A_CMP, v, w, osz * 8, True)
        set_areg(c, R_SI, am, si + step)
        set_areg(c, R_DI, am, di + step)
    else:
        if rd(c, lin_of(c, S_ES, di), osz, &w):
            return RC_FAULT
        do_alu(c, A_CMP, get_r(c, R_AX, osz), w, osz * 8, True)
        set_areg(c, R_DI, am, di + step)
    return RC_OK

cdef inline int string_op(CPU* c, Insn* i, uint32_t kind) noexcept nogil:
    cdef int64_t step = -<int64_t>i.osz if (c.eflags & F_DF) else <int64_t>i.osz
    cdef uint64_t am = i.amask, n
    cdef uint32_t k
    if i.rep == 0:
        return ok_next(c, i, string_step(c, i, kind, step))
    n = c.r[R_CX] & am
    for k in range(REP_CHUNK):
        if n == 0:
            return next_insn(c, i)
        if string_step(c, i, kind, step):
            return RC_FAULT
        mmio_element_done(c)
        n -= 1
        set_areg(c, R_CX, am, n)
        if c.dr_hit and n:
            return RC_AGAIN                    # a data breakpoint traps after this iteration
        if kind == S_CMPS or kind == S_SCAS:
            # REPE (F3) stops when ZF = 0, REPNE (F2) when ZF = 1.
            if get_zf(c) != (i.rep == 0xF3):
                return next_insn(c, i)
    return next_insn(c, i) if n == 0 else RC_AGAIN

cdef int h_movs(CPU* c, Insn* i) noexcept nogil: c.cur = i; return string_op(c, i, S_MOVS)
cdef int h_cmps(CPU* c, Insn* i) noexcept nogil: c.cur = i; return string_op(c, i, S_CMPS)
cdef int h_stos(CPU* c, Insn* i) noexcept nogil: c.cur = i; return string_op(c, i, S_STOS)
cdef int h_lods(CPU* c, Insn* i) noexcept nogil: c.cur = i; return string_op(c, i, S_LODS)
cdef int h_scas(CPU* c, Insn* i) noexcept nogil: c.cur = i; return string_op(c, i, S_SCAS)
