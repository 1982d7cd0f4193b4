"""The floating-point and SIMD programs (guests/fp) as tests and as a benchmark.

Freestanding C (a double matrix product with elimination, an n-body
simulation, packed single SAXPY and 4x4 transforms, a string library on the
SSE4.2 string instructions, CRC-32C on the CRC32 instruction) built in three
variants: x86-64 ``-O2 -msse4.2``, i386 ``-O2 -msse4.2 -mfpmath=sse`` and
i386 ``-O2 -mfpmath=387`` (emu/images/fp, described by fp.json).  The images
follow the integer suite's calling convention (emu.bench); each also records
a few results of its last round, as raw bits, in ``fp_out``.

Checking: every image's checksum and recorded results against those of the
same C built natively with the same flags (recorded in fp.json at build time,
and rebuilt with the host's gcc by the tests and by ``pvemu bench``; the
i386 native programs need a 32-bit C library, Debian's gcc-multilib).

Benchmark: ``pvemu bench --sections fp`` (:func:`fp_suite`,
:func:`format_fp`) runs each image on emu and Unicorn and natively, and
reports MIPS, the ratio to Unicorn and per kind of work (scalar double,
packed single, SSE4.2 strings and CRC) the geometric means.
"""
from __future__ import annotations

import functools
import json
import os
import struct
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from emu import bench

FP_DIR = bench.IMAGES_DIR / "fp"
FP_METADATA = "fp.json"

#: Programs Unicorn computes wrongly, and why (checked against the host CPU):
#: its row is still timed, its checksum marked wrong, and the report stays OK.
UNICORN_KNOWN_WRONG = {
    "sse42str": "Unicorn's PCMPISTRI/PCMPISTRM in equal-ordered mode (strstr) miss a "
                "needle that starts in a chunk's last bytes and runs past its end (the "
                "host CPU: index 15, CF=1; Unicorn: 16, CF=0), from round 26 of sse42str on",
}

#: The kind of work of each program, for the benchmark's geometric means.
KINDS = {"matmul": "scalar double", "nbody": "scalar double", "saxpy": "packed single",
         "sse42str": "SSE4.2 string", "crc32c": "SSE4.2 string"}


@dataclass
class FpWorkload(bench.Workload):
    """One image of a floating-point program: `opt` is its variant's name
    (sse4.2-64, sse4.2-32, 387-32), `flags` the gcc flags that tell it apart."""
    flags: str = ""
    cflags: str = ""                    #: the code-generation flags all variants share
    out_address: int = 0                #: fp_out in guest memory
    out_count_address: int = 0          #: fp_out_count
    outputs: Dict[int, List[str]] = field(default_factory=dict)  #: native -o results

    @property
    def label(self) -> str:
        return "%s %s" % (self.name, self.opt)

    def native_recipe(self) -> Optional[tuple]:
        """(sources, gcc flags) of the native build (emu.bench.build_native):
        the variant's flags and the shared ones, linked non-PIE like the image."""
        src, bench_src = FP_DIR / "src", bench.SUITE_DIR / "src"
        sources = [src / (self.name + ".c"), src / "fprt.c", src / "fp_main.c"]
        if not all(p.is_file() for p in sources + [bench_src / "native_main.c"]):
            return None
        return sources, (self.flags.split() + self.cflags.split()
                         + ["-I%s" % src, "-I%s" % bench_src, "-no-pie"])

    def native_missing(self) -> Optional[str]:
        """Why the host cannot build this native program (a 32-bit C library
        for the i386 variants), or None."""
        if self.mode == 32 and not host_links_m32():
            return "native i386 programs skipped: gcc -m32 cannot link a C program " \
                   "(no 32-bit C library; Debian: apt-get install gcc-multilib)"
        return None


def load_fp_metadata(fp_dir: Optional[os.PathLike] = None) -> dict:
    """fp.json (from `fp_dir`, default emu/images/fp)."""
    with open(Path(fp_dir or FP_DIR) / FP_METADATA) as f:
        return json.load(f)


def load_fp(programs: Optional[Sequence[str]] = None, variants: Optional[Sequence[str]] = None,
            fp_dir: Optional[os.PathLike] = None) -> List[FpWorkload]:
    """The images of every program (or those named) in each of its variants
    (or those named), in the order of fp.json."""
    fp_dir = Path(fp_dir or FP_DIR)
    meta = load_fp_metadata(fp_dir)
    for kind, asked, known in (("programs", programs, meta["programs"]),
                               ("variants", variants, meta["variants"])):
        unknown = [x for x in (asked or ()) if x not in known]
        if unknown:
            raise ValueError("unknown floating-point %s %s (known: %s)"
                             % (kind, ", ".join(unknown), ", ".join(known)))
    out = []
    for name, prog in meta["programs"].items():
        if programs and name not in programs:
            continue
        for variant, im in prog["images"].items():
            if variants and variant not in variants:
                continue
            v = meta["variants"][variant]
            out.append(bench._workload(
                v["bits"], fp_dir, meta, im, prog["default_rounds"], im["checksums"],
                name=name, opt=variant, quick_rounds=prog["quick_rounds"],
                flags=v["flags"], cflags=meta["cflags"], out_address=im["out_address"],
                out_count_address=im["out_count_address"],
                outputs={int(r): v for r, v in im["outputs"].items()}, cls=FpWorkload))
    return out


def _recorded(wl: FpWorkload, checksum: int, read) -> List[str]:
    """The checksum and fp_out's results (read(address, size) reads guest
    memory after the run), in the native program's -o format."""
    (count,) = struct.unpack("<I", bytes(read(wl.out_count_address, 4)))
    if count > 8:
        raise bench.BenchError("%s: fp_out_count %d" % (wl.label, count))
    raw = bytes(read(wl.out_address, 8 * count))
    return ["0x%08x" % checksum] + ["0x%016x" % v for v in struct.unpack("<%dQ" % count, raw)]


def emu_outputs(wl: FpWorkload, rounds: int) -> List[str]:
    """Run `wl` on emu: its checksum and recorded results, in the native
    program's -o format (hex strings)."""
    m = bench.prepare_emu(wl, rounds)
    return _recorded(wl, bench.run_emu(wl, rounds, m).checksum, m.mem_read)


def unicorn_outputs(wl: FpWorkload, rounds: int) -> List[str]:
    """The same on Unicorn."""
    uc = bench.prepare_unicorn(wl, rounds)
    return _recorded(wl, bench.run_unicorn(wl, rounds, uc).checksum, uc.mem_read)


def native_outputs(program: os.PathLike, rounds: int) -> List[str]:
    """The native program's checksum and recorded results (its -o)."""
    res = subprocess.run([str(program), "-o", str(rounds)], capture_output=True, text=True,
                         timeout=120)
    words = res.stdout.split()
    if res.returncode != 0 or not words or words[0] != str(rounds):
        raise bench.BenchError("%s -o %d: %r %s" % (program, rounds, res.stdout, res.stderr))
    return words[1:]


@functools.lru_cache(maxsize=None)
def host_links_m32() -> bool:
    """Whether the host's gcc builds and links a 32-bit C program."""
    cc = bench._find_cc()
    if cc is None:
        return False
    with tempfile.TemporaryDirectory(prefix="pvemu-m32-") as tmp:
        src = Path(tmp) / "t.c"
        src.write_text("#include <stdio.h>\nint main(void) { return puts(\"\") < 0; }\n")
        res = subprocess.run([cc, "-m32", str(src), "-o", str(Path(tmp) / "t")],
                             capture_output=True)
        return res.returncode == 0


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------

def fp_suite(programs: Optional[Sequence[str]] = None, variants: Optional[Sequence[str]] = None,
             modes: Sequence[int] = (32, 64), repeat: int = bench.DEFAULT_REPEAT,
             engines: Sequence[str] = bench.ENGINES,
             quick: bool = False, progress: Optional[Callable[[str], None]] = None,
             fp_dir: Optional[os.PathLike] = None) -> dict:
    """Run the floating-point programs: every image on emu and Unicorn and
    natively (same flags), at its default (or quick) rounds.  Returns a
    report dict with geometric means per kind of work and per variant."""
    workloads = load_fp(programs, variants, fp_dir)
    bench._check_args(0, repeat, engines)
    progress = progress or (lambda msg: None)
    notes = bench._unavailable_engines(engines)
    rows: List[bench.BenchRow] = []
    for wl in workloads:
        rounds = wl.quick_rounds if quick else wl.default_rounds
        group = bench._engine_rows(wl, rounds, repeat, engines, progress, notes)
        if "native" in engines:
            row = bench._native_row(wl, rounds, repeat, progress, notes)
            if row is not None:
                group.append(row)
        bench._verify(group, wl.expected(rounds))
        for row in group:
            if row.engine == "unicorn" and row.checksum_ok is False \
                    and wl.name in UNICORN_KNOWN_WRONG:
                row.error = None
                notes.append("unicorn %s: wrong checksum, a known Unicorn bug: %s"
                             % (wl.label, UNICORN_KNOWN_WRONG[wl.name]))
        rows.extend(group)
    bench._figures(rows)
    emu_rows = [r for r in rows if r.engine == "emu"]
    flags = {wl.opt: wl.flags for wl in workloads}

    def means(selected):
        return {"mips": bench.geomean([r.mips for r in selected]),
                "ratio_vs_unicorn": bench.geomean([r.ratio_vs_unicorn for r in selected]),
                "slowdown_vs_native": bench.geomean([r.slowdown_vs_native for r in selected])}
    by_kind = {k: means([r for r in emu_rows if KINDS.get(r.workload, "other") == k])
               for k in dict.fromkeys(KINDS.get(wl.name, "other") for wl in workloads)}
    by_variant = {v: means([r for r in emu_rows if r.opt == v]) for v in flags}
    return {
        "benchmark": "pvemu floating-point and SIMD programs",
        "repeat": repeat,
        "quick": quick,
        "variants": flags,
        "rows": [asdict(r) for r in rows],
        "by_kind": by_kind,
        "by_variant": by_variant,
        "overall": means(emu_rows),
        "notes": list(dict.fromkeys(notes)) + ([] if rows else ["no engine ran"]),
        "ok": bool(rows) and all(r.error is None for r in rows),
    }


def format_fp(report: dict) -> str:
    """The report as a text table: per image emu's MIPS, Unicorn's, the ratio
    and the slowdown to native; geometric means per kind and variant below."""
    head = ("program", "variant", "instructions", "emu MIPS", "unicorn MIPS",
            "vs unicorn", "vs native", "checksum")
    body = [(r["workload"], r["opt"]) + cells for r, cells in bench.emu_figures(report["rows"])]
    lines = ["pvemu floating-point and SIMD programs: %s, median of %d%s"
             % ("quick rounds" if report["quick"] else "default rounds", report["repeat"],
                ", load average %.2f at start" % report["load"] if "load" in report else "")]
    lines.extend(bench._table(head, body, right={2, 3, 4, 5, 6}))
    for group in (report["by_kind"], report["by_variant"], {"all": report["overall"]}):
        for name, g in group.items():
            lines.append("geometric mean %s: %s MIPS, %s unicorn, %s"
                         % (name, bench._fmt(g["mips"]), bench._ratio(g["ratio_vs_unicorn"]),
                            bench._fmt(g["slowdown_vs_native"], "%.1fx slower than native")))
    lines.append("variants: " + "; ".join("%s = gcc %s" % kv for kv in report["variants"].items()))
    lines.extend(bench._errors(report))
    lines.append("'vs unicorn' = emu MIPS / Unicorn MIPS on the same image in this run; "
                 "'vs native' = emu seconds / the same C built for the host with the same "
                 "flags (at bench time).")
    lines.extend(bench._footer(report))
    return "\n".join(lines)

