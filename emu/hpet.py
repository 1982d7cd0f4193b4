"""An HPET at 0xFED00000 as QEMU's (hw/timer/hpet.c): 3 comparators, a
64-bit main counter at 100 MHz (period 10 ns) in virtual time, legacy
replacement capable, vendor 0x8086.

Registers (64-bit, read and written whole or as 32-bit halves): 0x000
capabilities, 0x010 configuration (ENABLE, LEG_RT), 0x020 interrupt status
(write 1 to clear), 0x0F0 main counter (writable while halted), 0x100 +
0x20 n timer n: configuration, comparator (+8), FSB route (+0x10).

Comparators interrupt when the main counter reaches them (Machine.set_device_timer
wakes the device at that virtual time): one-shot, or periodic (the value
written with VAL_SET is the period), in 64-bit or 32-bit mode (a 32-bit
one-shot comparator fires again each time the low half wraps round to it).
Where the interrupt goes is `irq_line` alone: with legacy replacement
(LEG_RT) timer 0 is ISA IRQ 0 and timer 1 IRQ 8; otherwise Tn_INT_ROUTE
names an IOAPIC input, and of those only 2 (ISA IRQ 0's input on the PC)
reaches the 8259s until there is an IOAPIC.  A level-triggered timer also
sets its bit in the interrupt status register."""
from __future__ import annotations

BASE, SIZE = 0xFED00000, 0x400
TIMERS = 3
PERIOD_FS = 10_000_000                    # 10 ns a tick
CAP = (1 | (TIMERS - 1) << 8 | 1 << 13 | 1 << 15 | 0x8086 << 16 | PERIOD_FS << 32)
CFG_ENABLE, CFG_LEGACY = 1, 2
TN_WRITABLE = 0x7F4E                      # level, enable, periodic, val-set, 32-bit, route, FSB
TN_FIXED = 1 << 5 | 1 << 4                # 64-bit capable, periodic capable
TN_ROUTE_CAP = 0x00F00004 << 32           # IRQ 2 (legacy 0), 20-23, as QEMU's default
MASK64 = (1 << 64) - 1
TN_LEVEL, TN_ENABLE, TN_PERIODIC, TN_VAL_SET, TN_32BIT = 1 << 1, 1 << 2, 1 << 3, 1 << 6, 1 << 8
TN_FSB = 1 << 14


class Hpet:
    def __init__(self, machine):
        self.m = machine
        self.config = 0
        self.status = 0
        self.counter = 0                  # the counter's value when it last stopped
        self.started = 0                  # virtual time (ns) it was enabled
        self.timer_cfg = [TN_FIXED | TN_ROUTE_CAP] * TIMERS
        self.comparator = [MASK64] * TIMERS
        self.fsb = [0] * TIMERS
        self.period = [0] * TIMERS         # periodic timers: ticks between interrupts

    def attach(self):
        if self.m.memory_size <= BASE:
            self.m.add_mmio_handler(BASE, SIZE, self.read, self.write)
        return self

    def _now_ns(self) -> int:
        return self.m.virtual_time * 1_000_000_000 // self.m.ips

    def main_counter(self) -> int:
        if self.config & CFG_ENABLE:
            return (self.counter + (self._now_ns() - self.started) * 1_000_000 // PERIOD_FS) & MASK64
        return self.counter

    def _reg(self, off: int):
        """(getter, setter) of the 64-bit register at off (8-aligned)."""
        if off == 0x000:
            return (lambda: CAP), None
        if off == 0x010:
            return (lambda: self.config), self._set_config
        if off == 0x020:
            return (lambda: self.status), self._clear_status
        if off == 0x0F0:
            return self.main_counter, self._set_counter
        n, r = divmod(off - 0x100, 0x20)
        if off >= 0x100 and n < TIMERS:
            if r == 0:
                return (lambda: self.timer_cfg[n]), lambda v: self._set_timer_cfg(n, v)
            if r == 8:
                return (lambda: self.comparator[n]), lambda v: self._set_comparator(n, v)
            if r == 0x10:
                return (lambda: self.fsb[n]), lambda v: self.fsb.__setitem__(n, v)
        return (lambda: 0), None

    def read(self, addr, size):
        off = addr - BASE
        get, _ = self._reg(off & ~7)
        return (get() >> (8 * (off & 7))) & ((1 << (8 * size)) - 1)

    def write(self, addr, size, value):
        off = addr - BASE
        get, put = self._reg(off & ~7)
        if put is None:
            return
        shift = 8 * (off & 7)
        mask = ((1 << (8 * size)) - 1) << shift
        put((get() & ~mask) | ((value << shift) & mask) if off & ~7 != 0x020 else (value << shift) & mask)

    def _set_config(self, v):
        was = self.config & CFG_ENABLE
        self.config = v & (CFG_ENABLE | CFG_LEGACY)
        if self.config & CFG_ENABLE and not was:
            self.started = self._now_ns()
        elif was and not self.config & CFG_ENABLE:
            self.counter = (self.counter + (self._now_ns() - self.started) * 1_000_000 // PERIOD_FS) & MASK64
        for n in range(TIMERS):
            self._schedule(n)

    def _clear_status(self, v):
        self.status &= ~v

    def _set_counter(self, v):
        if not self.config & CFG_ENABLE:      # the counter is written only while halted
            self.counter = v & MASK64

    def _set_timer_cfg(self, n, v):
        self.timer_cfg[n] = (v & TN_WRITABLE) | TN_FIXED | TN_ROUTE_CAP
        if not self.timer_cfg[n] & TN_LEVEL:
            self.status &= ~(1 << n)           # (as QEMU: an edge timer has no status)
        self._schedule(n)

    def _set_comparator(self, n, v):
        """As QEMU: a periodic timer's write sets the period (and, with
        VAL_SET, the comparator too); VAL_SET clears itself."""
        cfg = self.timer_cfg[n]
        v &= 0xFFFFFFFF if cfg & TN_32BIT else MASK64
        if not cfg & TN_PERIODIC or cfg & TN_VAL_SET:
            self.comparator[n] = v
        if cfg & TN_PERIODIC:
            self.period[n] = v
        self.timer_cfg[n] &= ~TN_VAL_SET
        self._schedule(n)

    # ---- interrupts

    def irq_line(self, n):
        """The ISA IRQ timer n raises on the 8259s, or None when it goes
        nowhere they see (an IOAPIC input other than 2, FSB messages)."""
        if self.config & CFG_LEGACY and n < 2:
            return (0, 8)[n]
        if self.timer_cfg[n] & TN_FSB:
            return None
        route = (self.timer_cfg[n] >> 9) & 0x1F
        return 0 if route == 2 else None       # IOAPIC input 2 is ISA IRQ 0's

    def _ticks_to_go(self, n):
        """Main-counter ticks until timer n's comparator matches."""
        now = self.main_counter()
        if self.timer_cfg[n] & TN_32BIT:
            return (self.comparator[n] - now) & 0xFFFFFFFF or 1 << 32
        return (self.comparator[n] - now) & MASK64

    def _schedule(self, n):
        """Arm (or cancel) the virtual-time wake-up of timer n."""
        owner = ("hpet", n)
        if not (self.config & CFG_ENABLE and self.timer_cfg[n] & TN_ENABLE):
            self.m.set_device_timer(owner, None)
            return
        ticks = self._ticks_to_go(n)
        if ticks == 0 and not self.timer_cfg[n] & TN_32BIT:
            ticks = 1 << 64                    # a 64-bit comparator just passed: once round the counter
        ns = self._now_ns() + -(-ticks * PERIOD_FS // 1_000_000)
        when = -(-ns * self.m.ips // 1_000_000_000)
        self.m.set_device_timer(owner, when, lambda: self._fire(n))

    def _fire(self, n):
        cfg = self.timer_cfg[n]
        if cfg & TN_LEVEL:
            self.status |= 1 << n
        irq = self.irq_line(n)
        if irq is not None:
            self.m.raise_irq(irq)
        if cfg & TN_PERIODIC and self.period[n]:
            # the next multiple of the period after now (missed ones are dropped)
            mask = 0xFFFFFFFF if cfg & TN_32BIT else MASK64
            behind = (self.main_counter() - self.comparator[n]) & mask
            self.comparator[n] = (self.comparator[n] + (behind // self.period[n] + 1) * self.period[n]) & mask
        elif not cfg & TN_32BIT:
            self.m.set_device_timer(("hpet", n), None)     # a 64-bit one-shot fires once
            return
        self._schedule(n)
