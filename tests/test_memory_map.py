"""Mapped memory (Machine.mem_map and family): regions anywhere in the 64-bit
space, permissions enforced as exits, host buffers as guest memory, and
decoded code in regions invalidated by stores."""
import mmap

import pytest

from emu import EmuError, Machine

HIGH = 0x7FFF_0000_0000
# mov rax,[0x100000]; add rax,1; mov [0x100000],rax; hlt
INC = bytes.fromhex("488b042500001000" "4883c001" "4889042500001000" "f4")


def machine():
    m = Machine(mode=64, memory=0)
    m.mem_map(HIGH, 0x2000, 5)              # r-x
    m.mem_map(0x100000, 0x1000, 3)          # rw-
    m.mem_write(HIGH, INC)
    return m


def test_code_and_data_in_regions_run():
    m = machine()
    m.mem_write(0x100000, (41).to_bytes(8, "little"))
    ex = m.run(start=HIGH)
    assert ex.reason == "hlt" and ex.instructions == 4
    assert int.from_bytes(m.mem_read(0x100000, 8), "little") == 42
    assert m.mem_regions() == [(0x100000, 0x100FFF, 3), (HIGH, HIGH + 0x1FFF, 5)]


@pytest.mark.parametrize("perms, access, address", [
    (1, "write", 0x100000),       # read-only data: the store faults
    (2, "read", 0x100000),        # write-only: the load faults
])
def test_data_permissions_are_protection_exits(perms, access, address):
    m = machine()
    m.mem_protect(0x100000, 0x1000, perms)
    ex = m.run(start=HIGH)
    assert (ex.reason, ex.access, ex.access_address) == ("protection", access, address)
    assert ex.address == (HIGH if access == "read" else HIGH + 12)


def test_permission_change_after_tlb_fill_takes_effect():
    m = machine()
    assert m.run(start=HIGH).reason == "hlt"          # the page is in the write TLB now
    m.mem_protect(0x100000, 0x1000, 1)
    assert m.run(start=HIGH).reason == "protection"
    m.mem_protect(0x100000, 0x1000, 3)
    assert m.run(start=HIGH).reason == "hlt"


def test_fetch_needs_execute_permission():
    m = machine()
    m.mem_protect(HIGH, 0x1000, 1)
    ex = m.run(start=HIGH)
    assert (ex.reason, ex.access, ex.access_address) == ("protection", "fetch", HIGH)


def test_unmapped_access_and_unmap_splits_regions():
    m = machine()
    m.mem_map(0x200000, 0x3000, 7)
    m.mem_unmap(0x201000, 0x1000)
    assert m.mem_regions()[1:3] == [(0x200000, 0x200FFF, 7), (0x202000, 0x202FFF, 7)]
    m.mem_unmap(0x100000, 0x1000)
    ex = m.run(start=HIGH)
    assert (ex.reason, ex.access, ex.access_address) == ("unmapped", "read", 0x100000)
    with pytest.raises(EmuError, match="not wholly mapped"):
        m.mem_unmap(0x200000, 0x3000)
    m.mem_map(0x201000, 0x1000)                # the hole can be mapped again
    m.mem_write(0x200FFE, b"abcd")             # a write across two regions
    assert m.mem_read(0x200FFE, 4) == b"abcd"


def test_host_buffer_is_guest_memory():
    m = Machine(mode=64, memory=0)
    m.mem_map(HIGH, 0x1000, 5)
    m.mem_write(HIGH, INC)
    mm = mmap.mmap(-1, 0x1000)
    m.mem_map_ptr(0x100000, mm, 3)
    assert m.run(start=HIGH).reason == "hlt"
    assert mm[:8] == (1).to_bytes(8, "little")
    mm[0] = 10                                  # the host writes, the guest sees it
    m.run(start=HIGH)
    assert m.mem_read(0x100000, 1) == b"\x0b"


def test_host_buffer_is_kept_alive():
    m = Machine(mode=64, memory=0)
    m.mem_map(HIGH, 0x1000, 5)
    m.mem_write(HIGH, INC)
    m.mem_map_ptr(0x100000, bytearray(0x1000), 3)    # only the machine holds it
    assert m.run(start=HIGH).reason == "hlt"
    assert m.mem_read(0x100000, 1) == b"\x01"


def test_stores_into_mapped_code_invalidate_it():
    m = Machine(mode=64, memory=0)
    m.mem_map(0x400000, 0x1000, 7)
    m.mem_write(0x400000, bytes.fromhex("b805000000f4"))     # mov eax,5; hlt
    m.run(start=0x400000)
    assert m.reg_read("rax") == 5
    m.mem_write(0x400001, b"\x07")
    m.run(start=0x400000)
    assert m.reg_read("rax") == 7
    # the guest patches its own code: mov byte [rip+1], 9 ... mov eax, imm
    code = bytes.fromhex("c6050100000009" "b803000000" "f4")
    m.mem_write(0x400000, code)
    m.run(start=0x400000)
    assert m.reg_read("rax") == 9


def test_ram_and_regions_together():
    m = Machine(mode=32, memory=0x10000)
    m.mem_map(0x80000000, 0x1000, 3)
    # mov eax,[0x80000000]; mov [0x100],eax; hlt
    m.mem_write(0x1000, bytes.fromhex("a100000080" "a300010000" "f4"))
    m.mem_write(0x80000000, b"\x11\x22\x33\x44")
    assert m.run(start=0x1000).reason == "hlt"
    assert m.mem_read(0x100, 4) == b"\x11\x22\x33\x44"
    assert m.mem_regions()[0] == (0, 0xFFFF, 7)


def test_page_tables_in_a_region():
    """The page walker reads tables wherever the guest maps them."""
    m = Machine(mode=64, memory=0)
    m.mem_map(0x10000, 0x4000, 3)             # PML4, PDPT, PD, PT
    m.mem_map(0x400000, 0x1000, 7)            # code+data, physical
    def q(a, v):
        m.mem_write(a, v.to_bytes(8, "little"))
    q(0x10000, 0x11000 | 3)
    q(0x11000, 0x12000 | 3)
    q(0x12000 + 8 * 1, 0x13000 | 3)           # 2 MiB..4 MiB
    q(0x13000 + 8 * 0x1FF, 0x400000 | 3)      # linear 0x3FF000 -> physical 0x400000
    m.write_cr(3, 0x10000)
    m.mem_write(0x400000, bytes.fromhex("b82a000000f4"))
    assert m.run(start=0x3FF000).reason == "hlt"
    assert m.reg_read("eax") == 42


@pytest.mark.parametrize("call, match", [
    (lambda m: m.mem_map(0x1001, 0x1000), "multiples of 4 KiB"),
    (lambda m: m.mem_map(0x100000, 0x1000), "overlaps the mapped region"),
    (lambda m: m.mem_map(-0x1000, 0x1000), "address"),
    (lambda m: m.mem_map(0xFFFFFFFFFFFFF000, 0x2000), "past the 64-bit"),
    (lambda m: m.mem_map(0x300000, 0x1000, 8), "perms"),
    (lambda m: m.mem_map(0x300000, 1.5), "size"),
    (lambda m: m.mem_map_ptr(0x300000, b"\0" * 0x1000), "writable"),
    (lambda m: m.mem_map_ptr(0x300000, bytearray(100)), "multiples"),
    (lambda m: m.mem_protect(0x300000, 0x1000, 1), "not wholly mapped"),
    (lambda m: m.mem_read(0x300000, 1), "nothing at 0x300000"),
    (lambda m: m.mem_write(-1, b"a"), "address"),
])
def test_bad_map_arguments(call, match):
    with pytest.raises(EmuError, match=match):
        call(machine())
