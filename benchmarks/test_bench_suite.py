"""pytest-benchmark benchmarks of the benchmark suite (guests/bench).

    pytest benchmarks/test_bench_suite.py                 # -O2 images, quick rounds
    PVEMU_SUITE_OPTS=O2,O3,Os PVEMU_SUITE_QUICK=0 pytest benchmarks/test_bench_suite.py

Each benchmark times one run of one image on a freshly loaded engine (loading
is not timed), asserts the checksum against the native one, and records MIPS
in benchmark.extra_info; the natively built program (gcc at the image's -O
level) is timed too when gcc is present.  The terminal summary shows per
mode the geometric means of emu's MIPS, the ratio to Unicorn and the slowdown
to native (conftest.py).
"""
import os
import tempfile

import imagebench
import pytest

from emu import bench

OPTS = tuple(os.environ.get("PVEMU_SUITE_OPTS", "O2").split(","))
QUICK = os.environ.get("PVEMU_SUITE_QUICK", "1") != "0"
REPEAT = int(os.environ.get("PVEMU_BENCH_REPEAT", "5"))
WORKLOADS = bench.load_suite(opts=OPTS)

#: (program, opt, mode or "host", engine) -> median seconds; instructions per image
SECONDS = {}
INSTRUCTIONS = {}


def _rounds(wl):
    return wl.quick_rounds if QUICK else wl.default_rounds


def _ids(wl):
    return "%s-%s-%d" % (wl.name, wl.opt, wl.mode)


def _bench(benchmark, engine, wl):
    rounds = _rounds(wl)
    benchmark.group = "suite %s -%s, %d rounds" % (wl.name, wl.opt, rounds)
    result, seconds = imagebench.time_image(benchmark, engine, wl, rounds, REPEAT)
    SECONDS[wl.name, wl.opt, wl.mode, engine] = seconds
    if result.instructions:
        INSTRUCTIONS[wl.name, wl.opt, wl.mode] = result.instructions
    insns = INSTRUCTIONS.get((wl.name, wl.opt, wl.mode))
    benchmark.extra_info.update({"engine": engine, "program": wl.name, "opt": wl.opt,
                                 "mode": wl.mode, "rounds": rounds, "instructions": insns,
                                 "mips": imagebench.mips(insns, seconds)})


@pytest.mark.parametrize("wl", WORKLOADS, ids=_ids)
def test_suite_emu(benchmark, wl):
    _bench(benchmark, "emu", wl)


@pytest.mark.parametrize("wl", WORKLOADS, ids=_ids)
def test_suite_unicorn(benchmark, wl):
    _bench(benchmark, "unicorn", wl)


@pytest.mark.parametrize("wl", [wl for wl in WORKLOADS if wl.mode == 64],
                         ids=lambda wl: "%s-%s" % (wl.name, wl.opt))
def test_suite_native(benchmark, wl):
    why = bench.native_unavailable(wl)
    if why:
        pytest.skip(why)
    rounds = _rounds(wl)
    benchmark.group = "suite %s -%s, %d rounds" % (wl.name, wl.opt, rounds)
    own = []                        # the program's own timing of the call, without the exec
    with tempfile.TemporaryDirectory() as tmp:
        prog = bench.build_native(tmp, wl=wl)
        benchmark.pedantic(lambda: own.extend(bench.run_native(prog, rounds, 1)),
                           rounds=REPEAT, iterations=1)
    assert all(r.checksum == wl.expected(rounds) for r in own)
    seconds = bench.statistics.median(r.seconds for r in own)
    SECONDS[wl.name, wl.opt, "host", "native"] = seconds
    benchmark.extra_info.update({"engine": "native", "program": wl.name, "opt": wl.opt,
                                 "rounds": rounds, "median_seconds": seconds})


def rows():
    """Per image benchmarked in this session: (program, opt, mode, emu MIPS,
    emu/Unicorn speed, emu/native time), None where not measured."""
    out = []
    for (name, opt, mode), insns in INSTRUCTIONS.items():
        emu = SECONDS.get((name, opt, mode, "emu"))
        if emu is None:
            continue
        uc = SECONDS.get((name, opt, mode, "unicorn"))
        native = SECONDS.get((name, opt, "host", "native"))
        out.append((name, opt, mode, insns / emu / 1e6, uc / emu if uc else None,
                    emu / native if native else None))
    return out


def geomeans():
    """Per mode: geometric means of emu MIPS, emu/Unicorn and emu/native
    seconds over the images benchmarked in this session."""
    out = {}
    for mode in (32, 64):
        keys = [k for k in INSTRUCTIONS if k[2] == mode and k + ("emu",) in SECONDS]
        if not keys:
            continue
        emu = {k: SECONDS[k + ("emu",)] for k in keys}
        out[mode] = {
            "mips": bench.geomean([INSTRUCTIONS[k] / emu[k] / 1e6 for k in keys]),
            "vs unicorn": bench.geomean([SECONDS[k + ("unicorn",)] / emu[k] for k in keys
                                          if k + ("unicorn",) in SECONDS]),
            "x slower than native": bench.geomean(
                [emu[k] / SECONDS[k[0], k[1], "host", "native"] for k in keys
                 if (k[0], k[1], "host", "native") in SECONDS]),
        }
    return out
