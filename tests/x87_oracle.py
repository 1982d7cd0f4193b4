"""Differential runs of x87 code: the same bytes on the host CPU's own FPU
(tests/x87_host.c, compiled on first use) and in pvemu.

A case is code plus a 256-byte data block whose address is in rdi:
  [0:2]    the control word FLDCW loads
  [8:16]   RFLAGS after the operation (PUSHFQ)
  [16:26]  b, pushed first (ST(1) when both are pushed)
  [32:42]  a, pushed second (ST(0))
  [48:64]  a memory source operand
  [64:80]  a memory destination
  [128:236] FNSAVE's image after the operation (it does not wait, so an
            unmasked exception stays pending and harmless)
"""
import os
import platform
import shutil
import struct
import subprocess
import tempfile

from emu import Machine

HERE = os.path.dirname(os.path.abspath(__file__))
CODE, DATA, STACK = 0x1000, 0x8000, 0xF000
SRC, DST, SAVE = 0x30, 0x40, 0x80

FNINIT = b"\xdb\xe3"
FLDCW = b"\xd9\x2f"                      # fldcw [rdi]
LOAD_B = b"\xdb\x6f\x10"                 # fld tbyte [rdi+16]
LOAD_A = b"\xdb\x6f\x20"                 # fld tbyte [rdi+32]
EPILOGUE = b"\xdd\xb7" + struct.pack("<I", SAVE) + b"\x9c\x58\x48\x89\x47\x08"  # fnsave; pushfq; pop rax; mov [rdi+8], rax


def mem(opcode: int, reg: int, disp: int = SRC) -> bytes:
    """An x87 instruction with the memory operand [rdi+disp]."""
    return bytes([opcode, 0x47 | (reg << 3), disp])


def program(op: bytes, pushes: int = 2, prologue: bytes = b"") -> bytes:
    """FNINIT, FLDCW, push b then a (pushes of them), op, FNSAVE, PUSHFQ."""
    loads = (LOAD_B + LOAD_A)[3 * (2 - pushes):] if pushes <= 2 else LOAD_B * (pushes - 1) + LOAD_A
    return FNINIT + FLDCW + prologue + loads + op + EPILOGUE


def f80(v: int) -> bytes:
    return v.to_bytes(10, "little")


def data_block(fcw: int, a: int = 0, b: int = 0, src: bytes = b"") -> bytes:
    d = bytearray(256)
    d[0:2] = fcw.to_bytes(2, "little")
    d[16:26] = f80(b)
    d[32:42] = f80(a)
    d[SRC:SRC + len(src)] = src
    return bytes(d)


def host_available():
    return (platform.machine() in ("x86_64", "AMD64") and platform.system() == "Linux"
            and shutil.which("gcc") is not None)


class Host:
    """The host oracle process."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="x87host")
        exe = os.path.join(self.dir, "x87host")
        subprocess.run(["gcc", "-O1", "-o", exe, os.path.join(HERE, "x87_host.c")], check=True)
        self.exe = exe

    def run(self, cases):
        """cases: [(code, data)] -> [data after]."""
        blob = b"".join(struct.pack("<I", len(c)) + c + d for c, d in cases)
        out = subprocess.run([self.exe], input=blob, capture_output=True, check=True).stdout
        assert len(out) == 256 * len(cases), "the host oracle died mid-way"
        return [out[k * 256:(k + 1) * 256] for k in range(len(cases))]

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Emu:
    """pvemu on the same cases (one 64-bit flat machine, reused)."""

    def __init__(self):
        self.m = Machine(mode=64, memory=1 << 20)

    def run(self, cases):
        out = []
        m = self.m
        for code, data in cases:
            m.mem_write(CODE, code + b"\xf4")
            m.mem_write(DATA, data)
            m.reg_write("rdi", DATA)
            m.reg_write("rsp", STACK)
            ex = m.run(start=CODE, count=200)
            assert ex.reason == "hlt", f"{code.hex()}: {ex}"
            out.append(m.mem_read(DATA, 256))
        return out


def outcome(d: bytes, flags: bool = False):
    """What must agree: FCW, FSW, full tag word (with the reserved halves),
    the eight registers, the memory operands, and for FCOMI the six
    arithmetic flags."""
    img = d[SAVE:SAVE + 108]
    top = (img[5] >> 3) & 7
    tags = int.from_bytes(img[8:10], "little")
    empty = [(tags >> (2 * ((top + k) & 7))) & 3 == 3 for k in range(8)]
    # Empty registers keep whatever an earlier case left: not compared.
    r = {"fcw": img[0:4].hex(), "fsw": img[4:8].hex(), "ftw": img[8:12].hex(),
         "regs": [None if empty[k] else img[28 + 10 * k:38 + 10 * k].hex() for k in range(8)],
         "mem": d[SRC:SAVE].hex()}
    if flags:
        r["eflags"] = hex(int.from_bytes(d[8:16], "little") & 0x8D5)
    return r


def differences(host, emu, cases):
    """(case, {field: (host's, emu's)}) of the (name, code, data) cases whose
    outcomes differ between the two runners."""
    out = []
    for case, x, y in zip(cases, host.run([c[1:] for c in cases]), emu.run([c[1:] for c in cases])):
        ox, oy = outcome(x), outcome(y)
        if ox != oy:
            out.append((case, {k: (ox[k], oy[k]) for k in ox if ox[k] != oy[k]}))
    return out
