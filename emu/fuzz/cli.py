"""Differential fuzzing of the emulator against the host CPU, Unicorn or itself.

``pvemu fuzz`` runs a campaign; ``pvemu fuzz replay`` re-runs the reproducers
it writes::

    pvemu fuzz [--oracle host|unicorn|self] [--mode 32|64|both]
               [--seconds N | --cases N] [--seed S] [--workers N]
               [--scheduler tcp://HOST:PORT] [--opcodes RANGES] [--out DIR] ...
    pvemu fuzz replay FILE... [--oracle host|unicorn|self]

See :mod:`emu.fuzz.campaign` for what a campaign does.  Exit status: 0 when
no divergence was found (replay: the engines agree), 1 when one was (replay:
they still differ), 2 for a usage error or an oracle that cannot run, 130
when interrupted.

The CLI registers this with :func:`add_arguments` / :func:`run` (as
``emu.bench`` does); ``python -m emu.fuzz.cli`` runs it stand-alone.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time

from .campaign import (ORACLES, CampaignConfig, CampaignError, check_config, check_oracle,
                       format_summary, parse_opcode_ranges, run_campaign)

DEFAULT_SECONDS = 60
DEFAULT_OUT = "fuzz-findings"


def add_arguments(parser) -> None:
    """Add the fuzz options (and the ``replay`` subcommand) to a parser."""
    parser.add_argument("--oracle", choices=ORACLES, default=None,
                        help="what to compare the emulator with: the host CPU, Unicorn, or the "
                             "emulator without its decode cache (default: host when available, "
                             "else unicorn when installed, else self)")
    parser.add_argument("--mode", choices=("32", "64", "both"), default="both",
                        help="guest mode(s) of the cases (default: both, alternating)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--seconds", type=float, default=None, metavar="N",
                      help=f"run for about N seconds (default {DEFAULT_SECONDS})")
    size.add_argument("--cases", type=int, default=None, metavar="N",
                      help="run exactly N cases (the same N cases for the same seed, "
                           "whatever --workers/--scheduler)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="campaign seed (default: a random one, printed)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="local worker processes (default 1: this process)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="run the batches on this Dask scheduler's workers instead")
    parser.add_argument("--opcodes", default=None, metavar="RANGES",
                        help="steer the generator to instruction families with an opcode in "
                             "these ranges, e.g. 00-3f,0f80-0f8f (0Fxx: two-byte map, "
                             "0F38xx: three-byte)")
    parser.add_argument("--families", default=None, metavar="NAMES",
                        help="draw only from these instruction families (comma-separated, "
                             "e.g. x87,sse_fp,simd_int: the FP ones, which carry a random "
                             "x87/SSE state; see emu/fuzz/strategies.py FAMILIES)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"directory for reproducer files (default ./{DEFAULT_OUT})")
    parser.add_argument("--raw", type=int, default=0, metavar="PERCENT",
                        help="share of cases made of random bytes instead of structured "
                             "instructions (default 0)")
    parser.add_argument("--max-reproducers", type=int, default=3, metavar="N",
                        help="reproducers kept per instruction and mode (default 3)")
    parser.add_argument("--no-shrink", action="store_true",
                        help="write divergent cases as generated, without shrinking them")
    parser.add_argument("--check-outside", action="store_true",
                        help="also compare the memory below the scratch area (self/unicorn "
                             "oracles; hashes 2 MiB per run, several times slower)")
    parser.add_argument("--batch-size", type=int, default=0, metavar="N",
                        help="cases per unit of work (default: 250 host, 100 self, 20 unicorn)")
    parser.add_argument("--json", default=None, metavar="FILE",
                        help="also write the summary as JSON to FILE ('-': stdout)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")

    sub = parser.add_subparsers(dest="fuzz_command", metavar="{replay}",
                                title="subcommands")
    r = sub.add_parser("replay", help="re-run reproducer files on both engines",
                       description="Re-run reproducer files (written by pvemu fuzz) on the "
                                   "emulator and an oracle and print the differences; exit "
                                   "status 1 if any still differs.")
    r.add_argument("files", nargs="+", metavar="FILE")
    r.add_argument("--oracle", dest="replay_oracle", choices=ORACLES, default=None,
                   help="oracle to replay against (default: the one recorded in the file, "
                        "else as for pvemu fuzz)")
    r.add_argument("--check-outside", dest="replay_check_outside", action="store_true",
                   help="also compare memory below the scratch area")


def _error(msg: str) -> int:
    print(f"pvemu fuzz: error: {msg}", file=sys.stderr)
    return 2


def default_oracle() -> str:
    """host when it can run here, else unicorn when installed, else self."""
    try:
        from .host import available
        if available(probe=True)[0]:
            return "host"
    except Exception:
        pass
    from . import unicorn_oracle
    return "unicorn" if unicorn_oracle.available() else "self"


class _StatusLine:
    """A live status line on stderr: rewritten in place on a terminal, a
    line every 10 s otherwise."""

    def __init__(self, stream=None, enabled=True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = 0.0
        self.width = 0

    def __call__(self, st: dict):
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        s = st["seconds"]
        rate = st["cases"] / s if s else 0.0
        text = (f"[{s:6.1f}s] {st['cases']:,} cases  {rate:,.0f}/s  divergences "
                f"{st['divergences']:,}  oracle failures {st['oracle_failures']:,}")
        if st.get("shrinking"):
            done, total = st["shrinking"]
            text += f"  shrinking {done}/{total}"
        if self.tty:
            self.stream.write("\r" + text.ljust(self.width))
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def run(args) -> int:
    """Run `pvemu fuzz` (or `pvemu fuzz replay`) from parsed arguments."""
    if getattr(args, "fuzz_command", None) == "replay":
        return replay_files(args.files, oracle=args.replay_oracle,
                            digest=args.replay_check_outside)
    try:
        ranges = parse_opcode_ranges(args.opcodes) if args.opcodes is not None else ()
        if args.workers < 1:
            raise CampaignError("--workers must be at least 1")
        if args.cases is not None and args.cases < 0:
            raise CampaignError("--cases must not be negative")
        if args.seconds is not None and args.seconds <= 0:
            raise CampaignError("--seconds must be positive")
        if args.batch_size < 0:
            raise CampaignError("--batch-size must not be negative")
        if args.max_reproducers < 0:
            raise CampaignError("--max-reproducers must not be negative")
        if args.scheduler is not None and args.workers != 1:
            raise CampaignError("give either --workers or --scheduler, not both")
        oracle = args.oracle or default_oracle()
        seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
        modes = (32, 64) if args.mode == "both" else (int(args.mode),)
        config = CampaignConfig(oracle=oracle, modes=modes, seed=seed, opcode_ranges=ranges,
                                raw_percent=args.raw, batch_size=args.batch_size,
                                shrink=not args.no_shrink,
                                max_reproducers=args.max_reproducers,
                                digest=args.check_outside,
                                families=tuple(f for f in (args.families or "").split(",") if f))
        check_config(config)
        check_oracle(oracle)
    except CampaignError as e:
        return _error(str(e))
    seconds = args.seconds
    if args.cases is None and seconds is None:
        seconds = DEFAULT_SECONDS
    status = _StatusLine(enabled=not args.quiet)
    if not args.quiet:
        where = (f"on {args.scheduler}" if args.scheduler else
                 f"{args.workers} worker{'s' if args.workers != 1 else ''}")
        size = f"{args.cases:,} cases" if args.cases is not None else f"{seconds:g} s"
        print(f"pvemu fuzz: oracle {oracle}, mode {args.mode}, seed {seed}, {size}, {where}",
              file=sys.stderr)
    try:
        result = run_campaign(config, cases=args.cases, seconds=seconds, workers=args.workers,
                              scheduler=args.scheduler, out_dir=args.out, progress=status)
    except CampaignError as e:
        status.close()
        return _error(str(e))
    status.close()
    print(format_summary(result))
    if args.json:
        text = json.dumps(result.to_dict(), indent=1)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    if result.interrupted:
        return 130
    return 1 if (result.n_divergences or result.emu_errors) else 0


def replay_files(files, oracle=None, digest=False, stream=None) -> int:
    """Re-run reproducer files; print what the engines do.  Returns 1 if any
    still differs, 2 if one could not be run, else 0."""
    from .campaign import replay
    from .compare import describe
    from .case import Case
    out = stream or sys.stdout
    status = 0
    for path in files:
        try:
            with open(path) as f:
                d = json.load(f)
            case = Case.from_json(json.dumps(d))
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"pvemu fuzz replay: error: {path}: cannot read a reproducer ({e})",
                  file=sys.stderr)
            status = max(status, 2)
            continue
        use = oracle or d.get("oracle") or default_oracle()
        try:
            outcome, detail, emu, ref = replay(case, use, digest=digest)
        except CampaignError as e:
            print(f"pvemu fuzz replay: error: {path}: {e}", file=sys.stderr)
            status = max(status, 2)
            continue
        print(f"{path}  (oracle {use})", file=out)
        for line in describe(case).splitlines():
            print(f"  {line}", file=out)
        if outcome in ("divergence", "emu-error"):
            print(f"  STILL DIFFERS ({outcome}):", file=out)
            for line in detail:
                print(f"    {line}", file=out)
            status = max(status, 1)
        elif outcome == "agree":
            print("  the engines agree now", file=out)
        elif outcome == "oracle-failure":
            print(f"  the oracle could not run it: {detail}", file=out)
            status = max(status, 2)
        else:
            print(f"  not compared ({outcome}): {detail}", file=out)
    return status


def main(argv=None) -> int:
    """Stand-alone entry point: python -m emu.fuzz.cli [options]."""
    parser = argparse.ArgumentParser(prog="pvemu fuzz",
                                     description=__doc__.strip().split("\n")[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except KeyboardInterrupt:
        print("pvemu fuzz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
