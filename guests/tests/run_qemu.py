#!/usr/bin/env python3
"""Boot one test kernel on QEMU and print its serial output and exit status.

    python3 guests/tests/run_qemu.py hello32            # emu/images/tests/hello32.elf
    python3 guests/tests/run_qemu.py path/to/kernel.elf
    python3 guests/tests/run_qemu.py --update hello32   # rewrite expected/hello32.{txt,status}

QEMU is run as
    qemu-system-x86_64 -kernel K.elf -m 32M -display none -serial stdio
        -monitor none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04
        [-append CMDLINE]
with stdin closed (not -nographic: with it SeaBIOS and iPXE also print their
banners on the serial port).  A guest `out` of v to port 0xf4 ends QEMU with
status (v << 1) | 1, so a kernel reporting success (v = 0) gives status 1.
A timeout (default 30 s) is reported as status "timeout".

The expected files: expected/NAME.txt is the serial output byte for byte;
expected/NAME.status is the exit status followed by a newline.

A kernel that needs more than the defaults has expected/NAME.args (written
by hand, not by --update): a JSON object with the machine settings that mean
the same on QEMU and on pvemu, any of
    "memory":  guest RAM as QEMU's -m and pvemu's --memory take it ("32M")
    "cmdline": the kernel command line (QEMU -append, pvemu --cmdline)
Missing keys (and a missing file) mean the defaults, {"memory": "32M",
"cmdline": ""}.  The arguments go with the kernel's name, so a rebuilt image
elsewhere (tests/test_kernels_qemu.py) gets them too.

Importable: qemu_command(), run_kernel(), kernel_args(), QEMU (the binary
name), KERNELS, and IMAGES_DIR / EXPECTED_DIR.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGES_DIR = HERE.parent.parent / "emu" / "images" / "tests"
EXPECTED_DIR = HERE / "expected"
QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
MEMORY = "32M"
KERNELS = ("hello32", "pmode_idt32", "paging32", "long64", "ring3_32", "timer32",
           "syscall64", "sysenter32", "apic_timer32", "realmode16", "uart_irq32",
           "cmos_fwcfg32", "tasks32", "v86_32", "modes64")
ARGS_KEYS = ("memory", "cmdline")


def kernel_args(name: str, expected: Path = EXPECTED_DIR) -> dict:
    """The machine settings of kernel `name` (a name or a path to NAME.elf):
    expected/NAME.args over the defaults {"memory": "32M", "cmdline": ""}."""
    name = Path(name).stem if str(name).endswith(".elf") else str(name)
    args = {"memory": MEMORY, "cmdline": ""}
    path = expected / f"{name}.args"
    if path.exists():
        extra = json.loads(path.read_text())
        unknown = set(extra) - set(ARGS_KEYS)
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        args.update(extra)
    return args


def qemu_command(kernel: Path, qemu: str = QEMU, memory: str = MEMORY,
                 cmdline: str = "") -> list[str]:
    """The QEMU command line that boots `kernel` with the test devices."""
    cmd = [qemu, "-kernel", str(kernel), "-m", memory,
           "-display", "none", "-serial", "stdio", "-monitor", "none",
           "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if cmdline:
        cmd += ["-append", cmdline]
    return cmd


def run_kernel(kernel: Path, timeout: float = 30.0, qemu: str = QEMU, args: dict | None = None):
    """Boot `kernel` on QEMU with `args` (default: kernel_args() of its
    name); return (serial output bytes, exit status or the string
    "timeout", stderr text)."""
    if args is None:
        args = kernel_args(Path(kernel).stem)
    cmd = qemu_command(kernel, qemu, memory=args.get("memory", MEMORY),
                       cmdline=args.get("cmdline", ""))
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return e.stdout or b"", "timeout", (e.stderr or b"").decode(errors="replace")
    return p.stdout, p.returncode, p.stderr.decode(errors="replace")


def resolve(name: str, images: Path) -> tuple[str, Path]:
    path = Path(name)
    if path.suffix == ".elf" or os.sep in name:
        return path.stem, path
    return name, images / f"{name}.elf"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("kernel", help="kernel name (in --images) or path to an .elf")
    ap.add_argument("--images", type=Path, default=IMAGES_DIR,
                    help="directory of the built kernels (default: %(default)s)")
    ap.add_argument("--update", action="store_true",
                    help="write expected/NAME.txt and expected/NAME.status")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args(argv)
    if not shutil.which(QEMU):
        print(f"run_qemu: {QEMU} not found (apt-get install qemu-system-x86)", file=sys.stderr)
        return 2
    name, path = resolve(args.kernel, args.images)
    if not path.exists():
        print(f"run_qemu: {path} does not exist (make -C guests/tests)", file=sys.stderr)
        return 2
    out, status, err = run_kernel(path, args.timeout)
    sys.stdout.write(out.decode(errors="replace"))
    sys.stdout.flush()
    if err.strip():
        print(f"--- qemu stderr:\n{err.rstrip()}", file=sys.stderr)
    print(f"--- exit status: {status}", file=sys.stderr)
    if args.update:
        if status == "timeout":
            print("run_qemu: not updating expected files after a timeout", file=sys.stderr)
            return 1
        EXPECTED_DIR.mkdir(exist_ok=True)
        (EXPECTED_DIR / f"{name}.txt").write_bytes(out)
        (EXPECTED_DIR / f"{name}.status").write_text(f"{status}\n")
        print(f"run_qemu: wrote expected/{name}.txt and expected/{name}.status",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
