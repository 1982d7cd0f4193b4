"""Tests of the differential-testing machinery itself: the strategies, the
decoder, the undefined-flags table and classifier, the Unicorn oracle,
compare/shrink and the reproducer format."""
import json
import subprocess
import sys

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from emu.fuzz.case import (CODE_BASE, DATA_BASE, DATA_SIZE, STACK_TOP, Case,  # noqa: E402
                           Result, gpr_names)
from emu.fuzz.compare import (KNOWN_UNICORN_BUGS, comparable, compare, load_reproducer,  # noqa: E402
                              save_reproducer, shrink)
from emu.fuzz.flags import (AF, ARITH, CF, OF, PF, SF, TABLE, ZF, analyze,  # noqa: E402
                            undefined_mask)
from emu.fuzz.insn import boundaries, decode, decode_all  # noqa: E402
from emu.fuzz.strategies import FAMILIES, cases, family_names, raw_cases  # noqa: E402

HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def quick(n):
    return settings(max_examples=n, deadline=None, derandomize=True, suppress_health_check=HC,
                    database=None)


# ---------------------------------------------------------------------------
# Case JSON round trip


@quick(60)
@given(cases(32) | cases(64) | raw_cases(32) | raw_cases(64))
def test_case_json_round_trip(case):
    again = Case.from_json(case.to_json())
    assert again == case
    assert again.end == case.end


def test_reproducer_file_round_trip(tmp_path):
    case = Case(64, bytes.fromhex("48f7f1"), {"rax": 5, "rcx": 0, "rsp": STACK_TOP, "eflags": 0x2},
                b"\x01\x02", count=3)
    path = tmp_path / "r.json"
    save_reproducer(path, case, ["vector: unicorn=#DE(0) emu=none"], note="test")
    assert load_reproducer(path) == case
    d = json.loads(path.read_text())
    assert d["diffs"] and d["disasm"] and d["note"] == "test"


# ---------------------------------------------------------------------------
# The decoder


@pytest.mark.parametrize("mode,hexcode,lengths", [
    (32, "b805000000", [5]),
    (64, "48b80100000000000000", [10]),
    (64, "66b80100", [4]),
    (32, "67668b4700", [5]),                 # 16-bit addressing: [bx+disp8]
    (32, "8b0425000020000f0b", [7, 2]),      # SIB, no base, disp32
    (64, "8b0500000000", [6]),               # RIP-relative
    (64, "f30fb8c1f30fbdc10f38f006", [4, 4, 4]),
    (32, "c8100001c9", [4, 1]),              # ENTER, LEAVE
    (64, "4866c1e003", [5]),                 # REX then 66: the REX is ignored
    (32, "0fa4c103", [4]),
    (32, "f6c001f7c001000000", [3, 6]),
])
def test_decoder_lengths(mode, hexcode, lengths):
    insns, stop = decode_all(bytes.fromhex(hexcode), mode)
    assert stop == len(hexcode) // 2
    assert [d.length for d in insns] == lengths


def test_decoder_names():
    d = decode(bytes.fromhex("f30fbdc1"), 0, 64)
    assert d.mnemonic == "LZCNT" and d.rep == 0xF3
    d = decode(bytes.fromhex("0fbdc1"), 0, 64)
    assert d.mnemonic == "BSR"
    d = decode(bytes.fromhex("480fadc8"), 0, 64)
    assert d.mnemonic == "SHRD" and d.count == "cl" and d.opsize == 64
    d = decode(bytes.fromhex("4866c1e003"), 0, 64)
    assert d.mnemonic == "SHL" and d.opsize == 16 and d.rex == 0   # stale REX ignored
    d = decode(bytes.fromhex("7f10"), 0, 32)
    assert d.mnemonic == "JCC" and d.cond == 0xF and d.branch_target == 0x12


@pytest.mark.parametrize("mode", [32, 64])
def test_generated_code_decodes_like_capstone(mode):
    capstone = pytest.importorskip("capstone")
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if mode == 64 else capstone.CS_MODE_32)

    @quick(150)
    @given(cases(mode))
    def run(case):
        insns, stop = decode_all(case.code, mode)
        assert stop == len(case.code), case.code.hex()
        for d in insns:
            chunk = case.code[d.offset:d.end]
            got = next(md.disasm(chunk, 0, 1), None)
            if got is None:
                # capstone refuses what must #UD: LOCK where it is illegal, LEA with a register
                assert d.lock or d.mnemonic == "LEA", chunk.hex()
                continue
            assert got.size == d.length, (chunk.hex(), got.mnemonic, got.op_str)
    run()


# ---------------------------------------------------------------------------
# The strategies


def test_every_family_generates():
    for mode in (32, 64):
        for name in family_names(mode):
            @quick(5)
            @given(cases(mode, max_insns=2, families=[name]))
            def run(case):
                assert 0 < len(case.code) <= 15 * 8
            run()


def test_opcode_range_steers():
    from emu.fuzz.strategies import _select
    names, _ = _select(64, None, None, (0x0FA3, 0x0FBB))
    assert "bt" in names and "shld" in names and "alu" not in names

    @quick(30)
    @given(cases(64, max_insns=2, opcode_range=(0x0FA3, 0x0FBB)))
    def run(case):
        # families are selected as a whole (MUL also has F6/F7...)
        ops = {o for n in names for o in FAMILIES[n].opcodes}
        insns, _ = decode_all(case.code, 64)
        assert any((d.op | 0x0F00 if d.map == 1 else d.op) in ops for d in insns), case.code.hex()
    run()
    with pytest.raises(ValueError):
        _select(32, ["movbe"], None, (0x100, 0x101))
    with pytest.raises(ValueError):
        _select(64, None, None, (0x27, 0x27))          # DAA: 32-bit only


def test_weights_steer():
    @quick(30)
    @given(cases(32, max_insns=3, weights={n: 0 for n in FAMILIES if n != "div"}))
    def run(case):
        assert any(d.mnemonic in ("DIV", "IDIV") for d in decode_all(case.code, 32)[0])
    run()


@quick(200)
@given(cases(32) | cases(64))
def test_generated_cases_are_comparable(case):
    """No generated case reads a flag left undefined or leaves a result undefined."""
    assert comparable(case) is None, (case.code.hex(), comparable(case))
    assert analyze(case.code, case.mode, case.regs).complete


@quick(200)
@given(cases(32) | cases(64))
def test_generated_branches_stay_inside(case):
    for d in decode_all(case.code, case.mode)[0]:
        if d.rel is not None:
            assert d.end <= d.branch_target <= len(case.code)
            assert d.branch_target in {x.offset for x in decode_all(case.code, case.mode)[0]} | {len(case.code)}


@quick(100)
@given(cases(32) | cases(64))
def test_generated_registers(case):
    names = gpr_names(case.mode)
    assert set(names) <= set(case.regs)
    assert case.regs[names[4]] == STACK_TOP
    assert case.regs["eflags"] & 0x2
    assert case.regs["eflags"] & 0x200          # IF, as the host oracle's user mode has it
    assert case.regs["eflags"] & ~(ARITH | 0x400 | 0x200 | 0x2) == 0
    assert all(0 <= case.regs[n] < 1 << case.mode for n in names)
    assert len(case.data) <= DATA_SIZE


@pytest.mark.parametrize("mode", [32, 64])
def test_unicorn_executes_generated_cases(mode):
    """Most generated cases run on Unicorn without #UD, and a good fraction
    run to the end without any fault."""
    pytest.importorskip("unicorn")
    from emu.fuzz.unicorn_oracle import run_unicorn
    outcomes = []

    @quick(250)
    @given(cases(mode))
    def run(case):
        r = run_unicorn(case)
        assert r.oracle_error is None, r.oracle_error
        pc = r.regs["rip" if mode == 64 else "eip"]
        outcomes.append("end" if r.vector is None and pc == case.end else r.vector)
    run()
    n = len(outcomes)
    ud = outcomes.count(6) / n
    end = outcomes.count("end") / n
    assert ud < 0.05, f"#UD in {ud:.0%} of the cases"
    assert end > 0.6, f"only {end:.0%} of the cases ran to the end"


# ---------------------------------------------------------------------------
# The flags table and the classifier


def m(hexcode, mode=32, **regs):
    return undefined_mask(bytes.fromhex(hexcode), mode, regs)


def test_table_entries():
    assert TABLE["MUL"].undefined == SF | ZF | AF | PF and TABLE["MUL"].defined == CF | OF
    assert TABLE["DIV"].undefined == ARITH
    assert TABLE["AND"].undefined == AF
    assert TABLE["BSF"].undefined == CF | OF | SF | AF | PF
    assert TABLE["BT"].undefined == OF | SF | AF | PF
    assert TABLE["LZCNT"].undefined == OF | SF | PF | AF
    assert TABLE["POPCNT"].undefined == 0
    assert TABLE["DAA"].undefined == OF
    assert TABLE["AAA"].undefined == OF | SF | ZF | PF
    assert TABLE["AAM"].undefined == OF | AF | CF
    assert TABLE["ADD"].undefined == 0 and TABLE["MOV"].undefined == 0


@pytest.mark.parametrize("hexcode,regs,mask", [
    ("f7e1", {}, SF | ZF | AF | PF),                 # MUL ecx
    ("f7e101c8", {}, 0),                             # MUL; ADD redefines everything
    ("f7e140", {}, 0),                               # MUL; INC defines SF ZF AF PF (and OF)
    ("f7f1", {}, ARITH),                             # DIV
    ("21c8", {}, AF),                                # AND
    ("d1e0", {}, AF),                                # SHL by 1: OF defined
    ("c1e003", {}, AF | OF),                         # SHL by 3
    ("c1e000", {}, 0),                               # SHL by 0: nothing
    ("c1e020", {}, 0),                               # SHL r32 by 32 = by 0 (masked)
    ("c0e009", {}, AF | OF | CF),                    # SHL r8 by 9: CF undefined too
    ("c0f809", {}, AF | OF),                         # SAR r8 by 9: CF defined
    ("d3e0", {"ecx": 1}, AF),                        # SHL by CL=1
    ("d3e0", {"ecx": 5}, AF | OF),                   # SHL by CL=5
    ("d3e0", {"ecx": 0}, 0),                         # SHL by CL=0
    ("d3e0", {"ecx": 0x20}, 0),                      # CL masked to 0
    ("b105d3e0", {"ecx": 0}, AF | OF),               # MOV CL,5 then SHL by CL
    ("c1c003", {}, OF),                              # ROL by 3
    ("d1c0", {}, 0),                                 # ROL by 1
    ("0fbcc1", {}, CF | OF | SF | AF | PF),          # BSF
    ("0fa3c8", {}, OF | SF | AF | PF),               # BT
    ("f30fbdc1", {}, OF | SF | PF | AF),             # LZCNT
    ("f30fb8c1", {}, 0),                             # POPCNT
    ("0fa4c101", {}, AF),                            # SHLD by 1
    ("0fa4c105", {}, AF | OF),                       # SHLD by 5
    ("27", {}, OF),                                  # DAA
    ("37", {}, OF | SF | ZF | PF),                   # AAA
    ("d40a", {}, OF | AF | CF),                      # AAM
])
def test_classifier_masks(hexcode, regs, mask):
    assert m(hexcode, **regs) == mask


def test_classifier_unknown_cl_is_the_union():
    # MUL leaves SF ZF AF PF undefined; SHL by an unknown CL may or may not
    # define SF ZF PF, so they stay undefined, plus AF and OF.
    code = bytes.fromhex("f7e1" "89c1" "d3e0")     # MUL ecx; MOV ecx,eax; SHL eax,cl
    fa = analyze(code, 32, {"ecx": 3})
    assert fa.final_mask == SF | ZF | AF | PF | OF
    assert not fa.consumed


def test_classifier_count_at_fault_rip():
    code = bytes.fromhex("f7e1" "8b00" "01c8")      # MUL; MOV eax,[eax]; ADD
    fa = analyze(code, 32, {})
    assert fa.mask_at(CODE_BASE + 2) == SF | ZF | AF | PF     # faulted at the MOV
    assert fa.mask_at(CODE_BASE + len(code)) == 0


def test_classifier_consumption():
    fa = analyze(bytes.fromhex("f7e1" "11c8"), 32, {})     # MUL; ADC: CF is defined
    assert not fa.consumed
    fa = analyze(bytes.fromhex("f7f1" "11c8"), 32, {})     # DIV; ADC reads undefined CF
    assert fa.consumed and fa.consumed[0][1] == "ADC"
    fa = analyze(bytes.fromhex("f7e1" "7400"), 32, {})     # MUL; JZ reads undefined ZF
    assert fa.consumed
    fa = analyze(bytes.fromhex("21c8" "9f"), 32, {})       # AND; LAHF reads AF
    assert fa.consumed
    fa = analyze(bytes.fromhex("f7f1" "40" "72 00"), 32, {})   # DIV; INC keeps CF undefined; JB
    assert fa.consumed
    case = Case(32, bytes.fromhex("f7f1" "11c8"), {})
    assert comparable(case) is not None
    assert compare(case, _res(32, eax=1), _res(32, eax=2)) == []


def test_classifier_branches_merge():
    # JZ over a MUL: at the end SF ZF AF PF may be undefined (one path)
    code = bytes.fromhex("7402" "f7e1" "90")
    fa = analyze(code, 32, {})
    assert fa.complete and fa.final_mask == SF | ZF | AF | PF
    # a branch leaving the code makes the analysis incomplete: everything masked
    fa = analyze(bytes.fromhex("eb10"), 32, {})
    assert not fa.complete and fa.final_mask == ARITH


def test_classifier_undefined_destination():
    fa = analyze(bytes.fromhex("66 0fa5 c8"), 32, {"ecx": 20})     # SHLD ax, cx, cl=20 > 16
    assert fa.undefined_dest
    fa = analyze(bytes.fromhex("66 0fa5 c8"), 32, {"ecx": 16})
    assert not fa.undefined_dest
    fa = analyze(bytes.fromhex("66 0fc8"), 32, {})                # BSWAP ax
    assert fa.undefined_dest


# ---------------------------------------------------------------------------
# compare


def _res(mode, vector=None, data=None, **regs):
    out = {n: 0 for n in gpr_names(mode)}
    out["rip" if mode == 64 else "eip"] = CODE_BASE + 2
    out["eflags"] = 0x2
    out.update(regs)
    return Result(regs=out, data=bytes(DATA_SIZE) if data is None else data, vector=vector)


def test_compare_agree_and_differ():
    case = Case(32, bytes.fromhex("01c8"), {})         # ADD: all flags defined
    a = _res(32)
    assert compare(case, a, _res(32)) == []
    assert any("ecx" in d for d in compare(case, a, _res(32, ecx=1)))
    assert any("eip" in d for d in compare(case, a, _res(32, eip=CODE_BASE)))
    assert any("vector" in d for d in compare(case, a, _res(32, vector=0)))
    d = compare(case, a, _res(32, eflags=0x2 | CF | OF))
    assert d and "CF" in d[0] and "OF" in d[0]
    assert any("DF" in x for x in compare(case, a, _res(32, eflags=0x402)))
    data = bytearray(DATA_SIZE)
    data[0x10] = 1
    d = compare(case, a, _res(32, data=bytes(data)))
    assert any(f"{DATA_BASE + 0x10:#x}" in x for x in d)


def test_compare_masks_undefined_flags_only():
    case = Case(32, bytes.fromhex("f7e1"), {})         # MUL: SF ZF AF PF undefined
    a = _res(32)
    assert compare(case, a, _res(32, eflags=0x2 | SF | ZF | AF | PF)) == []
    assert compare(case, a, _res(32, eflags=0x2 | CF))      # CF is defined


def test_compare_ignores_oracle_errors():
    case = Case(32, bytes.fromhex("90"), {})
    bad = Result(regs={}, data=b"", oracle_error="boom")
    assert compare(case, _res(32), bad) == []


def test_compare_64_bit_registers():
    case = Case(64, bytes.fromhex("4d01c8"), {})
    assert any("r8" in d for d in compare(case, _res(64), _res(64, r8=1 << 40)))


# ---------------------------------------------------------------------------
# shrink


def test_shrink_drops_instructions_and_fixes_branches():
    # NOP; JMP +3 (over INC); INC eax; DIV ecx; NOP -- "fails" while it has a DIV
    code = bytes.fromhex("90" "eb01" "40" "f7f1" "90")
    case = Case(32, code, {"eax": 7, "ecx": 0, "ebx": 9, "eflags": 0x2}, b"\x01" * 64, count=10)
    small = shrink(case, lambda c: any(d.mnemonic == "DIV" for d in decode_all(c.code, 32)[0]))
    assert small.code == bytes.fromhex("f7f1")
    assert small.regs == {} and small.data == b""


def test_shrink_keeps_branch_targets():
    # JZ +2 over (INC; INC) to a DIV; dropping an INC must retarget the JZ
    code = bytes.fromhex("7402" "40" "40" "f7f1")
    case = Case(32, code, {})

    def pred(c):
        insns, stop = decode_all(c.code, 32)
        ok = stop == len(c.code)
        jz = [d for d in insns if d.mnemonic == "JCC"]
        div = [d for d in insns if d.mnemonic == "DIV"]
        return ok and jz and div and jz[0].branch_target == div[0].offset
    small = shrink(case, pred)
    assert small.code == bytes.fromhex("7400" "f7f1")


def test_boundaries_fallback():
    # an x87 instruction: decoded by length, mnemonic unknown
    assert boundaries(bytes.fromhex("d9c0" "90"), 32) == [0, 2]


# ---------------------------------------------------------------------------
# The Unicorn oracle


@pytest.fixture
def run_uc():
    pytest.importorskip("unicorn")
    from emu.fuzz.unicorn_oracle import run_unicorn
    return run_unicorn


@pytest.mark.parametrize("mode,hexcode,regs,vector,rip_off", [
    (32, "40" "f7f1", {"ecx": 0}, 0, 1),              # #DE at the DIV
    (32, "d400", {}, 0, 0),                           # AAM 0: #DE
    (32, "0f0b", {}, 6, 0),                           # UD2
    (32, "a100005000", {}, -1, 0),                    # unmapped read
    (32, "a300005000", {}, -1, 0),                    # unmapped write
    (32, "cc90", {}, 3, 1),                           # INT3: a trap, rip after it
    (64, "488b00", {"rax": 0x8000000000000000}, -1, 0),   # non-canonical: stopped before
    (32, "90" * 3, {}, None, 3),                      # runs to the end
])
def test_unicorn_oracle_vectors(run_uc, mode, hexcode, regs, vector, rip_off):
    case = Case(mode, bytes.fromhex(hexcode), dict(regs, **{gpr_names(mode)[4]: STACK_TOP}))
    r = run_uc(case)
    assert r.oracle_error is None
    assert r.vector == vector
    assert r.regs["rip" if mode == 64 else "eip"] == CODE_BASE + rip_off


def test_unicorn_oracle_counts_rep_as_one(run_uc):
    # MOV EDI, DATA_BASE; MOV ECX, 5; REP STOSB; INC EAX; INC EAX
    code = bytes.fromhex("bf00002000" "b905000000" "f3aa" "40" "40")
    r = run_uc(Case(32, code, {}, count=4))
    assert r.regs["eip"] == CODE_BASE + len(code) - 1     # 4 instructions retired
    assert r.regs["ecx"] == 0 and r.regs["eax"] == 1


def test_unicorn_oracle_memory(run_uc):
    case = Case(64, bytes.fromhex("48890425" + (DATA_BASE + 8).to_bytes(4, "little").hex()),
                {"rax": 0x1122334455667788, "rsp": STACK_TOP}, b"\xff" * 32)
    r = run_uc(case)
    assert r.data[8:16] == (0x1122334455667788).to_bytes(8, "little")
    assert r.data[:8] == b"\xff" * 8 and len(r.data) == DATA_SIZE


def test_known_bugs_are_documented():
    for bug in KNOWN_UNICORN_BUGS:
        assert bug.sdm and bug.unicorn
        assert sum(x is not None for x in (bug.correct, bug.rewrite, bug.handled_by)) == 1


def test_noncanonical_is_corrected_to_gp(run_uc):
    case = Case(64, bytes.fromhex("488b00"), {"rax": 0x8000000000000000, "rsp": STACK_TOP})
    u = run_uc(case)
    emu_like = Result(regs=dict(u.regs), data=u.data, vector=13)
    assert compare(case, u, emu_like, names=("unicorn", "emu")) == []
    emu_like.vector = -1
    assert compare(case, u, emu_like, names=("unicorn", "emu"))


def test_illegal_lock_does_not_abort_unicorn():
    """LOCK BTS with a register operand aborts the process in Unicorn 2.1.x;
    the oracle rewrites it to UD2 (run in a child process to be safe)."""
    pytest.importorskip("unicorn")
    prog = ("from emu.fuzz.case import Case\n"
            "from emu.fuzz.unicorn_oracle import run_unicorn\n"
            "r = run_unicorn(Case(32, bytes.fromhex('f00fbae804'), {}))\n"
            "print(r.vector)\n")
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "6"


@pytest.mark.parametrize("hexcode,regs", [
    ("f6df" "a100005000", {"ebx": 0x36ba, "eflags": 0x807}),     # lazy flags at a fault
    ("661dffff" "0fc74eef", {"esi": 0xff}),                       # SBB; CMPXCHG8B
    ("f0f75d00", {"ebp": DATA_BASE}),                            # LOCK NEG flags
])
def test_unicorn_workarounds_give_sdm_results(run_uc, hexcode, regs):
    expected = {"f6dfa100005000": 0x97, "661dffff0fc74eef": 0x13}
    case = Case(32, bytes.fromhex(hexcode), dict(regs, esp=STACK_TOP),
                (0x12345678).to_bytes(4, "little") * 256)
    r = run_uc(case)
    if hexcode in expected:
        assert r.regs["eflags"] == expected[hexcode]
    else:                                       # NEG 0x12345678 = 0xEDCBA988
        assert r.regs["eflags"] & ARITH == SF | PF | CF | AF


def test_unicorn_workarounds_64(run_uc):
    # LAHF with REX loads AH (not SPL); MOV r/m8,imm8 with REX.R is a MOV
    r = run_uc(Case(64, bytes.fromhex("489f"), {"rsp": STACK_TOP, "eflags": 0x8c3}))
    assert r.regs["rax"] == 0xC300 and r.regs["rsp"] == STACK_TOP
    r = run_uc(Case(64, bytes.fromhex("44c60001"), {"rax": DATA_BASE, "rsp": STACK_TOP}))
    assert r.vector is None and r.data[0] == 1
    # SHLD with RIP-relative operand and imm8
    code = bytes.fromhex("0fa405") + (DATA_BASE - CODE_BASE - 8).to_bytes(4, "little") + b"\x04"
    r = run_uc(Case(64, code, {"rax": 0xF, "rsp": STACK_TOP}, b"\x01" + bytes(15)))
    assert r.data[0] == 0x10                                     # [DATA_BASE] = 1 << 4


def test_unicorn_workarounds_more(run_uc):
    # POPCNT with 66 and REX.W is a 64-bit POPCNT
    r = run_uc(Case(64, bytes.fromhex("66f3490fb8c3"), {"r11": 0x2002DD, "rsp": STACK_TOP}))
    assert r.regs["rax"] == 8
    # 16-bit ENTER writes BP only
    r = run_uc(Case(32, bytes.fromhex("66c8040103"), {"ebp": 0xFF, "esp": STACK_TOP}))
    assert r.regs["ebp"] == 0xFEFE
    # store into a later instruction: handled; into itself: not comparable
    r = run_uc(Case(32, bytes.fromhex("891a40404040"), {"edx": CODE_BASE + 2, "ebx": 0x90909090}))
    assert r.oracle_error is None and r.regs["eax"] == 0 and r.regs["eip"] == CODE_BASE + 6
    r = run_uc(Case(32, bytes.fromhex("891a"), {"edx": CODE_BASE, "ebx": 0x90909090}))
    assert r.oracle_error and "overwrites itself" in r.oracle_error


def test_noncanonical_ordering(run_uc):
    # MOVSD reads [RSI] (canonical, unmapped) before it writes [RDI]
    # (non-canonical): the read faults first
    case = Case(64, bytes.fromhex("a5"), {"rsi": 0xFFFFFFFF, "rdi": 0x7FFFFFFFFFFFFFFF,
                                         "rsp": STACK_TOP})
    r = run_uc(case)
    assert r.vector == -1
    assert compare(case, r, Result(regs=dict(r.regs), data=r.data, vector=-1)) == []
    # REP with RCX = 0 touches no memory at all
    r = run_uc(Case(64, bytes.fromhex("f3a4"), {"rdi": 1 << 63, "rcx": 0, "rsp": STACK_TOP}))
    assert r.vector is None and r.regs["rip"] == CODE_BASE + 2
    # BT with a register bit offset: the offset moves the address
    r = run_uc(Case(64, bytes.fromhex("480fa303"), {"rbx": DATA_BASE, "rax": 1 << 62,
                                                     "rsp": STACK_TOP}))
    assert r.vector == -1                      # DATA_BASE + 2**59: non-canonical


def test_raw_cases_run(run_uc):
    @quick(40)
    @given(raw_cases(32) | raw_cases(64))
    def run(case):
        r = run_uc(case)
        assert r.oracle_error is None or "unicorn" in r.oracle_error or "REP" in r.oracle_error
    run()
