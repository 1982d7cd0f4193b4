"""The Python API: construction, memory, registers, run() and its exits."""
import threading

import pytest

from emu import EmuError, Machine, REGISTER_NAMES
from helpers import CODE, run_code


def test_bad_arguments_are_clear_errors():
    with pytest.raises(EmuError, match="mode"):
        Machine(mode=8)
    with pytest.raises(EmuError, match="memory"):
        Machine(memory=-1)
    with pytest.raises(EmuError, match="memory"):
        Machine(memory=1.5)
    m = Machine(memory=0x2000)
    with pytest.raises(EmuError, match="outside"):
        m.mem_write(0x1FFF, b"ab")
    with pytest.raises(EmuError, match="outside"):
        m.mem_read(0x3000, 1)
    with pytest.raises(EmuError, match="unknown register 'xax'"):
        m.reg_read("xax")
    with pytest.raises(EmuError, match="integer"):
        m.reg_write("eax", "five")
    with pytest.raises(EmuError, match="count"):
        m.run(count=-1)


def test_register_views_alias_the_same_state():
    m = Machine(mode=64, memory=0x1000)
    m.reg_write("rax", 0x1122334455667788)
    assert m.reg_read("eax") == 0x55667788
    assert m.reg_read("ax") == 0x7788
    assert m.reg_read("al") == 0x88 and m.reg_read("ah") == 0x77
    m.reg_write("eax", 1)                      # a 32-bit write zero-extends
    assert m.reg_read("rax") == 1
    m.reg_write("ah", 0xAB)
    assert m.reg_read("rax") == 0xAB01
    m.regs.r9d = 0xFFFFFFFF
    assert m.regs.r9 == 0xFFFFFFFF and m.regs.r9w == 0xFFFF and m.regs.r9b == 0xFF
    m.regs.sil = 0x5A
    assert m.regs.rsi == 0x5A
    assert "r15d" in REGISTER_NAMES and "spl" in REGISTER_NAMES
    with pytest.raises(AttributeError):
        m.regs.nosuch


def test_eflags_reads_back_with_reserved_bit():
    m = Machine(memory=0x1000)
    m.reg_write("eflags", 0x8D5)
    assert m.reg_read("eflags") == 0x8D7


def test_exit_reasons():
    m, ex = run_code(b"\x90\x90")                          # nop; nop; hlt
    assert (ex.reason, ex.address, ex.instructions) == ("hlt", CODE + 2, 3)
    assert m.reg_read("eip") == CODE + 3
    m, ex = run_code(b"\xd9\xd1", expect="exception")      # an undefined x87 encoding
    assert ex.reason == "exception" and ex.vector == 6 and ex.address == CODE
    assert ex.insn_bytes == b"\xd9\xd1" and "#UD" in str(ex)
    m, ex = run_code(b"\x8b\x05\x00\x00\xf0\x7f", expect="unmapped")   # mov eax, [0x7ff00000]
    assert ex.reason == "unmapped" and ex.access == "read" and ex.access_address == 0x7FF00000
    assert ex.address == CODE and m.reg_read("eip") == CODE
    m, ex = run_code(b"\xe9\x00\x00\x00\x70", expect="unmapped")       # jmp far outside RAM
    assert ex.reason == "unmapped" and ex.access == "fetch"
    m, ex = run_code(b"\xcd\x80", expect="exception")      # int 0x80: a trap, rip after it
    assert ex.reason == "exception" and ex.vector == 0x80 and m.reg_read("eip") == CODE + 2


def test_count_and_until_are_exact_inside_blocks():
    code = b"\x40" * 20                                    # 20 x inc eax, one block
    m, ex = run_code(code, count=7, expect="count")
    assert ex.reason == "count" and ex.instructions == 7 and m.reg_read("eax") == 7
    assert m.reg_read("eip") == CODE + 7
    ex = m.run(until=CODE + 12)
    assert ex.reason == "until" and m.reg_read("eax") == 12 and ex.instructions == 5
    ex = m.run()
    assert ex.reason == "hlt" and m.reg_read("eax") == 20
    assert m.instructions == 21


def test_endless_loop_stops_at_budget():
    m, ex = run_code(b"\xeb\xfe", count=1_000_000, expect="count")        # jmp $
    assert ex.reason == "count" and ex.instructions == 1_000_000


def test_huge_rep_is_bounded_by_the_budget():
    # rep stosb with ecx = 0xffffffff over 1 MiB: stops at the budget or at
    # the end of RAM, never hangs.
    m, ex = run_code(b"\xf3\xaa", regs={"ecx": 0xFFFFFFFF, "edi": 0x20000}, count=100, expect="count")
    assert ex.reason in ("count", "unmapped")
    assert m.reg_read("ecx") < 0xFFFFFFFF


def test_rep_counts_as_one_instruction():
    m, ex = run_code(b"\xf3\xaa", regs={"ecx": 10000, "edi": 0x20000, "eax": 0x41})
    assert ex.reason == "hlt" and ex.instructions == 2
    assert m.mem_read(0x20000, 10000) == b"A" * 10000 and m.reg_read("ecx") == 0


def test_stop_from_another_thread_and_gil_released():
    # The guest says it is running (out 0x80), then loops forever; the other
    # thread, woken by that, can only call stop() if run() released the GIL.
    # Without it the budget ends the run ('count'), so this fails, never hangs.
    m = Machine(mode=32, memory=0x10000)
    m.mem_write(0x1000, b"\xe6\x80\xeb\xfe")                     # out 0x80, al; jmp $
    started = threading.Event()
    stopped = []
    m.add_io_handler(0x80, write=lambda port, size, value: started.set())

    def stopper():
        if started.wait(timeout=300):
            m.stop()
            stopped.append(True)

    t = threading.Thread(target=stopper)
    t.start()
    ex = m.run(start=0x1000, count=5_000_000_000)
    started.set()
    t.join()
    assert ex.reason == "stop" and stopped
    assert ex.address == 0x1002


def test_machine_refuses_concurrent_run():
    m = Machine(mode=32, memory=0x10000)
    m.mem_write(0x1000, b"\xeb\xfe")
    errors = []
    t = threading.Thread(target=lambda: m.run(start=0x1000, count=200_000_000))
    t.start()
    while m.instructions == 0 and t.is_alive():
        pass
    try:
        m.run(count=1)
    except EmuError as e:
        errors.append(e)
    m.stop()
    t.join()
    assert errors and "already running" in str(errors[0])


def test_self_modifying_code_in_the_same_block():
    # mov byte [CODE+9], 0x41 ; nop*3 ; at CODE+9: (was 0x48 dec eax) -> inc ecx ; hlt
    # c6 05 <addr32> 41 is 7 bytes; then nop nop at +7,+8; target at +9.
    code = b"\xc6\x05" + (CODE + 9).to_bytes(4, "little") + b"\x41" + b"\x90\x90" + b"\x48"
    m, ex = run_code(code)
    assert ex.reason == "hlt"
    assert m.reg_read("ecx") == 1 and m.reg_read("eax") == 0
    assert m.stats["smc_invalidations"] >= 1


def test_mem_write_invalidates_decoded_code():
    m, ex = run_code(b"\x40")                              # inc eax; hlt
    assert m.reg_read("eax") == 1
    m.mem_write(CODE, b"\x48")                             # dec eax
    m.run(start=CODE)
    assert m.reg_read("eax") == 0


@pytest.mark.parametrize("mode", [32, 64])
def test_decode_cache_off_gives_the_same_result(mode):
    code = bytes.fromhex("b90a000000" "01c8" "e2fc")       # mov ecx,10; add eax,ecx; loop
    a, ea = run_code(code, mode=mode)
    b, eb = run_code(code, mode=mode, decode_cache=False)
    assert ea.reason == eb.reason == "hlt"
    assert a.reg_read("eax") == b.reg_read("eax") == 55
    assert ea.instructions == eb.instructions


def test_sixteen_bit_real_mode_addressing():
    m = Machine(mode=16, memory=0x20000)
    m.reg_write("ds", 0x1000)                              # base 0x10000
    m.mem_write(0x10010, b"\x34\x12")
    m.mem_write(0x100, bytes.fromhex("a11000" "f4"))      # mov ax, [0x10]; hlt
    ex = m.run(start=0x100)
    assert ex.reason == "hlt" and m.reg_read("ax") == 0x1234


def test_triple_fault_ends_the_run_with_the_cpu_state():
    # An IDT of one (not present) entry: #UD cannot be delivered (#GP), nor
    # can that #GP (#DF), nor the #DF: a triple fault.
    m = Machine(mode=32, memory=1 << 20)
    m.mem_write(0x2000, (7).to_bytes(2, "little") + (0x3000).to_bytes(4, "little"))  # IDTR
    m.mem_write(CODE, b"\x0f\x01\x1d" + (0x2000).to_bytes(4, "little") + b"\x0f\x0b")  # lidt; ud2
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "triple-fault" and ex.address == CODE + 7
    assert ex.registers["idtr"] == (0x3000, 7) and ex.registers["cr0"] & 1
    assert ex.registers["rip"] == CODE + 7 and "triple fault" in str(ex)


def test_exceptions_are_delivered_through_a_loaded_idt():
    # A 32-bit interrupt gate for #UD (vector 6) -> handler at 0x5000 that halts.
    gate = (0x5000 & 0xFFFF) | (0x08 << 16) | (0x8E << 40) | ((0x5000 >> 16) << 48)
    m = Machine(mode=32, memory=1 << 20)
    # GDT: null, flat 32-bit code at 0x08
    m.mem_write(0x1800, bytes(8) + (0x00CF9A000000FFFF).to_bytes(8, "little"))
    m.mem_write(0x2000, (15).to_bytes(2, "little") + (0x1800).to_bytes(4, "little"))   # GDTR
    m.mem_write(0x2010, (0x7FF).to_bytes(2, "little") + (0x3000).to_bytes(4, "little"))  # IDTR
    m.mem_write(0x3000 + 6 * 8, gate.to_bytes(8, "little"))
    m.mem_write(0x5000, b"\xf4")
    code = b"\x0f\x01\x15" + (0x2000).to_bytes(4, "little") + b"\x0f\x01\x1d" + (0x2010).to_bytes(4, "little")
    code += b"\xea" + (CODE + len(code) + 7).to_bytes(4, "little") + b"\x08\x00"    # jmp 0x08:next
    code += b"\x0f\x0b"                                                                 # ud2
    m.mem_write(CODE, code)
    m.reg_write("esp", 0x9000)
    ex = m.run(start=CODE, count=20)
    assert ex.reason == "hlt" and ex.address == 0x5000
    assert m.reg_read("cs") == 0x08
    frame = m.mem_read(0x9000 - 12, 12)
    assert int.from_bytes(frame[0:4], "little") == CODE + len(code) - 2      # the faulting ud2
    assert int.from_bytes(frame[4:8], "little") == 0x08


def test_instruction_straddling_a_page_is_refetched_when_the_mapping_changes():
    # 32-bit paging: linear page 0x400000 -> 0x10000; the next linear page
    # maps to 0x11000, later to 0x12000.  A `mov eax, imm32` straddles them.
    m = Machine(mode=32, memory=1 << 20)
    pd, pt = 0x20000, 0x21000
    m.mem_write(pd + 4 * 1, (pt | 3).to_bytes(4, "little"))           # 4 MiB..8 MiB
    m.mem_write(pd, (0x22000 | 3).to_bytes(4, "little"))              # identity for 0..4 MiB
    m.mem_write(0x22000, b"".join(((k << 12) | 3).to_bytes(4, "little") for k in range(256)))
    m.mem_write(pt + 0, (0x10000 | 3).to_bytes(4, "little"))
    m.mem_write(pt + 4, (0x11000 | 3).to_bytes(4, "little"))
    m.mem_write(0x10FFE, b"\xb8\x11")                                   # mov eax, 0x44332211 ...
    m.mem_write(0x11000, b"\x22\x33\x44\xf4")
    m.mem_write(0x12000, b"\x22\x77\x66\xf4")                           # ... or 0x66772211
    # enable paging: mov eax, pd; mov cr3, eax; mov eax, cr0; or eax, 0x80000000; mov cr0, eax; jmp 0x400ffe
    setup = (b"\xb8" + pd.to_bytes(4, "little") + b"\x0f\x22\xd8" + b"\x0f\x20\xc0"
             + b"\x0d\x00\x00\x00\x80" + b"\x0f\x22\xc0")
    m.mem_write(0x1000, setup + b"\xb9" + (0x400FFE).to_bytes(4, "little") + b"\xff\xe1")
    assert m.run(start=0x1000, count=100).reason == "hlt" and m.reg_read("eax") == 0x44332211
    m.mem_write(pt + 4, (0x12000 | 3).to_bytes(4, "little"))            # remap the second page
    # reload CR3 (flushes the TLB) and jump there again
    m.mem_write(0x2000, b"\x0f\x20\xd8\x0f\x22\xd8" + b"\xb9" + (0x400FFE).to_bytes(4, "little") + b"\xff\xe1")
    assert m.run(start=0x2000, count=100).reason == "hlt" and m.reg_read("eax") == 0x66772211


def test_trap_flag_single_steps():
    # pushf; or dword [esp], 0x100; popf; nop; nop -> #DB after the first nop
    m = Machine(mode=32, memory=1 << 20)
    m.mem_write(CODE, b"\x9c\x81\x0c\x24\x00\x01\x00\x00\x9d\x90\x90\xf4")
    m.reg_write("esp", 0x8000)
    ex = m.run(start=CODE, count=100)
    assert ex.reason == "exception" and ex.vector == 1
    assert ex.address == CODE + 9 and m.reg_read("eip") == CODE + 10   # a trap: after the nop
    ex = m.run(count=100)                                               # TF still set: next nop
    assert ex.vector == 1 and m.reg_read("eip") == CODE + 11


def test_far_call_through_a_64bit_call_gate():
    m = Machine(mode=64, memory=1 << 20)
    target = 0x3000
    code64 = 0x00AF9A000000FFFF                     # 64-bit code, DPL 0
    gate_lo = (target & 0xFFFF) | (0x08 << 16) | (0x8C << 40) | (((target >> 16) & 0xFFFF) << 48)
    gdt = bytes(8) + code64.to_bytes(8, "little") + gate_lo.to_bytes(8, "little") + (0).to_bytes(8, "little")
    m.mem_write(0x1800, gdt)
    m.mem_write(0x2000, (len(gdt) - 1).to_bytes(2, "little") + (0x1800).to_bytes(8, "little"))
    m.mem_write(0x2010, (0).to_bytes(8, "little") + (0x10).to_bytes(2, "little"))   # m16:64 -> gate
    m.mem_write(target, b"\xf4")
    # lgdt [0x2000]; mov rsp, 0x9000; call far qword [0x2010]
    code = (b"\x0f\x01\x14\x25" + (0x2000).to_bytes(4, "little") + b"\x48\xc7\xc4\x00\x90\x00\x00"
            + b"\x48\xff\x1c\x25" + (0x2010).to_bytes(4, "little"))
    m.mem_write(CODE, code)
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "hlt" and ex.address == target and m.reg_read("cs") == 0x08
    assert int.from_bytes(m.mem_read(0x9000 - 8, 8), "little") == 0             # the caller's CS
    assert int.from_bytes(m.mem_read(0x9000 - 16, 8), "little") == CODE + len(code)
