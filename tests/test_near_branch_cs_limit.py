"""A near branch to a target beyond CS's limit in protected mode raises
#GP(0) at the branch itself, with the state before it (SDM Vol. 2A JMP,
Jcc, CALL, LOOP, Vol. 2B RET: "if the target operand is beyond the code
segment limit"), as Bochs does: not at the target's fetch after the branch
retired.  That holds for a JMP or CALL that build_block follows within its
block (icache.pxi), for a CALL before its push, and for RET and LOOP, whose
pop and count are undone.  Running on into the limit without a branch still
faults at the fetch."""
import pytest

from emu import Machine
from helpers import seg_desc

CODE = 0x1000
LIMIT = 0x10FF                  # CS 0x18: base 0, limit 0x10FF, 32-bit
SNIPPET = 0x1080                # where each case's code starts (within the limit)
# lgdt [0x1800]; ss = ds = es = 0x10; jmp 0x18:SNIPPET
PROLOGUE = bytes.fromhex("0f01150018000066b810008ed08ed88ec0ea") + SNIPPET.to_bytes(4, "little") + b"\x18\x00"
GDT = b"".join([bytes(8),
                seg_desc(0, 0xFFFFF, 0x9A, 0xC),     # 0x08 code, flat
                seg_desc(0, 0xFFFFF, 0x92, 0xC),     # 0x10 data, flat
                seg_desc(0, LIMIT, 0x9A, 0x4)])      # 0x18 code, limit 0x10FF
STACK = 0x9000


def run(snippet, decode_cache=True, count=100, data=None):
    """Run the prologue, then `snippet` at SNIPPET (`data`: {address: bytes}
    also in memory)."""
    m = Machine(mode=32, memory=1 << 20, decode_cache=decode_cache)
    m.mem_write(0x1800, (len(GDT) - 1).to_bytes(2, "little") + (0x1810).to_bytes(4, "little"))
    m.mem_write(0x1810, GDT)
    m.mem_write(CODE, PROLOGUE)
    m.mem_write(SNIPPET, snippet)
    m.mem_write(LIMIT, b"\x90\x90\xf4")     # NOP at the limit, then NOP; HLT past it
    for at, b in (data or {}).items():
        m.mem_write(at, b)
    m.reg_write("esp", STACK)
    return m, m.run(start=CODE, count=count)


def gp_at(ex, address):
    return (ex.reason, ex.vector, ex.error_code, ex.address) == ("exception", 13, 0, address)


CASES = {
    # inc eax; jmp short past the limit (same page: build_block follows it)
    "jmp-rel8-followed": (bytes.fromhex("40eb7f"), 1),
    # inc eax; jmp near to 0x2000 (another page)
    "jmp-rel32": (bytes.fromhex("40e9") + (0x2000 - (SNIPPET + 6)).to_bytes(4, "little"), 1),
    # inc eax; cmp eax, eax; je past the limit
    "jcc": (bytes.fromhex("4039c0747b"), 1 + 2),
    # inc eax; mov edx, LIMIT + 1; jmp edx
    "jmp-reg": (bytes.fromhex("40ba") + (LIMIT + 1).to_bytes(4, "little") + b"\xff\xe2", 1 + 5),
}


@pytest.mark.parametrize("decode_cache", [True, False])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_jump_past_the_limit_faults_at_the_jump(name, decode_cache):
    code, at = CASES[name]
    m, ex = run(code, decode_cache)
    assert gp_at(ex, SNIPPET + at), (ex.reason, ex.vector, hex(ex.address))
    assert m.reg_read("eax") == 0x11              # the INC before it ran (AX = 0x10 from the prologue)


@pytest.mark.parametrize("decode_cache", [True, False])
@pytest.mark.parametrize("code", [bytes.fromhex("40e87a000000"),                        # call rel32, same page
                                  bytes.fromhex("40ba0011000090ffd2")],                 # call edx
                         ids=["call-rel", "call-reg"])
def test_a_call_past_the_limit_faults_before_its_push(code, decode_cache):
    m, ex = run(code, decode_cache)
    assert gp_at(ex, SNIPPET + len(code) - (2 if code.endswith(b"\xff\xd2") else 5))
    assert m.reg_read("esp") == STACK
    assert m.mem_read(STACK - 4, 4) == bytes(4)   # nothing pushed


@pytest.mark.parametrize("decode_cache", [True, False])
def test_a_return_past_the_limit_keeps_its_return_address(decode_cache):
    # push LIMIT + 1; ret 8
    m, ex = run(bytes.fromhex("68") + (LIMIT + 1).to_bytes(4, "little") + bytes.fromhex("c20800"), decode_cache)
    assert gp_at(ex, SNIPPET + 5)
    assert m.reg_read("esp") == STACK - 4


@pytest.mark.parametrize("decode_cache", [True, False])
def test_a_loop_past_the_limit_keeps_its_count(decode_cache):
    # mov ecx, 5; loop past the limit
    m, ex = run(bytes.fromhex("b905000000e27a"), decode_cache)
    assert gp_at(ex, SNIPPET + 5)
    assert m.reg_read("ecx") == 5


@pytest.mark.parametrize("decode_cache", [True, False])
def test_a_jump_to_the_last_byte_is_fine_and_running_on_faults_at_the_fetch(decode_cache):
    # jmp to the NOP at LIMIT, which runs; the next fetch, at LIMIT + 1, is past the limit
    code = bytes.fromhex("e9") + (LIMIT - (SNIPPET + 5)).to_bytes(4, "little")
    m, ex = run(code, decode_cache)
    assert gp_at(ex, LIMIT + 1), (ex.reason, ex.vector, hex(ex.address))
    assert ex.instructions == 6 + 2   # the prologue's 6, the JMP and the NOP


# ---- far transfers: the new CS's limit, checked before anything changes ----
# CS 0x18's limit is LIMIT; a far transfer to 0x18:LIMIT+1 raises #GP(0) at
# itself (SDM Vol. 2A JMP, CALL "if EIP not within code segment limit",
# Vol. 2B RET, IRET), with CS, rSP and the stack as they were.

FAR_PAST = (LIMIT + 1).to_bytes(4, "little") + b"\x18\x00"
FAR_LAST = LIMIT.to_bytes(4, "little") + b"\x18\x00"


@pytest.mark.parametrize("decode_cache", [True, False])
@pytest.mark.parametrize("form", ["ptr", "mem"])
def test_a_far_jump_past_the_new_limit_faults_at_the_jump(form, decode_cache):
    if form == "ptr":       # inc eax; jmp 0x18:LIMIT+1
        code, at = bytes.fromhex("40ea") + FAR_PAST, 1
    else:                   # inc eax; jmp far [0x1900]
        code, at = bytes.fromhex("40ff2d00190000"), 1
    m, ex = run(code, decode_cache, data={0x1900: FAR_PAST})
    assert gp_at(ex, SNIPPET + at), (ex.reason, ex.vector, hex(ex.address))
    assert m.reg_read("eax") == 0x11
    assert m.reg_read("cs") == 0x18


@pytest.mark.parametrize("decode_cache", [True, False])
def test_a_far_call_past_the_new_limit_pushes_nothing(decode_cache):
    m, ex = run(bytes.fromhex("409a") + FAR_PAST, decode_cache)     # inc eax; call 0x18:LIMIT+1
    assert gp_at(ex, SNIPPET + 1)
    assert m.reg_read("esp") == STACK
    assert m.mem_read(STACK - 8, 8) == bytes(8)


@pytest.mark.parametrize("decode_cache", [True, False])
def test_a_far_return_past_the_new_limit_keeps_its_frame(decode_cache):
    # push 0x18; push LIMIT+1; retf
    m, ex = run(bytes.fromhex("6a1868") + (LIMIT + 1).to_bytes(4, "little") + b"\xcb", decode_cache)
    assert gp_at(ex, SNIPPET + 7)
    assert m.reg_read("esp") == STACK - 8
    # pushfd; push 0x18; push LIMIT+1; iretd
    m, ex = run(bytes.fromhex("9c6a1868") + (LIMIT + 1).to_bytes(4, "little") + b"\xcf", decode_cache)
    assert gp_at(ex, SNIPPET + 8)
    assert m.reg_read("esp") == STACK - 12


@pytest.mark.parametrize("decode_cache", [True, False])
def test_a_far_jump_to_the_last_byte_is_fine(decode_cache):
    m, ex = run(bytes.fromhex("ea") + FAR_LAST, decode_cache)        # jmp 0x18:LIMIT: NOP, then past it
    assert gp_at(ex, LIMIT + 1), (ex.reason, ex.vector, hex(ex.address))
