# Data movement: MOV (all forms), MOVZX MOVSX MOVSXD, LEA, XCHG, XADD,
# CMPXCHG CMPXCHG8B CMPXCHG16B, XLAT, CMOVcc, SETcc, MOVBE, LAHF SAHF,
# CBW/CWDE/CDQE, CWD/CDQ/CQO.

# The templates of the MOV forms' generic handlers and specialized variants
# (gen_variants.py); a K_MEM variant hands anything but a TLB hit to `slow`,
# its generic handler (memory.pxi, RC_MISS).
cdef inline int mov_EG(CPU* c, Insn* i, uint32_t osz, uint32_t kind, handler_t slow) noexcept nogil:
    cdef int rc
    if is_reg(i, kind):
        set_r(c, i.rm, osz, get_r(c, i.reg, osz))
        return next_reg(c, i, kind)
    rc = wr_or_miss(c, addr_of(c, i, kind), osz, kind, get_r(c, i.reg, osz))
    if rc:
        return slow(c, i) if rc == RC_MISS else rc
    return next_mem(c, i, kind)

cdef inline int mov_GE(CPU* c, Insn* i, uint32_t osz, uint32_t kind, handler_t slow) noexcept nogil:
    cdef uint64_t v
    cdef int rc
    if kind == K_ANY and i.fixfl:
        redo_dead_flags(c, i)          # (a memory variant's miss: alu.pxi)
    if is_reg(i, kind):
        set_r(c, i.reg, osz, get_r(c, i.rm, osz))
        return next_reg(c, i, kind)
    rc = rd_or_miss(c, addr_of(c, i, kind), osz, kind, &v)
    if rc:
        return slow(c, i) if rc == RC_MISS else rc
    set_r(c, i.reg, osz, v)
    return next_mem(c, i, kind)

cdef inline bint mov_GE_hit(CPU* c, Insn* i, uint32_t osz, uint32_t kind) noexcept nogil:
    """mov_GE's memory form (kind K_MEM and up) as a fused pair's first
    (gen_variants.py PAIRS): run it if its load is a TLB hit, else do
    nothing and say so."""
    cdef uint64_t v
    if rd_or_miss(c, addr_of(c, i, kind), osz, kind, &v):
        return False
    set_r(c, i.reg, osz, v)
    return True

cdef inline int mov_EI(CPU* c, Insn* i, uint32_t osz, uint32_t kind, handler_t slow) noexcept nogil:
    cdef int rc
    if is_reg(i, kind):
        set_r(c, i.rm, osz, i.imm)
        return next_reg(c, i, kind)
    rc = wr_or_miss(c, addr_of(c, i, kind), osz, kind, i.imm)
    if rc:
        return slow(c, i) if rc == RC_MISS else rc
    return next_mem(c, i, kind)

cdef int h_mov_EG(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mov_EG(c, i, i.osz, K_ANY, NULL)
cdef int h_mov_GE(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mov_GE(c, i, i.osz, K_ANY, NULL)
cdef int h_mov_EI(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mov_EI(c, i, i.osz, K_ANY, NULL)

cdef inline int movx(CPU* c, Insn* i, uint32_t size, bint signed, uint32_t osz,
                     uint32_t kind, handler_t slow) noexcept nogil:
    """MOVZX/MOVSX of a `size`-byte r/m into an osz-byte register: the
    template of their specialized variants (gen_variants.py); `slow` as for
    mov_GE."""
    cdef uint64_t v
    cdef int rc
    if is_reg(i, kind):
        v = get_r(c, i.rm, size)
    else:
        rc = rd_or_miss(c, addr_of(c, i, kind), size, kind, &v)
        if rc:
            return slow(c, i) if rc == RC_MISS else rc
    set_r(c, i.reg, osz, <uint64_t>sext(v, size * 8) if signed else v)
    return next_reg(c, i, kind) if is_reg(i, kind) else next_mem(c, i, kind)

cdef int h_movzx(CPU* c, Insn* i) noexcept nogil:
    """MOVZX Gv, Eb/Ew (0F B6 / 0F B7)."""
    c.cur = i
    cdef uint64_t v
    if i.fixfl:
        redo_dead_flags(c, i)          # (a memory variant's miss: alu.pxi)
    if rm_read(c, i, 1 if i.opcode == 0x1B6 else 2, &v):
        return RC_FAULT
    set_r(c, i.reg, i.osz, v)
    return next_insn(c, i)

cdef int h_movsx(CPU* c, Insn* i) noexcept nogil:
    """MOVSX Gv, Eb/Ew (0F BE / 0F BF) and MOVSXD Gv, Ed (63 in 64-bit mode;
    without REX.W it is a plain 32/16-bit move)."""
    c.cur = i
    cdef uint64_t v
    cdef uint32_t size = 1 if i.opcode == 0x1BE else (2 if i.opcode == 0x1BF else 4)
    if i.fixfl:
        redo_dead_flags(c, i)
    if size > i.osz:
        size = i.osz
    if rm_read(c, i, size, &v):
        return RC_FAULT
    set_r(c, i.reg, i.osz, <uint64_t>sext(v, size * 8))
    return next_insn(c, i)

cdef inline int lea(CPU* c, Insn* i, uint32_t osz, uint32_t kind) noexcept nogil:
    """LEA: the template of the generic handler and its variants by size and
    form."""
    set_r(c, i.reg, osz, ea_form(c, i, kind))
    return next_insn_reg(c, i)           # (computes an address, accesses nothing)

cdef int h_lea(CPU* c, Insn* i) noexcept nogil: c.cur = i; return lea(c, i, i.osz, K_ANY)

cdef int h_xchg(CPU* c, Insn* i) noexcept nogil:
    """XCHG r/m, reg (86/87) and XCHG rAX, reg (90+r, decoded as mod 3)."""
    c.cur = i
    cdef uint64_t a, b, la
    b = get_r(c, i.reg, i.osz)
    if i.mod == 3:
        a = get_r(c, i.rm, i.osz)
        set_r(c, i.rm, i.osz, b)
        set_r(c, i.reg, i.osz, a)
        return next_insn(c, i)
    la = mem_la(c, i)
    if rmw_read(c, la, i.osz, &a):
        return RC_FAULT
    if wr(c, la, i.osz, b):             # (a device's: rmw_read saw it writable)
        return RC_FAULT
    set_r(c, i.reg, i.osz, a)
    return next_insn(c, i)

cdef int h_xchg_ax(CPU* c, Insn* i) noexcept nogil:
    """XCHG rAX, r (91-97, and 90 with REX.B)."""
    c.cur = i
    cdef uint64_t a = get_r(c, R_AX, i.osz)
    set_r(c, R_AX, i.osz, get_r(c, i.rm, i.osz))
    set_r(c, i.rm, i.osz, a)
    return next_insn(c, i)

cdef int h_movsxd_arpl(CPU* c, Insn* i) noexcept nogil:
    """63: MOVSXD Gv, Ed in 64-bit mode; ARPL Ew, Gw elsewhere (#UD in real
    mode): raise the RPL of the destination selector to the source's."""
    c.cur = i
    cdef uint64_t d, la, s
    if c.mode == 64:
        return h_movsx(c, i)
    if c.mode == 16:
        return fault(c, EXC_UD, 0, 0)
    if i.mod == 3:
        d = get_r(c, i.rm, 2)
    else:
        la = mem_la(c, i)
        if rmw_read(c, la, 2, &d):
            return RC_FAULT
    s = get_r(c, i.reg, 2)
    materialize(c)
    if (d & 3) < (s & 3):
        c.eflags |= F_ZF
        d = (d & ~<uint64_t>3) | (s & 3)
        if i.mod == 3:
            set_r(c, i.rm, 2, d)
        elif wr(c, la, 2, d):
            return RC_FAULT
    else:
        c.eflags &= ~<uint64_t>F_ZF
    return next_insn(c, i)

cdef int h_bound(CPU* c, Insn* i) noexcept nogil:
    """BOUND Gv, Ma: #BR (vector 5) unless lower <= index <= upper (signed)."""
    c.cur = i
    cdef uint64_t lo, hi, la = mem_la(c, i)
    cdef uint32_t bits = i.osz * 8
    cdef int64_t v = sext(get_r(c, i.reg, i.osz), bits)
    if rd(c, la, i.osz, &lo) or rd(c, (la + i.osz) & c.lamask, i.osz, &hi):
        return RC_FAULT
    if v < sext(lo, bits) or v > sext(hi, bits):
        return fault(c, EXC_BR, 0, 0)
    return next_insn(c, i)

cdef int h_nop(CPU* c, Insn* i) noexcept nogil:
    """NOP, PAUSE, the 0F 1F family and other hint NOPs; also fences."""
    return next_insn(c, i)

cdef int h_xadd(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t d, s, r, la
    s = get_r(c, i.reg, i.osz)
    if i.mod == 3:
        d = get_r(c, i.rm, i.osz)
    else:
        la = mem_la(c, i)
        if rmw_read(c, la, i.osz, &d):
            return RC_FAULT
    r = do_alu(c, A_ADD, d, s, i.osz * 8, True)
    set_r(c, i.reg, i.osz, d)
    if i.mod == 3:
        set_r(c, i.rm, i.osz, r)
        return next_insn(c, i)
    return ok_next(c, i, wr(c, la, i.osz, r))

cdef int h_cmpxchg(CPU* c, Insn* i) noexcept nogil:
    """CMPXCHG r/m, reg.  As the SDM's pseudocode, the destination is
    written in both cases (with its old value on a mismatch)."""
    c.cur = i
    cdef uint64_t d, acc, la
    if i.mod == 3:
        d = get_r(c, i.rm, i.osz)
    else:
        la = mem_la(c, i)
        if rmw_read(c, la, i.osz, &d):
            return RC_FAULT
    acc = get_r(c, R_AX, i.osz)
    do_alu(c, A_CMP, acc, d, i.osz * 8, True)
    if acc == d:
        return ok_next(c, i, rm_write(c, i, i.osz, get_r(c, i.reg, i.osz)))
    rm_write(c, i, i.osz, d)
    set_r(c, R_AX, i.osz, d)
    return next_insn(c, i)

cdef int h_cmpxchg8b(CPU* c, Insn* i) noexcept nogil:
    """CMPXCHG8B m64, or CMPXCHG16B m128 with REX.W (16-byte aligned, else
    #GP(0)).  Only ZF changes."""
    c.cur = i
    cdef uint64_t la, lo, hi, la2
    cdef uint32_t half = 8 if i.osz == 8 else 4
    cdef bint eq
    la = mem_la(c, i)
    if half == 8 and (la & 15):
        return fault(c, EXC_GP, 1, 0)
    la2 = (la + half) & c.lamask
    if rmw_read(c, la, half, &lo) or rmw_read(c, la2, half, &hi):
        return RC_FAULT
    eq = lo == get_r(c, R_AX, half) and hi == get_r(c, R_DX, half)
    materialize(c)
    if eq:
        c.eflags |= F_ZF
        lo = get_r(c, R_BX, half)
        hi = get_r(c, R_CX, half)
    else:
        c.eflags &= ~<uint64_t>F_ZF
    if wr(c, la, half, lo) or wr(c, la2, half, hi):
        return RC_FAULT                 # (a device's: rmw_read saw it writable)
    if not eq:
        set_r(c, R_AX, half, lo)
        set_r(c, R_DX, half, hi)
    return next_insn(c, i)

cdef int h_xlat(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t v
    cdef uint64_t ea = (c.r[R_BX] + (c.r[R_AX] & 0xFF)) & i.amask
    if rd(c, lin_of(c, i.seg, ea), 1, &v):
        return RC_FAULT
    set_r(c, R_AX, 1, v)
    return next_insn(c, i)

cdef int h_cmov(CPU* c, Insn* i) noexcept nogil:
    """CMOVcc: the source is always read; a 32-bit destination is always
    written (so its upper half is cleared even when the condition is false)."""
    c.cur = i
    cdef uint64_t v
    if rm_read(c, i, i.osz, &v):
        return RC_FAULT
    if eval_cc(c, i.sub):
        set_r(c, i.reg, i.osz, v)
    elif i.osz == 4:
        set_r(c, i.reg, 4, c.r[i.reg])
    return next_insn(c, i)

cdef int h_setcc(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    return ok_next(c, i, rm_write(c, i, 1, eval_cc(c, i.sub)))

cdef int h_movbe(CPU* c, Insn* i) noexcept nogil:
    """MOVBE Gv, M (0F 38 F0) and MOVBE M, Gv (0F 38 F1)."""
    c.cur = i
    cdef uint64_t v
    if i.opcode == 0x2F0:
        if rd(c, mem_la(c, i), i.osz, &v):
            return RC_FAULT
        set_r(c, i.reg, i.osz, byteswap(v, i.osz))
        return next_insn(c, i)
    return ok_next(c, i, wr(c, mem_la(c, i), i.osz, byteswap(get_r(c, i.reg, i.osz), i.osz)))

cdef inline uint64_t byteswap(uint64_t v, uint32_t osz) noexcept nogil:
    if osz == 8:
        return pv_bswap64(v)
    if osz == 4:
        return pv_bswap32(<uint32_t>v)
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)

cdef int h_lahf(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    set_r(c, 0x24, 1, (get_eflags(c) & 0xD5) | 2)       # AH
    return next_insn(c, i)

cdef int h_sahf(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    set_arith(c, (get_eflags(c) & F_OF) | ((c.r[R_AX] >> 8) & 0xD5))
    return next_insn(c, i)

cdef int h_cbw(CPU* c, Insn* i) noexcept nogil:
    """CBW / CWDE / CDQE: sign-extend the lower half of rAX into rAX."""
    c.cur = i
    cdef uint32_t half = i.osz * 4
    set_r(c, R_AX, i.osz, <uint64_t>sext(c.r[R_AX], half))
    return next_insn(c, i)

cdef int h_cwd(CPU* c, Insn* i) noexcept nogil:
    """CWD / CDQ / CQO: fill rDX with the sign of rAX."""
    c.cur = i
    set_r(c, R_DX, i.osz, <uint64_t>-<int64_t>sign_of(c.r[R_AX], i.osz * 8))
    return next_insn(c, i)
