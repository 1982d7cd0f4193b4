"""How the oracles compare x87/SSE results: the SDM's error bound for
RCP/RSQRT, 1 ulp for x87 transcendentals, the classes of Unicorn's x87/SSE
bugs, the AMD host's documented differences, and the host-environment
filters (EFLAGS.IF, ENTER's frame).  Each filter must match its own class
and nothing next to it."""
import json
import struct

import pytest
from hypothesis import given, settings

from emu.fuzz import approx, emu_oracle, unicorn_fp
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


# ---- classes that meet in one case ------------------------------------------------

def test_transcendental_one_ulp_of_denormals():
    case = Case(mode=64, code=FSIN)
    one, two, three = (1, 0), (2, 0), (3, 0)
    assert approx.transcendental_ulp(case, image(st=[one]), image(st=[two]), ["st0: a b"])
    assert not approx.transcendental_ulp(case, image(st=[one]), image(st=[three]), ["st0: a b"])
    # the largest denormal and the smallest normal are neighbours; a
    # pseudo-denormal is no value to count from
    assert approx.transcendental_ulp(case, image(st=[((1 << 63) - 1, 0)]), image(st=[(1 << 63, 1)]),
                                     ["st0: a b"])
    assert not approx.transcendental_ulp(case, image(st=[(1 << 63, 0)]), image(st=[(1 << 63, 1)]),
                                         ["st0: a b"])


needs_core = pytest.mark.skipif(not emu_oracle.available(), reason="the core is not built")


def _st0_moved(case, k, ulps):
    """pvemu's result of `case` with ST(0) moved `ulps` after instruction k."""
    def move(m):
        img = bytearray(m.fpu_image())
        v = approx._f80_step(int.from_bytes(img[32:42], "little"), ulps)
        img[32:42] = v.to_bytes(10, "little")
        m.set_fpu_image(bytes(img))
    return emu_oracle.run_emu(case, digest=False, patch=[(k, move)])


@needs_core
def test_two_transcendentals_in_a_row_are_nudged_together():
    """FYL2X then F2XM1 (found by a host campaign, seed 7200): a host one
    ulp off at each ends up to two ulps off pvemu, which is explained by
    nudging both results (alone, FYL2X's nudge gives one of them); three
    ulps the other way are not."""
    st = [(0x9999_9999_9999_999A, 0x3FFD), (0x8000_0000_0000_0000, 0x3FFE)] + \
        [(0x1234_5678_9ABC_DEF0 + k, 0x4000) for k in range(6)]
    case = Case(mode=32, code=bytes.fromhex("d9f1d9f0"), count=2,
                fpu=make_image(st=st, ftw=0xFF, fsw=0))
    emu = emu_oracle.run_emu(case, digest=False)
    for ulps, explained in ((-2, True), (2, True), (1, True), (-3, False)):
        host = _st0_moved(case, 2, ulps)
        assert C.differences(case, host, emu, "host")
        assert (C._explained_together(case, host, emu) == C.TRANSCENDENTAL_USED) is explained, ulps


@needs_core
def test_transcendental_ulp_seen_through_mmx():
    """FSIN then PADDW adding its significand to another register: a host
    that rounded FSIN one ulp the other way is explained, two ulps is not."""
    st = [(0xC6804F6793D45A7A, 0xBFFD)] + [(0x1234_5678_9ABC_DEF0 + k, 0x4000) for k in range(7)]
    case = Case(mode=64, code=bytes.fromhex("d9fe0ffdd6"), count=2,
                fpu=make_image(st=st, ftw=0xFF, fsw=0))
    emu = emu_oracle.run_emu(case, digest=False)
    for ulps, explained in ((1, True), (-1, True), (2, False)):
        host = _st0_moved(case, 1, ulps)
        assert C.differences(case, host, emu, "host")
        assert (C._explained_together(case, host, emu) == C.TRANSCENDENTAL_USED) is explained, ulps


@needs_core
@pytest.mark.parametrize("between, expect", [("", True), ("d8c1", False), ("dfe0", True)])
def test_fcomi_c1_next_to_an_approximation(monkeypatch, between, expect):
    """FCOMI's C1 (AMD keeps it) and RCPPS bits within the SDM bound in one
    case are explained, unless an x87 instruction in between (FADD) wrote
    C1 itself (FNSTSW does not)."""
    monkeypatch.setattr(C, "_host_vendor", lambda: "AuthenticAMD")
    xmm = [0, xmm_lanes(f32(3.0), f32(5.0), f32(7.0), f32(9.0))]
    case = Case(mode=64, code=bytes.fromhex("dbf1" + between) + RCPPS, count=3,
                fpu=make_image(st=[(1 << 63, 0x3FFF), (1 << 63, 0x4000)], ftw=0xC0, fsw=6 << 11,
                               xmm=xmm, fcw=0x37F))
    emu = emu_oracle.run_emu(case, digest=False)
    img = bytearray(emu.fpu)
    img[3] |= 0x02                                       # C1 (bit 9 of FSW)
    img[160:164] = (int.from_bytes(img[160:164], "little") + 3).to_bytes(4, "little")
    host = Result(regs=dict(emu.regs), data=emu.data, fpu=bytes(img))
    assert C.differences(case, host, emu, "host")
    assert bool(C._explained_together(case, host, emu)) is expect


@needs_core
@pytest.mark.parametrize("host_mxcsr, expect", [(0x21F80, True), (0x1F80, False)])
def test_ldmxcsr_bit17_then_a_later_fault(monkeypatch, host_mxcsr, expect):
    """LDMXCSR of a value with bit 17: the AMD host loads it and faults at a
    later instruction; explained only if the host's MXCSR has bit 17."""
    monkeypatch.setattr(C, "_host_vendor", lambda: "AuthenticAMD")
    code = bytes.fromhex("0fae13") + bytes.fromhex("0ff7fc")     # ldmxcsr [rbx]; maskmovq
    data = (0x21F80).to_bytes(4, "little")
    case = Case(mode=64, code=code, regs={"rbx": DATA_BASE, "rdi": 1 << 47}, data=data, count=2,
                fpu=make_image())
    emu = emu_oracle.run_emu(case, digest=False)
    assert emu.vector == 13 and emu.regs["rip"] == CODE_BASE
    img = bytearray(make_image())
    img[24:28] = host_mxcsr.to_bytes(4, "little")
    host = Result(regs=dict(emu.regs, rip=CODE_BASE + 3), data=emu.data, vector=13, fpu=bytes(img))
    assert C._ldmxcsr_mm_amd(case, host, emu) is expect


def test_c1_left_by_fcomi_counts_what_ran(monkeypatch):
    """C1 is FCOMI's when no x87 instruction that ran after it writes C1:
    FNSTSW and FLDCW do not, FADD does, and one that faulted did not run."""
    monkeypatch.setattr(C, "_host_vendor", lambda: "AuthenticAMD")
    fcomi, fadd, fnstsw, fldcw = "dbf1", "d8c1", "dfe0", "d92b"
    for tail, stop, expect in ((fnstsw + fldcw, None, True), (fadd, None, False),
                               (fadd, 2, True), (fnstsw + fadd, 4, True), ("", None, True)):
        case = Case(mode=64, code=bytes.fromhex(fcomi + tail))
        res = Result(regs={"rip": CODE_BASE + (len(case.code) if stop is None else stop)}, data=b"")
        assert C._c1_left_by_fcomi(case, res) is expect, (tail, stop)
    assert not C._c1_left_by_fcomi(Case(mode=64, code=bytes.fromhex(fadd)),
                                   Result(regs={"rip": CODE_BASE + 2}, data=b""))
    monkeypatch.setattr(C, "_host_vendor", lambda: "GenuineIntel")
    assert not C._c1_left_by_fcomi(Case(mode=64, code=bytes.fromhex(fcomi)),
                                   Result(regs={"rip": CODE_BASE + 2}, data=b""))


def test_c1_only_accepts_the_c1_copy_in_ax_only_after_fnstsw_ax():
    """A transcendental's C1 seen through FNSTSW AX: AX may differ in bit 9
    alone, and only in a case that runs FNSTSW AX."""
    fyl2xp1_fnstsw = Case.from_json(json.dumps({"code": "d9f9dfe0", "mode": 64, "count": 2}))
    fyl2xp1_only = Case.from_json(json.dumps({"code": "d9f9", "mode": 64, "count": 1}))
    a, b = bytearray(512), bytearray(512)
    a[2:4], b[2:4] = (0x1028).to_bytes(2, "little"), (0x1228).to_bytes(2, "little")
    fsw = "fsw: host=0x1028 emu=0x1228"
    assert approx.c1_only([fsw, "rax: host=0x1028 emu=0x1228"], bytes(a), bytes(b), fyl2xp1_fnstsw)
    assert not approx.c1_only([fsw, "rax: host=0x1028 emu=0x1328"], bytes(a), bytes(b), fyl2xp1_fnstsw)
    assert not approx.c1_only([fsw, "rax: host=0x1028 emu=0x1228"], bytes(a), bytes(b), fyl2xp1_only)
    assert not approx.c1_only([fsw, "rbx: host=0x1028 emu=0x1228"], bytes(a), bytes(b), fyl2xp1_fnstsw)
    assert approx.c1_only([fsw], bytes(a), bytes(b))
