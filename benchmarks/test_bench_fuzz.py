"""pytest-benchmark benchmarks of fuzzing campaigns: cases per second of one
worker, per oracle and mode.

    pytest benchmarks/test_bench_fuzz.py --benchmark-columns=median
    PVEMU_FUZZ_BENCH_CASES=2000 pytest benchmarks/test_bench_fuzz.py

Each round runs one batch of fresh cases (:func:`emu.fuzz.campaign.run_batch`:
generation, the emulator, the oracle, comparison; no shrinking) in this
process -- one worker -- and records in ``benchmark.extra_info``:
``cases_per_second`` (cases / median seconds), ``cases_per_cpu_second`` (per
CPU second of this process: the host oracle's child process and Unicorn's
threads are not in it) and the time per case of each phase.  The target is
1,000 cases/s per core against the host CPU.  Generation alone is benchmarked
too (``test_generation``).
"""
import os
import time

import pytest

from emu.fuzz import campaign as C
from emu.fuzz import emu_oracle, unicorn_oracle

REPEAT = int(os.environ.get("PVEMU_FUZZ_BENCH_REPEAT", "3"))
CASES = {"host": 1000, "self": 500, "unicorn": 60}
if os.environ.get("PVEMU_FUZZ_BENCH_CASES"):
    CASES = {k: int(os.environ["PVEMU_FUZZ_BENCH_CASES"]) for k in CASES}
TARGET_HOST = 1000


def _skip_unless(oracle):
    if not emu_oracle.available():
        pytest.skip("emulator core not built")
    if oracle == "unicorn" and not unicorn_oracle.available():
        pytest.skip("unicorn not installed")
    if oracle == "host":
        from emu.fuzz.host import available
        ok, why = available(probe=True)
        if not ok:
            pytest.skip(f"host oracle unavailable: {why}")


@pytest.mark.parametrize("mode", (32, 64))
@pytest.mark.parametrize("oracle", ("host", "self", "unicorn"))
def test_campaign_rate(benchmark, oracle, mode):
    _skip_unless(oracle)
    n = CASES[oracle]
    config = C.CampaignConfig(oracle=oracle, modes=(mode,), seed=2024, batch_size=n,
                              shrink=False, max_reproducers=0)
    C.run_batch(config, 10_000, min(n, 50))      # warm up: strategies, host child
    state = {"batch": 0, "cpu": [], "results": []}

    def setup():
        state["batch"] += 1
        state["t"] = time.process_time()
        return (state["batch"],), {}

    def one(batch):
        r = C.run_batch(config, batch, n)
        state["cpu"].append(time.process_time() - state["t"])
        state["results"].append(r)
        return r

    benchmark.group = f"fuzz campaign, {mode}-bit"
    benchmark.pedantic(one, setup=setup, rounds=REPEAT, iterations=1, warmup_rounds=0)
    stats = getattr(benchmark, "stats", None)
    try:
        seconds = stats.stats.median
    except AttributeError:            # --benchmark-disable
        seconds = sum(r.seconds for r in state["results"]) / len(state["results"])
    cpu = sorted(state["cpu"])[len(state["cpu"]) // 2]
    res = C.merge(config, state["results"])
    per_case = {k: round(v / max(1, res.cases) * 1e6, 1) for k, v in res.phases.items()}
    benchmark.extra_info.update({
        "oracle": oracle,
        "mode": mode,
        "cases": n,
        "cases_per_second": round(n / seconds, 1),
        "cases_per_cpu_second": round(n / cpu, 1) if cpu else None,
        "us_per_case": per_case,
        "compared": res.compared,
        "divergences": res.n_divergences,
        "oracle_failures": res.n_oracle_failures,
        "target_cases_per_second": TARGET_HOST if oracle == "host" else None,
    })
    assert res.cases == n * REPEAT


@pytest.mark.parametrize("mode", (32, 64))
def test_generation(benchmark, mode):
    config = C.CampaignConfig(oracle="self", modes=(mode,), seed=7)
    n = 500
    state = {"first": 0}

    def gen():
        first = state["first"]
        state["first"] += n
        return [C.make_case(config, i) for i in range(first, first + n)]

    benchmark.group = "fuzz case generation"
    cases = benchmark.pedantic(gen, rounds=REPEAT, iterations=1, warmup_rounds=1)
    assert len(cases) == n and all(c is not None for c in cases)
    stats = getattr(benchmark, "stats", None)
    try:
        benchmark.extra_info["cases_per_second"] = round(n / stats.stats.median, 1)
    except AttributeError:
        pass
    benchmark.extra_info["mode"] = mode
