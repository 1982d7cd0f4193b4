"""The fast paths of the x87 and of the SSE4.2 string compares against the
host CPU.

x87 (emu/x87.pxi, emu/softfloat.pxi): an m32fp/m64fp operand of FLD and of
FADD..FDIVR whose page is in the TLB and whose value is normal is converted
inline; arithmetic on two normals skips the special-operand checks;
rounding works on 64-bit halves; FSQRT's integer root takes Newton steps
from the host's estimate.  The cases draw normals with exponents at
both ends of the binary32/binary64 range (and beyond, for ST(0), so that
FST rounds to overflow, to denormals and to the smallest normal), all ones
and all zeros fractions, sometimes a special value, under every rounding
mode, precision and mask setting of the control word.

PCMPxSTRx (emu/simd_int.pxi): byte elements go word-parallel.  The cases
are strings over small alphabets with needles that start near a chunk's
end (equal ordered), ranges with reversed and empty pairs, and every
explicit length from -17 to 17.
"""
import random
import struct

import pytest

from x87_oracle import Host, Emu, host_available, program, data_block, mem, differences, DST
from test_simd_int import STRING_OPS, string_case, check_cases, needs_cpu, oracle  # noqa: F401

J = 1 << 63
FCWS = [0x37F, 0x77F, 0xB7F, 0xF7F, 0x07F, 0x27F, 0x340, 0xF40, 0x0B7E, 0x037B, 0x0377, 0x036F,
        0x035F, 0x033F, 0x0740, 0x0360, 0x0F60]
ARITH_M = (0, 1, 4, 5, 6, 7)           # FADD FMUL FSUB FSUBR FDIV FDIVR

needs_host = pytest.mark.skipif(not host_available(), reason="needs an x86-64 Linux host with gcc")


def _normal(rng, mbits, ebits):
    """A binary32/64 normal, exponents often at the ends, or a special."""
    emax = (1 << ebits) - 2
    if rng.random() < 0.1:
        e = rng.choice((0, emax + 1))   # zero, denormal, infinity, NaN
    else:
        e = rng.choice((rng.randint(1, 30), rng.randint(emax - 30, emax),
                        rng.randint(emax // 2 - 4, emax // 2 + 4), rng.randint(1, emax)))
    frac = rng.choice((0, 1, (1 << mbits) - 1, rng.getrandbits(mbits)))
    return (rng.getrandbits(1) << (mbits + ebits)) | (e << mbits) | frac


def _st0(rng):
    """ST(0): extended normals over the binary64 range and past it."""
    if rng.random() < 0.05:
        return rng.choice((0, (0x7FFF << 64) | J, (0x7FFF << 64) | J | (1 << 62), 5))
    e = rng.choice((rng.randint(0x3FFF - 1100, 0x3FFF - 1000), rng.randint(0x3FFF - 140, 0x3FFF - 110),
                    rng.randint(0x3FFF + 110, 0x3FFF + 140), rng.randint(0x3FFF + 1000, 0x3FFF + 1100),
                    rng.randint(0x3FF0, 0x4010)))
    sig = J | rng.choice((0, (1 << 63) - 1, rng.getrandbits(63), (1 << 63) - (1 << 10), 0x7FF << 52))
    return (rng.getrandbits(1) << 79) | (e << 64) | sig


def binary_source(rng):
    """(wide, bytes): an m64fp (wide) or m32fp operand, as _normal draws."""
    wide = rng.random() < 0.5
    return wide, struct.pack("<Q", _normal(rng, 52, 11)) if wide else struct.pack("<I", _normal(rng, 23, 8))


def x87_cases(rng, count):
    cases = []
    for _ in range(count):
        fcw = rng.choice(FCWS)
        wide, src = binary_source(rng)
        kind = rng.randrange(4)
        if kind == 0:                   # FLD m32fp/m64fp
            op, pushes = mem(0xDD if wide else 0xD9, 0), rng.choice((1, 2))
        elif kind == 1:                 # FADD..FDIVR m32fp/m64fp
            op, pushes = mem(0xDC if wide else 0xD8, rng.choice(ARITH_M)), 2
        elif kind == 2:                 # FST/FSTP m32fp/m64fp
            op, pushes = mem(0xDD if wide else 0xD9, rng.choice((2, 3)), DST), 2
        elif rng.random() < 0.25:       # FSQRT (the root by Newton steps)
            op, pushes = b"\xd9\xfa", 2
        else:                           # FADD..FDIVR ST(0), ST(1) and the popping forms
            op, pushes = bytes([rng.choice((0xD8, 0xDC, 0xDE)), 0xC1 | (rng.choice(ARITH_M) << 3)]), 2
        cases.append(("%s fcw %04x" % (op.hex(), fcw), program(op, pushes),
                      data_block(fcw, _st0(rng) if kind != 3 or rng.random() < 0.5 else _normal80(rng),
                                 _normal80(rng), src)))
    return cases


def _normal80(rng):
    """An operand of the register forms: an exact double as an extended real
    (what the compiled programs load), or any extended normal."""
    v = _normal(rng, 52, 11)
    e = (v >> 52) & 0x7FF
    if rng.random() < 0.5 and 0 < e < 0x7FF:
        return ((v >> 63) << 79) | ((e - 1023 + 0x3FFF) << 64) | J | ((v & ((1 << 52) - 1)) << 11)
    return _st0(rng)


@pytest.fixture(scope="module")
def x87():
    h = Host()
    yield h, Emu()
    h.close()


@needs_host
@pytest.mark.parametrize("seed", range(3))
def test_x87_memory_operands_and_arithmetic_on_normals(x87, seed):
    host, emu = x87
    cases = x87_cases(random.Random(9100 + seed), 1500)
    bad = [(name, data[32:42].hex(), data[16:26].hex(), data[0x30:0x38].hex(), d)
           for (name, code, data), d in differences(host, emu, cases)]
    assert not bad, "%d of %d differ, first: %r" % (len(bad), len(cases), bad[:3])


def _chunk(rng, alphabet, nul):
    out = bytearray(rng.choice(alphabet) for _ in range(16))
    if nul and rng.random() < 0.6:
        out[rng.randrange(16)] = 0
    return bytes(out)


@needs_cpu
def test_string_compare_byte_modes(oracle):  # noqa: F811
    """The four aggregations on unsigned and signed bytes, with both
    polarities and masks; needles that run off the chunk's end."""
    rng = random.Random(9100)
    items = []
    for n in range(1200):
        name = rng.choice(sorted(STRING_OPS))
        imm = rng.choice((0, 2)) | (rng.randrange(4) << 2) | (rng.randrange(4) << 4) | (rng.randrange(2) << 6)
        alphabet = rng.choice((b"ab", b"abc", b"\x01\x7f\x80\xff", b"az09AZ", bytes(range(0x40, 0x44))))
        b = _chunk(rng, alphabet, True)
        if (imm >> 2) & 3 == 3 and rng.random() < 0.7:
            start = rng.randrange(10, 16)   # a needle from b's tail on
            a = (b[start:] + _chunk(rng, alphabet, False))[:16]
        elif (imm >> 2) & 3 == 1:
            a = bytes(rng.choice(alphabet + b"\x00\xfe") for _ in range(16))
        else:
            a = _chunk(rng, alphabet, True)
        mode = rng.choice((32, 64))
        items.append(string_case(mode, STRING_OPS[name], imm, a, b, rng.randrange(-17, 18),
                                 rng.randrange(-17, 18), rng.randrange(2),
                                 rexw=mode == 64 and rng.randrange(4) == 0))
    bad = check_cases(oracle, items)
    assert not bad, f"{len(bad)} of {len(items)} cases differ:\n" + "\n".join(bad[:5])
