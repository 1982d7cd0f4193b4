"""Debian's stock kernels (686 and amd64) boot on pvemu to a busybox /init,
which prints marker lines, exercises the userland and powers off; the same
kernel and initramfs on QEMU (TCG) print the same markers.

The packages come from the machine's package archive (emu/debian.py, cached);
the test skips, saying why, where they cannot be fetched."""
import hashlib
import shutil
import subprocess

import pytest

from emu import Machine
from emu.debian import fetch_busybox, fetch_kernel, make_initramfs, markers
from emu.errors import EmuError
from emu.system import boot

MEMORY = 256 << 20
BUDGET = 60_000_000_000


def _cpu_has(leaf1_edx_bits) -> bool:
    edx = Machine(mode=32, memory=1 << 16).cpuid(1)[3]
    return all(edx >> b & 1 for b in leaf1_edx_bits)


@pytest.fixture(scope="module", params=["i386", "amd64"])
def linux(request):
    arch = request.param
    # Linux needs the x87 (CPUID.1:EDX bit 0) and, for amd64, FXSR and SSE/SSE2 (24-26).
    needed = [0] + ([24, 25, 26] if arch == "amd64" else [])
    if not _cpu_has(needed):
        pytest.skip(f"the {arch} kernel needs CPUID features {needed} of leaf 1 EDX, not implemented yet")
    try:
        kernel = fetch_kernel(arch)
        initrd = make_initramfs(fetch_busybox(arch))
    except (EmuError, OSError) as e:
        pytest.skip(f"Debian's {arch} packages cannot be fetched here: {e}")
    return arch, kernel, initrd


def expected_markers(arch, release):
    text = b"The quick brown fox jumps over the lazy dog\n"
    machine = "x86_64" if arch == "amd64" else "i686"
    return ["PVEMU-MARK: /init started",
            f"PVEMU-MARK: uname Linux {release} {machine}",
            f"PVEMU-MARK: md5 {hashlib.md5(text).hexdigest()}",
            f"PVEMU-MARK: SUM OF SQUARES {sum(i * i for i in range(200))}",
            "PVEMU-MARK: poweroff"]


def _without_flags(lines):
    return [line for line in lines if not line.startswith("PVEMU-MARK: cpu flags")]


def test_boots_to_init_and_powers_off(linux):
    arch, kernel, initrd = linux
    m, image = boot(kernel, MEMORY, cmdline="console=ttyS0", initrd=initrd)
    assert image.entry == 0x1000000               # the loader unpacked the vmlinux (its ELF entry)
    ex = m.run(count=BUDGET)
    out = bytes(m.serial_output).decode(errors="replace")
    assert ex.reason == "shutdown" and ex.shutdown == "poweroff", (ex, out[-3000:])
    got = markers(out)
    release = got[1].split()[3] if len(got) > 1 else "?"
    assert _without_flags(got) == expected_markers(arch, release), out[-3000:]
    # /proc/cpuinfo shows what CPUID reports: every base feature the kernel lists is ours
    flags = next(line for line in got if "cpu flags" in line).split()[3:]
    edx = m.cpuid(1)[3]
    for name, bit in (("fpu", 0), ("tsc", 4), ("cx8", 8), ("cmov", 15), ("mmx", 23), ("sse", 25), ("sse2", 26)):
        assert (name in flags) == bool(edx >> bit & 1), name


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU is not installed")
def test_qemu_prints_the_same_markers(linux, tmp_path):
    arch, kernel, initrd = linux
    (tmp_path / "k").write_bytes(kernel)
    (tmp_path / "i").write_bytes(initrd)
    cpu = "qemu64" if arch == "amd64" else "pentium3"
    r = subprocess.run(["qemu-system-x86_64", "-machine", "accel=tcg", "-cpu", cpu, "-m", "256",
                        "-nographic", "-no-reboot", "-kernel", tmp_path / "k", "-initrd", tmp_path / "i",
                        "-append", "console=ttyS0"], capture_output=True, timeout=600)
    got = markers(r.stdout.decode(errors="replace"))
    release = got[1].split()[3] if len(got) > 1 else "?"
    assert _without_flags(got) == expected_markers(arch, release)


def test_two_cpus(linux):
    """--smp 2: the kernel finds both CPUs and the IOAPIC in the MADT, starts
    the second with INIT and SIPI, routes its interrupts through the IOAPIC
    and runs the userland as on one CPU."""
    arch, kernel, initrd = linux
    m, image = boot(kernel, MEMORY, cmdline="console=ttyS0", initrd=initrd, cpus=2)
    ex = m.run(count=BUDGET)
    out = bytes(m.serial_output).decode(errors="replace")
    assert ex.reason == "shutdown" and ex.shutdown == "poweroff", (ex, out[-3000:])
    for expected in ("smpboot: Allowing 2 CPUs", "smp: Brought up 1 node, 2 CPUs",
                     "ACPI: Using IOAPIC for interrupt routing"):
        assert expected in out, expected
    got = markers(out)
    release = got[1].split()[3] if len(got) > 1 else "?"
    assert _without_flags(got) == expected_markers(arch, release), out[-3000:]


def test_the_kernels_own_decompressor_boots_the_same(linux):
    """By default the loader unpacks the vmlinux (emu/linuxboot.py); with
    linux_decompress="guest" (`--guest-decompress`) the kernel's own
    decompressor runs first, as from a BIOS boot loader: the same boot, some
    billions of instructions later."""
    arch, kernel, initrd = linux
    m, image = boot(kernel, MEMORY, cmdline="console=ttyS0", initrd=initrd, linux_decompress="guest")
    assert image.entry in (0x100000, 0x100200)
    ex = m.run(count=BUDGET)
    out = bytes(m.serial_output).decode(errors="replace")
    assert ex.reason == "shutdown" and ex.shutdown == "poweroff", (ex, out[-3000:])
    got = markers(out)
    release = got[1].split()[3] if len(got) > 1 else "?"
    assert _without_flags(got) == expected_markers(arch, release), out[-3000:]


def test_paravirtualized_on_kvms_interface(linux):
    """Under the supervisor the stock kernel finds KVM's interface
    (paravirt/kvm.py) and switches its own pv_ops to it: its log says so,
    kvm-clock becomes the clocksource, and the userland runs as natively."""
    from paravirt import Supervisor
    arch, kernel, initrd = linux
    lines = []
    sup = Supervisor(console=lambda name, line: lines.append(line.decode(errors="replace")))
    dom = sup.create(kernel, name="linux", memory=MEMORY, cmdline="console=ttyS0", initrd=initrd)
    sup.run(max_instructions=BUDGET)
    log = "\n".join(lines)
    assert dom.state == "shutdown" and "poweroff" in dom.reason, (dom.describe(), log[-3000:])
    for expected in ("Hypervisor detected: KVM", "Booting paravirtualized kernel on KVM",
                     "kvm-clock: Using msrs 4b564d01 and 4b564d00",
                     "clocksource: Switched to clocksource kvm-clock"):
        assert expected in log, expected
    got = markers(log)
    release = got[1].split()[3] if len(got) > 1 else "?"
    assert _without_flags(got) == expected_markers(arch, release)
    # PV EOI in use: the kernel ended interrupts by clearing the bit the APIC set
    assert dom.machine.pv_eoi and dom.machine.pv_eoi_skipped > 100, dom.describe()
    from paravirt import kvm
    assert dom.kvm.msrs[kvm.MSR_STEAL_TIME] & 1        # steal time registered
