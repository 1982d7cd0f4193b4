"""The test kernels of guests/tests booted on pvemu: the serial output and
exit status must be what QEMU gives (guests/tests/expected, recorded from
qemu-system-x86_64 by guests/tests/run_qemu.py)."""
import json
import os

import pytest

from emu.system import boot, parse_size
from helpers import pvemu_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(ROOT, "emu", "images", "tests")
EXPECTED = os.path.join(ROOT, "guests", "tests", "expected")

# Kernels that need system emulation not yet in the core (the IDT, paging,
# rings, the PIC and PIT): strict, so each one turns into a failure the day
# it starts to pass and must be moved out of this list.
NOT_YET = {
}
KERNELS = sorted(f[:-4] for f in os.listdir(IMAGES) if f.endswith(".elf"))

# Where QEMU's TCG departs from the SDM, the SDM decides: (QEMU's bytes,
# the SDM's) in a kernel's expected output.  QEMU leaves RF clear in the
# EFLAGS a fault pushes; the processor sets it for every fault but an
# instruction breakpoint (SDM Vol. 3A 17.3.1.1; kvm-unit-tests idt_test).
QEMU_DIFFERS = {
    "v86_32": [(b"#GP frame: eip=0027 cs=2000 eflags=0x20002", b"#GP frame: eip=0027 cs=2000 eflags=0x30002"),
               (b"#GP frame: eip=007a cs=2000 eflags=0x20046", b"#GP frame: eip=007a cs=2000 eflags=0x30046")],
}


def kernel_args(name):
    """Memory and command line a kernel is run with (expected/NAME.args)."""
    path = os.path.join(EXPECTED, name + ".args")
    args = {"memory": "32M", "cmdline": ""}
    if os.path.exists(path):
        with open(path) as f:
            args.update(json.load(f))
    return args


def expected(name):
    with open(os.path.join(EXPECTED, name + ".txt"), "rb") as f:
        out = f.read()
    with open(os.path.join(EXPECTED, name + ".status")) as f:
        status = int(f.read())
    for qemu, sdm in QEMU_DIFFERS.get(name, []):
        assert qemu in out
        out = out.replace(qemu, sdm)
    return out, status


@pytest.mark.parametrize("name", [
    pytest.param(k, marks=pytest.mark.xfail(reason=f"needs {NOT_YET[k]}", strict=True))
    if k in NOT_YET else k for k in KERNELS])
def test_kernel_output_matches_qemu(name):
    args = kernel_args(name)
    with open(os.path.join(IMAGES, name + ".elf"), "rb") as f:
        m, _ = boot(f.read(), memory=parse_size(args["memory"]), cmdline=args["cmdline"])
    ex = m.run(count=200_000_000)
    out, qemu_status = expected(name)
    assert ex.reason == "debug-exit", str(ex)
    assert ((ex.status << 1) | 1) == qemu_status
    assert bytes(m.serial_output) == out


def test_pvemu_run_command_exit_status_and_output():
    kernel = os.path.join(IMAGES, "hello32.elf")
    out, qemu_status = expected("hello32")
    for extra, status in (([], qemu_status >> 1), (["--qemu-exit-status"], qemu_status)):
        p = pvemu_cli("run", kernel, "--memory", "32M", *extra)
        assert p.returncode == status and p.stdout == out


def test_pvemu_run_reports_bad_images_and_budget(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x7fELF" + b"\x00" * 10)
    p = pvemu_cli("run", bad)
    assert p.returncode == 2 and b"pvemu run:" in p.stderr and b"Traceback" not in p.stderr
    p = pvemu_cli("run", os.path.join(IMAGES, "hello32.elf"), "--memory", "32M",
                  "--max-instructions", "1000")
    assert p.returncode == 124 and b"1,000 instructions" in p.stderr
    p = pvemu_cli("run", "--memory", "12Q", "x")
    assert p.returncode == 2 and b"bad size" in p.stderr


def test_the_budget_message_counts_the_whole_run_and_linux_gets_a_larger_default(tmp_path):
    """The run goes in slices (serial output is flushed between them): the
    message must give the instructions of the whole run, not of the last
    slice; a Linux kernel (about 6 billion instructions to boot) is not
    stopped by the 2 billion default meant for small kernels."""
    from pvemu import run as system
    p = pvemu_cli("run", "workload32", "--max-instructions", "3000000")
    assert p.returncode == 124 and b"ran 3,000,000 instructions" in p.stderr, p.stderr
    linux = tmp_path / "bzImage"
    linux.write_bytes(bytes(0x202) + b"HdrS" + bytes(0x100))
    assert system.default_budget([str(linux)]) == system.LINUX_BUDGET > 6_000_000_000
    assert system.default_budget(["hello", str(tmp_path / "absent")]) == system.DEFAULT_BUDGET


def test_runs_are_bit_identical_and_follow_the_instruction_rate():
    """Time is virtual: the same kernel twice gives the same output, the
    same instruction count and the same virtual time; a slower virtual clock
    (fewer instructions per second) makes the timer fire after fewer
    instructions."""
    def run(ips):
        with open(os.path.join(IMAGES, "timer32.elf"), "rb") as f:
            m, _ = boot(f.read(), memory=32 << 20)
        m.ips = ips
        ex = m.run(count=200_000_000)
        return bytes(m.serial_output), m.instructions, m.virtual_time, ex.reason
    a, b = run(100_000_000), run(100_000_000)
    assert a == b and a[3] == "debug-exit"
    slow = run(10_000_000)
    assert slow[0] == a[0] and slow[2] < a[2]
