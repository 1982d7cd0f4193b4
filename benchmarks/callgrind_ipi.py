"""Host instructions per guest instruction, counted with callgrind.

Deterministic where wall-clock time is not (a shared, loaded machine): each
program runs once under valgrind's callgrind, collecting only inside the
core's run loop (cpu_run and what it calls; `*cpu_run*`: link-time
optimization names it cpu_run.lto_priv.0), so loading, Python and
valgrind's start-up are not counted.  Needs valgrind and a built core.

    python benchmarks/callgrind_ipi.py                # workload + suite (-O2), both widths
    python benchmarks/callgrind_ipi.py interp sha256  # some programs only
    python benchmarks/callgrind_ipi.py --widths 64
    python benchmarks/callgrind_ipi.py --fp                   # every FP/SIMD image
    python benchmarks/callgrind_ipi.py --fp matmul nbody-387-32  # programs or images

It measures the core of the checkout it is in (built in place), not an
installed copy.  Prints one row per program: host instructions per guest instruction in each
width, and the geometric mean of the suite's rows.  With --fp, one row per
floating-point image (emu/images/fp: program-variant, e.g. matmul-387-32,
at its quick rounds) and their geometric mean.

Valgrind does not model the host's floating-point exception flags (its
MXCSR and x87 status never show them), so under it pvemu's SSE arithmetic
never sees an inexact result, the guest's MXCSR.PE stays clear, and the
fast path (which needs PE set already, as it is natively from the first
inexact operation on) would never be taken.  The FP child therefore starts
each SSE image from the MXCSR it loads with PE set (0x1FA0 for 0x1F80: the
one LDMXCSR operand of fp_init in each image); the results are unchanged.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile

# The checkout this script is in, first on the child's path: measure its core,
# not an installed copy.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD_ROUNDS = 4         # ~3 M guest instructions, like a suite program's quick rounds


def _fp_image(label: str):
    """The FP workload named `label` (program-variant, e.g. matmul-387-32)."""
    from emu import fpbench
    found = [w for w in fpbench.load_fp() if "%s-%s" % (w.name, w.opt) == label]
    if not found:
        raise SystemExit("unknown floating-point image %r" % label)
    return found[0]


def fp_images(asked) -> list:
    """Image labels (program-variant) of the FP programs or images asked
    (all when none)."""
    from emu import fpbench
    labels = ["%s-%s" % (w.name, w.opt) for w in fpbench.load_fp()]
    out = []
    for a in asked or labels:
        picked = [lab for lab in labels if lab == a or lab.startswith(a + "-")]
        if not picked:
            raise SystemExit("unknown floating-point program or image %r (known: %s)"
                             % (a, ", ".join(labels)))
        out += [lab for lab in picked if lab not in out]
    return out


def _preset_pe(m, wl) -> None:
    """Make the image's fp_init load MXCSR 0x1FA0 (PE set) instead of the
    default 0x1F80 (see the module's docstring: valgrind and MXCSR flags)."""
    image = wl.image_for(wl.quick_rounds)
    at = image.find(b"\x80\x1f\x00\x00")
    if at >= 0 and image.count(b"\x80\x1f\x00\x00") == 1:
        m.mem_write(wl.load_address + at, b"\xa0\x1f\x00\x00")


def _child(name: str, width: int) -> None:
    """Run one program (in valgrind) and print its guest instruction count;
    width 0 names a floating-point image."""
    from emu import bench
    if width == 0:
        wl = _fp_image(name)
        rounds = wl.quick_rounds
    elif name == "workload":
        wl, rounds = bench.load_workload(width), WORKLOAD_ROUNDS
    else:
        wl = [w for w in bench.load_suite([name]) if w.mode == width][0]
        rounds = wl.quick_rounds
    m = bench.prepare_emu(wl, rounds)
    if width == 0:
        _preset_pe(m, wl)
    r = bench.run_emu(wl, rounds, machine=m)
    if wl.expected(rounds) is not None and r.checksum != wl.expected(rounds):
        raise SystemExit("%s-%d: wrong checksum %#x" % (name, width, r.checksum))
    print("GUEST_INSNS %d" % r.instructions)


def measure(name: str, width: int) -> float:
    """Host instructions per guest instruction of `name` in `width`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        p = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
             "--toggle-collect=*cpu_run*", sys.executable, __file__, "--child", name, str(width)],
            capture_output=True, text=True, env=env)
        guest = re.search(r"GUEST_INSNS (\d+)", p.stdout)
        if p.returncode or guest is None:
            raise SystemExit("%s-%d failed:\n%s%s" % (name, width, p.stdout, p.stderr[-3000:]))
        with open(out) as f:
            host = int(re.search(r"^summary: (\d+)", f.read(), re.M).group(1))
    return host / int(guest.group(1))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("programs", nargs="*", help="workload and/or suite programs (default: all)")
    ap.add_argument("--widths", default="32,64")
    ap.add_argument("--fp", action="store_true",
                    help="the floating-point images (programs or program-variant names)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child[0], int(a.child[1]))
        return
    if a.fp:
        logs = []
        print("%-22s%10s" % ("image", "host/guest"))
        for label in fp_images(a.programs):
            v = measure(label, 0)
            logs.append(math.log(v))
            print("%-22s%10.2f" % (label, v), flush=True)
        print("%-22s%10.2f" % ("geomean", math.exp(sum(logs) / len(logs))))
        return
    from emu import bench
    names = a.programs or ["workload"] + list(bench.load_suite_metadata()["programs"])
    widths = [int(w) for w in a.widths.split(",")]
    print("%-10s" % "program" + "".join("%10s" % ("%d-bit" % w) for w in widths))
    logs = {w: [] for w in widths}
    for name in names:
        row = []
        for w in widths:
            v = measure(name, w)
            row.append(v)
            if name != "workload":
                logs[w].append(math.log(v))
        print("%-10s" % name + "".join("%10.2f" % v for v in row), flush=True)
    if any(logs.values()):
        print("%-10s" % "geomean" + "".join(
            "%10.2f" % math.exp(sum(logs[w]) / len(logs[w])) for w in widths))


if __name__ == "__main__":
    main()
