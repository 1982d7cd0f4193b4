# The IOAPIC (Intel 82093AA) at 0xFEC00000: IOREGSEL (offset 0x00) picks a
# register, IOWIN (0x10) reads or writes it: 0x00 the ID, 0x01 the version
# (0x11, 24 entries), 0x02 the arbitration ID, 0x10 + 2n / 0x11 + 2n the low
# and high words of redirection entry n.  An entry: vector (bits 0-7),
# delivery mode (8-10), logical destination (11), delivery status (12, read
# only), polarity (13), remote IRR (14, read only), level trigger (15),
# mask (16), destination (56-63).  Edge-triggered pins deliver on a rising
# edge; level-triggered ones while the line is high and remote IRR is
# clear, which the local APIC's EOI of that vector clears (apic.pxi).  The
# ISA IRQs reach the pins as on a PC: IRQ 0 (the PIT) on pin 2, the others
# on their own number (the MADT's interrupt source override, emu/acpi.py).

cdef enum:
    IOAPIC_BASE = 0xFEC00000
    IOAPIC_MASKED = 0x10000
    IOAPIC_LEVEL = 0x8000
    IOAPIC_REMOTE_IRR = 0x4000
    IOAPIC_RW = 0xFF0000000001AFFFULL   # the writable bits of an entry (not status, not remote IRR)

cdef void ioapic_reset(Ioapic* io) noexcept nogil:
    cdef uint32_t k
    io.id = io.sel = io.level = 0
    for k in range(IOAPIC_PINS):
        io.redir[k] = IOAPIC_MASKED

cdef inline bint on_ioapic_page(CPU* c, uint64_t pa) noexcept nogil:
    return c.m.ioapic_on != 0 and (pa >> 12) == (IOAPIC_BASE >> 12)

cdef void ioapic_fire(Mach* m, uint32_t pin) noexcept nogil:
    """Send pin's redirection entry as an interrupt message."""
    cdef uint64_t e = m.ioapic.redir[pin]
    cdef bint level = (e & IOAPIC_LEVEL) != 0
    cdef uint32_t mode = (e >> 8) & 7
    if e & IOAPIC_MASKED:
        return
    if level:
        if e & IOAPIC_REMOTE_IRR:
            return                             # the last one is not EOIed yet
        m.ioapic.redir[pin] = e | IOAPIC_REMOTE_IRR
    if mode == 7:
        return                                 # ExtINT: the 8259 delivers it (to CPU 0)
    apic_message(m, NULL, 0, <uint32_t>(e >> 56), (e & 0x800) != 0, mode, <uint32_t>(e & 0xFF), level)

cdef void ioapic_set_pin(Mach* m, uint32_t pin, bint high) noexcept nogil:
    """A device drives input pin `pin` to a level."""
    cdef uint32_t bit
    cdef bint was
    if pin >= IOAPIC_PINS:
        return
    bit = 1u << pin
    was = (m.ioapic.level & bit) != 0
    if high:
        m.ioapic.level |= bit
    else:
        m.ioapic.level &= ~bit
    if not m.ioapic_on or not high:
        return
    if (m.ioapic.redir[pin] & IOAPIC_LEVEL) or not was:
        ioapic_fire(m, pin)

cdef inline uint32_t isa_pin(uint32_t irq) noexcept nogil:
    return 2 if irq == 0 else irq

cdef void ioapic_isa_edge(Mach* m, uint32_t irq) noexcept nogil:
    """An edge on an ISA IRQ (the 8259 side's irq_raise): a pulse on its pin."""
    if m.ioapic_on:
        ioapic_set_pin(m, isa_pin(irq), True)
        ioapic_set_pin(m, isa_pin(irq), False)

cdef void ioapic_eoi(Mach* m, uint32_t vector) noexcept nogil:
    """A local APIC's EOI of a level-triggered vector, broadcast: clear remote
    IRR of the entries with that vector, and deliver again where the line
    is still high."""
    cdef uint32_t k
    for k in range(IOAPIC_PINS):
        if (m.ioapic.redir[k] & 0xFF) == vector and (m.ioapic.redir[k] & IOAPIC_REMOTE_IRR):
            m.ioapic.redir[k] &= ~<uint64_t>IOAPIC_REMOTE_IRR
            if m.ioapic.level & (1u << k):
                ioapic_fire(m, k)

cdef uint32_t ioapic_read(Mach* m, uint32_t off) noexcept nogil:
    cdef Ioapic* io = &m.ioapic
    cdef uint32_t r = io.sel
    if off == 0x00:
        return io.sel
    if off != 0x10:
        return 0
    if r == 0x00:
        return (io.id & 0xF) << 24
    if r == 0x01:
        return ((IOAPIC_PINS - 1) << 16) | 0x11
    if r == 0x02:
        return (io.id & 0xF) << 24
    if 0x10 <= r < 0x10 + 2 * IOAPIC_PINS:
        return <uint32_t>(io.redir[(r - 0x10) >> 1] >> (32 * (r & 1)))
    return 0

cdef void ioapic_write(Mach* m, uint32_t off, uint32_t v) noexcept nogil:
    cdef Ioapic* io = &m.ioapic
    cdef uint32_t r = io.sel, pin
    cdef uint64_t e
    if off == 0x00:
        io.sel = v & 0xFF
        return
    if off != 0x10:
        return
    if r == 0x00:
        io.id = (v >> 24) & 0xF
    elif 0x10 <= r < 0x10 + 2 * IOAPIC_PINS:
        pin = (r - 0x10) >> 1
        e = io.redir[pin]
        if r & 1:
            e = (e & 0xFFFFFFFFULL) | (<uint64_t>v << 32)
        else:
            e = (e & ~<uint64_t>0xFFFFFFFFULL) | v
        io.redir[pin] = (e & IOAPIC_RW) | (io.redir[pin] & IOAPIC_REMOTE_IRR)
        if not (io.redir[pin] & IOAPIC_LEVEL):
            io.redir[pin] &= ~<uint64_t>IOAPIC_REMOTE_IRR
        if (io.redir[pin] & IOAPIC_LEVEL) and (io.level & (1u << pin)):
            ioapic_fire(m, pin)                # unmasked with the line high
