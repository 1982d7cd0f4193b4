"""INVLPG and Machine.flush_tlb(address) drop one page's translations from
the software TLB (and any piece of a large page), not the whole TLB.

The guest changes its page tables with plain stores, which flush nothing
(SDM Vol. 3A 4.10.4): a translation used before the change may stay cached
until INVLPG or a CR3 load.  Each test reads through a translation first,
then changes it and checks what INVLPG makes visible.  That a translation
INVLPG did not name is still the old one is this TLB's behaviour, not an
architectural rule (a CPU may drop any entry at any time); it is asserted
here because it is what INVLPG of one page is for."""
import struct

import pytest

from emu import Machine

PML4, PDPT, PD, PT = 0x10000, 0x11000, 0x12000, 0x13000
CODE, STACK = 0x1000, 0x1F000
LARGE_VA = 0x200000          # PD[1]: one 2 MiB page
CR4_PAE, CR4_PGE = 0x20, 0x80
PTE_G = 0x100


def mov_r32_abs(reg, addr):                        # mov r32, [addr]  (eax 0, ebx 3, esi 6, edi 7)
    return bytes([0x8B, 0x04 | reg << 3, 0x25]) + struct.pack("<I", addr)


def store_rcx(addr, value):                        # mov rcx, value; mov [addr], rcx
    return b"\x48\xc7\xc1" + struct.pack("<i", value) + b"\x48\x89\x0c\x25" + struct.pack("<I", addr)


def invlpg(addr):                                  # invlpg [addr]
    return b"\x0f\x01\x3c\x25" + struct.pack("<I", addr)


def call(addr):                                    # mov rdx, addr; call rdx
    return b"\x48\xc7\xc2" + struct.pack("<I", addr) + b"\xff\xd2"


EAX, EBX, ESI, EDI = 0, 3, 6, 7


def pte_addr(va):
    return PT + 8 * (va >> 12)


def machine(global_pages=False, decode_cache=True):
    """64-bit, 4-level paging: the first 2 MiB one to one in 4 KiB pages
    (global ones with `global_pages` and CR4.PGE), LARGE_VA a 2 MiB page at
    physical 0x400000."""
    m = Machine(mode=64, memory=8 << 20, decode_cache=decode_cache)
    m.mem_write(PML4, struct.pack("<Q", PDPT | 3))
    m.mem_write(PDPT, struct.pack("<Q", PD | 3))
    m.mem_write(PD, struct.pack("<QQ", PT | 3, 0x400000 | 0x83))
    g = PTE_G if global_pages else 0
    m.mem_write(PT, struct.pack("<512Q", *((k << 12) | 3 | g for k in range(512))))
    m.write_cr(4, CR4_PAE | (CR4_PGE if global_pages else 0))
    m.write_cr(3, PML4)
    m.reg_write("rsp", STACK)
    return m


def run(m, code):
    m.mem_write(CODE, code + b"\xf4")
    ex = m.run(start=CODE, count=1000)
    assert (ex.reason, ex.address) == ("hlt", CODE + len(code)), str(ex)


@pytest.mark.parametrize("global_pages", [False, True])
def test_invlpg_drops_its_page_and_keeps_the_others(global_pages):
    m = machine(global_pages)
    for page, mark in ((0x5000, b"AAAA"), (0x6000, b"BBBB"), (0x7000, b"CCCC")):
        m.mem_write(page, mark)
    new = 0x7003 | (PTE_G if global_pages else 0)
    run(m, mov_r32_abs(EAX, 0x5000) + mov_r32_abs(EBX, 0x6000)                  # both cached
        + store_rcx(pte_addr(0x5000), new) + store_rcx(pte_addr(0x6000), new)   # both now -> 0x7000
        + invlpg(0x5000) + mov_r32_abs(ESI, 0x5000) + mov_r32_abs(EDI, 0x6000))
    assert (m.reg_read("eax"), m.reg_read("ebx")) == (0x41414141, 0x42424242)
    assert (m.reg_read("esi"), m.reg_read("edi")) == (0x43434343, 0x42424242)   # new, still the old
    run(m, invlpg(0x6000) + mov_r32_abs(EDI, 0x6000))
    assert m.reg_read("edi") == 0x43434343


def test_invlpg_anywhere_in_a_large_page_drops_all_of_it():
    m = machine()
    m.mem_write(0x400000 + 0x3000, b"XXXX")
    m.mem_write(0x600000 + 0x3000, b"YYYY")
    m.mem_write(0x6000, b"BBBB")
    run(m, mov_r32_abs(EAX, LARGE_VA + 0x3000) + mov_r32_abs(EBX, 0x6000)
        + store_rcx(PD + 8, 0x600000 | 0x83) + store_rcx(pte_addr(0x6000), 0x7003)
        + invlpg(LARGE_VA)                          # another 4 KiB piece of the same page
        + mov_r32_abs(ESI, LARGE_VA + 0x3000) + mov_r32_abs(EDI, 0x6000))
    assert m.reg_read("eax") == 0x58585858
    assert m.reg_read("esi") == 0x59595959          # the whole large page went
    assert m.reg_read("edi") == 0x42424242          # a 4 KiB page elsewhere stayed


@pytest.mark.parametrize("decode_cache", [True, False])
def test_invlpg_of_a_code_page_runs_the_new_code(decode_cache):
    m = machine(decode_cache=decode_cache)
    m.mem_write(0x8000, b"\xb8\x01\x00\x00\x00\xc3")             # mov eax, 1; ret
    m.mem_write(0x9000, b"\xb8\x02\x00\x00\x00\xc3")             # mov eax, 2; ret
    run(m, call(0x8000) + b"\x89\xc3"                           # ... mov ebx, eax
        + store_rcx(pte_addr(0x8000), 0x9003) + invlpg(0x8000) + call(0x8000))
    assert (m.reg_read("ebx"), m.reg_read("eax")) == (1, 2)


def test_flush_tlb_of_one_address():
    m = machine()
    m.mem_write(0x5000, b"AAAA")
    m.mem_write(0x7000, b"CCCC")
    run(m, mov_r32_abs(EAX, 0x5000))
    m.mem_write(pte_addr(0x5000), struct.pack("<Q", 0x7003))
    m.flush_tlb(0x5000 + 0x123)                     # any address in the page
    run(m, mov_r32_abs(EAX, 0x5000))
    assert m.reg_read("eax") == 0x43434343
    with pytest.raises(Exception, match="address"):
        m.flush_tlb(-1)
