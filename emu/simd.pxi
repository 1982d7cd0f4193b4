# SIMD plumbing shared by the MMX, SSE (integer and floating point) and
# state-saving handlers: the checks every instruction makes before it does
# anything (CR0.EM/TS, CR4.OSFXSR), xmm and mm operands (register or memory,
# with the alignment check of the aligned forms), MMX aliasing onto the x87
# registers, MXCSR and SIMD exception delivery.
#
# Operand conventions (decode.pxi fills Insn): i.reg (with REX.R) is the
# xmm register of ModRM.reg, i.rm (with REX.B) the xmm register of ModRM.rm
# when i.mod == 3; MMX registers ignore REX (reg & 7, rm & 7).  66, F2 and F3
# are mandatory prefixes for these opcodes, chosen by the opcode table; the
# handlers never look at i.osz except where REX.W selects 64-bit integers.

cdef enum:
    CR0_MP = 0x2
    CR0_EM = 0x4
    CR0_NE = 0x20
    CR4_OSFXSR = 0x200
    CR4_OSXMMEXCPT = 0x400
    CR4_OSXSAVE = 0x40000
    FSW_ES = 0x80               # x87 status: an unmasked exception is pending
    MXCSR_MASK = 0xFFFF         # the MXCSR bits this CPU implements (DAZ included)
    MXCSR_RESET = 0x1F80
    # MXCSR fields
    MX_IE = 0x1
    MX_DE = 0x2
    MX_ZE = 0x4
    MX_OE = 0x8
    MX_UE = 0x10
    MX_PE = 0x20
    MX_DAZ = 0x40
    MX_FLAGS = 0x3F
    MX_MASK_SHIFT = 7           # the exception masks are bits 7-12, flags << 7
    MX_RC_SHIFT = 13
    MX_FTZ = 0x8000

# --- the checks before any SIMD instruction -----------------------------

cdef inline int sse_ok(CPU* c) noexcept nogil:
    """SSE and later (and FXSAVE's siblings' users): CR0.EM or CR4.OSFXSR
    clear -> #UD, then CR0.TS -> #NM.  0 or RC_FAULT."""
    if (c.cr0 & CR0_EM) or not (c.cr4 & CR4_OSFXSR):
        return fault(c, 6, 0, 0)
    if c.cr0 & CR0_TS:
        return fault(c, 7, 0, 0)
    return 0

cdef inline int mmx_check(CPU* c) noexcept nogil:
    """MMX instructions: CR0.EM -> #UD (SDM Vol. 1 table 'Effects of EM, MP
    and TS on MMX instructions'), CR0.TS -> #NM, then a pending unmasked x87
    exception -> #MF.  The x87 unit enters MMX mode (mmx_enter, or mm_set)
    when the instruction completes: one that faults on its memory operand
    leaves the x87 state alone, as the host CPU does."""
    if c.cr0 & CR0_EM:
        return fault(c, 6, 0, 0)
    if c.cr0 & CR0_TS:
        return fault(c, 7, 0, 0)
    if c.fpu.fsw & FSW_ES:
        return fault(c, 16, 0, 0)
    return 0

cdef inline int mmx_ok(CPU* c) noexcept nogil:
    """mmx_check, then MMX mode at once (instructions that cannot fault
    after their checks): TOP = 0 and every register tagged valid, even when
    the instruction only reads."""
    if mmx_check(c):
        return RC_FAULT
    mmx_enter(c)
    return 0

cdef inline int sse_x87_ok(CPU* c) noexcept nogil:
    """An SSE instruction with an MMX register operand: the SSE checks, then
    a pending x87 exception -> #MF; the caller enters MMX mode (mmx_enter)
    once its operands are read (a faulting memory operand leaves the x87
    state alone, as the host CPU does)."""
    if sse_ok(c):
        return RC_FAULT
    if c.fpu.fsw & FSW_ES:
        return fault(c, 16, 0, 0)
    return 0

cdef inline int sse_mmx_ok(CPU* c) noexcept nogil:
    """sse_x87_ok, then MMX mode at once (for instructions whose operands
    cannot fault: MOVQ2DQ, MOVDQ2Q)."""
    if sse_x87_ok(c):
        return RC_FAULT
    mmx_enter(c)
    return 0

cdef inline void mmx_enter(CPU* c) noexcept nogil:
    """The x87 unit enters MMX mode: TOP = 0, every register valid."""
    c.fpu.top = 0
    c.fpu.ftw = 0

cdef inline bint cr4_simd_reserved(uint64_t v) noexcept nogil:
    """MOV to CR4 sets OSFXSR, OSXMMEXCPT or OSXSAVE although CPUID does not
    report FXSR, SSE or XSAVE (#GP)."""
    return (((v & CR4_OSFXSR) and not (CPUID_1_EDX & (1 << 24)))
            or ((v & CR4_OSXMMEXCPT) and not (CPUID_1_EDX & (1 << 25)))
            or ((v & CR4_OSXSAVE) and not (CPUID_1_ECX & (1 << 26))))

# --- MMX registers: mmN is the significand of physical x87 register N -----

cdef inline uint64_t mm_get(CPU* c, uint32_t n) noexcept nogil:
    return c.fpu.st[n & 7].sig

cdef inline void mm_set(CPU* c, uint32_t n, uint64_t v) noexcept nogil:
    """An MMX write: the significand takes the value, sign and exponent
    become all ones (a NaN to the x87), TOP = 0 and all tags valid."""
    c.fpu.st[n & 7].sig = v
    c.fpu.st[n & 7].se = 0xFFFF
    c.fpu.top = 0
    c.fpu.ftw = 0

cdef int h_emms(CPU* c, Insn* i) noexcept nogil:
    """EMMS: every x87 register becomes empty (MMX checks first)."""
    c.cur = i
    if mmx_ok(c):
        return RC_FAULT
    c.fpu.ftw = 0xFFFF
    return next_insn(c, i)

# --- memory operands ------------------------------------------------------

cdef inline int simd_la(CPU* c, Insn* i, uint32_t align, uint64_t* la) noexcept nogil:
    """Linear address of the memory operand; align (16 for MOVAPS and the
    legacy-SSE m128 arithmetic forms, 0 for none) must divide it, else #GP(0)."""
    la[0] = mem_la(c, i)
    if align and (la[0] & (align - 1)):
        return fault(c, 13, 1, 0)
    return 0

cdef inline int vec_rd(CPU* c, uint64_t la, uint32_t size, Vec* v) noexcept nogil:
    """Load `size` (4, 8 or 16) bytes at la into the low bytes of v (its other
    bytes are left as they were)."""
    cdef uint64_t lo, hi
    if size == 16:              # (a non-canonical last byte faults before the first page)
        if check_span(c, la, 16) or rd(c, la, 8, &lo) or rd(c, (la + 8) & c.lamask, 8, &hi):
            return RC_FAULT
        v.q[0] = lo
        v.q[1] = hi
        return 0
    if rd(c, la, size, &lo):
        return RC_FAULT
    if size == 8:
        v.q[0] = lo
    elif size == 4:
        v.d[0] = <uint32_t>lo
    else:
        v.w[0] = <uint16_t>lo
    return 0

cdef inline int vec_wr(CPU* c, uint64_t la, uint32_t size, Vec* v) noexcept nogil:
    """Store the low `size` (4, 8 or 16) bytes of v at la; a fault in any
    byte leaves memory unchanged."""
    if size == 16:
        if check_wr(c, la, 16):
            return RC_FAULT
        if wr(c, la, 8, v.q[0]):
            return RC_FAULT
        return wr(c, (la + 8) & c.lamask, 8, v.q[1])
    if size == 8:
        return wr(c, la, 8, v.q[0])
    if size == 4:
        return wr(c, la, 4, v.d[0])
    return wr(c, la, 2, v.w[0])

# --- xmm operands ---------------------------------------------------------

cdef inline Vec* xreg(CPU* c, uint32_t n) noexcept nogil:
    return &c.fpu.xmm[n & 15]

cdef inline int xmm_src(CPU* c, Insn* i, uint32_t size, uint32_t align, Vec* out) noexcept nogil:
    """The r/m source: the whole xmm register for mod == 3, else `size`
    bytes from memory into out's low bytes (the rest zero).  0 or RC_FAULT."""
    cdef uint64_t la
    if i.mod == 3:
        out[0] = c.fpu.xmm[i.rm & 15]
        return 0
    if simd_la(c, i, align, &la):
        return RC_FAULT
    out.q[0] = 0
    out.q[1] = 0
    return vec_rd(c, la, size, out)

cdef inline int xmm_dst(CPU* c, Insn* i, uint32_t size, uint32_t align, Vec* v) noexcept nogil:
    """Write the r/m destination: the low `size` bytes of xmm[rm] for
    mod == 3 (the others kept), else `size` bytes of memory."""
    cdef uint64_t la
    cdef Vec* d
    if i.mod == 3:
        d = &c.fpu.xmm[i.rm & 15]
        if size == 16:
            d.q[0] = v.q[0]
            d.q[1] = v.q[1]
        elif size == 8:
            d.q[0] = v.q[0]
        elif size == 4:
            d.d[0] = v.d[0]
        return 0
    if simd_la(c, i, align, &la):
        return RC_FAULT
    return vec_wr(c, la, size, v)

# --- mm operands ----------------------------------------------------------

cdef inline int mm_src(CPU* c, Insn* i, uint32_t size, uint64_t* out) noexcept nogil:
    """The r/m source of an MMX instruction: mm[rm & 7], or `size` (4 or 8)
    bytes of memory, zero-extended."""
    if i.mod == 3:
        out[0] = mm_get(c, i.rm)
        return 0
    return rd(c, mem_la(c, i), size, out)

cdef inline int mm_dst(CPU* c, Insn* i, uint32_t size, uint64_t v) noexcept nogil:
    """Write the r/m destination of an MMX instruction: mm[rm & 7] (64 bits),
    or `size` bytes of memory."""
    if i.mod == 3:
        mm_set(c, i.rm, v)
        return 0
    return wr(c, mem_la(c, i), size, v)

# --- MXCSR and SIMD floating-point exceptions ------------------------------

cdef inline int simd_fp_fault(CPU* c) noexcept nogil:
    """An unmasked SIMD floating-point exception: #XM with CR4.OSXMMEXCPT,
    #UD without."""
    if c.cr4 & CR4_OSXMMEXCPT:
        return fault(c, 19, 0, 0)
    return fault(c, 6, 0, 0)

cdef int h_ldmxcsr(CPU* c, Insn* i) noexcept nogil:
    """LDMXCSR m32 (0F AE /2): reserved bits set -> #GP(0)."""
    c.cur = i
    cdef uint64_t v
    if sse_ok(c) or rd(c, mem_la(c, i), 4, &v):
        return RC_FAULT
    if v & ~<uint64_t>MXCSR_MASK:
        return fault(c, 13, 1, 0)
    c.fpu.mxcsr = <uint32_t>v
    return next_insn(c, i)

cdef int h_stmxcsr(CPU* c, Insn* i) noexcept nogil:
    """STMXCSR m32 (0F AE /3)."""
    c.cur = i
    if sse_ok(c):
        return RC_FAULT
    if wr(c, mem_la(c, i), 4, c.fpu.mxcsr):
        return RC_FAULT
    return next_insn(c, i)
