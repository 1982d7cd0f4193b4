"""pytest-benchmark benchmarks of the reference integer workload.

    pytest benchmarks/                       # 20 rounds (~15 M instructions) per run
    PVEMU_BENCH_ROUNDS=200 pytest benchmarks/ --benchmark-columns=median

Each benchmark times one complete run of the workload on a freshly loaded
engine (loading is not timed), asserts the checksum (not the time), and
records MIPS -- retired guest instructions / median seconds -- in
benchmark.extra_info.  Unicorn's instruction count is emu's for the same image
and rounds (the instruction stream is identical); without the emu core it is
counted on Unicorn with a block hook.
"""
import os

import pytest

from emu import bench

ROUNDS = int(os.environ.get("PVEMU_BENCH_ROUNDS", "20"))
REPEAT = int(os.environ.get("PVEMU_BENCH_REPEAT", "5"))
MODES = (32, 64)

_instructions = {}


def _expected(wl):
    """The native checksum if recorded, else what Unicorn or emu computes."""
    value = wl.expected(ROUNDS)
    if value is None:
        if bench.unicorn_available() is None:
            value = bench.run_unicorn(wl, ROUNDS).checksum
        else:
            value = bench.run_emu(wl, ROUNDS).checksum
    return value


def _instruction_count(wl):
    """emu's retired-instruction count for (mode, ROUNDS), or Unicorn's."""
    if wl.mode not in _instructions:
        if bench.emu_available() is None:
            _instructions[wl.mode] = bench.run_emu(wl, ROUNDS).instructions
        else:
            _instructions[wl.mode] = bench.estimate_instructions_unicorn(wl, ROUNDS)[0]
    return _instructions[wl.mode]


def _median_seconds(benchmark, result):
    stats = getattr(benchmark, "stats", None)
    try:
        return stats.stats.median
    except AttributeError:          # --benchmark-disable: no statistics
        return result.seconds


def _bench(benchmark, engine, wl, prepare, run):
    benchmark.group = "workload %d-bit, %d rounds" % (wl.mode, ROUNDS)
    result = benchmark.pedantic(
        lambda engine_obj: run(wl, ROUNDS, engine_obj),
        setup=lambda: ((prepare(wl, ROUNDS),), {}),
        rounds=REPEAT, iterations=1, warmup_rounds=0)
    assert result.checksum == _expected(wl)
    instructions = result.instructions or _instruction_count(wl)
    seconds = _median_seconds(benchmark, result)
    benchmark.extra_info.update({
        "engine": engine,
        "mode": wl.mode,
        "rounds": ROUNDS,
        "instructions": instructions,
        "checksum": "%#010x" % result.checksum,
        "mips": round(instructions / seconds / 1e6, 2),
    })


@pytest.mark.parametrize("mode", MODES)
def test_workload_emu(benchmark, mode):
    why = bench.emu_available()
    if why:
        pytest.fail(why)
    wl = bench.load_workload(mode)
    _bench(benchmark, "emu", wl, bench.prepare_emu,
           lambda wl, rounds, m: bench.run_emu(wl, rounds, machine=m))


@pytest.mark.parametrize("mode", MODES)
def test_workload_unicorn(benchmark, mode):
    why = bench.unicorn_available()
    if why:
        pytest.skip(why)
    wl = bench.load_workload(mode)
    _bench(benchmark, "unicorn", wl, bench.prepare_unicorn,
           lambda wl, rounds, uc: bench.run_unicorn(wl, rounds, uc=uc))
