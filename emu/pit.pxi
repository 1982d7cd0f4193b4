# The 8254 timer, channel 0 (ports 0x40 and 0x43), driving IRQ 0 in virtual
# time: modes 0 (one interrupt at terminal count), 2 and 3 (periodic).  Its
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

cdef inline uint64_t pit_to_vtime(CPU* c, uint64_t ticks) noexcept nogil:
    return (ticks * c.ips + PIT_HZ - 1) // PIT_HZ

cdef void pit_arm(CPU* c) noexcept nogil:
    cdef Pit* t = &c.pit
    t.start = vtime(c)
    t.next_irq = t.start + pit_to_vtime(c, t.reload if t.reload else 0x10000)
    t.armed = 1
    schedule(c, t.next_irq)

cdef void pit_update(CPU* c) noexcept nogil:
    """Raise IRQ 0 if its time has come; schedule the next one."""
    cdef Pit* t = &c.pit
    cdef uint64_t now = vtime(c), period
    if not t.armed or now < t.next_irq:
        return
    irq_raise(c, 0)
    if t.mode == 2 or t.mode == 3:
        period = pit_to_vtime(c, t.reload if t.reload else 0x10000)
        if period == 0:
            period = 1
        while t.next_irq <= now:        # catch up without an interrupt storm
            t.next_irq += period
    else:
        t.armed = 0
        t.next_irq = TLB_EMPTY

cdef uint64_t pit_count(CPU* c) noexcept nogil:
    cdef Pit* t = &c.pit
    cdef uint64_t reload = t.reload if t.reload else 0x10000
    cdef uint64_t elapsed = (vtime(c) - t.start) * PIT_HZ // c.ips
    if t.mode == 2 or t.mode == 3:
        return reload - (elapsed % reload)
    return 0 if elapsed >= reload else reload - elapsed

cdef void pit_write(CPU* c, uint32_t port, uint64_t v) noexcept nogil:
    cdef Pit* t = &c.pit
    if port == 0x43:
        if (v >> 6) != 0:
            return                     # channels 1, 2 and read-back: not modelled
        if (v & 0x30) == 0:
            t.latch = <uint32_t>pit_count(c)
            t.latched = 1
            return
        t.access = (v >> 4) & 3
        t.mode = (v >> 1) & 7
        if t.mode > 5:
            t.mode -= 4
        t.wflip = t.rflip = 0
        t.armed = 0
        return
    if port != 0x40:
        return
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
    pit_arm(c)

cdef uint64_t pit_read(CPU* c, uint32_t port) noexcept nogil:
    cdef Pit* t = &c.pit
    cdef uint32_t v
    if port != 0x40:
        return 0xFF
    v = t.latch if t.latched else <uint32_t>pit_count(c)
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

cdef int service_interrupts(CPU* c) noexcept nogil:
    """At a block boundary: advance the timers and take an external
    interrupt if one is pending and IF allows.  Returns 0 or an EXIT_."""
    cdef int vec
    c.next_event = TLB_EMPTY
    pit_update(c)
    apic_timer_update(c)
    if c.pit.armed:
        schedule(c, c.pit.next_irq)
    if c.apic.next_irq != TLB_EMPTY:
        schedule(c, c.apic.next_irq)
    if c.pv_timer != TLB_EMPTY:
        schedule(c, c.pv_timer)
    if nmi_due(c) and has_idt(c):
        c.nmi_pending = 0
        c.nmi_blocked = 1
        c.halted = 0
        c.next_event = 0
        return deliver(c, EXC_NMI, 0, 0, INT_EXTERNAL, c.r[R_RIP])
    if pic_pending(&c.pic[0]) < 0 and apic_pending(c) < 0:
        return 0
    if not (c.eflags & F_IF) or not has_idt(c):
        c.next_event = 0               # ask again once IF is set
        return 0
    vec = apic_ack(c)
    if vec < 0:
        vec = pic_ack(c)
    if vec < 0:
        return 0
    c.halted = 0
    c.next_event = 0                   # another may be waiting behind it
    return deliver(c, vec, 0, 0, INT_EXTERNAL, c.r[R_RIP])
