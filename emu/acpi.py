"""A minimal ACPI platform, the way Linux finds a PC's power control: the
tables (RSDP, RSDT, FADT, FACS, a DSDT holding only the \\_S5 sleep-type
package, and a MADT with the local APICs, the IOAPIC and IRQ 0's override) and the fixed hardware they point
at, a PM1 event/control block and the ACPI PM timer at I/O port 0x600 (where
QEMU's pc machine has them).

A guest that writes SLP_EN with the \\_S5 sleep type to PM1a_CNT powers the
machine off: `run()` returns an Exit with reason 'shutdown' and
``shutdown == 'poweroff'``.  That is how Linux's `poweroff` ends a run.
ACPI 1.0 tables (FADT revision 1): no reset register, so Linux reboots
through the keyboard controller (emu.devices.I8042).
"""
from __future__ import annotations

import struct

RSDP_ADDR = 0xF6000          # in the BIOS area Linux scans (0xE0000-0xFFFFF)
TABLES_ADDR = 0xE0000        # the tables themselves (a hole in the e820 map)
PM_BASE = 0x600              # PM1a_EVT (4 bytes), PM1a_CNT (2), PM_TMR (4)
SCI_IRQ = 9
SLP_TYP_S5 = 5               # the sleep type \_S5 names (our choice; QEMU's PIIX4 uses 0)
SLP_EN = 1 << 13
SCI_EN = 1 << 0
PM_TIMER_HZ = 3579545
OEM_ID = b"PVEMU "
OEM_TABLE_ID = b"PVEMUPC "
LAPIC_BASE = 0xFEE00000
IOAPIC_BASE = 0xFEC00000
IOAPIC_ID = 0               # the IOAPIC's ID register at reset (emu/ioapic.pxi)


def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def _sdt(signature: bytes, revision: int, body: bytes) -> bytes:
    """An ACPI table: the 36-byte header (checksummed) and its body."""
    header = struct.pack("<4sIBB6s8sI4sI", signature, 36 + len(body), revision, 0,
                         OEM_ID, OEM_TABLE_ID, 1, b"PVEM", 1)
    table = bytearray(header + body)
    table[9] = _checksum(table)
    return bytes(table)


def _fadt(facs: int, dsdt: int) -> bytes:
    """FADT revision 1 (ACPI 1.0, 116 bytes).  SMI_CMD = 0: the machine is
    always in ACPI mode."""
    body = bytearray(116 - 36)

    def put(offset, fmt, value):
        struct.pack_into(fmt, body, offset - 36, value)
    put(36, "<I", facs)
    put(40, "<I", dsdt)
    put(46, "<H", SCI_IRQ)
    put(56, "<I", PM_BASE)          # PM1a_EVT_BLK
    put(64, "<I", PM_BASE + 4)      # PM1a_CNT_BLK
    put(76, "<I", PM_BASE + 8)      # PM_TMR_BLK
    put(88, "<B", 4)                # PM1_EVT_LEN
    put(89, "<B", 2)                # PM1_CNT_LEN
    put(91, "<B", 4)                # PM_TMR_LEN
    put(96, "<H", 101)              # P_LVL2_LAT > 100: C2 not supported
    put(98, "<H", 1001)             # P_LVL3_LAT > 1000: C3 not supported
    put(108, "<B", 0x32)            # CENTURY: the CMOS index of the century
    # WBINVD (0), PROC_C1 (2), PWR_BUTTON and SLP_BUTTON as control methods (4, 5)
    put(112, "<I", (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5))
    return _sdt(b"FACP", 1, bytes(body))


def _dsdt() -> bytes:
    # AML: Name (_S5, Package (4) { 5, 5, 0, 0 })
    aml = bytes([0x08]) + b"_S5_" + bytes([0x12, 0x08, 0x04, 0x0A, SLP_TYP_S5, 0x0A, SLP_TYP_S5,
                                            0x00, 0x00])
    return _sdt(b"DSDT", 1, aml)


def _madt(cpus: int) -> bytes:
    """One local APIC per CPU (APIC IDs 0..cpus-1), the IOAPIC (GSIs 0-23)
    and ISA IRQ 0 on GSI 2 (the PIT, as on every PC: emu/ioapic.pxi)."""
    body = struct.pack("<II", LAPIC_BASE, 1)                 # PCAT_COMPAT: 8259s present
    for k in range(cpus):
        body += struct.pack("<BBBBI", 0, 8, k, k, 1)         # processor local APIC, enabled
    body += struct.pack("<BBBBII", 1, 12, IOAPIC_ID, 0, IOAPIC_BASE, 0)   # I/O APIC, GSI base 0
    body += struct.pack("<BBBBIH", 2, 10, 0, 0, 2, 0)        # override: bus ISA, IRQ 0 -> GSI 2, conforming
    return _sdt(b"APIC", 1, body)


def tables(cpus: int = 1) -> list:
    """[(physical address, bytes)] of the RSDP and the tables."""
    out = []
    addr = TABLES_ADDR

    def place(blob: bytes) -> int:
        nonlocal addr
        at = addr
        out.append((at, blob))
        addr = (addr + len(blob) + 15) & ~15
        return at
    facs = place(struct.pack("<4sI", b"FACS", 64) + bytes(56))
    dsdt = place(_dsdt())
    fadt = place(_fadt(facs, dsdt))
    madt = place(_madt(cpus))
    rsdt = place(_sdt(b"RSDT", 1, struct.pack("<II", fadt, madt)))
    rsdp = bytearray(struct.pack("<8sB6sBI", b"RSD PTR ", 0, OEM_ID, 0, rsdt))
    rsdp[8] = _checksum(rsdp)
    out.append((RSDP_ADDR, bytes(rsdp)))
    return out


class AcpiPm:
    """The PM1a event and control registers and the PM timer."""

    def __init__(self, machine):
        self.m = machine
        self.sts = 0
        self.en = 0
        self.cnt = SCI_EN

    def attach(self):
        self.m.add_io_handler(PM_BASE, 12, self.read, self.write)
        return self

    def _timer(self) -> int:
        return (self.m.virtual_time * PM_TIMER_HZ // self.m.ips) & 0xFFFFFF

    def read(self, port, size):
        off = port - PM_BASE
        regs = struct.pack("<HHHHI", self.sts, self.en, self.cnt, 0, self._timer())
        return int.from_bytes(regs[off:off + size].ljust(size, b"\0"), "little")

    def write(self, port, size, value):
        off = port - PM_BASE
        for k in range(size):
            byte = (value >> (8 * k)) & 0xFF
            at = off + k
            if at < 2:                       # PM1_STS: write 1 to clear
                self.sts &= ~(byte << (8 * at))
            elif at < 4:
                shift = 8 * (at - 2)
                self.en = (self.en & ~(0xFF << shift)) | (byte << shift)
            elif at < 6:
                shift = 8 * (at - 4)
                self.cnt = (self.cnt & ~(0xFF << shift)) | (byte << shift)
        if self.cnt & SLP_EN:
            self.cnt &= ~SLP_EN
            if (self.cnt >> 10) & 7 == SLP_TYP_S5:
                self.m.request_shutdown("poweroff")


def attach_acpi(machine, cpus: int = 1):
    """Write the tables into `machine`'s memory and add the PM device.
    Returns the device."""
    for addr, blob in tables(cpus):
        machine.mem_write(addr, blob)
    return AcpiPm(machine).attach()
