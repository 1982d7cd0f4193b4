# Several CPUs per machine.  The CPUs share Mach (devices, decode-cache and
# dirty-log fill levels) through CPU.m and keep copies of the pointers to the
# shared arrays (RAM, decode cache, port map, regions, dirty marks), which
# smp_share brings up to date before they run.  They run interleaved on one
# thread in virtual time: each round, every CPU in turn runs until its
# virtual time reaches the round's end (Mach.target), so runs are
# reproducible and a LOCKed instruction is atomic by construction.  A CPU
# that halts idles to the round's end; one waiting for a start-up IPI
# (after INIT, as an AP powers up) idles too.  When a whole round retires
# nothing, time jumps to the next timer interrupt, and with none due the
# machine has halted for good.  Start-up follows the SDM Vol. 3A
# "Multiple-Processor Management": INIT puts a CPU into its power-up state
# waiting for a SIPI, and a SIPI with vector V starts it in real mode at
# V * 0x1000 (CS = V << 8, IP = 0).

cdef enum:
    SMP_QUANTUM = 2000     # virtual time per round (instructions)

cdef void smp_share(CPU* src, CPU* c) noexcept nogil:
    """Copy the machine's shared pointers and settings from src (the CPU the
    Python side last changed) into c."""
    c.m = src.m
    c.mem, c.mem_size, c.npages = src.mem, src.mem_size, src.npages
    c.io_map, c.absent = src.io_map, src.absent
    c.hash, c.page_blocks = src.hash, src.page_blocks
    c.blocks, c.insn_pool, c.use_cache, c.no_chain = src.blocks, src.insn_pool, src.use_cache, src.no_chain
    c.regions, c.nregions, c.frames, c.nframes = src.regions, src.nregions, src.frames, src.nframes
    memcpy(c.mmio_start, src.mmio_start, sizeof(src.mmio_start))
    memcpy(c.mmio_end, src.mmio_end, sizeof(src.mmio_end))
    c.nmmio = src.nmmio
    memcpy(&c.hk_code_lo[0], &src.hk_code_lo[0], <size_t>(<char*>&c.hk_pass_addr - <char*>&c.hk_code_lo[0]))
    c.dirty, c.dirty_log, c.snap_list, c.dirty_frames = src.dirty, src.dirty_log, src.snap_list, src.dirty_frames
    c.snap, c.snap_frames = src.snap, src.snap_frames
    c.cov_map, c.cov_mask = src.cov_map, src.cov_mask
    c.ips = src.ips
    memcpy(c.breaks, src.breaks, sizeof(src.breaks))
    c.nbreaks, c.dr_host = src.nbreaks, src.dr_host
    c.has_until, c.until = src.has_until, src.until
    tlb_flush(c)              # mappings or permissions may have changed

cdef void mach_keep(CPU* c, CPU* keep) noexcept nogil:
    """After CPU 0's struct was overwritten from a context or a save file:
    the machine's own CPUs and their interleaving stay."""
    memcpy(c.mach.cpu, keep.mach.cpu, sizeof(keep.mach.cpu))
    c.mach.ncpus, c.mach.cur, c.mach.target = keep.mach.ncpus, keep.mach.cur, keep.mach.target
    c.mach.quantum = keep.mach.quantum
    c.cpu_index, c.idle_cap = keep.cpu_index, keep.idle_cap

cdef void cpu_init(CPU* c) noexcept nogil:
    """INIT: the power-up state (APIC ID and base kept), then wait for a SIPI."""
    cdef uint32_t id = c.apic.id
    power_on_state(c)
    apic_reset(c)
    c.apic.id = id
    c.halted = 0
    c.shadow = c.shadow_block = 0
    c.nmi_pending = c.nmi_blocked = 0
    c.step_late = STEP_LATE_NONE
    c.wait_sipi = 1
    look_now(c)

cdef void cpu_sipi(CPU* c, uint32_t vector) noexcept nogil:
    """A start-up IPI to a CPU waiting for one: real mode at vector << 12."""
    if not c.wait_sipi:
        return                 # ignored unless the CPU waits for it
    c.wait_sipi = 0
    c.sel[S_CS] = <uint16_t>(vector << 8)
    c.segbase[S_CS] = <uint64_t>vector << 12
    c.r[R_RIP] = 0
    update_mode(c)
    jcache_flush(c)
    segs_changed(c)
    look_now(c)

cdef bint smp_deliverable(CPU* c) noexcept nogil:
    """Would the run loop take an interrupt now (NMI, or a maskable one with
    IF set)?  Only CPU 0 takes the 8259's INTR (the BSP's LINT0)."""
    if nmi_due(c):
        return True
    if not (c.eflags & F_IF):
        return False
    return apic_pending(c) >= 0 or (c.cpu_index == 0 and pic_pending(&c.m.pic[0]) >= 0)

cdef int smp_halt_wait(CPU* c) noexcept nogil:
    """HLT on a machine with several CPUs: bring the timers up to date, go on
    if an interrupt is deliverable, else idle to the end of this turn and
    yield (EXIT_COUNT, still halted)."""
    cdef uint64_t now
    pit_update(c)
    apic_timer_update(c)
    look_now(c)
    if smp_deliverable(c):
        return 0
    now = vtime(c)
    if c.idle_cap > now:
        c.idle += c.idle_cap - now
    return EXIT_COUNT

cdef uint64_t smp_next_wake(Mach* m) noexcept nogil:
    """The virtual time of the next timer interrupt on the machine, or TLB_EMPTY."""
    cdef uint64_t wake = TLB_EMPTY
    cdef uint32_t k
    cdef CPU* c
    if m.pit.armed:
        wake = m.pit.next_irq
    for k in range(m.ncpus):
        c = m.cpu[k]
        if (not c.wait_sipi and c.apic.next_irq < wake and apic_enabled(c)
                and not (c.apic.lvt[0] & APIC_MASKED)):
            wake = c.apic.next_irq
    return wake

cdef int smp_run(Mach* m, int64_t* budget, uint64_t* retired, uint32_t* who) noexcept nogil:
    """Run the CPUs in turn until one exits (its index in m.cur, where the
    next call resumes) or `budget` instructions (all CPUs together) retired.
    Returns the exit reason; *retired counts what this call retired, *who
    is the CPU that ran last (the one an exit concerns)."""
    cdef CPU* c
    cdef int reason
    cdef int64_t want
    cdef uint64_t now, wake, before
    cdef bint progress = True
    while True:
        while m.cur < m.ncpus:
            c = m.cpu[m.cur]
            now = vtime(c)
            if now < m.target:
                if c.wait_sipi:
                    c.idle += m.target - now
                else:
                    want = <int64_t>(m.target - now)
                    if want > budget[0]:
                        want = budget[0]
                    c.budget = want
                    c.idle_cap = now + <uint64_t>want
                    before = c.icount
                    who[0] = m.cur
                    reason = cpu_run(c)
                    # budget used: retired instructions, deliveries, REP chunks (as cpu_run counts)
                    budget[0] -= want - c.budget
                    retired[0] += c.icount - before
                    if want != c.budget:
                        progress = True
                    if reason != EXIT_COUNT:
                        return reason
                    if budget[0] <= 0:
                        m.cur += 1
                        return EXIT_COUNT
            m.cur += 1
        m.cur = 0
        if progress:
            m.target += m.quantum
        else:                              # every CPU halted or waiting: skip to the next timer
            wake = smp_next_wake(m)
            if wake == TLB_EMPTY:
                who[0] = 0
                c = m.cpu[0]
                c.exit_rip = c.halt_rip & c.ipmask
                return EXIT_HLT
            m.target = (wake if wake > m.target + m.quantum else m.target + m.quantum)
        progress = False

# ---- inter-processor interrupts (the ICR, apic.pxi) and the IOAPIC's messages

cdef bint apic_accepts(CPU* t, uint32_t dest, bint logical) noexcept nogil:
    """Is t's local APIC a destination of an interrupt message?  Physical:
    its ID, or 0xFF for all.  Logical: flat model (DFR 0xF...), a bit of its
    logical ID (LDR bits 24-31); cluster model (DFR 0x0...), the cluster in
    the high nibble (0xF: all) and a bit of the low nibble."""
    cdef uint32_t ldr = t.apic.ldr >> 24
    if not logical:
        return dest == 0xFF or dest == (t.apic.id & 0xFF)
    if dest == 0xFF:
        return True
    if (t.apic.dfr >> 28) == 0xF:
        return (dest & ldr) != 0
    return ((dest >> 4) == (ldr >> 4) or (dest >> 4) == 0xF) and (dest & ldr & 0xF) != 0

cdef void apic_deliver(CPU* t, uint32_t mode, uint32_t vector, bint level) noexcept nogil:
    """One CPU accepts an interrupt message (delivery mode, vector)."""
    if mode == 0 or mode == 1:                 # fixed, lowest priority
        if level:
            t.apic.tmr[vector >> 5] |= 1u << (vector & 31)
        else:
            t.apic.tmr[vector >> 5] &= ~(1u << (vector & 31))
        apic_set_irr(t, vector)
    elif mode == 4:                            # NMI
        raise_nmi(t)
    elif mode == 5:                            # INIT
        cpu_init(t)
    elif mode == 6:                            # start-up
        cpu_sipi(t, vector)

cdef void apic_message(Mach* m, CPU* src, uint32_t shorthand, uint32_t dest, bint logical,
                       uint32_t mode, uint32_t vector, bint level) noexcept nogil:
    """Send an interrupt message to its destinations: the shorthand (0 the
    destination field, 1 self, 2 all, 3 all but src), else dest in physical
    or logical mode.  Lowest priority goes to one of them (the first, as
    fixed delivery to one CPU).  src is NULL for the IOAPIC."""
    cdef uint32_t k
    cdef CPU* t
    for k in range(m.ncpus):
        t = m.cpu[k]
        if shorthand == 1 and t != src or shorthand == 3 and t == src:
            continue
        if shorthand == 0 and not apic_accepts(t, dest, logical):
            continue
        if (mode == 5 or mode == 6) and t == src:
            continue                           # INIT and SIPI are not sent to oneself
        apic_deliver(t, mode, vector, level)
        if mode == 1:
            return
