"""Near branches to a non-canonical address in 64-bit mode raise #GP(0) at
the branch with the state before it (SDM Vol. 2A CALL, JMP, Jcc, LOOP;
Vol. 2B RET: "64-Bit Mode Exceptions"), not at the target's fetch.  The
host CPU agrees (tests/fuzz_reproducers/c3-ret-*, ff.4-jmp-*)."""
import struct

import pytest
from helpers import CODE, STACK, run_code

BAD = 0x0000_8000_0000_0000          # the first non-canonical address above
BAD_LOW = 0xFFFF_7FFF_FFFF_FFF0      # ... and one below the upper half


def gp_at_branch(code, regs, branch_at, **expect_regs):
    m, ex = run_code(code, mode=64, regs=regs, expect="exception")
    assert ex.vector == 13 and ex.error_code == 0, ex
    assert ex.address == CODE + branch_at, ex
    for name, value in expect_regs.items():
        assert m.reg_read(name) == value, name
    return m


@pytest.mark.parametrize("target", [BAD, BAD_LOW])
def test_ret_keeps_the_stack(target):
    # push rax; ret: the RET faults with RSP still pointing at the target
    gp_at_branch(b"\x50\xc3", {"rax": target}, 1, rsp=STACK - 8)


def test_ret_imm_keeps_the_stack():
    gp_at_branch(b"\x50\xc2\x10\x00", {"rax": BAD}, 1, rsp=STACK - 8)


def test_jmp_register_and_memory():
    gp_at_branch(b"\xff\xe0", {"rax": BAD}, 0, rip=CODE)
    # push rax; jmp [rsp]
    gp_at_branch(b"\x50\xff\x24\x24", {"rax": BAD}, 1, rsp=STACK - 8)


def test_call_register_pushes_nothing():
    m = gp_at_branch(b"\xff\xd0", {"rax": BAD}, 0, rsp=STACK)
    assert m.mem_read(STACK - 8, 8) == bytes(8)


def test_canonical_target_still_jumps():
    code = b"\x48\xb8" + struct.pack("<Q", CODE + 12) + b"\xff\xe0"
    m, ex = run_code(code, mode=64)
    assert m.reg_read("rax") == CODE + 12
