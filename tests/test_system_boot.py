"""Booting: firmware from the reset vector, tracing, the Python PC devices."""
import os

from emu import Machine
from emu.devices import attach_pc
from emu.system import boot_bios
from helpers import pvemu_cli, CODE

IMAGES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "emu", "images", "tests")


def firmware():
    """4 KiB ROM: at F000:F000 print 'A' on COM1 and exit with status 5; the
    reset vector F000:FFF0 jumps there."""
    rom = bytearray(b"\xf4" * 0x1000)
    body = b"\xb0\x41\xba\xf8\x03\xee\xb0\x05\xe6\xf4"
    rom[0:len(body)] = body
    rom[0xFF0:0xFF5] = b"\xea\x00\xf0\x00\xf0"            # jmp far F000:F000
    return bytes(rom)


def test_firmware_starts_at_the_reset_vector_in_real_mode():
    m = boot_bios(firmware(), memory=2 << 20)
    assert (m.mode, m.reg_read("cs"), m.reg_read("ip")) == (16, 0xF000, 0xFFF0)
    ex = m.run(count=1000)
    assert ex.reason == "debug-exit" and ex.status == 5 and bytes(m.serial_output) == b"A"
    assert ex.instructions == 6
    assert m.mem_read(0xFFFF0, 5) == b"\xea\x00\xf0\x00\xf0"


def test_pvemu_run_bios_and_trace(tmp_path):
    rom = tmp_path / "rom.bin"
    rom.write_bytes(firmware())
    p = pvemu_cli("run", "--bios", rom, "--trace", "2")
    assert p.returncode == 5 and p.stdout == b"A"
    lines = p.stderr.decode().splitlines()
    assert lines[0].startswith("f000:fff0  ea 00 f0 00 f0") and lines[1].startswith("f000:f000  b0 41")
    p = pvemu_cli("run", os.path.join(IMAGES, "hello32.elf"), "--memory", "32M", "--trace", "3",
                  "--trace-range", "0x100000-0x100300")
    assert p.returncode == 0 and len(p.stderr.decode().splitlines()) == 3


def test_cmos_and_fw_cfg():
    m = Machine(mode=32, memory=32 << 20)
    attach_pc(m, 32 << 20, fw_cfg_cmdline="console=ttyS0")
    # CMOS 0x0B (status B), 0x35 (memory above 16 MiB in 64 KiB units, high byte), 0x09 (year)
    # fw_cfg: select 0 and read the 4-byte signature; select 0x14 and read the size
    code = bytes.fromhex(
        "b00b e670 e471 88c3"          # status B -> bl
        "b035 e670 e471 88c7"          # 0x35 -> bh
        "b009 e670 e471 88c1"          # year -> cl
        "66ba1005 66b80000 66ef"       # selector 0
        "6642 ed 89c6"                 # dx=0x511; in eax -> esi ("QEMU")
        "664a 66b81400 66ef 6642 ed"   # selector 0x14; eax = cmdline size
        "f4".replace(" ", ""))
    m.mem_write(CODE, code)
    ex = m.run(start=CODE, count=100)
    assert ex.reason == "hlt"
    assert m.reg_read("bl") == 0x02 and m.reg_read("bh") == ((16 << 20) >> 16) >> 8 and m.reg_read("cl") == 0x00
    assert m.reg_read("esi").to_bytes(4, "little") == b"QEMU"
    assert m.reg_read("eax") == len("console=ttyS0") + 1


def test_pvemu_run_reports_a_triple_fault(tmp_path):
    # lidt [0x100010] (limit 7: one not-present gate); ud2  -> #UD, #GP, #DF, shutdown
    code = b"\x0f\x01\x1d" + (0x100010).to_bytes(4, "little") + b"\x0f\x0b"
    image = code.ljust(16, b"\x90") + (7).to_bytes(2, "little") + (0x200000).to_bytes(4, "little")
    path = tmp_path / "tf.bin"
    path.write_bytes(image)
    p = pvemu_cli("run", "--flat", "0x100000", path, "--memory", "4M")
    assert p.returncode == 125
    assert b"triple fault at 0x100007" in p.stderr and b"0f 0b" in p.stderr


def test_page_fault_on_instruction_fetch_goes_to_the_handler():
    """Demand paging of code: a jump to a not-present page takes #PF (error
    code: fetch, not present) to the IDT's handler, which maps the page
    and returns to it (Linux runs /init's first instruction this way).
    Before the fix the run ended with reason 'exception' instead."""
    import struct
    from emu import Machine
    m = Machine(mode=32, memory=1 << 20)
    m.mem_write(0x500, struct.pack("<3Q", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF))
    m.load_table("gdt", 0x500, 23)
    gate = struct.pack("<HHBBH", 0x3000, 0x08, 0, 0x8E, 0)
    m.mem_write(0x600 + 14 * 8, gate)
    m.load_table("idt", 0x600, 0x7FF)
    m.mem_write(0x10000, struct.pack("<I", 0x11000 | 3))                 # PDE 0
    m.mem_write(0x11000, b"".join(struct.pack("<I", (p << 12) | (3 if p != 5 else 2))
                                  for p in range(0x40)))                 # page 5 not present
    m.mem_write(0x3000, bytes.fromhex(
        "0f20d0"            # mov eax, cr2
        "8b0c24"            # mov ecx, [esp]: the error code
        "830d1410010001"    # or dword [0x11014], 1: map page 5
        "83c404"            # add esp, 4
        "cf"))              # iret
    m.mem_write(0x4000, bytes.fromhex(
        "b800000100" "0f22d8"        # mov eax, 0x10000; mov cr3, eax
        "0f20c0" "0d00000080" "0f22c0"   # cr0.PG
        "e9e80f0000"))               # jmp 0x5000
    m.mem_write(0x5000, bytes.fromhex("bb34120000f4"))   # mov ebx, 0x1234; hlt
    for seg, sel in (("cs", 0x08), ("ds", 0x10), ("ss", 0x10), ("es", 0x10)):
        m.reg_write(seg, sel)
    m.reg_write("esp", 0x9000)
    ex = m.run(start=0x4000, count=100)
    assert ex.reason == "hlt", ex
    assert m.reg_read("ebx") == 0x1234
    assert m.reg_read("eax") == 0x5000             # CR2: the fetched address
    # not present, supervisor; I/D stays 0: 32-bit paging reports it only
    # with PAE and EFER.NXE, or SMEP (SDM Vol. 3A, "Page-Fault Error Code")
    assert m.reg_read("ecx") == 0
