# Group 2 shifts and rotates (C0 C1 D0-D3; ModRM.reg: 0 ROL 1 ROR 2 RCL
# 3 RCR 4 SHL 5 SHR 6 SAL (= SHL) 7 SAR), and SHLD/SHRD.

# Where a shift's count comes from: the instruction (CNT_ANY: decided by its
# opcode at run time), an immediate (C0 C1), 1 (D0 D1) or CL (D2 D3).  The
# variants by an immediate (CNT_IMM) are given only to nonzero counts
# (specialize, gen_variants.py), so they skip the zero-count case.
cdef enum:
    CNT_ANY = 0
    CNT_IMM = 1
    CNT_ONE = 2
    CNT_CL = 3

cdef inline uint32_t shift_count(CPU* c, Insn* i, uint32_t cnt, uint32_t osz) noexcept nogil:
    """The count, masked to 5 bits (6 for 64-bit operands)."""
    cdef uint64_t n
    if cnt == CNT_ANY:
        if i.opcode == 0xD2 or i.opcode == 0xD3 or i.opcode == 0x1A5 or i.opcode == 0x1AD:
            cnt = CNT_CL
        elif i.opcode == 0xD0 or i.opcode == 0xD1:
            cnt = CNT_ONE
        else:
            cnt = CNT_IMM
    if cnt == CNT_CL:
        n = c.r[R_CX]
    elif cnt == CNT_ONE:
        n = 1
    else:
        n = i.imm
    return <uint32_t>(n & (0x3F if osz == 8 else 0x1F))

cdef inline uint64_t shifted(uint32_t op, uint64_t d, uint32_t n, uint32_t osz) noexcept nogil:
    """d (osz bytes) shifted by n as op (LF_SHL, LF_SHR, LF_SAR) does it."""
    cdef uint64_t r
    if op == LF_SHL:
        r = (d << n) if n < 64 else 0
    elif op == LF_SHR:
        r = (d >> n) if n < 64 else 0
    else:
        r = <uint64_t>(sext(d, osz * 8) >> (n if n < 64 else 63))
    return r & size_mask(osz)

cdef inline int shift_jcc(CPU* c, Insn* i, uint32_t op, uint32_t cnt, uint32_t osz, uint32_t cc,
                          handler_t first) noexcept nogil:
    """A shift of a register by 1 or a nonzero immediate (a variant of
    shift_op's, whose work it does) fused with the Jcc after it on ZF or SF
    (cc 4, 5, 8, 9; control.pxi fuse_jcc says how fusion works).  `first`
    is unused: a register shift cannot miss or fault."""
    cdef uint32_t bits = osz * 8, rm = i.rm
    cdef uint32_t n = shift_count(c, i, cnt, osz)
    cdef uint64_t d = get_r(c, rm, osz)
    cdef uint64_t r = shifted(op, d, n, osz)
    set_lazy(c, op, bits, d, n, r)
    set_r(c, rm, osz, r)
    return fused_branch(c, i, (r == 0) if cc == 4 or cc == 5 else sign_of(r, bits), cc)

cdef inline int shift_op(CPU* c, Insn* i, uint32_t op, uint32_t cnt, uint32_t osz,
                         uint32_t kind, bint fl) noexcept nogil:
    """SHL/SHR/SAR; op is LF_SHL, LF_SHR or LF_SAR.  A zero count changes
    nothing (not even the flags).  The template of the generic handlers and
    of their specialized variants (gen_variants.py); fl as for do_alu."""
    cdef uint64_t d, r, la
    cdef uint32_t bits = osz * 8, rm = i.rm    # (read once: the flag stores might alias i)
    cdef uint32_t n = shift_count(c, i, cnt, osz)
    if is_reg(i, kind):
        d = get_r(c, rm, osz)
    else:
        c.cur = i                      # (a memory form's variant has no TLB-hit path: dispatch.pxi)
        la = mem_la(c, i)
        if rmw_read(c, la, osz, &d):
            return RC_FAULT
    if n == 0 and cnt != CNT_IMM:
        if is_reg(i, kind) and osz == 4:
            set_r(c, i.rm, 4, d)       # a 32-bit destination is written (upper half cleared)
        return next_reg(c, i, kind) if is_reg(i, kind) else next_insn(c, i)
    r = shifted(op, d, n, osz)
    if fl:
        set_lazy(c, op, bits, d, n, r)
    if is_reg(i, kind):
        set_r(c, rm, osz, r)
        return next_reg(c, i, kind)
    return ok_next(c, i, wr(c, la, osz, r))

cdef int h_shl(CPU* c, Insn* i) noexcept nogil: c.cur = i; return shift_op(c, i, LF_SHL, CNT_ANY, i.osz, K_ANY, True)
cdef int h_shr(CPU* c, Insn* i) noexcept nogil: c.cur = i; return shift_op(c, i, LF_SHR, CNT_ANY, i.osz, K_ANY, True)
cdef int h_sar(CPU* c, Insn* i) noexcept nogil: c.cur = i; return shift_op(c, i, LF_SAR, CNT_ANY, i.osz, K_ANY, True)

cdef inline uint64_t rotate_left(uint64_t d, uint32_t t, uint32_t bits) noexcept nogil:
    """d (32 or 64 bits) rotated left by t < bits, in the form the C
    compiler makes one rotate instruction of."""
    cdef uint32_t x
    if bits == 32:
        x = <uint32_t>d
        return <uint32_t>((x << (t & 31)) | (x >> ((32 - t) & 31)))
    return (d << (t & 63)) | (d >> ((64 - t) & 63))

cdef inline int rotate_op(CPU* c, Insn* i, uint32_t kind, uint32_t cnt, uint32_t osz,
                          uint32_t rk, bint fl) noexcept nogil:
    """kind: 0 ROL, 1 ROR, 2 RCL, 3 RCR.  CF and OF (defined for a count
    of 1; other counts use the same formula) go to eflags, the other flags
    stay as they were, lazy or not (LF_CFOF).  The
    template of the generic handlers and of the ROL/ROR variants (cnt, osz
    rk (K_*) and fl as for shift_op)."""
    cdef uint64_t d, r, la, cf, m, of
    cdef uint32_t bits = osz * 8, t, rm = i.rm    # (read once: the flag stores might alias i)
    cdef uint32_t n = shift_count(c, i, cnt, osz)
    if is_reg(i, rk):
        d = get_r(c, rm, osz)
    else:
        c.cur = i                      # (a memory form's variant has no TLB-hit path: dispatch.pxi)
        la = mem_la(c, i)
        if rmw_read(c, la, osz, &d):
            return RC_FAULT
    if n == 0 and cnt != CNT_IMM:
        if is_reg(i, rk) and osz == 4:
            set_r(c, i.rm, 4, d)       # a 32-bit destination is written (upper half cleared)
        return next_reg(c, i, rk) if is_reg(i, rk) else next_insn(c, i)
    m = size_mask(osz)
    cf = get_cf(c) if kind >= 2 else 0       # RCL/RCR rotate it in
    r = d
    if kind == 0:
        t = n % bits
        if bits >= 32:
            r = rotate_left(d, t, bits)
        elif t:
            r = ((d << t) | (d >> (bits - t))) & m
        cf = r & 1
        of = sign_of(r, bits) ^ cf
    elif kind == 1:
        t = n % bits
        if bits >= 32:
            r = rotate_left(d, (bits - t) & (bits - 1), bits)
        elif t:
            r = ((d >> t) | (d << (bits - t))) & m
        cf = sign_of(r, bits)
        of = sign_of(r, bits) ^ ((r >> (bits - 2)) & 1)
    else:
        t = n % (bits + 1) if bits < 32 else n
        if kind == 2:
            while t:                      # at most 63 steps, rare instruction
                cf, r = sign_of(r, bits), ((r << 1) | cf) & m
                t -= 1
            of = sign_of(r, bits) ^ cf
        else:
            of = sign_of(d, bits) ^ cf
            while t:
                cf, r = r & 1, (r >> 1) | (cf << (bits - 1))
                t -= 1
    if fl:
        if c.lf_op != LF_NONE:
            c.lf_op |= LF_CFOF                # the other four flags stay lazy
        c.eflags = (c.eflags & ~<uint64_t>(F_CF | F_OF)) | cf | (of << 11)
    if is_reg(i, rk):
        set_r(c, rm, osz, r)
        return next_reg(c, i, rk)
    return ok_next(c, i, wr(c, la, osz, r))

cdef int h_rol(CPU* c, Insn* i) noexcept nogil: c.cur = i; return rotate_op(c, i, 0, CNT_ANY, i.osz, K_ANY, True)
cdef int h_ror(CPU* c, Insn* i) noexcept nogil: c.cur = i; return rotate_op(c, i, 1, CNT_ANY, i.osz, K_ANY, True)
cdef int h_rcl(CPU* c, Insn* i) noexcept nogil: c.cur = i; return rotate_op(c, i, 2, CNT_ANY, i.osz, K_ANY, True)
cdef int h_rcr(CPU* c, Insn* i) noexcept nogil: c.cur = i; return rotate_op(c, i, 3, CNT_ANY, i.osz, K_ANY, True)

cdef inline int double_shift(CPU* c, Insn* i, bint left) noexcept nogil:
    """SHLD/SHRD r/m, reg, imm8|CL.  For 16-bit operands with a count above
    16 (result undefined) the operands are treated as dest:src:dest, as Intel
    processors do."""
    cdef uint64_t d, s, r, la, cf, wide
    cdef uint32_t osz = i.osz, bits = osz * 8
    cdef uint32_t n = shift_count(c, i, CNT_ANY, osz)
    if i.mod == 3:
        d = get_r(c, i.rm, osz)
    else:
        la = mem_la(c, i)
        if rmw_read(c, la, osz, &d):
            return RC_FAULT
    if n == 0:
        if i.mod == 3 and osz == 4:
            set_r(c, i.rm, 4, d)       # a 32-bit destination is written (upper half cleared)
        return next_insn(c, i)
    s = get_r(c, i.reg, osz)
    if bits == 16:
        if left:
            wide = (d << 32) | (s << 16) | d            # 48 bits
            r = (wide >> (32 - n)) & 0xFFFF if n <= 32 else 0
            cf = (wide >> (48 - n)) & 1
        else:
            wide = (d << 32) | (s << 16) | d
            r = (wide >> n) & 0xFFFF
            cf = (wide >> (n - 1)) & 1
    elif left:
        r = ((d << n) | (s >> (bits - n))) & size_mask(osz)
        cf = (d >> (bits - n)) & 1
    else:
        r = ((d >> n) | (s << (bits - n))) & size_mask(osz)
        cf = (d >> (n - 1)) & 1
    # OF: set when the sign changed (defined for a count of 1); AF undefined.
    set_arith(c, szp_flags(r, bits) | cf | (F_OF if sign_of(r ^ d, bits) else 0))
    if i.mod == 3:
        set_r(c, i.rm, osz, r)
        return next_insn(c, i)
    return ok_next(c, i, wr(c, la, osz, r))

cdef int h_shld(CPU* c, Insn* i) noexcept nogil: c.cur = i; return double_shift(c, i, True)
cdef int h_shrd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return double_shift(c, i, False)
