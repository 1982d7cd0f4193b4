# Control transfer: Jcc, JMP, CALL, RET, LOOP/LOOPE/LOOPNE, JrCXZ, HLT, and
# the #UD/#GP handlers of undefined and over-long instructions.  (INT n and
# friends are in interrupts.pxi, far transfers in segments.pxi.)
# A taken branch sets R_RIP and returns RC_JUMP.  The near branches here go
# on to the next block through chain() (dispatch.pxi), which returns RC_JUMP
# when the run loop must look; a conditional one not taken runs the rest of
# its block (a side exit, icache.pxi).

cdef inline int jump(CPU* c, uint64_t target, uint32_t osz) noexcept nogil:
    c.r[R_RIP] = target & size_mask(osz)
    return RC_JUMP

cdef inline int near_jump_sz(CPU* c, Insn* i, uint64_t target, uint32_t osz) noexcept nogil:
    # (size_mask by cases: two predictable tests, not a variable shift; none
    # when osz is a variant's constant)
    if osz == 8:
        return chain(c, i, target)
    return chain(c, i, target & (0xFFFFFFFFULL if osz == 4 else 0xFFFF))

cdef inline int near_jump(CPU* c, Insn* i, uint64_t target) noexcept nogil:
    return near_jump_sz(c, i, target, i.osz)

cdef inline bint bad_target(CPU* c, uint64_t t) noexcept nogil:
    """A near branch's target the CPU refuses: non-canonical in 64-bit mode,
    past CS's limit in protected mode (c.cs_limited: the limit is below the
    IP's range).  The branch raises #GP(0) itself (SDM Vol. 2A JMP, Jcc,
    CALL, LOOP, Vol. 2B RET: "if the target is beyond the code segment
    limit" / "not in canonical form")."""
    return not canonical(t) or (c.cs_limited and t > c.seglimit[S_CS])

cdef int branch_gp(CPU* c, Insn* i) noexcept nogil:
    """(chain) A near branch to a bad_target: #GP(0) at the branch, with the
    state before it, not at the target's fetch.  RET and LOOP have already
    popped and counted: undo that.  CALL checks its target before the push
    (call_E, h_call_rel), so it never gets here."""
    if i.opcode == 0xC2 or i.opcode == 0xC3:
        set_sp(c, c.r[R_SP] - <uint64_t>i.osz - i.imm)
    elif 0xE0 <= i.opcode <= 0xE2:
        set_areg(c, R_CX, i.amask, (c.r[R_CX] + 1) & i.amask)
    return fault(c, EXC_GP, 1, 0)

cdef inline void set_rel_target(CPU* c, Insn* i, uint64_t rip) noexcept nogil:
    """(build_block) A relative branch decoded at rip: imm becomes its target
    less the block's start (next_ip + the displacement: the end of the
    instruction wrapped to the IP's size first, as the SDM computes it) and
    imm2 the operand size's mask, so that rel_target is an addition and an
    AND, with no test of the size; disp, which it has no use for, its
    link."""
    i.imm = ((rip + i.next) & c.ipmask) - rip + i.imm
    i.imm2 = size_mask(i.osz)
    link_of(i)[0] = &NO_ENTRY          # (chain_rel, dispatch.pxi)

cdef inline uint64_t rel_target(CPU* c, Insn* i) noexcept nogil:
    """A relative branch's target (set_rel_target)."""
    return (c.r[R_BASE] + i.imm) & i.imm2

cdef inline int branch_rel(CPU* c, Insn* i) noexcept nogil:
    """A relative branch (not CALL) taken: on to its target's block."""
    if i.self_n:
        return chain_self(c, i)
    return chain_rel(c, i, rel_target(c, i))

cdef inline int fall_through(CPU* c, Insn* i) noexcept nogil:
    """A conditional branch not taken: the rest of its block (icache.pxi),
    or its end marker, which goes on to the next block (h_block_next)."""
    return next_insn_reg(c, i)

cdef inline int jcc(CPU* c, Insn* i, uint32_t cc) noexcept nogil:
    if eval_cc(c, cc):
        return branch_rel(c, i)
    return fall_through(c, i)

cdef int h_jcc(CPU* c, Insn* i) noexcept nogil: return jcc(c, i, i.sub)

cdef int h_jmp_rel(CPU* c, Insn* i) noexcept nogil:
    return branch_rel(c, i)

cdef int h_jmp_on(CPU* c, Insn* i) noexcept nogil:
    """A JMP rel that build_block followed: its target is the block's next
    instruction (icache.pxi).  It touches no flag and cannot fault."""
    return next_insn_reg(c, i)

cdef int h_call_on(CPU* c, Insn* i) noexcept nogil:
    """A CALL rel that build_block followed: it pushes the return address,
    and its target is the block's next instruction (icache.pxi).  If the
    push ends the block (a store into its code), the run loop goes on at
    the target: i.disp is its offset from the block's start."""
    c.cur = i
    cdef int rc = push(c, i.osz, next_ip(c, i))
    if rc:
        return rc
    if c.block_abort:
        c.r[R_RIP] = (c.r[R_BASE] + <uint64_t>i.disp) & c.ipmask
        return RC_JUMP
    return next_insn_reg(c, i)

cdef int h_call_rel(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t t = rel_target(c, i)
    if bad_target(c, t):               # (build_block leaves such a CALL to this handler)
        return fault(c, EXC_GP, 1, 0)
    if push(c, i.osz, next_ip(c, i)):
        return RC_FAULT
    return chain_rel(c, i, t)

cdef int h_jmp_E(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t t
    if rm_read(c, i, i.osz, &t):
        return RC_FAULT
    return near_jump(c, i, t)

cdef int h_call_E(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t t
    if rm_read(c, i, i.osz, &t):
        return RC_FAULT
    if bad_target(c, t):               # #GP(0) before the push (SDM Vol. 2A CALL)
        return fault(c, EXC_GP, 1, 0)
    if push(c, i.osz, next_ip(c, i)):
        return RC_FAULT
    return near_jump(c, i, t)

cdef int h_ret(CPU* c, Insn* i) noexcept nogil:
    """RET and RET imm16 (the immediate is 0 for C3)."""
    c.cur = i
    cdef uint64_t t
    if pop(c, i.osz, &t):
        return RC_FAULT
    set_sp(c, c.r[R_SP] + i.imm)
    return near_jump(c, i, t)

# The templates of the variants of CALL, RET and the indirect JMP
# (gen_variants.py): TLB hits only (stack.pxi), anything else in the
# generic handler.
cdef inline int call_rel(CPU* c, Insn* i, uint32_t osz) noexcept nogil:
    if c.cs_limited or push_or_miss(c, osz, next_ip(c, i)):   # (the limit: in h_call_rel)
        return h_call_rel(c, i)
    return chain_rel(c, i, rel_target(c, i))

cdef inline int call_on(CPU* c, Insn* i, uint32_t osz) noexcept nogil:
    if push_or_miss(c, osz, next_ip(c, i)):
        return h_call_on(c, i)
    return next_insn_reg(c, i)         # (a TLB hit: no decoded code on that page)

cdef inline int ret(CPU* c, Insn* i, uint32_t osz) noexcept nogil:
    cdef uint64_t t
    if i.imm or pop_or_miss(c, osz, &t):
        return h_ret(c, i)
    return near_jump_sz(c, i, t, osz)

cdef inline int call_E(CPU* c, Insn* i, uint32_t osz, uint32_t kind) noexcept nogil:
    cdef uint64_t t
    if is_reg(i, kind):
        t = get_r(c, i.rm, osz)
    elif rd_or_miss(c, addr_of(c, i, kind), osz, kind, &t):
        return h_call_E(c, i)
    if (osz == 8 and not canonical(t)) or c.cs_limited or push_or_miss(c, osz, next_ip(c, i)):
        return h_call_E(c, i)
    return near_jump_sz(c, i, t, osz)

cdef inline int jmp_E(CPU* c, Insn* i, uint32_t osz, uint32_t kind) noexcept nogil:
    cdef uint64_t t
    if is_reg(i, kind):
        t = get_r(c, i.rm, osz)
    elif rd_or_miss(c, addr_of(c, i, kind), osz, kind, &t):
        return h_jmp_E(c, i)
    return near_jump_sz(c, i, t, osz)

cdef int h_loop(CPU* c, Insn* i) noexcept nogil:
    """LOOPNE (E0), LOOPE (E1), LOOP (E2): decrement the count register (of
    the address size) without touching flags, branch while it is nonzero."""
    cdef uint64_t m = i.amask
    cdef uint64_t n = (c.r[R_CX] - 1) & m
    set_areg(c, R_CX, m, n)
    if n != 0 and (i.opcode == 0xE2 or get_zf(c) == (i.opcode == 0xE1)):
        return branch_rel(c, i)
    return fall_through(c, i)

cdef int h_jcxz(CPU* c, Insn* i) noexcept nogil:
    if (c.r[R_CX] & i.amask) == 0:
        return branch_rel(c, i)
    return fall_through(c, i)

cdef int h_hlt(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    if need_cpl0(c):
        return RC_FAULT
    if pv_traps(c, i, PV_HLT):
        return pv_trap_exit(c, i, PV_HLT, 0, 0, 0)
    # (with other CPUs, one halted with IF clear waits for an NMI, INIT or SIPI)
    if ((c.eflags & F_IF) or nmi_due(c) or c.m.ncpus > 1) and has_idt(c):
        c.halted = 1                   # wait for an interrupt or the NMI (the run loop)
        c.halt_rip = c.r[R_BASE] + i.off
        look_now(c)               # ... which looks at once, even with nothing scheduled
        return RC_END
    c.exit_reason = EXIT_HLT
    return RC_EXIT

cdef int h_ud(CPU* c, Insn* i) noexcept nogil:
    """UD2, undefined opcodes, and everything not implemented (x87, SSE,
    system instructions not yet modelled): #UD."""
    c.cur = i
    return fault(c, EXC_UD, 0, 0)

cdef int h_gp0(CPU* c, Insn* i) noexcept nogil:
    """An instruction longer than 15 bytes: #GP(0)."""
    c.cur = i
    return fault(c, EXC_GP, 1, 0)

# Macro-fusion: a CMP, SUB or TEST followed by a Jcc in the same block (the
# Jcc is then the block's last instruction) runs as one handler installed on
# the first instruction.  It records the lazy flags exactly as the first
# instruction alone would (later code may read them), decides the branch from
# the operands, and retires both.  The Jcc keeps its own Insn and handler
# (the next entry: fuse_pair fuses only neighbours), but the fused handler
# does not look at its slot: when the run loop cuts the block there (a
# budget, `until`, single-step) it puts the first instruction's own handler
# back for that run too (unfuse_before), which runs it alone as before.  A
# fault in the first instruction returns before the Jcc is touched.
# gen_variants.py instantiates fuse_jcc for each (operation, form, size,
# condition) it fuses and fuse_pair (variants.pxi) installs them.
cdef enum:
    FM_EG = 0       # r/m op reg
    FM_GE = 1       # reg op r/m
    FM_EI = 2       # r/m op imm
    FM_TEST = 3     # r/m AND reg, flags only

cdef inline int fuse_jcc(CPU* c, Insn* i, uint32_t op, uint32_t form, uint32_t osz,
                         uint32_t kind, uint32_t cc, handler_t first) noexcept nogil:
    """`first`: the first instruction's own handler, which runs it alone when
    its memory operand is not a TLB hit (memory.pxi, RC_MISS)."""
    cdef uint64_t d, s, r, m = size_mask(osz)
    cdef uint32_t bits = osz * 8
    cdef bint t
    if form == FM_GE:
        d = get_r(c, i.reg, osz)
        if is_reg(i, kind):
            s = get_r(c, i.rm, osz)
        elif rd_or_miss(c, addr_of(c, i, kind), osz, kind, &s):
            return first(c, i)
    else:
        if is_reg(i, kind):
            d = get_r(c, i.rm, osz)
        elif rd_or_miss(c, addr_of(c, i, kind), osz, kind, &d):
            return first(c, i)
        s = (i.imm & m) if form == FM_EI else get_r(c, i.reg, osz)
    if form == FM_TEST:
        r = d & s
        set_lazy(c, LF_LOGIC, bits, 0, 0, r)
        if cc == 4 or cc == 5:
            t = (r & m) == 0
        else:                               # 8, 9: SF
            t = sign_of(r, bits)
    else:
        r = do_alu(c, op, d, s, bits, True)       # CMP or SUB (register destination)
        if op != A_CMP:
            if form == FM_GE:
                set_r(c, i.reg, osz, r)
            else:
                set_r(c, i.rm, osz, r)
        if cc == 2 or cc == 3:
            t = d < s
        elif cc == 4 or cc == 5:
            t = d == s
        elif cc == 6 or cc == 7:
            t = d <= s
        elif cc == 12 or cc == 13:
            t = sext(d, bits) < sext(s, bits)
        else:                               # 14, 15
            t = sext(d, bits) <= sext(s, bits)
    return fused_branch(c, i, t, cc)

cdef inline int fused_branch(CPU* c, Insn* i, bint t, uint32_t cc) noexcept nogil:
    """The Jcc after i (a fused pair's first) on condition cc, t the value of
    its even condition (cc & ~1), once i completed."""
    # (a register operand or a TLB hit: nothing that would end the block as
    # next_insn does; chain sets c.cur if it returns)
    cdef Insn* j = i + 1
    if t ^ (cc & 1):
        return branch_rel(c, j)
    return fall_through(c, j)
