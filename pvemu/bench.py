"""`pvemu bench`: the reference workload and the benchmark suite (emu.bench)
and the supervisor's exit costs and aggregate MIPS (paravirt.bench), as
the command line asks."""
from __future__ import annotations

import json
import os
import sys
from typing import Callable, List, Optional

from emu.bench import (DEFAULT_REPEAT, DEFAULT_ROUNDS, ENGINES, QUICK_REPEAT, QUICK_ROUNDS, SUITE_OPTS,
                       BenchError, benchmark, format_suite, format_table, suite)
from paravirt import bench as pvbench

DESCRIPTION = "Benchmark the emulator against Unicorn and the host CPU (see emu/bench.py)."


def _progress_printer(stream=None) -> Callable[[str], None]:
    stream = stream or sys.stderr

    def progress(msg: str) -> None:
        print("bench: " + msg, file=stream, flush=True)
    return progress


def add_arguments(parser) -> None:
    """Add the bench options to an argparse parser (or subparser)."""
    parser.add_argument("--quick", action="store_true",
                        help="a short run (%d workload rounds, the suite's quick rounds, %d "
                             "repeats unless given)" % (QUICK_ROUNDS, QUICK_REPEAT))
    parser.add_argument("--mode", choices=("32", "64", "both"), default="both",
                        help="guest mode(s) to run (default: both)")
    parser.add_argument("--rounds", type=int, default=None, metavar="N",
                        help="workload rounds per run (default %d, ~0.74 M "
                             "instructions a round)" % DEFAULT_ROUNDS)
    parser.add_argument("--repeat", type=int, default=None, metavar="N",
                        help="timed runs per engine; the median is reported "
                             "(default %d)" % DEFAULT_REPEAT)
    parser.add_argument("--engines", default=",".join(ENGINES), metavar="LIST",
                        help="comma-separated subset of %s (default: all)"
                             % ",".join(ENGINES))
    parser.add_argument("--programs", default=None, metavar="LIST",
                        help="suite: comma-separated programs to run (default: all of "
                             "emu/images/bench/bench.json)")
    parser.add_argument("--opts", default="O2", metavar="LIST",
                        help="suite: comma-separated optimization levels of the images, of %s "
                             "(default: O2)" % ",".join(SUITE_OPTS))
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON on stdout")
    parser.add_argument("--sections", default=",".join(SECTIONS), metavar="LIST",
                        help="comma-separated subset of %s: the reference workload against "
                             "Unicorn and native, the benchmark suite (guests/bench) likewise, "
                             "exits to the supervisor (hypercall round trip, one operation "
                             "paravirtualized / trapped / in-core), two domains on one and two "
                             "threads, the floating-point and SIMD programs (guests/fp, "
                             "emu.fpbench; --mode picks their variants' widths) likewise "
                             "(default: all)" % ",".join(SECTIONS))


SECTIONS = ("workload", "suite", "exits", "aggregate", "fp")

#: A 1-minute load average from this up (before pvemu bench starts) means
#: other work shares the CPUs: a scaling figure would mislead.
BUSY_LOAD = 0.5


def machine_load() -> dict:
    """The load average now and how many other threads are runnable."""
    load1 = os.getloadavg()[0]
    running = 0
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0]) - 1    # not counting us
    except (OSError, ValueError, IndexError):
        pass
    return {"load1": load1, "others_running": running, "cpus": os.cpu_count() or 1}


def busy_note(before: dict, now: dict) -> Optional[str]:
    """Why the machine was not idle (from machine_load() at the start and
    just before the two-thread run), or None."""
    if before["load1"] < BUSY_LOAD and now["others_running"] < 1:
        return None
    return ("machine not idle (load average %.2f at start, %d other threads runnable, "
            "%d CPUs): two-thread scaling not measurable now"
            % (before["load1"], now["others_running"], now["cpus"]))


def _paravirt_sections(sections, quick: bool, progress, load_at_start: dict) -> dict:
    """The supervisor benchmarks (paravirt.bench) asked for."""
    out = {}
    if "exits" in sections:
        out["exits"] = pvbench.exit_costs(20_000 if quick else 100_000, 3 if quick else 5, progress)
        progress("exits: the pvbench guest's counts")
        out["pvbench"] = pvbench.pvbench(64)
    if "aggregate" in sections:
        note = busy_note(load_at_start, machine_load())
        out["aggregate"] = pvbench.aggregate_mips(100 if quick else 400, progress)
        out["aggregate"]["not_idle"] = note
    return out


def _list(text: Optional[str]) -> List[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def run(args) -> int:
    """Run the benchmark from parsed arguments; 0 if every checksum was right."""
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown or not sections:
        print("pvemu bench: error: unknown sections %s (known: %s)"
              % (", ".join(sorted(unknown)) or "(none given)", ", ".join(SECTIONS)), file=sys.stderr)
        return 2
    rounds = args.rounds if args.rounds is not None else \
        (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    repeat = args.repeat if args.repeat is not None else \
        (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    modes = (32, 64) if args.mode == "both" else (int(args.mode),)
    engines = _list(args.engines)
    load = machine_load()
    report = {"ok": True}
    try:
        if "workload" in sections:
            report = benchmark(modes=modes, rounds=rounds, repeat=repeat, engines=engines,
                               progress=_progress_printer())
        report["load"] = load
        if "suite" in sections:
            report["suite"] = suite(programs=_list(args.programs) or None, opts=_list(args.opts),
                                    modes=modes, repeat=repeat, engines=engines,
                                    quick=args.quick, progress=_progress_printer())
            report["suite"]["load"] = load["load1"]
            report["ok"] = report["ok"] and report["suite"]["ok"]
        report.update(_paravirt_sections(sections, args.quick, _progress_printer(), load))
        if "fp" in sections:
            from emu import fpbench
            report["fp"] = fpbench.fp_suite(modes=modes, repeat=repeat, engines=engines,
                                            quick=args.quick, progress=_progress_printer())
            report["fp"]["load"] = load["load1"]
            report["ok"] = report["ok"] and report["fp"]["ok"]
    except (ValueError, OSError, BenchError, RuntimeError) as e:
        print("pvemu bench: error: %s" % e, file=sys.stderr)
        return 2
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        parts = [format_table(report)] if "workload" in sections else []
        if "suite" in report:
            parts.append(format_suite(report["suite"]))
        if "exits" in report:
            parts.append(pvbench.format_exit_costs(report["exits"]))
            parts.append(pvbench.format_pvbench(report["pvbench"], 64))
        if "aggregate" in report:
            parts.append(pvbench.format_aggregate(report["aggregate"]))
        if "fp" in report:
            from emu import fpbench
            parts.append(fpbench.format_fp(report["fp"]))
        print("\n\n".join(parts))
    return 0 if report["ok"] else 1
