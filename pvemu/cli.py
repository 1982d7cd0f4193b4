"""The `pvemu` command (also `python -m pvemu`, and `python -m emu` through
emu/__main__.py): one subparser per subcommand, each from the module that
implements it."""
from __future__ import annotations

import argparse
import sys

from emu import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pvemu",
        description="pvemu: an instruction-level i386/x86-64 emulator with a Cython hot loop.")
    parser.add_argument("--version", action="version", version=f"pvemu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from pvemu import bench, run
    p = sub.add_parser("run", help="boot a kernel (Multiboot, ELF or flat) with its serial console",
                       description="Boot a kernel as QEMU's -kernel does; the exit status is the "
                                   "guest's (isa-debug-exit) or says why it stopped.")
    run.add_arguments(p)
    p.set_defaults(func=run.run)

    from pvemu import session
    p = sub.add_parser("restore", help="continue a machine (or a domain) saved with --save",
                       description="Load a save file and run on from where it was saved, with the "
                                   "options of `run` (--serial, --max-instructions, --gdb, ...).")
    session.add_restore_arguments(p)
    p.set_defaults(func=session.restore)

    from emu import guests
    p = sub.add_parser("guests", help="list the bundled guest kernels",
                       description="List the bundled guest kernels and what each shows.")
    p.set_defaults(func=guests.list_guests)

    from pvemu import supervised as pv
    p = sub.add_parser("up", help="run guest domains under the supervisor from a TOML file",
                       description="Boot the [[domain]] entries of a TOML file under the supervisor "
                                   "(see paravirt/config.py for the format).")
    pv.add_up_arguments(p)
    p.set_defaults(func=pv.up)

    p = sub.add_parser("bench", help="benchmark the emulator against Unicorn and the host CPU",
                       description=bench.DESCRIPTION.split("\n")[0])
    bench.add_arguments(p)
    p.set_defaults(func=bench.run)

    from emu import kut
    p = sub.add_parser("kut", help="run kvm-unit-tests and compare with QEMU's results",
                       description=kut.__doc__.strip().split("\n")[0])
    kut.add_arguments(p)
    p.set_defaults(func=kut.run)

    from emu.fuzz import cli as fuzz
    p = sub.add_parser("fuzz", help="differential fuzzing against the host CPU, Unicorn or itself",
                       description=fuzz.__doc__.strip().split("\n")[0])
    fuzz.add_arguments(p)
    p.set_defaults(func=fuzz.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("pvemu: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
