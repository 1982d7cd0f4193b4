"""A CALL through a call gate to a more privileged level pushes its frame
(the caller's SS and ESP, the gate's parameters, CS and EIP) on the new
stack from the TSS; a frame that does not fit in that stack segment's limit
raises #SS with the new SS selector as error code, before anything
changes (SDM Vol. 2A CALL: "IF stack limit does not allow push of
parameters and return address THEN #SS(SS selector)")."""
import pytest

from emu import Machine
from helpers import seg_desc

CODE, RING3, TARGET, TSS, ESP3 = 0x1000, 0x1100, 0x1200, 0x2000, 0x7000
ESP0 = 0x9000


def gdt(ss0_limit):
    gate = ((TARGET & 0xFFFF) | (0x08 << 16) | (1 << 32) | (0xEC << 40)   # 32-bit call gate, DPL 3, 1 parameter
            | ((TARGET >> 16) << 48))
    return b"".join([bytes(8),
                     seg_desc(0, 0xFFFFF, 0x9A, 0xC),        # 0x08 code, ring 0
                     seg_desc(0, 0xFFFFF, 0x92, 0xC),        # 0x10 data, ring 0
                     seg_desc(0, 0xFFFFF, 0xFA, 0xC),        # 0x18 code, ring 3
                     seg_desc(0, 0xFFFFF, 0xF2, 0xC),        # 0x20 data, ring 3
                     seg_desc(TSS, 0x67, 0x89, 0x0),         # 0x28 32-bit TSS
                     gate.to_bytes(8, "little"),             # 0x30 the call gate
                     seg_desc(0, ss0_limit, 0x92, 0x4)])     # 0x38 ring 0 stack, byte limit


def run(ss0_limit, decode_cache=True):
    m = Machine(mode=32, memory=1 << 20, decode_cache=decode_cache)
    table = gdt(ss0_limit)
    m.mem_write(0x1800, (len(table) - 1).to_bytes(2, "little") + (0x1810).to_bytes(4, "little"))
    m.mem_write(0x1810, table)
    m.mem_write(TSS + 4, ESP0.to_bytes(4, "little") + (0x38).to_bytes(4, "little"))
    # lgdt; ds = ss = es = 0x10; jmp 0x08:.+; ltr 0x28; retf to 0x1b:RING3 with ss:esp = 0x23:ESP3
    ring0 = bytes.fromhex("0f011500180000" "66b810008ed88ed08ec0")
    ring0 += b"\xea" + (CODE + len(ring0) + 7).to_bytes(4, "little") + b"\x08\x00"
    ring0 += bytes.fromhex("66b828000f00d8" "6a2368") + ESP3.to_bytes(4, "little")
    ring0 += b"\x6a\x1b\x68" + RING3.to_bytes(4, "little") + b"\xcb"
    m.mem_write(CODE, ring0)
    m.mem_write(RING3, bytes.fromhex("6a559a000000003300"))   # push 0x55; call 0x33:0
    m.mem_write(TARGET, b"\xf4")
    m.reg_write("esp", 0x8000)
    return m, m.run(start=CODE, count=100)


@pytest.mark.parametrize("decode_cache", [True, False])
def test_the_frame_lands_on_the_inner_stack(decode_cache):
    m, ex = run(0xFFFF, decode_cache)
    assert ex.reason == "hlt" and ex.address == TARGET, (ex.reason, ex.vector)
    assert (m.reg_read("cs"), m.reg_read("ss"), m.reg_read("esp")) == (0x08, 0x38, ESP0 - 20)
    frame = [int.from_bytes(m.mem_read(ESP0 - 20 + 4 * k, 4), "little") for k in range(5)]
    assert frame == [RING3 + 2 + 7, 0x1B, 0x55, ESP3 - 4, 0x23]   # EIP CS param ESP SS


@pytest.mark.parametrize("decode_cache", [True, False])
@pytest.mark.parametrize("limit", [ESP0 - 9, ESP0 - 2])   # the frame's top 8 bytes, or its last byte, out
def test_a_frame_past_the_inner_stack_limit_is_ss_fault_of_the_new_ss(limit, decode_cache):
    m, ex = run(limit, decode_cache)
    assert (ex.reason, ex.vector, ex.error_code, ex.address) == ("exception", 12, 0x38, RING3 + 2)
    assert (m.reg_read("cs"), m.reg_read("ss"), m.reg_read("esp")) == (0x1B, 0x23, ESP3 - 4)
    assert m.mem_read(ESP0 - 20, 20) == bytes(20)            # nothing pushed
