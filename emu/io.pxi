# Port I/O: IN, OUT, INS, OUTS, and the bus behind them.  Each port maps to
# a device id; the PC devices a serial loop hammers (the 16550 UART, the
# Bochs/QEMU debug console at 0xE9, POST codes, isa-debug-exit) are handled
# here in C, anything registered from Python leaves the run loop (EXIT_IO).
# An IN from a Python device is completed by replay: the run loop returns,
# Python puts the value in io_value, and the IN runs again and takes it.

cdef inline int out_byte(CPU* c, uint8_t* buf, uint32_t* length, uint8_t v) noexcept nogil:
    buf[length[0]] = v
    length[0] += 1
    return length[0] >= OUTBUF_SIZE

# The 16550 follows QEMU's serial model: a byte written is sent at once (so
# THR-empty comes straight back), reading IIR while it shows THR-empty
# clears that interrupt, loopback feeds the receiver, and the IRQ 4 line
# goes to the PIC on each rising edge.

cdef inline bint uart_rx_ready(Uart* u) noexcept nogil:
    return u.rx_head != u.rx_tail

cdef uint32_t uart_iir(Uart* u) noexcept nogil:
    if (u.ier & 4) and u.overrun:
        return 0x06
    if (u.ier & 1) and uart_rx_ready(u):
        return 0x04
    if (u.ier & 2) and u.thr_pending:
        return 0x02
    return 0x01

cdef void uart_update_irq(CPU* c) noexcept nogil:
    cdef uint8_t level = uart_iir(&c.m.uart) != 0x01
    if level and not c.m.uart.irq_level:
        irq_raise(c, 4)
    c.m.uart.irq_level = level

cdef void uart_receive(CPU* c, uint8_t v) noexcept nogil:
    """A byte arrives (from the loopback or from Python's input queue)."""
    cdef Uart* u = &c.m.uart
    cdef uint32_t depth = 16 if (u.fcr & 1) else 1
    if u.rx_tail - u.rx_head >= depth:
        u.overrun = 1
        if depth == 1:
            u.rx[(u.rx_tail - 1) & 255] = v  # the new byte replaces the unread one
    else:
        u.rx[u.rx_tail & 255] = v
        u.rx_tail += 1

cdef void uart_pump(CPU* c) noexcept nogil:
    """Move host input into the receive FIFO while it has room: the guest
    sees the next byte as soon as it read the last one, without leaving
    the run loop."""
    cdef Uart* u = &c.m.uart
    cdef uint32_t depth = 16 if (u.fcr & 1) else 1
    while u.hostq_head != u.hostq_tail and u.rx_tail - u.rx_head < depth:
        uart_receive(c, u.hostq[u.hostq_head % INQ_SIZE])
        u.hostq_head += 1

cdef int uart_read(CPU* c, uint32_t reg, uint64_t* v) noexcept nogil:
    cdef Uart* u = &c.m.uart
    cdef uint32_t iir
    if reg == 0:
        if u.lcr & 0x80:
            v[0] = u.dll
        elif uart_rx_ready(u):
            v[0] = u.rx[u.rx_head & 255]
            u.rx_head += 1
            uart_pump(c)
        else:
            v[0] = 0
    elif reg == 1:
        v[0] = u.dlm if u.lcr & 0x80 else u.ier
    elif reg == 2:
        iir = uart_iir(u)
        if iir == 0x02:
            u.thr_pending = 0         # reading IIR acknowledges THR-empty
        v[0] = iir | (0xC0 if u.fcr & 1 else 0)
    elif reg == 3:
        v[0] = u.lcr
    elif reg == 4:
        v[0] = u.mcr
    elif reg == 5:
        v[0] = 0x60 | (1 if uart_rx_ready(u) else 0) | (2 if u.overrun else 0)
        u.overrun = 0
    elif reg == 6:
        # CTS DSR DCD (or, in loopback, RTS DTR OUT1 OUT2 reflected)
        v[0] = ((u.mcr & 0x0F) << 4) if u.mcr & 0x10 else 0xB0
    else:
        v[0] = u.scr
    uart_update_irq(c)
    return 0

cdef int uart_write(CPU* c, uint32_t reg, uint64_t v) noexcept nogil:
    """Returns 1 when the transmit buffer must be flushed."""
    cdef Uart* u = &c.m.uart
    cdef int flush = 0
    if reg == 0:
        if u.lcr & 0x80:
            u.dll = <uint8_t>v
        else:
            if u.mcr & 0x10:          # loopback: the byte comes back in
                uart_receive(c, <uint8_t>v)
            else:
                flush = out_byte(c, u.out, &u.out_len, <uint8_t>v)
            u.thr_pending = 1         # sent at once: THR empty again
    elif reg == 1:
        if u.lcr & 0x80:
            u.dlm = <uint8_t>v
        else:
            if (v & 2) and not (u.ier & 2):
                u.thr_pending = 1     # enabling THRE interrupts re-checks THRE
            u.ier = <uint8_t>(v & 0x0F)
    elif reg == 2:
        if (v ^ u.fcr) & 1:           # FIFO enable changed: reset both FIFOs
            u.rx_head = u.rx_tail
            u.thr_pending = 1
        if v & 2:
            u.rx_head = u.rx_tail
        u.fcr = <uint8_t>(v & 0xC9)
    elif reg == 3:
        u.lcr = <uint8_t>v
    elif reg == 4:
        u.mcr = <uint8_t>(v & 0x1F)
    elif reg == 7:
        u.scr = <uint8_t>v
    uart_update_irq(c)
    return flush

cdef int io_in(CPU* c, uint32_t port, uint32_t size, uint64_t* v) noexcept nogil:
    """Read `size` bytes from a port: 0, or RC_EXIT_NR to ask Python.  An
    answer waiting for this port (Python's, or one INS kept: h_ins) is
    taken instead."""
    cdef uint32_t dev = c.io_map[port]
    if c.io_ready and c.io_port == port:
        c.io_ready = 0
        v[0] = c.io_value & size_mask(size)
        return 0
    if dev == DEV_NONE or dev == DEV_DEBUG_EXIT or dev == DEV_POST:
        v[0] = size_mask(size)
    elif dev == DEV_UART:
        uart_read(c, port - c.m.uart.base, v)
    elif dev == DEV_DEBUGCON:
        v[0] = 0xE9                 # as Bochs and QEMU: reads give the port number
    elif dev == DEV_PIC:
        v[0] = pic_read(c, port)
    elif dev == DEV_PIT:
        v[0] = pit_read(c, port)
    elif dev == DEV_PORT61:
        v[0] = port61_read(c)
    else:
        c.io_port = port
        c.io_size = size
        c.io_write = 0
        c.exit_reason = EXIT_IO
        return RC_EXIT_NR
    return 0

cdef int io_out(CPU* c, uint32_t port, uint32_t size, uint64_t v) noexcept nogil:
    """Write to a port: 0, or RC_EXIT (the write is done, Python must act)."""
    cdef uint32_t dev = c.io_map[port]
    v &= size_mask(size)
    if dev == DEV_NONE:
        return 0
    if dev == DEV_UART:
        if uart_write(c, port - c.m.uart.base, v):
            c.exit_reason = EXIT_FLUSH
            return RC_EXIT
        return 0
    if dev == DEV_DEBUGCON:
        if out_byte(c, c.m.dbg_out, &c.m.dbg_len, <uint8_t>v):
            c.exit_reason = EXIT_FLUSH
            return RC_EXIT
        return 0
    if dev == DEV_PIC:
        pic_write(c, port, v)
        return RC_END if c.next_event == 0 else 0
    if dev == DEV_PIT:
        pit_write(c, port, v)
        return 0
    if dev == DEV_PORT61:
        port61_write(c, v)
        return 0
    if dev == DEV_POST:
        c.m.post_last = <uint32_t>v
        c.m.post_count += 1
        return 0
    if dev == DEV_DEBUG_EXIT:
        c.exit_status = <uint32_t>v
        c.exit_reason = EXIT_DEBUG_EXIT
        return RC_EXIT
    c.io_port = port
    c.io_size = size
    c.io_write = 1
    c.io_value = v
    c.exit_reason = EXIT_IO
    return RC_EXIT

cdef int io_allowed(CPU* c, uint32_t port, uint32_t size) noexcept nogil:
    """I/O privilege: allowed in real mode and at CPL <= IOPL; otherwise the
    32/64-bit TSS's I/O permission bitmap decides (#GP(0) if denied)."""
    cdef uint64_t off, bits
    if c.dr_io:
        io_breakpoint(c, port, size)
    if not (c.cr0 & CR0_PE) or (c.cpl <= iopl(c) and not (c.eflags & F_VM)):
        return 0
    if (c.tr_sel & 0xFFFC) == 0 or (c.tr_attr & 0xF) not in (0x9, 0xB) or c.tr_limit < 0x67:
        return fault(c, EXC_GP, 1, 0)
    if rd_sys(c, (c.tr_base + 0x66) & c.lamask, 2, &off):
        return RC_FAULT
    off += port >> 3
    if off + 1 > c.tr_limit:
        return fault(c, EXC_GP, 1, 0)
    if rd_sys(c, (c.tr_base + off) & c.lamask, 2, &bits):
        return RC_FAULT
    if (bits >> (port & 7)) & ((1 << size) - 1):
        return fault(c, EXC_GP, 1, 0)
    return 0

cdef inline uint32_t io_port_of(CPU* c, Insn* i) noexcept nogil:
    """E4-E7 take the port as imm8; EC-EF and the string forms use DX."""
    if i.opcode >= 0xE4 and i.opcode <= 0xE7:
        return <uint32_t>(i.imm & 0xFF)
    return <uint32_t>(c.r[R_DX] & 0xFFFF)

cdef int h_in(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t v
    cdef uint32_t port = io_port_of(c, i), size = 4 if i.osz == 8 else i.osz
    cdef int rc
    if io_allowed(c, port, size):
        return RC_FAULT
    if pv_traps(c, i, PV_IN):
        return pv_trap_exit(c, i, PV_IN, port, size, 0)
    c.io_idx = i.idx              # the devices see the time of this instruction
    rc = io_in(c, port, size, &v)
    c.io_idx = 0
    if rc:
        return rc
    set_r(c, R_AX, size, v)
    return next_insn(c, i)

cdef int h_out(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint32_t port = io_port_of(c, i), size = 4 if i.osz == 8 else i.osz
    cdef int rc
    if io_allowed(c, port, size):
        return RC_FAULT
    if pv_traps(c, i, PV_OUT):
        return pv_trap_exit(c, i, PV_OUT, port, size, c.r[R_AX] & size_mask(size))
    c.io_idx = i.idx
    rc = io_out(c, port, size, c.r[R_AX])
    c.io_idx = 0
    if rc:
        return rc
    return next_insn(c, i)

cdef int h_ins(CPU* c, Insn* i) noexcept nogil:
    """INS: one element per run of the handler (REP repeats it through
    RC_AGAIN), since each may need Python."""
    c.cur = i
    cdef uint64_t v, am = i.amask, di = c.r[R_DI] & i.amask
    cdef uint32_t port = <uint32_t>(c.r[R_DX] & 0xFFFF), size = 4 if i.osz == 8 else i.osz
    cdef int64_t step = -<int64_t>size if (c.eflags & F_DF) else <int64_t>size
    cdef int rc
    if i.rep and (c.r[R_CX] & am) == 0:
        return next_insn(c, i)
    if io_allowed(c, port, size) or check_wr(c, lin_of(c, S_ES, di), size):
        return RC_FAULT
    c.io_idx = i.idx              # the devices see the time of this instruction
    rc = io_in(c, port, size, &v)
    c.io_idx = 0
    if rc:
        return rc
    if wr(c, lin_of(c, S_ES, di), size, v):   # a Python device's memory: INS runs again
        c.io_ready = 1                        # with the same element, not read twice
        c.io_port = port
        c.io_value = v
        return RC_FAULT
    mmio_element_done(c)
    set_areg(c, R_DI, am, di + step)
    if i.rep:
        set_areg(c, R_CX, am, (c.r[R_CX] & am) - 1)
        if c.r[R_CX] & am:
            return RC_AGAIN
    return next_insn(c, i)

cdef int h_outs(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t v, am = i.amask, si = c.r[R_SI] & i.amask
    cdef uint32_t port = <uint32_t>(c.r[R_DX] & 0xFFFF), size = 4 if i.osz == 8 else i.osz
    cdef int64_t step = -<int64_t>size if (c.eflags & F_DF) else <int64_t>size
    cdef int rc
    if i.rep and (c.r[R_CX] & am) == 0:
        return next_insn(c, i)
    if io_allowed(c, port, size) or rd(c, lin_of(c, i.seg, si), size, &v):
        return RC_FAULT
    mmio_element_done(c)
    set_areg(c, R_SI, am, si + step)
    if i.rep:
        set_areg(c, R_CX, am, (c.r[R_CX] & am) - 1)
    c.io_idx = i.idx
    rc = io_out(c, port, size, v)
    c.io_idx = 0
    if i.rep and (c.r[R_CX] & am):
        # More to go: a write Python must see leaves the loop without
        # retiring the instruction, which then goes on from here.
        return RC_EXIT_NR if rc == RC_EXIT else RC_AGAIN
    if rc:
        return rc
    return next_insn(c, i)
