# Segment registers: MOV to/from Sreg, PUSH/POP Sreg, LDS LES LSS LFS LGS,
# far JMP/CALL/RET and IRET.  In real mode (a 16-bit machine) a selector's
# base is selector * 16.  In the flat 32/64-bit machine the descriptor
# tables are empty, so only null selectors load (into DS ES FS GS, and SS
# in 64-bit mode); anything else faults as an empty GDT would: #GP(sel).

cdef int load_seg(CPU* c, uint32_t s, uint32_t sel) noexcept nogil:
    sel &= 0xFFFF
    if c.mode == 16:
        c.sel[s] = sel
        c.segbase[s] = <uint64_t>sel << 4
        if s == S_CS:
            memset(c.jcache, 0, JC_SIZE * sizeof(Block*))   # blocks are keyed by IP
        return RC_OK
    if (sel & 0xFFFC) == 0:
        if s == S_CS or (s == S_SS and c.mode != 64):
            return fault(c, 13, 1, 0)
        c.sel[s] = sel
        return RC_OK
    return fault(c, 13, 1, sel & 0xFFFC)

cdef int h_mov_Sw_E(CPU* c, Insn* i) noexcept nogil:
    """MOV Sreg, r/m16 (8E); CS or a register number above 5 is #UD."""
    cdef uint64_t v
    cdef uint32_t s = i.reg & 7
    if s == S_CS or s > S_GS:
        return fault(c, 6, 0, 0)
    if rm_read(c, i, 2, &v):
        return RC_FAULT
    return ok_next(c, i, load_seg(c, s, <uint32_t>v))

cdef int h_mov_E_Sw(CPU* c, Insn* i) noexcept nogil:
    """MOV r/m, Sreg (8C): a register gets the selector zero-extended to the
    operand size; memory always gets 16 bits."""
    cdef uint32_t s = i.reg & 7
    if s > S_GS:
        return fault(c, 6, 0, 0)
    if i.mod == 3:
        set_r(c, i.rm, i.osz, c.sel[s])
        return next_insn(c, i)
    return ok_next(c, i, wr(c, mem_la(c, i), 2, c.sel[s]))

cdef int h_push_seg(CPU* c, Insn* i) noexcept nogil:
    """PUSH Sreg: with a 32/64-bit operand size rSP moves by the operand
    size but only 16 bits are written, as recent Intel processors do."""
    cdef uint64_t sp = c.r[R_SP] - i.osz
    if wr(c, stack_la(c, sp), 2, c.sel[i.sub]):
        return RC_FAULT
    set_sp(c, sp)
    return next_insn(c, i)

cdef int h_pop_seg(CPU* c, Insn* i) noexcept nogil:
    cdef uint64_t v
    if peek(c, 2, 0, &v) or load_seg(c, i.sub, <uint32_t>v):
        return RC_FAULT
    set_sp(c, c.r[R_SP] + i.osz)
    return next_insn(c, i)

cdef int h_lxs(CPU* c, Insn* i) noexcept nogil:
    """LES (C4) LDS (C5) LSS (0F B2) LFS (0F B4) LGS (0F B5): a far pointer
    from memory, offset first."""
    cdef uint64_t off, sel, la = mem_la(c, i)
    if rd(c, la, i.osz, &off) or rd(c, (la + i.osz) & c.lamask, 2, &sel):
        return RC_FAULT
    if load_seg(c, i.sub, <uint32_t>sel):
        return RC_FAULT
    set_r(c, i.reg, i.osz, off)
    return next_insn(c, i)

cdef inline int far_jump(CPU* c, uint64_t sel, uint64_t off, uint32_t osz) noexcept nogil:
    if load_seg(c, S_CS, <uint32_t>sel):
        return RC_FAULT
    jump(c, off, osz)
    return RC_OK

cdef inline int far_jump_end(CPU* c, uint64_t sel, uint64_t off, uint32_t osz) noexcept nogil:
    """A far jump that ends the block."""
    return RC_FAULT if far_jump(c, sel, off, osz) else RC_JUMP

cdef int h_jmp_far(CPU* c, Insn* i) noexcept nogil:
    """JMP ptr16:16/32 (EA) and JMP m16:16/32/64 (FF /5)."""
    cdef uint64_t off, sel, la
    if i.opcode == 0xEA:
        return far_jump_end(c, i.imm2, i.imm, i.osz)
    la = mem_la(c, i)
    if rd(c, la, i.osz, &off) or rd(c, (la + i.osz) & c.lamask, 2, &sel):
        return RC_FAULT
    return far_jump_end(c, sel, off, i.osz)

cdef int h_call_far(CPU* c, Insn* i) noexcept nogil:
    """CALL ptr16:16/32 (9A) and CALL m16:16/32/64 (FF /3)."""
    cdef uint64_t off, sel, la, sp = c.r[R_SP], ret = next_ip(c, i), cs = c.sel[S_CS]
    if i.opcode == 0x9A:
        off = i.imm
        sel = i.imm2
    else:
        la = mem_la(c, i)
        if rd(c, la, i.osz, &off) or rd(c, (la + i.osz) & c.lamask, 2, &sel):
            return RC_FAULT
    if check_wr(c, stack_la(c, sp - 2 * i.osz), 2 * i.osz):
        return RC_FAULT
    if far_jump(c, sel, off, i.osz):
        return RC_FAULT
    push(c, i.osz, cs)
    push(c, i.osz, ret)
    return RC_JUMP

cdef int h_ret_far(CPU* c, Insn* i) noexcept nogil:
    """RETF and RETF imm16 (CB, CA)."""
    cdef uint64_t off, sel
    if peek(c, i.osz, 0, &off) or peek(c, 2, i.osz, &sel):
        return RC_FAULT
    if far_jump(c, sel, off, i.osz):
        return RC_FAULT
    set_sp(c, c.r[R_SP] + 2 * i.osz + i.imm)
    return RC_JUMP

cdef int h_iret(CPU* c, Insn* i) noexcept nogil:
    """IRET/IRETD/IRETQ: pop rIP, CS and rFLAGS (at CPL 0: all of POPF's
    bits)."""
    cdef uint64_t off, sel, fl, mask = POPF_MASK & size_mask(i.osz)
    if peek(c, i.osz, 0, &off) or peek(c, 2, i.osz, &sel) or peek(c, i.osz, 2 * i.osz, &fl):
        return RC_FAULT
    if far_jump(c, sel, off, i.osz):
        return RC_FAULT
    set_sp(c, c.r[R_SP] + 3 * i.osz)
    materialize(c)
    c.eflags = (c.eflags & ~mask) | (fl & mask) | 2
    return RC_JUMP
