"""Loading a Linux bzImage the way a boot loader without a BIOS does: the
32-bit or 64-bit boot protocol of the kernel's Documentation/x86/boot.rst.

The real-mode setup code is not run.  Instead the loader builds what it
would have left behind, the "zero page" (struct boot_params) with the setup
header copied in, the command line, the e820 memory map and the initrd
fields, loads the protected-mode kernel at 1 MiB (``code32_start``) and
enters it:

* 64-bit protocol (chosen when ``xloadflags`` has XLF_KERNEL_64 and the
  protocol is 2.12 or later): in 64-bit mode at the load address + 0x200,
  RSI = the zero page, with linear == physical (``Machine(mode=64)`` runs
  without page tables until the kernel loads CR3, an identity mapping of
  everything);
* 32-bit protocol: in flat protected mode, paging off, at the load address,
  ESI = the zero page, EBP = EDI = EBX = 0;

in both cases with a GDT whose selectors 0x10 and 0x18 are flat 4 GiB code
and data (__BOOT_CS, __BOOT_DS), and interrupts off.

The compressed kernel inside a bzImage is unpacked by the loader, not by
the kernel's own decompressor (``decompress="host"``, the default): its
payload (``payload_offset``/``payload_length``, protocol 2.08) is an ELF
vmlinux compressed with a format the standard library reads (xz, lzma,
gzip, bzip2), whose PT_LOAD segments go to their physical addresses
(``p_paddr``) as the decompressor's ``parse_elf`` puts them when it runs at
the preferred address without KASLR, so no relocation is needed; the kernel
is then entered at the ELF entry (``startup_64``/``startup_32``) with the
same registers and zero page.  This is the direct boot of an uncompressed
vmlinux that QEMU's PVH entry and Firecracker use, and it saves the
decompressor's 4.5 billion guest instructions of Debian's amd64 kernel
(three quarters of its boot).  ``decompress="guest"`` runs the kernel's own
decompressor instead, as a BIOS boot loader would; other payload formats
(zstd, lz4, lzo) always do.
"""
from __future__ import annotations

import struct
from typing import Optional

from emu.loader import BootImage, LoaderError

DECOMPRESS = ("host", "guest")

HDR_MAGIC = b"HdrS"
SETUP_HEADER = 0x1F1            # the setup header's place in the file and in the zero page
KERNEL_ADDR = 0x100000          # where the protected-mode kernel is loaded (code32_start)
DEFAULT_MEMORY = 256 << 20      # `pvemu run` gives a Linux kernel this much unless told
ZERO_PAGE = 0x10000             # struct boot_params
GDT_ADDR = 0x11000
CMDLINE_ADDR = 0x20000
CMDLINE_MAX = 0x10000 - 1       # what fits below the next structure we place
MIN_PROTOCOL = 0x0206           # cmdline_size and a 32-bit boot protocol we can rely on
XLF_KERNEL_64 = 1 << 0
LOADED_HIGH = 1 << 0
KASLR_FLAG = 1 << 1             # set by the decompressor when it randomized the kernel's place
TYPE_OF_LOADER = 0xFF           # "undefined" (boot.rst)

# Fields of struct boot_params and its setup header (offsets in the zero page).
BP_EXT_RAMDISK_IMAGE = 0x0C0
BP_EXT_RAMDISK_SIZE = 0x0C4
BP_EXT_CMD_LINE_PTR = 0x0C8
BP_E820_ENTRIES = 0x1E8
BP_E820_TABLE = 0x2D0
E820_MAX = 128
H_SETUP_SECTS = 0x1F1
H_BOOT_FLAG = 0x1FE
H_JUMP = 0x200
H_VERSION = 0x206
H_TYPE_OF_LOADER = 0x210
H_LOADFLAGS = 0x211
H_CODE32_START = 0x214
H_RAMDISK_IMAGE = 0x218
H_RAMDISK_SIZE = 0x21C
H_HEAP_END_PTR = 0x224
H_CMD_LINE_PTR = 0x228
H_INITRD_ADDR_MAX = 0x22C
H_RELOCATABLE = 0x234
H_XLOADFLAGS = 0x236
H_CMDLINE_SIZE = 0x238
H_PAYLOAD_OFFSET = 0x248
H_PAYLOAD_LENGTH = 0x24C
H_PREF_ADDRESS = 0x258
H_INIT_SIZE = 0x260

E820_RAM = 1
E820_RESERVED = 2


def is_bzimage(data: bytes) -> bool:
    """A Linux kernel image with a boot-protocol setup header."""
    return len(data) >= 0x208 and data[0x202:0x206] == HDR_MAGIC


def _u8(data, off):
    return data[off]


def _u16(data, off):
    return struct.unpack_from("<H", data, off)[0]


def _u32(data, off):
    return struct.unpack_from("<I", data, off)[0]


def e820_map(memory_size: int) -> list:
    """The PC's memory map for `memory_size` bytes of RAM, as QEMU's
    firmware reports it: low RAM to 0x9FC00, the EBDA and the BIOS area
    (which holds the ACPI tables, emu/acpi.py) reserved, RAM from 1 MiB up."""
    entries = [(0, 0x9FC00, E820_RAM), (0x9FC00, 0x400, E820_RESERVED),
               (0xE0000, 0x20000, E820_RESERVED)]
    if memory_size > KERNEL_ADDR:
        entries.append((KERNEL_ADDR, memory_size - KERNEL_ADDR, E820_RAM))
    return entries


def _gdt() -> bytes:
    """Null, null, then flat 4 GiB code (0x10: 32-bit, or 64-bit with L for
    the 64-bit protocol: both are given, the 64-bit one at 0x20) and data
    (0x18)."""
    code32 = 0x00CF9B000000FFFF
    data = 0x00CF93000000FFFF
    code64 = 0x00AF9B000000FFFF
    return struct.pack("<5Q", 0, 0, code32, data, code64)


def _payload(data: bytes, kernel_off: int, version: int) -> Optional[bytes]:
    """The bzImage's payload decompressed (an ELF vmlinux), or None when the
    protocol predates payload fields or the format is not one the standard
    library reads (the kernel's own decompressor then runs)."""
    import bz2
    import lzma
    import zlib
    if version < 0x0208:
        return None
    off, length = _u32(data, H_PAYLOAD_OFFSET), _u32(data, H_PAYLOAD_LENGTH)
    if length == 0:
        return None
    raw = data[kernel_off + off:kernel_off + off + length]
    if len(raw) != length:
        raise LoaderError(f"payload_offset/payload_length (0x248/0x24c: {off:#x}/{length:#x}) point "
                          "outside the file")
    # The stream is followed by its uncompressed size (4 bytes), which the
    # decompressors below leave as unused data.
    if raw.startswith(b"\xfd7zXZ\0"):
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    elif raw[:1] == b"\x5d" and raw[1:5] != b"\0\0\0\0":
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
    elif raw.startswith(b"\x1f\x8b"):
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif raw.startswith(b"BZh"):
        dec = bz2.BZ2Decompressor()
    else:
        return None
    try:
        out = dec.decompress(raw)
    except (lzma.LZMAError, zlib.error, OSError, EOFError) as e:
        raise LoaderError(f"the kernel's compressed payload is corrupt: {e}") from None
    if not getattr(dec, "eof", True) or getattr(dec, "unconsumed_tail", b""):
        raise LoaderError("the kernel's compressed payload is truncated")
    return out


def _vmlinux_segments(elf: bytes, use64: bool, lo: int, hi: int) -> tuple:
    """([(physical address, bytes)], entry) of an uncompressed vmlinux whose
    segments must lie in [lo, hi) (the kernel's init_size from its preferred
    address), or None when it is not for the chosen entry (a 64-bit kernel
    booted by the 32-bit protocol leaves the switch to long mode to its own
    decompressor)."""
    if elf[:4] != b"\x7fELF" or elf[5] != 1:
        raise LoaderError("the kernel's payload is not a little-endian ELF vmlinux")
    is64 = elf[4] == 2
    if is64 != use64:
        return None
    machine = struct.unpack_from("<H", elf, 18)[0]
    if machine != (62 if is64 else 3):
        raise LoaderError(f"the kernel's vmlinux is for ELF machine {machine}, not x86")
    if is64:
        entry, phoff = struct.unpack_from("<QQ", elf, 24)
        phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    else:
        entry, phoff = struct.unpack_from("<II", elf, 24)
        phentsize, phnum = struct.unpack_from("<HH", elf, 42)
    segments = []
    for k in range(phnum):
        at = phoff + k * phentsize
        if at + phentsize > len(elf):
            raise LoaderError("the kernel's vmlinux program headers run past its end")
        if is64:
            kind, _, offset, _, paddr, filesz, memsz = struct.unpack_from("<IIQQQQQ", elf, at)
        else:
            kind, offset, _, paddr, filesz, memsz = struct.unpack_from("<IIIIII", elf, at)
        if kind != 1:                                   # PT_LOAD
            continue
        if offset + filesz > len(elf) or filesz > memsz:
            raise LoaderError(f"the kernel's vmlinux segment {k} lies outside the file")
        if paddr < lo or paddr + memsz > hi:
            raise LoaderError(f"the kernel's vmlinux segment {k} ({paddr:#x}+{memsz:#x}) lies outside "
                              f"the {lo:#x}-{hi:#x} the setup header's init_size reserves")
        segments.append((paddr, elf[offset:offset + filesz] + bytes(memsz - filesz)))
    if not any(p <= entry < p + len(b) for p, b in segments):
        raise LoaderError(f"the kernel's vmlinux entry {entry:#x} is in none of its segments")
    return segments, entry


def load_bzimage(data: bytes, memory_size: int, cmdline: str = "",
                 initrd: Optional[bytes] = None, force_32bit: bool = False,
                 decompress: str = "host") -> BootImage:
    """Load a bzImage for `memory_size` bytes of RAM; ``decompress``: "host"
    (the loader unpacks the kernel, see the module's docstring) or "guest"
    (the kernel's own decompressor runs).

    Returns a BootImage (mode 64 for the 64-bit boot protocol, else 32) whose
    ``gdt`` the caller loads before starting.  Raises LoaderError naming the
    field when the image is malformed or asks for something this loader
    cannot give (a protocol older than 2.06, a kernel that must be loaded
    low, a command line or initrd that does not fit).
    """
    data = bytes(data)
    if decompress not in DECOMPRESS:
        raise LoaderError(f"decompress must be one of {', '.join(DECOMPRESS)}, not {decompress!r}")
    if not is_bzimage(data):
        raise LoaderError("not a Linux bzImage (no 'HdrS' magic at offset 0x202)")
    if _u16(data, H_BOOT_FLAG) != 0xAA55:
        raise LoaderError(f"bzImage boot_flag at 0x1fe is {_u16(data, H_BOOT_FLAG):#06x}, not 0xaa55")
    version = _u16(data, H_VERSION)
    if version < MIN_PROTOCOL:
        raise LoaderError(f"boot protocol version {version >> 8}.{version & 0xFF:02d} (at 0x206) is "
                          f"older than {MIN_PROTOCOL >> 8}.{MIN_PROTOCOL & 0xFF:02d}, the oldest supported")
    loadflags = _u8(data, H_LOADFLAGS)
    if not loadflags & LOADED_HIGH:
        raise LoaderError("loadflags (at 0x211) lack LOADED_HIGH: a zImage loaded at 0x10000 "
                          "is not supported")
    setup_sects = _u8(data, H_SETUP_SECTS) or 4
    kernel_off = (setup_sects + 1) * 512
    if kernel_off >= len(data):
        raise LoaderError(f"setup_sects (at 0x1f1) = {setup_sects} puts the kernel at {kernel_off:#x}, "
                          f"past the end of the {len(data)}-byte file")
    kernel = data[kernel_off:]
    header_end = H_JUMP + 2 + _u8(data, H_JUMP + 1)
    if header_end > kernel_off or header_end > 0x1000:
        raise LoaderError(f"the setup header's end ({header_end:#x}, from the jump at 0x200) "
                          "lies outside the setup code")
    # The kernel decompresses to its preferred address (a relocatable kernel
    # loaded lower moves there) and needs init_size bytes from it.
    init_size = _u32(data, H_INIT_SIZE) if version >= 0x020A else 0
    runtime = max(KERNEL_ADDR, struct.unpack_from("<Q", data, H_PREF_ADDRESS)[0] if version >= 0x020A else 0)
    need = max(KERNEL_ADDR + len(kernel), runtime + init_size)
    if need > memory_size:
        raise LoaderError(f"the kernel needs {need >> 20} MiB of memory to decompress into "
                          f"(init_size {init_size:#x} at 0x260 from {runtime:#x}); give --memory of at "
                          f"least {(need >> 20) + 16}M")
    cmdline_size = _u32(data, H_CMDLINE_SIZE)
    raw_cmdline = cmdline.encode()
    if len(raw_cmdline) > min(cmdline_size, CMDLINE_MAX):
        raise LoaderError(f"the command line is {len(raw_cmdline)} bytes; the kernel takes at most "
                          f"{cmdline_size} (cmdline_size at 0x238)")
    use64 = (not force_32bit and version >= 0x020C
             and bool(_u16(data, H_XLOADFLAGS) & XLF_KERNEL_64))

    unpacked = None
    if decompress == "host":
        elf = _payload(data, kernel_off, version)
        if elf is not None:
            unpacked = _vmlinux_segments(elf, use64, runtime, runtime + init_size)

    zero = bytearray(4096)
    zero[SETUP_HEADER:header_end] = data[SETUP_HEADER:header_end]
    zero[H_TYPE_OF_LOADER] = TYPE_OF_LOADER
    zero[H_LOADFLAGS] = loadflags & ~0x20 & ~KASLR_FLAG   # QUIET_FLAG off: the kernel may print early
    struct.pack_into("<I", zero, H_CODE32_START, KERNEL_ADDR)
    struct.pack_into("<I", zero, H_CMD_LINE_PTR, CMDLINE_ADDR)
    struct.pack_into("<H", zero, H_HEAP_END_PTR, 0)
    kernel_segments = unpacked[0] if unpacked else [(KERNEL_ADDR, kernel)]
    kernel_end = max(p + len(b) for p, b in kernel_segments)
    segments = kernel_segments + [(CMDLINE_ADDR, raw_cmdline + b"\0"), (GDT_ADDR, _gdt())]
    if initrd:
        top = min(memory_size, _u32(data, H_INITRD_ADDR_MAX) + 1)
        start = (top - len(initrd)) & ~0xFFF
        if start < need:
            raise LoaderError(f"the initrd ({len(initrd)} bytes) does not fit between the kernel "
                              f"and the end of memory below initrd_addr_max "
                              f"({_u32(data, H_INITRD_ADDR_MAX):#x}); give more --memory")
        struct.pack_into("<I", zero, H_RAMDISK_IMAGE, start)
        struct.pack_into("<I", zero, H_RAMDISK_SIZE, len(initrd))
        segments.append((start, bytes(initrd)))
    e820 = e820_map(memory_size)
    zero[BP_E820_ENTRIES] = len(e820)
    for k, (base, length, typ) in enumerate(e820):
        struct.pack_into("<QQI", zero, BP_E820_TABLE + 20 * k, base, length, typ)
    segments.append((ZERO_PAGE, bytes(zero)))
    segments.sort()
    if use64:
        regs = {"rsi": ZERO_PAGE, "cs": 0x20, "ds": 0x18, "es": 0x18, "ss": 0x18}
        entry = unpacked[1] if unpacked else KERNEL_ADDR + 0x200
    else:
        regs = {"esi": ZERO_PAGE, "ebp": 0, "edi": 0, "ebx": 0,
                "cs": 0x10, "ds": 0x18, "es": 0x18, "ss": 0x18}
        entry = unpacked[1] if unpacked else KERNEL_ADDR
    return BootImage(segments=segments, entry=entry, mode=64 if use64 else 32, regs=regs,
                     kind="linux64" if use64 else "linux32", kernel_end=kernel_end,
                     memory_size=memory_size, gdt=(GDT_ADDR, len(_gdt()) - 1))
