"""pytest-benchmark benchmarks of exits to the supervisor (paravirt.bench):

    pytest benchmarks/test_bench_paravirt.py --benchmark-columns=median

Each benchmark runs a guest loop of CALLS operations; extra_info holds the
microseconds per call.  Nothing here asserts a time (machines are noisy);
the guests check they finished.
"""
import os

import pytest

from paravirt import bench

CALLS = int(os.environ.get("PVEMU_BENCH_CALLS", "20000"))


def _record(benchmark, seconds):
    benchmark.extra_info["us_per_call"] = seconds / CALLS * 1e6


def test_hypercall_trivial_handler(benchmark):
    benchmark.group = "hypercall round trip"
    _record(benchmark, benchmark.pedantic(bench.time_trivial_hypercall, args=(CALLS,), rounds=5))


def test_hypercall_through_supervisor(benchmark):
    benchmark.group = "hypercall round trip"
    _record(benchmark, benchmark.pedantic(bench.time_pvemu, args=("null hypercall", CALLS, "paravirt"),
                                          rounds=5))


def test_unicorn_interrupt_hook(benchmark):
    pytest.importorskip("unicorn")
    benchmark.group = "hypercall round trip"
    _record(benchmark, benchmark.pedantic(bench.time_unicorn, args=("int", CALLS), rounds=5))


@pytest.mark.parametrize("how", ["paravirt", "trapped", "in-core"])
@pytest.mark.parametrize("op", ["cpuid", "irq off/on", "write cr3"])
def test_operation_three_ways(benchmark, op, how):
    benchmark.group = f"{op}: paravirt / trapped / in-core"
    _record(benchmark, benchmark.pedantic(bench.time_pvemu, args=(op, CALLS, how), rounds=3))


def test_two_domains_one_and_two_threads(benchmark):
    result = benchmark.pedantic(bench.aggregate_mips, args=(10,), rounds=1)
    benchmark.extra_info.update({k: v["mips"] for k, v in result.items()})


def test_pvbench_guest_counts(benchmark):
    """The pvbench guest's own counts per operation (instructions, exits),
    PV backend against the native one trapping."""
    rows = benchmark.pedantic(bench.pvbench, args=(64,), rounds=1)
    assert {(op, backend) for op, backend, *_ in rows} >= {("pte_batch", "pv"), ("pte", "native")}
    benchmark.extra_info.update({f"{op} {backend} exits/op": exits / iters
                                 for op, backend, iters, _, exits in rows})
