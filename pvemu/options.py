"""The command line's options, checked before anything runs or is
allocated: an option that does not apply to the way a command runs (one
machine, or domains under the supervisor) is an error rather than silently
ignored, and so is one that needs another that is missing, a number out of
range or a file that cannot be written.  Each subcommand has its Rules
(RUN, RESTORE, ONE_WAY, BENCH, FUZZ) and cli.main applies them with
`check`: one line naming the option, exit status 2."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Sequence, Tuple

from emu.bounds import MAX_COUNT, MAX_IPS, MAX_MEMORY
from emu.errors import EmuError
from emu.system import parse_size

#: Options of one machine's run: the supervisor's domains have none of them.
MACHINE_ONLY = ("serial", "qemu_exit_status", "save", "save_at", "input")
#: Options of the supervisor: a single machine has none of them.
SUPERVISOR_ONLY = ("unmodified", "threads", "quantum", "balloon", "pause", "unpause", "realtime",
                   "control", "verbose")
#: (option, the option it needs)
NEEDS = (("gdb_wait", "gdb"), ("save_at", "save"), ("trace_range", "trace"))
#: Integer options: (least, most).
LIMITS = {"max_instructions": (0, MAX_COUNT), "trace": (0, MAX_COUNT), "save_at": (0, MAX_COUNT),
          "ips": (1, MAX_IPS), "quantum": (1, MAX_COUNT),
          "rounds": (0, 0xFFFFFFFF), "repeat": (1, 10 ** 6), "jobs": (1, 1024)}   # bench, kut
#: Files a run writes (besides these words for the console), and sizes of RAM.
OUTPUTS = ("serial", "debugcon", "save", "record")
CONSOLES = ("stdio", "none", "-")
SIZES = ("memory",)


@dataclass(frozen=True)
class Rules:
    """`mode`: the flag that switches to the supervisor (None: the command
    has one way to run); `machine_only`/`supervisor_only`: options refused
    in the other mode; `needs`: pairs (option, the option it needs);
    `limits`, `outputs` (files), `output_dirs`, `sizes`: values checked
    when given (options a command does not have are passed over);
    `only_in`: option -> (a comma-separated list option, the items of it
    one of which the option needs)."""
    mode: str = "supervised"
    machine_only: Sequence[str] = MACHINE_ONLY
    supervisor_only: Sequence[str] = SUPERVISOR_ONLY
    needs: Sequence[tuple] = NEEDS
    limits: Dict[str, Tuple[int, int]] = field(default_factory=lambda: dict(LIMITS))
    outputs: Sequence[str] = OUTPUTS
    output_dirs: Sequence[str] = ()
    sizes: Sequence[str] = SIZES
    only_in: Dict[str, Tuple[str, Sequence[str]]] = field(default_factory=dict)


RUN = Rules(machine_only=MACHINE_ONLY + ("bios", "trace", "trace_range", "flat", "module", "debugcon",
                                         "post_codes", "cpu", "device", "smp",
                                         "guest_decompress"))
RESTORE = Rules()
ONE_WAY = Rules(mode=None, machine_only=(), supervisor_only=())      # up, kut, guests
BENCH = Rules(mode=None, machine_only=(), supervisor_only=(), only_in={
    "rounds": ("sections", ("workload",)), "programs": ("sections", ("suite",)), "opts": ("sections", ("suite",)),
    "mode": ("sections", ("workload", "suite", "fp")), "engines": ("sections", ("workload", "suite", "fp")),
    "repeat": ("sections", ("workload", "suite", "fp"))})
FUZZ = Rules(mode=None, machine_only=(), supervisor_only=(), outputs=("json",), output_dirs=("out",))


def _flag(parser, dest: str) -> str:
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            return max(action.option_strings, key=len)
    raise KeyError(dest)          # a rule naming an option the parser does not have


def given(parser, args, dest: str) -> bool:
    """Whether the command line set `dest` (it differs from the default)."""
    return getattr(args, dest, None) != parser.get_default(dest)


def check(rules: Rules, parser, args) -> None:
    """EmuError naming the first option that does not apply, lacks the one
    it needs, or has a value that cannot work."""
    _check_modes(rules, parser, args)
    for dest, (lo, hi) in rules.limits.items():
        value = getattr(args, dest, None)
        if value is not None and not lo <= value <= hi:
            raise EmuError(f"{_flag(parser, dest)} {value}: "
                           f"{'at most ' + format(hi, ',') if value > hi else 'at least ' + str(lo)}")
    for dest in rules.sizes:
        value = getattr(args, dest, None)
        if value is not None:
            try:
                size = parse_size(value)
            except EmuError as e:
                raise EmuError(f"{_flag(parser, dest)}: {e}") from None
            if size > MAX_MEMORY:
                raise EmuError(f"{_flag(parser, dest)} {value}: at most {MAX_MEMORY >> 30} GiB")
    for dests, directory in ((rules.outputs, False), (rules.output_dirs, True)):
        for dest in dests:
            path = getattr(args, dest, None)
            why = None if path is None or path in CONSOLES else unwritable(path, directory)
            if why:
                raise EmuError(f"{_flag(parser, dest)} {path}: {why}")


def unwritable(path: str, directory: bool = False):
    """Why `path` cannot be written (created, for a directory with its
    parents), or None."""
    if os.path.exists(path):
        if os.path.isdir(path) != directory:
            return "is a directory" if not directory else "is not a directory"
        return None if os.access(path, os.W_OK | (os.X_OK if directory else 0)) else "permission denied"
    parent = os.path.dirname(os.path.abspath(path))
    while directory and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"no directory {parent}"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"cannot create a file in {parent}"


def _check_modes(rules: Rules, parser, args) -> None:
    supervised = rules.mode is None or getattr(args, rules.mode)
    refused, why = ((rules.machine_only, f"does not apply with --{rules.mode}") if supervised else
                    (rules.supervisor_only, f"only applies with --{rules.mode}"))
    for dest in refused:
        if given(parser, args, dest):
            raise EmuError(f"{_flag(parser, dest)} {why}")
    for dest, needed in rules.needs:
        if hasattr(args, dest) and given(parser, args, dest) and not given(parser, args, needed):
            raise EmuError(f"{_flag(parser, dest)} needs {_flag(parser, needed)}")
    for dest, (list_dest, items) in rules.only_in.items():
        chosen = {x.strip() for x in getattr(args, list_dest).split(",")}
        if given(parser, args, dest) and not chosen & set(items):
            raise EmuError(f"{_flag(parser, dest)} only applies when {_flag(parser, list_dest)} "
                           f"includes {' or '.join(items)}")
