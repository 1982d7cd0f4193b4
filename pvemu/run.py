"""`pvemu run`: boot a kernel (emu.system) with its serial console as the
command line says; `--supervised` hands over to pvemu/supervised.py."""
from __future__ import annotations

import sys

from emu.errors import EmuError
from emu.guests import resolve
from emu.linuxboot import DEFAULT_MEMORY as LINUX_MEMORY
from emu.linuxboot import is_bzimage
from emu.loader import LoaderError
from emu.system import boot, boot_bios, parse_size
from emu.trace import trace

DEFAULT_BUDGET = 2_000_000_000
LINUX_BUDGET = 50_000_000_000     # a stock Debian kernel boots and powers off in 1.6-6 billion

#: Process exit statuses of `pvemu run` when the guest does not choose one.
STATUS_BUDGET = 124        # the instruction budget ran out (as `timeout`)
STATUS_GUEST_FAULT = 125   # an exception with nowhere to go, an unmapped access
STATUS_HALTED = 126        # HLT with interrupts off: the guest stopped for good


def add_session_arguments(parser) -> None:
    """The options of a machine's run that `run` and `restore` share."""
    parser.add_argument("--serial", default="stdio", metavar="stdio|FILE",
                        help="where COM1's output goes (default stdio)")
    parser.add_argument("--max-instructions", type=int, default=None, metavar="N",
                        help=f"stop after N instructions (default {DEFAULT_BUDGET:,}; "
                             f"{LINUX_BUDGET:,} for a Linux kernel)")
    parser.add_argument("--qemu-exit-status", action="store_true",
                        help="exit with (v << 1) | 1 for a debug-exit write of v, as QEMU does")
    from pvemu import session
    session.add_arguments(parser)


def add_arguments(parser) -> None:
    parser.add_argument("kernel", nargs="*", metavar="KERNEL|GUEST",
                        help="a Multiboot or ELF kernel (or a flat binary with --flat), or a bundled "
                             "guest's name (`pvemu guests` lists them); several only with --supervised")
    parser.add_argument("--unmodified", action="store_true",
                        help="with --supervised: hide the supervisor; privileged instructions trap to it")
    parser.add_argument("--bios", metavar="FILE",
                        help="boot a firmware image from the reset vector instead of a kernel")
    parser.add_argument("--trace", type=int, default=0, metavar="N",
                        help="print the first N instructions executed (address, bytes, disassembly "
                             "when capstone is installed)")
    parser.add_argument("--trace-range", metavar="START-END",
                        help="with --trace, print only instructions in this address range")
    parser.add_argument("--memory",
                        help="guest RAM (default 64M, 256M for a Linux kernel; a bundled guest's own default)")
    parser.add_argument("--cmdline", "--append", dest="cmdline",
                        help="the kernel command line (a bundled guest's default); as QEMU, a "
                             "Multiboot kernel sees it after the kernel's file name")
    parser.add_argument("--initrd", metavar="FILE",
                        help="an initial ramdisk for a Linux kernel (bzImage)")
    parser.add_argument("--guest-decompress", action="store_true",
                        help="a Linux bzImage: run the kernel's own decompressor instead of unpacking "
                             "the kernel in the loader (slower: billions of instructions)")
    parser.add_argument("--cpu", metavar="MODEL", default=None,
                        help="the CPU model, as QEMU's -cpu: pvemu (default), qemu64, max, Nehalem, "
                             "Opteron_G1, with ,vendor=V ,+feature ,-feature")
    parser.add_argument("--device", action="append", default=[], metavar="NAME",
                        help="add a device, as QEMU's -device: pc-testdev (ports 0xE0-0xEB, "
                             "0x2000-0x2017, MMIO 0xFF000000; kvm-unit-tests uses it)")
    parser.add_argument("--smp", type=int, default=1, metavar="N",
                        help="processors (default 1): CPU 0 starts, the others wait for INIT "
                             "and SIPI, interleaved deterministically in virtual time")
    parser.add_argument("--debugcon", default=None, metavar="stdio|FILE|none",
                        help="where port 0xE9 output goes, as QEMU's -debugcon (default: stdio "
                             "with --bios, none otherwise)")
    parser.add_argument("--post-codes", action="store_true",
                        help="print each POST code (port 0x80) to stderr as the guest writes it")
    parser.add_argument("--module", action="append", default=[], metavar="FILE[,STRING]",
                        help="a Multiboot module, optionally with its string; repeatable")
    parser.add_argument("--flat", type=lambda s: int(s, 0), metavar="ADDRESS",
                        help="load the file as a flat binary at ADDRESS and start there")
    parser.add_argument("--ips", type=int, default=100_000_000, metavar="N",
                        help="virtual instructions per second: the time base of the timers "
                             "(default 100,000,000); time is virtual, so runs are repeatable")
    add_session_arguments(parser)
    from pvemu.supervised import add_supervised_arguments
    add_supervised_arguments(parser, "run under the supervisor as paravirtualized domains (one per kernel)")


def default_budget(targets) -> int:
    """--max-instructions when not given: a Linux kernel needs billions of
    instructions to boot; everything else gets the smaller safety budget."""
    return LINUX_BUDGET if any(is_linux(t) for t in targets or ()) else DEFAULT_BUDGET


def run(args) -> int:
    if args.max_instructions is None:
        args.max_instructions = default_budget(args.kernel)
    if args.supervised:
        from pvemu.supervised import run_supervised
        return run_supervised(args)
    try:
        if len(args.kernel) > 1:
            raise EmuError(f"{len(args.kernel)} kernels given: several domains need --supervised")
        if args.guest_decompress and not (args.kernel and is_linux(args.kernel[0])):
            raise EmuError("--guest-decompress goes with a Linux kernel (bzImage)")
        if args.memory:
            parse_size(args.memory)              # a bad size is reported before anything else
        from emu._core import SMP_MAX_CPUS
        if not 1 <= args.smp <= SMP_MAX_CPUS:
            raise EmuError(f"--smp {args.smp}: the number of CPUs must be 1 to {SMP_MAX_CPUS}")
        target = args.kernel[0] if args.kernel else None
        guest = None
        if target is not None and args.flat is None:
            guest, target = resolve(target)
        memory = parse_size(args.memory or (guest.memory if guest else "64M"))
        if not args.memory and not guest and args.flat is None and target and is_linux(target):
            memory = LINUX_MEMORY
        cmdline = args.cmdline if args.cmdline is not None else (guest.args if guest else "")
        address_range = None
        if args.trace_range:
            try:
                lo, hi = (int(x, 0) for x in args.trace_range.split("-"))
            except ValueError:
                raise EmuError(f"bad --trace-range {args.trace_range!r}: use START-END, e.g. 0x100000-0x100100")
            address_range = (lo, hi)
        if args.bios:
            if args.initrd:
                raise EmuError("--initrd goes with a Linux kernel, not --bios")
            with open(args.bios, "rb") as f:
                m = boot_bios(f.read(), memory, args.cpu, args.device, args.smp)
        elif target is None:
            raise EmuError("give a kernel or a bundled guest to boot (or --bios FILE)")
        else:
            with open(target, "rb") as f:
                kernel = f.read()
            modules = []
            for spec in args.module:
                path, _, string = spec.partition(",")
                with open(path, "rb") as f:
                    modules.append((string or path, f.read()))
            initrd = None
            if args.initrd:
                with open(args.initrd, "rb") as f:
                    initrd = f.read()
            if args.flat is None and guest is None and not is_bzimage(kernel):
                cmdline = f"{target} {cmdline}" if cmdline else target   # QEMU's Multiboot: FILENAME ARGS
            m, image = boot(kernel, memory, cmdline, modules, args.flat, initrd, args.cpu, args.device,
                            args.smp, "guest" if args.guest_decompress else "host")
    except (OSError, LoaderError, EmuError) as e:
        print(f"pvemu run: {e}", file=sys.stderr)
        return 2
    except MemoryError as e:            # more than the host can give
        print(f"pvemu run: --memory {args.memory or memory}: {e}", file=sys.stderr)
        return 2
    m.ips = args.ips
    debugcon = args.debugcon or ("stdio" if args.bios else "none")
    dbg_out = None
    if debugcon == "stdio":
        m.set_debugcon(sys.stdout.buffer)
    elif debugcon != "none":
        dbg_out = open(debugcon, "wb")
        m.set_debugcon(dbg_out)
    if args.post_codes:
        show_post_codes(m)
    first = (lambda: trace(m, args.trace, address_range)) if args.trace else None   # emu/trace.py
    try:
        return run_session(m, args, "pvemu run", first)
    finally:
        if dbg_out:
            dbg_out.close()


def run_session(m, args, prog: str, first=None, start: int = 0) -> int:
    """Run a built (or restored) machine with its serial console as the
    command line says (pvemu/session.py); the process exit status.  first():
    something to run before (the trace), returning an Exit that ends the
    run or None."""
    from pvemu.session import run_machine
    try:
        with serial_to(m, args.serial) as serial:
            ex = first() if first else None
            if ex is not None:
                return exit_status(m, ex, args, prog)
            return run_machine(m, args, prog, start, serial)
    except (OSError, EmuError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2


class serial_to:
    """COM1's output to stdout or a file while the run lasts, counted and
    hashed on the way (record and replay compare what the guest wrote)."""

    def __init__(self, m, where: str):
        import hashlib
        self.m, self.where, self.out = m, where, None
        self.written = 0
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.hash.update(data)
        self.out.write(data)
        self.out.flush()

    def __enter__(self):
        self.out = sys.stdout.buffer if self.where == "stdio" else open(self.where, "wb")
        self.m.set_serial(self)
        return self

    def __exit__(self, *exc):
        if self.where != "stdio":
            self.out.close()
        self.m.set_serial(None)


def exit_status(m, ex, args, prog: str = "pvemu run") -> int:
    """The process exit status for a run that ended with `ex`: the guest's
    own (isa-debug-exit, or 0 for a shutdown), or one that says why it
    stopped."""
    if m.post_code is not None:
        print(f"{prog}: last POST code {m.post_code:#04x}", file=sys.stderr)
    if ex.reason == "debug-exit":
        return ((ex.status << 1) | 1) & 0xFF if args.qemu_exit_status else ex.status & 0xFF
    if ex.reason == "shutdown":     # as QEMU with -no-reboot: powered off or reset, status 0
        print(f"{prog}: the guest {'powered the machine off' if ex.shutdown == 'poweroff' else 'reset the machine'}"
              f" after {m.instructions:,} instructions", file=sys.stderr)
        return 0
    print(f"{prog}: {_explain(ex, m.instructions)}", file=sys.stderr)
    if ex.reason == "count":
        return STATUS_BUDGET
    if ex.reason == "hlt":
        return STATUS_HALTED
    return STATUS_GUEST_FAULT


def show_post_codes(m, out=sys.stderr) -> None:
    """Print each POST code (port 0x80) as the guest writes it."""
    def write(port, size, value):
        print(f"POST {value & 0xFF:#04x}", file=out, flush=True)
    m.add_io_handler(0x80, 1, write=write)


def is_linux(path: str) -> bool:
    """Whether the file at `path` is a Linux bzImage."""
    try:
        with open(path, "rb") as f:
            return is_bzimage(f.read(0x208))
    except OSError:
        return False          # reported when the kernel is read


def _explain(ex, total: int) -> str:
    if ex.reason == "count":      # ex.instructions counts only the last slice of the run
        return (f"the guest ran {total:,} instructions without finishing "
                f"(stopped at {ex.address:#x}; raise --max-instructions to let it run longer)")
    if ex.reason == "hlt":
        return f"the guest halted at {ex.address:#x} and nothing can wake it"
    return f"the guest stopped: {ex}"
