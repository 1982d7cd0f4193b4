"""Differential tests: emu.Machine against Unicorn on generated instruction
sequences (32- and 64-bit), with the SDM's undefined flags masked and
Unicorn's known deviations corrected (emu.fuzz.compare.KNOWN_UNICORN_BUGS).

A failure prints the case, both results' differences, a shrunk case and its
JSON (load it with emu.fuzz.compare.load_reproducer / Case.from_json).  Set
PVEMU_FUZZ_REPRO_DIR to also write reproducer files there.

Example counts are bounded so that the whole file runs in well under a
minute; the long campaign is `pvemu fuzz`.
"""
import os

import pytest

pytest.importorskip("unicorn")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from emu.fuzz import emu_oracle  # noqa: E402
from emu.fuzz.case import Case  # noqa: E402
from emu.fuzz.compare import comparable, compare, describe, save_reproducer, shrink  # noqa: E402
from emu.fuzz.flags import analyze  # noqa: E402
from emu.fuzz.strategies import cases, family_names, raw_cases  # noqa: E402
from emu.fuzz.unicorn_oracle import run_unicorn  # noqa: E402

if not emu_oracle.available():
    pytest.skip("emu._core is not built (python setup.py build_ext --inplace)",
                allow_module_level=True)

from emu.fuzz.emu_oracle import run_emu  # noqa: E402

HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# No hypothesis shrink phase: each step runs both engines, and hypothesis can
# spend minutes on it; emu.fuzz.compare.shrink minimises the failing case
# instead (in a second or two) and the report shows both.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate]


def _settings(n):
    return settings(max_examples=n, deadline=None, derandomize=True, suppress_health_check=HC,
                    database=None, phases=PHASES)


MAIN = _settings(400)
FAMILY = _settings(20)
RAW = _settings(150)


def _disagree(case: Case) -> list:
    u = run_unicorn(case)
    e = run_emu(case)
    if e.oracle_error:
        return [e.oracle_error]
    if u.oracle_error:
        return []
    return compare(case, u, e)


def _report(case: Case, diffs: list) -> str:
    small = shrink(case, lambda c: bool(_disagree(c)), max_tries=400)
    small_diffs = _disagree(small)
    repro = os.environ.get("PVEMU_FUZZ_REPRO_DIR")
    if repro:
        os.makedirs(repro, exist_ok=True)
        name = os.path.join(repro, f"diff-{abs(hash(small.to_json())):x}.json")
        save_reproducer(name, small, small_diffs, note="emu vs unicorn")
    return "\n".join(["emu and unicorn disagree:", describe(case), *diffs, "",
                      "shrunk:", describe(small), *small_diffs, "", small.to_json()])


def _final_example() -> bool:
    """True when hypothesis replays the final (shrunk) failing example: only
    then is our own (slower, more thorough) shrinker worth running."""
    try:
        from hypothesis.control import current_build_context
        return bool(current_build_context().is_final)
    except Exception:
        return True


def check_against_unicorn(case: Case):
    u = run_unicorn(case)
    e = run_emu(case)
    assert e.oracle_error is None, f"{e.oracle_error}\n{describe(case)}\n{case.to_json()}"
    if u.oracle_error:                      # Unicorn could not run it: nothing to compare
        return
    diffs = compare(case, u, e)
    if diffs:
        if _final_example():
            pytest.fail(_report(case, diffs), pytrace=False)
        raise AssertionError("\n".join(diffs))


# ---------------------------------------------------------------------------
# Random sequences from all families


@MAIN
@given(cases(32))
def test_random_sequences_32(case):
    check_against_unicorn(case)


@MAIN
@given(cases(64))
def test_random_sequences_64(case):
    check_against_unicorn(case)


# ---------------------------------------------------------------------------
# One family at a time (a failure names the family)


@pytest.mark.parametrize("family", family_names(32))
def test_family_32(family):
    @FAMILY
    @given(cases(32, min_insns=1, max_insns=4, families=[family]))
    def run(case):
        check_against_unicorn(case)
    run()


@pytest.mark.parametrize("family", family_names(64))
def test_family_64(family):
    @FAMILY
    @given(cases(64, min_insns=1, max_insns=4, families=[family]))
    def run(case):
        check_against_unicorn(case)
    run()


# ---------------------------------------------------------------------------
# Random bytes: the emulator must never crash; where every instruction is one
# of the general-purpose instructions both engines implement, they must agree.

_IMPLEMENTED_GAPS = {"?", "X87", "IN", "OUT", "INS", "OUTS", "CLI", "STI", "HLT", "CPUID",
                     "RDTSC", "MOV_SREG", "PUSH_SEG", "POP_SEG", "LES", "LDS", "BOUND", "ARPL",
                     "IRET", "RETF", "CALLF", "JMPF", "CALLF_M", "JMPF_M", "INT", "INT1", "INTO",
                     "FWAIT", "XABORT", "XBEGIN", "UD0", "UD1", "RET", "CALLN", "JMPN", "POPF",
                     "PUSHF", "SALC"}


def _general_purpose_only(case: Case) -> bool:
    fa = analyze(case.code, case.mode, case.regs)
    if not fa.complete or comparable(case, fa) is not None:
        return False
    return all(d.mnemonic not in _IMPLEMENTED_GAPS for d in fa.insns)


@pytest.mark.parametrize("mode", [32, 64])
def test_raw_bytes(mode):
    @RAW
    @given(raw_cases(mode, max_size=16))
    def run(case):
        e = run_emu(case)
        assert e.oracle_error is None, f"{e.oracle_error}\n{describe(case)}\n{case.to_json()}"
        if _general_purpose_only(case):
            check_against_unicorn(case)
    run()


# ---------------------------------------------------------------------------
# The self-oracle: the decode cache must not change anything


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=HC,
          database=None)
@given(cases(32) | cases(64))
def test_decode_cache_is_transparent(case):
    a = run_emu(case)
    b = run_emu(case, decode_cache=False)
    assert a.oracle_error is None and b.oracle_error is None
    diffs = compare(case, a, b, names=("cached", "uncached"))
    assert not diffs, "\n".join([describe(case), *diffs, case.to_json()])
