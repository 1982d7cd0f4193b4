# Segmentation: segment register loads (real mode: base = selector * 16;
# protected mode: descriptors from the GDT or LDT with the type, privilege
# and presence checks and their #GP/#SS/#NP error codes), MOV/PUSH/POP Sreg,
# LDS LES LSS LFS LGS, far JMP/CALL/RET and IRET, LLDT LTR SLDT STR, LAR
# LSL VERR VERW, and 16/32-bit call gates (with the stack switch and the
# parameter copy of a CALL to an inner level).  Task gates, TSS selectors
# (hardware task switches) and 64-bit call gates are not implemented: they
# raise #GP(selector).

cdef int read_desc(CPU* c, uint32_t sel, uint64_t* desc, int vector) noexcept nogil:
    """The 8-byte descriptor for a selector; #GP/#TS(sel) past the table."""
    cdef uint64_t base
    cdef uint32_t limit
    if sel & 4:
        base = c.ldt_base
        limit = c.ldt_limit if c.ldt_sel & 0xFFFC else 0
    else:
        base = c.gdt_base
        limit = c.gdt_limit
    if (sel | 7) > limit:
        return fault(c, vector, 1, sel & 0xFFFC)
    return rd_sys(c, (base + (sel & 0xFFF8)) & c.lamask, 8, desc)

cdef inline uint64_t desc_base(uint64_t d) noexcept nogil:
    return ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24)

cdef inline uint32_t desc_limit(uint64_t d) noexcept nogil:
    cdef uint32_t limit = <uint32_t>((d & 0xFFFF) | ((d >> 32) & 0xF0000))
    if d & (<uint64_t>1 << 55):                # G: 4 KiB granularity
        limit = (limit << 12) | 0xFFF
    return limit

cdef inline uint32_t desc_attr(uint64_t d) noexcept nogil:
    return <uint32_t>((d >> 40) & 0xF0FF)

cdef void set_accessed(CPU* c, uint32_t sel, uint64_t d) noexcept nogil:
    cdef uint64_t base = c.ldt_base if sel & 4 else c.gdt_base
    if not (d & (<uint64_t>1 << 40)):
        wr_sys(c, (base + (sel & 0xFFF8) + 5) & c.lamask, 1, ((d >> 40) & 0xFF) | 1)

cdef void cache_seg(CPU* c, uint32_t s, uint32_t sel, uint64_t d) noexcept nogil:
    c.sel[s] = sel
    c.segbase[s] = desc_base(d)
    c.seglimit[s] = desc_limit(d)
    c.segattr[s] = desc_attr(d) | ATTR_ACCESSED
    segs_changed(c)

cdef void load_real(CPU* c, uint32_t s, uint32_t sel) noexcept nogil:
    """Real mode keeps a segment's limit and attributes (so 'unreal' mode
    works); virtual-8086 mode sets 64 KiB, 16-bit, DPL 3."""
    c.sel[s] = sel
    c.segbase[s] = <uint64_t>sel << 4
    if c.eflags & F_VM:
        c.seglimit[s] = 0xFFFF
        c.segattr[s] = 0xFB if s == S_CS else 0xF3
    if s == S_CS:
        jcache_flush(c)
    segs_changed(c)

cdef int load_seg(CPU* c, uint32_t s, uint32_t sel) noexcept nogil:
    """Load a data or stack segment register (not CS)."""
    cdef uint64_t d
    cdef uint32_t attr, dpl, rpl
    sel &= 0xFFFF
    if real_mode(c):
        load_real(c, s, sel)
        return RC_OK
    rpl = sel & 3
    if (sel & 0xFFFC) == 0:
        if s == S_SS and (c.mode != 64 or rpl != c.cpl or c.cpl == 3):
            return fault(c, EXC_GP, 1, 0)
        c.sel[s] = sel
        c.segattr[s] = 0                       # unusable
        segs_changed(c)
        if s == S_SS:
            update_mode(c)
        return RC_OK
    if read_desc(c, sel, &d, 13):
        return RC_FAULT
    attr = desc_attr(d)
    dpl = attr_dpl(attr)
    if s == S_SS:
        if rpl != c.cpl or dpl != c.cpl or (attr & (ATTR_S | ATTR_CODE | ATTR_WRITABLE)) != (ATTR_S | ATTR_WRITABLE):
            return fault(c, EXC_GP, 1, sel & 0xFFFC)
        if not (attr & ATTR_P):
            return fault(c, EXC_SS, 1, sel & 0xFFFC)
    else:
        if not (attr & ATTR_S) or (attr & (ATTR_CODE | ATTR_WRITABLE)) == ATTR_CODE:
            return fault(c, EXC_GP, 1, sel & 0xFFFC)   # system, or execute-only code
        if (attr & (ATTR_CODE | ATTR_CONFORMING)) != (ATTR_CODE | ATTR_CONFORMING):
            if dpl < rpl or dpl < c.cpl:
                return fault(c, EXC_GP, 1, sel & 0xFFFC)
        if not (attr & ATTR_P):
            return fault(c, EXC_NP, 1, sel & 0xFFFC)
    set_accessed(c, sel, d)
    cache_seg(c, s, sel, d)
    if s == S_SS:
        update_mode(c)
    return RC_OK

cdef int load_cs(CPU* c, uint32_t sel, uint32_t new_cpl, bint check_only) noexcept nogil:
    """Load CS for a far JMP/CALL/RET or an interrupt at privilege new_cpl
    (checks the descriptor: present code segment, privilege rules).  Call
    gates, task gates and TSS selectors are not implemented: #GP(sel)."""
    cdef uint64_t d
    cdef uint32_t attr, dpl
    sel &= 0xFFFF
    if real_mode(c):
        if not check_only:
            load_real(c, S_CS, sel)
        return RC_OK
    if (sel & 0xFFFC) == 0:
        return fault(c, EXC_GP, 1, 0)
    if read_desc(c, sel, &d, 13):
        return RC_FAULT
    attr = desc_attr(d)
    dpl = attr_dpl(attr)
    if (attr & (ATTR_S | ATTR_CODE)) != (ATTR_S | ATTR_CODE):
        return fault(c, EXC_GP, 1, sel & 0xFFFC)
    if attr & ATTR_CONFORMING:
        if dpl > new_cpl:
            return fault(c, EXC_GP, 1, sel & 0xFFFC)
    elif dpl != new_cpl:
        return fault(c, EXC_GP, 1, sel & 0xFFFC)
    if not (attr & ATTR_P):
        return fault(c, EXC_NP, 1, sel & 0xFFFC)
    if (c.efer & EFER_LMA) and (attr & ATTR_L) and (attr & ATTR_DB):
        return fault(c, EXC_GP, 1, sel & 0xFFFC)
    if check_only:
        return RC_OK
    set_accessed(c, sel, d)
    cache_seg(c, S_CS, (sel & 0xFFFC) | new_cpl, d)
    set_cpl(c, new_cpl)
    update_mode(c)
    jcache_flush(c)
    return RC_OK

cdef int h_mov_Sw_E(CPU* c, Insn* i) noexcept nogil:
    """MOV Sreg, r/m16 (8E); CS or a register number above 5 is #UD.
    Loading SS blocks interrupts for one instruction."""
    c.cur = i
    cdef uint64_t v
    cdef uint32_t s = i.reg & 7
    if s == S_CS or s > S_GS:
        return fault(c, EXC_UD, 0, 0)
    if rm_read(c, i, 2, &v) or load_seg(c, s, <uint32_t>v):
        return RC_FAULT
    if s == S_SS:
        return ss_loaded(c)
    return next_insn(c, i)

cdef int ss_loaded(CPU* c) noexcept nogil:
    """After MOV SS or POP SS (SDM Vol. 3A 6.8.3): interrupts wait one
    instruction, and so do the #DB traps this one raised (single-step, data
    breakpoints): they come after the next (cpu_run).  The block ends here,
    so the run loop sees which instruction it was."""
    c.shadow = 1
    c.db_blocked = 1
    look_now(c)
    return RC_END

cdef int h_mov_E_Sw(CPU* c, Insn* i) noexcept nogil:
    """MOV r/m, Sreg (8C): a register gets the selector zero-extended to the
    operand size; memory always gets 16 bits."""
    c.cur = i
    cdef uint32_t s = i.reg & 7
    if s > S_GS:
        return fault(c, EXC_UD, 0, 0)
    if i.mod == 3:
        set_r(c, i.rm, i.osz, c.sel[s])
        return next_insn(c, i)
    return ok_next(c, i, wr(c, mem_la(c, i), 2, c.sel[s]))

cdef int h_push_seg(CPU* c, Insn* i) noexcept nogil:
    """PUSH Sreg: with a 32/64-bit operand size rSP moves by the operand
    size but only 16 bits are written, as recent Intel processors do."""
    c.cur = i
    cdef uint64_t sp = c.r[R_SP] - i.osz
    if wr(c, stack_la(c, sp), 2, c.sel[i.sub]):
        return RC_FAULT
    set_sp(c, sp)
    return next_insn(c, i)

cdef int h_pop_seg(CPU* c, Insn* i) noexcept nogil:
    """POP Sreg.  rSP moves with the width of the SS the value was popped
    through: POP SS updates it by the old SS's B bit, then loads the new."""
    c.cur = i
    cdef uint64_t v, old_sp = c.r[R_SP]
    if peek(c, 2, 0, &v):
        return RC_FAULT
    set_sp(c, old_sp + i.osz)
    if load_seg(c, i.sub, <uint32_t>v):
        c.r[R_SP] = old_sp                     # a fault leaves rSP as it was
        return RC_FAULT
    if i.sub == S_SS:
        return ss_loaded(c)
    return next_insn(c, i)

cdef int h_lxs(CPU* c, Insn* i) noexcept nogil:
    """LES (C4) LDS (C5) LSS (0F B2) LFS (0F B4) LGS (0F B5): a far pointer
    from memory, offset first."""
    c.cur = i
    cdef uint64_t off, sel, la = mem_la(c, i)
    if rd(c, la, i.osz, &off) or rd(c, (la + i.osz) & c.lamask, 2, &sel):
        return RC_FAULT
    if load_seg(c, i.sub, <uint32_t>sel):
        return RC_FAULT
    set_r(c, i.reg, i.osz, off)
    return next_insn(c, i)

cdef inline int far_target(CPU* c, Insn* i, uint64_t* sel, uint64_t* off) noexcept nogil:
    """The ptr16:16/32 immediate, or m16:16/32/64 from memory."""
    cdef uint64_t la
    if i.opcode == 0xEA or i.opcode == 0x9A:
        off[0] = i.imm
        sel[0] = i.imm2
        return 0
    la = mem_la(c, i)
    if rd(c, la, i.osz, off) or rd(c, (la + i.osz) & c.lamask, 2, sel):
        return RC_FAULT
    return 0

cdef int read_gate(CPU* c, uint32_t sel, uint64_t* gate) noexcept nogil:
    """1 if sel names a call gate (its descriptor in gate), 0 if something
    else, RC_FAULT (as -1) on a fault."""
    cdef uint32_t attr
    if real_mode(c) or (sel & 0xFFFC) == 0:
        return 0
    if read_desc(c, sel, gate, 13):
        return -1
    attr = desc_attr(gate[0])
    if attr & ATTR_S:
        return 0
    if (attr & 0x17) == 0x01 or (attr & 0x1F) == 0x05:
        return 2                              # a TSS (16- or 32-bit) or a task gate: switch tasks
    if (attr & 0xF) == 0x4 or (attr & 0xF) == 0xC:
        if c.efer & EFER_LMA:
            if (attr & 0xF) != 0xC:
                fault(c, EXC_GP, 1, sel & 0xFFFC)  # only 64-bit call gates in long mode
                return -1
            # a 16-byte descriptor: the upper half holds offset bits 63-32
            if rd_sys(c, ((c.ldt_base if sel & 4 else c.gdt_base) + (sel & 0xFFF8) + 8) & c.lamask,
                      8, &gate[1]):
                return -1
        if attr_dpl(attr) < c.cpl or attr_dpl(attr) < (sel & 3):
            fault(c, EXC_GP, 1, sel & 0xFFFC)
            return -1
        if not (attr & ATTR_P):
            fault(c, EXC_NP, 1, sel & 0xFFFC)
            return -1
        return 1
    fault(c, EXC_GP, 1, sel & 0xFFFC)
    return -1

cdef int far_task_switch(CPU* c, Insn* i, uint32_t sel, uint64_t desc, int kind) noexcept nogil:
    """JMP/CALL to a TSS descriptor or through a task gate."""
    cdef uint32_t attr = desc_attr(desc)
    if attr_dpl(attr) < c.cpl or attr_dpl(attr) < (sel & 3):
        return fault(c, EXC_GP, 1, sel & 0xFFFC)
    if (attr & 0x1F) == 0x05:
        if not (attr & ATTR_P):
            return fault(c, EXC_NP, 1, sel & 0xFFFC)
        sel = (desc >> 16) & 0xFFFF            # the gate names the TSS
    if task_switch(c, sel, kind, next_ip(c, i), 0, 0):
        return RC_FAULT
    return RC_JUMP

cdef inline uint64_t gate_offset(CPU* c, uint64_t* gate) noexcept nogil:
    cdef uint64_t off = (gate[0] & 0xFFFF) | ((gate[0] >> 32) & 0xFFFF0000ULL)
    if c.efer & EFER_LMA:
        return off | ((gate[1] & 0xFFFFFFFFULL) << 32)
    return off if (gate[0] >> 40) & 8 else off & 0xFFFF

cdef inline uint32_t gate_width(CPU* c, uint64_t* gate) noexcept nogil:
    """Operand size of a call gate's transfer: 8 for a 64-bit gate, else 4
    (386 gate) or 2 (286 gate)."""
    if c.efer & EFER_LMA:
        return 8
    return 4 if (gate[0] >> 40) & 8 else 2

cdef int far_ip_check(CPU* c, uint32_t sel, uint64_t ip) noexcept nogil:
    """A far JMP/CALL/RET/IRET whose new rIP is past the new CS's limit (or,
    into 64-bit code, not canonical) raises #GP(0) before it changes
    anything, at the transfer (SDM Vol. 2A JMP, CALL: "if EIP not within
    code segment limit"; Vol. 2B RET, IRET), as Bochs does.  sel passed
    load_cs's checks.  In real and virtual-8086 mode CS is not reloaded
    from a descriptor: not checked here."""
    cdef uint64_t d
    if real_mode(c) or (c.eflags & F_VM):
        return 0
    if read_desc(c, sel, &d, 13):
        return RC_FAULT
    if (c.efer & EFER_LMA) and (desc_attr(d) & ATTR_L):
        return 0 if canonical(ip) else fault(c, EXC_GP, 1, 0)
    return fault(c, EXC_GP, 1, 0) if ip > desc_limit(d) else 0

cdef int h_jmp_far(CPU* c, Insn* i) noexcept nogil:
    """JMP ptr16:16/32 (EA) and JMP m16:16/32/64 (FF /5), also through a
    call gate (no privilege change)."""
    c.cur = i
    cdef uint64_t off, sel, d
    cdef uint64_t gate[2]
    cdef int g
    if far_target(c, i, &sel, &off):
        return RC_FAULT
    g = read_gate(c, <uint32_t>sel, gate)
    if g < 0:
        return RC_FAULT
    if g == 2:
        return far_task_switch(c, i, <uint32_t>sel, gate[0], TS_JMP)
    if g:
        sel = (gate[0] >> 16) & 0xFFFF
        off = gate_offset(c, gate)
        if read_desc(c, <uint32_t>sel, &d, 13):
            return RC_FAULT
        if attr_dpl(desc_attr(d)) > c.cpl or (not (desc_attr(d) & ATTR_CONFORMING) and attr_dpl(desc_attr(d)) != c.cpl):
            return fault(c, EXC_GP, 1, <uint32_t>sel & 0xFFFC)
        if (load_cs(c, <uint32_t>sel, c.cpl, True)
                or far_ip_check(c, <uint32_t>sel, off & size_mask(gate_width(c, gate)))):
            return RC_FAULT
        load_cs(c, <uint32_t>sel, c.cpl, False)
        return jump(c, off, gate_width(c, gate))
    if load_cs(c, <uint32_t>sel, c.cpl, True) or far_ip_check(c, <uint32_t>sel, off & size_mask(i.osz)):
        return RC_FAULT
    load_cs(c, <uint32_t>sel, c.cpl, False)
    return jump(c, off, i.osz)

cdef int tss_stack(CPU* c, uint32_t dpl, uint32_t ext, uint64_t* nsp, uint64_t* nss,
                   uint64_t* ss_desc) noexcept nogil:
    """The stack for privilege level dpl from the current TSS, for an
    interrupt or a call gate that raises privilege: rSP (and, outside long
    mode, SS with its descriptor, checked: #TS or #SS with ext as the EXT
    bit).  A TSS too short to hold them is #TS(TSS).  0 or RC_FAULT."""
    cdef uint32_t width = 8 if (c.efer & EFER_LMA) else (4 if (c.tr_attr & 0x8) else 2)
    cdef uint64_t at = (4 + 8 * dpl) if width != 2 else (2 + 4 * dpl)
    if at + (8 if width == 8 else 2 * width) - 1 > c.tr_limit:
        return fault(c, EXC_TS, 1, (c.tr_sel & 0xFFFC) | ext)
    if rd_sys(c, (c.tr_base + at) & c.lamask, width, nsp):
        return RC_FAULT
    if width == 8:
        nss[0] = dpl                           # long mode: a null SS at the new level
        return 0
    if rd_sys(c, (c.tr_base + at + width) & c.lamask, 2, nss):
        return RC_FAULT
    if (nss[0] & 0xFFFC) == 0 or read_desc(c, <uint32_t>nss[0], ss_desc, 10):
        return fault(c, EXC_TS, 1, (<uint32_t>nss[0] & 0xFFFC) | ext)
    if ((nss[0] & 3) != dpl or attr_dpl(desc_attr(ss_desc[0])) != dpl
            or (desc_attr(ss_desc[0]) & (ATTR_S | ATTR_CODE | ATTR_WRITABLE)) != (ATTR_S | ATTR_WRITABLE)):
        return fault(c, EXC_TS, 1, (<uint32_t>nss[0] & 0xFFFC) | ext)
    if not (desc_attr(ss_desc[0]) & ATTR_P):
        return fault(c, EXC_SS, 1, (<uint32_t>nss[0] & 0xFFFC) | ext)
    return 0

cdef int call_gate(CPU* c, Insn* i, uint64_t* gate) noexcept nogil:
    """CALL through a call gate; to a more privileged non-conforming code
    segment, switch to that level's stack from the TSS and copy the gate's
    parameter count of words/dwords from the caller's stack (64-bit gates
    copy none and leave SS null at the new level)."""
    cdef uint64_t d, sd, nsp, nss, old_sp = c.r[R_SP], old_ss = c.sel[S_SS], v, base, spmask
    cdef uint64_t old_cs = c.sel[S_CS]
    cdef uint32_t sel = (gate[0] >> 16) & 0xFFFF, attr, dpl, width = gate_width(c, gate)
    cdef uint32_t params = (gate[0] >> 32) & 0x1F, k, n = 0
    cdef uint64_t off = gate_offset(c, gate)
    cdef uint64_t frame[40]
    if (sel & 0xFFFC) == 0:
        return fault(c, EXC_GP, 1, 0)
    if read_desc(c, sel, &d, 13):
        return RC_FAULT
    attr = desc_attr(d)
    dpl = attr_dpl(attr)
    if (attr & (ATTR_S | ATTR_CODE)) != (ATTR_S | ATTR_CODE) or dpl > c.cpl:
        return fault(c, EXC_GP, 1, sel & 0xFFFC)
    if not (attr & ATTR_P):
        return fault(c, EXC_NP, 1, sel & 0xFFFC)
    if far_ip_check(c, sel, off & size_mask(width)):
        return RC_FAULT
    if (attr & ATTR_CONFORMING) or dpl == c.cpl:
        if check_wr(c, stack_la(c, old_sp - 2 * width), 2 * width) or load_cs(c, sel, c.cpl, False):
            return RC_FAULT
        push(c, width, old_cs)
        push(c, width, next_ip(c, i))
        return jump(c, off, width)
    # inner privilege: the new stack from the TSS
    if tss_stack(c, dpl, 0, &nsp, &nss, &sd):
        return RC_FAULT
    if width == 8:
        frame[0] = old_ss
        frame[1] = old_sp
        frame[2] = old_cs
        frame[3] = next_ip(c, i)
        for k in range(4):
            nsp -= 8
            if wr_sys(c, nsp, 8, frame[k]):
                return RC_FAULT
        load_cs(c, sel, dpl, False)
        c.sel[S_SS] = <uint16_t>dpl             # a null selector at the new level
        c.segattr[S_SS] = 0
        c.r[R_SP] = nsp
        return jump(c, off, 8)
    frame[n] = old_ss
    frame[n + 1] = old_sp
    n += 2
    for k in range(params):                   # the parameters, deepest first
        if peek(c, width, (params - 1 - k) * width, &v):
            return RC_FAULT
        frame[n] = v
        n += 1
    frame[n] = c.sel[S_CS]
    frame[n + 1] = next_ip(c, i)
    n += 2
    base = desc_base(sd)
    spmask = 0xFFFFFFFFULL if (desc_attr(sd) & ATTR_DB) else 0xFFFF
    if frame_outside_stack(c, True, sd, nsp, spmask, n * width):   # (interrupts.pxi)
        return fault(c, EXC_SS, 1, <uint32_t>nss & 0xFFFC)
    for k in range(n):
        nsp -= width
        if wr_sys(c, (base + (nsp & spmask)) & c.lamask, width, frame[k]):
            return RC_FAULT
    cache_seg(c, S_SS, <uint32_t>nss, sd)
    load_cs(c, sel, dpl, False)
    if spmask == 0xFFFF:
        c.r[R_SP] = (c.r[R_SP] & ~<uint64_t>0xFFFF) | (nsp & 0xFFFF)
    else:
        c.r[R_SP] = nsp & spmask
    return jump(c, off, width)

cdef int h_call_far(CPU* c, Insn* i) noexcept nogil:
    """CALL ptr16:16/32 (9A) and CALL m16:16/32/64 (FF /3), also through a
    call gate."""
    c.cur = i
    cdef uint64_t off, sel, sp = c.r[R_SP], ret = next_ip(c, i), cs = c.sel[S_CS]
    cdef uint64_t gate[2]
    cdef int g
    if far_target(c, i, &sel, &off):
        return RC_FAULT
    g = read_gate(c, <uint32_t>sel, gate)
    if g < 0:
        return RC_FAULT
    if g == 2:
        return far_task_switch(c, i, <uint32_t>sel, gate[0], TS_CALL)
    if g:
        return call_gate(c, i, gate)
    if load_cs(c, <uint32_t>sel, c.cpl, True) or far_ip_check(c, <uint32_t>sel, off & size_mask(i.osz)):
        return RC_FAULT
    if check_wr(c, stack_la(c, sp - 2 * i.osz), 2 * i.osz):
        return RC_FAULT
    load_cs(c, <uint32_t>sel, c.cpl, False)
    push(c, i.osz, cs)
    push(c, i.osz, ret)
    return jump(c, off, i.osz)

cdef void null_outer_segments(CPU* c) noexcept nogil:
    """On a return to an outer privilege level, data segment registers the
    new level may not use become null."""
    cdef uint32_t k, s, attr
    cdef uint32_t segs[4]
    segs[0] = S_ES
    segs[1] = S_DS
    segs[2] = S_FS
    segs[3] = S_GS
    for k in range(4):
        s = segs[k]
        attr = c.segattr[s]
        if (attr & ATTR_CODE) and (attr & ATTR_CONFORMING):
            continue
        if attr_dpl(attr) < c.cpl and (c.sel[s] & 0xFFFC):
            c.sel[s] = 0
            c.segattr[s] = 0
    segs_changed(c)

cdef int far_return(CPU* c, uint32_t osz, uint64_t extra, bint iret) noexcept nogil:
    """RETF / IRET common part: pop rIP and CS (and rFLAGS for IRET); on a
    return to an outer level (or always for IRETQ) pop rSP and SS too."""
    cdef uint64_t off, sel, fl = 0, nsp, nss, mask
    cdef uint32_t rpl, n = 3 if iret else 2, old_cpl = c.cpl
    cdef bint outer
    if peek(c, osz, 0, &off) or peek(c, 2, osz, &sel):
        return RC_FAULT
    if iret and peek(c, osz, 2 * osz, &fl):
        return RC_FAULT
    if iret and (fl & F_VM) and osz == 4 and c.cpl == 0 and (c.cr0 & CR0_PE) and not (c.eflags & F_VM):
        return iret_to_v86(c, off, sel, fl)
    if real_mode(c):
        if load_cs(c, <uint32_t>sel, 0, False):
            return RC_FAULT
        set_sp(c, c.r[R_SP] + n * osz + extra)
    else:
        rpl = <uint32_t>sel & 3
        if rpl < c.cpl:
            return fault(c, EXC_GP, 1, <uint32_t>sel & 0xFFFC)
        outer = rpl > c.cpl or (iret and c.mode == 64)
        if outer:
            if peek(c, osz, n * osz + extra, &nsp) or peek(c, 2, (n + 1) * osz + extra, &nss):
                return RC_FAULT
        if load_cs(c, <uint32_t>sel, rpl, True) or far_ip_check(c, <uint32_t>sel, off & size_mask(osz)):
            return RC_FAULT
        load_cs(c, <uint32_t>sel, rpl, False)
        if outer:
            if load_seg(c, S_SS, <uint32_t>nss):
                return RC_FAULT
            set_sp(c, nsp + extra)             # RETF imm16 releases the outer stack's parameters too
            if rpl > old_cpl:
                null_outer_segments(c)
        else:
            set_sp(c, c.r[R_SP] + n * osz + extra)
    if iret:
        # At CPL 0 every POPF bit; IOPL only at CPL 0, IF only at CPL <= IOPL.
        mask = (POPF_MASK | F_RF) & size_mask(osz)      # RF too (POPF leaves it)
        if old_cpl > 0:
            mask &= ~<uint64_t>F_IOPL
        if old_cpl > iopl(c):
            mask &= ~<uint64_t>F_IF
        materialize(c)
        c.eflags = (c.eflags & ~mask) | (fl & mask) | 2
        look_now(c)
    c.r[R_RIP] = off & size_mask(osz)
    return RC_OK

cdef int iret_to_v86(CPU* c, uint64_t off, uint64_t cs, uint64_t fl) noexcept nogil:
    """IRETD from CPL 0 into virtual-8086 mode: EIP CS EFLAGS ESP SS ES DS
    FS GS come off the stack."""
    cdef uint64_t v[6]
    cdef uint32_t k
    for k in range(6):
        if peek(c, 4, 12 + 4 * k, &v[k]):
            return RC_FAULT
    c.eflags = (fl & 0x3F7FD7) | 2
    c.lf_op = LF_NONE
    look_now(c)
    set_cpl(c, 3)
    load_real(c, S_CS, <uint32_t>cs)
    load_real(c, S_SS, <uint32_t>v[1])
    load_real(c, S_ES, <uint32_t>v[2])
    load_real(c, S_DS, <uint32_t>v[3])
    load_real(c, S_FS, <uint32_t>v[4])
    load_real(c, S_GS, <uint32_t>v[5])
    c.r[R_SP] = v[0] & 0xFFFFFFFFULL
    update_mode(c)                             # (load_real of CS flushed the jump cache)
    c.r[R_RIP] = off & 0xFFFF
    return RC_OK

cdef int h_ret_far(CPU* c, Insn* i) noexcept nogil:
    """RETF and RETF imm16 (CB, CA)."""
    c.cur = i
    if far_return(c, i.osz, i.imm, False):
        return RC_FAULT
    return RC_JUMP

cdef int h_iret(CPU* c, Insn* i) noexcept nogil:
    """IRET/IRETD/IRETQ: a task return when NT is set, into virtual-8086
    mode when the popped EFLAGS.VM is (from CPL 0), IOPL-sensitive in
    virtual-8086 mode."""
    c.cur = i
    cdef uint64_t link
    if c.eflags & F_VM:
        if iopl(c) < 3:
            return fault(c, EXC_GP, 1, 0)
    elif (c.cr0 & CR0_PE) and (c.eflags & F_NT) and not (c.efer & EFER_LMA):
        if rd_sys(c, c.tr_base & c.lamask, 2, &link) or \
                task_switch(c, <uint32_t>link, TS_IRET, next_ip(c, i), 0, 0):
            return RC_FAULT
        return RC_JUMP
    if far_return(c, i.osz, 0, True):
        return RC_FAULT
    c.nmi_blocked = 0                          # IRET ends the NMI handler's blocking
    if c.nmi_pending:
        look_now(c)
    return RC_JUMP

# ---- LDT and task register; descriptor inspection

cdef int load_system_segment(CPU* c, bint tr, uint32_t sel) noexcept nogil:
    """LLDT (tr False) or LTR: load the selector's descriptor from the GDT
    (LTR marks the TSS busy); in 64-bit mode a 16-byte one, whose base must
    be canonical (#GP(selector)).  0 or RC_FAULT."""
    cdef uint64_t d, v, base
    cdef uint32_t attr
    if not tr and (sel & 0xFFFC) == 0:
        c.ldt_sel = 0
        return 0
    if (sel & 4) or read_desc(c, sel, &d, 13):
        return RC_FAULT if not (sel & 4) else fault(c, EXC_GP, 1, sel & 0xFFFC)
    attr = desc_attr(d)
    if not tr:
        if (attr & 0x1F) != 0x02:
            return fault(c, EXC_GP, 1, sel & 0xFFFC)
    elif (attr & 0x1F) != 0x09 and (attr & 0x1F) != 0x01:
        return fault(c, EXC_GP, 1, sel & 0xFFFC)   # an available TSS
    if not (attr & ATTR_P):
        return fault(c, EXC_NP, 1, sel & 0xFFFC)
    base = desc_base(d)
    if c.mode == 64:
        if rd_sys(c, (c.gdt_base + (sel & 0xFFF8) + 8) & c.lamask, 4, &v):
            return RC_FAULT
        base |= v << 32
        if not canonical(base):
            return fault(c, EXC_GP, 1, sel & 0xFFFC)
    if not tr:
        c.ldt_sel = sel
        c.ldt_base = base
        c.ldt_limit = desc_limit(d)
    else:
        c.tr_sel = sel
        c.tr_base = base
        c.tr_limit = desc_limit(d)
        c.tr_attr = attr | 2                   # busy
        wr_sys(c, (c.gdt_base + (sel & 0xFFF8) + 5) & c.lamask, 1, (attr | 2) & 0xFF)
    return 0

cdef int h_grp6(CPU* c, Insn* i) noexcept nogil:
    """0F 00: SLDT STR LLDT LTR VERR VERW (protected mode only)."""
    c.cur = i
    cdef uint32_t reg = i.reg & 7
    cdef uint64_t v, d
    cdef uint32_t attr, sel
    if real_mode(c):
        return fault(c, EXC_UD, 0, 0)
    if reg == 0 or reg == 1:
        v = c.ldt_sel if reg == 0 else c.tr_sel
        if i.mod == 3:
            set_r(c, i.rm, i.osz, v)
            return next_insn(c, i)
        return ok_next(c, i, wr(c, mem_la(c, i), 2, v))
    if rm_read(c, i, 2, &v):
        return RC_FAULT
    sel = <uint32_t>v & 0xFFFF
    if reg == 2 or reg == 3:
        if need_cpl0(c):
            return RC_FAULT
        if pv_traps(c, i, PV_LLDT if reg == 2 else PV_LTR):
            return pv_trap_exit(c, i, PV_LLDT if reg == 2 else PV_LTR, sel, 0, 0)
        return ok_next(c, i, load_system_segment(c, reg == 3, sel))
    # VERR (4), VERW (5): ZF = the segment is readable/writable from here
    materialize(c)
    c.eflags &= ~<uint64_t>F_ZF
    if (sel & 0xFFFC) and read_desc(c, sel, &d, 13) == 0:
        attr = desc_attr(d)
        if (attr & ATTR_S) and (reg == 5 and (attr & (ATTR_CODE | ATTR_WRITABLE)) == ATTR_WRITABLE
                                or reg == 4 and ((attr & ATTR_CODE) == 0 or (attr & ATTR_WRITABLE))):
            if ((attr & (ATTR_CODE | ATTR_CONFORMING)) == (ATTR_CODE | ATTR_CONFORMING)
                    or attr_dpl(attr) >= max(c.cpl, sel & 3)):
                c.eflags |= F_ZF
    return next_insn(c, i)

cdef int h_lar_lsl(CPU* c, Insn* i) noexcept nogil:
    """LAR (0F 02) and LSL (0F 03): ZF = the descriptor is visible here."""
    c.cur = i
    cdef uint64_t v, d
    cdef uint32_t sel, attr
    if real_mode(c):
        return fault(c, EXC_UD, 0, 0)
    if rm_read(c, i, 2, &v):
        return RC_FAULT
    sel = <uint32_t>v & 0xFFFF
    materialize(c)
    c.eflags &= ~<uint64_t>F_ZF
    if (sel & 0xFFFC) and read_desc(c, sel, &d, 13) == 0:
        attr = desc_attr(d)
        if ((attr & (ATTR_S | ATTR_CODE | ATTR_CONFORMING)) == (ATTR_S | ATTR_CODE | ATTR_CONFORMING)
                or attr_dpl(attr) >= max(c.cpl, sel & 3)):
            c.eflags |= F_ZF
            if i.opcode == 0x102:
                set_r(c, i.reg, i.osz, (d >> 32) & 0x00F0FF00)
            else:
                set_r(c, i.reg, i.osz, desc_limit(d))
    return next_insn(c, i)
