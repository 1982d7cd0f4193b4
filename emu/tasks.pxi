# Hardware task switching (32-bit and 16-bit TSSs): JMP or CALL to a TSS
# or a task gate, INT or an exception through a task gate, IRET with NT
# set.  The outgoing task's state is saved in its TSS, the busy bits and the
# back link are kept as the SDM describes, CR0.TS is set, and the incoming
# task's CR3, LDT, registers and segments are loaded.
#
# A 16-bit TSS (types 1 and 3, SDM vol. 3 7.6) holds the back link, SP0-SS2,
# IP, FLAGS, AX..DI, ES CS SS DS and the LDT selector, 2 bytes each; it has
# no CR3 (the page tables stay), no FS or GS (they become null), and loading
# one leaves the upper halves of the registers all ones, of EIP and EFLAGS
# zero (as QEMU and Bochs do).

cdef enum:
    TS_JMP = 0
    TS_CALL = 1      # CALL and INT: nest (back link, NT)
    TS_IRET = 2

cdef enum:
    TSS32 = 0x08     # the type bit that makes a TSS 32-bit

cdef int tss_desc(CPU* c, uint32_t sel, uint64_t* d, bint want_busy) noexcept nogil:
    """A TSS descriptor (available, or busy for a task return), 16- or 32-bit."""
    cdef uint32_t attr
    if sel & 4:
        return fault(c, EXC_GP, 1, sel & 0xFFFC)        # a TSS lives in the GDT
    if read_desc(c, sel, d, 13):
        return RC_FAULT
    attr = desc_attr(d[0])
    if (attr & 0x17) != (0x03 if want_busy else 0x01):
        return fault(c, EXC_GP if not want_busy else EXC_TS, 1, sel & 0xFFFC)
    if not (attr & ATTR_P):
        return fault(c, EXC_NP, 1, sel & 0xFFFC)
    if desc_limit(d[0]) < (0x67 if attr & TSS32 else 0x2B):
        return fault(c, EXC_TS, 1, sel & 0xFFFC)
    return 0

cdef inline uint32_t tss_ip(uint32_t w) noexcept nogil:
    """Where a TSS of width w (4 or 2) keeps (E)IP; (E)FLAGS, the eight
    registers and the segment selectors follow, w bytes each."""
    return 0x20 if w == 4 else 0x0E

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
    cdef uint32_t w, ow = 4 if c.tr_attr & TSS32 else 2     # the incoming and outgoing TSS widths
    cdef uint32_t nsegs, onsegs = 6 if ow == 4 else 4
    if tss_desc(c, sel, &d, kind == TS_IRET):
        return RC_FAULT
    base = desc_base(d)
    w = 4 if desc_attr(d) & TSS32 else 2
    nsegs = 6 if w == 4 else 4
    # read the incoming state first: a fault here changes nothing
    cr3 = c.cr3
    if w == 4 and rd_sys(c, (base + 0x1C) & c.lamask, 4, &cr3):
        return RC_FAULT
    if rd_sys(c, (base + tss_ip(w)) & c.lamask, w, &eip) or rd_sys(c, (base + tss_ip(w) + w) & c.lamask, w, &fl) \
            or rd_sys(c, (base + (0x60 if w == 4 else 0x2A)) & c.lamask, 2, &ldt):
        return RC_FAULT
    for k in range(8):
        if rd_sys(c, (base + tss_ip(w) + 2 * w + w * k) & c.lamask, w, &regs[k]):
            return RC_FAULT
        if w == 2:
            regs[k] |= 0xFFFF0000ULL
    for k in range(6):
        segs[k] = 0
        if k < nsegs and rd_sys(c, (base + tss_ip(w) + 10 * w + w * k) & c.lamask, 2, &segs[k]):
            return RC_FAULT
    # save the outgoing task
    v = get_eflags(c)
    if kind == TS_IRET:
        v &= ~<uint64_t>F_NT
    if (wr_sys(c, (old + tss_ip(ow)) & c.lamask, ow, ret_ip) or wr_sys(c, (old + tss_ip(ow) + ow) & c.lamask, ow, v)):
        return RC_FAULT
    for k in range(8):
        wr_sys(c, (old + tss_ip(ow) + 2 * ow + ow * k) & c.lamask, ow, c.r[k])
    for k in range(onsegs):
        wr_sys(c, (old + tss_ip(ow) + 10 * ow + ow * k) & c.lamask, 2, c.sel[k])
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
    if w == 2:
        fl &= 0xFFFF
    if c.dr[7] & DR7_LOCAL:
        c.dr[7] &= ~<uint64_t>DR7_LOCAL        # local breakpoints belong to the old task
        dr_update(c)
    if (c.cr0 & CR0_PG) and w == 4:
        c.cr3 = cr3
        tlb_flush_nonglobal(c)
    for k in range(8):
        c.r[k] = regs[k]
    c.eflags = (fl & 0x3F7FD7) | 2
    c.lf_op = LF_NONE
    look_now(c)
    c.r[R_RIP] = eip
    c.ldt_sel = 0
    if ldt & 0xFFFC:
        if read_desc(c, <uint32_t>ldt, &d, 10) or (desc_attr(d) & 0x1F) != 0x02:
            return fault(c, EXC_TS, 1, <uint32_t>ldt & 0xFFFC)
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
    if w == 4 and rd_sys(c, (base + 0x64) & c.lamask, 1, &v) == 0 and (v & 1):
        c.step_late = STEP_LATE_TRAP           # the T flag: #DB before the task's first instruction
        c.dr6_pending = DR6_BT
        look_now(c)
    return 0
