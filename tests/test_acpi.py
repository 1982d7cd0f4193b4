"""The ACPI tables and power control (emu/acpi.py) and the keyboard
controller's reset line: what Linux's poweroff and reboot use."""
import struct

from emu import Machine
from emu.acpi import PM_BASE, RSDP_ADDR, SLP_EN, SLP_TYP_S5, attach_acpi, tables
from emu.devices import attach_pc


def test_every_table_sums_to_zero_and_the_rsdp_leads_to_them():
    placed = dict(tables(cpus=2))
    rsdp = placed[RSDP_ADDR]
    assert rsdp[:8] == b"RSD PTR " and sum(rsdp[:20]) & 0xFF == 0
    rsdt = placed[struct.unpack_from("<I", rsdp, 16)[0]]
    assert rsdt[:4] == b"RSDT" and sum(rsdt) & 0xFF == 0
    assert struct.unpack_from("<I", rsdt, 4)[0] == len(rsdt)
    pointers = struct.unpack_from("<%dI" % ((len(rsdt) - 36) // 4), rsdt, 36)
    by_sig = {placed[p][:4]: placed[p] for p in pointers}
    assert set(by_sig) == {b"FACP", b"APIC"}
    for t in by_sig.values():
        assert sum(t) & 0xFF == 0 and struct.unpack_from("<I", t, 4)[0] == len(t)
    fadt = by_sig[b"FACP"]
    dsdt = placed[struct.unpack_from("<I", fadt, 40)[0]]
    assert dsdt[:4] == b"DSDT" and sum(dsdt) & 0xFF == 0 and b"_S5_" in dsdt
    assert placed[struct.unpack_from("<I", fadt, 36)[0]][:4] == b"FACS"
    assert struct.unpack_from("<I", fadt, 64)[0] == PM_BASE + 4        # PM1a_CNT_BLK
    madt = by_sig[b"APIC"]
    assert [madt[44 + 8 * k + 3] for k in range(2)] == [0, 1]         # two local APIC ids
    entries, at = [], 44
    while at < len(madt):
        entries.append(madt[at:at + madt[at + 1]])
        at += madt[at + 1]
    assert [e[0] for e in entries] == [0, 0, 1, 2]                    # LAPICs, the IOAPIC, an override
    assert struct.unpack_from("<II", entries[2], 4) == (0xFEC00000, 0)   # its address, GSI base 0
    assert struct.unpack_from("<BBI", entries[3], 2) == (0, 0, 2)        # ISA IRQ 0 -> GSI 2


def _guest(code: bytes) -> Machine:
    m = Machine(mode=32, memory=1 << 20)
    attach_pc(m, 1 << 20)
    attach_acpi(m)
    m.mem_write(0x1000, code + b"\xf4")
    return m


def test_s5_written_to_pm1a_cnt_powers_off():
    value = (SLP_TYP_S5 << 10) | SLP_EN
    # mov dx, PM_BASE+4; mov ax, value; out dx, ax; mov eax, 1; hlt
    code = (b"\x66\xba" + struct.pack("<H", PM_BASE + 4) + b"\x66\xb8" + struct.pack("<H", value)
            + b"\x66\xef" + b"\xb8\x01\x00\x00\x00")
    ex = _guest(code).run(start=0x1000, count=100)
    assert ex.reason == "shutdown" and ex.shutdown == "poweroff"
    assert ex.instructions == 3 and ex.address == 0x100A      # after the OUT
    assert "poweroff" in str(ex)


def test_other_sleep_types_do_not_power_off():
    value = (1 << 10) | SLP_EN
    code = (b"\x66\xba" + struct.pack("<H", PM_BASE + 4) + b"\x66\xb8" + struct.pack("<H", value)
            + b"\x66\xef")
    ex = _guest(code).run(start=0x1000, count=100)
    assert ex.reason == "hlt"


def test_pm_timer_counts_virtual_time():
    # mov dx, PM_TMR; in eax, dx; mov ebx, eax; (loop 1000 nops); in eax, dx
    code = (b"\x66\xba" + struct.pack("<H", PM_BASE + 8) + b"\xed" + b"\x89\xc3"
            + b"\xb9\x10\x27\x00\x00" + b"\xe2\xfe" + b"\xed")
    m = _guest(code)
    m.ips = 3579545                  # one PM tick per instruction
    ex = m.run(start=0x1000, count=100000)
    assert ex.reason == "hlt"
    assert 10000 <= (m.reg_read("eax") - m.reg_read("ebx")) & 0xFFFFFF <= 10010


def test_keyboard_controller_pulses_reset():
    m = _guest(b"\xb0\xfe\xe6\x64")          # mov al, 0xfe; out 0x64, al
    ex = m.run(start=0x1000, count=100)
    assert ex.reason == "shutdown" and ex.shutdown == "reset"
    m = _guest(b"\xb0\xd1\xe6\x64\xe4\x64")   # another command; the status floats high
    assert m.run(start=0x1000, count=100).reason == "hlt" and m.reg_read("al") == 0xFF
