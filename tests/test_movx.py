"""MOVZX and MOVSX in every form the specialized variants cover (byte and
word sources, register -- the legacy high-byte registers included -- and
memory, 16/32/64-bit destinations) against Unicorn as the oracle."""
import random

import pytest

from helpers import CODE, DATA, STACK, run_code

unicorn = pytest.importorskip("unicorn")
from unicorn import x86_const as X  # noqa: E402

REGS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"]


def uc_regs(mode):
    return [getattr(X, "UC_X86_REG_" + (r if mode == 64 else "e" + r[1:]).upper()) for r in REGS]


def encodings(mode):
    """(name, bytes) of movzx/movsx r, r/m8 and r/m16 with several prefixes."""
    out = []
    prefixes = [b"", b"\x66"] + ([b"\x48", b"\x40", b"\x44", b"\x41", b"\x4c"] if mode == 64 else [])
    for op in (0xB6, 0xB7, 0xBE, 0xBF):
        for pre in prefixes:
            for modrm in (0xC1, 0xC4, 0xE7, 0xD8, 0xFC):              # register sources, AH..BH included
                out.append(pre + bytes([0x0F, op, modrm]))
            out.append(pre + bytes([0x0F, op, 0x05]) + (DATA + 3 if mode == 32 else DATA + 3 - CODE - 8
                                                         - len(pre)).to_bytes(4, "little", signed=True))
            out.append(pre + bytes([0x0F, op, 0x04, 0x1E]))             # [rsi + rbx]
    return out


def oracle(code, mode, regs, data):
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64 if mode == 64 else unicorn.UC_MODE_32)
    uc.mem_map(0, 1 << 20)
    uc.mem_write(CODE, code + b"\xf4")
    uc.mem_write(DATA, data)
    for r, v in regs.items():
        uc.reg_write(uc_regs(mode)[REGS.index(r)], v)
    uc.emu_start(CODE, CODE + len(code))
    return [uc.reg_read(u) for u in uc_regs(mode)]


@pytest.mark.parametrize("mode", [32, 64])
def test_movzx_movsx_match_unicorn(mode):
    rnd = random.Random(mode)
    mask = (1 << mode) - 1
    data = bytes(rnd.randrange(256) for _ in range(64))
    for code in encodings(mode):
        for _ in range(3):
            regs = {r: rnd.getrandbits(64) & mask for r in REGS}
            regs.update(rsi=DATA + 8, rbx=rnd.randrange(16), rsp=STACK)
            m, _ = run_code(code, mode=mode, regs=regs, data=data)
            got = [m.reg_read(r) for r in REGS]
            assert got == oracle(code, mode, regs, data), code.hex()
