"""The pvemu benchmarks: the reference workload and the benchmark suite.

The reference workload (guests/workload/workload.c, prebuilt as
emu/images/workload32.bin and workload64.bin, described by
emu/images/workload.json) runs R rounds of a sieve of Eratosthenes over 8 KiB,
a bitwise CRC-32 over 4 KiB and a bubble sort of 256 words -- about 0.74 M
guest instructions a round -- and halts with a 32-bit checksum in EAX.

The benchmark suite (guests/bench: a bytecode interpreter, SHA-256, an LZ77
coder, a hash table, qsort through a function pointer, recursive trees,
string processing, integer matrices and bits) is built the same way, each
program at -O2, -O3 and -Os for both widths (emu/images/bench, described by
bench.json); each program's default rounds make about 30 M instructions.

This module loads the images into emu.Machine and (when installed) into
Unicorn, runs them, checks the checksums (against each other and against the
natively computed values recorded in the metadata), times them and reports
MIPS.  When gcc is at hand it also builds each program as a native host
program from the C sources shipped in the package and times that.

Image calling convention (see guests/workload/entry.S, shared by the suite):
  * the flat image is loaded at meta["load_address"] (0x100000) and entered at
    its first byte;
  * the number of rounds is a little-endian uint32 at load_address +
    meta["rounds_offset"] (0x10); the runner patches it before loading;
  * the image sets ESP/RSP itself, to a stack in its own .bss: the runner maps
    [load_address, mem_end) with zeros;
  * it ends with HLT at hlt_address, checksum in EAX (also stored at
    load_address + meta["result_offset"]).

Python use::

    from emu import bench
    wl = bench.load_workload(64)
    r = bench.run_emu(wl, rounds=5)          # RunResult(checksum, instructions, seconds)
    report = bench.benchmark(modes=(32, 64), rounds=20, repeat=3)
    print(bench.format_table(report))
    print(bench.format_suite(bench.suite(opts=("O2", "Os"), quick=True)))

CLI: ``pvemu bench`` (pvemu/bench.py).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import struct
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

IMAGES_DIR = Path(__file__).resolve().parent / "images"
METADATA_FILE = "workload.json"

DEFAULT_ROUNDS = 200        #: ~148 M guest instructions per mode
DEFAULT_REPEAT = 5
QUICK_ROUNDS = 20           #: ~15 M guest instructions per mode
QUICK_REPEAT = 3
ENGINES = ("emu", "unicorn", "native")

#: Instructions one round takes, generously (the real figure is ~0.74 M); used
#: only for the runaway guard (the instruction cap / time-out of a run).
_MAX_INSNS_PER_ROUND = 5_000_000
_MAX_INSNS_FIXED = 10_000_000


class BenchError(RuntimeError):
    """A workload run went wrong (did not halt, wrong checksum, ...)."""


# --------------------------------------------------------------------------
# The workload images
# --------------------------------------------------------------------------

def load_metadata(images_dir: Optional[os.PathLike] = None) -> dict:
    """workload.json as a dict (from `images_dir`, default emu/images)."""
    path = Path(images_dir or IMAGES_DIR) / METADATA_FILE
    with open(path) as f:
        return json.load(f)


@dataclass
class Workload:
    """One workload image (one mode) and where it lives in guest memory."""
    mode: int
    image: bytes
    load_address: int
    entry: int
    hlt_address: int
    mem_end: int
    rounds_offset: int
    result_offset: int
    default_rounds: int
    checksums: Dict[int, int]           #: native checksum for some round counts
    name: str = "workload"              #: the program (the reference workload or a suite program)
    opt: str = "O2"                     #: the gcc optimization level of the image
    quick_rounds: int = QUICK_ROUNDS    #: rounds of a --quick run

    @property
    def label(self) -> str:
        return "%s -%s %d-bit" % (self.name, self.opt, self.mode)

    def image_for(self, rounds: int) -> bytes:
        """The image with its rounds slot set to `rounds`."""
        if not 0 <= rounds <= 0xFFFFFFFF:
            raise ValueError("rounds out of range: %r" % rounds)
        data = bytearray(self.image)
        struct.pack_into("<I", data, self.rounds_offset, rounds)
        return bytes(data)

    @property
    def map_size(self) -> int:
        """Bytes to map from load_address: image, .bss and stack, page-rounded."""
        end = max(self.mem_end, self.load_address + len(self.image))
        return (end - self.load_address + 0xFFF) & ~0xFFF

    def expected(self, rounds: int) -> Optional[int]:
        """The natively computed checksum for `rounds`, if recorded."""
        return self.checksums.get(rounds)


def _read_image(images_dir: Path, meta: dict, im: dict) -> bytes:
    """One image file, checked against its metadata (size, header magic)."""
    image = (images_dir / im["file"]).read_bytes()
    if len(image) != im["size"]:
        raise BenchError("%s: size %d, %s says %d"
                         % (im["file"], len(image), METADATA_FILE, im["size"]))
    off = meta["header_offset"]
    if image[off:off + 4] != meta["magic"].encode():
        raise BenchError("%s: bad magic" % im["file"])
    return image


def _workload(mode: int, images_dir: Path, meta: dict, im: dict, default_rounds: int,
              checksums: dict, cls=Workload, **extra) -> Workload:
    return cls(
        mode=mode, image=_read_image(images_dir, meta, im), load_address=im["load_address"],
        entry=im["entry"], hlt_address=im["hlt_address"], mem_end=im["mem_end"],
        rounds_offset=meta["rounds_offset"], result_offset=meta["result_offset"],
        default_rounds=default_rounds,
        checksums={int(k): v for k, v in checksums.items()}, **extra)


def _check_mode(mode):
    if mode not in (32, 64):
        raise ValueError("mode must be 32 or 64, not %r" % (mode,))


def load_workload(mode: int, images_dir: Optional[os.PathLike] = None) -> Workload:
    """Load the shipped (or `images_dir`'s) workload image for mode 32 or 64."""
    _check_mode(mode)
    images_dir = Path(images_dir or IMAGES_DIR)
    meta = load_metadata(images_dir)
    return _workload(mode, images_dir, meta, meta["images"][str(mode)],
                     meta["default_rounds"], meta["checksums"])


# --------------------------------------------------------------------------
# The benchmark suite (guests/bench, images in emu/images/bench)
# --------------------------------------------------------------------------

SUITE_DIR = IMAGES_DIR / "bench"
SUITE_METADATA = "bench.json"
SUITE_OPTS = ("O2", "O3", "Os")


def load_suite_metadata(suite_dir: Optional[os.PathLike] = None) -> dict:
    """bench.json of the suite (from `suite_dir`, default emu/images/bench)."""
    with open(Path(suite_dir or SUITE_DIR) / SUITE_METADATA) as f:
        return json.load(f)


def load_suite(programs: Optional[Sequence[str]] = None, opts: Sequence[str] = ("O2",),
               modes: Sequence[int] = (32, 64),
               suite_dir: Optional[os.PathLike] = None) -> List[Workload]:
    """The suite's images: every program (or those named) at each of `opts`
    and `modes`, in the order of bench.json."""
    suite_dir = Path(suite_dir or SUITE_DIR)
    meta = load_suite_metadata(suite_dir)
    known = meta["programs"]
    unknown = [p for p in (programs or ()) if p not in known]
    if unknown:
        raise ValueError("unknown benchmark programs %s (known: %s)"
                         % (", ".join(unknown), ", ".join(known)))
    out = []
    for name, prog in known.items():
        if programs and name not in programs:
            continue
        for opt in opts:
            for mode in modes:
                _check_mode(mode)
                key = "%s-%d" % (opt, mode)
                if key not in prog["images"]:
                    raise ValueError("no %s image of %s (built: %s)"
                                     % (key, name, ", ".join(prog["images"])))
                out.append(_workload(mode, suite_dir, meta, prog["images"][key],
                                     prog["default_rounds"], prog["checksums"], name=name,
                                     opt=opt, quick_rounds=prog["quick_rounds"]))
    return out


def expected_checksum(rounds: int, images_dir: Optional[os.PathLike] = None) -> Optional[int]:
    """The native checksum for `rounds` from workload.json, or None."""
    return load_metadata(images_dir)["checksums"].get(str(rounds))


@dataclass
class RunResult:
    """The outcome of one run of the workload on one engine."""
    engine: str
    mode: int
    rounds: int
    checksum: int
    instructions: Optional[int]     #: retired instructions, when the engine says
    seconds: float                  #: wall time of the run alone (no set-up)


def _insn_cap(rounds: int) -> int:
    return _MAX_INSNS_FIXED + rounds * _MAX_INSNS_PER_ROUND


# --------------------------------------------------------------------------
# emu.Machine
# --------------------------------------------------------------------------

def _machine_class():
    try:
        from emu import Machine             # the public API
    except ImportError:
        from emu._core import Machine       # package __init__ not wired yet
    return Machine


def emu_available() -> Optional[str]:
    """None if emu.Machine can be used, else why not."""
    try:
        _machine_class()
    except Exception as e:                  # ImportError, or a broken build
        return "emu core not available (%s: %s); build it with " \
               "'python setup.py build_ext --inplace'" % (type(e).__name__, e)
    return None


def prepare_emu(wl: Workload, rounds: int, **machine_kwargs):
    """A fresh emu.Machine with the workload for `rounds` loaded, ready to run."""
    Machine = _machine_class()
    memory = max(4 << 20, (wl.load_address + wl.map_size + 0xFFFFF) & ~0xFFFFF)
    machine_kwargs.setdefault("memory", memory)
    m = Machine(mode=wl.mode, **machine_kwargs)
    # RAM starts zeroed; clear .bss/stack explicitly anyway (cheap).
    m.mem_write(wl.load_address, wl.image_for(rounds).ljust(wl.map_size, b"\0"))
    return m


def run_emu(wl: Workload, rounds: int, machine=None) -> RunResult:
    """Run the workload on emu.Machine (a fresh one unless `machine` is given,
    which must come from prepare_emu with the same rounds); only run() is timed."""
    m = machine if machine is not None else prepare_emu(wl, rounds)
    t0 = time.perf_counter()
    ex = m.run(start=wl.entry, count=_insn_cap(rounds))
    seconds = time.perf_counter() - t0
    if ex.reason != "hlt":
        raise BenchError("emu %d-bit: run ended with %r at %#x after %d instructions%s"
                         % (wl.mode, ex.reason, ex.address, ex.instructions,
                            _exit_details(ex)))
    if ex.address not in (wl.hlt_address, wl.hlt_address + 1):
        raise BenchError("emu %d-bit: halted at %#x, expected the HLT at %#x"
                         % (wl.mode, ex.address, wl.hlt_address))
    checksum = m.reg_read("eax") & 0xFFFFFFFF
    _check_result_slot("emu", wl, checksum,
                       m.mem_read(wl.load_address + wl.result_offset, 4))
    return RunResult("emu", wl.mode, rounds, checksum, ex.instructions, seconds)


def _exit_details(ex) -> str:
    parts = []
    for name in ("vector", "error_code", "access_address", "access", "insn_bytes"):
        v = getattr(ex, name, None)
        if v is not None:
            parts.append("%s=%s" % (name, hex(v) if isinstance(v, int) else
                                    (v.hex() if isinstance(v, (bytes, bytearray)) else v)))
    return (" (" + ", ".join(parts) + ")") if parts else ""


def _check_result_slot(engine, wl, checksum, raw):
    (slot,) = struct.unpack("<I", bytes(raw))
    if slot != checksum:
        raise BenchError("%s %d-bit: EAX %#010x but the header's result slot holds %#010x"
                         % (engine, wl.mode, checksum, slot))


# --------------------------------------------------------------------------
# Unicorn (optional)
# --------------------------------------------------------------------------

def unicorn_available() -> Optional[str]:
    """None if Unicorn can be used, else why not."""
    try:
        import unicorn  # noqa: F401
        from unicorn import x86_const  # noqa: F401
    except Exception as e:
        return "unicorn not installed (%s); pip install 'unicorn>=2.0'" % e
    return None


def prepare_unicorn(wl: Workload, rounds: int):
    """A fresh Unicorn engine with the workload for `rounds` loaded."""
    from unicorn import UC_ARCH_X86, UC_MODE_32, UC_MODE_64, Uc
    uc = Uc(UC_ARCH_X86, UC_MODE_64 if wl.mode == 64 else UC_MODE_32)
    uc.mem_map(wl.load_address, wl.map_size)      # zero-filled
    uc.mem_write(wl.load_address, wl.image_for(rounds))
    return uc


def _uc_pc(uc, mode):
    from unicorn.x86_const import UC_X86_REG_EIP, UC_X86_REG_RIP
    return uc.reg_read(UC_X86_REG_RIP if mode == 64 else UC_X86_REG_EIP)


def run_unicorn(wl: Workload, rounds: int, uc=None,
                instructions: Optional[int] = None) -> RunResult:
    """Run the workload on Unicorn (a fresh engine unless `uc` is given);
    only emu_start is timed.  Unicorn does not count instructions cheaply, so
    the result carries `instructions` as given (the count emu retires for the
    same image and rounds: the instruction stream is identical)."""
    from unicorn.x86_const import UC_X86_REG_EAX
    if uc is None:
        uc = prepare_unicorn(wl, rounds)
    # HLT ends emu_start in Unicorn 2 (pc = the byte after it); `until` at that
    # byte makes sure of it either way.  No time-out: in Unicorn 2.1 a
    # time-out makes the run ~45% slower (measured), and the image is known
    # to halt on Unicorn.
    t0 = time.perf_counter()
    uc.emu_start(wl.entry, wl.hlt_address + 1)
    seconds = time.perf_counter() - t0
    pc = _uc_pc(uc, wl.mode)
    if pc != wl.hlt_address + 1:
        raise BenchError("unicorn %d-bit: stopped at %#x, not after the HLT at %#x"
                         % (wl.mode, pc, wl.hlt_address))
    checksum = uc.reg_read(UC_X86_REG_EAX) & 0xFFFFFFFF
    _check_result_slot("unicorn", wl, checksum,
                       uc.mem_read(wl.load_address + wl.result_offset, 4))
    return RunResult("unicorn", wl.mode, rounds, checksum, instructions, seconds)


_count_cache: Dict[tuple, int] = {}


def count_instructions_unicorn(wl: Workload, rounds: int) -> int:
    """Count the instructions of the workload exactly, on Unicorn, with a
    block hook (each translated block's instructions decoded once with
    capstone).  Slow (~0.2 s a round): a fallback for when emu is not there.
    The HLT is counted."""
    key = (wl.mode, wl.image, rounds)
    if key in _count_cache:
        return _count_cache[key]
    from capstone import CS_ARCH_X86, CS_MODE_32, CS_MODE_64, Cs
    from unicorn import UC_HOOK_BLOCK
    cs = Cs(CS_ARCH_X86, CS_MODE_64 if wl.mode == 64 else CS_MODE_32)
    sizes: Dict[tuple, int] = {}
    total = [0]

    def on_block(uc, address, size, _):
        k = (address, size)
        n = sizes.get(k)
        if n is None:
            code = bytes(uc.mem_read(address, size))
            n = sizes[k] = sum(1 for _ in cs.disasm_lite(code, address))
        total[0] += n

    uc = prepare_unicorn(wl, rounds)
    uc.hook_add(UC_HOOK_BLOCK, on_block)
    uc.emu_start(wl.entry, wl.hlt_address + 1)
    if _uc_pc(uc, wl.mode) != wl.hlt_address + 1:
        raise BenchError("unicorn %d-bit: counting run did not reach the HLT" % wl.mode)
    _count_cache[key] = total[0]
    return total[0]


def estimate_instructions_unicorn(wl: Workload, rounds: int,
                                  exact_limit: int = 20) -> tuple:
    """(count, exact?): exact via count_instructions_unicorn for up to
    `exact_limit` rounds, else extrapolated linearly from 0 and `exact_limit`
    rounds (rounds differ by a fraction of a percent: the sort's data varies)."""
    if rounds <= exact_limit:
        return count_instructions_unicorn(wl, rounds), True
    c0 = count_instructions_unicorn(wl, 0)
    cn = count_instructions_unicorn(wl, exact_limit)
    return int(round(c0 + (cn - c0) * rounds / exact_limit)), False


# --------------------------------------------------------------------------
# Native host program (optional)
# --------------------------------------------------------------------------

# The C sources of the native programs ship with the package (emu/images/
# workload.c and emu/images/bench/src are links into guests/, followed when
# the package is built): the native row builds them with the host's gcc at
# bench time, at the image's optimization level.

def find_workload_source() -> Optional[Path]:
    """The reference workload's C source ($PVEMU_WORKLOAD_SRC overrides), or
    None if neither the package nor the checkout has it."""
    env = os.environ.get("PVEMU_WORKLOAD_SRC")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [IMAGES_DIR / "workload.c", here.parent / "guests" / "workload" / "workload.c"]
    for c in candidates:
        if c.is_file():
            return c
    return None


def native_recipe(wl: Optional[Workload] = None) -> Optional[tuple]:
    """(sources, gcc flags) of the native build of `wl` (default: the reference
    workload), or None if its sources are not at hand."""
    if hasattr(wl, "native_recipe"):        # a suite with its own flags (emu.fpbench)
        return wl.native_recipe()
    if wl is None or wl.name == "workload":
        src = find_workload_source()
        return ([src], ["-O2", "-DNATIVE"]) if src else None
    src_dir = SUITE_DIR / "src"
    sources = [src_dir / (wl.name + ".c"), src_dir / "native_main.c"]
    if not all(p.is_file() for p in sources):
        return None
    return sources, ["-" + wl.opt]


def native_unavailable(wl: Optional[Workload] = None) -> Optional[str]:
    """None if the native program of `wl` (default: the reference workload)
    can be built, else why not."""
    if native_recipe(wl) is None:
        return "native timing skipped: the C source of %s is not in the package or " \
               "checkout" % (wl.name if wl else "workload")
    if _find_cc() is None:
        return "native timing skipped: no C compiler (gcc) found"
    return wl.native_missing() if hasattr(wl, "native_missing") else None


def _find_cc() -> Optional[str]:
    cc = os.environ.get("CC") or "gcc"
    return shutil.which(cc)


def build_native(dest_dir: os.PathLike, source: Optional[os.PathLike] = None,
                 wl: Optional[Workload] = None) -> Path:
    """Compile the native host program of `wl` (default: the reference
    workload, from `source` if given) into `dest_dir`."""
    recipe = ([Path(source)], ["-O2", "-DNATIVE"]) if source else native_recipe(wl)
    cc = _find_cc()
    if recipe is None or cc is None:
        raise BenchError(native_unavailable(wl) or "cannot build the native program")
    sources, flags = recipe
    out = Path(dest_dir) / ("%s-%s-native" % (wl.name, wl.opt) if wl else "workload_native")
    res = subprocess.run([cc] + flags + [str(p) for p in sources] + ["-o", str(out)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise BenchError("native build failed:\n" + res.stderr)
    return out


def run_native(program: os.PathLike, rounds: int, repeat: int = 1) -> List[RunResult]:
    """Run the native program: `repeat` timed runs of `rounds` rounds (it times
    itself with clock_gettime around the workload call)."""
    res = subprocess.run([str(program), "-t", str(repeat), str(rounds)],
                         capture_output=True, text=True,
                         timeout=max(60.0, rounds * repeat * 0.05))
    if res.returncode != 0:
        raise BenchError("native program failed: " + res.stderr)
    out = []
    for line in res.stdout.split("\n"):
        if line.strip():
            r, checksum, seconds = line.split()
            out.append(RunResult("native", 0, int(r), int(checksum, 16), None,
                                 float(seconds)))
    if len(out) != repeat:
        raise BenchError("native program printed %r" % res.stdout)
    return out


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------

@dataclass
class BenchRow:
    engine: str                 #: emu, unicorn or native
    mode: str                   #: "32", "64" or "host"
    rounds: int
    instructions: Optional[int] = None
    instructions_source: str = ""   #: emu | unicorn-count | unicorn-estimate | ""
    seconds: List[float] = field(default_factory=list)
    checksum: Optional[int] = None
    checksum_ok: Optional[bool] = None
    error: Optional[str] = None
    median_seconds: Optional[float] = None
    mips: Optional[float] = None
    ratio_vs_unicorn: Optional[float] = None     #: MIPS / Unicorn MIPS (same mode)
    slowdown_vs_native: Optional[float] = None   #: seconds / native seconds
    workload: str = "workload"  #: the program
    opt: str = "O2"             #: its optimization level


def _median(xs):
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def _check_args(rounds, repeat, engines):
    if rounds < 0 or repeat < 1:
        raise ValueError("need rounds >= 0 and repeat >= 1")
    for e in engines:
        if e not in ENGINES:
            raise ValueError("unknown engine %r" % (e,))


def _timed(row: BenchRow, label: str, repeat: int, fn, progress) -> None:
    """`repeat` runs of fn() into `row`: seconds, checksum, instructions; a
    failure or a result that changes between repeats is the row's error."""
    for i in range(repeat):
        try:
            r = fn()
        except Exception as e:                  # noqa: BLE001 - reported
            row.error = "%s: %s" % (type(e).__name__, e)
            progress("%s: FAILED: %s" % (label, row.error))
            return
        row.seconds.append(r.seconds)
        if row.checksum is None:
            row.checksum = r.checksum
        elif r.checksum != row.checksum:
            row.error = "checksum changed between repeats: %#010x vs %#010x" \
                        % (row.checksum, r.checksum)
        if r.instructions is not None:
            if row.instructions is None:
                row.instructions = r.instructions
            elif r.instructions != row.instructions:
                row.error = "instruction count changed between repeats: %d vs %d" \
                            % (row.instructions, r.instructions)
        progress("%s run %d/%d: %.3f s, checksum %#010x"
                 % (label, i + 1, repeat, r.seconds, r.checksum))


def _engine_rows(wl: Workload, rounds: int, repeat: int, engines, progress,
                 notes: List[str]) -> List[BenchRow]:
    """The emu and Unicorn rows of one image (the engines asked for and available)."""
    rows = []
    emu_row = None
    label = "%s, %d rounds" % (wl.label, rounds)
    if "emu" in engines and not emu_available():
        emu_row = BenchRow("emu", str(wl.mode), rounds, instructions_source="emu",
                           workload=wl.name, opt=wl.opt)
        _timed(emu_row, "emu " + label, repeat,
               lambda: run_emu(wl, rounds, prepare_emu(wl, rounds)), progress)
        rows.append(emu_row)
    if "unicorn" in engines and not unicorn_available():
        row = BenchRow("unicorn", str(wl.mode), rounds, workload=wl.name, opt=wl.opt)
        _timed(row, "unicorn " + label, repeat,
               lambda: run_unicorn(wl, rounds, prepare_unicorn(wl, rounds)), progress)
        # Same image, same rounds: the instruction stream is the one emu
        # executes, so its MIPS uses emu's retired-instruction count.
        if emu_row is not None and emu_row.instructions is not None \
                and emu_row.error is None:
            row.instructions = emu_row.instructions
            row.instructions_source = "emu"
        elif row.error is None:
            progress("counting instructions on Unicorn (%s) ..." % wl.label)
            try:
                n, exact = estimate_instructions_unicorn(wl, rounds)
                row.instructions = n
                row.instructions_source = "unicorn-count" if exact else "unicorn-estimate"
                if not exact:
                    notes.append("unicorn %s instruction count extrapolated "
                                 "from a counted 20-round run" % wl.label)
            except Exception as e:              # noqa: BLE001 - reported
                notes.append("could not count instructions on Unicorn: %s" % e)
        rows.append(row)
    return rows


def _native_row(wl: Workload, rounds: int, repeat: int, progress,
                notes: List[str]) -> Optional[BenchRow]:
    """The native row of `wl`'s program at its optimization level (built with
    the host's gcc in a temporary directory), or None with a note why not."""
    why = native_unavailable(wl)
    if why:
        notes.append(why)
        return None
    row = BenchRow("native", "host", rounds, workload=wl.name, opt=wl.opt)
    try:
        with tempfile.TemporaryDirectory(prefix="pvemu-bench-") as tmp:
            progress("building the native %s -%s ..." % (wl.name, wl.opt))
            prog = build_native(tmp, wl=wl)
            progress("native %s -%s: %d runs of %d rounds" % (wl.name, wl.opt, repeat, rounds))
            results = run_native(prog, rounds, repeat)
        row.seconds = [r.seconds for r in results]
        row.checksum = results[0].checksum
        if any(r.checksum != row.checksum for r in results):
            row.error = "native checksum changed between repeats"
    except Exception as e:                      # noqa: BLE001 - reported
        row.error = "%s: %s" % (type(e).__name__, e)
    return row


def _verify(rows: List[BenchRow], reference: Optional[int]) -> Optional[int]:
    """Every row's checksum against `reference` (the native value from the
    metadata, else the first good row's); returns the reference used."""
    if reference is None:
        reference = next((r.checksum for r in rows
                          if r.checksum is not None and r.error is None), None)
    for row in rows:
        if row.checksum is not None:
            row.checksum_ok = row.checksum == reference
            if not row.checksum_ok and row.error is None:
                row.error = "wrong checksum %#010x, expected %#010x" % (row.checksum, reference)
    return reference


def _figures(rows: List[BenchRow]) -> None:
    """Medians, MIPS and the ratios: to Unicorn on the same image, to the
    native program at the same optimization level."""
    for row in rows:
        row.median_seconds = _median(row.seconds)
        if row.instructions and row.median_seconds:
            row.mips = row.instructions / row.median_seconds / 1e6
    uc_mips = {(r.workload, r.opt, r.mode): r.mips for r in rows
               if r.engine == "unicorn" and r.mips}
    native = {(r.workload, r.opt): r.median_seconds for r in rows
              if r.engine == "native" and r.median_seconds and r.error is None}
    for row in rows:
        if row.mips and (row.workload, row.opt, row.mode) in uc_mips:
            row.ratio_vs_unicorn = row.mips / uc_mips[row.workload, row.opt, row.mode]
        if row.median_seconds and (row.workload, row.opt) in native:
            row.slowdown_vs_native = row.median_seconds / native[row.workload, row.opt]


def benchmark(modes: Sequence[int] = (32, 64), rounds: int = DEFAULT_ROUNDS,
              repeat: int = DEFAULT_REPEAT, engines: Sequence[str] = ENGINES,
              progress: Optional[Callable[[str], None]] = None,
              images_dir: Optional[os.PathLike] = None) -> dict:
    """Run the reference workload; returns a report dict (see format_table / --json).

    Each timed run uses a freshly loaded engine; set-up is not timed.  The
    report's "ok" is False if any engine that ran failed or computed a wrong
    checksum; engines that are not available are skipped with a note."""
    _check_args(rounds, repeat, engines)
    progress = progress or (lambda msg: None)
    notes: List[str] = []
    rows: List[BenchRow] = []
    workloads = [load_workload(mode, images_dir) for mode in modes]
    expected = workloads[0].expected(rounds) if workloads else None
    if expected is None:
        notes.append("no native checksum recorded for %d rounds in workload.json: "
                     "checksums are compared between engines only" % rounds)
    notes.extend(_unavailable_engines(engines))
    for wl in workloads:
        rows.extend(_engine_rows(wl, rounds, repeat, engines, progress, notes))
    if "native" in engines:
        row = _native_row(workloads[0] if workloads else load_workload(64, images_dir),
                          rounds, repeat, progress, notes)
        if row is not None:
            rows.append(row)
    reference = _verify(rows, expected)
    _figures(rows)
    if not rows:
        notes.append("no engine ran")
    return {
        "benchmark": "pvemu reference integer workload",
        "rounds": rounds,
        "repeat": repeat,
        "modes": list(modes),
        "expected_checksum": expected,
        "checksum": reference,
        "rows": [asdict(r) for r in rows],
        "notes": notes,
        "ok": bool(rows) and all(r.error is None for r in rows),
    }


def _unavailable_engines(engines) -> List[str]:
    return [why for why in (emu_available() if "emu" in engines else None,
                            unicorn_available() if "unicorn" in engines else None) if why]


def suite(programs: Optional[Sequence[str]] = None, opts: Sequence[str] = ("O2",),
          modes: Sequence[int] = (32, 64), repeat: int = DEFAULT_REPEAT,
          engines: Sequence[str] = ENGINES, quick: bool = False,
          progress: Optional[Callable[[str], None]] = None,
          suite_dir: Optional[os.PathLike] = None) -> dict:
    """Run the benchmark suite: every image on emu and Unicorn, each program
    natively once per optimization level; each at its default (or quick)
    rounds.  Returns a report dict with per-mode geometric means (format_suite)."""
    workloads = load_suite(programs, opts, modes, suite_dir)
    _check_args(0, repeat, engines)
    progress = progress or (lambda msg: None)
    notes = _unavailable_engines(engines)
    rows: List[BenchRow] = []
    for key in dict.fromkeys((wl.name, wl.opt) for wl in workloads):
        group = [wl for wl in workloads if (wl.name, wl.opt) == key]
        rounds = group[0].quick_rounds if quick else group[0].default_rounds
        group_rows = []
        for wl in group:
            group_rows.extend(_engine_rows(wl, rounds, repeat, engines, progress, notes))
        if "native" in engines:
            row = _native_row(group[0], rounds, repeat, progress, notes)
            if row is not None:
                group_rows.append(row)
        _verify(group_rows, group[0].expected(rounds))
        rows.extend(group_rows)
    _figures(rows)
    geomeans = {}
    for mode in modes:
        emu_rows = [r for r in rows if r.engine == "emu" and r.mode == str(mode)]
        geomeans[str(mode)] = {
            "mips": geomean([r.mips for r in emu_rows]),
            "unicorn_mips": geomean([r.mips for r in rows
                                      if r.engine == "unicorn" and r.mode == str(mode)]),
            "ratio_vs_unicorn": geomean([r.ratio_vs_unicorn for r in emu_rows]),
            "slowdown_vs_native": geomean([r.slowdown_vs_native for r in emu_rows]),
        }
    return {
        "benchmark": "pvemu benchmark suite",
        "repeat": repeat,
        "quick": quick,
        "modes": list(modes),
        "opts": list(opts),
        "rows": [asdict(r) for r in rows],
        "geomeans": geomeans,
        "notes": notes + ([] if rows else ["no engine ran"]),
        "ok": bool(rows) and all(r.error is None for r in rows),
    }


def _ratio(x: Optional[float]) -> str:
    if not x:
        return "-"
    return ("%.2fx" if x >= 0.1 else "%.3gx") % x


def format_table(report: dict) -> str:
    """The report as a text table, notes below it."""
    head = ("engine", "mode", "instructions", "median s", "MIPS",
            "vs unicorn", "vs native", "checksum")
    lines = []
    body = []
    for r in report["rows"]:
        insns = "-"
        if r["instructions"] is not None:
            insns = "{:,}".format(r["instructions"])
            if r["instructions_source"] == "unicorn-estimate":
                insns = "~" + insns
        body.append((
            r["engine"], r["mode"], insns,
            "%.4f" % r["median_seconds"] if r["median_seconds"] is not None else "-",
            "%.1f" % r["mips"] if r["mips"] else "-",
            _ratio(r["ratio_vs_unicorn"]),
            "%.1fx slower" % r["slowdown_vs_native"]
            if r["slowdown_vs_native"] and r["engine"] != "native" else "-",
            ("%#010x" % r["checksum"] if r["checksum"] is not None else "-")
            + ("" if r["error"] is None else "  ERROR"),
        ))
    exp = report["expected_checksum"]
    lines.append("pvemu benchmark: reference integer workload, %d rounds, median of %d%s"
                 % (report["rounds"], report["repeat"],
                    ", expected checksum %#010x" % exp if exp is not None else ""))
    lines.extend(_table(head, body, right={2, 3, 4, 5, 6}))
    lines.extend(_errors(report))
    lines.append("MIPS = retired guest instructions / median seconds of one run; "
                 "'vs unicorn' = MIPS / Unicorn MIPS (same mode); "
                 "native = the workload built for the host with gcc -O2.")
    sources = {r["instructions_source"] for r in report["rows"] if r["engine"] == "unicorn"}
    if "emu" in sources:
        lines.append("Unicorn rows use emu's instruction count for the same image and "
                     "rounds (the instruction stream is identical).")
    if sources & {"unicorn-count", "unicorn-estimate"}:
        lines.append("Unicorn rows without emu: instructions counted on Unicorn with a "
                     "block hook in a separate, untimed run (~ = extrapolated).")
    lines.extend(_footer(report))
    return "\n".join(lines)


def _table(head, body, right) -> List[str]:
    """Aligned text columns: the head, a rule, the body; `right` = the
    indices of right-aligned columns."""
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i])
              for i in range(len(head))]

    def fmt(cols):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cols, widths))).rstrip()
    return [fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body]


def _errors(report) -> List[str]:
    return ["ERROR %s %s %s: %s" % (r["workload"], r["engine"], r["mode"], r["error"])
            for r in report["rows"] if r["error"]]


def _footer(report) -> List[str]:
    return ["note: " + n for n in report["notes"]] + \
        ["result: " + ("OK" if report["ok"] else "FAILED")]


def _fmt(x, pattern="%.1f") -> str:
    return pattern % x if x else "-"


def emu_figures(rows: List[dict]):
    """Per emu row of a report: (row, its figures as table cells: instructions,
    emu MIPS, Unicorn MIPS on the same image, the ratio, vs native, checksum)."""
    for r in rows:
        if r["engine"] != "emu":
            continue
        uc = next((u for u in rows if u["engine"] == "unicorn" and u["mode"] == r["mode"]
                   and (u["workload"], u["opt"]) == (r["workload"], r["opt"])), None)
        yield r, ("{:,}".format(r["instructions"]) if r["instructions"] else "-",
                  _fmt(r["mips"]), _fmt(uc and uc["mips"]), _ratio(r["ratio_vs_unicorn"]),
                  _fmt(r["slowdown_vs_native"], "%.1fx slower"),
                  ("%#010x" % r["checksum"] if r["checksum"] is not None else "-")
                  + ("" if r["checksum_ok"] is not False else "  WRONG"))


def format_suite(report: dict) -> str:
    """The suite report as a text table: per image emu's MIPS, Unicorn's, the
    ratio and the slowdown to native; the geometric means per mode below."""
    head = ("program", "opt", "mode", "instructions", "emu MIPS", "unicorn MIPS",
            "vs unicorn", "vs native", "checksum")
    body = [(r["workload"], "-" + r["opt"], r["mode"]) + cells
            for r, cells in emu_figures(report["rows"])]
    lines = ["pvemu benchmark suite: %s, median of %d%s"
             % ("quick rounds" if report["quick"] else "default rounds", report["repeat"],
                ", load average %.2f at start" % report["load"] if "load" in report else "")]
    lines.extend(_table(head, body, right={3, 4, 5, 6, 7}))
    for mode, g in report["geomeans"].items():
        lines.append("geometric mean %s-bit: %s MIPS (unicorn %s), %s unicorn, %s"
                     % (mode, _fmt(g["mips"]), _fmt(g["unicorn_mips"]),
                        _ratio(g["ratio_vs_unicorn"]),
                        _fmt(g["slowdown_vs_native"], "%.1fx slower than native")))
    lines.extend(_errors(report))
    lines.append("'vs unicorn' = emu MIPS / Unicorn MIPS on the same image in this run; "
                 "'vs native' = emu seconds / the same C built for the host with gcc at the "
                 "same -O level (at bench time).")
    lines.extend(_footer(report))
    return "\n".join(lines)
