"""One bundled image timed on emu or Unicorn with pytest-benchmark: the
part test_bench_suite.py and test_bench_fp.py share."""
import pytest

from emu import bench


def _run_emu(wl, rounds, m):
    return bench.run_emu(wl, rounds, machine=m)


def _run_unicorn(wl, rounds, uc):
    return bench.run_unicorn(wl, rounds, uc=uc)


#: engine -> (why it cannot run, what to do then, load an image, run it)
ENGINES = {"emu": (bench.emu_available, pytest.fail, bench.prepare_emu, _run_emu),
           "unicorn": (bench.unicorn_available, pytest.skip, bench.prepare_unicorn, _run_unicorn)}


def time_image(benchmark, engine, wl, rounds, repeat):
    """Time `repeat` runs of `wl` (`rounds` rounds) on `engine`, each on a
    freshly loaded one (loading is not timed); assert the checksum against
    the native one.  Returns (the last result, the median seconds)."""
    available, otherwise, prepare, run = ENGINES[engine]
    why = available()
    if why:
        otherwise(why)
    result = benchmark.pedantic(lambda obj: run(wl, rounds, obj),
                                setup=lambda: ((prepare(wl, rounds),), {}),
                                rounds=repeat, iterations=1, warmup_rounds=0)
    assert result.checksum == wl.expected(rounds)
    try:
        seconds = benchmark.stats.stats.median
    except AttributeError:          # --benchmark-disable: no statistics
        seconds = result.seconds
    return result, seconds


def mips(instructions, seconds):
    return round(instructions / seconds / 1e6, 2) if instructions else None
