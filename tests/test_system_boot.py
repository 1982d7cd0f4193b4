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
