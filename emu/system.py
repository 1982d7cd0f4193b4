"""Booting kernels: load an image (Multiboot, ELF or flat) into a fresh
Machine the way QEMU's `-kernel` does, and run it with its serial console.
Used by `pvemu run`."""
from __future__ import annotations

import os
import re
import sys
from typing import Optional, Sequence

from emu.errors import EmuError
from emu.loader import LoaderError, load_flat, load_kernel

DEFAULT_MEMORY = 64 << 20
DEFAULT_BUDGET = 2_000_000_000

#: Process exit statuses of `pvemu run` when the guest does not choose one.
STATUS_BUDGET = 124        # the instruction budget ran out (as `timeout`)
STATUS_GUEST_FAULT = 125   # an exception with nowhere to go, an unmapped access
STATUS_HALTED = 126        # HLT with interrupts off: the guest stopped for good


def parse_size(text: str) -> int:
    """'64M', '1G', '512K', '4096' -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGkmg]?)(i?[Bb])?\s*", str(text))
    if not m:
        raise EmuError(f"bad size {text!r}: use a number of bytes or a suffix K, M or G (e.g. 64M)")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def boot(kernel: bytes, memory: int = DEFAULT_MEMORY, cmdline: str = "",
         modules: Sequence[tuple] = (), flat_address: Optional[int] = None):
    """A Machine with `kernel` loaded and its registers set, ready to run.
    Returns (machine, boot_image)."""
    from emu import Machine
    if flat_address is not None:
        image = load_flat(kernel, flat_address, memory_size=memory)
    else:
        image = load_kernel(kernel, memory, cmdline=cmdline, modules=list(modules))
    m = Machine(mode=image.mode, memory=memory)
    image.write_to(m.mem_write)
    for name, value in image.regs.items():
        m.reg_write(name, value)
    m.reg_write("rip", image.entry)
    return m, image


def add_arguments(parser) -> None:
    parser.add_argument("kernel", help="a Multiboot or ELF kernel (or a flat binary with --flat)")
    parser.add_argument("--memory", default="64M", help="guest RAM (default 64M)")
    parser.add_argument("--cmdline", default="", help="the kernel command line (Multiboot)")
    parser.add_argument("--module", action="append", default=[], metavar="FILE[,STRING]",
                        help="a Multiboot module, optionally with its string; repeatable")
    parser.add_argument("--flat", type=lambda s: int(s, 0), metavar="ADDRESS",
                        help="load the file as a flat binary at ADDRESS and start there")
    parser.add_argument("--serial", default="stdio", metavar="stdio|FILE",
                        help="where COM1's output goes (default stdio)")
    parser.add_argument("--max-instructions", type=int, default=DEFAULT_BUDGET, metavar="N",
                        help=f"stop after N instructions (default {DEFAULT_BUDGET:,})")
    parser.add_argument("--qemu-exit-status", action="store_true",
                        help="exit with (v << 1) | 1 for a debug-exit write of v, as QEMU does")


def run(args) -> int:
    try:
        memory = parse_size(args.memory)
        with open(args.kernel, "rb") as f:
            kernel = f.read()
        modules = []
        for spec in args.module:
            path, _, string = spec.partition(",")
            with open(path, "rb") as f:
                modules.append((string or path, f.read()))
        m, image = boot(kernel, memory, args.cmdline, modules, args.flat)
    except (OSError, LoaderError, EmuError) as e:
        print(f"pvemu run: {e}", file=sys.stderr)
        return 2
    out = None
    if args.serial == "stdio":
        m.set_serial(sys.stdout.buffer)
    else:
        out = open(args.serial, "wb")
        m.set_serial(out)
    try:
        ex = m.run(count=args.max_instructions)
    finally:
        if out:
            out.close()
    if ex.reason == "debug-exit":
        return ((ex.status << 1) | 1) & 0xFF if args.qemu_exit_status else ex.status & 0xFF
    print(f"pvemu run: {_explain(ex)}", file=sys.stderr)
    if ex.reason == "count":
        return STATUS_BUDGET
    if ex.reason == "hlt":
        return STATUS_HALTED
    return STATUS_GUEST_FAULT


def _explain(ex) -> str:
    if ex.reason == "count":
        return (f"the guest ran {ex.instructions:,} instructions without finishing "
                f"(stopped at {ex.address:#x}; raise --max-instructions to let it run longer)")
    if ex.reason == "hlt":
        return f"the guest halted at {ex.address:#x} and nothing can wake it"
    return f"the guest stopped: {ex}"
