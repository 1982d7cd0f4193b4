# The 8254 timer (ports 0x40-0x43) and port 0x61.  Channel 0 drives IRQ 0 in
# virtual time: modes 0 (one interrupt at terminal count), 2 and 3
# (periodic); channel 2's output is read back through port 0x61.  Its
# 1.193182 MHz input advances with virtual time at CPU.ips instructions per
# second, so a run is the same every time.

cdef enum:
    PIT_HZ = 1193182

cdef inline void schedule(CPU* c, uint64_t when) noexcept nogil:
    """Make the run loop look at the devices once virtual time reaches
    `when` (next_event counts retired instructions, so subtract idle)."""
    cdef uint64_t at = when - c.idle if when > c.idle else 0
    if at < c.next_event:
        c.next_event = at
    if at < c.chain_stop:
        c.chain_stop = at              # (dispatch.pxi: no chaining past it)

cdef inline uint64_t pit_to_vtime(CPU* c, uint64_t ticks) noexcept nogil:
    return (ticks * c.ips + PIT_HZ - 1) // PIT_HZ

cdef inline uint64_t pit_reload(PitChannel* t) noexcept nogil:
    return t.reload if t.reload else 0x10000

cdef void pit_arm(CPU* c) noexcept nogil:
    """Channel 0 got a new count: schedule its first IRQ 0."""
    cdef Pit* p = &c.m.pit
    p.next_irq = p.ch[0].start + pit_to_vtime(c, pit_reload(&p.ch[0]))
    p.armed = 1
    schedule(c, p.next_irq)

cdef void pit_update(CPU* c) noexcept nogil:
    """Raise IRQ 0 if its time has come; schedule the next one."""
    cdef Pit* p = &c.m.pit
    cdef uint64_t now = vtime(c), period
    if not p.armed or now < p.next_irq:
        return
    irq_raise(c, 0)
    if p.ch[0].mode == 2 or p.ch[0].mode == 3:
        period = pit_to_vtime(c, pit_reload(&p.ch[0]))
        if period == 0:
            period = 1
        while p.next_irq <= now:        # catch up without an interrupt storm
            p.next_irq += period
    else:
        p.armed = 0
        p.next_irq = TLB_EMPTY

cdef inline uint64_t pit_elapsed(CPU* c, PitChannel* t) noexcept nogil:
    """Input ticks since the channel started counting."""
    return (vtime(c) - t.start) * PIT_HZ // c.ips

cdef uint64_t pit_count(CPU* c, PitChannel* t) noexcept nogil:
    cdef uint64_t reload = pit_reload(t), elapsed
    if not t.counting:
        return reload & 0xFFFF
    elapsed = pit_elapsed(c, t)
    if t.mode == 2 or t.mode == 3:
        return reload - (elapsed % reload)
    return (reload - elapsed) & 0xFFFF  # modes 0, 1, 4, 5: on down through 0, wrapping

cdef uint32_t pit_out(CPU* c, PitChannel* t) noexcept nogil:
    """The channel's OUT pin."""
    cdef uint64_t reload = pit_reload(t), elapsed
    if not t.counting:
        return 0 if t.mode == 0 else 1
    elapsed = pit_elapsed(c, t)
    if t.mode == 2:
        return (elapsed % reload) != reload - 1       # low for the one tick at count 1
    if t.mode == 3:
        return (elapsed % reload) < (reload + 1) // 2  # high for the first half
    if t.mode == 4 or t.mode == 5:
        return elapsed != reload                       # a one-tick strobe at terminal count
    return elapsed >= reload                           # modes 0 and 1: high at terminal count

cdef void pit_start(CPU* c, uint32_t n) noexcept nogil:
    cdef PitChannel* t = &c.m.pit.ch[n]
    t.start = vtime(c)
    t.counting = n != 2 or (c.m.pit.port61 & 1)
    if n == 0:
        pit_arm(c)

cdef void pit_write(CPU* c, uint32_t port, uint64_t v) noexcept nogil:
    cdef PitChannel* t
    cdef uint32_t n
    if port == 0x43:
        n = <uint32_t>(v >> 6)
        if n == 3:
            return                     # the read-back command: not modelled
        t = &c.m.pit.ch[n]
        if (v & 0x30) == 0:
            t.latch = <uint32_t>pit_count(c, t)
            t.latched = 1
            return
        t.access = (v >> 4) & 3
        t.mode = (v >> 1) & 7
        if t.mode > 5:
            t.mode -= 4
        t.wflip = t.rflip = 0
        t.counting = 0
        if n == 0:
            c.m.pit.armed = 0
        return
    n = port - 0x40
    if n > 2:
        return
    t = &c.m.pit.ch[n]
    if t.access == 1:
        t.reload = v & 0xFF
    elif t.access == 2:
        t.reload = (v & 0xFF) << 8
    elif t.wflip == 0:
        t.write_lo = v & 0xFF
        t.wflip = 1
        return
    else:
        t.reload = t.write_lo | ((v & 0xFF) << 8)
        t.wflip = 0
    pit_start(c, n)

cdef uint64_t pit_read(CPU* c, uint32_t port) noexcept nogil:
    cdef PitChannel* t
    cdef uint32_t v
    if port - 0x40 > 2:
        return 0xFF
    t = &c.m.pit.ch[port - 0x40]
    v = t.latch if t.latched else <uint32_t>pit_count(c, t)
    if t.access == 1:
        t.latched = 0
        return v & 0xFF
    if t.access == 2:
        t.latched = 0
        return (v >> 8) & 0xFF
    if t.rflip == 0:
        t.rflip = 1
        return v & 0xFF
    t.rflip = 0
    t.latched = 0
    return (v >> 8) & 0xFF

cdef uint64_t port61_read(CPU* c) noexcept nogil:
    """Port 0x61: gate 2 and speaker data as written, the refresh toggle
    (bit 4, every 15 us) and channel 2's OUT (bit 5)."""
    cdef uint64_t refresh = (vtime(c) * PIT_HZ // c.ips // 18) & 1
    return (c.m.pit.port61 & 3) | (refresh << 4) | (<uint64_t>pit_out(c, &c.m.pit.ch[2]) << 5)

cdef void port61_write(CPU* c, uint64_t v) noexcept nogil:
    """A rising edge of gate 2 (re)starts channel 2 (modes 1, 2, 3, 5
    reload on it; mode 0 is treated alike); a low gate stops it."""
    cdef uint32_t old = c.m.pit.port61
    c.m.pit.port61 = <uint32_t>(v & 3)
    if (v & 1) and not (old & 1):
        c.m.pit.ch[2].start = vtime(c)
        c.m.pit.ch[2].counting = 1
    elif not (v & 1):
        c.m.pit.ch[2].counting = 0

cdef int service_interrupts(CPU* c) noexcept nogil:
    """At a block boundary: advance the timers and take an external
    interrupt if one is pending and IF allows.  Returns 0 or an EXIT_."""
    cdef int vec
    c.next_event = TLB_EMPTY
    pit_update(c)
    apic_timer_update(c)
    if c.m.pit.armed:
        schedule(c, c.m.pit.next_irq)
    if c.apic.next_irq != TLB_EMPTY:
        schedule(c, c.apic.next_irq)
    if c.pv_timer != TLB_EMPTY:
        schedule(c, c.pv_timer)
    if c.dev_timer != TLB_EMPTY:
        schedule(c, c.dev_timer)
    if nmi_due(c) and has_idt(c):
        c.nmi_pending = 0
        c.nmi_blocked = 1
        c.halted = 0
        look_now(c)
        return deliver(c, EXC_NMI, 0, 0, INT_EXTERNAL, c.r[R_RIP])
    if (c.cpu_index or pic_pending(&c.m.pic[0]) < 0) and apic_pending(c) < 0:
        return 0
    if not (c.eflags & F_IF) or not has_idt(c):
        look_now(c)               # ask again once IF is set
        return 0
    vec = apic_ack(c)
    if vec < 0 and c.cpu_index == 0:       # the 8259's INTR reaches CPU 0 only
        vec = pic_ack(c)
    if vec < 0:
        return 0
    c.halted = 0
    look_now(c)                   # another may be waiting behind it
    return deliver(c, vec, 0, 0, INT_EXTERNAL, c.r[R_RIP])
