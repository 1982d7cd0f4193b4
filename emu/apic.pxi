# The local APIC (xAPIC): memory-mapped registers at IA32_APIC_BASE, the
# in-service/request registers with priority classes, EOI, the task
# priority, the spurious-vector enable, and the timer (one-shot and
# periodic) counting a 1 GHz bus clock in virtual time, as QEMU's does.
# Inter-processor interrupts go out through the ICR to the CPUs they name
# (smp.pxi); level-triggered interrupts from the IOAPIC are marked in the
# TMR, and their EOI is broadcast back to it (ioapic.pxi).

cdef enum:
    APIC_MASKED = 0x10000
    APIC_PERIODIC = 0x20000

cdef inline uint64_t apic_ticks(CPU* c, uint64_t vt) noexcept nogil:
    """Bus-clock ticks in vt units of virtual time (1 GHz bus)."""
    return vt * (1000000000 // c.ips if c.ips <= 1000000000 else 1)

cdef inline uint32_t apic_divisor(Apic* a) noexcept nogil:
    cdef uint32_t v = (a.divide & 3) | ((a.divide & 8) >> 1)
    return 1 if v == 7 else 2 << v

cdef void apic_reset(CPU* c) noexcept nogil:
    cdef uint32_t k
    memset(&c.apic, 0, sizeof(Apic))
    c.apic.svr = 0xFF
    c.apic.dfr = 0xFFFFFFFFULL
    for k in range(6):
        c.apic.lvt[k] = APIC_MASKED
    c.apic.next_irq = TLB_EMPTY

cdef inline bint apic_enabled(CPU* c) noexcept nogil:
    return (c.msr_apic_base & 0x800) != 0 and (c.apic.svr & 0x100) != 0

cdef inline bint nmi_due(CPU* c) noexcept nogil:
    return c.nmi_pending != 0 and c.nmi_blocked == 0

cdef void raise_nmi(CPU* c) noexcept nogil:
    c.nmi_pending = 1
    look_now(c)

cdef void apic_send_ipi(CPU* c, uint32_t lo) noexcept nogil:
    """An IPI from the ICR (low word lo, destination in ICR high bits
    24-31) to the CPUs it names (smp.pxi).  An INIT with the level bit clear
    and level trigger (the "INIT level de-assert") does nothing."""
    cdef uint32_t mode = (lo >> 8) & 7
    if mode == 5 and (lo & 0xC000) == 0x8000:
        return
    c.block_abort = 1                          # one to self is taken at the next instruction boundary
    apic_message(c.m, c, (lo >> 18) & 3, c.apic.icr_hi >> 24, (lo & 0x800) != 0, mode, lo & 0xFF, False)

cdef void apic_set_irr(CPU* c, uint32_t vec) noexcept nogil:
    c.apic.irr[vec >> 5] |= 1u << (vec & 31)
    look_now(c)

cdef int apic_highest(uint32_t* bits) noexcept nogil:
    cdef int k
    for k in range(255, -1, -1):
        if bits[k >> 5] & (1u << (k & 31)):
            return k
    return -1

cdef void apic_eoi(CPU* c) noexcept nogil:
    """Retire the highest vector in service; a level-triggered one is told
    to the IOAPIC (EOI broadcast)."""
    cdef int k = apic_highest(c.apic.isr)
    if k >= 0:
        c.apic.isr[k >> 5] &= ~(1u << (k & 31))
        if c.apic.tmr[k >> 5] & (1u << (k & 31)):
            ioapic_eoi(c.m, k)

# KVM's PV EOI (Documentation/virt/kvm/x86/msr.rst, MSR_KVM_PV_EOI_EN; set
# through Machine.pv_eoi by paravirt/kvm.py): when an interrupt goes in
# service and nothing else is requested, the APIC sets bit 0 of a guest word;
# the guest's EOI then clears the bit instead of writing the EOI register (an
# exit under hardware virtualization), and the APIC retires the vector the
# next time it looks.  Nested interrupts keep the order: a handler that finds
# the bit set retires the innermost vector, the one below it writes EOI.
cdef bint pv_eoi_bit(CPU* c, bint on) noexcept nogil:
    """Set or clear bit 0 of the guest's PV EOI word (a dirty page); False
    when the word is not in guest memory."""
    cdef uint64_t gpa = c.apic.pv_eoi & ~<uint64_t>3
    cdef uint8_t* p = phys_ptr(c, gpa, 4)
    if p == NULL:
        return False
    mark_dirty(c, frame_of(c, gpa))
    store_le(p, 4, (load_le(p, 4) | 1) if on else (load_le(p, 4) & ~<uint64_t>1))
    return True

cdef void pv_eoi_offer(CPU* c) noexcept nogil:
    cdef int k
    if not (c.apic.pv_eoi & 1) or c.apic.pv_eoi_pending:
        return
    for k in range(8):
        if c.apic.irr[k]:
            return
    k = apic_highest(c.apic.isr)
    if k >= 0 and c.apic.tmr[k >> 5] & (1u << (k & 31)):
        return                                  # level-triggered: its EOI must reach the IOAPIC
    if pv_eoi_bit(c, True):
        c.apic.pv_eoi_pending = 1

cdef void pv_eoi_collect(CPU* c) noexcept nogil:
    """Retire the vector whose EOI the guest skipped, if it has."""
    cdef uint8_t* p
    if not c.apic.pv_eoi_pending:
        return
    p = phys_ptr(c, c.apic.pv_eoi & ~<uint64_t>3, 4)
    if p != NULL and load_le(p, 4) & 1:
        return                                  # still in service
    c.apic.pv_eoi_pending = 0
    c.apic.pv_eoi_skipped += 1
    apic_eoi(c)

cdef void pv_eoi_withdraw(CPU* c) noexcept nogil:
    """The guest wrote the EOI register (or turned PV EOI off): take our bit back."""
    if not c.apic.pv_eoi_pending:
        return
    c.apic.pv_eoi_pending = 0
    pv_eoi_bit(c, False)

cdef int apic_pending(CPU* c) noexcept nogil:
    """The vector the APIC would deliver now, or -1."""
    cdef int irr, isr
    pv_eoi_collect(c)
    if not apic_enabled(c):
        return -1
    irr = apic_highest(c.apic.irr)
    if irr < 16:
        return -1
    isr = apic_highest(c.apic.isr)
    if isr >= 0 and (irr >> 4) <= (isr >> 4):
        return -1
    if (irr >> 4) <= ((c.apic.tpr >> 4) & 15):
        return -1
    return irr

cdef void apic_timer_arm(CPU* c) noexcept nogil:
    cdef Apic* a = &c.apic
    cdef uint64_t per_tick = apic_ticks(c, 1), period
    a.start = vtime(c)
    if a.initial == 0:
        a.next_irq = TLB_EMPTY
        return
    period = (<uint64_t>a.initial * apic_divisor(a) + per_tick - 1) // per_tick
    a.next_irq = a.start + (period if period else 1)
    schedule(c, a.next_irq)

cdef void apic_timer_update(CPU* c) noexcept nogil:
    cdef Apic* a = &c.apic
    cdef uint64_t now = vtime(c), period, per_tick = apic_ticks(c, 1)
    if a.next_irq == TLB_EMPTY or now < a.next_irq:
        return
    if not (a.lvt[0] & APIC_MASKED) and apic_enabled(c):
        apic_set_irr(c, a.lvt[0] & 0xFF)
    if a.lvt[0] & APIC_PERIODIC:
        period = (<uint64_t>a.initial * apic_divisor(a) + per_tick - 1) // per_tick
        if period == 0:
            period = 1
        while a.next_irq <= now:
            a.next_irq += period
    else:
        a.next_irq = TLB_EMPTY

cdef uint32_t apic_current_count(CPU* c) noexcept nogil:
    cdef Apic* a = &c.apic
    cdef uint64_t elapsed, period
    if a.initial == 0:
        return 0
    elapsed = apic_ticks(c, vtime(c) - a.start) // apic_divisor(a)
    if a.lvt[0] & APIC_PERIODIC:
        return <uint32_t>(a.initial - (elapsed % a.initial))
    return 0 if elapsed >= a.initial else <uint32_t>(a.initial - elapsed)

cdef uint32_t apic_read(CPU* c, uint32_t off) noexcept nogil:
    cdef Apic* a = &c.apic
    off &= 0xFF0
    if off == 0x20:
        return a.id << 24
    if off == 0x30:
        return 0x00050014            # version 0x14, six LVT entries (as QEMU)
    if off == 0x80:
        return a.tpr
    if off == 0xA0:
        return a.tpr
    if off == 0xD0:
        return a.ldr
    if off == 0xE0:
        return a.dfr
    if off == 0xF0:
        return a.svr
    if 0x100 <= off < 0x180:
        pv_eoi_collect(c)
        return a.isr[(off - 0x100) >> 4]
    if 0x180 <= off < 0x200:
        return a.tmr[(off - 0x180) >> 4]
    if 0x200 <= off < 0x280:
        return a.irr[(off - 0x200) >> 4]
    if off == 0x280:
        return a.esr
    if off == 0x300:
        return a.icr_lo
    if off == 0x310:
        return a.icr_hi
    if 0x320 <= off <= 0x370:
        return a.lvt[(off - 0x320) >> 4]
    if off == 0x380:
        return a.initial
    if off == 0x390:
        return apic_current_count(c)
    if off == 0x3E0:
        return a.divide
    return 0

cdef void apic_write(CPU* c, uint32_t off, uint32_t v) noexcept nogil:
    cdef Apic* a = &c.apic
    cdef int k
    off &= 0xFF0
    if off == 0x20:
        a.id = v >> 24
    elif off == 0x80:
        a.tpr = v & 0xFF
    elif off == 0xB0:                  # EOI: retire the highest in service
        pv_eoi_collect(c)
        pv_eoi_withdraw(c)
        apic_eoi(c)
    elif off == 0xD0:
        a.ldr = v & 0xFF000000ULL
    elif off == 0xE0:
        a.dfr = v | 0x0FFFFFFF
    elif off == 0xF0:
        a.svr = v & 0x3FF
        if not (v & 0x100):
            for k in range(6):
                a.lvt[k] |= APIC_MASKED
    elif off == 0x280:
        a.esr = 0
    elif off == 0x300:
        a.icr_lo = v & ~<uint32_t>0x1000   # delivered at once: never pending
        apic_send_ipi(c, v)
    elif off == 0x310:
        a.icr_hi = v
    elif 0x320 <= off <= 0x370:
        if not (a.svr & 0x100):
            v |= APIC_MASKED
        a.lvt[(off - 0x320) >> 4] = v & (0x700FF if off == 0x320 else 0x1A7FF)
    elif off == 0x380:
        a.initial = v
        apic_timer_arm(c)
    elif off == 0x3E0:
        a.divide = v & 0xB
    look_now(c)

cdef int apic_ack(CPU* c) noexcept nogil:
    cdef int v = apic_pending(c)
    if v >= 0:
        c.apic.irr[v >> 5] &= ~(1u << (v & 31))
        c.apic.isr[v >> 5] |= 1u << (v & 31)
        pv_eoi_offer(c)
    return v

# ---- memory-mapped devices: the APIC in C, others in Python

cdef int mmio_python(CPU* c, uint64_t pa, uint32_t size, uint64_t* v, bint write) noexcept nogil:
    """An access to a Python device.  The instruction is run again once
    Python has answered, so each answer is logged and handed out in order
    on the replay; another instruction (another address, or the same one
    after more retired) starts a fresh log."""
    cdef Insn* i = cur_insn(c, -1)
    cdef uint64_t rip = c.r[R_BASE] + i.off     # the instruction's address
    cdef uint64_t n = c.icount + i.idx           # instructions retired before it
    if c.mmio_rip != rip or c.mmio_icount != n:
        c.mmio_rip = rip
        c.mmio_icount = n
        c.mmio_log_n = c.mmio_log_pos = 0
    if c.mmio_log_pos < c.mmio_log_n:
        if not write:
            v[0] = c.mmio_log[c.mmio_log_pos]
        c.mmio_log_pos += 1
        return 0
    c.mmio_addr = pa
    c.mmio_size = size
    c.mmio_write = write
    c.mmio_value = v[0] if write else 0
    c.exit_reason = EXIT_MMIO
    c.exc_vector = -2                  # not a fault: leave the loop, replay later
    return RC_FAULT

cdef inline void mmio_element_done(CPU* c) noexcept nogil:
    """A REP string instruction's element is done: the device answers
    logged were its own (the next element runs at the same rip and icount)."""
    if c.mmio_log_n:
        c.mmio_log_n = c.mmio_log_pos = 0

cdef int mmio_read(CPU* c, uint64_t pa, uint32_t size, uint64_t* out) noexcept nogil:
    if (pa >> 12) == (c.msr_apic_base >> 12):
        out[0] = (<uint64_t>apic_read(c, <uint32_t>(pa & 0xFFF)) >> (8 * (pa & 3))) & size_mask(size)
        return 0
    if on_ioapic_page(c, pa):
        out[0] = (<uint64_t>ioapic_read(c.m, <uint32_t>(pa & 0xFFF)) >> (8 * (pa & 3))) & size_mask(size)
        return 0
    return mmio_python(c, pa, size, out, False)

cdef int mmio_write(CPU* c, uint64_t pa, uint32_t size, uint64_t v) noexcept nogil:
    if (pa >> 12) == (c.msr_apic_base >> 12):
        apic_write(c, <uint32_t>(pa & 0xFFF), <uint32_t>v)
        return 0
    if on_ioapic_page(c, pa):
        ioapic_write(c.m, <uint32_t>(pa & 0xFFF), <uint32_t>v)
        return 0
    return mmio_python(c, pa, size, &v, True)
