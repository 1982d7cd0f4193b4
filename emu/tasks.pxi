# Hardware task switching (32-bit TSSs): JMP or CALL to a TSS or a task
# gate, INT or an exception through a task gate, IRET with NT set.  The
# outgoing task's state is saved in its TSS, the busy bits and the back
# link are kept as the SDM describes, CR0.TS is set, and the incoming
# task's CR3, LDT, registers and segments are loaded.

cdef enum:
    TS_JMP = 0
    TS_CALL = 1      # CALL and INT: nest (back link, NT)
    TS_IRET = 2

cdef int tss_desc(CPU* c, uint32_t sel, uint64_t* d, bint want_busy) noexcept nogil:
    cdef uint32_t attr
    if sel & 4:
        return fault(c, 13, 1, sel & 0xFFFC)        # a TSS lives in the GDT
    if read_desc(c, sel, d, 13):
        return RC_FAULT
    attr = desc_attr(d[0])
    if (attr & 0x1F) != (0x0B if want_busy else 0x09):
        return fault(c, 13 if not want_busy else 10, 1, sel & 0xFFFC)
    if not (attr & ATTR_P):
        return fault(c, 11, 1, sel & 0xFFFC)
    if desc_limit(d[0]) < 0x67:
        return fault(c, 10, 1, sel & 0xFFFC)
    return 0

cdef inline void set_busy(CPU* c, uint32_t sel, bint busy) noexcept nogil:
    cdef uint64_t la = (c.gdt_base + (sel & 0xFFF8) + 5) & c.lamask, v
    if rd_sys(c, la, 1, &v) == 0:
        wr_sys(c, la, 1, (v | 2) if busy else (v & ~<uint64_t>2))

cdef int task_switch(CPU* c, uint32_t sel, int kind, uint64_t ret_ip, int has_err, uint32_t err) noexcept nogil:
    cdef uint64_t d, v, base, old = c.tr_base, fl
    cdef uint64_t regs[8]
    cdef uint64_t segs[6]
    cdef uint64_t ldt, cr3, eip
    cdef uint32_t k, old_sel = c.tr_sel, cpl
    if tss_desc(c, sel, &d, kind == TS_IRET):
        return RC_FAULT
    base = desc_base(d)
    # read the incoming state first: a fault here changes nothing
    if rd_sys(c, (base + 0x1C) & c.lamask, 4, &cr3) or rd_sys(c, (base + 0x20) & c.lamask, 4, &eip) \
            or rd_sys(c, (base + 0x24) & c.lamask, 4, &fl) or rd_sys(c, (base + 0x60) & c.lamask, 2, &ldt):
        return RC_FAULT
    for k in range(8):
        if rd_sys(c, (base + 0x28 + 4 * k) & c.lamask, 4, &regs[k]):
            return RC_FAULT
    for k in range(6):
        if rd_sys(c, (base + 0x48 + 4 * k) & c.lamask, 2, &segs[k]):
            return RC_FAULT
    # save the outgoing task
    v = get_eflags(c)
    if kind == TS_IRET:
        v &= ~<uint64_t>F_NT
    if (wr_sys(c, (old + 0x20) & c.lamask, 4, ret_ip) or wr_sys(c, (old + 0x24) & c.lamask, 4, v)):
        return RC_FAULT
    for k in range(8):
        wr_sys(c, (old + 0x28 + 4 * k) & c.lamask, 4, c.r[k])
    for k in range(6):
        wr_sys(c, (old + 0x48 + 4 * k) & c.lamask, 2, c.sel[k])
    if kind != TS_CALL:
        set_busy(c, old_sel, False)
    if kind == TS_CALL:
        wr_sys(c, base & c.lamask, 2, old_sel)     # back link
        fl |= F_NT
    if kind != TS_IRET:
        set_busy(c, sel, True)
    c.tr_sel = sel
    c.tr_base = base
    c.tr_limit = desc_limit(d)
    c.tr_attr = desc_attr(d) | 2
    # load the incoming task
    c.cr0 |= CR0_TS
    if c.cr0 & CR0_PG:
        c.cr3 = cr3
        tlb_flush(c)
    for k in range(8):
        c.r[k] = regs[k]
    c.eflags = (fl & 0x3F7FD7) | 2
    c.lf_op = LF_NONE
    c.next_event = 0
    c.r[R_RIP] = eip
    c.ldt_sel = 0
    if ldt & 0xFFFC:
        if read_desc(c, <uint32_t>ldt, &d, 10) or (desc_attr(d) & 0x1F) != 0x02:
            return fault(c, 10, 1, <uint32_t>ldt & 0xFFFC)
        c.ldt_sel = <uint16_t>ldt
        c.ldt_base = desc_base(d)
        c.ldt_limit = desc_limit(d)
    if c.eflags & F_VM:
        for k in range(6):
            load_real(c, k, <uint32_t>segs[k])
        set_cpl(c, 3)
    else:
        cpl = <uint32_t>segs[S_CS] & 3
        set_cpl(c, cpl)
        if load_cs(c, <uint32_t>segs[S_CS], cpl, False) or load_seg(c, S_SS, <uint32_t>segs[S_SS]):
            return RC_FAULT
        for k in range(6):
            if k == S_CS or k == S_SS:
                continue
            if load_seg(c, k, <uint32_t>segs[k]):
                return RC_FAULT
    update_mode(c)                             # (loading CS flushed the jump cache)
    if has_err and push(c, 4, err):
        return RC_FAULT
    return 0
