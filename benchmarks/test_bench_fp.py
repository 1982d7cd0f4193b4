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

import imagebench
import pytest

from emu import fpbench

QUICK = os.environ.get("PVEMU_FP_QUICK", "1") != "0"
REPEAT = int(os.environ.get("PVEMU_BENCH_REPEAT", "5"))
WORKLOADS = fpbench.load_fp()
INSTRUCTIONS = {}


def _bench(benchmark, engine, wl):
    rounds = wl.quick_rounds if QUICK else wl.default_rounds
    benchmark.group = "fp %s %s, %d rounds" % (wl.name, wl.opt, rounds)
    result, seconds = imagebench.time_image(benchmark, engine, wl, rounds, REPEAT)
    if result.instructions:
        INSTRUCTIONS[wl.name, wl.opt] = result.instructions
    insns = INSTRUCTIONS.get((wl.name, wl.opt))
    benchmark.extra_info.update({"engine": engine, "program": wl.name, "variant": wl.opt,
                                 "rounds": rounds, "instructions": insns,
                                 "mips": imagebench.mips(insns, seconds)})


@pytest.mark.parametrize("wl", WORKLOADS, ids=lambda wl: "%s-%s" % (wl.name, wl.opt))
def test_fp_emu(benchmark, wl):
    _bench(benchmark, "emu", wl)


@pytest.mark.parametrize("wl", WORKLOADS, ids=lambda wl: "%s-%s" % (wl.name, wl.opt))
def test_fp_unicorn(benchmark, wl):
    _bench(benchmark, "unicorn", wl)
