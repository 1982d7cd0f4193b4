# Saving and restoring the x87/SSE state: FXSAVE/FXRSTOR (the 32-bit format
# and the REX.W 64-bit format), XSAVE/XSAVEOPT/XSAVEC/XRSTOR for the x87 (0),
# SSE (1) and, on CPU models with PKU, PKRU (9) components, XGETBV/XSETBV,
# and the memory image both share (also what Machine.fpu_image/set_fpu_image
# and the fuzz oracles use).
#
# The legacy region (512 bytes): FCW 0, FSW 2, abridged FTW 4, FOP 6, FIP 8,
# FCS 12 | FDP 16, FDS 20 (32-bit format) or FIP 8, FDP 16 (64-bit format),
# MXCSR 24, MXCSR_MASK 28, ST(i) at 32 + 16 i, XMMi at 160 + 16 i.

cdef enum:
    XCR0_X87 = 1
    XCR0_SSE = 2
    XCR0_PKRU = 0x200
    XSAVE_SIZE = 576            # legacy region + header: x87 and SSE
    # PKRU's 8 bytes (PKRU, then 4 reserved): in the standard form at the
    # offset CPUID leaf 0xD sub-leaf 9 gives (Intel's and QEMU's, after the
    # AVX and AVX-512 components this CPU does not have); in the compacted
    # form right after the header, being the only extended component
    PKRU_OFFSET = 2688
    PKRU_SIZE = 8
    FX_X87 = 1                  # fx_store/fx_load: which parts
    FX_SSE = 2
    FX_MXCSR = 4

cdef inline uint8_t abridged_tags(CPU* c) noexcept nogil:
    cdef uint8_t t = 0
    cdef uint32_t k
    for k in range(8):
        if ((c.fpu.ftw >> (2 * k)) & 3) != 3:
            t |= <uint8_t>(1 << k)
    return t

cdef inline void put16(uint8_t* p, uint16_t v) noexcept nogil:
    memcpy(p, &v, 2)

cdef inline void put32(uint8_t* p, uint32_t v) noexcept nogil:
    memcpy(p, &v, 4)

cdef inline void put64(uint8_t* p, uint64_t v) noexcept nogil:
    memcpy(p, &v, 8)

cdef inline uint16_t get16(const uint8_t* p) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, p, 2)
    return v

cdef inline uint32_t get32(const uint8_t* p) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return v

cdef inline uint64_t get64(const uint8_t* p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v

cdef void fx_store(CPU* c, uint8_t* p, uint32_t parts, bint w64, uint32_t nxmm) noexcept nogil:
    """Write the chosen parts of the legacy region into p (512 bytes):
    FX_X87 bytes 0-23 and 32-159, FX_MXCSR bytes 24-31, FX_SSE the first
    nxmm XMM registers.  Other bytes are left alone."""
    cdef uint32_t k, phys
    if parts & FX_X87:
        put16(p, c.fpu.fcw)
        put16(p + 2, <uint16_t>((c.fpu.fsw & ~0x3800) | ((c.fpu.top & 7) << 11)))
        p[4] = abridged_tags(c)
        p[5] = 0
        put16(p + 6, c.fpu.fop)
        if w64:
            put64(p + 8, c.fpu.fip)
            put64(p + 16, c.fpu.fdp)
        else:
            put32(p + 8, <uint32_t>c.fpu.fip)
            put32(p + 12, c.fpu.fcs)
            put32(p + 16, <uint32_t>c.fpu.fdp)
            put32(p + 20, c.fpu.fds)
        for k in range(8):
            phys = (c.fpu.top + k) & 7
            memset(p + 32 + 16 * k, 0, 16)
            put64(p + 32 + 16 * k, c.fpu.st[phys].sig)
            put16(p + 40 + 16 * k, c.fpu.st[phys].se)
    if parts & FX_MXCSR:
        put32(p + 24, c.fpu.mxcsr)
        put32(p + 28, MXCSR_MASK)
    if parts & FX_SSE:
        for k in range(nxmm):
            memcpy(p + 160 + 16 * k, &c.fpu.xmm[k], 16)

cdef void fx_load(CPU* c, const uint8_t* p, uint32_t parts, bint w64, uint32_t nxmm) noexcept nogil:
    """Load the chosen parts from a legacy region (MXCSR already checked).
    The abridged tags become full tags from the registers' contents."""
    cdef uint32_t k, phys
    cdef uint16_t fsw
    cdef uint8_t t
    if parts & FX_X87:
        c.fpu.fcw = get16(p)
        fsw = get16(p + 2)
        c.fpu.top = (fsw >> 11) & 7
        c.fpu.fsw = fsw & ~0x3800
        t = p[4]
        c.fpu.fop = get16(p + 6) & 0x7FF
        if w64:
            c.fpu.fip = get64(p + 8)
            c.fpu.fdp = get64(p + 16)
            c.fpu.fcs = 0
            c.fpu.fds = 0
        else:
            c.fpu.fip = get32(p + 8)
            c.fpu.fcs = get16(p + 12)
            c.fpu.fdp = get32(p + 16)
            c.fpu.fds = get16(p + 20)
        for k in range(8):
            phys = (c.fpu.top + k) & 7
            c.fpu.st[phys].sig = get64(p + 32 + 16 * k)
            c.fpu.st[phys].se = get16(p + 40 + 16 * k)
        c.fpu.ftw = 0
        for k in range(8):
            c.fpu.ftw |= <uint16_t>((tag_of(c.fpu.st[k]) if (t >> k) & 1 else 3) << (2 * k))
        # ES and B follow the flags: set when an unmasked exception is pending
        c.fpu.fsw &= ~0x8080
        if c.fpu.fsw & ~c.fpu.fcw & 0x3F:
            c.fpu.fsw |= 0x8080
    if parts & FX_MXCSR:
        c.fpu.mxcsr = get32(p + 24)
    if parts & FX_SSE:
        for k in range(nxmm):
            memcpy(&c.fpu.xmm[k], p + 160 + 16 * k, 16)

cdef void x87_init_state(CPU* c) noexcept nogil:
    """The x87 component's initial state (FNINIT plus zeroed registers)."""
    fpu_init(c)                                # x87.pxi
    memset(c.fpu.st, 0, sizeof(c.fpu.st))

cdef void fpu_reset(CPU* c) noexcept nogil:
    """Power-on state of the x87 and SSE units (XCR0 = x87 only)."""
    fpu_power_up(c)                            # x87.pxi: FCW 0x40, tags 0x5555
    memset(c.fpu.xmm, 0, sizeof(c.fpu.xmm))
    c.fpu.mxcsr = MXCSR_RESET
    c.fpu.xcr0 = XCR0_X87

cdef void fpu_power_on(CPU* c, bint usable) noexcept nogil:
    """The FPU/SIMD state a Machine starts with: the reset state; `usable`
    (the flat 32- and 64-bit machines, as Unicorn's) also turns the FPU and
    SSE on as an OS would: CR0.MP and NE, CR4.OSFXSR, OSXMMEXCPT and OSXSAVE,
    XCR0 = x87 | SSE, FCW = 0x37F (FNINIT)."""
    fpu_reset(c)
    c.cr0 &= ~<uint64_t>(CR0_MP | CR0_EM | CR0_NE | CR0_TS)
    c.cr4 &= ~<uint64_t>(CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE)
    if usable:
        c.cr0 |= CR0_MP | CR0_NE
        c.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE
        c.fpu.xcr0 = XCR0_X87 | XCR0_SSE
        fpu_init(c)                            # FNINIT: FCW 0x37F, every register empty

cdef inline uint32_t nxmm(CPU* c) noexcept nogil:
    return 16 if c.mode == 64 else 8

cdef inline int fxsr_ok(CPU* c) noexcept nogil:
    """FXSAVE/FXRSTOR: CR0.EM or CR0.TS -> #NM."""
    if c.cr0 & (CR0_EM | CR0_TS):
        return fault(c, 7, 0, 0)
    return 0

cdef int rd_block(CPU* c, uint64_t la, uint8_t* buf, uint32_t n) noexcept nogil:
    """Read n bytes (a multiple of 8) of guest memory at la."""
    cdef uint64_t v
    cdef uint32_t k
    for k in range(0, n, 8):
        if rd(c, (la + k) & c.lamask, 8, &v):
            return RC_FAULT
        put64(buf + k, v)
    return 0

cdef inline bint fx_part_byte(uint32_t k, uint32_t parts, uint32_t nx) noexcept nogil:
    """Whether legacy-region byte k belongs to the parts written."""
    if k < 24 or 32 <= k < 160:
        return (parts & FX_X87) != 0
    if k < 32:
        return (parts & FX_MXCSR) != 0
    return (parts & FX_SSE) != 0 and k < 160 + 16 * nx

cdef int fx_write(CPU* c, uint64_t la, const uint8_t* buf, uint32_t parts, uint32_t nx) noexcept nogil:
    """Store the given parts of a legacy-region image at la, and nothing
    else; nothing is written if any of it would fault."""
    cdef uint32_t k
    for k in range(0, 416, 8):
        if fx_part_byte(k, parts, nx) and check_wr(c, (la + k) & c.lamask, 8):
            return RC_FAULT
    for k in range(0, 416, 8):
        if fx_part_byte(k, parts, nx) and wr(c, (la + k) & c.lamask, 8, get64(buf + k)):
            return RC_FAULT
    return 0

cdef int h_fxsave(CPU* c, Insn* i) noexcept nogil:
    """FXSAVE/FXSAVE64 m512 (0F AE /0).  Bytes 464-511 are not written."""
    c.cur = i
    cdef uint8_t buf[512]
    cdef uint64_t la
    if fxsr_ok(c) or simd_la(c, i, 16, &la):
        return RC_FAULT
    fx_store(c, buf, FX_X87 | FX_MXCSR | FX_SSE, (i.rex & 8) != 0, nxmm(c))
    return ok_next(c, i, fx_write(c, la, buf, FX_X87 | FX_MXCSR | FX_SSE, nxmm(c)))

cdef int h_fxrstor(CPU* c, Insn* i) noexcept nogil:
    """FXRSTOR/FXRSTOR64 m512 (0F AE /1): reserved MXCSR bits -> #GP(0)."""
    c.cur = i
    cdef uint8_t buf[512]
    cdef uint64_t la
    if fxsr_ok(c) or simd_la(c, i, 16, &la) or rd_block(c, la, buf, 512):
        return RC_FAULT
    if get32(buf + 24) & ~<uint32_t>MXCSR_MASK:
        return fault(c, 13, 1, 0)
    fx_load(c, buf, FX_X87 | FX_MXCSR | FX_SSE, (i.rex & 8) != 0, nxmm(c))
    return next_insn(c, i)

# ---- XSAVE family -----------------------------------------------------------

cdef inline int xsave_ok(CPU* c) noexcept nogil:
    """XSAVE*/XRSTOR: CR4.OSXSAVE clear -> #UD, CR0.TS -> #NM."""
    if not (c.cr4 & CR4_OSXSAVE):
        return fault(c, 6, 0, 0)
    if c.cr0 & CR0_TS:
        return fault(c, 7, 0, 0)
    return 0

cdef inline uint64_t rfbm(CPU* c) noexcept nogil:
    """The requested-feature bitmap: EDX:EAX & XCR0."""
    return (((c.r[R_DX] & 0xFFFFFFFFULL) << 32) | (c.r[R_AX] & 0xFFFFFFFFULL)) & c.fpu.xcr0

cdef inline uint32_t xparts(uint64_t m) noexcept nogil:
    """Legacy-region parts of the components in m (MXCSR goes with SSE)."""
    return (FX_X87 if m & XCR0_X87 else 0) | ((FX_SSE | FX_MXCSR) if m & XCR0_SSE else 0)

cdef int h_xsave(CPU* c, Insn* i) noexcept nogil:
    """XSAVE and XSAVEOPT (0F AE /4, /6; sub 1 = XSAVEOPT) and XSAVEC
    (0F C7 /4, sub 2), standard or compacted form, 64-byte aligned.  Every
    component counts as in use (XINUSE = all ones): XSAVEOPT then writes what
    XSAVE writes.  Nothing is written if any of it would fault."""
    c.cur = i
    cdef uint8_t buf[XSAVE_SIZE]
    cdef uint64_t la, m, bv
    cdef uint32_t k
    cdef bint compact = i.sub == 2
    if xsave_ok(c) or simd_la(c, i, 64, &la):
        return RC_FAULT
    m = rfbm(c)
    for k in range(512, XSAVE_SIZE, 8):          # the header is written in any case
        if check_wr(c, (la + k) & c.lamask, 8):
            return RC_FAULT
    if (m & XCR0_PKRU) and check_wr(c, (la + pkru_offset(compact)) & c.lamask, PKRU_SIZE):
        return RC_FAULT
    if rd_block(c, (la + 512) & c.lamask, buf + 512, 64):
        return RC_FAULT
    fx_store(c, buf, xparts(m), (i.rex & 8) != 0, nxmm(c))
    bv = get64(buf + 512)
    if compact:
        memset(buf + 512, 0, 64)
        put64(buf + 512, m)
        put64(buf + 520, m | (<uint64_t>1 << 63))
    else:
        put64(buf + 512, bv | m)                 # XSTATE_BV[i] = XINUSE[i] for i in RFBM, others kept
    if fx_write(c, la, buf, xparts(m), nxmm(c)):
        return RC_FAULT
    for k in range(512, XSAVE_SIZE, 8):
        if wr(c, (la + k) & c.lamask, 8, get64(buf + k)):
            return RC_FAULT            # (device memory: checked writable, the store is replayed)
    if (m & XCR0_PKRU) and wr(c, (la + pkru_offset(compact)) & c.lamask, PKRU_SIZE, c.pkru):
        return RC_FAULT
    return next_insn(c, i)

cdef int h_xrstor(CPU* c, Insn* i) noexcept nogil:
    """XRSTOR (0F AE /5), standard or compacted form: header and MXCSR
    checks (#GP(0)), then each requested component loaded from memory or,
    when its XSTATE_BV bit is clear, put in its initial state (PKRU's is 0).
    Nothing changes if a read faults."""
    c.cur = i
    cdef uint8_t buf[XSAVE_SIZE]
    cdef uint64_t la, m, bv, comp, pkru = 0
    cdef uint32_t k
    if xsave_ok(c) or simd_la(c, i, 64, &la) or rd_block(c, la, buf, XSAVE_SIZE):
        return RC_FAULT
    m = rfbm(c)
    bv = get64(buf + 512)
    comp = get64(buf + 520)
    if comp >> 63:                                   # compacted form
        if (comp & ~(<uint64_t>1 << 63) & ~c.fpu.xcr0) or (bv & ~comp):
            return fault(c, 13, 1, 0)
        for k in range(16, 64, 8):
            if get64(buf + 512 + k):
                return fault(c, 13, 1, 0)
    else:
        if (bv & ~c.fpu.xcr0) or comp or get64(buf + 528):
            return fault(c, 13, 1, 0)
    if (m & XCR0_SSE) and (comp >> 63 == 0 or bv & XCR0_SSE) and (get32(buf + 24) & ~<uint32_t>MXCSR_MASK):
        return fault(c, 13, 1, 0)
    if (m & bv & XCR0_PKRU) and rd(c, (la + pkru_offset(comp >> 63 != 0)) & c.lamask, PKRU_SIZE, &pkru):
        return RC_FAULT
    if m & XCR0_X87:
        if bv & XCR0_X87:
            fx_load(c, buf, FX_X87, (i.rex & 8) != 0, 0)
        else:
            x87_init_state(c)
    if m & XCR0_SSE:
        if bv & XCR0_SSE:
            fx_load(c, buf, FX_SSE | FX_MXCSR, False, nxmm(c))
        else:
            memset(c.fpu.xmm, 0, 16 * nxmm(c))
            if comp >> 63:
                c.fpu.mxcsr = MXCSR_RESET            # compacted: MXCSR is part of the init state
            else:
                c.fpu.mxcsr = get32(buf + 24)        # standard: loaded whenever RFBM[1]
    if (m & XCR0_PKRU) and <uint32_t>pkru != c.pkru:
        set_pkru(c, <uint32_t>pkru)               # pageprot.pxi
        return RC_END                             # as WRPKRU: other rights from here
    return next_insn(c, i)

cdef int h_xgetbv(CPU* c, Insn* i) noexcept nogil:
    """XGETBV (0F 01 D0): CR4.OSXSAVE clear -> #UD; ECX != 0 -> #GP(0)."""
    c.cur = i
    if not (c.cr4 & CR4_OSXSAVE):
        return fault(c, 6, 0, 0)
    if c.r[R_CX] & 0xFFFFFFFFULL:
        return fault(c, 13, 1, 0)
    c.r[R_AX] = c.fpu.xcr0 & 0xFFFFFFFFULL
    c.r[R_DX] = c.fpu.xcr0 >> 32
    return next_insn(c, i)

cdef uint64_t xcr0_supported(CPU* c) noexcept nogil:
    """The components this CPU can enable: x87, SSE, and PKRU with PKU."""
    return XCR0_X87 | XCR0_SSE | (XCR0_PKRU if has_pku(c) else 0)

cdef inline uint32_t pkru_offset(bint compact) noexcept nogil:
    return XSAVE_SIZE if compact else PKRU_OFFSET

cdef inline uint32_t xsave_size(uint64_t m, bint compact) noexcept nogil:
    """Bytes of an XSAVE area holding the components in m."""
    return pkru_offset(compact) + PKRU_SIZE if m & XCR0_PKRU else XSAVE_SIZE

cdef int xcr0_valid(CPU* c, uint64_t v) noexcept nogil:
    """XSETBV's rules: x87 always on, only supported bits, AVX needs SSE."""
    return (v & XCR0_X87) != 0 and (v & ~xcr0_supported(c)) == 0 and not ((v & 4) and not (v & 2))

cdef int h_xsetbv(CPU* c, Insn* i) noexcept nogil:
    """XSETBV (0F 01 D1): CR4.OSXSAVE clear -> #UD; CPL > 0, ECX != 0 or a
    bad value -> #GP(0)."""
    c.cur = i
    cdef uint64_t v = ((c.r[R_DX] & 0xFFFFFFFFULL) << 32) | (c.r[R_AX] & 0xFFFFFFFFULL)
    if not (c.cr4 & CR4_OSXSAVE):
        return fault(c, 6, 0, 0)
    if c.cpl != 0 or (c.r[R_CX] & 0xFFFFFFFFULL) or not xcr0_valid(c, v):
        return fault(c, 13, 1, 0)
    c.fpu.xcr0 = v
    return next_insn(c, i)

cdef void cpuid_xsave_leaf(CPU* c, uint32_t sub, uint32_t* out) noexcept nogil:
    """CPUID leaf 0xD: sub-leaf 0 the supported XCR0 bits and area sizes,
    sub-leaf 1 XSAVEOPT and XSAVEC, sub-leaf 9 PKRU's size and offset; x87
    and SSE live in the legacy region, so no sub-leaf describes them."""
    cdef uint64_t s = xcr0_supported(c)
    if sub == 0:
        out[0] = <uint32_t>s
        out[1] = xsave_size(c.fpu.xcr0, False)   # for the components XCR0 enables
        out[2] = xsave_size(s, False)            # for every supported component
    elif sub == 1:
        out[0] = 1 | 2                           # XSAVEOPT, XSAVEC
        out[1] = xsave_size(c.fpu.xcr0, True)    # compacted size of XCR0's components
    elif sub == 9 and s & XCR0_PKRU:
        out[0] = PKRU_SIZE
        out[1] = PKRU_OFFSET
