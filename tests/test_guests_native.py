"""The bundled guests (guests/, built into emu/images/guests) with the native
pv_ops backend: on pvemu (`pvemu run`), on QEMU when installed (same output
but for the lines that depend on the machine or on timing: those starting
"~ ", and the numbers of pvbench's "bench" lines), and rebuilt from source
when gcc and binutils are present."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import pvemu_cli
from test_kernels_qemu import run_qemu

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "emu" / "images" / "guests"
GUESTS = json.loads((IMAGES / "guests.json").read_text())
NAMES = [g["name"] for g in GUESTS]
WIDTHS = {"32": "i386", "64": "x86-64"}
CASES = [(g["name"], w) for g in GUESTS for w in WIDTHS]
QEMU = shutil.which(run_qemu.QEMU)
MISSING_TOOLS = [t for t in ("gcc", "ld", "objcopy", "make") if shutil.which(t) is None]


def guest(name):
    return next(g for g in GUESTS if g["name"] == name)


def run_pvemu(path, name):
    g = guest(name)
    p = pvemu_cli("run", path, "--memory", g["memory"], "--cmdline", g["args"])
    return p.stdout.decode(), p.returncode, p.stderr.decode()


def stable(out):
    """The lines every machine prints alike: no "~ " lines, bench lines
    without their numbers."""
    lines = [line for line in out.splitlines() if not line.startswith("~ ")]
    return [re.sub(r" (insns|exits)=\d+", "", line) for line in lines]


@pytest.fixture(scope="module")
def native_runs():
    return {}


def native(native_runs, name, width):
    key = (name, width)
    if key not in native_runs:
        native_runs[key] = run_pvemu(IMAGES / f"{name}{width}.elf", name)
    return native_runs[key]


def test_listing():
    assert len(NAMES) == len(set(NAMES))
    assert set(NAMES) >= {"hello", "sched", "balloon", "pingpong", "pvbench", "workload", "hostile"}
    for g in GUESTS:
        assert {"name", "summary", "memory", "domains", "args"} <= set(g)
        assert "\n" not in g["summary"]
        for w in WIDTHS:
            assert (IMAGES / f"{g['name']}{w}.elf").read_bytes()[:5] == b"\x7fELF\x01"
    assert guest("pingpong")["domains"] == 2


@pytest.mark.parametrize("name,width", CASES)
def test_boots_on_pvemu(native_runs, name, width):
    out, status, err = native(native_runs, name, width)
    assert status == 0, out + err
    assert out.startswith(f"{name} ({WIDTHS[width]})\nbackend: native\n"), out
    assert "PANIC" not in out and "FAIL" not in out


def test_both_widths_alike(native_runs):
    for name in NAMES:
        a, b = (stable(native(native_runs, name, w)[0])[1:] for w in WIDTHS)
        assert a == b, name


def test_guest_results(native_runs):
    for w in WIDTHS:
        out = {n: native(native_runs, n, w)[0] for n in NAMES}
        assert "goodbye" in out["hello"]
        assert out["sched"].count("private page ok") == 3 and "all tasks done" in out["sched"]
        assert re.search(r"^~ task 3 \(ring 3\) step 3$", out["sched"], re.M)
        assert "allocator self-test: ok\nno balloon" in out["balloon"]
        assert "pingpong: 1000 round trips, counter 2000" in out["pingpong"]
        benches = re.findall(r"^bench (\w+) backend=native iters=1000 insns=(\d+) exits=0$", out["pvbench"], re.M)
        assert [b[0] for b in benches] == ["null", "irq", "pte", "pte_batch", "cr3"]
        assert all(int(b[1]) > 1000 for b in benches)
        assert "needs the pvemu supervisor" in out["hostile"]
        checksum = json.loads((ROOT / "emu" / "images" / "workload.json").read_text())["checksums"]["10"]
        assert f"workload: 10 rounds, checksum 0x{checksum:08x}" in out["workload"]


def test_sched_deterministic(native_runs):
    """The interleaving depends only on the instruction rate."""
    again = run_pvemu(IMAGES / "sched32.elf", "sched")
    assert again == native(native_runs, "sched", "32")


@pytest.mark.skipif(QEMU is None, reason=f"{run_qemu.QEMU} not installed (apt-get install qemu-system-x86)")
@pytest.mark.parametrize("name,width", CASES)
def test_same_on_qemu(native_runs, name, width):
    g = guest(name)
    out, status, err = run_qemu.run_kernel(IMAGES / f"{name}{width}.elf", timeout=60,
                                           args={"memory": g["memory"], "cmdline": g["args"]})
    assert status == 1, err                 # isa-debug-exit: (0 << 1) | 1
    assert stable(out.decode()) == stable(native(native_runs, name, width)[0])


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    if MISSING_TOOLS:
        pytest.skip(f"not installed: {', '.join(MISSING_TOOLS)}")
    out = tmp_path_factory.mktemp("guests")
    p = subprocess.run(["make", "-s", "-C", str(ROOT / "guests"), "guests", f"IMAGES={out}",
                        f"BUILD={out / 'build'}"], capture_output=True, text=True)
    if p.returncode and "-m32" in p.stderr and "unrecognized" in p.stderr:
        pytest.skip("the host gcc cannot build 32-bit code")
    assert p.returncode == 0, p.stderr
    return out


def test_rebuilt_guests(rebuilt, native_runs):
    """Every image rebuilds; with the compiler the checked-in ones were built
    with (the one emu/images/workload.json names), byte for byte."""
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    same_gcc = gcc == json.loads((ROOT / "emu" / "images" / "workload.json").read_text())["compiler"]
    for name, w in CASES:
        data = (rebuilt / f"{name}{w}.elf").read_bytes()
        assert data[:5] == b"\x7fELF\x01"
        if same_gcc:
            assert data == (IMAGES / f"{name}{w}.elf").read_bytes(), f"{name}{w}.elf differs"
    for w in WIDTHS:
        assert run_pvemu(rebuilt / f"hello{w}.elf", "hello") == native(native_runs, "hello", w)
