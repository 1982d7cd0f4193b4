"""PC devices written in Python, for ports a guest reads rarely: the CMOS
real-time clock and memory (0x70/0x71), QEMU's fw_cfg (0x510/0x511) and
the keyboard controller's reset line (0x64); ACPI power control is in
emu/acpi.py.
The devices a guest hammers (UART, PIC, PIT, APIC, debug ports) are in C in
the core.  `attach_pc(machine, ...)` wires them as QEMU's pc machine has them."""
from __future__ import annotations

import struct
import time

from emu.errors import EmuError

#: The wall-clock time the guest's RTC starts at (virtual time is added to
#: it), so runs are reproducible: 2000-01-01 00:00:00 UTC.
DEFAULT_EPOCH = 946684800


def _bcd(v: int) -> int:
    return ((v // 10) << 4) | (v % 10)


class Cmos:
    """The MC146818 RTC and CMOS memory: time (in BCD, 24-hour, as status
    register B says), the status registers, and the memory-size bytes a
    BIOS would fill in."""

    def __init__(self, machine, memory_size: int, epoch: int = DEFAULT_EPOCH):
        self.m = machine
        self.epoch = epoch
        self.index = 0
        self.ram = bytearray(128)
        self.ram[0x0A] = 0x26                  # 32.768 kHz time base, 1024 Hz rate
        self.ram[0x0B] = 0x02                  # 24-hour, BCD
        self.ram[0x0D] = 0x80                  # battery good
        base_kb, ext_kb = 640, max(0, min((memory_size >> 10) - 1024, 0xFFFF))
        self.ram[0x15:0x17] = struct.pack("<H", base_kb)
        self.ram[0x17:0x19] = self.ram[0x30:0x32] = struct.pack("<H", ext_kb)
        above16 = max(0, min((memory_size - (16 << 20)) >> 16, 0xFFFF))
        self.ram[0x34:0x36] = struct.pack("<H", above16)

    def attach(self):
        self.m.add_io_handler(0x70, 2, self.read, self.write)
        return self

    def _now(self):
        seconds = self.epoch + self.m.virtual_time // self.m.ips
        return time.gmtime(seconds)

    def read(self, port, size):
        if port == 0x70:
            return 0xFF
        i = self.index
        if i <= 9:
            t = self._now()
            value = {0: t.tm_sec, 2: t.tm_min, 4: t.tm_hour, 6: (t.tm_wday + 1) % 7 + 1,
                     7: t.tm_mday, 8: t.tm_mon, 9: t.tm_year % 100}.get(i, 0)
            return _bcd(value)
        if i == 0x32:
            return _bcd(self._now().tm_year // 100)
        if i == 0x0C:
            return 0                           # no interrupt flags pending
        return self.ram[i]

    def write(self, port, size, value):
        if port == 0x70:
            self.index = value & 0x7F          # bit 7 masks NMI
        elif self.index >= 0x0E:
            self.ram[self.index] = value & 0xFF


class FwCfg:
    """QEMU's fw_cfg, the traditional I/O interface (no DMA): a 16-bit
    selector at 0x510, data bytes at 0x511.  Items: the signature, the
    interface ID, RAM size, CPU count, the kernel command line, an empty
    file directory."""

    SIGNATURE, ID, RAM_SIZE, NB_CPUS, MAX_CPUS = 0x00, 0x01, 0x03, 0x05, 0x0F
    CMDLINE_SIZE, CMDLINE_DATA, FILE_DIR = 0x14, 0x15, 0x19

    def __init__(self, machine, memory_size: int, cmdline: str = "", cpus: int = 1):
        """`cmdline` is for a Linux-style boot; as QEMU does, a Multiboot
        boot passes its command line only in the Multiboot information and
        leaves these keys empty (cmdline="")."""
        self.m = machine
        data = cmdline.encode() + b"\0" if cmdline else b""
        self.items = {
            self.SIGNATURE: b"QEMU",
            self.ID: struct.pack("<I", 1),
            self.RAM_SIZE: struct.pack("<Q", memory_size),
            self.NB_CPUS: struct.pack("<H", cpus),
            self.MAX_CPUS: struct.pack("<H", cpus),
            self.CMDLINE_SIZE: struct.pack("<I", len(data)),
            self.CMDLINE_DATA: data,
            self.FILE_DIR: struct.pack(">I", 0),
        }
        self.selected = b""
        self.offset = 0

    def attach(self):
        self.m.add_io_handler(0x510, 2, self.read, self.write)
        return self

    def write(self, port, size, value):
        if port == 0x510:
            self.selected = self.items.get(value & 0x3FFF, b"")
            self.offset = 0

    def read(self, port, size):
        if port == 0x510:
            return 0
        out = 0
        for k in range(size):
            b = self.selected[self.offset] if self.offset < len(self.selected) else 0
            self.offset += 1
            out |= b << (8 * k)
        return out


class ResetLine:
    """The 8042 keyboard controller's reset line: command 0xFE written to
    port 0x64 resets the machine (run() ends with reason 'shutdown',
    shutdown 'reset'), the way Linux and most firmware reboot a PC.  The
    rest of the controller is absent: reads float high (0xFF), as on a PC
    without one, so a driver probing it finds no controller."""

    PORT = 0x64
    PULSE_RESET = 0xFE

    def __init__(self, machine):
        self.m = machine

    def attach(self):
        self.m.add_io_handler(self.PORT, 1, None, self.write)
        return self

    def write(self, port, size, value):
        if value & 0xFF == self.PULSE_RESET:
            self.m.request_shutdown("reset")


#: Devices added on request, as QEMU's -device NAME.
OPTIONAL_DEVICES = ("pc-testdev",)


def attach_pc(machine, memory_size: int, fw_cfg_cmdline: str = "", devices=()):
    """Add the Python PC devices to a machine (CMOS, fw_cfg, the reset line,
    HPET, and the OPTIONAL_DEVICES named in `devices`); returns them by name.
    pc-testdev is optional as in QEMU: its port 0xE9 hides the debug console."""
    from emu.hpet import Hpet
    from emu.pctestdev import PcTestdev
    found = {"cmos": Cmos(machine, memory_size).attach(),
             "fw_cfg": FwCfg(machine, memory_size, fw_cfg_cmdline, machine.cpus).attach(),
             "reset": ResetLine(machine).attach(),
             "hpet": Hpet(machine).attach()}
    from emu._core import IOAPIC_ADDRESS
    if memory_size <= IOAPIC_ADDRESS:
        machine.attach_ioapic()            # the core's IOAPIC, every entry masked until a guest sets it
    for name in devices:
        if name not in OPTIONAL_DEVICES:
            raise EmuError(f"unknown device {name!r}; known: {', '.join(OPTIONAL_DEVICES)}")
        found[name] = PcTestdev(machine).attach()
    return found


def firmware_pic_setup(machine):
    """Program the 8259 pair as the PC BIOS does before it starts a kernel
    (QEMU's -kernel runs SeaBIOS first): master vectors 0x08-0x0F, slave
    0x70-0x77 on the master's IRQ 2, 8086 mode.  Kernels that run in real
    mode (kvm-unit-tests' realmode) take IRQs at those vectors; the masks
    stay open, where SeaBIOS masks the lines it has no driver for."""
    for port, base, cascade in ((0x20, 0x08, 0x04), (0xA0, 0x70, 0x02)):
        machine.port_out(port, 1, 0x11)            # ICW1: edge, cascade, ICW4
        machine.port_out(port + 1, 1, base)        # ICW2: vector base
        machine.port_out(port + 1, 1, cascade)     # ICW3
        machine.port_out(port + 1, 1, 0x01)        # ICW4: 8086 mode
        machine.port_out(port + 1, 1, 0x00)        # OCW1: no line masked
