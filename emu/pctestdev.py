"""QEMU's pc-testdev (`-device pc-testdev`, hw/misc/pc-testdev.c), which
kvm-unit-tests drives:

- ports 0xE0-0xE3: a 32-bit register, read and written in any width at
  any byte offset;
- ports 0xE4-0xE7: "flush page": a 32-bit write of a physical address makes
  the host drop its mappings of that page (here: the software TLB);
- ports 0xE8-0xEB: the same register as 0xE0, accessed byte by byte;
- ports 0x2000-0x2017: interrupt lines: a byte written to 0x2000 + n sets
  line n to (byte != 0): the IOAPIC sees the level (line 0 on its pin 2, as
  QEMU wires it), the 8259 the rising edge; reads give 0;
- MMIO 0xFF000000-0xFF00FFFF: 64 KiB of device memory, read and written as RAM.
"""
from __future__ import annotations

IOPORT, FLUSH, IOPORT_BYTE, IRQ_BASE, IRQ_LINES = 0xE0, 0xE4, 0xE8, 0x2000, 24
IOMEM, IOMEM_LEN = 0xFF000000, 0x10000


class PcTestdev:
    def __init__(self, machine):
        self.m = machine
        self.data = 0                 # the register at 0xE0 / 0xE8
        self.lines = 0                # levels of the IRQ lines, bit n = line n
        self.iomem = bytearray(IOMEM_LEN)

    def attach(self):
        self.m.add_io_handler(IOPORT, 4, self._reg_read, self._reg_write)
        self.m.add_io_handler(IOPORT_BYTE, 4, self._reg_read, self._reg_write)
        self.m.add_io_handler(FLUSH, 4, lambda p, s: 0, self._flush)
        self.m.add_io_handler(IRQ_BASE, IRQ_LINES, lambda p, s: 0, self._irq_write)
        if self.m.memory_size <= IOMEM:
            self.m.add_mmio_handler(IOMEM, IOMEM_LEN, self._mem_read, self._mem_write)
        return self

    def _reg_read(self, port, size):
        shift = (port & 3) * 8
        return (self.data >> shift) & ((1 << (8 * size)) - 1)

    def _reg_write(self, port, size, value):
        shift = (port & 3) * 8
        mask = (((1 << (8 * size)) - 1) << shift) & 0xFFFFFFFF
        self.data = (self.data & ~mask) | ((value << shift) & mask)

    def _flush(self, port, size, value):
        self.m.flush_tlb()            # (a physical page: which linear ones map it is not known)

    def _irq_write(self, port, size, value):
        """Each byte of the access sets one line (a wide access covers the
        next lines too)."""
        for k in range(size):
            n = port - IRQ_BASE + k
            if n >= IRQ_LINES:
                break
            level = (value >> (8 * k)) & 0xFF != 0
            self.lines = (self.lines | (1 << n)) if level else (self.lines & ~(1 << n))
            self.m.set_irq_line(n, level)      # the IOAPIC's level, the 8259's rising edge

    def _mem_read(self, addr, size):
        off = addr - IOMEM
        return int.from_bytes(self.iomem[off:off + size].ljust(size, b"\0"), "little")

    def _mem_write(self, addr, size, value):
        off = addr - IOMEM
        n = min(size, IOMEM_LEN - off)
        self.iomem[off:off + n] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")[:n]
