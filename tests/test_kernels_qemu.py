"""The system-emulation test kernels (guests/tests, built into
emu/images/tests) against QEMU, the reference.

(a) every kernel has its expected serial output and exit status;
(b) booted on qemu-system-x86_64 (when installed), each prints exactly
    expected/NAME.txt and ends with expected/NAME.status;
(c) rebuilding them from source (when gcc, ld and objcopy are present) works,
    and the rebuilt kernels load and, on QEMU, behave the same.
"""
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from emu.loader import load_kernel

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "guests" / "tests"
IMAGES = ROOT / "emu" / "images" / "tests"
EXPECTED = SRC / "expected"

_spec = importlib.util.spec_from_file_location("run_qemu", SRC / "run_qemu.py")
run_qemu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_qemu)

KERNELS = list(run_qemu.KERNELS)
QEMU = shutil.which(run_qemu.QEMU)
needs_qemu = pytest.mark.skipif(
    QEMU is None, reason=f"{run_qemu.QEMU} not installed (apt-get install qemu-system-x86)")
TOOLS = ("gcc", "ld", "objcopy", "make")
MISSING_TOOLS = [t for t in TOOLS if shutil.which(t) is None]


def expected(name):
    return ((EXPECTED / f"{name}.txt").read_bytes(),
            int((EXPECTED / f"{name}.status").read_text()))


def test_every_kernel_has_an_image_and_expectations():
    assert sorted(p.stem for p in IMAGES.glob("*.elf")) == sorted(KERNELS)
    for name in KERNELS:
        out, status = expected(name)
        assert status == 1, f"{name}: a kernel's expected result is success (exit 0 -> status 1)"
        text = out.decode("ascii")
        assert text.startswith(name if name != "hello32" else "hello from i386")
        assert "FAIL" not in text


def test_qemu_command_line():
    cmd = run_qemu.qemu_command(Path("k.elf"), qemu="qemu-system-x86_64")
    assert cmd[:3] == ["qemu-system-x86_64", "-kernel", "k.elf"]
    assert "-nographic" not in cmd          # SeaBIOS would print to the serial port too
    assert cmd[cmd.index("-device") + 1] == "isa-debug-exit,iobase=0xf4,iosize=0x04"


@needs_qemu
@pytest.mark.parametrize("name", KERNELS)
def test_kernel_on_qemu(name):
    out, status, err = run_qemu.run_kernel(IMAGES / f"{name}.elf", timeout=60)
    want_out, want_status = expected(name)
    assert out.decode(errors="replace") == want_out.decode(), err
    assert status == want_status, err


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    if MISSING_TOOLS:
        pytest.skip(f"not installed: {', '.join(MISSING_TOOLS)}")
    out = tmp_path_factory.mktemp("kernels")
    p = subprocess.run(["make", "-s", "-C", str(SRC), f"IMAGES={out}", f"BUILD={out / 'build'}"],
                       capture_output=True, text=True)
    if p.returncode and "-m32" in p.stderr and "unrecognized" in p.stderr:
        pytest.skip("the host gcc cannot build 32-bit code")
    assert p.returncode == 0, p.stderr
    return out


def test_rebuilt_kernels_load(rebuilt):
    for name in KERNELS:
        data = (rebuilt / f"{name}.elf").read_bytes()
        assert data[:5] == b"\x7fELF\x01"
        img = load_kernel(data, 32 << 20)
        assert img.mode == 32
        assert img.kind == ("multiboot-aout" if name == "hello32" else "multiboot-elf")


@needs_qemu
@pytest.mark.parametrize("name", KERNELS)
def test_rebuilt_kernel_on_qemu(rebuilt, name):
    out, status, err = run_qemu.run_kernel(rebuilt / f"{name}.elf", timeout=60)
    want_out, want_status = expected(name)
    assert out == want_out, err
    assert status == want_status, err
