"""The pvemu reference integer benchmark.

The workload (guests/workload/workload.c, prebuilt as emu/images/workload32.bin
and workload64.bin, described by emu/images/workload.json) runs R rounds of a
sieve of Eratosthenes over 8 KiB, a bitwise CRC-32 over 4 KiB and a bubble sort
of 256 words -- about 0.74 M guest instructions a round -- and halts with a
32-bit checksum in EAX.

This module loads the images into emu.Machine and (when installed) into
Unicorn, runs them, checks the checksums (against each other and against the
natively computed values recorded in workload.json), times them and reports
MIPS.  When gcc and the workload source are at hand it also builds the
workload as a native host program and times that.

Image calling convention (see guests/workload/entry.S):
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

CLI: the lead wires ``pvemu bench`` / ``python -m emu bench`` to
:func:`add_arguments` and :func:`run`.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
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


def load_workload(mode: int, images_dir: Optional[os.PathLike] = None) -> Workload:
    """Load the shipped (or `images_dir`'s) workload image for mode 32 or 64."""
    if mode not in (32, 64):
        raise ValueError("mode must be 32 or 64, not %r" % (mode,))
    images_dir = Path(images_dir or IMAGES_DIR)
    meta = load_metadata(images_dir)
    im = meta["images"][str(mode)]
    image = (images_dir / im["file"]).read_bytes()
    if len(image) != im["size"]:
        raise BenchError("%s: size %d, workload.json says %d"
                         % (im["file"], len(image), im["size"]))
    off = meta["header_offset"]
    if image[off:off + 4] != meta["magic"].encode():
        raise BenchError("%s: bad magic" % im["file"])
    return Workload(
        mode=mode, image=image, load_address=im["load_address"], entry=im["entry"],
        hlt_address=im["hlt_address"], mem_end=im["mem_end"],
        rounds_offset=meta["rounds_offset"], result_offset=meta["result_offset"],
        default_rounds=meta["default_rounds"],
        checksums={int(k): v for k, v in meta["checksums"].items()},
    )


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

def find_workload_source() -> Optional[Path]:
    """guests/workload/workload.c of a source checkout ($PVEMU_WORKLOAD_SRC
    overrides), or None (e.g. in an installed package)."""
    env = os.environ.get("PVEMU_WORKLOAD_SRC")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parent.parent / "guests" / "workload"
                      / "workload.c")
    for c in candidates:
        if c.is_file():
            return c
    return None


def native_unavailable() -> Optional[str]:
    """None if the native program can be built, else why not."""
    if find_workload_source() is None:
        return "native timing skipped: guests/workload/workload.c not found " \
               "(not a source checkout)"
    if _find_cc() is None:
        return "native timing skipped: no C compiler (gcc) found"
    return None


def _find_cc() -> Optional[str]:
    cc = os.environ.get("CC") or "gcc"
    return shutil.which(cc)


def build_native(dest_dir: os.PathLike, source: Optional[os.PathLike] = None) -> Path:
    """Compile the workload as a native host program into `dest_dir`."""
    source = Path(source) if source else find_workload_source()
    cc = _find_cc()
    if source is None or cc is None:
        raise BenchError(native_unavailable() or "cannot build the native program")
    out = Path(dest_dir) / "workload_native"
    res = subprocess.run([cc, "-O2", "-DNATIVE", str(source), "-o", str(out)],
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


def _progress_printer(stream=None) -> Callable[[str], None]:
    stream = stream or sys.stderr

    def progress(msg: str) -> None:
        print("bench: " + msg, file=stream, flush=True)
    return progress


def _median(xs):
    return statistics.median(xs) if xs else None


def benchmark(modes: Sequence[int] = (32, 64), rounds: int = DEFAULT_ROUNDS,
              repeat: int = DEFAULT_REPEAT, engines: Sequence[str] = ENGINES,
              progress: Optional[Callable[[str], None]] = None,
              images_dir: Optional[os.PathLike] = None) -> dict:
    """Run the benchmark; returns a report dict (see format_table / --json).

    Each timed run uses a freshly loaded engine; set-up is not timed.  The
    report's "ok" is False if any engine that ran failed or computed a wrong
    checksum; engines that are not available are skipped with a note."""
    if rounds < 0 or repeat < 1:
        raise ValueError("need rounds >= 0 and repeat >= 1")
    for e in engines:
        if e not in ENGINES:
            raise ValueError("unknown engine %r" % (e,))
    progress = progress or (lambda msg: None)
    notes: List[str] = []
    rows: List[BenchRow] = []
    expected = None
    workloads = {mode: load_workload(mode, images_dir) for mode in modes}
    if workloads:
        expected = next(iter(workloads.values())).expected(rounds)
    if expected is None:
        notes.append("no native checksum recorded for %d rounds in workload.json: "
                     "checksums are compared between engines only" % rounds)

    emu_why = emu_available() if "emu" in engines else None
    uc_why = unicorn_available() if "unicorn" in engines else None
    if emu_why:
        notes.append(emu_why)
    if uc_why:
        notes.append(uc_why)

    def timed(row, label, fn):
        for i in range(repeat):
            try:
                r = fn()
            except Exception as e:                  # noqa: BLE001 - reported
                row.error = "%s: %s" % (type(e).__name__, e)
                progress("%s: FAILED: %s" % (label, row.error))
                return None
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
        return row

    for mode, wl in workloads.items():
        emu_row = None
        if "emu" in engines and not emu_why:
            emu_row = BenchRow("emu", str(mode), rounds, instructions_source="emu")
            timed(emu_row, "emu %d-bit, %d rounds" % (mode, rounds),
                  lambda: run_emu(wl, rounds, prepare_emu(wl, rounds)))
            rows.append(emu_row)
        if "unicorn" in engines and not uc_why:
            row = BenchRow("unicorn", str(mode), rounds)
            timed(row, "unicorn %d-bit, %d rounds" % (mode, rounds),
                  lambda: run_unicorn(wl, rounds, prepare_unicorn(wl, rounds)))
            # Same image, same rounds: the instruction stream is the one emu
            # executes, so its MIPS uses emu's retired-instruction count.
            if emu_row is not None and emu_row.instructions is not None \
                    and emu_row.error is None:
                row.instructions = emu_row.instructions
                row.instructions_source = "emu"
            elif row.error is None:
                progress("counting instructions on Unicorn (%d-bit) ..." % mode)
                try:
                    n, exact = estimate_instructions_unicorn(wl, rounds)
                    row.instructions = n
                    row.instructions_source = "unicorn-count" if exact \
                        else "unicorn-estimate"
                    if not exact:
                        notes.append("unicorn %d-bit instruction count extrapolated "
                                     "from a counted 20-round run" % mode)
                except Exception as e:              # noqa: BLE001 - reported
                    notes.append("could not count instructions on Unicorn: %s" % e)
            rows.append(row)

    if "native" in engines:
        why = native_unavailable()
        if why:
            notes.append(why)
        else:
            row = BenchRow("native", "host", rounds)
            try:
                with tempfile.TemporaryDirectory(prefix="pvemu-bench-") as tmp:
                    progress("building the native workload ...")
                    prog = build_native(tmp)
                    progress("native: %d runs of %d rounds" % (repeat, rounds))
                    results = run_native(prog, rounds, repeat)
                row.seconds = [r.seconds for r in results]
                row.checksum = results[0].checksum
                if any(r.checksum != row.checksum for r in results):
                    row.error = "native checksum changed between repeats"
            except Exception as e:                  # noqa: BLE001 - reported
                row.error = "%s: %s" % (type(e).__name__, e)
            rows.append(row)

    # Verification: every engine must agree, and agree with workload.json.
    reference = expected
    if reference is None:
        for row in rows:
            if row.checksum is not None and row.error is None:
                reference = row.checksum
                break
    for row in rows:
        if row.checksum is not None:
            row.checksum_ok = row.checksum == reference
            if not row.checksum_ok and row.error is None:
                row.error = "wrong checksum %#010x, expected %#010x" \
                            % (row.checksum, reference)

    # Figures.
    for row in rows:
        row.median_seconds = _median(row.seconds)
        if row.instructions and row.median_seconds:
            row.mips = row.instructions / row.median_seconds / 1e6
    uc_mips = {r.mode: r.mips for r in rows if r.engine == "unicorn" and r.mips}
    native = next((r for r in rows if r.engine == "native" and r.median_seconds
                   and r.error is None), None)
    for row in rows:
        if row.mips and row.mode in uc_mips:
            row.ratio_vs_unicorn = row.mips / uc_mips[row.mode]
        if native and row.median_seconds:
            row.slowdown_vs_native = row.median_seconds / native.median_seconds

    ok = bool(rows) and all(r.error is None for r in rows)
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
        "ok": ok,
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
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i])
              for i in range(len(head))]
    right = {2, 3, 4, 5, 6}

    def fmt(cols):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cols, widths))).rstrip()

    exp = report["expected_checksum"]
    lines.append("pvemu benchmark: reference integer workload, %d rounds, median of %d%s"
                 % (report["rounds"], report["repeat"],
                    ", expected checksum %#010x" % exp if exp is not None else ""))
    lines.append(fmt(head))
    lines.append(fmt(["-" * w for w in widths]))
    lines.extend(fmt(b) for b in body)
    for r in report["rows"]:
        if r["error"]:
            lines.append("ERROR %s %s: %s" % (r["engine"], r["mode"], r["error"]))
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
    for n in report["notes"]:
        lines.append("note: " + n)
    lines.append("result: " + ("OK" if report["ok"] else "FAILED"))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def add_arguments(parser) -> None:
    """Add the bench options to an argparse parser (or subparser)."""
    parser.add_argument("--quick", action="store_true",
                        help="a short run (%d rounds, %d repeats unless given)"
                             % (QUICK_ROUNDS, QUICK_REPEAT))
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
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON on stdout")
    parser.add_argument("--sections", default=",".join(SECTIONS), metavar="LIST",
                        help="comma-separated subset of %s: the workload against Unicorn and "
                             "native, exits to the supervisor (hypercall round trip, one "
                             "operation paravirtualized / trapped / in-core), two domains on "
                             "one and two threads (default: all)" % ",".join(SECTIONS))


SECTIONS = ("workload", "exits", "aggregate")


def _paravirt_sections(sections, quick: bool, progress) -> dict:
    """The supervisor benchmarks (paravirt.bench) asked for."""
    from paravirt import bench as pvbench
    out = {}
    if "exits" in sections:
        out["exits"] = pvbench.exit_costs(20_000 if quick else 100_000, 3 if quick else 5, progress)
        progress("exits: the pvbench guest's counts")
        out["pvbench"] = pvbench.pvbench(64)
    if "aggregate" in sections:
        out["aggregate"] = pvbench.aggregate_mips(10 if quick else 40, progress)
    return out


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
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    report = {"ok": True}
    try:
        if "workload" in sections:
            report = benchmark(modes=modes, rounds=rounds, repeat=repeat, engines=engines,
                               progress=_progress_printer())
        report.update(_paravirt_sections(sections, args.quick, _progress_printer()))
    except (ValueError, OSError, BenchError, RuntimeError) as e:
        print("pvemu bench: error: %s" % e, file=sys.stderr)
        return 2
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from paravirt import bench as pvbench
        parts = [format_table(report)] if "workload" in sections else []
        if "exits" in report:
            parts.append(pvbench.format_exit_costs(report["exits"]))
            parts.append(pvbench.format_pvbench(report["pvbench"], 64))
        if "aggregate" in report:
            parts.append(pvbench.format_aggregate(report["aggregate"]))
        print("\n\n".join(parts))
    return 0 if report["ok"] else 1


def main(argv=None) -> int:
    """Stand-alone entry point: python -m emu.bench [options]."""
    import argparse
    parser = argparse.ArgumentParser(prog="pvemu bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
