"""Unicorn's x87 and SSE deviations from the Intel SDM, by class.

Found by x87/SSE campaigns against Unicorn (``pvemu fuzz --oracle unicorn
--families x87,sse_fp,simd_int``) and refereed by the host CPU: in every
sampled divergence the host agreed with pvemu bit for bit (README "Known
oracle differences").  Unicorn cannot be corrected into the SDM's result for
these (that would need an x87/SSE model beside pvemu's), so a divergence of
one of these classes is *explained* -- counted by class, not reported -- and
the host oracle is the referee for floating point.  Each class matches only
its own pattern (tests/test_fuzz_unicorn_fp.py); anything else stays a
divergence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .case import CODE_BASE, Case, Result
from .insn import decode, effective_address

_X87_FIELDS = ("fsw", "ftw", "st")


@dataclass(frozen=True)
class FPClass:
    name: str
    sdm: str
    unicorn: str
    matches: Callable        #: (case, unicorn Result, emu Result, diff lines) -> bool


def _field(line: str) -> str:
    return line.split(":", 1)[0].split("[", 1)[0].rstrip("0123456789")


def _no_fp_exception(case: Case, uc: Result, emu: Result, diffs) -> bool:
    return emu.vector in (16, 19) and uc.vector != emu.vector


def _misaligned_sse(case: Case, uc: Result, emu: Result, diffs) -> bool:
    if emu.vector != 13 or uc.vector == 13:
        return False
    pc = emu.regs.get("rip" if case.mode == 64 else "eip")
    off = (pc or 0) - CODE_BASE
    if not 0 <= off < len(case.code):
        return False
    d = decode(case.code + bytes(16), off, case.mode)
    if d is None or d.map not in (1, 2, 3) or not d.is_mem:
        return False
    ea = effective_address(d, dict(emu.regs, rip=pc), case.mode)
    return ea is not None and ea % 16 != 0


def _x87_state(case: Case, uc: Result, emu: Result, diffs) -> bool:
    # (EFLAGS: FCOMI's OF/SF/AF; MXCSR: an SSE instruction of the same case)
    return (case.fpu is not None and uc.vector == emu.vector and bool(diffs)
            and all(_field(x) in _X87_FIELDS + ("fcw", "eflags", "mxcsr") for x in diffs)
            and any(_field(x) in _X87_FIELDS + ("fcw",) for x in diffs))


def _unimplemented(case: Case, uc: Result, emu: Result, diffs) -> bool:
    return case.fpu is not None and uc.vector == 6 and emu.vector != 6


def _mxcsr_flags(case: Case, uc: Result, emu: Result, diffs) -> bool:
    return (case.fpu is not None and uc.vector == emu.vector and bool(diffs)
            and all(_field(x) == "mxcsr" for x in diffs))


CLASSES = (
    FPClass("no #MF/#XM",
            "an unmasked x87 exception raises #MF at the next waiting x87 instruction "
            "(CR0.NE=1), an unmasked SIMD exception #XM (CR4.OSXMMEXCPT=1) (Vol. 1 8.7, 11.5)",
            "sets the exception flags but raises neither, and runs on",
            _no_fp_exception),
    FPClass("misaligned SSE operand",
            "a legacy-SSE 16-byte memory operand that must be aligned (MOVAPS, ADDPS m128, "
            "PUNPCKLDQ xmm, m128...) raises #GP(0) when it is not (Vol. 1 11.6.7)",
            "accesses it without a fault",
            _misaligned_sse),
    FPClass("x87 status, tags and registers",
            "stack overflow/underflow set IE and SF, write the indefinite and mark the tags; "
            "C1 reports rounding; precision control rounds the basic operations; "
            "unsupported encodings are invalid operands (Vol. 1 8.1-8.5)",
            "QEMU's x87 ignores stack faults (no IE/SF, empty tags stay empty), leaves C1, "
            "differs in results of constants, precision control, special encodings and "
            "FBSTP, reads FCW bit 6 as 0 after FLDENV, keeps OF in FCOMI",
            _x87_state),
    FPClass("#UD for an implemented encoding",
            "CLFLUSHOPT (CPUID.7:EBX[23]) and the legacy CMPPS/PD/SS/SD with imm8 >= 8 (bits "
            "7:3 ignored) execute (Vol. 2A CLFLUSHOPT, CMPPS)",
            "its CPU model raises #UD for them",
            _unimplemented),
    FPClass("MXCSR exception flags",
            "DE for denormal operands (also under DAZ: no), IE for invalid operations, PE, UE "
            "and OE as the SDM's tables say (Vol. 1 11.5.2)",
            "sets different flags (DE, IE of SQRT on negative denormals...)",
            _mxcsr_flags),
)


def explain(case: Case, uc: Result, emu: Result, diffs):
    """The FPClass that explains a Unicorn/pvemu divergence, or None."""
    for c in CLASSES:
        if c.matches(case, uc, emu, diffs):
            return c
    return None
