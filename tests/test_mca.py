"""The machine-check MSRs (SDM Vol. 3B ch. 16): CPUID reports MCE and MCA,
IA32_MCG_CAP 10 banks (QEMU's count) without MCG_CTL, each bank's MCi_CTL
takes 0 or all ones, MCi_STATUS only 0, ADDR and MISC anything; MSRs past
the last bank are #GP.  kvm-unit-tests' msr test checks the same (it passes
in both widths; QEMU 7.2 TCG fails it)."""
import pytest

from emu import Machine

RDMSR, WRMSR = b"\x0f\x32", b"\x0f\x30"


def msr_op(m, op, n, value=0):
    """RDMSR's value, 0 after a WRMSR, or None for #GP(0)."""
    m.reg_write("ecx", n)
    m.reg_write("eax", value & 0xFFFFFFFF)
    m.reg_write("edx", value >> 32)
    m.mem_write(0x1000, op + b"\xf4")
    ex = m.run(start=0x1000, count=5)
    if ex.reason == "exception":
        assert ex.vector == 13 and ex.error_code == 0, str(ex)
        return None
    assert ex.reason == "hlt", str(ex)
    return m.reg_read("edx") << 32 | m.reg_read("eax") if op == RDMSR else 0


def test_cpuid_and_cr4_mce():
    m = Machine(mode=32, memory=1 << 20)
    edx = m.cpuid(1)[3]
    assert edx >> 7 & 1 and edx >> 14 & 1                    # MCE, MCA
    m.write_cr(4, m.read_cr(4) | 0x40)                        # CR4.MCE
    assert m.read_cr(4) & 0x40


@pytest.mark.parametrize("bank", [0, 9])
def test_bank_msrs(bank):
    m = Machine(mode=32, memory=1 << 20)
    assert msr_op(m, RDMSR, 0x179) == 10
    assert msr_op(m, WRMSR, 0x179, 10) is None                # MCG_CAP is read-only
    ctl, status, addr, misc = (0x400 + 4 * bank + k for k in range(4))
    for v in (0, (1 << 64) - 1):
        assert msr_op(m, WRMSR, ctl, v) == 0 and msr_op(m, RDMSR, ctl) == v
    assert msr_op(m, WRMSR, ctl, 0xAAAAAAAAAAAAAAAA) is None
    assert msr_op(m, WRMSR, status, 0) == 0 and msr_op(m, WRMSR, status, 1) is None
    for n in (addr, misc):
        assert msr_op(m, WRMSR, n, 0xAAAAAAAAAAAAAAAA) == 0
        assert msr_op(m, RDMSR, n) == 0xAAAAAAAAAAAAAAAA
    assert msr_op(m, WRMSR, 0x17A, 4) == 0 and msr_op(m, RDMSR, 0x17A) == 4     # MCG_STATUS.MCIP
    assert msr_op(m, WRMSR, 0x17A, 8) is None


def test_msrs_past_the_banks_and_mcg_ctl_are_gp():
    m = Machine(mode=32, memory=1 << 20)
    for n in (0x17B, 0x400 + 4 * 10, 0x400 + 4 * 31 + 3):
        assert msr_op(m, RDMSR, n) is None and msr_op(m, WRMSR, n) is None
