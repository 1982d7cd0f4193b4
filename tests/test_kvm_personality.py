"""KVM's paravirtual interface under the supervisor (paravirt/kvm.py): a
Linux-style guest (a bzImage, so the supervisor gives it the KVM
personality) finds the signature, registers kvm-clock and steal time,
makes a hypercall, and powers off through ACPI."""
import struct

from emu.guests import resolve
from paravirt import Supervisor
from paravirt.domain import time_scale
from test_linuxboot import bzimage

GUEST = bytes.fromhex(
    "b800000040" "0fa2"                       # cpuid(0x40000000)
    "891d00900000" "890d04900000" "891508900000"   # save ebx, ecx, edx at 0x9000
    "a314900000"                              # and eax (the highest leaf) at 0x9014
    "b8010000400fa2" "a318900000"             # cpuid(0x40000001).eax at 0x9018
    "b9014d564b" "b801800000" "31d2" "0f30"   # wrmsr(system time, 0x8000 | 1)
    "b9034d564b" "b841800000" "0f30"          # wrmsr(steal time, 0x8040 | 1)
    "b84d000000" "0f01c1" "a30c900000"        # vmcall(77): result at 0x900c
    "b980841e00" "49" "75fd"                  # spin: 2,000,000 iterations
    "a140800000" "a310900000"                 # steal time (ns, low word) at 0x9010
    "66ba0406" "66b80034" "66ef"              # PM1a_CNT = S5 | SLP_EN: power off
    "f4")


def _run(*extra_guests, paravirt=True):
    sup = Supervisor(console=None)
    dom = sup.create(bzimage(GUEST), name="linuxish", memory=8 << 20, paravirt=paravirt)
    for g in extra_guests:
        sup.create(open(resolve(g)[1], "rb").read(), name=g)
    sup.run(max_instructions=50_000_000)
    return dom


def test_signature_clock_hypercall_and_poweroff():
    dom = _run()
    m = dom.machine
    assert dom.personality == "kvm" and dom.state == "shutdown" and "poweroff" in dom.reason
    assert m.mem_read(0x9000, 12) == b"KVMKVMKVM\0\0\0"
    highest, features = struct.unpack("<II", m.mem_read(0x9014, 8))
    assert highest == 0x40000001
    for bit in (3, 5, 6, 24):                 # CLOCKSOURCE2, STEAL_TIME, PV_EOI, STABLE
        assert features >> bit & 1
    assert struct.unpack("<i", m.mem_read(0x900C, 4))[0] == -1000      # -KVM_ENOSYS
    version, _, tsc, system_time, mul, shift, flags = struct.unpack("<IIQQIbB", m.mem_read(0x8000, 30))
    assert version % 2 == 0 and flags & 1
    assert (mul, shift) == time_scale(m.ips)
    # the guest's clock at tsc_timestamp is the supervisor's virtual time then
    assert system_time == tsc * 1_000_000_000 // m.ips


def test_steal_time_counts_another_domains_turns():
    alone = _run()
    assert struct.unpack("<I", alone.machine.mem_read(0x9010, 4))[0] == 0
    shared = _run("hello32")
    stolen = struct.unpack("<I", shared.machine.mem_read(0x9010, 4))[0]
    hello_ns = 700_000 * 1_000_000_000 // shared.machine.ips      # hello runs ~744k instructions
    assert hello_ns <= stolen <= 2 * hello_ns


def test_hidden_from_an_unmodified_domain():
    dom = _run(paravirt=False)
    assert dom.personality == "pvemu"
    assert dom.machine.mem_read(0x9000, 12) != b"KVMKVMKVM\0\0\0"
    assert dom.state == "crashed"             # its WRMSR to a KVM MSR is #GP, with no IDT
