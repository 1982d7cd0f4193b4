"""Kernel loader: Multiboot v1, plain ELF32/ELF64 and flat binaries.

Pure Python; knows nothing about the emulator core.  A loader call turns the
bytes of a kernel file into a :class:`BootImage`: the bytes to place in guest
physical memory, where to start, in which mode, and with which registers.
It is what ``pvemu run kernel.elf`` uses to boot a kernel the way
``qemu-system-x86_64 -kernel kernel.elf`` does.

Public API::

    load_kernel(data, memory_size, cmdline="", modules=())  -> BootImage
    load_multiboot(data, memory_size, cmdline="", modules=()) -> BootImage
    load_elf(data, memory_size=None)                          -> BootImage
    load_flat(data, address, memory_size=None, mode=32, entry=None) -> BootImage
    find_multiboot_header(data) -> MultibootHeader | None
    LoaderError (a ValueError)

Conventions
-----------
* ``BootImage.segments`` is a list of ``(physical_address, bytes)`` sorted by
  address, with any zero fill (ELF ``p_memsz > p_filesz``, a.out-kludge
  ``bss_end_addr``) included *as explicit zero bytes*: writing every segment
  into guest memory is all a caller has to do (``BootImage.write_to``).  For
  a Multiboot kernel the list also holds the Multiboot information area and
  the modules.
* Multiboot (spec 0.6.96) state on entry, which the caller must establish:
  32-bit protected mode, paging off; CS a 32-bit execute/read code segment
  and DS/ES/FS/GS/SS read/write data segments, all base 0 limit 4 GiB (i.e.
  ``Machine(mode=32)``'s flat state); A20 on; EFLAGS.IF = EFLAGS.VM = 0;
  EAX = 0x2BADB002 and EBX = physical address of the information structure
  (``BootImage.regs``).  ESP, GDTR and IDTR are undefined: the kernel must
  set its own before using them.
* The Multiboot information area is built at :data:`INFO_ADDR` (0x9000, as
  QEMU does) and grows upwards; it must end below :data:`INFO_LIMIT`
  (0x9FC00, the start of the EBDA).  A kernel that itself occupies that
  area (kvm-unit-tests' realmode loads at 0x8000) gets it, as QEMU does, at
  the first page after its end instead.  Layout: the ``multiboot_info``
  structure (0x80 bytes, unused fields zero), the memory map at +0x80, the
  module list at +0x100, then the NUL-terminated strings (boot loader name
  ``"pvemu"``, command line, module strings).  Info ``flags`` set: bit 0
  (mem_lower=639 as QEMU reports it, i.e. 0-0x9FC00 like the memory map;
  mem_upper=(memory_size - 1 MiB) / 1024), bit 2 (cmdline,
  possibly empty), bit 3 (mods, possibly 0 of them), bit 6 (mmap), bit 9
  (boot_loader_name).  The memory map has type-1 (available) entries
  0-0x9FC00 and 0x100000-memory_size and type-2 (reserved) entries
  0x9FC00-0xA0000 and 0xF0000-0x100000.
* Modules are placed one after another starting at the first 4 KiB boundary
  after the end of the kernel (including its bss); each starts on a 4 KiB
  boundary, which satisfies header flag bit 0 whether or not it is set.
  ``mod_end`` is one past the last byte (as GRUB and QEMU do).
* Kernel segments may not overlap each other, the information area, or the
  reserved hole 0x9FC00-0x100000, and must lie inside guest memory.
* Differences from QEMU's ``-kernel`` (QEMU 7.2, observed): QEMU puts the
  memory map at 0x9000 and the structure at 0x9500 but the command line,
  the module list and the boot loader name ("qemu") in the page after the
  kernel; its command line starts with the kernel's file name; it also sets
  info flag bit 1 (boot_device 0x8000ffff); its mem_upper and memory map
  come from SeaBIOS's E820 table (the top 128 KiB of RAM and some high
  ranges reserved).  A kernel whose output is compared between the two must
  not print any of these.  QEMU refuses an ELF64 Multiboot kernel
  without the a.out kludge; this loader accepts it as GRUB 2 does (loaded
  from its program headers, entered in 32-bit mode, entry below 4 GiB).
  QEMU only warns about header flag bit 2 (video mode); this loader refuses
  it, as the spec requires of a boot loader that cannot honour it.  Plain
  (non-Multiboot) ELF files are not bootable with QEMU's ``-kernel``; here
  they are loaded and entered in flat mode (see :func:`load_elf`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

__all__ = [
    "LoaderError", "BootImage", "MultibootHeader",
    "load_kernel", "load_multiboot", "load_elf", "load_flat",
    "find_multiboot_header",
    "MULTIBOOT_HEADER_MAGIC", "MULTIBOOT_BOOTLOADER_MAGIC",
    "INFO_ADDR", "INFO_LIMIT", "MULTIBOOT_SEARCH",
]

MULTIBOOT_HEADER_MAGIC = 0x1BADB002
MULTIBOOT_BOOTLOADER_MAGIC = 0x2BADB002
MULTIBOOT_SEARCH = 8192          # the header lies within this many first bytes

INFO_ADDR = 0x9000               # the multiboot_info structure
INFO_SIZE = 0x80                 # bytes reserved for it (0.6.96 uses 116)
INFO_LIMIT = 0x9FC00             # the information area must end here
BOOT_LOADER_NAME = "pvemu"

LOW_MEMORY_KB = 639             # 0-0x9FC00, as QEMU reports it (not 640)
RESERVED_HOLE = (0x9FC00, 0x100000)
ONE_MIB = 0x100000
PAGE = 0x1000

# header flags
MB_PAGE_ALIGN = 1 << 0
MB_MEMORY_INFO = 1 << 1
MB_VIDEO_MODE = 1 << 2
MB_AOUT_KLUDGE = 1 << 16
_SUPPORTED_REQUIRED = MB_PAGE_ALIGN | MB_MEMORY_INFO
_REQUIRED_BIT_NAMES = {2: "video mode table"}

# info flags
MBI_MEMORY = 1 << 0
MBI_CMDLINE = 1 << 2
MBI_MODS = 1 << 3
MBI_MMAP = 1 << 6
MBI_LOADER_NAME = 1 << 9

# ELF
_PT_LOAD = 1
_EM_386 = 3
_EM_X86_64 = 62
_ET_NAMES = {0: "ET_NONE", 1: "ET_REL (an object file, not linked)",
             2: "ET_EXEC", 3: "ET_DYN (position-independent)", 4: "ET_CORE"}


class LoaderError(ValueError):
    """The kernel image (or a module, or an argument) cannot be loaded.

    The message names the problem; the loader never lets an IndexError or
    struct.error escape for a malformed file.
    """


def _size_str(n: int) -> str:
    if n and n % ONE_MIB == 0:
        return f"{n // ONE_MIB} MiB"
    if n and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _range_str(start: int, end: int) -> str:
    return f"0x{start:x}-0x{end:x}"


@dataclass
class MultibootHeader:
    """A Multiboot v1 header found in a kernel file.

    ``offset`` is its file offset; the address fields are None unless flags
    bit 16 is set.
    """
    offset: int
    flags: int
    checksum: int
    header_addr: Optional[int] = None
    load_addr: Optional[int] = None
    load_end_addr: Optional[int] = None
    bss_end_addr: Optional[int] = None
    entry_addr: Optional[int] = None

    @property
    def has_address_fields(self) -> bool:
        return bool(self.flags & MB_AOUT_KLUDGE)


@dataclass
class BootImage:
    """What to put in guest memory and how to start it.

    Attributes:
        segments: ``[(physical_address, bytes)]`` sorted by address, zero fill
            included as explicit zero bytes; for Multiboot also the
            information area and the modules.
        entry: physical address of the first instruction.
        mode: 32 (flat 32-bit protected mode, paging off) or 64 (flat 64-bit
            mode, linear == physical, as ``Machine(mode=64)``).
        regs: registers to set before starting (``{"eax": 0x2BADB002,
            "ebx": info_addr}`` for Multiboot; empty otherwise).
        kind: ``"multiboot-elf"``, ``"multiboot-aout"`` (header address
            fields), ``"elf"`` or ``"flat"``.
        info_addr: address of the multiboot_info structure, or None.
        info_end: end (exclusive) of the information area, or None.
        kernel_end: end (exclusive) of the kernel's highest segment, bss
            included.
        modules: ``[(start, end, string)]`` as written in the module list.
        memory_size: the guest memory size the image was checked against
            (None if it was not checked).
        gdt: ``(base, limit)`` of a GDT in the segments to load before
            starting (the Linux boot protocol's), or None.
    """
    segments: list = field(default_factory=list)
    entry: int = 0
    mode: int = 32
    regs: dict = field(default_factory=dict)
    kind: str = "flat"
    info_addr: Optional[int] = None
    info_end: Optional[int] = None
    kernel_end: int = 0
    modules: list = field(default_factory=list)
    memory_size: Optional[int] = None
    gdt: Optional[tuple] = None

    def write_to(self, mem_write: Callable[[int, bytes], object]) -> None:
        """Write every segment with ``mem_write(address, data)``, e.g.
        ``image.write_to(machine.mem_write)``."""
        for addr, data in self.segments:
            mem_write(addr, data)

    def read(self, address: int, size: int) -> bytes:
        """Read ``size`` bytes at physical ``address`` from the segments
        (what guest memory will hold after :meth:`write_to`).  Raises
        LoaderError if some byte is not covered by a segment."""
        out = bytearray(size)
        covered = 0
        for addr, data in self.segments:
            lo = max(addr, address)
            hi = min(addr + len(data), address + size)
            if lo < hi:
                out[lo - address:hi - address] = data[lo - addr:hi - addr]
                covered += hi - lo
        if covered != size:
            raise LoaderError(f"{_range_str(address, address + size)} is not "
                              "entirely covered by the image's segments")
        return bytes(out)

    def read_u32(self, address: int) -> int:
        """A little-endian 32-bit word at ``address`` (see :meth:`read`)."""
        return struct.unpack("<I", self.read(address, 4))[0]

    def read_cstring(self, address: int, limit: int = 4096) -> str:
        """The NUL-terminated string at ``address`` (see :meth:`read`)."""
        out = bytearray()
        while len(out) < limit:
            b = self.read(address + len(out), 1)
            if b == b"\0":
                return out.decode("utf-8", "replace")
            out += b
        raise LoaderError(f"no NUL within {limit} bytes of 0x{address:x}")


# -- detection ----------------------------------------------------------------

def find_multiboot_header(data: bytes) -> Optional[MultibootHeader]:
    """Find a valid Multiboot v1 header: the magic 0x1BADB002 at a 4-byte
    aligned offset within the first 8192 bytes, followed by flags and a
    checksum making the three words sum to 0 (mod 2**32).

    Returns None if there is no magic at all.  Raises LoaderError if a magic
    is found but no valid header (the message names the bad checksum), or if
    a header with address fields (flags bit 16) is cut off by the end of the
    file.
    """
    data = memoryview(data)
    limit = min(len(data), MULTIBOOT_SEARCH)
    bad = None
    for off in range(0, limit - 3, 4):
        if struct.unpack_from("<I", data, off)[0] != MULTIBOOT_HEADER_MAGIC:
            continue
        if off + 12 > len(data):
            bad = bad or (f"Multiboot header at file offset 0x{off:x} is truncated: "
                          f"the file ends after {len(data)} bytes")
            continue
        magic, flags, checksum = struct.unpack_from("<III", data, off)
        if (magic + flags + checksum) & 0xFFFFFFFF:
            bad = bad or (f"Multiboot header at file offset 0x{off:x} has a bad "
                          f"checksum 0x{checksum:08x} (magic + flags + checksum = "
                          f"0x{(magic + flags + checksum) & 0xFFFFFFFF:08x}, must be 0)")
            continue
        hdr = MultibootHeader(off, flags, checksum)
        if flags & MB_AOUT_KLUDGE:
            if off + 32 > len(data):
                raise LoaderError(
                    f"Multiboot header at file offset 0x{off:x} is truncated: flags "
                    f"bit 16 asks for address fields (32 bytes) but the file ends "
                    f"after {len(data)} bytes")
            (hdr.header_addr, hdr.load_addr, hdr.load_end_addr, hdr.bss_end_addr,
             hdr.entry_addr) = struct.unpack_from("<5I", data, off + 12)
        return hdr
    if bad:
        raise LoaderError(bad)
    return None


def _is_elf(data: bytes) -> bool:
    return len(data) >= 4 and bytes(data[:4]) == b"\x7fELF"


# -- ELF ----------------------------------------------------------------------

@dataclass
class _ElfSegment:
    index: int
    paddr: int
    vaddr: int
    data: bytes          # the file bytes only; zero fill up to memsz added later
    memsz: int

    def body(self) -> bytes:
        return self.data + bytes(self.memsz - len(self.data))


def _parse_elf(data: bytes):
    """Return (bits, e_entry, [PT_LOAD _ElfSegment with memsz > 0])."""
    n = len(data)
    if n < 16:
        raise LoaderError(f"truncated ELF file: {n} bytes, shorter than e_ident (16)")
    ei_class, ei_data, ei_version = data[4], data[5], data[6]
    if ei_class not in (1, 2):
        raise LoaderError(f"ELF class {ei_class} is neither ELFCLASS32 (1) nor ELFCLASS64 (2)")
    if ei_data != 1:
        raise LoaderError(f"ELF data encoding {ei_data} is not little-endian (1)")
    if ei_version != 1:
        raise LoaderError(f"ELF identification version {ei_version} is not 1")
    bits = 32 if ei_class == 1 else 64
    ehsize = 52 if bits == 32 else 64
    if n < ehsize:
        raise LoaderError(f"truncated ELF{bits} file: {n} bytes, shorter than its "
                          f"{ehsize}-byte ELF header")
    if bits == 32:
        (e_type, e_machine, e_version, e_entry, e_phoff, _shoff, _flags, _ehsize,
         e_phentsize, e_phnum) = struct.unpack_from("<HHIIIIIHHH", data, 16)
    else:
        (e_type, e_machine, e_version, e_entry, e_phoff, _shoff, _flags, _ehsize,
         e_phentsize, e_phnum) = struct.unpack_from("<HHIQQQIHHH", data, 16)
    want_machine = _EM_386 if bits == 32 else _EM_X86_64
    if e_machine != want_machine:
        want = "EM_386 (3)" if bits == 32 else "EM_X86_64 (62)"
        raise LoaderError(f"ELF{bits} machine {e_machine} is not {want}")
    if e_type != 2:
        raise LoaderError(f"ELF type {_ET_NAMES.get(e_type, e_type)} is not ET_EXEC "
                          "(an executable linked at fixed addresses, e.g. with -no-pie)")
    if e_phnum == 0xFFFF:
        raise LoaderError("ELF file uses extended program header numbering "
                          "(e_phnum = PN_XNUM), which is not supported")
    if e_phnum == 0:
        raise LoaderError("ELF file has no program headers")
    phent_min = 32 if bits == 32 else 56
    if e_phentsize < phent_min:
        raise LoaderError(f"ELF program header entry size {e_phentsize} is smaller "
                          f"than {phent_min}")
    ph_end = e_phoff + e_phnum * e_phentsize
    if ph_end > n:
        raise LoaderError(f"truncated program headers: {e_phnum} entries of "
                          f"{e_phentsize} bytes at offset 0x{e_phoff:x} end at 0x{ph_end:x}, "
                          f"past the end of the file ({n} bytes)")
    segs = []
    for i in range(e_phnum):
        off = e_phoff + i * e_phentsize
        if bits == 32:
            (p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _pf,
             _align) = struct.unpack_from("<8I", data, off)
        else:
            (p_type, _pf, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz,
             _align) = struct.unpack_from("<IIQQQQQQ", data, off)
        if p_type != _PT_LOAD or p_memsz == 0:
            continue
        if p_filesz > p_memsz:
            raise LoaderError(f"segment {i}: p_filesz 0x{p_filesz:x} is larger than "
                              f"p_memsz 0x{p_memsz:x}")
        if p_offset + p_filesz > n:
            raise LoaderError(f"segment {i}: its file data (0x{p_filesz:x} bytes at "
                              f"offset 0x{p_offset:x}) runs past the end of the file "
                              f"({n} bytes): truncated file")
        if p_paddr + p_memsz > 1 << bits:
            raise LoaderError(f"segment {i}: p_paddr 0x{p_paddr:x} + p_memsz "
                              f"0x{p_memsz:x} wraps around the address space")
        if p_memsz > 1 << 32:
            raise LoaderError(f"segment {i}: p_memsz 0x{p_memsz:x} is larger than 4 GiB")
        segs.append(_ElfSegment(i, p_paddr, p_vaddr, bytes(data[p_offset:p_offset + p_filesz]),
                                p_memsz))
    if not segs:
        raise LoaderError("ELF file has no loadable (PT_LOAD) segments")
    return bits, e_entry, segs


def _physical_entry(e_entry: int, segs: Sequence[_ElfSegment]) -> int:
    """e_entry translated from virtual to physical through the PT_LOAD
    segment that contains it (as GRUB 2 does); unchanged if none does."""
    for s in segs:
        if s.vaddr <= e_entry < s.vaddr + s.memsz:
            return e_entry - s.vaddr + s.paddr
    return e_entry


# -- checks -------------------------------------------------------------------

def _check_memory_size(memory_size: int, multiboot: bool) -> None:
    if not isinstance(memory_size, int) or memory_size <= 0:
        raise LoaderError(f"guest memory size must be a positive integer, not {memory_size!r}")
    if multiboot and memory_size < ONE_MIB:
        raise LoaderError(f"guest memory ({_size_str(memory_size)}) must be at least "
                          "1 MiB for a Multiboot kernel")


def _check_segments(named, memory_size, info_area=None, reserved=None):
    """named: [(label, start, end)].  Raise LoaderError for overlaps,
    segments outside memory, and segments overlapping the information area
    or the reserved hole."""
    for label, start, end in named:
        if memory_size is not None and end > memory_size:
            raise LoaderError(f"{label} ({_range_str(start, end)}) lies outside guest "
                              f"memory ({_size_str(memory_size)})")
        if info_area and start < info_area[1] and info_area[0] < end:
            raise LoaderError(f"{label} ({_range_str(start, end)}) overlaps the Multiboot "
                              f"information area ({_range_str(*info_area)}) below 1 MiB")
        if reserved and start < reserved[1] and reserved[0] < end:
            raise LoaderError(f"{label} ({_range_str(start, end)}) overlaps the reserved "
                              f"area {_range_str(*reserved)} (EBDA, video memory, BIOS) "
                              "below 1 MiB")
    ordered = sorted(named, key=lambda t: (t[1], t[2]))
    for (la, sa, ea), (lb, sb, eb) in zip(ordered, ordered[1:]):
        if sb < ea:
            raise LoaderError(f"{la} ({_range_str(sa, ea)}) and {lb} "
                              f"({_range_str(sb, eb)}) overlap")


def _check_entry(entry: int, named) -> None:
    for _label, start, end in named:
        if start <= entry < end:
            return
    raise LoaderError(f"entry point 0x{entry:x} is not inside any loaded segment")


# -- Multiboot ------------------------------------------------------------------

def _aout_segments(data: bytes, hdr: MultibootHeader):
    """Segments from the header's address fields (the 'a.out kludge')."""
    n = len(data)
    h = hdr
    if h.load_addr > h.header_addr:
        raise LoaderError(f"Multiboot address fields: load_addr 0x{h.load_addr:x} is "
                          f"above header_addr 0x{h.header_addr:x}")
    load_offset = h.offset - (h.header_addr - h.load_addr)
    if load_offset < 0:
        raise LoaderError(f"Multiboot address fields: header_addr - load_addr = "
                          f"0x{h.header_addr - h.load_addr:x} is larger than the header's "
                          f"file offset 0x{h.offset:x}")
    if h.load_end_addr == 0:
        load_size = n - load_offset
    else:
        if h.load_end_addr <= h.load_addr:
            raise LoaderError(f"Multiboot address fields: load_end_addr "
                              f"0x{h.load_end_addr:x} is not above load_addr "
                              f"0x{h.load_addr:x}")
        load_size = h.load_end_addr - h.load_addr
        if load_offset + load_size > n:
            raise LoaderError(
                f"truncated file: the Multiboot address fields load "
                f"{_range_str(h.load_addr, h.load_end_addr)} (0x{load_size:x} bytes from "
                f"file offset 0x{load_offset:x}) but the file has only {n} bytes")
    load_end = h.load_addr + load_size
    if h.bss_end_addr == 0:
        bss_end = load_end
    else:
        if h.bss_end_addr < load_end:
            raise LoaderError(f"Multiboot address fields: bss_end_addr "
                              f"0x{h.bss_end_addr:x} is below the end of the loaded "
                              f"data 0x{load_end:x}")
        bss_end = h.bss_end_addr
    seg = _ElfSegment(0, h.load_addr, h.load_addr,
                      bytes(data[load_offset:load_offset + load_size]), bss_end - h.load_addr)
    return [seg], h.entry_addr


def load_multiboot(data: bytes, memory_size: int, cmdline: str = "",
                   modules: Iterable = ()) -> BootImage:
    """Load a Multiboot v1 kernel (it must have a valid header).

    The kernel is loaded from the header's address fields when flags bit 16
    is set (the "a.out kludge": header_addr, load_addr, load_end_addr
    (0 = to the end of the file), bss_end_addr (0 = no bss), entry_addr);
    otherwise the file must be ELF32 (or ELF64, accepted as GRUB 2 does)
    and is loaded from its PT_LOAD program headers at p_paddr, p_filesz bytes
    from the file then zeros up to p_memsz, entered at e_entry translated to
    a physical address through the segment containing it.

    Header flags bits 0 (page-align modules) and 1 (memory information) are
    honoured; any other bit in 0-15 is a requirement this loader cannot meet
    and raises LoaderError.

    Args:
        data: the kernel file.
        memory_size: guest RAM in bytes (RAM is physical 0..memory_size).
        cmdline: the kernel command line (info ``cmdline``).
        modules: ``[(string, bytes)]``: each module's string (conventionally
            its name and arguments) and contents.

    Returns a BootImage with mode 32, regs eax=0x2BADB002 and ebx=INFO_ADDR,
    and segments holding the kernel, the information area and the modules.
    See the module docstring for the layout.
    """
    data = bytes(data)
    if not data:
        raise LoaderError("empty kernel image (0 bytes)")
    _check_memory_size(memory_size, multiboot=True)
    hdr = find_multiboot_header(data)
    if hdr is None:
        raise LoaderError(f"no Multiboot header (magic 0x{MULTIBOOT_HEADER_MAGIC:08x}) "
                          f"in the first {MULTIBOOT_SEARCH} bytes")
    required = hdr.flags & 0xFFFF
    unsupported = required & ~_SUPPORTED_REQUIRED
    if unsupported:
        bits = [b for b in range(16) if unsupported >> b & 1]
        names = ", ".join(f"bit {b}" + (f" ({_REQUIRED_BIT_NAMES[b]})"
                                        if b in _REQUIRED_BIT_NAMES else "")
                          for b in bits)
        raise LoaderError(f"the Multiboot header (flags 0x{hdr.flags:08x}) requires "
                          f"features pvemu does not support: {names}")

    if hdr.has_address_fields:
        segs, entry = _aout_segments(data, hdr)
        kind = "multiboot-aout"
    elif _is_elf(data):
        bits, e_entry, segs = _parse_elf(data)
        entry = _physical_entry(e_entry, segs)
        if entry >> 32:
            raise LoaderError(f"ELF{bits} entry point 0x{entry:x} is above 4 GiB: a "
                              "Multiboot kernel is entered in 32-bit mode")
        kind = "multiboot-elf"
    else:
        raise LoaderError(f"the Multiboot header (flags 0x{hdr.flags:08x}) has no address "
                          "fields (flags bit 16 clear) and the image is not ELF, so there "
                          "is no way to know where to load it")

    named = [(f"segment {s.index}", s.paddr, s.paddr + s.memsz) for s in segs]
    modules = [(str(s), bytes(b)) for s, b in modules]
    cmdline = str(cmdline)

    # The information area: structure, mmap, module list, strings; at
    # INFO_ADDR unless the kernel is there, else (as QEMU does) in the pages
    # after the kernel.
    kernel_end = max(end for _l, _s, end in named)
    info_size = INFO_SIZE + 0x80 + 16 * len(modules) + sum(
        len(s.encode("utf-8")) + 1 for s in [BOOT_LOADER_NAME, cmdline] + [s for s, _ in modules])
    info_addr = INFO_ADDR
    if any(start < INFO_ADDR + info_size and INFO_ADDR < end for _l, start, end in named):
        info_addr = _align_up(kernel_end, PAGE)
        if info_addr + info_size > memory_size:
            raise LoaderError(f"the kernel covers the Multiboot information area at "
                              f"0x{INFO_ADDR:x} and there is no room after it in guest "
                              f"memory ({_size_str(memory_size)})")
    mmap_addr, mods_addr = info_addr + INFO_SIZE, info_addr + INFO_SIZE + 0x80
    strings = bytearray()

    def add_string(s: str) -> int:
        addr = mods_addr + 16 * len(modules) + len(strings)
        enc = s.encode("utf-8")
        if b"\0" in enc:
            raise LoaderError(f"string {s!r} contains a NUL byte")
        strings.extend(enc + b"\0")
        return addr

    name_addr = add_string(BOOT_LOADER_NAME)
    cmdline_addr = add_string(cmdline)
    mod_string_addrs = [add_string(s) for s, _ in modules]
    info_end = mods_addr + 16 * len(modules) + len(strings)
    if info_addr == INFO_ADDR and info_end > INFO_LIMIT:
        raise LoaderError(f"the Multiboot information (command line and module strings) "
                          f"needs {_range_str(INFO_ADDR, info_end)}, past its limit "
                          f"0x{INFO_LIMIT:x}")
    info_area = (info_addr, info_end)

    _check_segments(named, memory_size, info_area if info_addr == INFO_ADDR else None, RESERVED_HOLE)
    _check_entry(entry, named)
    if info_addr != INFO_ADDR and info_addr < ONE_MIB and info_end > RESERVED_HOLE[0]:
        raise LoaderError(f"the Multiboot information after the kernel "
                          f"({_range_str(info_addr, info_end)}) overlaps the reserved area "
                          f"{_range_str(*RESERVED_HOLE)}")

    # Modules: page-aligned after the kernel (and the information area when it follows it).
    placed = []
    mod_segments = []
    addr = _align_up(max(kernel_end, info_end if info_addr != INFO_ADDR else 0, ONE_MIB), PAGE)
    for (s, body), saddr in zip(modules, mod_string_addrs):
        start = addr
        end = start + len(body)
        if end > memory_size:
            raise LoaderError(f"module {s!r} ({len(body)} bytes at 0x{start:x}) does not "
                              f"fit in guest memory ({_size_str(memory_size)})")
        placed.append((start, end, s))
        if body:
            mod_segments.append((start, body))
        addr = _align_up(end if end > start else start + 1, PAGE)

    info = bytearray(INFO_SIZE)
    flags = MBI_MEMORY | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME
    mem_upper = (memory_size - ONE_MIB) // 1024
    mmap = _memory_map(memory_size)
    struct.pack_into("<III", info, 0, flags, LOW_MEMORY_KB, mem_upper)
    struct.pack_into("<III", info, 16, cmdline_addr, len(modules), mods_addr)
    struct.pack_into("<II", info, 44, len(mmap), mmap_addr)
    struct.pack_into("<I", info, 64, name_addr)
    area = bytearray(info_end - info_addr)
    area[0:INFO_SIZE] = info
    area[INFO_SIZE:INFO_SIZE + len(mmap)] = mmap
    for i, ((start, end, _s), saddr) in enumerate(zip(placed, mod_string_addrs)):
        struct.pack_into("<IIII", area, mods_addr - info_addr + 16 * i, start, end, saddr, 0)
    so = mods_addr - info_addr + 16 * len(modules)
    area[so:so + len(strings)] = strings

    raw = [(s.paddr, s.body()) for s in segs]
    segments = sorted(raw + [(info_addr, bytes(area))] + mod_segments)
    return BootImage(segments=segments, entry=entry, mode=32,
                     regs={"eax": MULTIBOOT_BOOTLOADER_MAGIC, "ebx": info_addr},
                     kind=kind, info_addr=info_addr, info_end=info_end,
                     kernel_end=kernel_end, modules=placed, memory_size=memory_size)


def _align_up(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


def _memory_map(memory_size: int) -> bytes:
    entries = [(0, RESERVED_HOLE[0], 1),
               (RESERVED_HOLE[0], 0xA0000 - RESERVED_HOLE[0], 2),
               (0xF0000, ONE_MIB - 0xF0000, 2)]
    if memory_size > ONE_MIB:
        entries.append((ONE_MIB, memory_size - ONE_MIB, 1))
    return b"".join(struct.pack("<IQQI", 20, base, length, typ)
                    for base, length, typ in entries)


# -- plain ELF, flat, and detection ------------------------------------------------

def load_elf(data: bytes, memory_size: Optional[int] = None) -> BootImage:
    """Load a plain (non-Multiboot) ELF32 or ELF64 executable.

    PT_LOAD segments are placed at p_paddr (p_filesz bytes from the file,
    then zeros to p_memsz); the entry is e_entry translated to a physical
    address through the segment containing it.  The image is meant to be
    entered in flat mode with linear == physical: mode 32 for ELF32 (as
    ``Machine(mode=32)``: protected mode, paging off) and mode 64 for ELF64
    (as ``Machine(mode=64)``: 64-bit mode over an identity mapping).  No
    registers are set (regs is empty), no information structure is built
    and no stack is provided.  QEMU's ``-kernel`` does not boot such files;
    this is pvemu's own convention.

    If memory_size is given, every segment must lie inside it.
    """
    data = bytes(data)
    if not data:
        raise LoaderError("empty kernel image (0 bytes)")
    if not _is_elf(data):
        raise LoaderError("not an ELF file (bad magic: the file does not start with "
                          "7f 45 4c 46)")
    if memory_size is not None:
        _check_memory_size(memory_size, multiboot=False)
    bits, e_entry, segs = _parse_elf(data)
    entry = _physical_entry(e_entry, segs)
    named = [(f"segment {s.index}", s.paddr, s.paddr + s.memsz) for s in segs]
    _check_segments(named, memory_size)
    _check_entry(entry, named)
    return BootImage(segments=sorted((s.paddr, s.body()) for s in segs), entry=entry,
                     mode=bits, regs={}, kind="elf",
                     kernel_end=max(e for _l, _s, e in named), memory_size=memory_size)


def load_flat(data: bytes, address: int, memory_size: Optional[int] = None,
              mode: int = 32, entry: Optional[int] = None) -> BootImage:
    """A flat binary placed at physical ``address`` and entered at ``entry``
    (default: ``address``) in ``mode`` (16, 32 or 64, meaning the flat
    states of ``Machine(mode=...)``).  No registers are set.  If memory_size
    is given the image must lie inside it."""
    data = bytes(data)
    if not data:
        raise LoaderError("empty flat image (0 bytes)")
    if mode not in (16, 32, 64):
        raise LoaderError(f"mode must be 16, 32 or 64, not {mode!r}")
    if address < 0:
        raise LoaderError(f"load address {address:#x} is negative")
    if memory_size is not None:
        _check_memory_size(memory_size, multiboot=False)
    entry = address if entry is None else entry
    named = [("flat image", address, address + len(data))]
    _check_segments(named, memory_size)
    _check_entry(entry, named)
    return BootImage(segments=[(address, data)], entry=entry, mode=mode, regs={},
                     kind="flat", kernel_end=address + len(data), memory_size=memory_size)


def load_kernel(data: bytes, memory_size: int, cmdline: str = "",
                modules: Iterable = (), initrd: Optional[bytes] = None,
                linux_decompress: str = "host") -> BootImage:
    """Load a kernel file the way ``qemu-system-x86_64 -kernel`` would.

    Detection: a Linux boot-protocol header ("HdrS" at 0x202) means a
    bzImage (:func:`emu.linuxboot.load_bzimage`, which takes ``initrd``);
    a valid Multiboot v1 header in the first 8192 bytes means a
    Multiboot kernel (:func:`load_multiboot`); otherwise an ELF file is
    loaded as plain ELF (:func:`load_elf`, mode 32 or 64, no information
    structure; cmdline and modules are then refused).  Anything else raises
    LoaderError, as does a Multiboot magic with a bad checksum.
    """
    data = bytes(data)
    if not data:
        raise LoaderError("empty kernel image (0 bytes)")
    modules = list(modules)
    from emu.linuxboot import is_bzimage, load_bzimage
    if is_bzimage(data):
        if modules:
            raise LoaderError("a Linux kernel takes an --initrd, not Multiboot modules")
        return load_bzimage(data, memory_size, cmdline, initrd, decompress=linux_decompress)
    if initrd is not None:
        raise LoaderError("an initrd can only be passed to a Linux kernel (bzImage)")
    if find_multiboot_header(data) is not None:
        return load_multiboot(data, memory_size, cmdline, modules)
    if _is_elf(data):
        if cmdline or modules:
            raise LoaderError("a command line and modules can only be passed to a "
                              "Multiboot kernel; this is a plain ELF file")
        _check_memory_size(memory_size, multiboot=False)
        return load_elf(data, memory_size)
    raise LoaderError(f"not a Multiboot kernel (no header magic 0x{MULTIBOOT_HEADER_MAGIC:08x} "
                      f"in the first {MULTIBOOT_SEARCH} bytes) and not an ELF file")
