"""KVM's PV EOI in the core's local APIC (emu/apic.pxi; Machine.pv_eoi, set
by paravirt/kvm.py from MSR_KVM_PV_EOI_EN): an interrupt that goes in
service with nothing else requested has bit 0 of the guest's word set; the
guest's handler clears it instead of writing the EOI register, and the APIC
retires the vector the next time it looks, as KVM does on its next exit."""
import struct

import pytest

from emu import EmuError, Machine

# Flat 32-bit code at 0: lgdt [0x2100]; jmp 8:next; ds = ss = 0x10;
# lidt [0x2000]; APIC on (SVR); sti; two self-IPIs of
# vector 0x40 (the second is delivered only once the first is retired); read
# ISR[64..95] into EAX; hlt.  The handler at 0x100: inc dword [0x5000]; btr
# dword [0x6000], 0 (Linux's test_and_clear of its PV EOI word); jc skip; mov
# dword [APIC EOI], 0; skip: iret.
MAIN = bytes.fromhex("0f01150021000" "0" "ea0e0000000800" "66b81000" "8ed8" "8ed0"
                     "0f011d00200000" "c705f000e0feff010000" "fb"
                     "c7050003e0fe40000400" "90" "c7050003e0fe40000400" "90"
                     "a12001e0fe" "f4")
HANDLER = bytes.fromhex("ff0500500000" "0fba35006000000" "0" "720a" "c705b000e0fe00000000" "cf")
WORD = 0x6000


def machine(pv_eoi: bool) -> Machine:
    m = Machine(mode=32, memory=1 << 20)
    m.mem_write(0, MAIN)
    m.mem_write(0x100, HANDLER)
    m.mem_write(0x2100, struct.pack("<HI", 23, 0x2200))
    m.mem_write(0x2200, struct.pack("<3Q", 0, 0x00CF9B000000FFFF, 0x00CF93000000FFFF))
    gate = struct.pack("<HHBBH", 0x100, 8, 0, 0x8E, 0)         # 32-bit interrupt gate
    m.mem_write(0x1000 + 8 * 0x40, gate)
    m.mem_write(0x2000, struct.pack("<HI", 0x7FF, 0x1000))
    m.reg_write("esp", 0x8000)
    if pv_eoi:
        m.pv_eoi = WORD | 1
    return m


@pytest.mark.parametrize("pv_eoi", [False, True])
def test_both_interrupts_are_taken_and_retired(pv_eoi):
    m = machine(pv_eoi)
    ex = m.run(start=0, count=10_000)
    assert ex.reason == "hlt", ex
    assert m.mem_read(0x5000, 4) == struct.pack("<I", 2)        # both delivered
    assert m.reg_read("eax") == 0                                # nothing left in service
    assert m.pv_eoi_skipped == (2 if pv_eoi else 0)
    assert m.mem_read(WORD, 4) == bytes(4)                       # no bit left behind


def test_turning_it_off_takes_the_bit_back_and_bad_words_are_refused():
    m = machine(True)
    m.run(start=0, count=10)                 # into the handler: the bit is set for vector 0x40
    assert m.mem_read(WORD, 4) == b"\1\0\0\0"
    m.pv_eoi = 0
    assert m.mem_read(WORD, 4) == bytes(4)   # the handler will write EOI itself
    ex = m.run(count=10_000)
    assert ex.reason == "hlt" and m.reg_read("eax") == 0 and m.pv_eoi_skipped == 0
    for bad in (WORD | 3, (1 << 20) | 1, -1, 1.5):
        with pytest.raises(EmuError, match="pv_eoi"):
            m.pv_eoi = bad
