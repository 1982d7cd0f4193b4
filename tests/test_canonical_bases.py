"""64-bit mode: LGDT and LIDT of a non-canonical base are #GP(0), LTR and
LLDT of a 16-byte descriptor whose base is non-canonical #GP(selector),
and nothing is loaded (SDM LGDT/LIDT, LLDT, LTR; kvm-unit-tests' la57
checks the same)."""
import struct

import pytest

from emu import Machine

CODE, DATA, GDT = 0x1000, 0x3000, 0x4000


def run(m, code):
    m.mem_write(CODE, code + b"\xf4")
    return m.run(start=CODE, count=20)


@pytest.mark.parametrize("op", [b"\x0f\x01\x14\x25", b"\x0f\x01\x1c\x25"])   # lgdt / lidt [DATA]
def test_lgdt_lidt_of_a_non_canonical_base(op):
    m = Machine(mode=64, memory=1 << 20)
    for base in (0x0000800000000000, 0xFFAAAAAAAAAAAAAA):    # faults (before a table is loaded)
        m.mem_write(DATA, struct.pack("<HQ", 0x7F, base))
        ex = run(m, op + struct.pack("<I", DATA))
        assert (ex.reason, ex.vector, ex.error_code) == ("exception", 13, 0), str(ex)
    for base in (0x00007FFFFFFFF000, 0xFFFF800000000000):
        m.mem_write(DATA, struct.pack("<HQ", 0x7F, base))
        assert run(m, op + struct.pack("<I", DATA)).reason == "hlt"


def tss_descriptor(base, limit=0x67, kind=0x89):
    lo = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | kind << 40 | (limit >> 16 & 0xF) << 48 \
        | (base >> 24 & 0xFF) << 56
    return struct.pack("<QQ", lo, base >> 32)


@pytest.mark.parametrize("ltr", [True, False])
def test_ltr_lldt_of_a_non_canonical_base(ltr):
    m = Machine(mode=64, memory=1 << 20)
    kind = 0x89 if ltr else 0x82                             # an available 64-bit TSS / an LDT
    m.mem_write(GDT, bytes(16) + tss_descriptor(0x0000800000005000, kind=kind)
                + tss_descriptor(0xFFFF800000005000, kind=kind))
    m.load_table("gdt", GDT, 47)
    op = b"\x0f\x00\xd8" if ltr else b"\x0f\x00\xd0"         # ltr ax / lldt ax
    ex = run(m, b"\x66\xb8\x10\x00" + op)                     # selector 0x10: non-canonical
    assert (ex.reason, ex.vector, ex.error_code) == ("exception", 13, 0x10), str(ex)
    ex = run(m, b"\x66\xb8\x20\x00" + op)                     # selector 0x20: canonical
    assert ex.reason == "hlt", str(ex)
