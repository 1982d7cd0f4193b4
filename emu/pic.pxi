# The 8259A pair (master at 0x20/0x21, slave at 0xA0/0xA1 on the master's
# IRQ 2), edge-triggered, fixed priority: ICW1-4, the mask, EOI (specific
# and not), OCW3 reads of IRR and ISR, automatic EOI.

cdef inline uint64_t vtime(CPU* c) noexcept nogil:
    """Virtual time, in instructions: retired ones plus those a halted CPU
    would have run, plus, during port I/O, the instructions of the running
    block before the IN or OUT (icount advances per block).  The timers and
    RDTSC follow it."""
    return c.icount + c.idle + c.io_idx

cdef void irq_raise(CPU* c, uint32_t irq) noexcept nogil:
    """An edge on ISA IRQ `irq`: to the 8259 pair and the IOAPIC."""
    pic_raise(c, irq)
    ioapic_isa_edge(c.m, irq)

cdef void pic_raise(CPU* c, uint32_t irq) noexcept nogil:
    if irq >= 8:
        c.m.pic[1].irr |= 1 << (irq - 8)
        c.m.pic[0].irr |= 1 << 2
    else:
        c.m.pic[0].irr |= 1 << irq
    look_now(c.m.cpu[0])          # CPU 0 takes the 8259's INTR: it looks at the next block

cdef int pic_pending(Pic* p) noexcept nogil:
    """The highest-priority request that is unmasked and not blocked by an
    interrupt in service, or -1."""
    cdef uint32_t k
    cdef uint8_t req = p.irr & ~p.imr
    for k in range(8):
        if p.isr & (1 << k):
            return -1
        if req & (1 << k):
            return k
    return -1

cdef int pic_ack(CPU* c) noexcept nogil:
    """Acknowledge the interrupt the CPU takes: its vector, or -1."""
    cdef int m = pic_pending(&c.m.pic[0]), s
    if m < 0:
        return -1
    if m == 2 and (c.m.pic[1].irr & ~c.m.pic[1].imr):
        s = pic_pending(&c.m.pic[1])
        if s < 0:
            return -1
        c.m.pic[1].irr &= ~(1 << s)
        if not c.m.pic[1].auto_eoi:
            c.m.pic[1].isr |= 1 << s
        if not (c.m.pic[1].irr & ~c.m.pic[1].imr):
            c.m.pic[0].irr &= ~(1 << 2)
        if not c.m.pic[0].auto_eoi:
            c.m.pic[0].isr |= 1 << 2
        return c.m.pic[1].base + s
    c.m.pic[0].irr &= ~(1 << m)
    if not c.m.pic[0].auto_eoi:
        c.m.pic[0].isr |= 1 << m
    return c.m.pic[0].base + m

cdef void pic_write(CPU* c, uint32_t port, uint64_t v) noexcept nogil:
    cdef Pic* p = &c.m.pic[1 if port >= 0xA0 else 0]
    cdef uint32_t k
    if (port & 1) == 0:
        if v & 0x10:                   # ICW1: start initialisation
            p.icw_step = 1
            p.icw4 = v & 1
            p.imr = p.isr = p.irr = 0
            p.read_isr = 0
        elif v & 0x08:                 # OCW3
            if v & 2:
                p.read_isr = v & 1
        else:                          # OCW2: EOI
            if (v & 0xE0) == 0x60:
                p.isr &= ~(1 << (v & 7))
            elif (v & 0xE0) == 0x20:
                for k in range(8):
                    if p.isr & (1 << k):
                        p.isr &= ~(1 << k)
                        break
    elif p.icw_step == 1:
        p.base = v & 0xF8
        p.icw_step = 2
    elif p.icw_step == 2:
        p.icw_step = 3 if p.icw4 else 0
    elif p.icw_step == 3:
        p.auto_eoi = (v >> 1) & 1
        p.icw_step = 0
    else:
        p.imr = <uint8_t>v
    look_now(c)

cdef uint64_t pic_read(CPU* c, uint32_t port) noexcept nogil:
    cdef Pic* p = &c.m.pic[1 if port >= 0xA0 else 0]
    if port & 1:
        return p.imr
    return p.isr if p.read_isr else p.irr
