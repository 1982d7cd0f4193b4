# Interrupt and exception delivery: the real-mode IVT, protected-mode 16-
# and 32-bit interrupt and trap gates (with the stack switch through the TSS
# when privilege rises), 64-bit gates (with IST), double faults and the
# triple fault.  A machine whose IDT was never loaded (limit 0, the flat
# Unicorn-like state) does not deliver: the run ends with the exception.

cdef enum:
    INT_EXCEPTION = 0
    INT_SOFTWARE = 1     # INT n, INT3, INTO: gate DPL is checked
    INT_EXTERNAL = 2

cdef inline bint has_idt(CPU* c) noexcept nogil:
    return c.idt_limit != 0

cdef int deliver_real(CPU* c, uint32_t vec, uint64_t ret_ip) noexcept nogil:
    cdef uint64_t ent, sp = c.r[R_SP]
    if vec * 4 + 3 > c.idt_limit:
        return fault(c, EXC_GP, 1, vec * 8 + 2)
    if rd_sys(c, (c.idt_base + vec * 4) & c.lamask, 4, &ent):
        return RC_FAULT
    if (check_wr(c, stack_la(c, sp - 6), 6) or wr(c, stack_la(c, sp - 2), 2, get_eflags(c))
            or wr(c, stack_la(c, sp - 4), 2, c.sel[S_CS]) or wr(c, stack_la(c, sp - 6), 2, ret_ip)):
        return RC_FAULT
    set_sp(c, sp - 6)
    materialize(c)
    c.eflags &= ~<uint64_t>(F_IF | F_TF | F_AC)
    load_real(c, S_CS, <uint32_t>(ent >> 16))
    c.r[R_RIP] = ent & 0xFFFF
    return 0

cdef int deliver_protected(CPU* c, uint32_t vec, int has_err, uint32_t err, int kind,
                           uint64_t ret_ip) noexcept nogil:
    cdef uint64_t gate, d, tss, nsp, nss, old_sp = c.r[R_SP], old_ss = c.sel[S_SS], target
    cdef uint64_t old_flags, base, frame[11], spmask
    cdef bint from_v86 = (c.eflags & F_VM) != 0
    # EXT in error codes: the event is not the program's own INT n (SDM Vol. 3A 6.13)
    cdef uint32_t gtype, gdpl, sel, attr, dpl, ext = 0 if kind == INT_SOFTWARE else 1
    cdef uint32_t width, n = 0, k, idt_err = vec * 8 + 2 + ext
    cdef bint long_mode = (c.efer & EFER_LMA) != 0, inner
    cdef uint32_t entry = 16 if long_mode else 8, ist = 0
    if vec * entry + entry - 1 > c.idt_limit:
        return fault(c, EXC_GP, 1, idt_err)
    if rd_sys(c, (c.idt_base + vec * entry) & c.lamask, 8, &gate):
        return RC_FAULT
    gtype = (gate >> 40) & 0x1F
    gdpl = (gate >> 45) & 3
    if gtype == 0x05 and not long_mode:              # a task gate
        if kind == INT_SOFTWARE and gdpl < c.cpl:
            return fault(c, EXC_GP, 1, vec * 8 + 2)
        if not (gate & (<uint64_t>1 << 47)):
            return fault(c, EXC_NP, 1, idt_err)
        return task_switch(c, (gate >> 16) & 0xFFFF, TS_CALL, ret_ip, has_err, err)
    if long_mode:
        if gtype != 0x0E and gtype != 0x0F:
            return fault(c, EXC_GP, 1, idt_err)
        if rd_sys(c, (c.idt_base + vec * 16 + 8) & c.lamask, 4, &d):
            return RC_FAULT
        target = (gate & 0xFFFF) | ((gate >> 32) & 0xFFFF0000ULL) | (d << 32)
        ist = (gate >> 32) & 7
        width = 8
    else:
        if gtype not in (0x06, 0x07, 0x0E, 0x0F):
            return fault(c, EXC_GP, 1, idt_err)        # task gates: not implemented
        target = (gate & 0xFFFF) | ((gate >> 32) & 0xFFFF0000ULL)
        width = 4 if gtype & 8 else 2
        if width == 2:
            target &= 0xFFFF
    if kind == INT_SOFTWARE and gdpl < c.cpl:
        return fault(c, EXC_GP, 1, vec * 8 + 2)
    if not (gate & (<uint64_t>1 << 47)):
        return fault(c, EXC_NP, 1, idt_err)
    sel = (gate >> 16) & 0xFFFF
    if (sel & 0xFFFC) == 0:
        return fault(c, EXC_GP, 1, ext)
    if read_desc(c, sel, &d, 13):
        c.exc_error |= ext
        return RC_FAULT
    attr = desc_attr(d)
    dpl = attr_dpl(attr)
    if (attr & (ATTR_S | ATTR_CODE)) != (ATTR_S | ATTR_CODE) or dpl > c.cpl:
        return fault(c, EXC_GP, 1, (sel & 0xFFFC) | ext)
    if not (attr & ATTR_P):
        return fault(c, EXC_NP, 1, (sel & 0xFFFC) | ext)
    if long_mode and not (attr & ATTR_L):
        return fault(c, EXC_GP, 1, (sel & 0xFFFC) | ext)
    inner = dpl < c.cpl and not (attr & ATTR_CONFORMING)
    if (c.eflags & F_VM) and (dpl != 0 or (attr & ATTR_CONFORMING)):
        return fault(c, EXC_GP, 1, (sel & 0xFFFC) | ext)   # from v86 only to a ring-0 handler
        # (a 16-bit gate pushes the whole frame, GS to IP, as words)
    if not inner:
        dpl = c.cpl
    old_flags = get_eflags(c)
    # Where the frame goes.
    if long_mode:
        nss = dpl if inner else old_ss
        if ist:
            if rd_sys(c, (c.tr_base + 0x24 + 8 * (ist - 1)) & c.lamask, 8, &nsp):
                return RC_FAULT
        elif inner:
            if tss_stack(c, dpl, ext, &nsp, &nss, &d):
                return RC_FAULT
            nss = dpl
        else:
            nsp = old_sp
        nsp &= ~<uint64_t>15
        base = 0
        frame[n] = old_ss
        frame[n + 1] = old_sp
        n += 2
    elif inner:
        if tss_stack(c, dpl, ext, &nsp, &nss, &d):
            return RC_FAULT
        base = desc_base(d)
        if not (desc_attr(d) & ATTR_DB):
            nsp &= 0xFFFF
        if c.eflags & F_VM:                    # v86: the data segments go too
            frame[n] = c.sel[S_GS]
            frame[n + 1] = c.sel[S_FS]
            frame[n + 2] = c.sel[S_DS]
            frame[n + 3] = c.sel[S_ES]
            n += 4
        frame[n] = old_ss
        frame[n + 1] = old_sp
        n += 2
    else:
        nsp = old_sp
        base = c.segbase[S_SS]
    frame[n] = old_flags
    frame[n + 1] = c.sel[S_CS]
    frame[n + 2] = ret_ip
    n += 3
    if has_err:
        frame[n] = err
        n += 1
    # Push (as a supervisor access to the new stack), then commit.
    if long_mode:
        spmask = <uint64_t>-1
    elif inner:
        spmask = 0xFFFFFFFFULL if (desc_attr(d) & ATTR_DB) else 0xFFFF
    else:
        spmask = 0xFFFFFFFFULL if c.ss_big else 0xFFFF
    if not long_mode and frame_outside_stack(c, inner, d, nsp, spmask, n * width):
        return fault(c, EXC_SS, 1, ((<uint32_t>nss & 0xFFFC) if inner else 0) | ext)
    for k in range(n):
        nsp -= width
        if wr_sys(c, (base + (nsp & spmask)) & c.lamask, width, frame[k]):
            return RC_FAULT
    if from_v86:
        c.eflags &= ~<uint64_t>F_VM            # before the loads: they are protected-mode ones
    if inner:
        if long_mode:
            c.sel[S_SS] = <uint16_t>dpl        # a null selector at the new level
            c.segattr[S_SS] = 0
        else:
            cache_seg(c, S_SS, <uint32_t>nss, d)
    load_cs(c, sel, dpl, False)
    if spmask == 0xFFFF:
        c.r[R_SP] = (c.r[R_SP] & ~<uint64_t>0xFFFF) | (nsp & 0xFFFF)
    else:
        c.r[R_SP] = nsp & spmask
    materialize(c)
    c.eflags &= ~<uint64_t>(F_TF | F_NT | F_RF | F_VM)
    if from_v86:
        for k in range(6):
            if k == S_CS or k == S_SS:
                continue
            c.sel[k] = 0
            c.segattr[k] = 0
            c.segbase[k] = 0
        update_mode(c)
    if not (gtype & 1):
        c.eflags &= ~<uint64_t>F_IF              # interrupt gate
    c.r[R_RIP] = target
    return 0

cdef bint frame_outside_stack(CPU* c, bint inner, uint64_t ss_desc, uint64_t sp, uint64_t spmask,
                              uint32_t size) noexcept nogil:
    """Would a frame of `size` bytes pushed from sp leave the stack segment's
    limit (the new SS of an inner-level delivery, else the current one)?"""
    cdef uint32_t attr = desc_attr(ss_desc) if inner else c.segattr[S_SS]
    cdef uint64_t limit = desc_limit(ss_desc) if inner else c.seglimit[S_SS]
    cdef uint64_t off = (sp - size) & spmask
    if off + size - 1 > spmask:                # wraps past the top of the stack's offsets:
        return not (within_limit(attr, limit, off, <uint32_t>(spmask + 1 - off))
                    and within_limit(attr, limit, 0, <uint32_t>((off + size) & spmask)))
    return not within_limit(attr, limit, off, size)

cdef inline bint contributory(int v) noexcept nogil:
    return v == EXC_DE or (EXC_TS <= v <= EXC_GP)

cdef int deliver(CPU* c, int vec, int has_err, uint32_t err, int kind, uint64_t ret_ip) noexcept nogil:
    """Deliver an exception or interrupt; on a fault while delivering, apply
    the double-fault rules.  Returns 0, or an EXIT_ code when the run must
    end (a triple fault, an access outside RAM)."""
    cdef int first = vec, rc, tries = 0
    while True:
        tries += 1
        if tries > 8:                          # faults handled serially that never settle
            c.exc_vector = EXC_DF
            return EXIT_TRIPLE_FAULT
        if not (c.cr0 & CR0_PE):
            rc = deliver_real(c, vec, ret_ip)
        else:
            rc = deliver_protected(c, vec, has_err, err, kind, ret_ip)
        if rc == 0:
            return 0
        if c.exc_vector < 0:
            return exception_exit(c)
        if first == EXC_DF:
            c.exc_vector = EXC_DF
            return EXIT_TRIPLE_FAULT
        if (contributory(first) and contributory(c.exc_vector)) or \
           (first == EXC_PF and (c.exc_vector == EXC_PF or contributory(c.exc_vector))):
            vec = EXC_DF
            has_err = 1
            err = 0
        else:
            vec = c.exc_vector                 # handled serially
            has_err = c.exc_has_error
            err = c.exc_error
        first = vec
        kind = INT_EXCEPTION

cdef int h_int(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    return soft_int(c, i, <int>(i.imm & 0xFF))

cdef int h_int3(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    return soft_int(c, i, EXC_BP)

cdef int h_int1(CPU* c, Insn* i) noexcept nogil:
    """ICEBP: a #DB trap; data breakpoints a MOV SS before it hit (held
    for one instruction: ss_loaded) are reported with it, not after it."""
    c.cur = i
    if c.dr_hit:
        c.dr[6] = (c.dr[6] & ~<uint64_t>0xF) | c.dr_hit
        c.dr_hit = 0
    return soft_int(c, i, EXC_DB)

cdef int h_into(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    if get_of(c):
        return soft_int(c, i, EXC_OF)
    return RC_END

cdef int soft_int(CPU* c, Insn* i, int vector) noexcept nogil:
    """INT n, INT3, INTO, INT1: traps, so the return address is the next
    instruction.  With no IDT loaded the run ends (rip after it)."""
    cdef int rc = 0
    if not has_idt(c):
        c.exc_vector = vector
        c.exc_has_error = 0
        c.exit_reason = EXIT_EXCEPTION
        return RC_EXIT
    if (c.eflags & F_VM) and iopl(c) < 3 and i.opcode == 0xCD:
        return fault(c, EXC_GP, 1, 0)              # INT n is IOPL-sensitive in v86 mode
    # A fault while delivering (a gate of too low a DPL, a bad stack) is a
    # fault of the INT instruction itself.
    if not (c.cr0 & CR0_PE):
        rc = deliver_real(c, vector, next_ip(c, i))
    else:
        rc = deliver_protected(c, vector, 0, 0, INT_SOFTWARE if i.opcode != 0xF1 else INT_EXCEPTION,
                               next_ip(c, i))
    if rc:
        return RC_FAULT
    c.step_late = STEP_LATE_CANCEL     # the delivery cleared TF: no single-step trap after it (as QEMU)
    return RC_JUMP
