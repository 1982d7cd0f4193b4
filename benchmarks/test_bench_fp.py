"""pytest-benchmark benchmarks of the floating-point and SIMD programs (guests/fp).

    pytest benchmarks/test_bench_fp.py                    # quick rounds
    PVEMU_FP_QUICK=0 pytest benchmarks/test_bench_fp.py   # default rounds

Each benchmark times one run of one image (x86-64 -msse4.2, i386 -msse4.2
-mfpmath=sse, i386 -mfpmath=387) on a freshly loaded engine (loading is not
timed), asserts the checksum against the native one and records MIPS in
benchmark.extra_info; both engines of an image share a group, so the table
pytest-benchmark prints compares emu and Unicorn side by side.  The same
figures with the native program and geometric means per kind of work:
``pvemu bench --sections fp``.
"""
import os

import pytest

from emu import bench, fpbench

QUICK = os.environ.get("PVEMU_FP_QUICK", "1") != "0"
REPEAT = int(os.environ.get("PVEMU_BENCH_REPEAT", "5"))
WORKLOADS = fpbench.load_fp()
INSTRUCTIONS = {}


def _bench(benchmark, engine, wl, prepare, run):
    rounds = wl.quick_rounds if QUICK else wl.default_rounds
    benchmark.group = "fp %s %s, %d rounds" % (wl.name, wl.opt, rounds)
    result = benchmark.pedantic(lambda obj: run(wl, rounds, obj),
                                setup=lambda: ((prepare(wl, rounds),), {}),
                                rounds=REPEAT, iterations=1, warmup_rounds=0)
    assert result.checksum == wl.expected(rounds)
    if result.instructions:
        INSTRUCTIONS[wl.name, wl.opt] = result.instructions
    insns = INSTRUCTIONS.get((wl.name, wl.opt))
    stats = getattr(benchmark, "stats", None)
    seconds = stats.stats.median if stats is not None else result.seconds
    benchmark.extra_info.update({"engine": engine, "program": wl.name, "variant": wl.opt,
                                 "rounds": rounds, "instructions": insns,
                                 "mips": round(insns / seconds / 1e6, 2) if insns else None})


@pytest.mark.parametrize("wl", WORKLOADS, ids=lambda wl: "%s-%s" % (wl.name, wl.opt))
def test_fp_emu(benchmark, wl):
    why = bench.emu_available()
    if why:
        pytest.fail(why)
    _bench(benchmark, "emu", wl, bench.prepare_emu,
           lambda wl, rounds, m: bench.run_emu(wl, rounds, machine=m))


@pytest.mark.parametrize("wl", WORKLOADS, ids=lambda wl: "%s-%s" % (wl.name, wl.opt))
def test_fp_unicorn(benchmark, wl):
    why = bench.unicorn_available()
    if why:
        pytest.skip(why)
    _bench(benchmark, "unicorn", wl, bench.prepare_unicorn,
           lambda wl, rounds, uc: bench.run_unicorn(wl, rounds, uc=uc))
