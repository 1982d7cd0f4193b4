"""The fuzzing cases carry an x87/SSE state (Case.fpu, an FXSAVE64 image):
every oracle starts the case from it and reports the final image."""
import random

import pytest

from emu.fuzz import Case, compare, run_emu, run_unicorn
from emu.fuzz.fpstate import fields, make_image, sanitize_image
from emu.fuzz.generate import draw_case, strategies_module
from emu.fuzz.host import HostOracle, available
from emu.fuzz import unicorn_oracle

NOP = bytes.fromhex("90")


def images(n, seed=7):
    S = strategies_module()
    rng = random.Random(seed)
    return [draw_case(S.fpu_image(64), rng)[0] for _ in range(n)]


def test_json_round_trip_keeps_the_image():
    img = images(1)[0]
    c = Case(mode=64, code=NOP, fpu=img)
    assert Case.from_json(c.to_json()).fpu == img
    assert Case.from_json(Case(mode=32, code=NOP).to_json()).fpu is None


def test_sanitize_clears_reserved_mxcsr_and_pointers():
    img = bytearray(make_image(mxcsr=0x1F80))
    img[24:28] = (0xFFFF1F80).to_bytes(4, "little")
    img[8:16] = b"\xff" * 8
    s = sanitize_image(bytes(img))
    assert fields(s, 64)["mxcsr"] == 0x1F80 and s[8:16] == bytes(8)


def test_emu_keeps_the_state_across_a_nop():
    for img in images(20):
        r = run_emu(Case(mode=64, code=NOP, fpu=img))
        want = fields(sanitize_image(img), 64)
        got = fields(r.fpu, 64)
        fsw_flags = want["fsw"] & 0x3F & ~want["fcw"]
        want["fsw"] = (want["fsw"] & ~0x8080) | (0x8080 if fsw_flags else 0)
        assert got == want


def test_integer_cases_carry_no_state():
    assert run_emu(Case(mode=64, code=NOP)).fpu is None


@pytest.mark.skipif(not available()[0], reason="host oracle: " + available()[1])
@pytest.mark.parametrize("mode", [32, 64])
def test_host_and_emu_agree_on_the_state(mode):
    cases = [Case(mode=mode, code=NOP, fpu=img) for img in images(40, seed=mode)]
    cases.append(Case(mode=mode, code=bytes.fromhex("0f0b"), fpu=cases[0].fpu))   # ud2: a fault
    with HostOracle() as h:
        results = h.run_many(cases)
    for c, r in zip(cases, results):
        assert r.fpu is not None
        assert compare(c, r, run_emu(c), names=("host", "emu")) == []
    assert results[-1].vector == 6


@pytest.mark.skipif(not unicorn_oracle.available(), reason="unicorn is not installed")
@pytest.mark.parametrize("mode", [32, 64])
def test_unicorn_and_emu_agree_on_the_state(mode):
    for img in images(20, seed=mode + 1):
        c = Case(mode=mode, code=NOP, fpu=img)
        assert compare(c, run_unicorn(c), run_emu(c)) == []
