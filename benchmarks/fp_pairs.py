"""The floating-point programs on emu and Unicorn in interleaved pairs, for
a loaded machine: each pair runs one image on both engines back to back and
times each run by the process's CPU time, so a change of load between the
engines' runs (which `pvemu bench`, running all of one engine's repeats
first, is exposed to) cancels out; the ratio reported is the median of the
pairs' ratios.

    PYTHONPATH=$PWD python benchmarks/fp_pairs.py [PAIRS [ROUNDS_FACTOR]]

PAIRS (default 7) pairs per image at ROUNDS_FACTOR (default 2) times the
image's quick rounds (about 4-10 M instructions).
"""
import math
import statistics
import sys
import time

from emu import bench, fpbench


def cpu_seconds(fn):
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def unicorn_run(wl, rounds, uc):
    try:
        bench.run_unicorn(wl, rounds, uc)
    except bench.BenchError:
        if wl.name not in fpbench.UNICORN_KNOWN_WRONG:   # (a known wrong checksum is timed anyway)
            raise


def main(pairs=7, factor=2):
    ratios = {}
    for wl in fpbench.load_fp():
        rounds = wl.quick_rounds * factor
        emu_s, uc_s = [], []
        for _ in range(pairs):
            m = bench.prepare_emu(wl, rounds)
            emu_s.append(cpu_seconds(lambda: bench.run_emu(wl, rounds, m)))
            uc = bench.prepare_unicorn(wl, rounds)
            uc_s.append(cpu_seconds(lambda: unicorn_run(wl, rounds, uc)))
        n = bench.run_emu(wl, rounds).instructions
        r = [u / e for e, u in zip(emu_s, uc_s)]
        ratios[wl.label] = statistics.median(r)
        print("%-20s emu %6.1f MIPS  unicorn %6.1f MIPS  %.2fx unicorn (pairs %.2f-%.2f)"
              % (wl.label, n / statistics.median(emu_s) / 1e6, n / statistics.median(uc_s) / 1e6,
                 ratios[wl.label], min(r), max(r)), flush=True)
    groups = {}
    for label, v in ratios.items():
        name, variant = label.split()
        groups.setdefault(fpbench.KINDS[name], []).append(v)
        groups.setdefault(variant, []).append(v)
    groups["all"] = list(ratios.values())
    for k, v in groups.items():
        print("geometric mean %-15s %.2fx unicorn" % (k, math.exp(sum(map(math.log, v)) / len(v))))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
