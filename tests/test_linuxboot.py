"""The Linux boot protocol loader (emu/linuxboot.py) on synthetic bzImages:
the zero page it builds, the two entry protocols, and its errors."""
import struct

import pytest

from emu.linuxboot import (BP_E820_ENTRIES, BP_E820_TABLE, H_CMD_LINE_PTR, H_CODE32_START,
                           H_RAMDISK_IMAGE, H_RAMDISK_SIZE, H_TYPE_OF_LOADER, ZERO_PAGE,
                           e820_map, is_bzimage, load_bzimage)
from emu.loader import LoaderError
from emu.system import boot

MEM = 64 << 20


def bzimage(kernel: bytes, version=0x020F, xloadflags=0, setup_sects=4, loadflags=1,
            cmdline_size=2048, initrd_max=0x37FFFFFF, init_size=0x10000) -> bytes:
    """A minimal bzImage: setup sectors holding a setup header, then `kernel`."""
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x200:0x202] = bytes([0xEB, 0x6A])        # jmp over the header: ends at 0x26C
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    setup[0x211] = loadflags
    struct.pack_into("<I", setup, 0x214, 0x100000)
    struct.pack_into("<I", setup, 0x22C, initrd_max)
    struct.pack_into("<H", setup, 0x236, xloadflags)
    struct.pack_into("<I", setup, 0x238, cmdline_size)
    struct.pack_into("<I", setup, 0x260, init_size)
    return bytes(setup) + kernel


# 32-bit kernel: eax = ramdisk_image, ebx = first byte of the command line,
# ecx = the e820 entry count, edx = cs; hlt.
K32 = bytes.fromhex("8b8618020000" "8b8e28020000" "0fb619" "0fb68ee8010000" "8cca" "f4")
# 64-bit kernel at +0x200: rax = ramdisk_size, rbx = cs, rcx = rsi; hlt.
K64 = b"\x90" * 0x200 + bytes.fromhex("8b861c020000" "8ccb" "4889f1" "f4")


def test_detects_only_bzimages():
    assert is_bzimage(bzimage(K32))
    assert not is_bzimage(b"\x7fELF" + bytes(1000))
    assert not is_bzimage(bytes(0x300))


def test_zero_page_and_32bit_entry():
    initrd = bytes(range(256)) * 20
    m, image = boot(bzimage(K32), MEM, cmdline="console=ttyS0 x=1", initrd=initrd)
    assert image.mode == 32 and image.entry == 0x100000
    zp = m.mem_read(ZERO_PAGE, 4096)
    assert zp[0x202:0x206] == b"HdrS"
    assert zp[H_TYPE_OF_LOADER] == 0xFF
    assert struct.unpack_from("<I", zp, H_CODE32_START)[0] == 0x100000
    cmd = struct.unpack_from("<I", zp, H_CMD_LINE_PTR)[0]
    assert m.mem_read(cmd, 18) == b"console=ttyS0 x=1\0"
    rd, rdsize = struct.unpack_from("<II", zp, H_RAMDISK_IMAGE)[0], struct.unpack_from("<I", zp, H_RAMDISK_SIZE)[0]
    assert rdsize == len(initrd) and rd % 4096 == 0 and rd + rdsize <= MEM
    assert m.mem_read(rd, len(initrd)) == initrd
    n = zp[BP_E820_ENTRIES]
    table = [struct.unpack_from("<QQI", zp, BP_E820_TABLE + 20 * k) for k in range(n)]
    assert table == e820_map(MEM)
    assert sum(length for _b, length, typ in table if typ == 1) == 0x9FC00 + MEM - 0x100000
    ex = m.run(count=100)
    assert ex.reason == "hlt"
    assert m.reg_read("eax") == rd
    assert m.reg_read("ebx") == ord("c")
    assert m.reg_read("ecx") == n
    assert m.reg_read("edx") & 0xFFFF == 0x10        # __BOOT_CS


def test_64bit_entry_when_the_kernel_allows_it():
    image = bzimage(K64, xloadflags=1)
    m, img = boot(image, MEM, initrd=b"abc")
    assert img.mode == 64 and img.entry == 0x100200
    ex = m.run(count=1000)
    assert ex.reason == "hlt"
    assert m.reg_read("rax") == 3
    assert m.reg_read("rcx") == ZERO_PAGE
    # the same image through the 32-bit protocol: an older protocol version
    m, img = boot(bzimage(K64, xloadflags=1, version=0x020B), MEM)
    assert img.mode == 32 and img.entry == 0x100000


@pytest.mark.parametrize("patch, message", [
    (dict(version=0x0204), "boot protocol version 2.04"),
    (dict(loadflags=0), "LOADED_HIGH"),
    (dict(cmdline_size=4), "the kernel takes at most 4"),
    (dict(init_size=200 << 20), "needs 201 MiB"),
])
def test_errors_name_the_field(patch, message):
    with pytest.raises(LoaderError, match=message):
        load_bzimage(bzimage(K32, **patch), MEM, cmdline="console=ttyS0")


def test_bad_magic_and_boot_flag():
    data = bytearray(bzimage(K32))
    data[0x1FE] = 0
    with pytest.raises(LoaderError, match="boot_flag"):
        load_bzimage(bytes(data), MEM)
    with pytest.raises(LoaderError, match="HdrS"):
        load_bzimage(bytes(0x1000), MEM)


def test_initrd_that_does_not_fit():
    with pytest.raises(LoaderError, match="initrd"):
        load_bzimage(bzimage(K32, initrd_max=0x1FFFFF), MEM, initrd=bytes(2 << 20))


def test_initrd_only_for_linux(tmp_path):
    from emu.loader import load_kernel
    with pytest.raises(LoaderError, match="initrd"):
        load_kernel(b"\x7fELF" + bytes(100), MEM, initrd=b"x")


def vmlinux(is64: bool, code: bytes, paddr=0x1000000, bss=0x100) -> bytes:
    """A minimal ELF vmlinux: one PT_LOAD of `code` (+ bss) at `paddr`, entered at its start."""
    if is64:
        eh = struct.pack("<4sBBBB8xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 2, 62, 1, paddr, 64, 0, 0,
                         64, 56, 1, 0, 0, 0)
        ph = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, 0xFFFFFFFF81000000, paddr, len(code), len(code) + bss,
                         0x1000)
    else:
        eh = struct.pack("<4sBBBB8xHHIIIIIHHHHHH", b"\x7fELF", 1, 1, 1, 0, 2, 3, 1, paddr, 52, 0, 0,
                         52, 32, 1, 0, 0, 0)
        ph = struct.pack("<IIIIIIII", 1, 0x1000, 0xC1000000, paddr, len(code), len(code) + bss, 7, 0x1000)
    head = eh + ph
    return head + bytes(0x1000 - len(head)) + code


def with_payload(compressed: bytes, **kw) -> bytes:
    """A bzImage whose payload (payload_offset/length) is `compressed`, as the
    kernel's build appends it: the stream, then its uncompressed size."""
    stub = b"\xf4" * 0x40                         # the decompressor's place: hlt
    image = bytearray(bzimage(stub + compressed + struct.pack("<I", 0), init_size=0x200000, **kw))
    struct.pack_into("<II", image, 0x248, len(stub), len(compressed) + 4)
    struct.pack_into("<Q", image, 0x258, 0x1000000)         # pref_address, as Linux's
    return bytes(image)


# vmlinux code: eax = esi (the zero page), then hlt (the same bytes in both widths).
ENTRY_CODE = bytes.fromhex("89f0" "f4")


@pytest.mark.parametrize("is64", [False, True])
def test_the_loader_unpacks_the_vmlinux_and_enters_it(is64):
    """decompress="host" (the default): the payload's ELF segments go to
    their physical addresses and the kernel starts at the ELF entry with
    the zero page in ESI/RSI; "guest" enters the kernel's own decompressor."""
    import lzma
    image = with_payload(lzma.compress(vmlinux(is64, ENTRY_CODE), format=lzma.FORMAT_XZ),
                         xloadflags=1 if is64 else 0)
    m, img = boot(image, MEM)
    assert img.entry == 0x1000000 and img.mode == (64 if is64 else 32)
    assert m.mem_read(0x1000000, 3) == ENTRY_CODE and m.mem_read(0x1000003, 0x100) == bytes(0x100)
    assert m.run(count=100).reason == "hlt" and m.reg_read("eax") == ZERO_PAGE
    zp = m.mem_read(ZERO_PAGE, 4096)
    assert not zp[0x211] & 2                       # KASLR_FLAG: the kernel was not moved
    m, img = boot(image, MEM, linux_decompress="guest")
    assert img.entry == (0x100200 if is64 else 0x100000)


@pytest.mark.parametrize("compress, name", [("gzip", "gzip"), ("bz2", "bzip2")])
def test_other_standard_formats(compress, name):
    import bz2
    import gzip
    elf = vmlinux(False, ENTRY_CODE)
    packed = gzip.compress(elf) if compress == "gzip" else bz2.compress(elf)
    assert load_bzimage(with_payload(packed), MEM).entry == 0x1000000, name


def test_unpacking_errors_name_the_problem():
    import lzma
    good = lzma.compress(vmlinux(False, ENTRY_CODE), format=lzma.FORMAT_XZ)
    with pytest.raises(LoaderError, match="truncated|corrupt"):
        load_bzimage(with_payload(good[:len(good) // 2]), MEM)
    with pytest.raises(LoaderError, match="outside the 0x1000000-0x1200000"):
        load_bzimage(with_payload(lzma.compress(vmlinux(False, ENTRY_CODE, bss=0x300000),
                                                format=lzma.FORMAT_XZ)), MEM)
    with pytest.raises(LoaderError, match="not a little-endian ELF"):
        load_bzimage(with_payload(lzma.compress(b"not an elf" * 10, format=lzma.FORMAT_XZ)), MEM)
    with pytest.raises(LoaderError, match="decompress must be"):
        load_bzimage(with_payload(good), MEM, decompress="maybe")
    # a format the standard library cannot read (zstd) leaves it to the kernel's decompressor
    assert load_bzimage(with_payload(b"\x28\xb5\x2f\xfd" + bytes(40)), MEM).entry == 0x100000
