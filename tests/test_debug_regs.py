"""Debug registers (Intel SDM vol. 3 ch. 17): instruction breakpoints as
faults with RF, data breakpoints as traps, DR6/DR7 formats."""
import pytest

from emu import Machine
from helpers import CODE, run_code

# A 32-bit guest (guests source in the comments; assembled with GNU as,
# loaded at 0x1000): its own GDT and IDT, a #DB handler that logs DR6 and
# the return EIP at 0x6004 + 8 * n (n at 0x6000), clears DR6, sets RF in
# the frame and IRETs.  It arms, in turn: DR0 on `inc ebx` at 0x1036 (an
# instruction breakpoint); DR1 on writes to 4 bytes at 0x7000 (a read of
# them does not hit, a byte written at 0x7003 does: the trap returns to
# 0x1055); DR2 on reads and writes of 2 bytes at 0x7010 (given as 0x7011:
# the low address bits are ignored; a 4-byte read at 0x700E hits, trap
# returns to 0x1075); then DR7 = 0, and a write there goes unnoticed.
GUEST = bytes.fromhex(
    "0f0115d81000000f011df0100000ea15100000080066b810008ed88ed08ec0bc00f0000"
    "0b8361000000f23c0b8010000000f23f890904390b8007000000f23c8b80800d0000f23f8"
    "8b0d00700000c6050370000001c7050470000002000000b8117000000f23d0b82000000"
    "70f23f88b150e700000b8000000000f23f8c6051070000001f450538b1d006000000f21f0"
    "8904dd046000008b4424088904dd08600000ff0500600000b8000000000f23f0814c241000"
    "0001005b58cf8d742600900000000000000000ffff0000009acf00ffff00000092cf0017"
    "00c01000006690000000000000000085100800008e00000f00e0100000")


def db_log(m):
    n = int.from_bytes(m.mem_read(0x6000, 4), "little")
    raw = m.mem_read(0x6004, 8 * n)
    return [(int.from_bytes(raw[8 * k:8 * k + 4], "little"), int.from_bytes(raw[8 * k + 4:8 * k + 8], "little"))
            for k in range(n)]


@pytest.mark.parametrize("decode_cache", [True, False])
def test_breakpoints_through_the_idt(decode_cache):
    m = Machine(mode=32, memory=1 << 20, decode_cache=decode_cache)
    m.mem_write(0x1000, GUEST)
    ex = m.run(start=0x1000, count=10000)
    assert ex.reason == "hlt"
    assert db_log(m) == [(0xFFFF0FF1, 0x1036),     # B0, a fault: EIP of the instruction
                         (0xFFFF0FF2, 0x1055),     # B1, a trap: EIP after the store
                         (0xFFFF0FF4, 0x1075)]     # B2
    assert m.reg_read("ebx") == 1                  # RF let `inc ebx` run once, after the #DB
    assert m.mem_read(0x7000, 8) == bytes([0, 0, 0, 1, 2, 0, 0, 0])


def mov_dr(n, value):
    """mov eax, value; mov drN, eax"""
    return b"\xb8" + value.to_bytes(4, "little") + bytes([0x0F, 0x23, 0xC0 | (n << 3)])


def test_instruction_breakpoint_without_an_idt_ends_the_run_before_it():
    code = mov_dr(0, CODE + 18) + mov_dr(7, 0x2) + b"\x90\x90"   # 16 bytes, then 2 NOPs
    code += b"\x43"                                               # CODE + 18: inc ebx
    m, ex = run_code(code, expect="exception")
    assert ex.reason == "exception" and ex.vector == 1 and ex.address == CODE + 18
    assert m.reg_read("ebx") == 0


def test_data_breakpoint_without_an_idt_ends_the_run_after_the_access():
    code = mov_dr(3, 0x8000) + mov_dr(7, 0x40 | (0b01 << 28))     # DR3: 1-byte writes, L3
    code += b"\xc6\x05" + (0x8001).to_bytes(4, "little") + b"\x05"  # mov byte [0x8001], 5: no hit
    code += b"\xc6\x05" + (0x8000).to_bytes(4, "little") + b"\x07"  # mov byte [0x8000], 7: hit
    code += b"\x43"                                                  # inc ebx
    m, ex = run_code(code, expect="exception")
    assert ex.reason == "exception" and ex.vector == 1
    assert m.reg_read("eip") == CODE + 30 and m.reg_read("ebx") == 0
    assert m.mem_read(0x8000, 2) == b"\x07\x05"


def test_rep_string_data_breakpoint_traps_after_the_iteration():
    # rep stosb of 16 bytes from 0x8000; DR0 watches writes to 0x8005
    code = mov_dr(0, 0x8005) + mov_dr(7, 0x1 | (0b01 << 16))
    code += b"\xbf\x00\x80\x00\x00\xb9\x10\x00\x00\x00\xb0\xaa\xf3\xaa"  # mov edi; mov ecx; mov al; rep stosb
    m, ex = run_code(code, expect="exception")
    assert ex.reason == "exception" and ex.vector == 1
    assert m.reg_read("ecx") == 10 and m.reg_read("edi") == 0x8006
    assert m.reg_read("eip") == CODE + 16 + 12                        # at the REP, to resume it


def test_dr6_dr7_fixed_bits_and_dr4_dr5_aliases():
    # mov dr6, 0; mov eax, dr6 -> ebx; mov eax, dr5 (DR7) -> ecx
    code = mov_dr(6, 0) + b"\x0f\x21\xf0\x89\xc3" + b"\x0f\x21\xe8\x89\xc1"
    m, ex = run_code(code)
    assert ex.reason == "hlt"
    assert m.reg_read("ebx") == 0xFFFF0FF0 and m.reg_read("ecx") == 0x400


def test_64bit_breakpoints_and_a_block_cut_mid_way():
    # mov rax, CODE + 30; mov dr0, rax; mov eax, 0x1 | (0b11 << 20) | (0b10 << 22) (DR0 exec,
    # DR1 8-byte reads/writes, both local); mov dr7, rax; mov rax, 0x8008; mov dr1, rax; nop
    code = b"\x48\xb8" + (CODE + 30).to_bytes(8, "little") + b"\x0f\x23\xc0"
    code += b"\xb8" + (0x5 | (0b11 << 20) | (0b10 << 22)).to_bytes(4, "little") + b"\x0f\x23\xf8"
    code += b"\xb8\x0c\x80\x00\x00\x0f\x23\xc8" + b"\x90"     # CODE + 29
    code += b"\x48\xff\xc3"                                   # CODE + 30: inc rbx
    m, ex = run_code(code, mode=64, expect="exception")
    assert ex.reason == "exception" and ex.vector == 1 and ex.address == CODE + 30
    assert m.reg_read("rbx") == 0
    # an 8-byte read at 0x800F touches the watched quadword 0x8008-0x800F (DR1 = 0x800C)
    code = b"\xb8" + (0x4 | (0b11 << 20) | (0b10 << 22)).to_bytes(4, "little") + b"\x0f\x23\xf8"
    code += b"\xb8\x0c\x80\x00\x00\x0f\x23\xc8"
    code += b"\x48\x8b\x04\x25\x00\x80\x00\x00"               # mov rax, [0x8000]: no hit
    code += b"\x48\x8b\x04\x25\x0f\x80\x00\x00"               # mov rax, [0x800F]: hit
    code += b"\x48\xff\xc3"
    m, ex = run_code(code, mode=64, expect="exception")
    assert ex.reason == "exception" and ex.vector == 1
    assert m.reg_read("rip") == CODE + 32 and m.reg_read("rbx") == 0


# MOV SS and POP SS hold the #DB traps they raise for one instruction (SDM
# Vol. 3A 6.8.3): a single-step trap after them does not come (the next
# instruction is stepped anyway), a data breakpoint they hit is reported
# after the next instruction.  kvm-unit-tests' debug test checks the same
# against real hardware (test_kvm_unit_tests.py).  In real mode, where any
# value loads into SS; with no IVT loaded a #DB ends the run.
TF_ON = b"\x9c\x58\x0d\x00\x01\x50\x9d"       # pushf; pop ax; or ax, 0x100; push ax; popf
TF_OFF = b"\x9c\x58\x25\xff\xfe\x50\x9d"      # ... and ax, ~0x100 ...
SS_TO_AX = b"\x8c\xd0"                           # mov ax, ss
INC_BX_CX = b"\x43\x41"                          # inc bx; inc cx


def dr6(m):
    m.reg_write("eflags", m.reg_read("eflags") & ~0x100)                # TF off
    m.mem_write(0x3000, b"\x0f\x21\xf0\xf4")                           # mov eax, dr6; hlt
    assert m.run(start=0x3000, count=10).reason == "hlt"
    return m.reg_read("eax")


def real_mode(code, ivt=False):
    m = Machine(mode=16, memory=1 << 20)
    if ivt:
        m.load_table("idt", 0, 0x3FF)
    m.mem_write(0x1000, code + b"\xf4")
    m.reg_write("sp", 0x7000)
    return m, m.run(start=0x1000, count=1000)


def test_single_step_trap_skips_the_instruction_after_popf_and_after_mov_ss():
    m, ex = real_mode(SS_TO_AX + TF_ON + b"\x8e\xd0" + INC_BX_CX)    # mov ss, ax
    assert ex.reason == "exception" and ex.vector == 1, str(ex)
    assert (m.reg_read("bx"), m.reg_read("cx")) == (1, 0)              # after inc bx, not after mov ss
    assert dr6(m) & 0x4000                                             # BS


@pytest.mark.parametrize("pop", [False, True])
def test_data_breakpoint_hit_by_mov_ss_traps_after_the_next_instruction(pop):
    """DR0 watches 2-byte reads and writes of SS's value: at 0x8000 for
    `mov ss, [0x8000]`, in the stack slot for POP SS."""
    watch = 0x6FFE if pop else 0x8000
    arm = b"\x66" + mov_dr(0, watch) + b"\x66" + mov_dr(7, 0x1 | (0b11 << 16) | (0b01 << 18))
    save = b"\x50" if pop else b"\xa3\x00\x80"                        # push ax / mov [0x8000], ax
    load = b"\x17" if pop else b"\x8e\x16\x00\x80"                    # pop ss / mov ss, [0x8000]
    m, ex = real_mode(SS_TO_AX + save + arm + load + INC_BX_CX)
    assert ex.reason == "exception" and ex.vector == 1, str(ex)
    assert (m.reg_read("bx"), m.reg_read("cx")) == (1, 0)
    assert dr6(m) & 1                                                  # B0


def test_no_single_step_trap_into_a_software_interrupt_handler():
    """INT n clears TF as it enters the handler, and no trap comes at the
    handler's first instruction (as QEMU, and Bochs, which drops the old
    context's traps on delivery): the next #DB is after the instruction
    IRET returns to."""
    m = Machine(mode=16, memory=1 << 20)
    m.mem_write(0x30 * 4, (0x2000).to_bytes(2, "little") + bytes(2))   # INT 30h: inc dx; iret
    m.mem_write(0x2000, b"\x42\xcf")
    m.mem_write(1 * 4, (0x2100).to_bytes(2, "little") + bytes(2))     # #DB: inc si; iret
    m.mem_write(0x2100, b"\x46\xcf")
    m.load_table("idt", 0, 0x3FF)
    m.mem_write(0x1000, TF_ON + b"\xcd\x30\x43" + TF_OFF + b"\xf4")  # int 30h; inc bx
    m.reg_write("sp", 0x7000)
    ex = m.run(start=0x1000, count=1000)
    assert ex.reason == "hlt", str(ex)
    assert (m.reg_read("dx"), m.reg_read("bx")) == (1, 1)
    # traps after: inc bx, pushf, pop ax, and ax, push ax, popf (TF set as it began)
    assert m.reg_read("si") == 6
