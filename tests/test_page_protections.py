"""Supervisor protections and protection keys (SDM Vol. 3A 4.6): SMEP,
SMAP with STAC/CLAC, PKRU (RDPKRU/WRPKRU) on user pages, IA32_PKRS on
supervisor pages, with the #PF error codes the SDM gives (4.7: P, W, I/D,
PK).  kvm-unit-tests' smap, pku and pks kernels check the same against the
suite's own expectations (test_kvm_unit_tests.py)."""
import struct

import pytest

from emu import Machine

PML4, PDPT, PD, PT = 0x10000, 0x11000, 0x12000, 0x13000
CODE = 0x1000
USER_PAGE = 0x5000          # a user page, protection key 1
SUP_PAGE = 0x6000           # a supervisor page, protection key 2
CR4_PAE, CR4_SMEP, CR4_SMAP, CR4_PKE, CR4_PKS = 0x20, 1 << 20, 1 << 21, 1 << 22, 1 << 24
CR0_WP = 1 << 16
MSR_PKRS = 0x6E1
P, W, U_BIT, I_BIT, PK = 1, 2, 4, 16, 32

STAC, CLAC = b"\x0f\x01\xcb", b"\x0f\x01\xca"
HLT = b"\xf4"


def load_eax(addr):                 # mov eax, [addr]
    return b"\x8b\x04\x25" + struct.pack("<I", addr)


def store_eax(addr):                # mov [addr], eax
    return b"\x89\x04\x25" + struct.pack("<I", addr)


def wrpkru(value):                  # mov eax, value; xor ecx, ecx; xor edx, edx; wrpkru
    return b"\xb8" + struct.pack("<I", value) + b"\x31\xc9\x31\xd2\x0f\x01\xef"


def machine(cr4=0):
    """64-bit, 4-level paging mapping the first 2 MiB one to one with 4 KiB
    pages: supervisor pages with key 0, USER_PAGE user with key 1, SUP_PAGE
    supervisor with key 2; CR0.WP set."""
    m = Machine(mode=64, memory=1 << 21)
    m.mem_write(PML4, struct.pack("<Q", PDPT | 7))
    m.mem_write(PDPT, struct.pack("<Q", PD | 7))
    m.mem_write(PD, struct.pack("<Q", PT | 7))
    ptes = []
    for k in range(512):
        e = (k << 12) | 3
        if k << 12 == USER_PAGE:
            e |= 4 | (1 << 59)
        elif k << 12 == SUP_PAGE:
            e |= 2 << 59
        ptes.append(e)
    m.mem_write(PT, struct.pack("<512Q", *ptes))
    m.write_cr(4, CR4_PAE | cr4)
    m.write_cr(3, PML4)
    m.write_cr(0, m.read_cr(0) | CR0_WP)
    return m


def run(m, code):
    m.mem_write(CODE, code + HLT)
    return m.run(start=CODE, count=100)


def assert_pf(m, ex, addr, error):
    assert ex.reason == "exception" and ex.vector == 14, str(ex)
    assert ex.error_code == error and m.read_cr(2) == addr


def test_cpuid_reports_them_and_ospke_follows_cr4():
    m = machine()
    m.mem_write(CODE, b"\xb8\x07\x00\x00\x00\x31\xc9\x0f\xa2" + HLT)     # cpuid(7, 0)
    m.run(start=CODE, count=10)
    assert m.reg_read("ebx") & (1 << 7 | 1 << 20) == 1 << 7 | 1 << 20      # SMEP, SMAP
    assert m.reg_read("ecx") & (1 << 3 | 1 << 4 | 1 << 31) == 1 << 3 | 1 << 31   # PKU, PKS; no OSPKE
    m.write_cr(4, m.read_cr(4) | CR4_PKE)
    m.run(start=CODE, count=10)
    assert m.reg_read("ecx") & (1 << 4)


def test_smap_forbids_supervisor_data_accesses_to_user_pages_unless_ac():
    m = machine(CR4_SMAP)
    assert_pf(m, run(m, load_eax(USER_PAGE)), USER_PAGE, P)
    assert_pf(m, run(m, store_eax(USER_PAGE)), USER_PAGE, P | W)
    assert run(m, STAC + load_eax(USER_PAGE) + store_eax(USER_PAGE)).reason == "hlt"
    # what AC let through must not stay cached: CLAC forbids it again
    assert_pf(m, run(m, STAC + load_eax(USER_PAGE) + CLAC + load_eax(USER_PAGE)), USER_PAGE, P)
    assert_pf(m, run(m, STAC + store_eax(USER_PAGE) + CLAC + store_eax(USER_PAGE)), USER_PAGE, P | W)
    assert run(m, CLAC + load_eax(SUP_PAGE)).reason == "hlt"           # supervisor pages are free


def test_smep_forbids_supervisor_fetches_from_user_pages():
    m = machine(CR4_SMEP)
    m.mem_write(USER_PAGE, HLT)
    jmp = b"\xb8" + struct.pack("<I", USER_PAGE) + b"\xff\xe0"         # mov eax, USER_PAGE; jmp rax
    assert_pf(m, run(m, jmp), USER_PAGE, P | I_BIT)
    m = machine()
    m.mem_write(USER_PAGE, HLT)
    assert run(m, jmp).reason == "hlt"                                  # without SMEP it runs


def test_stac_and_clac_need_cpl0_and_smap_does_not_gate_them():
    m = machine()
    assert run(m, STAC).reason == "hlt" and m.reg_read("eflags") & (1 << 18)
    assert run(m, CLAC).reason == "hlt" and not m.reg_read("eflags") & (1 << 18)


def test_pkru_access_and_write_disable_on_user_pages():
    m = machine(CR4_PKE)
    assert_pf(m, run(m, wrpkru(1 << 2) + load_eax(USER_PAGE)), USER_PAGE, P | PK)       # key 1 AD
    assert_pf(m, run(m, wrpkru(2 << 2) + store_eax(USER_PAGE)), USER_PAGE, P | W | PK)  # key 1 WD, WP
    assert run(m, wrpkru(2 << 2) + load_eax(USER_PAGE)).reason == "hlt"             # WD lets reads
    assert run(m, wrpkru(1 << 4) + load_eax(USER_PAGE) + load_eax(SUP_PAGE)).reason == "hlt"
    m.write_cr(0, m.read_cr(0) & ~CR0_WP)                        # supervisor writes ignore WD without WP
    assert run(m, wrpkru(2 << 2) + store_eax(USER_PAGE)).reason == "hlt"
    # a translation cached under one PKRU is not used under another
    assert_pf(m, run(m, wrpkru(0) + load_eax(USER_PAGE) + wrpkru(1 << 2) + load_eax(USER_PAGE)),
              USER_PAGE, P | PK)
    m.mem_write(CODE, b"\x31\xc9\x0f\x01\xee" + HLT)                          # xor ecx, ecx; rdpkru
    assert m.run(start=CODE, count=10).reason == "hlt" and m.reg_read("eax") == 1 << 2


AREA = 0x8000                       # an XSAVE area (supervisor page, key 0)
CR4_OSXSAVE = 1 << 18
XSAVE, XSAVEC, XRSTOR = b"\x48\x0f\xae\x23", b"\x48\x0f\xc7\x23", b"\x48\x0f\xae\x2b"   # [rbx]
RDPKRU = b"\x31\xc9\x0f\x01\xee"      # xor ecx, ecx; rdpkru


def rfbm(mask):                     # edx:eax = mask; ebx = AREA; ecx = 0
    return b"\xb8" + struct.pack("<I", mask) + b"\x31\xd2\x31\xc9\xbb" + struct.pack("<I", AREA)


XSETBV_PKRU = rfbm(0x203) + b"\x0f\x01\xd1"     # XCR0 = x87 | SSE | PKRU


def test_xsave_and_xrstor_carry_pkru_in_the_standard_form():
    """PKRU is XSAVE component 9 (SDM Vol. 1 13.5.7): 8 bytes at the offset
    CPUID.(0xD, 9).EBX gives; XRSTOR's value rules the next access."""
    m = machine(CR4_PKE | CR4_OSXSAVE)
    m.mem_write(AREA, b"\xAA" * 4096)
    m.mem_write(AREA + 512, bytes(64))                                     # a valid header
    assert run(m, wrpkru(0x30) + XSETBV_PKRU + rfbm(0x203) + XSAVE).reason == "hlt"
    area = m.mem_read(AREA, 4096)
    off = m.cpuid(0xD, 9)[1]
    assert area[off:off + 8] == (0x30).to_bytes(8, "little")
    assert int.from_bytes(area[512:520], "little") & 0x203 == 0x203        # XSTATE_BV
    assert area[576:off] == b"\xAA" * (off - 576)                          # nothing in between
    m.mem_write(AREA + off, b"\xAA" * 8)
    assert run(m, rfbm(3) + XSAVE).reason == "hlt"                          # not requested: untouched
    assert m.mem_read(AREA + off, 8) == b"\xAA" * 8
    assert int.from_bytes(m.mem_read(AREA + 512, 8), "little") & 0x200    # its XSTATE_BV bit kept
    # key 1 access-disabled from memory: a translation cached before does not let the load by
    m.mem_write(AREA + off, (1 << 2).to_bytes(8, "little"))
    assert_pf(m, run(m, load_eax(USER_PAGE) + rfbm(0x203) + XRSTOR + load_eax(USER_PAGE)),
              USER_PAGE, P | PK)
    assert run(m, RDPKRU).reason == "hlt" and m.reg_read("eax") == 1 << 2
    # XSTATE_BV[9] clear: PKRU to its initial state, 0
    m.mem_write(AREA + 512, (3).to_bytes(8, "little"))
    assert run(m, rfbm(0x203) + XRSTOR + load_eax(USER_PAGE) + RDPKRU).reason == "hlt"
    assert m.reg_read("eax") == 0


def test_xsavec_puts_pkru_right_after_the_header():
    """The compacted form: PKRU, the only extended component, at 576."""
    m = machine(CR4_PKE | CR4_OSXSAVE)
    assert run(m, wrpkru(0x3C) + XSETBV_PKRU + rfbm(0x203) + XSAVEC).reason == "hlt"
    area = m.mem_read(AREA, 584)
    assert int.from_bytes(area[520:528], "little") == (1 << 63) | 0x203    # XCOMP_BV
    assert area[576:584] == (0x3C).to_bytes(8, "little")
    m.mem_write(AREA + 576, (0x0C).to_bytes(8, "little"))
    assert run(m, rfbm(0x203) + XRSTOR + RDPKRU).reason == "hlt" and m.reg_read("eax") == 0x0C


def test_pk_bit_comes_with_the_other_permission_faults():
    """A write to a read-only user page whose key is also denied: the #PF
    error code has PK as well as W (kvm-unit-tests' access test, from real
    hardware)."""
    m = machine(CR4_PKE)
    m.mem_write(PT + 8 * (USER_PAGE >> 12), struct.pack("<Q", USER_PAGE | 5 | 1 << 59))   # read-only
    assert_pf(m, run(m, wrpkru(1 << 2) + store_eax(USER_PAGE)), USER_PAGE, P | W | PK)
    assert_pf(m, run(m, wrpkru(0) + store_eax(USER_PAGE)), USER_PAGE, P | W)           # key allows


def test_pkru_instructions_check_cr4_pke_and_ecx():
    m = machine()
    ex = run(m, wrpkru(0))
    assert ex.reason == "exception" and ex.vector == 6                         # #UD without CR4.PKE
    m = machine(CR4_PKE)
    ex = run(m, b"\xb9\x01\x00\x00\x00\x0f\x01\xee")                          # ecx = 1; rdpkru
    assert ex.reason == "exception" and ex.vector == 13 and ex.error_code == 0


def test_pkrs_guards_supervisor_pages():
    m = machine(CR4_PKS)
    assert not m.write_msr(MSR_PKRS, 1 << 32)                                  # reserved bits
    assert m.write_msr(MSR_PKRS, 1 << 4) and m.read_msr(MSR_PKRS) == 1 << 4   # key 2 AD
    assert_pf(m, run(m, load_eax(SUP_PAGE)), SUP_PAGE, P | PK)
    assert run(m, load_eax(USER_PAGE)).reason == "hlt"                         # PKRS is for supervisor pages
    assert m.write_msr(MSR_PKRS, 2 << 4)                                       # key 2 WD
    assert run(m, load_eax(SUP_PAGE)).reason == "hlt"
    assert_pf(m, run(m, store_eax(SUP_PAGE)), SUP_PAGE, P | W | PK)


@pytest.mark.parametrize("bit", [CR4_PKE, CR4_PKS])
def test_keys_need_four_level_paging(bit):
    # 32-bit paging has no key bits: CR4.PKE/PKS are accepted and change nothing
    m = Machine(mode=32, memory=1 << 20)
    assert m.write_cr(4, bit)
