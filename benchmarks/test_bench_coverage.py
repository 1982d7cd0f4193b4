"""Edge coverage cost: the reference integer workload with and without the
AFL-layout edge map (target: at least 70% of the uninstrumented speed).

    pytest benchmarks/test_bench_coverage.py --benchmark-columns=median
    python benchmarks/test_bench_coverage.py
"""
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emu import bench  # noqa: E402

ROUNDS = 20


def _run(covered, wl):
    """One timed run (run_emu times run() only), with the map on or off."""
    m = bench.prepare_emu(wl, ROUNDS)
    if covered:
        m.coverage_start()
    return bench.run_emu(wl, ROUNDS, m)


@pytest.mark.parametrize("covered", [False, True], ids=["plain", "coverage"])
def test_coverage_cost(benchmark, covered):
    wl = bench.load_workload(32)
    benchmark.group = "edge coverage"
    result = benchmark.pedantic(_run, args=(covered, wl), rounds=5, iterations=1)
    assert wl.expected(ROUNDS) in (None, result.checksum)


if __name__ == "__main__":
    wl = bench.load_workload(32)
    med = {covered: statistics.median(_run(covered, wl).seconds for _ in range(5))
           for covered in (False, True)}
    print(f"plain {med[False]:.4f} s, coverage {med[True]:.4f} s: "
          f"{med[False] / med[True]:.0%} of the uninstrumented speed")
