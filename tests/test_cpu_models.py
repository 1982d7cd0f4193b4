"""CPU models (emu/cpumodels.py, cpumodels.pxi): CPUID identity leaves,
vendor behaviour (SYSCALL outside 64-bit mode, SYSENTER in long mode), the
model's MSRs, CR4 against CPUID; and the power-up state."""
import struct

import pytest

from emu import Machine
from emu.cpumodels import MODELS, parse
from emu.errors import EmuError
from emu.isa.features import max_basic_leaf
from emu.system import boot_bios

CODE, PTR, COMPAT, CSTAR = 0x1000, 0x1100, 0x1200, 0x1300
GDT = 0x2000
CS64, DS, CS32 = 0x08, 0x10, 0x18


def vendor(m):
    _, b, c, d = m.cpuid(0)
    return b"".join(x.to_bytes(4, "little") for x in (b, d, c)).decode()


def brand(m):
    return b"".join(x.to_bytes(4, "little") for leaf in range(0x80000002, 0x80000005)
                    for x in m.cpuid(leaf)).rstrip(b"\0").decode()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_identity_leaves_are_consistent(name):
    model = MODELS[name]
    m = Machine(mode=32, memory=1 << 20, cpu=name)
    assert vendor(m) == model.vendor
    max_basic = m.cpuid(0)[0]
    assert max_basic == (model.max_basic or max_basic_leaf())
    sig = m.cpuid(1)[0]
    family = (sig >> 8) & 0xF
    family += (sig >> 20) & 0xFF if family == 15 else 0
    mod = (sig >> 4) & 0xF | (((sig >> 16) & 0xF) << 4 if family in (6, 15) or family > 15 else 0)
    assert (family, mod, sig & 0xF) == (model.family, model.model, model.stepping)
    assert m.cpuid(0x80000000)[0] == model.max_ext
    assert brand(m) == model.brand
    phys, virt = m.cpuid(0x80000008)[0] & 0xFF, (m.cpuid(0x80000008)[0] >> 8) & 0xFF
    assert (phys, virt) == (model.phys_bits, model.virt_bits)
    if max_basic >= 0xA:
        assert m.cpuid(0xA) == (0, 0, 0, 0)          # no architectural PMU
    # a leaf above the maximum answers as the highest basic leaf (Intel, QEMU)
    assert m.cpuid(max_basic + 1) == m.cpuid(max_basic)
    # a model reports no feature pvemu lacks
    own = Machine(mode=32, memory=1 << 20)
    for leaf in (1, 0x80000001, 7):
        for k in (1, 2, 3):
            assert m.cpuid(leaf)[k] & ~own.cpuid(leaf)[k] & ~(1 << 31 if leaf == 1 else 0) == 0


def test_amd_repeats_the_vendor_in_the_extended_leaf():
    m = Machine(mode=32, memory=1 << 20, cpu="qemu64")
    assert m.cpuid(0x80000000)[1:] == m.cpuid(0)[1:]
    m = Machine(mode=32, memory=1 << 20, cpu="Nehalem")
    assert m.cpuid(0x80000000)[1:] == (0, 0, 0)


def test_model_options_as_qemu():
    model, hidden, warnings = parse("Opteron_G1,vendor=GenuineIntel,+cx16,-nx,+umip,host-phys-bits")
    assert model.vendor == "GenuineIntel" and "cx16" not in hidden and "nx" in hidden
    assert warnings and "umip" in warnings[0]
    m = Machine(mode=32, memory=1 << 20, cpu="qemu64,-nx")
    assert not m.cpuid(0x80000001)[3] & (1 << 20)
    assert Machine(mode=32, memory=1 << 20, cpu="qemu64").cpuid(0x80000001)[3] & (1 << 20)
    for bad in ("pentium9", "qemu64,+nosuchflag", "qemu64,vendor=CyrixInstead"):
        with pytest.raises(EmuError):
            Machine(mode=32, memory=1 << 20, cpu=bad)


def test_unknown_msrs_fault_and_the_models_counters_exist():
    pv, amd, intel = (Machine(mode=32, memory=1 << 20, cpu=c) for c in ("pvemu", "qemu64", "Nehalem"))
    for msr in (0xC0010000, 0xC0010004, 0xC1, 0x186, 0x12345678):
        assert pv.read_msr(msr) is None and not pv.write_msr(msr, 0)
    # AMD K7 counters: event selects and counters accept writes and keep them
    assert amd.write_msr(0xC0010000, 0x430076) and amd.read_msr(0xC0010000) == 0x430076
    assert amd.write_msr(0xC0010007, 5) and amd.read_msr(0xC0010007) == 5
    assert amd.read_msr(0xC0010008) is None and amd.read_msr(0xC1) is None
    assert not amd.write_msr(0xC0010001, 1 << 40)          # reserved bits of an event select
    # Intel P6: two of each; a counter write sign-extends EAX to 48 bits
    assert intel.write_msr(0xC1, 0x80000000) and intel.read_msr(0xC1) == 0xFFFF80000000
    assert intel.read_msr(0x187) == 0 and intel.read_msr(0x188) is None
    assert intel.read_msr(0xC0010000) is None


def test_address_msrs_refuse_non_canonical_values():
    m = Machine(mode=64, memory=1 << 20)
    for msr in (0xC0000100, 0xC0000101, 0xC0000102, 0xC0000082, 0xC0000083, 0x175, 0x176):
        assert not m.write_msr(msr, 0xAAAAAAAAAAAAAAAA)
        assert m.write_msr(msr, 0xFFFF800000001000) and m.read_msr(msr) == 0xFFFF800000001000


def test_cr4_bits_follow_cpuid():
    m = Machine(mode=32, memory=1 << 20)
    assert not m.write_cr(4, 1 << 13)            # VMXE not reported
    assert not m.write_cr(4, 1 << 12)            # LA57 not reported
    assert not m.write_cr(4, 1 << 17)            # PCIDE not reported
    assert not m.write_cr(4, 1 << 11)            # UMIP not reported
    assert m.write_cr(4, 0x10 | 0x20 | 0x80) and m.read_cr(4) == 0xB0     # PSE PAE PGE
    assert m.write_cr(4, 0x300000) and m.read_cr(4) == 0x300000          # SMEP SMAP
    m = Machine(mode=64, memory=1 << 20)
    assert not m.write_cr(4, 0x80)               # long mode keeps PAE


def long_mode_machine(cpu):
    m = Machine(mode=64, memory=1 << 20, cpu=cpu)
    gdt = struct.pack("<4Q", 0, 0x00AF9A000000FFFF, 0x00CF92000000FFFF, 0x00CF9A000000FFFF)
    m.mem_write(GDT, gdt)
    m.load_table("gdt", GDT, len(gdt) - 1)
    return m


def test_syscall_from_compatibility_mode_is_amd_only():
    for cpu, amd in (("Nehalem", False), ("pvemu", False), ("qemu64", True)):
        m = long_mode_machine(cpu)
        m.mem_write(CODE, b"\xff\x2c\x25" + PTR.to_bytes(4, "little"))   # jmp far [PTR]
        m.mem_write(PTR, struct.pack("<IH", COMPAT, CS32))
        m.mem_write(COMPAT, b"\x0f\x05\xf4")                              # syscall (32-bit code)
        m.mem_write(CSTAR, b"\xf4")
        m.write_msr(0xC0000080, m.read_msr(0xC0000080) | 1)              # EFER.SCE
        m.write_msr(0xC0000081, CS64 << 32)
        m.write_msr(0xC0000083, CSTAR)
        ex = m.run(start=CODE, count=10)
        if amd:
            assert ex.reason == "hlt" and ex.address == CSTAR and m.mode == 64
            assert m.reg_read("rcx") == COMPAT + 2 and m.reg_read("cs") == CS64
        else:
            assert ex.reason == "exception" and ex.vector == 6 and ex.address == COMPAT


def test_sysenter_in_long_mode_is_intel_only():
    for cpu, ud in (("Nehalem", False), ("Opteron_G1", True)):
        m = long_mode_machine(cpu)
        m.mem_write(CODE, b"\x0f\x34")
        m.mem_write(0x1400, b"\xf4")
        m.write_msr(0x174, CS64)
        m.write_msr(0x175, 0x8000)
        m.write_msr(0x176, 0x1400)
        ex = m.run(start=CODE, count=10)
        if ud:
            assert ex.reason == "exception" and ex.vector == 6
        else:
            assert ex.reason == "hlt" and ex.address == 0x1400


def test_power_on_state_of_the_sdm_table():
    rom = bytearray(b"\xf4" * 0x1000)
    m = boot_bios(bytes(rom), memory=2 << 20, cpu="Nehalem")
    s = m.state()
    assert (s["cs"], s["rip"], s["mode"]) == (0xF000, 0xFFF0, 16)
    assert s["idtr"] == (0, 0xFFFF) and s["gdtr"] == (0, 0xFFFF)
    assert s["rdx"] == m.cpuid(1)[0] == MODELS["Nehalem"].signature
    assert s["cr0"] == 0x60000010 and s["rflags"] == 2 and s["efer"] == 0
    assert all(s[r] == 0 for r in ("rax", "rbx", "rcx", "rsp", "rbp", "rsi", "rdi"))


SMEP, SMAP, CLFLUSHOPT, PKU, RDPID, PKS = (1, 7), (1, 20), (1, 23), (2, 3), (2, 22), (2, 31)


def has(m, feature):
    reg, bit = feature
    return bool(m.cpuid(7)[reg] >> bit & 1)


@pytest.mark.parametrize("name", ["qemu64", "Nehalem"])
def test_older_models_hide_the_leaf7_features_and_cr4_follows(name):
    """QEMU's qemu64 and Nehalem have no leaf-7 features: pvemu's SMEP, SMAP,
    CLFLUSHOPT, PKU, RDPID and PKS are hidden, and CR4.SMEP/SMAP/PKE/PKS
    then raise #GP as reserved bits; `+smep` shows one again."""
    m = Machine(mode=32, memory=1 << 20, cpu=name)
    assert not any(has(m, f) for f in (SMEP, SMAP, CLFLUSHOPT, PKU, RDPID, PKS))
    for bit in (20, 21, 22, 24):                  # SMEP SMAP PKE PKS
        assert not m.write_cr(4, 1 << bit)
    m = Machine(mode=32, memory=1 << 20, cpu=name + ",+smep,+pku")
    assert has(m, SMEP) and has(m, PKU) and not has(m, SMAP)
    assert m.write_cr(4, 1 << 20) and m.read_cr(4) == 1 << 20


@pytest.mark.parametrize("name", ["pvemu", "max"])
def test_the_full_models_show_the_leaf7_features(name):
    m = Machine(mode=32, memory=1 << 20, cpu=name)
    assert all(has(m, f) for f in (SMEP, SMAP, CLFLUSHOPT, PKU, RDPID, PKS))
    m = Machine(mode=32, memory=1 << 20, cpu=name + ",-smap,pks=off")
    assert not has(m, SMAP) and not has(m, PKS) and has(m, SMEP)
    assert not m.write_cr(4, 1 << 21)
