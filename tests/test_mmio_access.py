"""Accesses to device memory (a Python MMIO handler) beyond a plain load or
store: page-crossing accesses done a page at a time, wherever each page
maps (kvm-unit-tests' emulator maps its test device's page at two linear
pages in a row), read-modify-write instructions (XCHG, CMPXCHG8B), and REP
INS into device memory, where a device access in the middle of an
instruction makes it run again with the answers logged.  Each device access
must happen once, in order."""
import struct

import pytest

from emu import Machine

PML4, PDPT, PD, PT, PT2 = 0x10000, 0x11000, 0x12000, 0x13000, 0x14000
CODE = 0x1000
DEV = 0xE0000000
WIN = 0x400000               # PT2: linear WIN and WIN + 0x1000 (below, per test)


class Device:
    """8 KiB of device memory answering like RAM, logging each access."""

    def __init__(self, m, size=0x2000):
        self.mem = bytearray(size)
        self.log = []
        m.add_mmio_handler(DEV, size, self.read, self.write)

    def read(self, addr, size):
        self.log.append(("r", addr - DEV, size))
        return int.from_bytes(self.mem[addr - DEV:addr - DEV + size], "little")

    def write(self, addr, size, value):
        self.log.append(("w", addr - DEV, size, value))
        self.mem[addr - DEV:addr - DEV + size] = value.to_bytes(size, "little")


def machine(second):
    """64-bit paging: the first 2 MiB one to one; WIN maps device page 0,
    WIN + 0x1000 maps `second` (a physical address)."""
    m = Machine(mode=64, memory=8 << 20)
    m.mem_write(PML4, struct.pack("<Q", PDPT | 3))
    m.mem_write(PDPT, struct.pack("<Q", PD | 3))
    m.mem_write(PD, struct.pack("<QQQ", PT | 3, 0x200083, PT2 | 3))
    m.mem_write(PT, struct.pack("<512Q", *((k << 12) | 3 for k in range(512))))
    m.mem_write(PT2, struct.pack("<QQ", DEV | 3, second | 3))
    m.write_cr(4, 0x20)
    m.write_cr(3, PML4)
    return m, Device(m)


def run(m, code, count=10_000):
    m.mem_write(CODE, code + b"\xf4")
    ex = m.run(start=CODE, count=count)
    assert (ex.reason, ex.address) == ("hlt", CODE + len(code)), str(ex)


MOV_RBX_END = b"\x48\xc7\xc3" + struct.pack("<I", WIN + 0xFFE)     # rbx = 2 bytes before the second page


@pytest.mark.parametrize("second, what", [(DEV, "the same device page again"),
                                          (DEV + 0x1000, "the device's next page"),
                                          (0x30000, "RAM")])
def test_page_crossing_load_and_store(second, what):
    m, dev = machine(second)
    dev.mem[0xFFE:0x1000] = b"\x11\x22"
    if second == 0x30000:
        m.mem_write(0x30000, b"\x33\x44")
    else:
        dev.mem[second - DEV:second - DEV + 2] = b"\x33\x44"
    run(m, MOV_RBX_END + b"\x8b\x03")                                   # mov eax, [rbx]
    assert m.reg_read("eax") == 0x44332211, what
    if second == DEV + 0x1000:
        assert dev.log == [("r", 0xFFE, 4)]                             # one access: the bytes run on
    else:
        assert dev.log == [("r", 0xFFE, 2)] + ([("r", 0, 2)] if second == DEV else [])
    dev.log.clear()
    run(m, MOV_RBX_END + b"\xb8\xaa\xbb\xcc\xdd\x89\x03")              # mov eax, 0xddccbbaa; mov [rbx], eax
    assert dev.mem[0xFFE:0x1000] == b"\xaa\xbb"
    tail = bytes(m.mem_read(0x30000, 2)) if second == 0x30000 else bytes(dev.mem[second - DEV:second - DEV + 2])
    assert tail == b"\xcc\xdd", what
    assert len([e for e in dev.log if e[0] == "w"]) == (1 if second != DEV else 2)


def test_xchg_and_cmpxchg8b_store_into_device_memory():
    m, dev = machine(DEV + 0x1000)
    dev.mem[0:8] = struct.pack("<Q", 0x0123456789ABCDEF)
    # mov rbx, WIN; mov rax, 0xfedcba9876543210; xchg [rbx], al
    run(m, b"\x48\xc7\xc3" + struct.pack("<I", WIN) + b"\x48\xb8" + struct.pack("<Q", 0xFEDCBA9876543210)
        + b"\x86\x03")
    assert m.reg_read("rax") == 0xFEDCBA98765432EF
    assert struct.unpack("<Q", dev.mem[0:8])[0] == 0x0123456789ABCD10
    assert dev.log == [("r", 0, 1), ("w", 0, 1, 0x10)]
    # cmpxchg8b [rbx] with edx:eax equal: ecx:ebx stored
    dev.log.clear()
    m.reg_write("rax", 0x89ABCD10)
    m.reg_write("rdx", 0x01234567)
    m.reg_write("rcx", 0x11111111)
    run(m, b"\x48\xc7\xc3" + struct.pack("<I", WIN) + b"\x0f\xc7\x0b")    # cmpxchg8b [rbx] (ebx = WIN)
    assert struct.unpack("<Q", dev.mem[0:8])[0] == 0x11111111_00000000 | WIN
    assert m.reg_read("eflags") & 0x40


def test_rep_insb_into_device_memory_across_pages():
    """kvm-unit-tests' string_io_mmio: a port's bytes stored by REP INSB
    across two linear pages of one device page, each read once."""
    m, dev = machine(DEV)
    reads = []

    def port_read(port, size):
        reads.append(port)
        return 0x40 + len(reads)

    m.add_io_handler(0x300, 1, port_read, None)
    # mov edx, 0x300; mov rdi, WIN + 0xFF0; mov ecx, 32; cld; rep insb
    run(m, b"\xba\x00\x03\x00\x00\x48\xc7\xc7" + struct.pack("<I", WIN + 0xFF0)
        + b"\xb9\x20\x00\x00\x00\xfc\xf3\x6c")
    assert len(reads) == 32
    assert dev.mem[0xFF0:0x1000] == bytes(range(0x41, 0x51))
    assert dev.mem[0:16] == bytes(range(0x51, 0x61))
    assert [e[0] for e in dev.log] == ["w"] * 32
