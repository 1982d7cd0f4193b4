"""What `pvemu fuzz --raw` against the host CPU used to report as divergences
and is not a pvemu bug: extensions pvemu's CPUID does not report, the
host's rip for INT3/INTO, instructions cut by the end of the code, AMD's
LOOPcc with a repeat prefix; and the checks behind them (a store through a
CS override faults in 32-bit protected mode, on pvemu as on the host)."""
import pytest

from emu.fuzz import campaign as C
from emu.fuzz import emu_oracle, extensions
from emu.fuzz.case import CODE_BASE, DATA_BASE, Case, Result
from emu.fuzz.host import available, excluded_reason

HOST_OK, HOST_WHY = available(probe=True)
needs_host = pytest.mark.skipif(not HOST_OK, reason=f"host oracle unavailable: {HOST_WHY}")
needs_core = pytest.mark.skipif(not emu_oracle.available(), reason="emulator core not built")


@pytest.mark.parametrize("code, mode, name", [
    ("0f38c8f7", 64, "SHA"), ("0f3acc0103", 32, "SHA"), ("660f38dcc1", 64, "AES"),
    ("660f3a44c100", 64, "PCLMULQDQ"), ("f30f38f6e4", 32, "ADX"), ("660f38f6c1", 64, "ADX"),
    ("0f38f93e", 64, "MOVDIRI"), ("660f388201", 32, "INVPCID"), ("660f78c1", 32, "SSE4A"),
    ("c5d5fd2c1b", 32, "AVX"),
    # implemented, or not an extension's row: no feature
    ("660f58c1", 64, None), ("0f0b", 64, None), ("0f38f6c1", 64, None), ("c51d", 32, None),
])
def test_unreported_feature(code, mode, name):
    assert extensions.unreported_feature(bytes.fromhex(code), 0, mode) == name


def _result(vector, pc, mode=64):
    return Result(regs={"rip" if mode == 64 else "eip": pc}, data=b"", vector=vector)


def test_unreported_feature_explains_only_pvemu_ud():
    case = Case(mode=64, code=bytes.fromhex("0f38c9c1"))             # sha1msg1 xmm0, xmm1
    why = C.host_environment_mismatch(case, _result(None, CODE_BASE + 4), _result(6, CODE_BASE))
    assert why.startswith("not in pvemu's CPUID: SHA (CPUID.7:EBX[29] clear)")
    assert C.host_environment_mismatch(case, _result(6, CODE_BASE), _result(None, CODE_BASE + 4)) \
        is None
    ud2 = Case(mode=64, code=bytes.fromhex("0f0b"))
    assert C.host_environment_mismatch(ud2, _result(None, CODE_BASE + 2), _result(6, CODE_BASE)) \
        is None


def test_truncated_instruction_is_scanned_over_the_zero_page():
    """Step mode runs an instruction cut by the end of the code over the
    zeros after it: its FS prefix or privileged opcode excludes the case."""
    for code, why in (("26640f2d", "FS/GS"), ("2e0f20", "control/debug register"),
                      ("0f01", "0F 01")):
        got = excluded_reason(Case(mode=32, code=bytes.fromhex(code)), step=True)
        assert got is not None and why in got, (code, got)
    assert excluded_reason(Case(mode=32, code=bytes.fromhex("0f58")), step=True) is None


def test_loopcc_with_rep_prefix_is_amd_only(monkeypatch):
    case = Case(mode=64, code=bytes.fromhex("f3e019"))               # F3 LOOPNE
    host, emu = _result(None, CODE_BASE + 3), _result(None, CODE_BASE + 0x1C)
    monkeypatch.setattr(C, "_host_vendor", lambda: "AuthenticAMD")
    assert "LOOPE/LOOPNE with an F2/F3 prefix" in C.host_environment_mismatch(case, host, emu)
    assert C.host_environment_mismatch(Case(mode=64, code=bytes.fromhex("f3e119")), host, emu) \
        is None                                                      # F3 LOOPE: as the opcode says
    monkeypatch.setattr(C, "_host_vendor", lambda: "GenuineIntel")
    assert C.host_environment_mismatch(case, host, emu) is None


@needs_host
@needs_core
@pytest.mark.parametrize("code", ["cc", "66cc", "ce", "f3ce"])
def test_int3_into_rip_agrees_with_the_host(code):
    """#BP and #OF are traps: every engine reports rip after the instruction
    (with its prefixes), so INT3/INTO need no exclusion."""
    case = Case(mode=32, code=bytes.fromhex(code) + b"\x90", regs={"eflags": 0xA02})   # OF=1
    eng = C.engines_for("host", False)
    outcome, detail, emu, host = C.evaluate(case, eng)
    assert outcome == "agree", detail
    assert emu.vector == (3 if code.endswith("cc") else 4)
    assert emu.regs["eip"] == CODE_BASE + len(code) // 2


@needs_host
@needs_core
@pytest.mark.parametrize("code", ["2e8903", "2ec60301", "2e0fab03", "2e660f7f03", "2edf33",
                                  "2ef00fc10b"])
def test_cs_override_store_faults_like_the_host(code):
    """32-bit protected mode: a store through CS (a code segment: never
    writable, SDM Vol. 3A 5.4.1) is #GP(0) on pvemu's flat machine as on
    the host; a load through it is fine (CS is readable)."""
    regs = {"ebx": DATA_BASE + 0x100, "eax": 7}
    eng = C.engines_for("host", False)
    outcome, detail, emu, host = C.evaluate(Case(mode=32, code=bytes.fromhex(code), regs=regs), eng)
    assert outcome == "agree" and emu.vector == 13 and emu.regs["eip"] == CODE_BASE, detail
    outcome, detail, emu, host = C.evaluate(Case(mode=32, code=bytes.fromhex("2e8b03"), regs=regs),
                                            eng)
    assert outcome == "agree" and emu.vector is None, detail


def test_prefetch_register_form_is_amd_only(monkeypatch):
    case = Case(mode=64, code=bytes.fromhex("0f0dc8"))               # 0F 0D, mod = 3
    host, emu = _result(6, CODE_BASE), _result(None, CODE_BASE + 3)
    monkeypatch.setattr(C, "_host_vendor", lambda: "AuthenticAMD")
    assert "0F 0D with a register operand" in C.host_environment_mismatch(case, host, emu)
    mem = Case(mode=64, code=bytes.fromhex("0f0d08"))                # prefetch [rax]
    assert C.host_environment_mismatch(mem, host, emu) is None
    monkeypatch.setattr(C, "_host_vendor", lambda: "GenuineIntel")
    assert C.host_environment_mismatch(case, host, emu) is None


def test_tf_from_popf_in_step_mode():
    case = Case(mode=64, code=bytes.fromhex("9d90"))                 # popf; nop
    why = C.host_environment_mismatch(case, _result(None, CODE_BASE + 2), _result(1, CODE_BASE + 2))
    assert why.startswith("host: step mode single-steps with TF itself")
    nop = Case(mode=64, code=bytes.fromhex("9090"))
    assert C.host_environment_mismatch(nop, _result(None, CODE_BASE + 2),
                                       _result(1, CODE_BASE + 2)) is None


def test_fault_in_code_the_case_runs_from_the_scratch_area():
    """CALL into the scratch area, whose instruction there touches memory
    only the emulator maps: decoded from the host's final scratch area."""
    case = Case(mode=64, code=bytes.fromhex("ffd7"), regs={"rdi": DATA_BASE + 0x10, "rax": 0x1000})
    data = bytearray(0x10000)
    data[0x10:0x12] = bytes.fromhex("8b00")                          # mov eax, [rax]
    host = Result(regs={"rip": DATA_BASE + 0x10, "rax": 0x1000}, data=bytes(data), vector=-1)
    emu = Result(regs={"rip": DATA_BASE + 0x12, "rax": 0}, data=bytes(data), vector=None)
    assert C.host_environment_mismatch(case, host, emu) == \
        "host: access to memory only the emulator maps"
    host_at = Result(regs={"rip": DATA_BASE + 0x10, "rax": DATA_BASE}, data=bytes(data), vector=-1)
    assert C.host_environment_mismatch(case, host_at, emu) is None
