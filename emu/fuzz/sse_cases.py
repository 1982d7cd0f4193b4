"""Cases for the SSE floating-point rows (emu/isa/simd_fp.py): one
instruction in its register or memory form, with special-value XMM
registers and scratch data, under a random MXCSR (Case.fpu).  Used by
tests/test_sse_fp.py and the 'sse_fp' family of emu.fuzz.strategies."""
from __future__ import annotations

import random

from .case import DATA_BASE, STACK_TOP, Case, gpr_names
from .fpstate import make_image
from .strategies import F32_SPECIALS, F64_SPECIALS, INT_SPECIALS

#: Rows not run against the oracles: state saving and XCR0 (the host oracle
#: refuses them; their unit tests are in tests/test_sse_fp.py), RDPID.
SKIP = ("h_fxsave", "h_fxrstor", "h_xsave", "h_xrstor", "h_xgetbv", "h_xsetbv", "h_rdpid")

_MAP_BYTES = {1: b"\x0f", 2: b"\x0f\x38", 3: b"\x0f\x3a"}
_PREFIX = {"NP": b"", "66": b"\x66", "F2": b"\xf2", "F3": b"\xf3", None: b""}


def fp_rows():
    """The fuzzable rows of emu/isa/simd_fp.py."""
    from emu.isa.table import rows
    return [r for r in rows() if r.where.startswith("simd_fp.py")
            and (r.reg_handler or r.mem_handler) not in SKIP]


def _lane(rng, bits):
    sp = F32_SPECIALS if bits == 32 else F64_SPECIALS
    k = rng.random()
    if k < 0.4:
        return rng.choice(sp)
    if k < 0.5:
        return rng.choice(INT_SPECIALS) & ((1 << bits) - 1)
    if k < 0.65:
        return rng.getrandbits(bits)
    mbits, bias = (23, 127) if bits == 32 else (52, 1023)
    e = rng.randint(bias - 30, bias + 30) if rng.random() < 0.9 else rng.randint(0, 2 * bias + 1)
    return (rng.getrandbits(1) << (bits - 1)) | (e << mbits) | rng.getrandbits(mbits)


def xmm_random(rng):
    bits = rng.choice((32, 64))
    return sum(_lane(rng, bits) << (bits * k) for k in range(128 // bits))


def mxcsr_random(rng):
    masks = 0x3F if rng.random() < 0.7 else rng.getrandbits(6)
    flags = 0 if rng.random() < 0.6 else rng.getrandbits(6)
    return (rng.getrandbits(2) << 13) | (rng.getrandbits(1) << 6) | (rng.getrandbits(1) << 15) \
        | (masks << 7) | flags


def encode(r, mode, rng, mem: bool):
    """The bytes of row `r`: register form, or [base] with base = rbx/ebx."""
    pre = _PREFIX[r.prefix]
    rex = 0
    if mode == 64:
        rex = rng.getrandbits(4) & (0b1101 if mem else 0b1111)   # REX.X unused
        rex |= 8 if r.rexw or (rng.random() < 0.2 and r.prefix is None) else 0
        if r.rexw is False and r.prefix is not None and r.mnemonic.startswith(("CVT", "EXTRACT", "MOVMSK", "MOVNTI")):
            rex = rex | 8 if rng.random() < 0.5 else rex & ~8
    reg = rng.getrandbits(3)
    if isinstance(r.modrm, int):
        reg = r.modrm
    if isinstance(r.modrm, tuple):
        modrm = r.modrm[1] + (rng.getrandbits(3) if r.modrm[0] == "plus_i" else 0)
    elif mem:
        modrm = (reg << 3) | 3                       # [rbx]
        rex &= ~1
    else:
        modrm = 0xC0 | (reg << 3) | rng.getrandbits(3)
    code = pre + (bytes([0x40 | rex]) if rex else b"") + _MAP_BYTES[r.map] + bytes([r.op, modrm])
    if r.imm == "ib":
        code += bytes([rng.getrandbits(8)])
    return code


def sse_case(r, mode, rng, mem=None) -> Case:
    """One case of row `r` (mem None: the form at random)."""
    forms = [f for f in ("reg", "mem") if getattr(r, f + "_handler")]
    if mem is None:
        mem = rng.choice(forms) == "mem"
    code = encode(r, mode, rng, mem)
    names = gpr_names(mode)
    regs = {}
    for n in names:
        x = rng.random()
        regs[n] = (rng.choice(INT_SPECIALS) if x < 0.5 else rng.getrandbits(32 if x < 0.8 else mode)) \
            & ((1 << mode) - 1)
    regs[names[4]] = STACK_TOP
    off = rng.randrange(0, 0x800, 16)
    if rng.random() < 0.1:
        off += rng.choice((4, 8, 1))                 # misaligned: #GP for the aligned forms
    regs[names[3]] = DATA_BASE + off
    data = bytearray()
    while len(data) < 0x1000:
        bits = rng.choice((32, 64))
        data += _lane(rng, bits).to_bytes(bits // 8, "little")
    img = make_image(mxcsr=mxcsr_random(rng), xmm=[xmm_random(rng) for _ in range(16)],
                     st=[(rng.getrandbits(64), rng.getrandbits(16)) for _ in range(8)],
                     ftw=rng.getrandbits(8), fsw=rng.getrandbits(3) << 11)
    return Case(mode=mode, code=code, regs=regs, data=bytes(data), count=1, fpu=img)


def sse_cases(n, mode, seed=0, rows=None):
    rng = random.Random(seed)
    rows = rows or fp_rows()
    return [sse_case(rng.choice(rows), mode, rng) for _ in range(n)]
