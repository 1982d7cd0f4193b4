"""emu.loader: Multiboot v1 / ELF / flat kernels into a BootImage.

The ELF files are built here with struct (and, where gcc/ld are present, with
the host toolchain); the checked-in test kernels (emu/images/tests) are
loaded too, and hello32 is booted end to end on Unicorn from the BootImage.
"""
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from emu.loader import (INFO_ADDR, INFO_LIMIT, MULTIBOOT_BOOTLOADER_MAGIC,
                        MULTIBOOT_HEADER_MAGIC, BootImage, LoaderError, find_multiboot_header,
                        load_elf, load_flat, load_kernel, load_multiboot)

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "emu" / "images" / "tests"
EXPECTED = ROOT / "guests" / "tests" / "expected"
MiB = 1 << 20
MEM = 8 * MiB
PT_LOAD, PT_NOTE = 1, 4


# -- building images -------------------------------------------------------------

def mb_header(flags=0x3, checksum=None, aout=None):
    """A Multiboot header; aout = (header_addr, load_addr, load_end_addr,
    bss_end_addr, entry_addr) appends the address fields."""
    if checksum is None:
        checksum = -(MULTIBOOT_HEADER_MAGIC + flags) & 0xFFFFFFFF
    h = struct.pack("<III", MULTIBOOT_HEADER_MAGIC, flags, checksum)
    if aout is not None:
        h += struct.pack("<5I", *aout)
    return h


def seg(paddr, data=b"", memsz=None, vaddr=None, ptype=PT_LOAD):
    return {"paddr": paddr, "vaddr": paddr if vaddr is None else vaddr, "data": data,
            "memsz": len(data) if memsz is None else memsz, "type": ptype}


def elf(segments, entry, bits=32, machine=None, etype=2, ident=None, phentsize=None,
        phnum=None, data_offset=0x100):
    """An ELF executable: header, program headers right after it, segment
    data from data_offset on (each segment's bytes in order)."""
    machine = (3 if bits == 32 else 62) if machine is None else machine
    ehsize = 52 if bits == 32 else 64
    phentsize_real = 32 if bits == 32 else 56
    phentsize = phentsize_real if phentsize is None else phentsize
    phnum = len(segments) if phnum is None else phnum
    ident = ident or (b"\x7fELF" + bytes([1 if bits == 32 else 2, 1, 1]) + bytes(9))
    offsets, blob, off = [], bytearray(), data_offset
    for s in segments:
        offsets.append(off)
        blob += s["data"]
        off += len(s["data"])
    if bits == 32:
        eh = ident + struct.pack("<HHIIIIIHHHHHH", etype, machine, 1, entry, ehsize, 0, 0,
                                 ehsize, phentsize, phnum, 40, 0, 0)
    else:
        eh = ident + struct.pack("<HHIQQQIHHHHHH", etype, machine, 1, entry, ehsize, 0, 0,
                                 ehsize, phentsize, phnum, 64, 0, 0)
    ph = bytearray()
    for s, o in zip(segments, offsets):
        if bits == 32:
            p = struct.pack("<8I", s["type"], o, s["vaddr"], s["paddr"], len(s["data"]),
                            s["memsz"], 7, 0x1000)
        else:
            p = struct.pack("<IIQQQQQQ", s["type"], 7, o, s["vaddr"], s["paddr"],
                            len(s["data"]), s["memsz"], 0x1000)
        ph += p + bytes(phentsize - phentsize_real) if phentsize >= phentsize_real else p
    out = bytearray(eh + ph)
    assert len(out) <= data_offset
    out += bytes(data_offset - len(out)) + blob
    return bytes(out)


def mb_elf(code=b"\x90" * 16, bss=0x100, flags=0x3, paddr=0x100000, bits=32, extra=()):
    """A Multiboot ELF kernel: segment 0 = header + code (+ bss), entry just
    after the header."""
    text = mb_header(flags) + code
    segs = [seg(paddr, text, len(text) + bss)] + list(extra)
    return elf(segs, paddr + 12, bits=bits)


def aout_image(code=b"\xf4" * 64, load_addr=0x100000, prefix=0x40, bss=0x1000,
               load_end=True, flags=0x10003):
    """A flat (non-ELF) image with the address fields: `prefix` bytes of
    padding before the header, which sits at header_addr = load_addr+prefix."""
    header_addr = load_addr + prefix
    size = prefix + 32 + len(code)
    end = load_addr + size
    entry = header_addr + 32
    h = mb_header(flags, aout=(header_addr, load_addr, end if load_end else 0,
                               end + bss if bss else 0, entry))
    return bytes(prefix) + h + code


class Info:
    """The multiboot_info structure read back from a BootImage."""

    def __init__(self, img: BootImage):
        self.img = img
        base = img.regs["ebx"]
        f = struct.unpack("<22I", img.read(base, 88))
        (self.flags, self.mem_lower, self.mem_upper, self.boot_device, self.cmdline_addr,
         self.mods_count, self.mods_addr) = f[:7]
        self.mmap_length, self.mmap_addr = f[11], f[12]
        self.boot_loader_name_addr = f[16]

    @property
    def cmdline(self):
        return self.img.read_cstring(self.cmdline_addr)

    @property
    def boot_loader_name(self):
        return self.img.read_cstring(self.boot_loader_name_addr)

    def mods(self):
        out = []
        for i in range(self.mods_count):
            start, end, string, zero = struct.unpack(
                "<4I", self.img.read(self.mods_addr + 16 * i, 16))
            out.append((start, end, self.img.read_cstring(string), zero))
        return out

    def mmap(self):
        out, p = [], self.mmap_addr
        while p < self.mmap_addr + self.mmap_length:
            size, base, length, typ = struct.unpack("<IQQI", self.img.read(p, 24))
            out.append((size, base, length, typ))
            p += size + 4
        return out


# -- Multiboot ELF --------------------------------------------------------------------

def test_multiboot_elf_segments_entry_regs():
    code = bytes(range(1, 33))
    data = mb_elf(code=code, bss=0x200)
    img = load_kernel(data, MEM)
    assert img.kind == "multiboot-elf"
    assert img.mode == 32
    assert img.entry == 0x10000C
    assert img.regs == {"eax": MULTIBOOT_BOOTLOADER_MAGIC, "ebx": INFO_ADDR}
    kernel = dict(img.segments)[0x100000]
    assert kernel == mb_header(0x3) + code + bytes(0x200)       # zero fill explicit
    assert img.kernel_end == 0x100000 + 12 + 32 + 0x200
    assert [a for a, _ in img.segments] == sorted(a for a, _ in img.segments)
    assert img.read(0x10000C, 32) == code


def test_multiboot_elf_several_segments_and_non_load_headers():
    text = mb_header() + b"\xf4" * 20
    segs = [seg(0x100000, text), seg(0, b"note", ptype=PT_NOTE),
            seg(0x200000, b"DATA", memsz=0x1000), seg(0x300000, b"", memsz=0)]
    img = load_kernel(elf(segs, 0x10000C), MEM)
    d = dict(img.segments)
    assert d[0x100000] == text
    assert d[0x200000] == b"DATA" + bytes(0x1000 - 4)
    assert 0 not in d and 0x300000 not in d           # PT_NOTE and empty segments skipped
    assert img.kernel_end == 0x201000


def test_multiboot_elf_entry_is_translated_to_physical():
    text = mb_header() + b"\xf4" * 20
    data = elf([seg(0x100000, text, vaddr=0xC0100000)], 0xC010000C)
    img = load_kernel(data, MEM)
    assert img.entry == 0x10000C
    assert dict(img.segments)[0x100000] == text


def test_multiboot_info_structure():
    img = load_kernel(mb_elf(), 32 * MiB, cmdline="console=ttyS0 quiet",
                      modules=[("initrd.img root=/dev/ram", b"\xAA" * 5000), ("second", b"xyz")])
    info = Info(img)
    assert img.info_addr == INFO_ADDR == 0x9000
    assert info.flags == (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9)
    assert info.mem_lower == 639
    assert info.mem_upper == (32 * MiB - MiB) // 1024 == 31744
    assert info.boot_device == 0
    assert info.cmdline == "console=ttyS0 quiet"
    assert info.boot_loader_name == "pvemu"
    assert info.mmap() == [(20, 0, 0x9FC00, 1), (20, 0x9FC00, 0x400, 2),
                           (20, 0xF0000, 0x10000, 2), (20, 0x100000, 31 * MiB, 1)]
    assert info.mmap_length == 4 * 24
    mods = info.mods()
    assert [(m[2], m[3]) for m in mods] == [("initrd.img root=/dev/ram", 0), ("second", 0)]
    (s0, e0, _, _), (s1, e1, _, _) = mods
    assert s0 == 0x101000 and e0 == s0 + 5000           # first page after the kernel
    assert s1 == 0x103000 and e1 == s1 + 3              # page-aligned after the first
    assert img.read(s0, 5000) == b"\xAA" * 5000
    assert img.read(s1, 3) == b"xyz"
    assert img.modules == [(s0, e0, "initrd.img root=/dev/ram"), (s1, e1, "second")]
    # every pointer in the structure is below 1 MiB, inside the information area
    for addr in (info.cmdline_addr, info.mods_addr, info.mmap_addr, info.boot_loader_name_addr):
        assert INFO_ADDR <= addr < img.info_end <= INFO_LIMIT


def test_multiboot_info_without_modules_or_cmdline():
    img = load_kernel(mb_elf(), 2 * MiB)
    info = Info(img)
    assert info.cmdline == ""
    assert info.mods_count == 0
    assert info.mem_upper == 1024
    assert info.mmap()[-1] == (20, 0x100000, MiB, 1)
    img1 = load_kernel(mb_elf(bss=0), MiB + 0x1000 * 0 + 0x20000)
    assert Info(img1).mem_upper == 128


def test_memory_of_exactly_one_mib_has_no_upper_entry():
    img = load_multiboot(mb_elf(paddr=0x20000), MiB)
    info = Info(img)
    assert info.mem_upper == 0
    assert len(info.mmap()) == 3


def test_kernel_below_one_mib_is_allowed_outside_the_info_area():
    img = load_kernel(mb_elf(paddr=0x20000), MEM)
    assert img.entry == 0x2000C
    assert dict(img.segments)[0x20000][:4] == struct.pack("<I", MULTIBOOT_HEADER_MAGIC)


def test_kernel_over_the_info_area_gets_it_after_its_end():
    # kvm-unit-tests' realmode occupies 0x8000 up: as QEMU, the information
    # (structure, command line, memory map) goes to the page after the kernel.
    img = load_kernel(mb_elf(paddr=0x8000, bss=0x2000), MEM, cmdline="realmode.flat x")
    assert img.regs["ebx"] == img.info_addr == 0xB000
    assert img.kernel_end <= img.info_addr < img.info_end < 0x9FC00
    info = Info(img)
    assert info.cmdline == "realmode.flat x"
    assert len(info.mmap()) == 4


def test_module_page_alignment_and_empty_module():
    img = load_kernel(mb_elf(bss=0x1000 - 12 - 16), MEM,
                      modules=[("a", b""), ("b", b"1"), ("c", bytes(0x1000))])
    (sa, ea, _), (sb, eb, _), (sc, ec, _) = img.modules
    assert img.kernel_end == 0x101000
    assert (sa, ea) == (0x101000, 0x101000)
    assert (sb, eb) == (0x102000, 0x102001)
    assert (sc, ec) == (0x103000, 0x104000)
    assert all(s % 0x1000 == 0 for s, _, _ in img.modules)


def test_header_anywhere_in_first_8k():
    # header at file offset 0x1ff0 (inside segment data), still found
    pad = bytes(0x1FF0 - 0x100)
    text = pad + mb_header() + b"\xf4" * 4
    data = elf([seg(0x100000, text)], 0x100000 + len(pad) + 12)
    hdr = find_multiboot_header(data)
    assert hdr.offset == 0x1FF0 and hdr.flags == 3 and not hdr.has_address_fields
    assert load_kernel(data, MEM).kind == "multiboot-elf"
    # beyond 8 KiB it is not looked for: a plain ELF
    pad = bytes(0x2000 - 0x100)
    text = pad + mb_header() + b"\xf4" * 4
    data = elf([seg(0x100000, text)], 0x100000)
    assert find_multiboot_header(data) is None
    assert load_kernel(data, MEM).kind == "elf"


def test_header_must_be_aligned():
    data = bytearray(mb_elf())
    off = data.index(struct.pack("<I", MULTIBOOT_HEADER_MAGIC))
    bad = bytes(data[:off]) + b"\0\0" + bytes(data[off:])     # now at offset 2 mod 4
    assert find_multiboot_header(bad) is None


def test_multiboot_elf64_is_loaded_and_entered_in_32_bit_mode():
    img = load_kernel(mb_elf(bits=64), MEM)
    assert img.kind == "multiboot-elf" and img.mode == 32 and img.entry == 0x10000C


# -- the a.out kludge (header address fields) -------------------------------------------

def test_aout_kludge_flat_image():
    code = b"\xf4" * 64
    data = aout_image(code=code, prefix=0x40, bss=0x1000)
    img = load_kernel(data, MEM)
    assert img.kind == "multiboot-aout"
    assert img.entry == 0x100000 + 0x40 + 32
    body = dict(img.segments)[0x100000]
    assert body == data + bytes(0x1000)
    assert img.kernel_end == 0x100000 + len(data) + 0x1000
    assert img.regs["eax"] == MULTIBOOT_BOOTLOADER_MAGIC


def test_aout_kludge_load_end_zero_means_whole_file_and_bss_zero_means_none():
    data = aout_image(load_end=False, bss=0)
    img = load_kernel(data, MEM)
    assert dict(img.segments)[0x100000] == data


def test_aout_kludge_partial_load():
    # load_end_addr stops before the end of the file: the rest is not loaded
    header_addr = 0x100000
    h = mb_header(0x10003, aout=(header_addr, 0x100000, 0x100000 + 40, 0x100000 + 0x100,
                                 header_addr + 32))
    data = h + b"\xf4" * 8 + b"TRAILING"
    img = load_kernel(data, MEM)
    assert dict(img.segments)[0x100000] == data[:40] + bytes(0x100 - 40)


def test_aout_kludge_header_not_at_file_start():
    # file offset of the header is 0x80 but load_addr is 0x40 bytes below it:
    # the first 0x40 bytes of the file are not loaded
    header_addr = 0x200040
    h = mb_header(0x10003, aout=(header_addr, 0x200000, 0, 0, header_addr + 32))
    data = b"J" * 0x40 + b"K" * 0x40 + h + b"\xf4" * 4
    img = load_kernel(data, MEM)
    assert dict(img.segments)[0x200000] == data[0x40:]


def test_aout_kludge_overrides_elf_headers():
    # an ELF file whose header asks for address fields is loaded from them
    header_addr = 0x100000
    code = b"\xf4" * 16
    h = mb_header(0x10003, aout=(header_addr, header_addr, 0, header_addr + 0x1000,
                                 header_addr + 32))
    data = elf([seg(0x500000, h + code, vaddr=0x500000)], 0x500000)
    img = load_kernel(data, MEM)
    assert img.kind == "multiboot-aout"
    assert img.entry == 0x100020
    assert 0x500000 not in dict(img.segments)
    assert dict(img.segments)[0x100000][:len(h) + len(code)] == h + code


# -- plain ELF and flat ---------------------------------------------------------------

def test_plain_elf32():
    data = elf([seg(0x200000, b"\xf4" * 8, memsz=0x100)], 0x200004)
    img = load_kernel(data, MEM)
    assert (img.kind, img.mode, img.entry, img.regs, img.info_addr) == ("elf", 32, 0x200004, {}, None)
    assert img.segments == [(0x200000, b"\xf4" * 8 + bytes(0xF8))]
    assert load_elf(data).segments == img.segments          # memory size optional


def test_plain_elf64():
    data = elf([seg(0x400000, b"\x48\x31\xc0\xf4")], 0x400000, bits=64)
    img = load_kernel(data, MEM)
    assert (img.kind, img.mode, img.entry, img.regs) == ("elf", 64, 0x400000, {})


def test_plain_elf_refuses_cmdline_and_modules():
    data = elf([seg(0x200000, b"\xf4")], 0x200000)
    with pytest.raises(LoaderError, match="only be passed to a Multiboot kernel"):
        load_kernel(data, MEM, cmdline="x")
    with pytest.raises(LoaderError, match="only be passed to a Multiboot kernel"):
        load_kernel(data, MEM, modules=[("m", b"1")])


def test_load_flat():
    img = load_flat(b"\x90\xf4", 0x7C00, memory_size=MiB, mode=16)
    assert (img.segments, img.entry, img.mode, img.regs, img.kind) == (
        [(0x7C00, b"\x90\xf4")], 0x7C00, 16, {}, "flat")
    assert load_flat(b"\x90\xf4", 0x1000, entry=0x1001).entry == 0x1001
    with pytest.raises(LoaderError, match="empty flat image"):
        load_flat(b"", 0x1000)
    with pytest.raises(LoaderError, match=r"flat image \(0xffff0-0x100010\) lies outside guest memory \(1 MiB\)"):
        load_flat(bytes(32), 0xFFFF0, memory_size=MiB)
    with pytest.raises(LoaderError, match="mode must be 16, 32 or 64"):
        load_flat(b"\x90", 0, mode=8)
    with pytest.raises(LoaderError, match="entry point 0x2000 is not inside any loaded segment"):
        load_flat(b"\x90", 0x1000, entry=0x2000)


def test_write_to_and_read():
    img = load_kernel(mb_elf(), MEM, cmdline="hi")
    mem = bytearray(MEM)

    def mem_write(addr, data):
        mem[addr:addr + len(data)] = data
    img.write_to(mem_write)
    for addr, data in img.segments:
        assert bytes(mem[addr:addr + len(data)]) == data
    assert img.read_u32(INFO_ADDR) == struct.unpack_from("<I", mem, INFO_ADDR)[0]
    with pytest.raises(LoaderError, match="not entirely covered"):
        img.read(0x50000, 4)


# -- malformed images ---------------------------------------------------------------

def _patch(data, off, fmt, *values):
    b = bytearray(data)
    struct.pack_into(fmt, b, off, *values)
    return bytes(b)


def _good():
    return mb_elf()


MALFORMED = {
    "empty": (b"", r"empty kernel image \(0 bytes\)"),
    "neither": (b"\x01\x02\x03\x04" * 100,
                r"not a Multiboot kernel \(no header magic 0x1badb002 in the first 8192 bytes\) "
                r"and not an ELF file"),
    "bad checksum": (bytes(16) + mb_header(0x3, checksum=0x12345678) + bytes(16),
                     r"Multiboot header at file offset 0x10 has a bad checksum 0x12345678 "
                     r"\(magic \+ flags \+ checksum = 0x.*, must be 0\)"),
    "header cut at magic": (bytes(8) + struct.pack("<I", MULTIBOOT_HEADER_MAGIC) + b"\0\0",
                            r"Multiboot header at file offset 0x8 is truncated"),
    "address fields cut": (mb_header(0x10003) + bytes(8),
                           r"flags bit 16 asks for address fields \(32 bytes\) but the file "
                           r"ends after 20 bytes"),
    "video mode": (mb_elf(flags=0x7),
                   r"requires features pvemu does not support: bit 2 \(video mode table\)"),
    "unknown required bits": (mb_elf(flags=0x8023),
                              r"does not support: bit 5, bit 15"),
    "no address fields, not ELF": (mb_header(0x3) + b"\xf4" * 16,
                                   r"has no address fields \(flags bit 16 clear\) and the image "
                                   r"is not ELF"),
    "truncated ELF header": (b"\x7fELF\x01\x01\x01" + bytes(20),
                             r"truncated ELF32 file: 27 bytes, shorter than its 52-byte ELF header"),
    "truncated e_ident": (b"\x7fELF\x01", r"truncated ELF file: 5 bytes"),
    "truncated program headers": (
        elf([seg(0x100000, b"\xf4")], 0x100000)[:52 + 16],
        r"truncated program headers: 1 entries of 32 bytes at offset 0x34 end at 0x54, "
        r"past the end of the file \(68 bytes\)"),
    "phnum beyond file": (
        _patch(elf([seg(0x100000, b"\xf4")], 0x100000), 44, "<H", 200),
        r"truncated program headers: 200 entries"),
    "segment data past end of file": (
        elf([seg(0x100000, b"\xf4" * 64)], 0x100000)[:0x100 + 10],
        r"segment 0: its file data \(0x40 bytes at offset 0x100\) runs past the end of the "
        r"file \(266 bytes\): truncated file"),
    "filesz > memsz": (elf([seg(0x100000, b"\xf4" * 64, memsz=16)], 0x100000),
                       r"segment 0: p_filesz 0x40 is larger than p_memsz 0x10"),
    "overlapping segments": (
        elf([seg(0x100000, b"\xf4" * 16, memsz=0x2000), seg(0x101000, b"x")], 0x100000),
        r"segment 0 \(0x100000-0x102000\) and segment 1 \(0x101000-0x101001\) overlap"),
    "outside memory": (
        elf([seg(0x100000, b"\xf4"), seg(0x200000, b"x", memsz=0x200000)], 0x100000),
        r"segment 1 \(0x200000-0x400000\) lies outside guest memory \(2 MiB\)"),
    "huge bss is checked before it is allocated": (
        elf([seg(0x100000, mb_header() + b"\xf4", memsz=0xF0000000)], 0x10000C),
        r"segment 0 \(0x100000-0xf0100000\) lies outside guest memory \(2 MiB\)"),
    "over the reserved hole": (
        elf([seg(0xA0000, mb_header() + b"\xf4")], 0xA000C),
        r"segment 0 \(0xa0000-0xa000d\) overlaps the reserved area 0x9fc00-0x100000"),
    "no PT_LOAD": (elf([seg(0x100000, b"x", ptype=PT_NOTE)], 0x100000),
                   r"no loadable \(PT_LOAD\) segments"),
    "no program headers": (elf([], 0x100000), r"ELF file has no program headers"),
    "phentsize too small": (elf([seg(0x100000, b"\xf4")], 0x100000, phentsize=16),
                            r"program header entry size 16 is smaller than 32"),
    "PN_XNUM": (_patch(elf([seg(0x100000, b"\xf4")], 0x100000), 44, "<H", 0xFFFF),
                r"extended program header numbering"),
    "wrong machine": (elf([seg(0x100000, b"\xf4")], 0x100000, machine=40),
                      r"ELF32 machine 40 is not EM_386 \(3\)"),
    "ELF64 wrong machine": (elf([seg(0x100000, b"\xf4")], 0x100000, bits=64, machine=3),
                            r"ELF64 machine 3 is not EM_X86_64 \(62\)"),
    "ET_DYN": (elf([seg(0x100000, b"\xf4")], 0x100000, etype=3),
               r"ELF type ET_DYN \(position-independent\) is not ET_EXEC"),
    "ET_REL": (elf([seg(0x100000, b"\xf4")], 0x100000, etype=1), r"ELF type ET_REL"),
    "big-endian": (elf([seg(0x100000, b"\xf4")], 0x100000,
                       ident=b"\x7fELF\x01\x02\x01" + bytes(9)),
                   r"ELF data encoding 2 is not little-endian"),
    "bad class": (elf([seg(0x100000, b"\xf4")], 0x100000, ident=b"\x7fELF\x03\x01\x01" + bytes(9)),
                  r"ELF class 3 is neither ELFCLASS32"),
    "bad version": (elf([seg(0x100000, b"\xf4")], 0x100000, ident=b"\x7fELF\x01\x01\x02" + bytes(9)),
                    r"ELF identification version 2 is not 1"),
    "entry outside segments": (elf([seg(0x100000, mb_header() + b"\xf4")], 0x300000),
                               r"entry point 0x300000 is not inside any loaded segment"),
    "multiboot ELF64 entry above 4 GiB": (
        elf([seg(0x100000, mb_header() + b"\xf4")], 0x1_0000_0000, bits=64),
        r"ELF64 entry point 0x100000000 is above 4 GiB"),
    "aout load_addr above header_addr": (
        mb_header(0x10003, aout=(0x100000, 0x100010, 0, 0, 0x100000)),
        r"load_addr 0x100010 is above header_addr 0x100000"),
    "aout header_addr - load_addr beyond file offset": (
        mb_header(0x10003, aout=(0x100040, 0x100000, 0, 0, 0x100040)),
        r"header_addr - load_addr = 0x40 is larger than the header's file offset 0x0"),
    "aout load_end below load_addr": (
        mb_header(0x10003, aout=(0x100000, 0x100000, 0xFF000, 0, 0x100000)),
        r"load_end_addr 0xff000 is not above load_addr 0x100000"),
    "aout load_end beyond file": (
        mb_header(0x10003, aout=(0x100000, 0x100000, 0x101000, 0, 0x100000)),
        r"truncated file: the Multiboot address fields load 0x100000-0x101000 \(0x1000 bytes "
        r"from file offset 0x0\) but the file has only 32 bytes"),
    "aout bss_end below load_end": (
        mb_header(0x10003, aout=(0x100000, 0x100000, 0x100020, 0x100010, 0x100000)),
        r"bss_end_addr 0x100010 is below the end of the loaded data 0x100020"),
    "aout outside memory": (
        mb_header(0x10003, aout=(0x100000, 0x100000, 0, 0x1000000, 0x100000)),
        r"segment 0 \(0x100000-0x1000000\) lies outside guest memory \(2 MiB\)"),
    "aout entry outside": (
        mb_header(0x10003, aout=(0x100000, 0x100000, 0, 0, 0x200000)),
        r"entry point 0x200000 is not inside any loaded segment"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_image(name):
    data, message = MALFORMED[name]
    with pytest.raises(LoaderError, match=message) as ei:
        load_kernel(data, 2 * MiB)
    assert isinstance(ei.value, ValueError)


def test_loader_error_is_a_value_error():
    assert issubclass(LoaderError, ValueError)


def test_bad_memory_size():
    with pytest.raises(LoaderError, match=r"guest memory \(512 KiB\) must be at least 1 MiB"):
        load_kernel(_good(), 512 * 1024)
    with pytest.raises(LoaderError, match="must be a positive integer"):
        load_kernel(_good(), 0)


def test_module_that_does_not_fit():
    with pytest.raises(LoaderError, match=r"module 'big' \(2097152 bytes at 0x101000\) does not "
                                          r"fit in guest memory \(2 MiB\)"):
        load_kernel(_good(), 2 * MiB, modules=[("big", bytes(2 * MiB))])


def test_command_line_too_long_for_the_info_area():
    with pytest.raises(LoaderError, match=r"needs 0x9000-0x[0-9a-f]+, past its limit 0x9fc00"):
        load_kernel(_good(), MEM, cmdline="x" * (INFO_LIMIT - INFO_ADDR))
    load_kernel(_good(), MEM, cmdline="x" * 1000)       # a long but fitting one is fine


def test_nul_in_strings_is_refused():
    with pytest.raises(LoaderError, match="contains a NUL byte"):
        load_kernel(_good(), MEM, cmdline="a\0b")


def test_truncations_and_corruptions_only_raise_loader_error():
    """Every prefix and many random corruptions of valid images either load
    or raise LoaderError: never IndexError, struct.error, and the like."""
    images = [mb_elf(extra=[seg(0x200000, b"D" * 40, memsz=0x80)]), aout_image(),
              elf([seg(0x200000, b"\xf4" * 8)], 0x200000, bits=64),
              (IMAGES / "hello32.elf").read_bytes()[:0x1200]]
    rng = random.Random(1234)
    for data in images:
        for n in range(len(data) + 1):
            try:
                load_kernel(data[:n], MEM)
            except LoaderError:
                pass
        for _ in range(600):
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(min(len(b), 0x140))
                b[i] = rng.randrange(256)
            try:
                load_kernel(bytes(b), MEM, cmdline="c", modules=[("m", b"12")])
            except LoaderError:
                pass


# -- the checked-in test kernels ------------------------------------------------------

KERNELS = ["hello32", "pmode_idt32", "paging32", "long64", "ring3_32", "timer32"]


def _elf_loads(data):
    """(p_paddr, p_filesz, p_memsz, p_offset) of each PT_LOAD, read with a
    separate parser from the loader's."""
    e_phoff, = struct.unpack_from("<I", data, 28)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 42)
    out = []
    for i in range(e_phnum):
        t, off, _va, pa, fs, ms, _f, _a = struct.unpack_from("<8I", data, e_phoff + i * e_phentsize)
        if t == PT_LOAD:
            out.append((pa, fs, ms, off))
    return out


@pytest.mark.parametrize("name", KERNELS)
def test_shipped_kernel_loads(name):
    data = (IMAGES / f"{name}.elf").read_bytes()
    assert data[:5] == b"\x7fELF\x01"                 # ELF32, as QEMU's -kernel needs
    img = load_kernel(data, 32 * MiB)
    assert img.mode == 32
    assert img.kind == ("multiboot-aout" if name == "hello32" else "multiboot-elf")
    e_entry, = struct.unpack_from("<I", data, 24)
    assert img.entry == e_entry
    (pa, fs, ms, off), = _elf_loads(data)             # one PT_LOAD at 1 MiB
    assert pa == 0x100000
    # kludge or ELF, the bytes loaded are the ELF segment's
    assert dict(img.segments)[pa] == data[off:off + fs] + bytes(ms - fs)


def _uc_boot(img, max_insns=20_000_000):
    """Run a BootImage on Unicorn with COM1 (LSR always 'empty') and the
    isa-debug-exit port; return (serial bytes, exit status)."""
    unicorn = pytest.importorskip("unicorn")
    from unicorn import x86_const as X
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, img.memory_size)
    img.write_to(uc.mem_write)
    uc.reg_write(X.UC_X86_REG_EAX, img.regs["eax"])
    uc.reg_write(X.UC_X86_REG_EBX, img.regs["ebx"])
    out, status, lcr = bytearray(), [], [0]

    def on_in(uc, port, size, _):
        return 0x60 if port == 0x3FD else 0

    def on_out(uc, port, size, value, _):
        if port == 0x3FB:
            lcr[0] = value
        elif port == 0x3F8 and not lcr[0] & 0x80:          # not the divisor latch
            out.append(value & 0xFF)
        elif port == 0xF4:
            status.append(((value << 1) | 1) & 0xFF)
            uc.emu_stop()
    uc.hook_add(unicorn.UC_HOOK_INSN, on_in, None, 1, 0, X.UC_X86_INS_IN)
    uc.hook_add(unicorn.UC_HOOK_INSN, on_out, None, 1, 0, X.UC_X86_INS_OUT)
    uc.emu_start(img.entry, 0xFFFFFFFF, count=max_insns)
    return bytes(out), status[0] if status else None


def test_hello32_boots_on_unicorn_from_the_boot_image():
    """End to end: the loader's BootImage of hello32 (a.out kludge), run on
    Unicorn, prints what QEMU printed (expected/hello32.txt)."""
    img = load_kernel((IMAGES / "hello32.elf").read_bytes(), 32 * MiB)
    out, status = _uc_boot(img)
    assert out == (EXPECTED / "hello32.txt").read_bytes()
    assert status == int((EXPECTED / "hello32.status").read_text())


# -- a kernel built with the host toolchain ------------------------------------------------

HOST_ASM = r"""
        .section .multiboot, "a"
        .align 4
        .long 0x1BADB002, 0x00000003, -(0x1BADB002 + 0x00000003)
        .text
        .globl _start
_start: mov $0x1234, %eax
        hlt
        .data
value:  .long 0xfeedface
        .bss
        .skip 0x3000
"""

HOST_LD = """
ENTRY(_start)
SECTIONS {
    . = 0x100000;
    .text : { KEEP(*(.multiboot)) *(.text) }
    . = ALIGN(0x1000);
    .data : { *(.data) }
    .bss : { *(.bss) }
}
"""


@pytest.mark.skipif(not (shutil.which("as") and shutil.which("ld")),
                    reason="binutils (as, ld) not installed")
def test_kernel_built_with_the_host_toolchain(tmp_path):
    (tmp_path / "k.S").write_text(HOST_ASM)
    (tmp_path / "k.ld").write_text(HOST_LD)
    try:
        subprocess.run(["as", "--32", "-o", str(tmp_path / "k.o"), str(tmp_path / "k.S")],
                       check=True, capture_output=True)
        subprocess.run(["ld", "-m", "elf_i386", "-T", str(tmp_path / "k.ld"), "-o",
                        str(tmp_path / "k.elf"), str(tmp_path / "k.o")],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"host toolchain cannot build 32-bit code: {e.stderr.decode()[:200]}")
    data = (tmp_path / "k.elf").read_bytes()
    nm = subprocess.run(["nm", str(tmp_path / "k.elf")], capture_output=True, text=True)
    symbols = {m.group(2): int(m.group(1), 16)
               for m in re.finditer(r"^([0-9a-f]+) \w (\w+)$", nm.stdout, re.M)}
    img = load_kernel(data, 4 * MiB)
    assert img.kind == "multiboot-elf"
    assert img.entry == symbols["_start"]
    assert img.read(symbols["_start"], 6) == b"\xb8\x34\x12\x00\x00\xf4"
    assert img.read_u32(symbols["value"]) == 0xFEEDFACE
    assert img.read(symbols["value"] + 4, 0x3000) == bytes(0x3000)    # bss zero-filled
