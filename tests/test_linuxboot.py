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
