"""KVM's paravirtual interface, a second personality of the supervisor: what
a stock Linux kernel looks for (Documentation/virt/kvm/x86/cpuid.rst,
msr.rst, hypercalls.rst) and switches its own pv_ops to when it finds it.

A domain with this personality sees, instead of pvemu's leaves, CPUID
0x40000000 = "KVMKVMKVM" and the feature bits of 0x40000001, and these
MSRs, which exit from the core to the handlers here:

* 0x4B564D00 wall clock: the guest names a `pvclock_wall_clock`; the
  supervisor writes the wall time at system time 0;
* 0x4B564D01 system time (kvm-clock): the guest names a per-CPU
  `pvclock_vcpu_time_info`; the supervisor writes the scale from the TSC
  (which counts virtual instructions, so it is stable: PVCLOCK_TSC_STABLE);
* 0x4B564D03 steal time: a `kvm_steal_time` the supervisor updates with the
  time the domain was runnable but another domain ran (Supervisor._run_once);
* 0x4B564D04 PV EOI: the core's local APIC (emu/apic.pxi) sets the word's
  "EOI not needed" bit when an interrupt goes in service with nothing else
  requested, and the guest's EOI is then a bit clear in memory instead of a
  write to the APIC (under hardware virtualization, an exit saved);
  ``Machine.pv_eoi_skipped`` counts them;
* 0x4B564D05 poll control: recorded.

Hypercalls (VMCALL, number in RAX, arguments in RBX, RCX, RDX, RSI, result in
RAX): KVM_HC_VAPIC_POLL_IRQ returns 0; anything else returns -KVM_ENOSYS, as
KVM does.  The rest of the machine is not trapped: Linux's privileged
instructions run in the core, as under hardware virtualization.
"""
from __future__ import annotations

import struct

SIGNATURE = b"KVMKVMKVM\0\0\0"
MSR_WALL_CLOCK = 0x4B564D00
MSR_SYSTEM_TIME = 0x4B564D01
MSR_ASYNC_PF = 0x4B564D02
MSR_STEAL_TIME = 0x4B564D03
MSR_PV_EOI = 0x4B564D04
MSR_POLL_CONTROL = 0x4B564D05

FEATURE_CLOCKSOURCE = 0
FEATURE_NOP_IO_DELAY = 1
FEATURE_CLOCKSOURCE2 = 3
FEATURE_STEAL_TIME = 5
FEATURE_PV_EOI = 6
FEATURE_POLL_CONTROL = 12
FEATURE_CLOCKSOURCE_STABLE = 24
FEATURES = sum(1 << b for b in (FEATURE_CLOCKSOURCE, FEATURE_NOP_IO_DELAY, FEATURE_CLOCKSOURCE2,
                                FEATURE_STEAL_TIME, FEATURE_PV_EOI, FEATURE_POLL_CONTROL,
                                FEATURE_CLOCKSOURCE_STABLE))

PVCLOCK_TSC_STABLE = 1 << 0
# KVM's structures in guest memory (arch/x86/include/asm/pvclock-abi.h, uapi kvm_para.h):
# pvclock_vcpu_time_info: version, pad, tsc_timestamp, system_time, tsc_to_system_mul,
# tsc_shift, flags, pad[2]
PVCLOCK_TIME_INFO = struct.Struct("<IIQQIbB2x")
PVCLOCK_WALL_CLOCK = struct.Struct("<III")          # version, sec, nsec
STEAL_TIME = struct.Struct("<QI")                   # kvm_steal_time's steal, version (of its 64 bytes)
HC_VAPIC_POLL_IRQ = 1
ENOSYS = 1000                         # KVM's -KVM_ENOSYS
MSR_TSC = 0x10


def cpuid_leaves() -> dict:
    """The leaves a KVM-personality domain sees at 0x40000000."""
    ebx, ecx, edx = struct.unpack("<III", SIGNATURE)
    return {0x40000000: (0x40000001, ebx, ecx, edx),
            0x40000001: (FEATURES, 0, 0, 0)}


class KvmState:
    """A domain's KVM-personality registers."""

    def __init__(self):
        self.msrs = {MSR_WALL_CLOCK: 0, MSR_SYSTEM_TIME: 0, MSR_STEAL_TIME: 0,
                     MSR_PV_EOI: 0, MSR_POLL_CONTROL: 1}
        self.steal_ns = 0
        self.steal_version = 0


def _write_system_time(dom, gpa: int) -> None:
    from paravirt.domain import time_scale
    m = dom.machine
    mul, shift = time_scale(m.ips)
    tsc = m.read_msr(MSR_TSC)
    now = dom.ns(dom.vtime)
    # version (even: stable), pad, tsc_timestamp, system_time, mul, shift, flags
    m.mem_write(gpa, PVCLOCK_TIME_INFO.pack(2, 0, tsc, now, mul, shift, PVCLOCK_TSC_STABLE))


def _write_wall_clock(dom, gpa: int) -> None:
    from paravirt.domain import WALL_CLOCK_EPOCH
    dom.machine.mem_write(gpa, PVCLOCK_WALL_CLOCK.pack(2, WALL_CLOCK_EPOCH, 0))


def write_steal_time(dom) -> None:
    """Publish dom.kvm.steal_ns if the guest asked for steal time."""
    st = dom.kvm
    gpa = st.msrs[MSR_STEAL_TIME]
    if not gpa & 1:
        return
    base = gpa & ~0x3F
    st.steal_version += 2
    dom.machine.mem_write(base, STEAL_TIME.pack(st.steal_ns, st.steal_version))


def is_kvm_msr(msr: int) -> bool:
    return msr >> 8 == 0x4B564D


def read_msr(dom, msr: int):
    """The value, or None for an MSR this personality does not have (#GP)."""
    return dom.kvm.msrs.get(msr)


def write_msr(dom, msr: int, value: int) -> bool:
    """Apply a write; False for an MSR or value the guest may not use (#GP)."""
    st = dom.kvm
    if msr not in st.msrs:
        return False
    if msr == MSR_WALL_CLOCK:
        if not dom.owns(value >> 12) or (value & 0xFFF) > 0x1000 - PVCLOCK_WALL_CLOCK.size:
            return False
        _write_wall_clock(dom, value)
    elif msr == MSR_SYSTEM_TIME:
        gpa = value & ~1
        if value & 1:
            if not dom.owns(gpa >> 12) or (gpa & 0xFFF) > 0x1000 - PVCLOCK_TIME_INFO.size:
                return False
            _write_system_time(dom, gpa)
    elif msr == MSR_STEAL_TIME:
        if value & 1 and (value & 0x3E or not dom.owns(value >> 12)):
            return False
        st.msrs[msr] = value
        write_steal_time(dom)
        return True
    elif msr == MSR_PV_EOI:
        if value & 1 and (value & 0x2 or not dom.owns(value >> 12)):
            return False
        dom.machine.pv_eoi = value if value & 1 else 0
    st.msrs[msr] = value
    return True


def hypercall(dom, nr: int) -> int:
    """A VMCALL from a KVM-personality domain; the result goes to RAX."""
    if nr == HC_VAPIC_POLL_IRQ:
        return 0
    return -ENOSYS
