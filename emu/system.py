"""Booting kernels: load an image (Multiboot, ELF or flat) into a fresh
Machine the way QEMU's `-kernel` does (boot, boot_bios, start_image), and
parse_size for the sizes people write.  The `pvemu run` command on top of
these is pvemu/run.py."""
from __future__ import annotations

import re
from typing import Optional, Sequence

from emu.acpi import attach_acpi
from emu.devices import attach_pc, firmware_pic_setup
from emu.errors import EmuError
from emu.loader import load_flat, load_kernel

DEFAULT_MEMORY = 64 << 20

def parse_size(text: str) -> int:
    """'64M', '1G', '512K', '4096' -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGkmg]?)(i?[Bb])?\s*", str(text))
    if not m:
        raise EmuError(f"bad size {text!r}: use a number of bytes or a suffix K, M or G (e.g. 64M)")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def boot(kernel: bytes, memory: int = DEFAULT_MEMORY, cmdline: str = "",
         modules: Sequence[tuple] = (), flat_address: Optional[int] = None,
         initrd: Optional[bytes] = None, cpu: Optional[str] = None, devices: Sequence[str] = (),
         cpus: int = 1, linux_decompress: str = "host"):
    """A Machine with `kernel` loaded and its registers set, ready to run;
    `cpu` is a CPU model (emu/cpumodels.py), `devices` optional devices
    (emu.devices.OPTIONAL_DEVICES), `cpus` the number of CPUs (the others
    wait for INIT and SIPI), `linux_decompress` where a bzImage's kernel is
    unpacked ("host": by the loader, "guest": by the kernel's own
    decompressor; emu/linuxboot.py).  Returns (machine, boot_image)."""
    from emu import Machine
    if flat_address is not None:
        image = load_flat(kernel, flat_address, memory_size=memory)
    else:
        image = load_kernel(kernel, memory, cmdline=cmdline, modules=list(modules), initrd=initrd,
                            linux_decompress=linux_decompress)
    m = Machine(mode=image.mode, memory=memory, cpu=cpu, cpus=cpus)
    start_image(m, image, memory, devices)
    return m, image


def start_image(m, image, memory: int, devices: Sequence[str] = ()) -> None:
    """Give machine `m` (of image.mode) the PC's devices for `memory` bytes
    of RAM (and the optional `devices`), put the loaded `image` into it and
    set it up to start."""
    m.reset_fpu()               # the kernel turns the FPU and SSE on itself
    attach_pc(m, memory, devices=devices)   # Multiboot: the command line is in the info structure
    if image.kind.startswith("multiboot"):
        firmware_pic_setup(m)
    image.write_to(m.mem_write)
    if image.gdt is not None:
        m.load_table("gdt", *image.gdt)
    if image.kind.startswith("linux"):
        attach_acpi(m, m.cpus)  # how Linux powers the machine off (and finds the CPUs)
    for name, value in image.regs.items():
        m.reg_write(name, value)
    m.reg_write("rip", image.entry)


def boot_bios(firmware: bytes, memory: int = DEFAULT_MEMORY, cpu: Optional[str] = None,
              devices: Sequence[str] = (), cpus: int = 1):
    """A machine that starts `firmware` as a PC does: the image ends at
    0xFFFFF (and is aliased to end at 4 GiB), the CPU in its power-up state
    (real mode at F000:FFF0, Machine.power_on)."""
    from emu import Machine
    size = len(firmware)
    if not 0 < size <= 0x20000 or size % 0x1000:
        raise EmuError(f"firmware image of {size} bytes: it must be a multiple of 4 KiB, at most 128 KiB")
    if memory < 0x100000:
        raise EmuError("booting firmware needs at least 1 MiB of memory")
    m = Machine(mode=16, memory=memory, cpu=cpu, cpus=cpus)
    attach_pc(m, memory, devices=devices)
    m.mem_write(0x100000 - size, firmware)
    top = (1 << 32) - size
    if memory <= top:
        m.add_mmio_handler(top, size, read=lambda a, n: int.from_bytes(firmware[a - top:a - top + n], "little"))
    m.power_on()
    return m

