"""The fast path of the SSE arithmetic (emu/sse_fp.h, PV_FAST) against the
host CPU.

The path is taken when MXCSR masks every exception and has PE set (every
compiled program's state after its first inexact operation): plain host
arithmetic, no flag work.  These cases hold MXCSR there (with random other
flags, DAZ, FTZ) and draw operands whose results straddle every border the
path must leave to the full code: results near the smallest normal (tiny
before or after rounding), near the largest finite (overflow), exact zeros,
square roots of negatives, denormal and zero operands, infinities, NaNs."""
import random

import pytest

from emu.fuzz.case import DATA_BASE, STACK_TOP, Case, gpr_names
from emu.fuzz.fpstate import make_image
from emu.fuzz.host import HostOracle, available
from emu.fuzz.sse_cases import encode, fp_rows
from emu.fuzz.strategies import F32_SPECIALS, F64_SPECIALS

from test_sse_fp import check_against_host

HOST = available()
needs_host = pytest.mark.skipif(not HOST[0], reason="host oracle: " + HOST[1])
ARITH = ("ADD", "SUB", "MUL", "DIV", "SQRT")


def arith_rows():
    return [r for r in fp_rows() if r.mnemonic.split()[0][:-2] in ARITH
            and r.mnemonic.split()[0][-2:] in ("PS", "PD", "SS", "SD")]


def _lane(rng, bits):
    """Mostly normals with exponents over the whole range (both ends often),
    sometimes a special value."""
    mbits, emax = (23, 254) if bits == 32 else (52, 2046)
    if rng.random() < 0.15:
        return rng.choice(F32_SPECIALS if bits == 32 else F64_SPECIALS)
    k = rng.random()
    if k < 0.3:
        e = rng.randint(1, 40)                       # near the smallest normal
    elif k < 0.6:
        e = rng.randint(emax - 40, emax)             # near the largest finite
    elif k < 0.8:
        e = rng.randint(emax // 2 - 3, emax // 2 + 3)   # around 1.0: equal exponents
    else:
        e = rng.randint(1, emax)
    frac = rng.choice((0, 1, (1 << mbits) - 1, rng.getrandbits(mbits)))
    return (rng.getrandbits(1) << (bits - 1)) | (e << mbits) | frac


def _vec(rng, bits):
    return sum(_lane(rng, bits) << (bits * k) for k in range(128 // bits))


def fast_case(r, mode, rng):
    bits = 64 if r.mnemonic.split()[0][-1] == "D" else 32
    mem = rng.random() < 0.3 and r.mem_handler is not None
    code = encode(r, mode, rng, mem)
    names = gpr_names(mode)
    regs = {n: 0 for n in names}
    regs[names[4]] = STACK_TOP
    regs[names[3]] = DATA_BASE
    data = b"".join(_vec(rng, bits).to_bytes(16, "little") for _ in range(256))
    mxcsr = 0x1FA0 | rng.getrandbits(5) | (rng.getrandbits(1) << 6) | (rng.getrandbits(1) << 15)
    img = make_image(mxcsr=mxcsr, xmm=[_vec(rng, bits) for _ in range(16)])
    return Case(mode=mode, code=code, regs=regs, data=data, count=1, fpu=img)


@pytest.fixture(scope="module")
def host():
    with HostOracle() as h:
        yield h


@needs_host
@pytest.mark.parametrize("mode", [32, 64])
def test_fast_path_matches_the_host(host, mode):
    rng = random.Random(0xFA57 + mode)
    rows = arith_rows()
    assert len(rows) >= 20                           # ADD..SQRT in four shapes, both maps
    check_against_host(host, [fast_case(rng.choice(rows), mode, rng) for _ in range(4000)])
