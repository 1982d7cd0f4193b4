"""The `pvemu` command (also `python -m pvemu`, and `python -m emu` through
emu/__main__.py): one subparser per subcommand, each from the module that
implements it."""
from __future__ import annotations

import argparse
import sys

from emu import __version__
from emu.errors import EmuError
from pvemu import options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pvemu",
        description="pvemu: an instruction-level i386/x86-64 emulator with a Cython hot loop.")
    parser.add_argument("--version", action="version", version=f"pvemu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from emu import guests, kut
    from emu.fuzz import cli as fuzz
    from pvemu import bench, receive, run, session, supervised

    def add(name, module, add_arguments, func, rules, help, description=None):
        p = sub.add_parser(name, help=help, description=description or module.__doc__.strip().split("\n")[0])
        if add_arguments is not None:
            add_arguments(p)
        p.set_defaults(func=func, rules=rules)
        return p

    add("run", run, run.add_arguments, run.run, options.RUN,
        "boot a kernel (Multiboot, ELF or flat) with its serial console",
        "Boot a kernel as QEMU's -kernel does; the exit status is the guest's (isa-debug-exit) "
        "or says why it stopped.")
    add("restore", session, session.add_restore_arguments, session.restore, options.RESTORE,
        "continue a machine (or a domain) saved with --save",
        "Load a save file and run on from where it was saved, with the options of `run` "
        "(--serial, --max-instructions, --gdb, ...).")
    add("guests", guests, None, guests.list_guests, options.ONE_WAY, "list the bundled guest kernels",
        "List the bundled guest kernels and what each shows.")
    add("up", supervised, supervised.add_up_arguments, supervised.up, options.ONE_WAY,
        "run guest domains under the supervisor from a TOML file",
        "Boot the [[domain]] entries of a TOML file under the supervisor (see paravirt/config.py "
        "for the format).")
    add("receive", receive, receive.add_receive_arguments, receive.receive_main, options.ONE_WAY,
        "take in domains live-migrated from another supervisor",
        "Listen for domains that `migrate NAME HOST:PORT` (on --control or in a `pvemu up` file) "
        "moves here, and run them to the end.")
    add("bench", bench, bench.add_arguments, bench.run, options.BENCH,
        "benchmark the emulator against Unicorn and the host CPU", bench.DESCRIPTION)
    add("kut", kut, kut.add_arguments, kut.run, options.ONE_WAY,
        "run kvm-unit-tests and compare with QEMU's results")
    p = add("fuzz", fuzz, fuzz.add_arguments, fuzz.run, options.FUZZ,
            "differential fuzzing against the host CPU, Unicorn or itself")
    sub_parser(p, "replay").set_defaults(rules=options.ONE_WAY)      # writes nothing
    return parser


def sub_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    return parser._subparsers._group_actions[0].choices[command]


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        options.check(args.rules, sub_parser(parser, args.command), args)
    except EmuError as e:
        print(f"pvemu {args.command}: {e}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("pvemu: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
