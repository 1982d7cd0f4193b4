"""How the oracles compare x87/SSE results: the SDM's error bound for
RCP/RSQRT, 1 ulp for x87 transcendentals, the classes of Unicorn's x87/SSE
bugs, the AMD host's documented differences, and the host-environment
filters (EFLAGS.IF, ENTER's frame).  Each filter must match its own class
and nothing next to it."""
import struct

import pytest
from hypothesis import given, settings

from emu.fuzz import approx, unicorn_fp
from emu.fuzz import campaign as C
from emu.fuzz import strategies as S
from emu.fuzz.case import CODE_BASE, DATA_BASE, Case, Result
from emu.fuzz.fpstate import make_image
from emu.fuzz.insn import decode, memory_accesses


def f32(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def image(xmm=(), st=(), fsw=0):
    return make_image(xmm=xmm, st=st, fsw=fsw)


def xmm_lanes(*lanes):
    return sum(v << (32 * k) for k, v in enumerate(lanes))


RCPPS = bytes.fromhex("0f53c1")              # rcpps xmm0, xmm1
ADDPS = bytes.fromhex("0f58c1")


# ---- RCP/RSQRT: the SDM's bound -------------------------------------------------

def test_lanes_close_within_and_beyond_the_bound():
    one = f32(1.0)
    assert approx.lanes_close(one, f32(1.0 + 2.9 * 2 ** -12))
    assert not approx.lanes_close(one, f32(1.0 + 3.2 * 2 ** -12))
    assert not approx.lanes_close(one, one | 1 << 31)                # sign
    assert not approx.lanes_close(0x7F800000, 0x7F7FFFFF)           # infinity is exact
    assert not approx.lanes_close(0x7FC00000, 0x7FC00001)           # NaNs are exact
    assert approx.lanes_close(0, 0x00800000)                        # the SDM's tiny range
    assert not approx.lanes_close(0, 0x01000000)


def test_within_bound_needs_the_approximation_last():
    close = image(xmm=[f32(1.0), 0]), image(xmm=[f32(1.0 + 2 ** -12), 0])
    diffs = ["xmm0: host=.. emu=.."]
    last = Case(mode=64, code=ADDPS + RCPPS)
    assert approx.within_bound(last, *close, diffs)
    assert not approx.within_bound(Case(mode=64, code=RCPPS + ADDPS), *close, diffs)
    assert not approx.within_bound(Case(mode=64, code=ADDPS), *close, diffs)
    assert not approx.within_bound(Case(mode=64, code=bytes.fromhex("660f53c1")), *close, diffs)
    assert not approx.within_bound(last, *close, diffs + ["mxcsr: host=1 emu=2"])
    far = image(xmm=[f32(1.0), 0]), image(xmm=[f32(1.5), 0])
    assert not approx.within_bound(last, *far, diffs)


@settings(max_examples=60, deadline=None)
@given(S.cases(64, families=["sse_fp"]))
def test_generator_puts_one_approximation_last(case):
    from emu.fuzz.insn import decode_all
    insns = decode_all(case.code, case.mode)[0]
    hits = [k for k, d in enumerate(insns) if d.map == 1 and d.op in (0x52, 0x53)
            and not {0x66, 0xF2} & set(d.prefixes)]
    assert hits in ([], [len(insns) - 1])


# ---- x87 transcendentals: 1 ulp ---------------------------------------------------

FSIN = bytes.fromhex("d9fe")


def test_transcendental_one_ulp():
    a = (0x8000000000000001, 0x3FFF)
    b = (0x8000000000000002, 0x3FFF)
    c = (0x8000000000000003, 0x3FFF)
    case = Case(mode=64, code=FSIN)
    assert approx.transcendental_ulp(case, image(st=[a]), image(st=[b]), ["st0: a b"])
    assert approx.transcendental_ulp(case, image(st=[a], fsw=0x200), image(st=[b]),
                                     ["st0: a b", "fsw: a b"])
    assert not approx.transcendental_ulp(case, image(st=[a]), image(st=[c]), ["st0: a b"])
    assert not approx.transcendental_ulp(case, image(st=[a], fsw=0x4000), image(st=[b]),
                                         ["st0: a b", "fsw: a b"])
    assert not approx.transcendental_ulp(Case(mode=64, code=bytes.fromhex("d9fa")),  # fsqrt
                                         image(st=[a]), image(st=[b]), ["st0: a b"])
    # across a binade: 1.111..1 * 2^0 and 1.0 * 2^1 are neighbours
    top = ((1 << 64) - 1, 0x3FFF)
    assert approx.transcendental_ulp(case, image(st=[top]), image(st=[(1 << 63, 0x4000)]),
                                     ["st0: a b"])


# ---- Unicorn's x87/SSE bug classes --------------------------------------------------

def result(vector=None, rip=CODE_BASE, **regs):
    return Result(regs=dict(regs, rip=rip), data=b"", vector=vector)


def test_unicorn_class_no_mf_xm():
    case = Case(mode=64, code=FSIN, fpu=image())
    assert unicorn_fp.explain(case, result(None), result(16), ["vector: .."]).name == "no #MF/#XM"
    assert unicorn_fp.explain(case, result(None), result(19), ["vector: .."]).name == "no #MF/#XM"
    assert unicorn_fp.explain(case, result(None), result(13), ["vector: .."]) is None


def test_unicorn_class_misaligned_sse():
    case = Case(mode=64, code=bytes.fromhex("0f2803"), fpu=image())   # movaps xmm0, [rbx]
    emu = result(13, rbx=DATA_BASE + 4)
    assert unicorn_fp.explain(case, result(None), emu, ["vector: .."]).name == "misaligned SSE operand"
    assert unicorn_fp.explain(case, result(None), result(13, rbx=DATA_BASE), ["vector: .."]) is None
    int_case = Case(mode=64, code=bytes.fromhex("8b03"))                # mov eax, [rbx]: 1-byte map
    assert unicorn_fp.explain(int_case, result(None), emu, ["vector: .."]) is None


def test_unicorn_class_x87_state_and_mxcsr():
    case = Case(mode=64, code=FSIN, fpu=image())
    same = result(None)
    assert unicorn_fp.explain(case, same, same, ["fsw: ..", "st3: .."]).name.startswith("x87")
    assert unicorn_fp.explain(case, same, same, ["mxcsr: .."]).name == "MXCSR exception flags"
    assert unicorn_fp.explain(case, same, same, ["fsw: ..", "mxcsr: .."]).name.startswith("x87")
    assert unicorn_fp.explain(case, same, same, ["fsw: ..", "xmm1: .."]) is None
    assert unicorn_fp.explain(case, result(6), same, ["vector: .."]) is None   # FSIN: no
    clflushopt = Case(mode=64, code=bytes.fromhex("660fae3b"), fpu=image())
    assert unicorn_fp.explain(clflushopt, result(6), same, ["vector: .."]).name.startswith("#UD")
    assert unicorn_fp.explain(case, result(6), result(6), ["rax: .."]) is None
    assert unicorn_fp.explain(case, same, same, ["rax: .."]) is None
    no_fp = Case(mode=64, code=FSIN)
    assert unicorn_fp.explain(no_fp, same, same, ["fsw: .."]) is None


def test_unicorn_classes_are_listed_with_the_known_bugs():
    from emu.fuzz.compare import KNOWN_UNICORN_BUGS
    names = {b.name for b in KNOWN_UNICORN_BUGS}
    assert {f"x87/SSE: {c.name}" for c in unicorn_fp.CLASSES} <= names


# ---- the host's environment -----------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(S.cases(32, families=["pushf_popf"]))
def test_generated_eflags_and_popf_values_have_if(case):
    """IF is 1 in the host's user mode and POPF cannot clear it there: every
    starting EFLAGS and every value the generator's POPF loads has it."""
    assert case.regs["eflags"] & 0x200
    code = case.code
    for k in range(len(code) - 5):
        if code[k] == 0x68 and code[k + 5] == 0x9D:                  # push imm32; popf
            assert int.from_bytes(code[k + 1:k + 5], "little") & 0x200


def test_enter_accesses_cover_the_whole_frame():
    d = decode(bytes.fromhex("c8100003"), 0, 64)                        # enter 0x10, 3
    rsp, rbp = DATA_BASE + 0x100, DATA_BASE + 0x800
    acc = memory_accesses(d, {"rsp": rsp, "rbp": rbp, "rip": CODE_BASE}, 64)
    written = set()
    for a, size, _ in acc:
        written.update(range(a, a + size))
    # the pushed RBP, two copied frame pointers, the new frame pointer
    assert set(range(rsp - 32, rsp)) <= written


@pytest.mark.parametrize("vendor, expect", [("AuthenticAMD", True), ("GenuineIntel", False)])
def test_amd_x87_filters(monkeypatch, vendor, expect):
    monkeypatch.setattr(C, "_host_vendor", lambda: vendor)
    fstp1 = Case(mode=64, code=bytes.fromhex("d9df"), fpu=image())
    a = Result(regs={"rip": CODE_BASE + 2}, data=b"", fpu=image(fsw=0x0800))
    b = Result(regs={"rip": CODE_BASE + 2}, data=b"", fpu=image(fsw=0x0841))
    assert bool(C._x87_amd(fstp1, a, b)) is expect
    fst = Case(mode=64, code=bytes.fromhex("dddf"), fpu=image())        # the documented FSTP
    assert C._x87_amd(fst, a, b) is None
