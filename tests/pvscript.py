"""Tiny guests for the supervisor tests, assembled here: a script of
hypercalls made through the hypercall page, each result stored at
RESULTS + 8 * k for the test to read back.  Plain ELF images, so they start
in flat 32-bit or 64-bit mode at CODE (linear = physical, no paging)."""
from __future__ import annotations

import struct

from paravirt import abi
from test_loader import elf, seg

CODE = 0x100000
STACK = 0x170000
RESULTS = 0x180000
DATA = 0x190000          # the test's data blobs go from here
HC_PAGE = 0x200000
SHARED_INFO = 0x201000

# ABI argument registers (register numbers) by width
ARGS32 = (3, 1, 2, 6, 7)            # EBX ECX EDX ESI EDI
ARGS64 = (7, 6, 2, 10, 8)           # RDI RSI RDX R10 R8


class Script:
    def __init__(self, bits: int):
        self.bits = bits
        self.code = bytearray()
        self.results = 0
        self.data: dict[int, bytes] = {}
        self.mov(4, STACK)                               # rSP
        self.wrmsr(abi.MSR_HYPERCALL_PAGE, HC_PAGE)

    def mov(self, reg: int, value: int) -> None:
        if self.bits == 64:
            self.code += bytes([0x48 | (reg >> 3), 0xB8 + (reg & 7)]) + struct.pack("<Q", value & (2**64 - 1))
        else:
            self.code += bytes([0xB8 + reg]) + struct.pack("<I", value & 0xFFFFFFFF)

    def wrmsr(self, msr: int, value: int) -> None:
        self.mov(1, msr)
        self.mov(0, value & 0xFFFFFFFF)
        self.mov(2, value >> 32)
        self.code += b"\x0f\x30"

    def call(self, target: int) -> None:
        nxt = CODE + len(self.code) + 5
        self.code += b"\xe8" + struct.pack("<i", target - nxt)

    def store_rax(self) -> int:
        addr = RESULTS + 8 * self.results
        self.code += (b"\x48\x89\x04\x25" + struct.pack("<I", addr)) if self.bits == 64 \
            else (b"\xa3" + struct.pack("<I", addr))
        self.results += 1
        return self.results - 1

    def hypercall(self, nr: int, *args) -> int:
        """Make hypercall nr; returns the index of its result."""
        for reg, value in zip(ARGS64 if self.bits == 64 else ARGS32, args):
            self.mov(reg, value)
        self.call(HC_PAGE + nr * 32)
        return self.store_rax()

    def raw(self, code: bytes) -> None:
        self.code += code

    def put(self, address: int, blob: bytes) -> int:
        self.data[address] = bytes(blob)
        return address

    def image(self, end: str = "shutdown") -> bytes:
        """end: 'shutdown' (sched_op shutdown, status 0) or 'hlt'."""
        if end == "shutdown":
            arg = self.put(DATA + 0xFF00, struct.pack("<II", abi.SHUTDOWN_poweroff, 0))
            self.hypercall(abi.HC_sched_op, abi.SCHEDOP_shutdown, arg)
        self.code += b"\xfa\xf4"                           # cli; hlt
        segs = [seg(CODE, bytes(self.code))] + [seg(a, d) for a, d in sorted(self.data.items())]
        return elf(segs, CODE, bits=self.bits, data_offset=0x1000)


def results(dom, n: int) -> list:
    """The first n stored results, as signed values of the guest's width."""
    raw = dom.machine.mem_read(RESULTS, 8 * n)
    vals = struct.unpack(f"<{n}Q", raw)
    if dom.machine.mode == 64:
        return [v - (1 << 64) if v >> 63 else v for v in vals]
    return [(v & 0xFFFFFFFF) - (1 << 32) if v & 0x80000000 else v & 0xFFFFFFFF for v in vals]
