"""The x87 FPU.

Differential tests run the same x87 code on the host CPU's own FPU and in
pvemu (tests/x87_oracle.py) and compare the control, status and tag words,
the eight registers, the memory operands and (FCOMI) the flags: bit for bit
for the arithmetic, square root, conversions, comparisons and the other
exact instructions, in every rounding mode and precision, masked and
unmasked, on normals, denormals, pseudo-denormals, zeros, infinities, NaNs
and unsupported encodings.  The transcendentals are compared within one
unit in the last place.  Unit tests cover the SDM corners the oracle cannot
reach from user mode: #NM, #MF and IRQ 13, WAIT, FSAVE/FSTENV layouts in
16- and 32-bit, real and protected mode, power-up and FNINIT state.
"""
import random
import struct

import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from emu import Machine
from helpers import run_code, CODE, DATA
from x87_oracle import Host, Emu, host_available, program, data_block, mem, outcome, DST

J = 1 << 63


def F(sign, exp, sig):
    return (sign << 79) | (exp << 64) | sig


ONE, TWO, THREE = F(0, 0x3FFF, J), F(0, 0x4000, J), F(0, 0x4000, 0xC000000000000000)
SPECIAL = []
for _s in (0, 1):
    SPECIAL += [F(_s, 0, 0), F(_s, 0x3FFF, J), F(_s, 0x4000, 0xC000000000000000),
                F(_s, 0x7FFE, (1 << 64) - 1), F(_s, 1, J),                   # largest, smallest normal
                F(_s, 0, 1), F(_s, 0, 0x4000000000000000), F(_s, 1, (1 << 64) - 1),
                F(_s, 0, J | 5),                                               # pseudo-denormal
                F(_s, 0x7FFF, J), F(_s, 0x7FFF, 0xC000000000000001),           # inf, QNaN
                F(_s, 0x7FFF, J | 1), F(_s, 0x7FFF, J | 0x2000000000000000),   # SNaNs
                F(_s, 0x4000, 0x4000000000000000), F(_s, 0x7FFF, 0), F(_s, 0x7FFF, 1),  # unnormal, pseudo-inf/NaN
                F(_s, 0x3FFE, J), F(_s, 0x4000, 0xA000000000000000),
                F(_s, 0x3FFF + 62, J | 0x123456789), F(_s, 0x3FFF + 63, J), F(_s, 0x3FFF + 64, J),
                F(_s, 0x3FFF + 15, 0xFFFF000000000000), F(_s, 0x3FFF + 31, 0xFFFFFFFF80000000),
                F(_s, 0x3FFF, J | 0x400), F(_s, 0x3FFF, J | 0xFFFFFFFFFF), F(_s, 0x3FFF, J | 0x8000000000),
                F(_s, 0x3FFF + 59, 0xDE0B6B3A763FFFF0), F(_s, 0x3FFF - 20, J | 0x777),
                F(_s, 0, 0x12345678), F(_s, 0x7FFE - 20, J | 0xFFF)]
SPECIAL.append(F(1, 0x7FFF, 0xC000000000000000))                              # the indefinite
_rng = random.Random(87)
for _ in range(24):
    SPECIAL.append(F(_rng.randrange(2), _rng.choice([_rng.randrange(0x3FF0, 0x4010), _rng.randrange(1, 0x7FFF)]),
                     _rng.getrandbits(64) | J))

# FCW: the four rounding modes, the three precisions (and the reserved one),
# all masked, all unmasked, and mixes.
FCWS = [0x37F, 0x77F, 0xB7F, 0xF7F, 0x07F, 0x27F, 0x17F, 0x47F, 0xA7F, 0x340, 0xF40, 0x0B7E, 0x037B,
        0x0377, 0x036F, 0x035F, 0x033F, 0x0740]

BINARY = {"fadd": b"\xd8\xc1", "fmul": b"\xd8\xc9", "fcom": b"\xd8\xd1", "fcomp": b"\xd8\xd9",
          "fsub": b"\xd8\xe1", "fsubr": b"\xd8\xe9", "fdiv": b"\xd8\xf1", "fdivr": b"\xd8\xf9",
          "faddp": b"\xde\xc1", "fmulp": b"\xde\xc9", "fsubp": b"\xde\xe9", "fsubrp": b"\xde\xe1",
          "fdivp": b"\xde\xf9", "fdivrp": b"\xde\xf1", "fcompp": b"\xde\xd9",
          "fsub_sti": b"\xdc\xe9", "fdivr_sti": b"\xdc\xf1",
          "fucom": b"\xdd\xe1", "fucomp": b"\xdd\xe9", "fucompp": b"\xda\xe9",
          "fcomi": b"\xdb\xf1", "fucomi": b"\xdb\xe9", "fcomip": b"\xdf\xf1", "fucomip": b"\xdf\xe9",
          "fprem": b"\xd9\xf8", "fprem1": b"\xd9\xf5", "fscale": b"\xd9\xfd", "fxch": b"\xd9\xc9",
          # FCMOVcc after a CMP that decides the condition (1 - 2: CF; 2 - 1: NBE)
          "fcmovb": b"\xb0\x01\x3c\x02\xda\xc1", "fcmovnbe": b"\xb0\x02\x3c\x01\xdb\xd1",
          "fcmove": b"\xb0\x02\x3c\x01\xda\xc9"}
UNARY = {"fsqrt": b"\xd9\xfa", "frndint": b"\xd9\xfc", "fabs": b"\xd9\xe1", "fchs": b"\xd9\xe0",
         "ftst": b"\xd9\xe4", "fxam": b"\xd9\xe5", "fxtract": b"\xd9\xf4", "fld_st0": b"\xd9\xc0",
         "fst_st1": b"\xdd\xd1", "fstp_st0": b"\xdd\xd8",
         "fst_m32": mem(0xD9, 2, DST), "fst_m64": mem(0xDD, 2, DST), "fstp_m80": mem(0xDB, 7, DST),
         "fist_m16": mem(0xDF, 2, DST), "fist_m32": mem(0xDB, 2, DST), "fistp_m64": mem(0xDF, 7, DST),
         "fisttp_m16": mem(0xDF, 1, DST), "fisttp_m32": mem(0xDB, 1, DST), "fisttp_m64": mem(0xDD, 1, DST),
         "fbstp": mem(0xDF, 6, DST)}
# Memory sources: (opcode, /reg, bit patterns of the operand)
F32 = [0, 0x80000000, 0x3F800000, 0x00000001, 0x807FFFFF, 0x7F800000, 0xFF800000, 0x7FC00001, 0x7F800001,
       0xFFBFFFFF, 0x7F7FFFFF, 0x00800000, 0x40490FDB]
F64 = [0, 0x8000000000000000, 0x3FF0000000000000, 1, 0x800FFFFFFFFFFFFF, 0x7FF0000000000000,
       0x7FF8000000000001, 0x7FF0000000000001, 0xFFF7FFFFFFFFFFFF, 0x7FEFFFFFFFFFFFFF, 0x400921FB54442D18]
INTS = [0, 1, -1, 0x7FFF, -0x8000, 0x7FFFFFFF, -0x80000000, 123456789]
BCD = [bytes(10), bytes.fromhex("99999999999999999999")[:9] + b"\x80", bytes.fromhex("12345678900000000000"),
       bytes.fromhex("0a0b0c0d0e0f00000000")]


def _mem_sources():
    out = []
    for v in F32:
        out += [(mem(0xD9, 0), struct.pack("<I", v))] + [(mem(0xD8, r), struct.pack("<I", v)) for r in range(8)]
    for v in F64:
        out += [(mem(0xDD, 0), struct.pack("<Q", v))] + [(mem(0xDC, r), struct.pack("<Q", v)) for r in range(8)]
    for v in INTS:
        wide = ((v << 32) + (v & 0xFFFFFFFF)) % (1 << 64)
        out += [(mem(0xDB, 0), struct.pack("<i", v)), (mem(0xDF, 5), struct.pack("<Q", wide))]
        out += [(mem(0xDA, r), struct.pack("<i", v)) for r in range(8)]
        out += [(mem(0xDE, r), struct.pack("<h", (v + 0x8000) % 0x10000 - 0x8000)) for r in range(8)]
    for b in BCD:
        out.append((mem(0xDF, 4), b))
    return out


needs_host = pytest.mark.skipif(not host_available(), reason="needs an x86-64 Linux host with gcc")


@pytest.fixture(scope="module")
def oracle():
    h = Host()
    yield h, Emu()
    h.close()


def _diff(oracle, cases, flags=False, tolerate=None):
    """Run cases on both; return the first few disagreements."""
    host, emu = oracle
    bad = []
    for (name, code, data), x, y in zip(cases, host.run([c[1:] for c in cases]), emu.run([c[1:] for c in cases])):
        fl = flags or name.startswith(("fcomi", "fucomi"))
        ox, oy = outcome(x, fl), outcome(y, fl)
        if ox != oy and not (tolerate and tolerate(ox, oy)):
            bad.append((name, data[:2].hex(), data[32:42].hex(), data[16:26].hex(),
                        {k: (ox[k], oy[k]) for k in ox if ox[k] != oy[k]}))
    for b in bad[:5]:
        print(*b)
    return bad[:5]


@needs_host
def test_binary_operations_all_special_operands(oracle):
    """Every pair of special operands in round-to-nearest, extended."""
    cases = [(n, program(op), data_block(0x37F, a, b)) for n, op in BINARY.items()
             for a in SPECIAL for b in SPECIAL]
    assert _diff(oracle, cases) == []


@needs_host
def test_binary_operations_every_control_word(oracle):
    """A sample of operand pairs under each rounding/precision/mask setting."""
    rng = random.Random(1)
    cases = [(n, program(op), data_block(fcw, rng.choice(SPECIAL), rng.choice(SPECIAL)))
             for n, op in BINARY.items() for fcw in FCWS for _ in range(60)]
    assert _diff(oracle, cases) == []


@needs_host
def test_unary_operations_and_stores(oracle):
    cases = [(n, program(op, 1), data_block(fcw, a)) for n, op in UNARY.items()
             for fcw in FCWS for a in SPECIAL]
    assert _diff(oracle, cases) == []


@needs_host
def test_memory_sources(oracle):
    """FLD/FILD/FBLD and the arithmetic with m32fp/m64fp/m16int/m32int."""
    rng = random.Random(2)
    cases = [("mem " + op.hex(), program(op, 1), data_block(fcw, rng.choice(SPECIAL), 0, src))
             for op, src in _mem_sources() for fcw in (0x37F, 0x340, rng.choice(FCWS))]
    assert _diff(oracle, cases) == []


@needs_host
def test_tininess_after_rounding(oracle):
    """Products, quotients and stores within a few ulps of the smallest
    normal (extended, double, single) under every precision and rounding
    control, UE masked or not: the x87 detects tininess after rounding with
    an unbounded exponent, taking precision control into account (SDM
    Vol. 1 4.9.1.5), as pvemu does."""
    rng = random.Random(16382)
    cases = []
    for _ in range(300):
        fcw = 0x1040 | rng.getrandbits(2) << 10 | rng.choice((0, 2, 3)) << 8 | (0x3F & ~(rng.getrandbits(1) << 4))
        z = J | rng.getrandbits(63)
        q = (1 << 126) // z + rng.randint(-3, 3)            # z * q * 2^-16445 is near 2^-16382
        cases.append(("fmul", program(BINARY["fmul"]), data_block(fcw, F(0, 0x3FFF, z), F(0, 0, q))))
        cases.append(("fdiv", program(BINARY["fdiv"]),
                      data_block(fcw, F(0, 1, z + rng.randint(-3, 3)), F(0, 0x3FFF, z))))
        e, name = rng.choice(((-1022, "fst_m64"), (-126, "fst_m32")))
        below = (1 << 64) - rng.randint(1, 1 << (13 if e == -1022 else 42))
        cases.append((name, program(UNARY[name], 1), data_block(fcw, F(rng.getrandbits(1), 0x3FFE + e, below))))
    assert _diff(oracle, cases) == []


@needs_host
def test_constants_in_every_rounding_mode(oracle):
    cases = [("const", program(bytes([0xD9, 0xE8 + k]), 0), data_block(fcw))
             for k in range(7) for fcw in (0x37F, 0x77F, 0xB7F, 0xF7F, 0x07F)]
    assert _diff(oracle, cases) == []


@needs_host
def test_stack_faults(oracle):
    """Underflow (empty operands) and overflow (a ninth push), masked and
    unmasked."""
    cases = []
    for fcw in (0x37F, 0x37E):
        for n, op in list(BINARY.items()) + list(UNARY.items()):
            cases.append((n, program(op, 0), data_block(fcw)))
        for k in range(7):
            cases.append(("push", program(bytes([0xD9, 0xE8 + k]), 8), data_block(fcw, ONE, TWO)))
        cases.append(("fld", program(b"\xd9\xc3", 8), data_block(fcw, ONE, TWO)))
        cases.append(("fsincos", program(b"\xd9\xfb", 8), data_block(fcw, ONE, TWO)))
        cases.append(("fxtract", program(b"\xd9\xf4", 8), data_block(fcw, ONE, TWO)))
        cases.append(("ffree+fxch", program(b"\xdd\xc1\xd9\xc9", 2), data_block(fcw, ONE, TWO)))
        cases.append(("fincstp", program(b"\xd9\xf7\xd9\xf7\xd9\xf6", 2), data_block(fcw, ONE, TWO)))
        cases.append(("ffreep", program(b"\xdf\xc0", 2), data_block(fcw, ONE, TWO)))
    assert _diff(oracle, cases) == []


@needs_host
def test_fprem_loop_reduces_completely(oracle):
    """FPREM and FPREM1 with huge exponent differences: partial remainders
    (C2 = 1) repeated until complete, then the quotient bits."""
    rem = b"\xd9\xf8\xdf\xe0\x9e\x7a\xf9"        # fprem; fnstsw ax; sahf; jp back
    rem1 = b"\xd9\xf5\xdf\xe0\x9e\x7a\xf9"
    cases = []
    for a in (F(0, 0x3FFF + 1000, J | 12345), F(1, 0x3FFF + 200, 0xFFFFFFFFFFFFFFFF), F(0, 0x3FFF + 64, J)):
        for b in (F(0, 0x4000, 0xC90FDAA22168C235), THREE, F(1, 0x3FFF - 3, J | 77)):
            cases += [("fprem loop", program(rem), data_block(0x37F, a, b)),
                      ("fprem1 loop", program(rem1), data_block(0x37F, a, b)),
                      ("fprem once", program(b"\xd9\xf8"), data_block(0x37F, a, b))]
    assert _diff(oracle, cases) == []


@needs_host
def test_environment_image(oracle):
    """FNSTENV/FNSAVE in 32-bit protected layout (the host's 64-bit mode),
    compared but for the instruction and data pointers, which hold host
    addresses; FLDENV/FRSTOR round trips."""
    env = mem(0xD9, 6, DST)
    cases = [("fnstenv", program(b"\xd8\xf1" + env, 2), data_block(fcw, ONE, F(0, 0, 0)))
             for fcw in (0x37F, 0x37B)]
    cases.append(("frstor", program(b"\xdd\x67\x40\xdd\x77\x40\xdd\x67\x40", 2), data_block(0x37F, ONE, THREE)))
    cases.append(("fldenv", program(b"\xd9\x77\x40\xd9\x67\x40\xd9\xf7", 2), data_block(0x27F, ONE, THREE)))
    host, emu = oracle
    for (name, code, data), x, y in zip(cases, host.run([c[1:] for c in cases]), emu.run([c[1:] for c in cases])):
        ox, oy = outcome(x), outcome(y)
        for o in (ox, oy):            # FIP (12:16), FDP (20:24), FCS (16:18): host addresses
            m = bytearray.fromhex(o["mem"])
            for k in list(range(0x10 + 12, 0x10 + 18)) + list(range(0x10 + 20, 0x10 + 24)):
                m[k] = 0
            o["mem"] = m.hex()
        assert ox == oy, (name, ox, oy)


def _ordinal(v: int) -> int:
    """Finite extended reals in value order, one step per ulp."""
    e, sig = (v >> 64) & 0x7FFF, v & ((1 << 64) - 1)
    return sig + max(e - 1, 0) * (1 << 63)


def _ulps(a: str, b: str) -> int:
    x, y = int.from_bytes(bytes.fromhex(a), "little"), int.from_bytes(bytes.fromhex(b), "little")
    return abs(_ordinal(x) - _ordinal(y)) if (x >> 79) == (y >> 79) else 1 << 80


def _ulps_or_empty(a, b):
    return 0 if a == b else (1 << 80 if a is None or b is None else _ulps(a, b))


def _within_one_ulp(ox, oy):
    """Transcendentals: registers within 1 ulp, flags equal but C1 (the
    rounding direction, which follows the value)."""
    if any(_ulps_or_empty(a, b) > 1 for a, b in zip(ox["regs"], oy["regs"])):
        return False
    strip = lambda o: (int(o["fsw"][:4], 16) & ~0x0002, o["fcw"], o["ftw"], o["mem"])  # C1: bit 9 -> byte 1 bit 1
    return strip(ox) == strip(oy)


TRANSCENDENTAL = {"fsin": b"\xd9\xfe", "fcos": b"\xd9\xff", "fsincos": b"\xd9\xfb", "fptan": b"\xd9\xf2",
                  "fpatan": b"\xd9\xf3", "fyl2x": b"\xd9\xf1", "f2xm1": b"\xd9\xf0", "fyl2xp1": b"\xd9\xf9"}


def _in_domain(name, a):
    """Arguments inside the documented domains (F2XM1: |x| <= 1; FYL2XP1:
    |x| < 1 - sqrt(2)/2); outside them Intel leaves results undefined."""
    e, sig = (a >> 64) & 0x7FFF, a & ((1 << 64) - 1)
    if name == "f2xm1":
        return e < 0x3FFF or (e == 0x3FFF and sig == J) or e == 0x7FFF
    if name == "fyl2xp1":
        return e < 0x3FFD or e == 0x7FFF and sig != J
    return True


@needs_host
def test_transcendentals_within_one_ulp(oracle):
    rng = random.Random(3)
    cases = []
    for name, op in TRANSCENDENTAL.items():
        pushes = 2 if name in ("fpatan", "fyl2x", "fyl2xp1") else 1
        for fcw in (0x37F, 0x77F, 0xB7F, 0xF7F):
            for a in SPECIAL:
                if _in_domain(name, a):
                    cases.append((name, program(op, pushes), data_block(fcw, a, rng.choice(SPECIAL))))
            for _ in range(40):
                e = rng.randrange(0x3FF0, 0x4004) if name not in ("f2xm1", "fyl2xp1") else rng.randrange(0x3FE0, 0x3FFD)
                a = F(rng.randrange(2), e, rng.getrandbits(64) | J)
                cases.append((name, program(op, pushes), data_block(fcw, a, F(0, rng.randrange(0x3FF0, 0x4010), rng.getrandbits(64) | J))))
    assert _diff(oracle, cases, tolerate=_within_one_ulp) == []


_f80 = st.builds(F, st.integers(0, 1), st.one_of(st.integers(0, 0x7FFF), st.integers(0x3FC0, 0x4040),
                                                 st.sampled_from([0, 1, 0x7FFE, 0x7FFF])),
                 st.one_of(st.integers(0, (1 << 64) - 1), st.integers(J, (1 << 64) - 1)))


@needs_host
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(sorted(BINARY) + sorted(UNARY)), st.sampled_from(FCWS + [0x37F] * 4),
                          _f80, _f80), min_size=100, max_size=100))
def test_random_operands(oracle, batch):
    cases = [(n, program(BINARY.get(n) or UNARY[n], 2 if n in BINARY else 1), data_block(fcw, a, b))
             for n, fcw, a, b in batch]
    assert _diff(oracle, cases) == []


# ----------------------------------------------------------- unit tests (SDM)

def _fsw(m):
    return m.reg_read("fpsw")


def test_flat_machines_start_initialized_and_16_bit_at_power_up():
    for mode in (32, 64):
        m = Machine(mode=mode)
        assert (m.reg_read("fpcw"), m.reg_read("fpsw"), m.reg_read("fptag")) == (0x37F, 0, 0xFFFF)
    m = Machine(mode=16)
    assert (m.reg_read("fpcw"), m.reg_read("fpsw"), m.reg_read("fptag")) == (0x40, 0, 0x5555)
    assert m.reg_read("st0") == 0


def test_register_names_and_state():
    m, ex = run_code(b"\xd9\xe8\xd9\xeb")            # fld1; fldpi
    assert ex.reason == "hlt"
    assert m.reg_read("st0") == F(0, 0x4000, 0xC90FDAA22168C235)
    assert m.reg_read("st1") == ONE
    assert m.reg_read("fpsw") >> 11 & 7 == 6
    assert m.reg_read("fptag") == 0x0FFF
    assert m.reg_read("fop") == 0x1EB and m.reg_read("fip") == CODE + 2
    s = m.state()
    assert s["st0"] == m.reg_read("st0") and s["fpcw"] == 0x37F
    m.reg_write("st1", THREE)
    m.reg_write("fpcw", 0x27F)
    assert m.reg_read("fpsw") & 0x80 == 0
    m.mem_write(CODE, b"\xde\xc1\xf4")                 # faddp: pi + 3 in 53 bits
    m.run(start=CODE)
    assert m.reg_read("st0") >> 64 == 0x4001 and m.reg_read("st0") & 0x7FF == 0
    assert m.reg_read("fptag") == 0x3FFF


def test_precision_control_rounds_the_significand():
    """1/3 in the three precisions: 24, 53 and 64 significant bits."""
    got = {}
    for pc, fcw in ((24, 0x07F), (53, 0x27F), (64, 0x37F)):
        m, ex = run_code(b"\xd9\x2d" + struct.pack("<I", DATA) + b"\xd9\xe8\xd8\x35" + struct.pack("<I", DATA + 4),
                         data=struct.pack("<HHf", fcw, 0, 3.0))       # fldcw; fld1; fdiv dword [3.0]
        assert ex.reason == "hlt"
        got[pc] = m.reg_read("st0") & ((1 << 64) - 1)
    assert got[24] == 0xAAAAAB0000000000
    assert got[53] == 0xAAAAAAAAAAAAA800
    assert got[64] == 0xAAAAAAAAAAAAAAAB


def test_stack_overflow_and_underflow_set_c1_and_sf():
    m, _ = run_code(b"\xd9\xe8" * 9)                  # nine pushes: overflow (C1 = 1)
    sw = _fsw(m)
    assert sw & 0x41 == 0x41 and sw & 0x200 and m.reg_read("st0") == F(1, 0x7FFF, 0xC000000000000000)
    m, _ = run_code(b"\xd9\xfa")                      # fsqrt of an empty ST(0): underflow (C1 = 0)
    sw = _fsw(m)
    assert sw & 0x41 == 0x41 and not sw & 0x200


def test_fprem_partial_remainder_sets_c2_then_quotient_bits():
    big = F(0, 0x3FFF + 100, J)
    m = Machine(mode=32)
    m.mem_write(DATA, struct.pack("<Q", 7) + (big).to_bytes(10, "little"))
    code = b"\xdf\x2d" + struct.pack("<I", DATA) + b"\xdb\x2d" + struct.pack("<I", DATA + 8) + b"\xd9\xf8\xf4"
    m.mem_write(CODE, code)                           # fild qword [7]; fld tbyte [2**100]; fprem
    m.run(start=CODE)
    assert _fsw(m) & 0x400                            # C2: incomplete
    m.mem_write(CODE, b"\xd9\xf8\xf4")
    m.run(start=CODE)
    assert not _fsw(m) & 0x400
    # 2**100 mod 7 = 2: the final remainder
    assert m.reg_read("st0") == F(0, 0x4000, J)


def _prot_env(m):
    return m.mem_read(DATA + 0x100, 28)


def test_fnstenv_layouts_16_and_32_bit_protected_mode():
    code = (b"\xd9\xe8\xd9\xee\xd8\xf1"                # fld1; fldz; fdiv st0, st1
            b"\xd9\x35" + struct.pack("<I", DATA + 0x100) +          # fnstenv [DATA+0x100]
            b"\x66\xd9\x35" + struct.pack("<I", DATA + 0x200))       # o16 fnstenv [DATA+0x200]
    m, ex = run_code(code)
    assert ex.reason == "hlt"
    e32 = struct.unpack("<7I", m.mem_read(DATA + 0x100, 28))
    e16 = struct.unpack("<7H", m.mem_read(DATA + 0x200, 14))
    assert e32[0] == 0xFFFF037F and e32[1] & 0xFFFF == 0x3000 and e32[2] == 0xFFFF1FFF
    assert e32[3] == CODE + 4 and e32[4] == (0x0F1 << 16)     # FIP, FCS | FOP (D8 F1)
    assert e16[0] == 0x37F and e16[1] == 0x3000 and e16[2] == 0x1FFF and e16[3] == CODE + 4


def test_fsave_frstor_16_bit_real_mode_layout():
    """In real mode the pointers are 20-bit linear addresses split around FOP."""
    code = (b"\xdb\xe3\xd9\xe8\xd9\xeb"                # fninit; fld1; fldpi
            b"\xdd\x36\x00\x81"                        # fnsave [0x8100] (16-bit: 94 bytes)
            b"\xdd\x26\x00\x81")                       # frstor [0x8100]
    m, ex = run_code(code, mode=16)
    assert ex.reason == "hlt"
    img = m.mem_read(0x8100, 94)
    cw, sw, tw, ip, ipop, dp, dph = struct.unpack("<7H", img[:14])
    assert (cw, tw) == (0x37F, 0x0FFF) and sw >> 11 & 7 == 6
    assert ip == CODE + 4 and ipop == 0x1EB                # fldpi at linear 0x1004, FOP D9 EB
    assert img[14:24] == F(0, 0x4000, 0xC90FDAA22168C235).to_bytes(10, "little")   # ST(0)
    assert m.reg_read("st0") == F(0, 0x4000, 0xC90FDAA22168C235) and m.reg_read("fptag") == 0x0FFF


def test_em_and_ts_raise_nm_and_wait_only_with_mp_and_ts():
    def run(cr0_or, code):
        # mov eax, cr0; and eax, ~(MP|EM|TS); or eax, cr0_or; mov cr0, eax
        setup = b"\x0f\x20\xc0\x25\xf1\xff\xff\xff\x0d" + struct.pack("<I", cr0_or) + b"\x0f\x22\xc0"
        return run_code(setup + code, expect=None)
    _, ex = run(0x4, b"\xd9\xe8")                      # EM: fld1 -> #NM
    assert ex.reason == "exception" and ex.vector == 7
    _, ex = run(0x8, b"\xd9\xe8")                      # TS: fld1 -> #NM
    assert ex.reason == "exception" and ex.vector == 7
    _, ex = run(0x8, b"\x9b")                          # TS without MP: WAIT runs
    assert ex.reason == "hlt"
    _, ex = run(0xA, b"\x9b")                          # MP + TS: WAIT -> #NM
    assert ex.reason == "exception" and ex.vector == 7
    _, ex = run(0x4, b"\x9b")                          # EM alone does not concern WAIT
    assert ex.reason == "hlt"


ZERO_DIVIDE = (b"\xd9\x2d" + struct.pack("<I", DATA) +  # fldcw [DATA] (ZE unmasked)
               b"\xd9\xe8\xd9\xee\xde\xf9")           # fld1; fldz; fdivp: 1/0, pending


def test_unmasked_exception_is_mf_at_the_next_waiting_instruction_with_ne():
    setup = b"\x0f\x20\xc0\x83\xc8\x20\x0f\x22\xc0"   # CR0.NE = 1
    m, ex = run_code(setup + ZERO_DIVIDE + b"\xdf\xe0\x9b", data=struct.pack("<H", 0x37B), expect="exception")
    assert ex.reason == "exception" and ex.vector == 16
    assert m.reg_read("eip") == CODE + len(setup) + len(ZERO_DIVIDE) + 2    # at the WAIT, after FNSTSW
    assert m.reg_read("ax") & 0x8084 == 0x8084                             # B, ES, ZE
    assert m.reg_read("st0") == 0 and m.reg_read("st1") == ONE            # nothing stored, no pop
    # Non-waiting instructions go ahead; FNCLEX clears it.
    m, ex = run_code(setup + ZERO_DIVIDE + b"\xdb\xe2\x9b\xd9\xe8", data=struct.pack("<H", 0x37B))
    assert ex.reason == "hlt" and not _fsw(m) & 0x80


def test_unmasked_exception_without_ne_raises_irq13_through_the_8259():
    """CR0.NE clear (the PC's FERR#): the next waiting instruction raises
    IRQ 13 (slave IRQ 5) once and goes on."""
    pic = bytes.fromhex("b011e620e6a0b020e621b028e6a1b004e621b002e6a1b001e621e6a1b0fbe621b0dfe6a1")  # ... only IRQ 2 and 13 unmasked
    handler = 0x600
    ivt = (0x28 + 5) * 4
    lidt = b"\x0f\x01\x1e" + struct.pack("<H", DATA + 2)        # the real-mode IVT at 0
    code = (lidt + pic + b"\xfb\xdb\xe3\xd9\x2e" + struct.pack("<H", DATA) + ZERO_DIVIDE[6:]
            + b"\x9b\xd9\xe8\xf4\xf4")                 # sti; fldcw [DATA]; ...; fwait; fld1; hlt
    m = Machine(mode=16)
    m.mem_write(CODE, code)
    m.mem_write(DATA, struct.pack("<HHI", 0x37B, 0x3FF, 0))
    m.mem_write(ivt, struct.pack("<HH", handler, 0))
    m.mem_write(handler, b"\xc6\x06\x00\x07\x01\xdb\xe2\xb0\x20\xe6\xa0\xe6\x20\xcf")  # mov byte [0x700],1; fnclex; eoi; iret
    m.reg_write("sp", 0x7000)
    ex = m.run(start=CODE, count=1000)
    assert ex.reason == "hlt", (ex, m.mem_read(0x700, 1), hex(m.reg_read("ip")))
    assert m.mem_read(0x700, 1) == b"\x01"             # the handler ran
    assert m.reg_read("st0") == ONE                    # the FLD1 after the FWAIT ran
    assert not _fsw(m) & 0x80


def test_fninit_and_fnclex():
    m, ex = run_code(b"\xd9\xe8\xd9\xee\xde\xf9\xdb\xe2\xdf\xe0\x89\xc3\xdb\xe3")  # 1/0 masked; fnclex; fnstsw; fninit
    assert ex.reason == "hlt" and m.reg_read("ebx") & 0xFF == 0
    assert (m.reg_read("fpcw"), m.reg_read("fpsw"), m.reg_read("fptag"), m.reg_read("fip")) == (0x37F, 0, 0xFFFF, 0)


def test_undefined_x87_encodings_are_ud():
    for code in (b"\xd9\xd1", b"\xd9\xe2", b"\xda\xea", b"\xdb\xe5", b"\xde\xd8", b"\xd9\x0d\x00\x00\x00\x00"):
        _, ex = run_code(code, expect="exception")
        assert ex.reason == "exception" and ex.vector == 6, code.hex()
