"""Reserved bits in paging-structure entries (SDM Vol. 3A 4.4.2, 4.5.4,
4.7): a present entry with one set is a #PF with RSVD (and P) in the error
code, whatever the access: physical-address bits at or above MAXPHYADDR
(CPUID 0x80000008: 40 bits in every model here, QEMU's default), the low
bits of a large page's address but PAT, PS in a PML4 entry, PS in a PDPT
entry where 1 GiB pages are not reported (CPUID 0x80000001 EDX.Page1GB),
bit 21 of a 4 MiB page.  kvm-unit-tests' access test checks the same."""
import struct

import pytest

from emu import Machine

PML4, PDPT, PD, PT = 0x10000, 0x11000, 0x12000, 0x13000
CODE = 0x1000
P, W, RSVD = 1, 2, 8


def machine64(cpu=None):
    """64-bit, 4-level paging: the first 2 MiB in 4 KiB pages one to one."""
    m = Machine(mode=64, memory=4 << 20, **({"cpu": cpu} if cpu else {}))
    m.mem_write(PML4, struct.pack("<Q", PDPT | 3))
    m.mem_write(PDPT, struct.pack("<Q", PD | 3))
    m.mem_write(PD, struct.pack("<Q", PT | 3))
    m.mem_write(PT, struct.pack("<512Q", *((k << 12) | 3 for k in range(512))))
    m.write_cr(4, 0x20)
    m.write_cr(3, PML4)
    return m


def load(m, addr):
    """mov eax, [addr] at CODE: the run's exit."""
    m.mem_write(CODE, b"\xa1" + struct.pack("<Q", addr) + b"\xf4")      # mov eax, [moffs64]
    return m.run(start=CODE, count=10)


def assert_rsvd(m, ex, addr, write=False):
    assert ex.reason == "exception" and ex.vector == 14, str(ex)
    assert ex.error_code == P | RSVD | (W if write else 0) and m.read_cr(2) == addr


@pytest.mark.parametrize("bit", [40, 45, 51])
def test_physical_address_bits_above_maxphyaddr(bit):
    m = machine64()
    assert m.cpuid(0x80000008)[0] & 0xFF == 40
    m.mem_write(PT + 8 * 5, struct.pack("<Q", 0x5003 | 1 << bit))         # the PTE of 0x5000
    assert_rsvd(m, load(m, 0x5000), 0x5000)
    m.mem_write(PT + 8 * 5, struct.pack("<Q", 0x5003 | 1 << 39))          # bit 39: a real address bit
    assert load(m, 0x5000).reason == "unmapped"                          # no RAM there, but no #PF
    m.mem_write(0x14000, struct.pack("<512Q", *((0x200000 + (k << 12)) | 3 for k in range(512))))
    m.mem_write(PD + 8, struct.pack("<Q", 0x14000 | 3 | 1 << bit))        # a non-leaf entry too
    assert_rsvd(m, load(m, 0x205000), 0x205000)


def test_large_page_low_address_bits_and_pat():
    m = machine64()
    m.mem_write(PD + 8, struct.pack("<Q", 0x200000 | 0x83 | 1 << 12))    # 2 MiB page with PAT: fine
    m.mem_write(0x203000, b"\x11\x22\x33\x44")
    ex = load(m, 0x203000)
    assert ex.reason == "hlt" and m.reg_read("eax") == 0x44332211
    m.mem_write(PD + 8, struct.pack("<Q", 0x200000 | 0x83 | 1 << 13))    # bit 13: reserved
    m.flush_tlb()
    assert_rsvd(m, load(m, 0x203000), 0x203000)


def test_ps_in_a_pml4_entry_and_1g_pages_by_cpu_model():
    m = machine64()
    assert m.cpuid(0x80000001)[3] >> 26 & 1                              # pvemu's model: Page1GB
    m.mem_write(PDPT + 8, struct.pack("<Q", 0x83))                        # 1 GiB page at 1 GiB -> 0
    m.mem_write(0x3000, b"\x55\x66\x77\x88")
    ex = load(m, 0x40003000)
    assert ex.reason == "hlt" and m.reg_read("eax") == 0x88776655
    m.mem_write(PDPT + 8, struct.pack("<Q", 0x83 | 1 << 20))             # 1 GiB page: bits 29:13 reserved
    m.flush_tlb()
    assert_rsvd(m, load(m, 0x40003000), 0x40003000)
    old = machine64("qemu64")                                            # as QEMU's: no 1 GiB pages
    assert not old.cpuid(0x80000001)[3] >> 26 & 1
    old.mem_write(PDPT + 8, struct.pack("<Q", 0x83))
    assert_rsvd(old, load(old, 0x40003000), 0x40003000)
    old.mem_write(PML4 + 8, struct.pack("<Q", PDPT | 0x83))              # PS in a PML4 entry
    assert_rsvd(old, load(old, 0x8000000000), 0x8000000000)


def test_4mb_page_bit_21_and_pse36():
    m = Machine(mode=32, memory=4 << 20)
    assert m.cpuid(1)[3] >> 17 & 1                                       # PSE-36
    m.mem_write(0x10000, struct.pack("<II", 0x83, 0x83 | 1 << 21))       # 0-4M; 4M-8M with bit 21
    m.write_cr(4, 0x10)                                                  # PSE
    m.write_cr(3, 0x10000)
    m.write_cr(0, m.read_cr(0) | 0x80000000)
    m.mem_write(CODE, b"\xa1\x00\x10\x40\x00\xf4")                       # mov eax, [0x401000]
    ex = m.run(start=CODE, count=10)
    assert_rsvd(m, ex, 0x401000)
    m.mem_write(0x10004, struct.pack("<I", 0x83 | 1 << 13))              # PSE-36: physical 4 GiB + 0
    m.flush_tlb()
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "unmapped" and ex.access_address == 0x100001000  # past RAM, but no #PF
