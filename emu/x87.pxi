# The x87 FPU: the register stack and its tags, the control and status
# words, exceptions (masked responses, and unmasked ones reported as #MF at
# the next waiting instruction, or as IRQ 13 through the 8259 when CR0.NE is
# clear, the PC's FERR#), FIP/FDP/FOP, and the instructions.  The arithmetic
# is softfloat.pxi's; the transcendentals are x87trans.pxi's.
#
# ST(k) is c.fpu.st[(top + k) & 7]; c.fpu.ftw keeps the full tag word (2 bits
# per physical register: 0 valid, 1 zero, 2 special, 3 empty); c.fpu.fsw has
# every status bit but TOP.  Register forms ignore REX (ST(i) is ModRM.rm).

cdef enum:
    SW_SF = 0x40               # stack fault (with IE)
    SW_ES = 0x80               # error summary: an unmasked exception is pending
    SW_C0 = 0x100
    SW_C1 = 0x200
    SW_C2 = 0x400
    SW_C3 = 0x4000
    SW_B = 0x8000              # busy: mirrors ES
    SW_CC = 0x4700
    TAG_EMPTY = 3
    FCW_INIT = 0x037F
    FPU_CR0_MP = 0x2
    FPU_CR0_EM = 0x4
    FPU_CR0_NE = 0x20
    # operand kinds of loads and stores (Insn.sub, low bits)
    K_M32FP = 0
    K_M64FP = 1
    K_M80FP = 2
    K_M16INT = 3
    K_M32INT = 4
    K_M64INT = 5
    K_M80BCD = 6
    ST_POP = 0x08              # (stores) pop after
    ST_TRUNC = 0x10            # (integer stores) FISTTP: chop

cdef uint8_t KIND_SIZE[7]
KIND_SIZE[:] = [4, 8, 10, 2, 4, 8, 10]

# --- the register stack ------------------------------------------------------

cdef inline uint32_t st_phys(CPU* c, uint32_t k) noexcept nogil:
    return (c.fpu.top + k) & 7

cdef inline bint st_empty(CPU* c, uint32_t k) noexcept nogil:
    return ((c.fpu.ftw >> (2 * st_phys(c, k))) & 3) == TAG_EMPTY

cdef inline F80 st_get(CPU* c, uint32_t k) noexcept nogil:
    return c.fpu.st[st_phys(c, k)]

cdef inline uint32_t tag_of(F80 v) noexcept nogil:
    """The tag a value gets: zero, valid (normal) or special."""
    cdef uint32_t e = f_exp(v)
    if e == 0:
        return 1 if v.sig == 0 else 2
    if e == EXP_INF or not (v.sig >> 63):
        return 2
    return 0

cdef inline void st_set(CPU* c, uint32_t k, F80 v) noexcept nogil:
    cdef uint32_t p = st_phys(c, k)
    c.fpu.st[p] = v
    c.fpu.ftw = <uint16_t>((c.fpu.ftw & ~(3 << (2 * p))) | (tag_of(v) << (2 * p)))

cdef inline void st_pop(CPU* c) noexcept nogil:
    c.fpu.ftw |= <uint16_t>(3 << (2 * c.fpu.top))
    c.fpu.top = (c.fpu.top + 1) & 7

cdef inline void st_push(CPU* c, F80 v) noexcept nogil:
    c.fpu.top = (c.fpu.top - 1) & 7
    st_set(c, 0, v)

cdef uint16_t full_tags(CPU* c) noexcept nogil:
    """The tag word as FSTENV stores it: empty registers stay empty, the
    others are tagged from their contents."""
    cdef uint32_t p, t = 0
    for p in range(8):
        if ((c.fpu.ftw >> (2 * p)) & 3) == TAG_EMPTY:
            t |= TAG_EMPTY << (2 * p)
        else:
            t |= tag_of(c.fpu.st[p]) << (2 * p)
    return <uint16_t>t

cdef inline uint16_t fsw_of(CPU* c) noexcept nogil:
    return <uint16_t>((c.fpu.fsw & ~0x3800) | ((c.fpu.top & 7) << 11))

cdef void fpu_init(CPU* c) noexcept nogil:
    """FNINIT's state."""
    c.fpu.fcw = FCW_INIT
    c.fpu.fsw = 0
    c.fpu.top = 0
    c.fpu.ftw = 0xFFFF
    c.fpu.fop = 0
    c.fpu.fip = c.fpu.fdp = 0
    c.fpu.fcs = c.fpu.fds = 0
    c.fpu.ferr = 0

cdef void fpu_power_up(CPU* c) noexcept nogil:
    """The x87 at power-up (SDM Vol. 3 table 9-1): FCW 0040H, tags 5555H,
    every register +0."""
    cdef uint32_t p
    fpu_init(c)
    c.fpu.fcw = 0x0040
    c.fpu.ftw = 0x5555
    for p in range(8):
        c.fpu.st[p] = f80(0, 0, 0)

# --- entry checks, pointers, exceptions ---------------------------------------

cdef int x87_pending(CPU* c) noexcept nogil:
    """A waiting instruction finds an unmasked exception pending: #MF with
    CR0.NE, else FERR# raises IRQ 13 once (until ES clears) and the
    instruction goes on, as with the PC's IGNNE#."""
    if c.cr0 & FPU_CR0_NE:
        return fault(c, 16, 0, 0)
    if not c.fpu.ferr:
        c.fpu.ferr = 1
        irq_raise(c, 13)
    return 0

cdef inline int x87_check(CPU* c, bint waits) noexcept nogil:
    """CR0.EM or TS: #NM; then, for waiting instructions, a pending
    unmasked exception."""
    if c.cr0 & (FPU_CR0_EM | CR0_TS):
        return fault(c, 7, 0, 0)
    if waits and (c.fpu.fsw & SW_ES):
        return x87_pending(c)
    return 0

cdef inline void x87_note(CPU* c, Insn* i) noexcept nogil:
    """A non-control instruction: remember it (FIP, FCS, FOP) and its
    memory operand (FDP, FDS)."""
    x87_note_insn(c, i)
    if i.mod != 3:
        x87_note_operand(c, i, ea_of(c, i))

cdef inline void x87_note_insn(CPU* c, Insn* i) noexcept nogil:
    c.fpu.fip = (c.r[R_BASE] + i.off) & c.ipmask
    c.fpu.fcs = c.sel[S_CS]
    c.fpu.fop = <uint16_t>(((i.opcode & 7) << 8) | i.modrm)

cdef inline void x87_note_operand(CPU* c, Insn* i, uint64_t ea) noexcept nogil:
    """The memory operand at effective address ea."""
    c.fpu.fdp = ea
    c.fpu.fds = c.sel[i.seg if i.seg < 6 else S_DS]

cdef inline void env_init(CPU* c, FEnv* f) noexcept nogil:
    cdef uint32_t pc = (c.fpu.fcw >> 8) & 3
    f.rc = (c.fpu.fcw >> 10) & 3
    f.prec = 24 if pc == 0 else (53 if pc == 2 else 64)
    f.masks = c.fpu.fcw & 0x3F
    f.ex = 0
    f.up = 0
    f.den = 0

cdef inline void set_c1(CPU* c, uint32_t on) noexcept nogil:
    c.fpu.fsw = <uint16_t>((c.fpu.fsw & ~SW_C1) | (SW_C1 if on else 0))

cdef inline void clear_c1_c2(CPU* c) noexcept nogil:
    """FPREM*, FSIN, FCOS, FSINCOS, FPTAN that end in a stack fault or an
    invalid operand leave C1 and C2 clear, C0 and C3 as they were (the SDM
    defines C2 only for a reduction: measured on the host CPU)."""
    c.fpu.fsw &= ~<uint16_t>(SW_C1 | SW_C2)

cdef inline void error_summary(CPU* c) noexcept nogil:
    """ES and B follow the exception flags the control word leaves unmasked."""
    if c.fpu.fsw & ~c.fpu.fcw & 0x3F:
        c.fpu.fsw |= SW_ES | SW_B
    else:
        c.fpu.fsw &= ~(SW_ES | SW_B)
        c.fpu.ferr = 0

cdef inline bint x87_report(CPU* c, FEnv* f) noexcept nogil:
    """Merge an operation's exceptions into the status word; C1 says whether
    it rounded up (0 without a result).  True when an unmasked IE, DE or ZE means the result must
    not be written (the operation did not take place)."""
    cdef uint32_t ex = f.ex & 0x3F
    if ex & X_PRE & ~f.masks:
        c.fpu.fsw |= (ex & X_PRE) | SW_ES | SW_B
        set_c1(c, 0)            # (as the host CPU: no result, no rounding)
        return True
    c.fpu.fsw |= ex
    if ex & ~f.masks:
        c.fpu.fsw |= SW_ES | SW_B
    set_c1(c, f.up and (ex & X_PE))
    return False

cdef bint stack_fault(CPU* c, bint overflow) noexcept nogil:
    """Stack underflow (C1 = 0) or overflow (C1 = 1): IE and SF.  True when
    IE is masked (the caller then writes the indefinite)."""
    c.fpu.fsw |= X_IE | SW_SF
    set_c1(c, overflow)
    if c.fpu.fcw & X_IE:
        return True
    c.fpu.fsw |= SW_ES | SW_B
    return False

cdef inline void underflow_to(CPU* c, uint32_t k, bint pop) noexcept nogil:
    """Stack underflow of an instruction that writes ST(k)."""
    if stack_fault(c, False):
        st_set(c, k, f_indefinite())
        if pop:
            st_pop(c)

cdef inline bint push_ok(CPU* c) noexcept nogil:
    """Room for a push?  Else stack overflow (masked: the indefinite is
    pushed)."""
    if st_empty(c, 7):
        return True
    if stack_fault(c, True):
        st_push(c, f_indefinite())
    return False

cdef inline void set_cc(CPU* c, uint32_t cc) noexcept nogil:
    c.fpu.fsw = <uint16_t>((c.fpu.fsw & ~SW_CC) | cc)

cdef inline uint32_t compare_cc(int r) noexcept nogil:
    """C3 C2 C0 for a comparison's result (C1 clear)."""
    if r == 0:
        return SW_C3
    if r < 0:
        return SW_C0
    if r > 1:
        return SW_C3 | SW_C2 | SW_C0
    return 0

# --- memory operands -----------------------------------------------------------

cdef inline uint32_t first_access(uint32_t n) noexcept nogil:
    """Bytes of the first access the host CPU makes to an n-byte x87 memory
    operand: a non-canonical last byte there is #GP before any page is
    touched, one further on only after the first page (an m80 operand is
    accessed as 8 + 2 bytes; the FLDENV/FRSTOR/FNSTENV/FNSAVE image field by
    field: 2-byte fields in the 16-bit layout of 14 or 94 bytes, 4-byte ones
    in the 32-bit layout of 28 or 108)."""
    if n == 10:
        return 8
    if n == 14 or n == 94:
        return 2
    if n == 28 or n == 108:
        return 4
    return n

cdef inline int rd_buf(CPU* c, uint64_t la, uint8_t* buf, uint32_t n) noexcept nogil:
    """Load n (even) bytes."""
    cdef uint8_t* p = tlb_host(c.tlb_r, la, n)
    if p != NULL:                       # in one page the TLB holds: every read hits
        memcpy(buf, p, n)
        return 0
    return rd_buf_slow(c, la, buf, n)

cdef int rd_buf_slow(CPU* c, uint64_t la, uint8_t* buf, uint32_t n) noexcept nogil:
    """rd_buf off the TLB's hit path: the first access first (see
    first_access)."""
    cdef uint64_t v
    cdef uint32_t k
    if check_span(c, la, first_access(n)):
        return RC_FAULT
    for k in range(0, n, 2):
        if rd(c, (la + k) & c.lamask, 2, &v):
            return RC_FAULT
        buf[k] = <uint8_t>v
        buf[k + 1] = <uint8_t>(v >> 8)
    return 0

cdef inline int check_wr_buf(CPU* c, uint64_t la, uint32_t n) noexcept nogil:
    """Fault now if wr_buf of n bytes at la would (the first access first:
    see first_access)."""
    if check_wr(c, la, first_access(n)) or check_wr(c, la, n):
        return RC_FAULT
    return 0

cdef inline int wr_buf(CPU* c, uint64_t la, uint8_t* buf, uint32_t n) noexcept nogil:
    """Store n (even) bytes; a fault leaves memory unchanged."""
    cdef uint8_t* p = tlb_host(c.tlb_w, la, n)
    if p != NULL:                       # (as each store's hit path)
        memcpy(p, buf, n)
        return 0
    return wr_buf_slow(c, la, buf, n)

cdef int wr_buf_slow(CPU* c, uint64_t la, uint8_t* buf, uint32_t n) noexcept nogil:
    cdef uint32_t k
    if check_wr_buf(c, la, n):
        return RC_FAULT
    for k in range(0, n, 2):
        if wr(c, (la + k) & c.lamask, 2, buf[k] | (<uint64_t>buf[k + 1] << 8)):
            return RC_FAULT
    return 0

cdef inline uint64_t get_le(uint8_t* p, uint32_t n) noexcept nogil:
    cdef uint64_t v = 0
    memcpy(&v, p, n)                    # (a little-endian host, as load_le)
    return v

cdef inline void put_le(uint8_t* p, uint32_t n, uint64_t v) noexcept nogil:
    memcpy(p, &v, n)

cdef int read_operand(CPU* c, Insn* i, uint32_t kind, uint8_t* buf) noexcept nogil:
    return rd_buf(c, mem_la(c, i), buf, KIND_SIZE[kind])

cdef F80 bcd_load(uint8_t* b) noexcept nogil:
    """FBLD: 18 packed decimal digits and a sign byte (digits above 9 count
    with their binary value, as on Intel parts)."""
    cdef int64_t v = 0
    cdef int k
    cdef F80 r
    for k in range(8, -1, -1):
        v = v * 100 + (b[k] >> 4) * 10 + (b[k] & 15)
    r = f_from_int(v)
    r.se |= <uint16_t>((b[9] >> 7) << 15)
    return r

cdef F80 load_value(FEnv* f, uint32_t kind, uint8_t* buf, bint load) noexcept nogil:
    """The memory operand as an extended real (exact).  load: FLD's rules
    (an SNaN is quieted with IE); else the operation sees the SNaN."""
    cdef uint64_t v = get_le(buf, KIND_SIZE[kind] if kind != K_M80FP else 8)
    if kind == K_M32FP:
        return f_from_bin(f, v, 23, 8, load)
    if kind == K_M64FP:
        return f_from_bin(f, v, 52, 11, load)
    if kind == K_M80FP:
        return f80(get_le(buf + 8, 2) >> 15, get_le(buf + 8, 2) & 0x7FFF, v)
    if kind == K_M16INT:
        return f_from_int(sext(v, 16))
    if kind == K_M32INT:
        return f_from_int(sext(v, 32))
    if kind == K_M64INT:
        return f_from_int(<int64_t>v)
    return bcd_load(buf)

# --- loads ---------------------------------------------------------------------

cdef inline bint normal_operand(CPU* c, Insn* i, F80* v) noexcept nogil:
    """The common case of an m32fp/m64fp operand (i.sub), read on its TLB hit
    path: a normal number, converted exactly (no exception possible).
    False otherwise (the caller takes the general path)."""
    cdef uint8_t* p
    cdef uint64_t x
    cdef uint32_t e
    if i.sub == K_M64FP:
        p = tlb_host(c.tlb_r, mem_la(c, i), 8)
        if p == NULL:
            return False
        x = load_le(p, 8)
        e = <uint32_t>(x >> 52) & 0x7FF
        if e == 0 or e == 0x7FF:
            return False
        v[0] = f80(<uint32_t>(x >> 63), e - 1023 + BIAS, J_BIT | ((x & 0xFFFFFFFFFFFFFULL) << 11))
        return True
    if i.sub == K_M32FP:
        p = tlb_host(c.tlb_r, mem_la(c, i), 4)
        if p == NULL:
            return False
        x = load_le(p, 4)
        e = <uint32_t>(x >> 23) & 0xFF
        if e == 0 or e == 0xFF:
            return False
        v[0] = f80(<uint32_t>(x >> 31), e - 127 + BIAS, J_BIT | ((x & 0x7FFFFF) << 40))
        return True
    return False

cdef int h_fld_m(CPU* c, Insn* i) noexcept nogil:
    """FLD m32fp/m64fp/m80fp, FILD m16int/m32int/m64int, FBLD m80bcd
    (i.sub: the operand kind)."""
    c.cur = i
    cdef uint8_t buf[10]
    cdef FEnv f
    cdef F80 v
    if x87_check(c, True):
        return RC_FAULT
    if st_empty(c, 7) and normal_operand(c, i, &v):
        x87_note(c, i)                  # (a normal loads exactly: no flag but C1 = 0)
        set_c1(c, 0)
        st_push(c, v)
        return next_insn(c, i)
    if read_operand(c, i, i.sub, buf):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    v = load_value(&f, i.sub, buf, True)
    if push_ok(c):
        # An unmasked DE still loads (the value is exact); IE does not.
        x87_report(c, &f)
        if not (f.ex & ~f.masks & X_IE):
            set_c1(c, 0)
            st_push(c, v)
    return next_insn(c, i)

cdef int h_fld_sti(CPU* c, Insn* i) noexcept nogil:
    """FLD ST(i): push a copy (as it is: no exception for an SNaN)."""
    c.cur = i
    cdef uint32_t k = i.modrm & 7
    cdef F80 v
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    if st_empty(c, k):          # underflow before overflow (as the host CPU)
        if stack_fault(c, False):
            st_push(c, f_indefinite())
        return next_insn(c, i)
    if not push_ok(c):
        return next_insn(c, i)
    v = st_get(c, k)
    set_c1(c, 0)
    st_push(c, v)
    return next_insn(c, i)

cdef struct Const80:
    uint16_t se
    uint64_t hi, lo         # the value's first 128 significand bits

cdef Const80 CONSTS[7]
CONSTS[0] = Const80(0x3FFF, 0x8000000000000000ULL, 0)                        # 1
CONSTS[1] = Const80(0x4000, 0xD49A784BCD1B8AFEULL, 0x492BF6FF4DAFDB4CULL)    # log2(10)
CONSTS[2] = Const80(0x3FFF, 0xB8AA3B295C17F0BBULL, 0xBE87FED0691D3E88ULL)    # log2(e)
CONSTS[3] = Const80(0x4000, 0xC90FDAA22168C234ULL, 0xC4C6628B80DC1CD1ULL)    # pi
CONSTS[4] = Const80(0x3FFD, 0x9A209A84FBCFF798ULL, 0x8F8959AC0B7C9178ULL)    # log10(2)
CONSTS[5] = Const80(0x3FFE, 0xB17217F7D1CF79ABULL, 0xC9E3B39803F2F6AFULL)    # ln(2)
CONSTS[6] = Const80(0, 0, 0)                                                  # +0

cdef int h_fldconst(CPU* c, Insn* i) noexcept nogil:
    """FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ (i.sub): the constant
    rounded by RC, without PE."""
    c.cur = i
    cdef Const80* k = &CONSTS[i.sub]
    cdef FEnv f
    cdef bint carry
    cdef u128 v = ((<u128>k.hi) << 64) | k.lo
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    v = round_bits(&f, 0, v, 64, f.rc, &carry)
    if push_ok(c):
        set_c1(c, 0)
        st_push(c, f80(0, k.se, <uint64_t>(v >> 64)))
    return next_insn(c, i)

# --- stores --------------------------------------------------------------------

cdef bint encode_value(FEnv* f, uint32_t kind, bint trunc, F80 v, uint8_t* buf) noexcept nogil:
    """ST(0) in the memory format.  False when nothing may be stored (an
    unmasked IE, or an unmasked OE/UE of a binary32/64 store)."""
    cdef int64_t n
    cdef uint64_t u, lim
    cdef uint32_t k
    cdef FEnv t
    if kind == K_M32FP:
        put_le(buf, 4, f_to_bin(f, v, 23, 8))
    elif kind == K_M64FP:
        put_le(buf, 8, f_to_bin(f, v, 52, 11))
    elif kind == K_M80FP:
        put_le(buf, 8, v.sig)
        put_le(buf + 8, 2, v.se)
    elif kind == K_M80BCD:
        t = f[0]
        n = f_to_int(&t, v, 64, f.rc)
        u = <uint64_t>(-n if n < 0 else n)
        lim = 1000000000000000000ULL
        if (t.ex & X_IE) or u >= lim:
            f.ex |= X_IE
            memset(buf, 0, 10)
            buf[7] = 0xC0
            buf[8] = buf[9] = 0xFF
        else:
            f.ex = t.ex
            f.up = t.up
            for k in range(9):
                buf[k] = <uint8_t>((u % 10) | (((u // 10) % 10) << 4))
                u //= 100
            buf[9] = <uint8_t>(f_sign(v) << 7)
    else:
        put_le(buf, KIND_SIZE[kind], <uint64_t>f_to_int(f, v, 8 * KIND_SIZE[kind],
                                                         RND_ZERO if trunc else f.rc))
    return not (f.ex & ~f.masks & (X_PRE | X_OE | X_UE))

cdef void encode_indefinite(uint32_t kind, uint8_t* buf) noexcept nogil:
    """What a store of an empty ST(0) writes when IE is masked."""
    cdef FEnv f
    f.rc = RND_NEAR
    f.prec = 64
    f.masks = 0x3F
    f.ex = 0
    f.up = 0
    f.den = 0
    encode_value(&f, kind, False, f_indefinite(), buf)

cdef int h_fst_m(CPU* c, Insn* i) noexcept nogil:
    """FST/FSTP m32fp/m64fp/m80fp, FIST/FISTP/FISTTP m16/m32/m64int, FBSTP
    (i.sub: kind | ST_POP | ST_TRUNC)."""
    c.cur = i
    cdef uint32_t kind = i.sub & 7
    cdef bint pop = (i.sub & ST_POP) != 0
    cdef uint8_t buf[10]
    cdef FEnv f
    cdef bint store
    if x87_check(c, True):
        return RC_FAULT
    env_init(c, &f)
    # A store that an unmasked exception suppresses still faults on its
    # destination first (#PF, #GP: as the host CPU does).
    if st_empty(c, 0):
        store = (c.fpu.fcw & X_IE) != 0
        if store:
            encode_indefinite(kind, buf)
            if wr_buf(c, mem_la(c, i), buf, KIND_SIZE[kind]):
                return RC_FAULT
        elif check_wr_buf(c, mem_la(c, i), KIND_SIZE[kind]):
            return RC_FAULT
        x87_note(c, i)
        stack_fault(c, False)
        if store and pop:
            st_pop(c)
        return next_insn(c, i)
    store = encode_value(&f, kind, (i.sub & ST_TRUNC) != 0, st_get(c, 0), buf)
    if (wr_buf(c, mem_la(c, i), buf, KIND_SIZE[kind]) if store
            else check_wr_buf(c, mem_la(c, i), KIND_SIZE[kind])):
        return RC_FAULT
    x87_note(c, i)
    if f.ex & ~f.masks & (X_OE | X_UE):
        # Unmasked overflow/underflow to memory: reported, nothing stored
        # (C1 clear, as the host CPU).
        c.fpu.fsw |= (f.ex & (X_OE | X_UE)) | SW_ES | SW_B
        set_c1(c, 0)
        return next_insn(c, i)
    if not x87_report(c, &f) and pop:
        st_pop(c)
    return next_insn(c, i)

cdef int h_fst_sti(CPU* c, Insn* i) noexcept nogil:
    """FST ST(i), FSTP ST(i) (i.sub: pop), as they are: no exceptions but
    stack underflow."""
    c.cur = i
    cdef uint32_t k = i.modrm & 7
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    if st_empty(c, 0):
        underflow_to(c, k, i.sub != 0)
        return next_insn(c, i)
    set_c1(c, 0)
    st_set(c, k, st_get(c, 0))
    if i.sub:
        st_pop(c)
    return next_insn(c, i)

# --- arithmetic ----------------------------------------------------------------

cdef F80 arith(FEnv* f, uint32_t op, F80 x, F80 y) noexcept nogil:
    """ModRM.reg's operation on x = ST(0) and y, the other operand: FADD
    FMUL - - FSUB (x - y) FSUBR (y - x) FDIV (x / y) FDIVR (y / x)."""
    if op == 0:
        return f_add(f, x, y, 0)
    if op == 1:
        return f_mul(f, x, y)
    if op == 4:
        return f_add(f, x, y, 1)
    if op == 5:
        return f_add(f, y, x, 1)
    if op == 6:
        return f_div(f, x, y)
    return f_div(f, y, x)

cdef void compare_report(CPU* c, FEnv* f, int r, uint32_t pops) noexcept nogil:
    """FCOM-style: C3 C2 C0 from r, C1 clear (even when an exception is
    unmasked, as the hardware), then pop `pops` times unless one is."""
    cdef bint unmasked = x87_report(c, f) or (f.ex & ~f.masks & 0x3F) != 0
    set_cc(c, compare_cc(r))
    if unmasked:
        return
    while pops:
        st_pop(c)
        pops -= 1

cdef void compare_underflow(CPU* c, uint32_t pops) noexcept nogil:
    set_cc(c, SW_C3 | SW_C2 | SW_C0)
    if stack_fault(c, False):
        while pops:
            st_pop(c)
            pops -= 1

cdef int h_farith_m(CPU* c, Insn* i) noexcept nogil:
    """FADD FMUL FCOM FCOMP FSUB FSUBR FDIV FDIVR with m32fp/m64fp, and the
    FI- forms with m16int/m32int (ModRM.reg; i.sub: the operand kind)."""
    c.cur = i
    cdef uint32_t op = i.reg & 7
    cdef uint8_t buf[10]
    cdef FEnv f
    cdef F80 y, r
    if x87_check(c, True):
        return RC_FAULT
    if op != 2 and op != 3 and not st_empty(c, 0) and normal_operand(c, i, &y):
        x87_note(c, i)
        env_init(c, &f)
        r = arith(&f, op, st_get(c, 0), y)
        if not x87_report(c, &f):
            st_set(c, 0, r)
        return next_insn(c, i)
    if read_operand(c, i, i.sub, buf):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0):
        if op == 2 or op == 3:
            compare_underflow(c, op - 2)
        else:
            underflow_to(c, 0, False)
        return next_insn(c, i)
    y = load_value(&f, i.sub, buf, False)
    if op == 2 or op == 3:
        compare_report(c, &f, f_compare(&f, st_get(c, 0), y, False), op - 2)
    else:
        r = arith(&f, op, st_get(c, 0), y)
        if not x87_report(c, &f):
            st_set(c, 0, r)
    return next_insn(c, i)

cdef int h_farith_st0_sti(CPU* c, Insn* i) noexcept nogil:
    """D8 C0-FF: FADD FMUL FCOM FCOMP FSUB FSUBR FDIV FDIVR ST(0), ST(i)."""
    c.cur = i
    cdef uint32_t op = i.reg & 7, k = i.modrm & 7
    cdef FEnv f
    cdef F80 r
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0) or st_empty(c, k):
        if op == 2 or op == 3:
            compare_underflow(c, op - 2)
        else:
            underflow_to(c, 0, False)
        return next_insn(c, i)
    if op == 2 or op == 3:
        compare_report(c, &f, f_compare(&f, st_get(c, 0), st_get(c, k), False), op - 2)
        return next_insn(c, i)
    r = arith(&f, op, st_get(c, 0), st_get(c, k))
    if not x87_report(c, &f):
        st_set(c, 0, r)
    return next_insn(c, i)

cdef int h_farith_sti_st0(CPU* c, Insn* i) noexcept nogil:
    """DC/DE C0-FF: FADD FMUL FSUBR FSUB FDIVR FDIV ST(i), ST(0) and their
    P forms (i.sub: pop); ModRM.reg 4-7 name the reversed operations, so
    the result is again reg's operation on x = ST(0), y = ST(i).  Reg 2 and
    3 are FCOM/FCOMP aliases (DC D0-DF, DE D0-D7)."""
    c.cur = i
    cdef uint32_t op = i.reg & 7, k = i.modrm & 7
    cdef FEnv f
    cdef F80 r
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if op == 2 or op == 3:
        if st_empty(c, 0) or st_empty(c, k):
            compare_underflow(c, 1 if op == 3 or i.sub else 0)
        else:
            compare_report(c, &f, f_compare(&f, st_get(c, 0), st_get(c, k), False),
                           1 if op == 3 or i.sub else 0)
        return next_insn(c, i)
    if st_empty(c, 0) or st_empty(c, k):
        underflow_to(c, k, i.sub != 0)
        return next_insn(c, i)
    r = arith(&f, op, st_get(c, 0), st_get(c, k))
    if not x87_report(c, &f):
        st_set(c, k, r)
        if i.sub:
            st_pop(c)
    return next_insn(c, i)

cdef int h_fcompp(CPU* c, Insn* i) noexcept nogil:
    """FCOMPP (DE D9) and FUCOMPP (DA E9; i.sub: quiet NaNs)."""
    c.cur = i
    cdef FEnv f
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0) or st_empty(c, 1):
        compare_underflow(c, 2)
    else:
        compare_report(c, &f, f_compare(&f, st_get(c, 0), st_get(c, 1), i.sub != 0), 2)
    return next_insn(c, i)

cdef int h_fucom(CPU* c, Insn* i) noexcept nogil:
    """FUCOM ST(i) (DD E0+i), FUCOMP ST(i) (DD E8+i)."""
    c.cur = i
    cdef uint32_t k = i.modrm & 7, pops = (i.modrm >> 3) & 1
    cdef FEnv f
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0) or st_empty(c, k):
        compare_underflow(c, pops)
    else:
        compare_report(c, &f, f_compare(&f, st_get(c, 0), st_get(c, k), True), pops)
    return next_insn(c, i)

cdef int h_fcomi(CPU* c, Insn* i) noexcept nogil:
    """FCOMI FUCOMI (DB F0+i, E8+i) and FCOMIP FUCOMIP (DF): ZF PF CF from
    the comparison, OF SF AF clear (i.sub: pop)."""
    c.cur = i
    cdef uint32_t k = i.modrm & 7
    cdef bint quiet_nans = (i.modrm & 0xF8) == 0xE8
    cdef FEnv f
    cdef int r
    cdef uint64_t fl
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0) or st_empty(c, k):
        set_arith(c, F_ZF | F_PF | F_CF)
        if stack_fault(c, False) and i.sub:
            st_pop(c)
        return next_insn(c, i)
    r = f_compare(&f, st_get(c, 0), st_get(c, k), quiet_nans)
    fl = F_ZF if r == 0 else (F_CF if r < 0 else (F_ZF | F_PF | F_CF if r > 1 else 0))
    set_arith(c, fl)                    # even when an exception is unmasked
    if x87_report(c, &f) or (f.ex & ~f.masks & 0x3F):
        return next_insn(c, i)
    set_c1(c, 0)
    if i.sub:
        st_pop(c)
    return next_insn(c, i)

cdef int h_ftst(CPU* c, Insn* i) noexcept nogil:
    """FTST: compare ST(0) with +0."""
    c.cur = i
    cdef FEnv f
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0):
        compare_underflow(c, 0)
    else:
        compare_report(c, &f, f_compare(&f, st_get(c, 0), f80(0, 0, 0), False), 0)
    return next_insn(c, i)

cdef int h_fxam(CPU* c, Insn* i) noexcept nogil:
    """FXAM: C1 the sign, C3 C2 C0 the class (empty 101, unsupported 000,
    NaN 001, normal 010, infinity 011, zero 100, denormal 110)."""
    c.cur = i
    cdef F80 v
    cdef uint32_t cc
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    v = st_get(c, 0)
    if st_empty(c, 0):
        cc = SW_C3 | SW_C0
    elif f_unsupported(v):
        cc = 0
    elif f_nan(v):
        cc = SW_C0
    elif f_inf(v):
        cc = SW_C2 | SW_C0
    elif f_zero(v):
        cc = SW_C3
    elif f_denormal(v):
        cc = SW_C3 | SW_C2
    else:
        cc = SW_C2
    set_cc(c, cc | (SW_C1 if f_sign(v) else 0))
    return next_insn(c, i)

cdef int h_fchs_fabs(CPU* c, Insn* i) noexcept nogil:
    """FCHS (i.sub 0), FABS (1): the sign bit only."""
    c.cur = i
    cdef F80 v
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    if st_empty(c, 0):
        underflow_to(c, 0, False)
        return next_insn(c, i)
    v = st_get(c, 0)
    v.se = (v.se & 0x7FFF) if i.sub else (v.se ^ 0x8000)
    set_c1(c, 0)
    st_set(c, 0, v)
    return next_insn(c, i)

cdef int h_funary(CPU* c, Insn* i) noexcept nogil:
    """FSQRT (i.sub 0) and FRNDINT (1): ST(0) = f(ST(0))."""
    c.cur = i
    cdef FEnv f
    cdef F80 r
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0):
        underflow_to(c, 0, False)
        return next_insn(c, i)
    r = f_sqrt(&f, st_get(c, 0)) if i.sub == 0 else f_round_int(&f, st_get(c, 0))
    if not x87_report(c, &f):
        st_set(c, 0, r)
    return next_insn(c, i)

cdef int h_fscale(CPU* c, Insn* i) noexcept nogil:
    """FSCALE: ST(0) = ST(0) * 2**trunc(ST(1))."""
    c.cur = i
    cdef FEnv f
    cdef F80 r
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0) or st_empty(c, 1):
        underflow_to(c, 0, False)
        return next_insn(c, i)
    r = f_scale(&f, st_get(c, 0), st_get(c, 1))
    if not x87_report(c, &f):
        st_set(c, 0, r)
    return next_insn(c, i)

cdef int h_fxtract(CPU* c, Insn* i) noexcept nogil:
    """FXTRACT: ST(0) = the exponent, then push the significand."""
    c.cur = i
    cdef FEnv f
    cdef F80 e, s
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    if st_empty(c, 0) or not st_empty(c, 7):
        # underflow first; either way the masked response pushes (the host
        # CPU overwrites a full ST(7) after an underflow too)
        if stack_fault(c, not st_empty(c, 0)):
            st_set(c, 0, f_indefinite())
            st_push(c, f_indefinite())
        return next_insn(c, i)
    e = f_exponent(&f, st_get(c, 0), &s)
    if not x87_report(c, &f):
        st_set(c, 0, e)
        st_push(c, s)
    return next_insn(c, i)

cdef int h_fprem(CPU* c, Insn* i) noexcept nogil:
    """FPREM (i.sub 0) and FPREM1 (1): ST(0) = the partial remainder of
    ST(0) / ST(1); C2 set if incomplete, else C0 C3 C1 = quotient bits 2 1 0."""
    c.cur = i
    cdef FEnv f
    cdef F80 r
    cdef uint64_t q
    cdef bint partial
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    env_init(c, &f)
    clear_c1_c2(c)
    if st_empty(c, 0) or st_empty(c, 1):
        underflow_to(c, 0, False)
        return next_insn(c, i)
    r = f_rem(&f, st_get(c, 0), st_get(c, 1), i.sub != 0, &q, &partial)
    if x87_report(c, &f):
        return next_insn(c, i)
    if f.ex & X_IE or f_nan(r):
        pass                    # no reduction (invalid, a NaN): C0 C3 as they were
    elif partial:
        set_cc(c, SW_C2)
    else:
        set_cc(c, (SW_C0 if q & 4 else 0) | (SW_C3 if q & 2 else 0) | (SW_C1 if q & 1 else 0))
    st_set(c, 0, r)
    return next_insn(c, i)

cdef int h_fxch(CPU* c, Insn* i) noexcept nogil:
    """FXCH ST(i) (and its aliases DD C8+i, DF C8+i)."""
    c.cur = i
    cdef uint32_t k = i.modrm & 7
    cdef F80 a, b
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    if st_empty(c, 0) or st_empty(c, k):
        if not stack_fault(c, False):
            return next_insn(c, i)
        if st_empty(c, 0):
            st_set(c, 0, f_indefinite())
        if st_empty(c, k):
            st_set(c, k, f_indefinite())
    else:
        set_c1(c, 0)
    a = st_get(c, 0)
    b = st_get(c, k)
    st_set(c, 0, b)
    st_set(c, k, a)
    return next_insn(c, i)

cdef int h_fcmov(CPU* c, Insn* i) noexcept nogil:
    """FCMOVcc ST(0), ST(i): DA (B E BE U) and DB (NB NE NBE NU); i.sub is
    the Jcc condition code."""
    c.cur = i
    cdef uint32_t k = i.modrm & 7
    if x87_check(c, True):
        return RC_FAULT
    x87_note(c, i)
    if st_empty(c, 0) or st_empty(c, k):
        underflow_to(c, 0, False)
        return next_insn(c, i)
    if eval_cc(c, i.sub):       # C1 changes only on underflow (SDM FCMOVcc)
        st_set(c, 0, st_get(c, k))
    return next_insn(c, i)

# --- stack and control ---------------------------------------------------------

cdef int h_fnop(CPU* c, Insn* i) noexcept nogil:
    """FNOP (D9 D0): only the x87 checks (EM/TS, a pending exception); the
    8087/287 FNENI, FNDISI, FNSETPM (i.sub 1) do not wait."""
    c.cur = i
    if x87_check(c, i.sub == 0):
        return RC_FAULT
    return next_insn(c, i)

cdef int h_fstp_adjust(CPU* c, Insn* i) noexcept nogil:
    """FDECSTP (i.sub 0), FINCSTP (1), FFREE ST(i) (2), FFREEP ST(i) (3)."""
    c.cur = i
    cdef uint32_t k = i.modrm & 7
    if x87_check(c, True):
        return RC_FAULT
    if i.sub < 2:
        c.fpu.top = (c.fpu.top + (1 if i.sub else 7)) & 7
        set_c1(c, 0)
    else:
        # C0-C3 are undefined (SDM FFREE); the host CPU clears C1 only.
        # FFREEP frees ST(i), then pops: ST(0) is empty too.
        set_c1(c, 0)
        c.fpu.ftw |= <uint16_t>(3 << (2 * st_phys(c, k)))
        if i.sub == 3:
            c.fpu.ftw |= <uint16_t>(3 << (2 * st_phys(c, 0)))
            c.fpu.top = (c.fpu.top + 1) & 7
    return next_insn(c, i)

cdef int h_fninit(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    if x87_check(c, False):
        return RC_FAULT
    fpu_init(c)
    return next_insn(c, i)

cdef int h_fnclex(CPU* c, Insn* i) noexcept nogil:
    """FNCLEX: clear the exception flags, SF, ES and B (which drops FERR#)."""
    c.cur = i
    if x87_check(c, False):
        return RC_FAULT
    c.fpu.fsw &= ~<uint16_t>(0x80FF)
    c.fpu.ferr = 0
    return next_insn(c, i)

cdef int h_fldcw(CPU* c, Insn* i) noexcept nogil:
    """FLDCW m16: a flag the new word unmasks becomes pending (ES)."""
    c.cur = i
    cdef uint64_t v
    if x87_check(c, True) or rd(c, mem_la(c, i), 2, &v):
        return RC_FAULT
    c.fpu.fcw = <uint16_t>((v & 0x1F3F) | 0x40)
    error_summary(c)
    return next_insn(c, i)

cdef int h_fnstcw(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    if x87_check(c, False):
        return RC_FAULT
    return ok_next(c, i, wr(c, mem_la(c, i), 2, c.fpu.fcw))

cdef int h_fnstsw(CPU* c, Insn* i) noexcept nogil:
    """FNSTSW m16 (DD /7) and FNSTSW AX (DF E0)."""
    c.cur = i
    if x87_check(c, False):
        return RC_FAULT
    if i.mod == 3:
        set_r(c, R_AX, 2, fsw_of(c))
        return next_insn(c, i)
    return ok_next(c, i, wr(c, mem_la(c, i), 2, fsw_of(c)))

cdef int h_fwait(CPU* c, Insn* i) noexcept nogil:
    """WAIT/FWAIT: #NM when CR0.MP and TS are both set; then a pending
    unmasked x87 exception is delivered."""
    c.cur = i
    if (c.cr0 & (FPU_CR0_MP | CR0_TS)) == (FPU_CR0_MP | CR0_TS):
        return fault(c, 7, 0, 0)
    if (c.fpu.fsw & SW_ES) and x87_pending(c):
        return RC_FAULT
    return next_insn(c, i)

# --- environment and state: FLDENV FNSTENV FRSTOR FNSAVE -----------------------
# Layouts (SDM Vol. 1 figures 8-9 to 8-12): 28 bytes with a 32-bit operand
# size, 14 with 16; in real and virtual-8086 mode the pointers are 20- or
# 32-bit linear addresses split around FOP instead of selector:offset.
# Reserved halves of the 32-bit layout are stored as ones.

cdef uint32_t env_store(CPU* c, Insn* i, uint8_t* b) noexcept nogil:
    """The environment image at b; returns its size."""
    cdef bint real = real_mode(c)
    cdef uint64_t ip = c.fpu.fip, dp = c.fpu.fdp
    if real:
        ip = ((<uint64_t>c.fpu.fcs << 4) + ip) & 0xFFFFFFFFULL
        dp = ((<uint64_t>c.fpu.fds << 4) + dp) & 0xFFFFFFFFULL
    if i.osz == 2:
        put_le(b, 2, c.fpu.fcw)
        put_le(b + 2, 2, fsw_of(c))
        put_le(b + 4, 2, full_tags(c))
        if real:
            put_le(b + 6, 2, ip)
            put_le(b + 8, 2, ((ip >> 16) << 12) | (c.fpu.fop & 0x7FF))
            put_le(b + 10, 2, dp)
            put_le(b + 12, 2, (dp >> 16) << 12)
        else:
            put_le(b + 6, 2, ip)
            put_le(b + 8, 2, c.fpu.fcs)
            put_le(b + 10, 2, dp)
            put_le(b + 12, 2, c.fpu.fds)
        return 14
    put_le(b, 4, 0xFFFF0000ULL | c.fpu.fcw)
    put_le(b + 4, 4, 0xFFFF0000ULL | fsw_of(c))
    put_le(b + 8, 4, 0xFFFF0000ULL | full_tags(c))
    if real:
        put_le(b + 12, 4, 0xFFFF0000ULL | (ip & 0xFFFF))
        put_le(b + 16, 4, ((ip >> 16) << 12) | (c.fpu.fop & 0x7FF))
        put_le(b + 20, 4, 0xFFFF0000ULL | (dp & 0xFFFF))
        put_le(b + 24, 4, (dp >> 16) << 12)
    else:
        put_le(b + 12, 4, ip)
        put_le(b + 16, 4, c.fpu.fcs | (<uint64_t>(c.fpu.fop & 0x7FF) << 16))
        put_le(b + 20, 4, dp)
        put_le(b + 24, 4, 0xFFFF0000ULL | c.fpu.fds)
    return 28

cdef uint32_t env_load(CPU* c, Insn* i, uint8_t* b) noexcept nogil:
    """Load the environment image at b; returns its size."""
    cdef bint real = real_mode(c)
    cdef uint32_t sw, tags, p, n = 2 if i.osz == 2 else 4
    c.fpu.fcw = <uint16_t>((get_le(b, 2) & 0x1F3F) | 0x40)
    sw = <uint32_t>get_le(b + n, 2)
    tags = <uint32_t>get_le(b + 2 * n, 2)
    if real:
        if n == 2:
            c.fpu.fip = get_le(b + 6, 2) | ((get_le(b + 8, 2) >> 12) << 16)
            c.fpu.fop = get_le(b + 8, 2) & 0x7FF
            c.fpu.fdp = get_le(b + 10, 2) | ((get_le(b + 12, 2) >> 12) << 16)
        else:
            c.fpu.fip = get_le(b + 12, 2) | ((get_le(b + 16, 4) >> 12) << 16)
            c.fpu.fop = get_le(b + 16, 2) & 0x7FF
            c.fpu.fdp = get_le(b + 20, 2) | ((get_le(b + 24, 4) >> 12) << 16)
        c.fpu.fcs = c.fpu.fds = 0
    elif n == 2:
        c.fpu.fip = get_le(b + 6, 2)
        c.fpu.fcs = <uint16_t>get_le(b + 8, 2)
        c.fpu.fdp = get_le(b + 10, 2)
        c.fpu.fds = <uint16_t>get_le(b + 12, 2)
    else:
        c.fpu.fip = get_le(b + 12, 4)
        c.fpu.fcs = <uint16_t>get_le(b + 16, 2)
        c.fpu.fop = get_le(b + 18, 2) & 0x7FF
        c.fpu.fdp = get_le(b + 20, 4)
        c.fpu.fds = <uint16_t>get_le(b + 24, 2)
    c.fpu.top = (sw >> 11) & 7
    c.fpu.fsw = <uint16_t>(sw & ~0x3800)
    c.fpu.ftw = 0
    for p in range(8):                  # only "empty or not" is kept
        c.fpu.ftw |= <uint16_t>((TAG_EMPTY if ((tags >> (2 * p)) & 3) == TAG_EMPTY
                                 else tag_of(c.fpu.st[p])) << (2 * p))
    error_summary(c)
    return 7 * n

cdef int h_fnstenv(CPU* c, Insn* i) noexcept nogil:
    """FNSTENV: store the environment, then mask every exception."""
    c.cur = i
    cdef uint8_t b[28]
    cdef uint32_t n
    if x87_check(c, False):
        return RC_FAULT
    n = env_store(c, i, b)
    if wr_buf(c, mem_la(c, i), b, n):
        return RC_FAULT
    c.fpu.fcw |= 0x3F
    error_summary(c)                    # everything masked: ES and B clear
    return next_insn(c, i)

cdef int h_fldenv(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint8_t b[28]
    if x87_check(c, True) or rd_buf(c, mem_la(c, i), b, 14 if i.osz == 2 else 28):
        return RC_FAULT
    env_load(c, i, b)
    return next_insn(c, i)

cdef int h_fnsave(CPU* c, Insn* i) noexcept nogil:
    """FNSAVE: the environment and ST(0)..ST(7), then FNINIT."""
    c.cur = i
    cdef uint8_t b[108]
    cdef uint32_t n, k
    if x87_check(c, False):
        return RC_FAULT
    n = env_store(c, i, b)
    for k in range(8):
        put_le(b + n + 10 * k, 8, st_get(c, k).sig)
        put_le(b + n + 10 * k + 8, 2, st_get(c, k).se)
    if wr_buf(c, mem_la(c, i), b, n + 80):
        return RC_FAULT
    fpu_init(c)
    return next_insn(c, i)

cdef int h_frstor(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint8_t b[108]
    cdef uint32_t n = 14 if i.osz == 2 else 28, k, p, top
    if x87_check(c, True) or rd_buf(c, mem_la(c, i), b, n + 80):
        return RC_FAULT
    top = (<uint32_t>get_le(b + n // 7, 2) >> 11) & 7      # the image's TOP
    for k in range(8):                  # registers first: env_load tags them
        p = (top + k) & 7
        c.fpu.st[p].sig = get_le(b + n + 10 * k, 8)
        c.fpu.st[p].se = <uint16_t>get_le(b + n + 10 * k + 8, 2)
    env_load(c, i, b)
    return next_insn(c, i)

# --- registers for Machine.reg_read/reg_write and state() ---------------------

X87_REG_NAMES = ("st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7",
                 "fpcw", "fpsw", "fptag", "fop", "fip", "fdp")

cdef object x87_reg_get(CPU* c, uint32_t k):
    """st0-st7 as raw 80-bit integers, the control words."""
    cdef F80 v
    if k < 8:
        v = st_get(c, k)
        return (<object>v.se << 64) | v.sig
    return (c.fpu.fcw, fsw_of(c), full_tags(c), c.fpu.fop, c.fpu.fip, c.fpu.fdp)[k - 8]

cdef x87_reg_set(CPU* c, uint32_t k, object value):
    cdef F80 v
    if k < 8:
        v.sig = value & 0xFFFFFFFFFFFFFFFF
        v.se = (value >> 64) & 0xFFFF
        c.fpu.st[st_phys(c, k)] = v
        if not st_empty(c, k):
            st_set(c, k, v)
    elif k == 8:
        c.fpu.fcw = value & 0x1F3F | 0x40
        error_summary(c)
    elif k == 9:
        c.fpu.top = (value >> 11) & 7
        c.fpu.fsw = value & 0xC7FF
        error_summary(c)
    elif k == 10:
        c.fpu.ftw = value & 0xFFFF
    elif k == 11:
        c.fpu.fop = value & 0x7FF
    elif k == 12:
        c.fpu.fip = value
    else:
        c.fpu.fdp = value
