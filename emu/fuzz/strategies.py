"""Hypothesis strategies that generate structured x86 code and whole test cases.

The generator builds instructions field by field -- legacy prefixes (66, 67,
F2/F3, segment overrides, sometimes LOCK), a REX prefix in 64-bit mode,
one-, two- and three-byte opcodes from the general-purpose integer set the
emulator implements, then ModRM / SIB / displacement / immediate of the sizes
that opcode and those prefixes call for.  Instructions are grouped in
*families* (``FAMILIES``); the choice among them is weighted and can be
steered with ``families=``, ``weights=`` or ``opcode_range=``.

Keeping a case meaningful:

* Memory operands mostly land in the scratch area: base/index registers are
  drawn as ``DATA_BASE + small offset`` or small values most of the time (and
  random values sometimes), absolute disp32 / moffs / RIP-relative
  displacements point into the scratch area, the stack pointer is STACK_TOP.
* Branches are only forward, to an instruction of the same sequence (or its
  end), so every case terminates within ``len(instructions)`` instructions.
  REP string instructions are preceded by ``MOV ECX, n`` with a small n.
* No instruction reads a flag that an earlier instruction may have left
  undefined: the classifier of :mod:`emu.fuzz.flags` runs on every generated
  sequence and a ``CMP r, r`` is inserted before such a reader (see the
  "consumed undefined flags" section there).  16-bit SHLD/SHRD by CL get a
  ``MOV CL, n<=16`` so their result is never undefined.

``cases(mode, ...)`` returns :class:`emu.fuzz.case.Case` objects;
``raw_cases(mode)`` the same with random bytes for code.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field

from hypothesis import assume, strategies as st

from .case import CODE_BASE, DATA_BASE, STACK_TOP, Case, gpr_names
from .flags import ARITH, DF, analyze
from .insn import ALU, decode_all

#: How much of the scratch area the generated data fills (the rest is zero).
DATA_FILL = 0x1000
#: Offsets into the scratch area that pointer-valued registers get.
PTR_SPAN = 0x1000

END = object()          # branch target: the end of the sequence

#: EFLAGS.IF is set in every starting state and in what POPF loads: the host
#: oracle runs cases in user mode, where IF is always 1 and POPF cannot clear
#: it, so IF=0 would show through PUSHF in the emulator only.
IF = 0x200


# ---------------------------------------------------------------------------
# The instruction under construction


@dataclass(eq=False)
class Insn:
    family: str
    opcode: bytes
    prefixes: list = field(default_factory=list)   # legacy prefix bytes (and stale REX)
    rex: int | None = None
    modrm: int | None = None
    sib: int | None = None
    disp: bytes = b""
    imm: bytes = b""
    rel_size: int = 0                               # relative branch: 1 or 4
    target: object = None                           # Insn or END
    head: bool = True                               # may be a branch target

    def encode(self, rel: int = 0) -> bytes:
        out = bytearray(self.prefixes)
        if self.rex is not None:
            out.append(self.rex)
        out += self.opcode
        if self.modrm is not None:
            out.append(self.modrm)
        if self.sib is not None:
            out.append(self.sib)
        out += self.disp
        out += self.imm
        if self.rel_size:
            out += (rel & ((1 << (8 * self.rel_size)) - 1)).to_bytes(self.rel_size, "little")
        return bytes(out)

    def __len__(self):
        return len(self.encode())


def assemble(insns) -> bytes:
    """Encode a list of Insn, resolving forward branch targets.  Branches whose
    target is out of rel8 reach are retargeted to the farthest head in reach."""
    for _ in range(4):
        offs = []
        pos = 0
        for i in insns:
            offs.append(pos)
            pos += len(i)
        index = {id(x): k for k, x in enumerate(insns)}
        end = pos
        changed = False
        out = bytearray()
        for k, i in enumerate(insns):
            rel = 0
            if i.rel_size:
                tgt = end if i.target is END or id(i.target) not in index else offs[index[id(i.target)]]
                nxt = offs[k] + len(i)
                rel = tgt - nxt
                if i.rel_size == 1 and rel > 127:
                    # pick the farthest head within reach (the next insn at worst)
                    best = None
                    for j in range(k + 1, len(insns)):
                        if offs[j] - nxt <= 127 and insns[j].head:
                            best = insns[j]
                    i.target = best if best is not None else (insns[k + 1] if k + 1 < len(insns) else END)
                    changed = True
                    continue
            out += i.encode(rel)
        if not changed:
            return bytes(out)
    raise AssertionError("branch fixup did not converge")


# ---------------------------------------------------------------------------
# Small helpers


_PERCENT = st.integers(0, 99)


def chance(draw, percent: int) -> bool:
    """True with about `percent` % probability; shrinks to False."""
    return draw(_PERCENT) >= 100 - percent


def _le(v, n):
    return (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def _interesting(bits):
    m = (1 << bits) - 1
    h = 1 << (bits - 1)
    return [0, 1, 2, m, m - 1, h, h - 1, h + 1, 0x7F & m, 0x80 & m, 0xFF & m, 0x100 & m]


def imm_value(bits):
    return st.one_of(st.integers(0, (1 << bits) - 1), st.sampled_from(_interesting(bits)),
                     st.integers(0, 16))


def _imm(draw, nbytes):
    return _le(draw(imm_value(8 * nbytes)), nbytes)


def _disp8(draw):
    return _le(draw(st.one_of(st.integers(-64, 64), st.integers(-128, 127))), 1)


def _ptr_disp32(draw):
    """An absolute 32-bit address into the scratch area (sometimes anywhere)."""
    if chance(draw, 90):
        return DATA_BASE + draw(st.integers(0, PTR_SPAN - 1))
    return draw(st.integers(0, 0xFFFFFFFF))


@dataclass
class Ctx:
    mode: int


def _opsize(mode, prefixes, rex, byte=False):
    if byte:
        return 8
    if mode == 64 and rex is not None and rex & 8:
        return 64
    return 16 if 0x66 in prefixes else 32


def draw_rex(draw, ctx, percent=50, w=None):
    if ctx.mode != 64 or not chance(draw, percent):
        return None
    r = 0x40 | draw(st.integers(0, 15))
    if w is True:
        r |= 8
    elif w is False:
        r &= ~8
    return r


SEGS_32 = (0x26, 0x36, 0x3E, 0x64, 0x65)      # no CS override in 32-bit: writes via CS #GP on hardware
SEGS_64 = (0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65)


def draw_prefixes(draw, ctx, *, p66=True, p67=True, seg=True, rep=False, lock=False,
                  noise_rep=False):
    """Legacy prefixes, in a random order.  `rep`: 'F2'/'F3'/True (either) to
    force one; `lock`: True when LOCK is legal, 'maybe' to add it rarely."""
    pre = []
    if p66 and chance(draw, 25):
        pre.append(0x66)
    if p67 and chance(draw, 10):
        pre.append(0x67)
    if seg and chance(draw, 15):
        pre.append(draw(st.sampled_from(SEGS_64 if ctx.mode == 64 else SEGS_32)))
    if rep is True:
        pre.append(draw(st.sampled_from((0xF3, 0xF2))))
    elif rep:
        pre.append(rep)
    elif noise_rep and chance(draw, 4):
        pre.append(draw(st.sampled_from((0xF3, 0xF2))))
    if lock is True and chance(draw, 30) or lock == "maybe" and chance(draw, 2):
        pre.append(0xF0)
    return _order_prefixes(draw, ctx, pre, rep)


def _order_prefixes(draw, ctx, pre, rep=False):
    if len(pre) > 1:
        pre = list(draw(st.permutations(pre)))
    if ctx.mode == 64 and pre and chance(draw, 3):
        # a REX followed by a legacy prefix is ignored
        pre.insert(len(pre) - 1, 0x40 | draw(st.integers(0, 15)))
    if rep in (0xF2, 0xF3) and pre[-1] != rep and rep in pre:
        # mandatory prefixes (POPCNT/LZCNT/TZCNT) must be the last F2/F3
        pre.remove(rep)
        pre.append(rep)
    return pre


def draw_modrm(draw, ctx, prefixes, rex, *, reg=None, mem="any"):
    """(modrm, sib, disp) for a ModRM operand. `reg`: fixed reg field (a /digit)
    or None for random; `mem`: 'any', 'mem' or 'reg'."""
    if mem == "reg":
        mod = 3
    elif mem == "mem":
        mod = draw(st.sampled_from((0, 1, 2, 0, 1)))
    else:
        mod = 3 if chance(draw, 45) else draw(st.sampled_from((0, 1, 2, 0, 1)))
    r = draw(st.integers(0, 7)) if reg is None else reg
    rm = draw(st.integers(0, 7))
    sib = None
    disp = b""
    a16 = ctx.mode == 32 and 0x67 in prefixes
    if mod == 3:
        pass
    elif a16:
        if mod == 0 and rm == 6:
            disp = _le(draw(st.integers(0, 0xFFFF)), 2)
        elif mod == 1:
            disp = _disp8(draw)
        elif mod == 2:
            disp = _le(draw(st.integers(0, 0xFFFF)), 2)
    else:
        if rm == 4:
            scale = draw(st.integers(0, 3))
            index = draw(st.integers(0, 7))
            base = draw(st.integers(0, 7))
            sib = (scale << 6) | (index << 3) | base
            if mod == 0 and base == 5:
                disp = _le(_ptr_disp32(draw), 4)
        elif mod == 0 and rm == 5:
            if ctx.mode == 64:
                # RIP-relative: aim into the scratch area whatever the position
                off = draw(st.integers(0, PTR_SPAN - 1))
                disp = _le(DATA_BASE - CODE_BASE + off, 4)
            else:
                disp = _le(_ptr_disp32(draw), 4)
        if mod == 1:
            disp = _disp8(draw)
        elif mod == 2:
            if chance(draw, 95):
                disp = _le(draw(st.integers(-0x400, 0x400)), 4)
            else:
                disp = _le(draw(st.integers(0, 0xFFFFFFFF)), 4)
    return (mod << 6) | (r << 3) | rm, sib, disp


def modrm_insn(draw, ctx, family, opcode, *, reg=None, mem="any", imm=0, byte=False,
               p66=True, lock=False, rep=False, noise_rep=True, rex_w=None, rex=True):
    """Build a ModRM instruction; `imm` is a size in bytes or 'z' (2/4 by
    operand size)."""
    pre = draw_prefixes(draw, ctx, p66=p66, rep=rep, noise_rep=noise_rep and not rep)
    rx = draw_rex(draw, ctx, w=rex_w) if rex else None
    if rex_w is True and ctx.mode == 64 and rx is None:
        rx = 0x48
    modrm, sib, disp = draw_modrm(draw, ctx, pre, rx, reg=reg, mem=mem)
    # LOCK: often where legal (memory destination of a lockable instruction),
    # rarely elsewhere (#UD expected)
    if lock is True and (modrm >> 6) != 3 and chance(draw, 30) or lock and chance(draw, 2):
        pre = [p for p in pre if not 0x40 <= p <= 0x4F]
        pre.insert(draw(st.integers(0, len(pre))), 0xF0)
        if rep in (0xF2, 0xF3):
            pre.remove(rep)
            pre.append(rep)
    if imm == "z":
        imm = 2 if _opsize(ctx.mode, pre, rx, byte) == 16 else 4
    return Insn(family, bytes(opcode), pre, rx, modrm, sib, disp, _imm(draw, imm) if imm else b"")


def plain_insn(draw, ctx, family, opcode, *, imm=b"", p66=True, rex=True, seg=True,
               rep=False, noise_rep=False, p67=False):
    pre = draw_prefixes(draw, ctx, p66=p66, p67=p67, seg=seg, rep=rep, noise_rep=noise_rep)
    rx = draw_rex(draw, ctx, percent=30) if rex else None
    return Insn(family, bytes(opcode), pre, rx, imm=imm)


_DROPPABLE = (lambda p: 0x40 <= p <= 0x4F,                 # stale REX
              lambda p: p in (0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65),
              lambda p: p == 0xF0)


def fit15(insn: Insn) -> Insn:
    """Drop prefixes that do not change the encoding's length rules (stale
    REX, segment overrides, LOCK, F2/F3 noise) until the instruction is at
    most 15 bytes long (longer ones #GP on hardware: legal, but not what a
    family is meant to test)."""
    rep_ok = insn.family in ("xcnt", "string")
    preds = _DROPPABLE + (() if rep_ok else (lambda p: p in (0xF2, 0xF3),))
    for pred in preds:
        while len(insn) > 15:
            k = next((k for k, p in enumerate(insn.prefixes) if pred(p)), None)
            if k is None:
                break
            del insn.prefixes[k]
    return insn


# ---------------------------------------------------------------------------
# Families

SHIFT_COUNTS = st.one_of(st.integers(0, 33), st.sampled_from((0x1F, 0x20, 0x3F, 0x40, 0x41, 0xFF,
                                                              7, 8, 9, 15, 16, 17)),
                         st.integers(0, 255))


def f_alu(draw, ctx):
    op = draw(st.integers(0, 7))
    form = draw(st.integers(0, 5))
    opc = (op << 3) | form
    if form < 4:
        # LOCK is legal on the memory-destination forms except CMP
        lock = True if form < 2 and op != 7 else "maybe"
        i = modrm_insn(draw, ctx, "alu", [opc], byte=form % 2 == 0, lock=lock)
        return [i]
    pre = draw_prefixes(draw, ctx, lock="maybe")
    rx = draw_rex(draw, ctx)
    n = 1 if form == 4 else (2 if _opsize(ctx.mode, pre, rx) == 16 else 4)
    return [Insn("alu", bytes([opc]), pre, rx, imm=_imm(draw, n))]


def f_alu_imm(draw, ctx):
    opc = draw(st.sampled_from((0x80, 0x81, 0x83, 0x82) if ctx.mode == 32 else (0x80, 0x81, 0x83)))
    r = draw(st.integers(0, 7))
    return [modrm_insn(draw, ctx, "alu_imm", [opc], reg=r, imm="z" if opc == 0x81 else 1,
                       byte=opc in (0x80, 0x82), lock=True if r != 7 else "maybe")]


def f_incdec(draw, ctx):
    if ctx.mode == 32 and chance(draw, 30):
        return [plain_insn(draw, ctx, "incdec", [0x40 + draw(st.integers(0, 15))], rex=False)]
    opc = draw(st.sampled_from((0xFE, 0xFF)))
    return [modrm_insn(draw, ctx, "incdec", [opc], reg=draw(st.integers(0, 1)), byte=opc == 0xFE,
                       lock=True)]


def f_not_neg(draw, ctx):
    opc = draw(st.sampled_from((0xF6, 0xF7)))
    return [modrm_insn(draw, ctx, "not_neg", [opc], reg=draw(st.integers(2, 3)), byte=opc == 0xF6,
                       lock=True)]


def f_test(draw, ctx):
    k = draw(st.integers(0, 2))
    if k == 0:
        return [modrm_insn(draw, ctx, "test", [draw(st.sampled_from((0x84, 0x85)))], lock="maybe")]
    if k == 1:
        opc = draw(st.sampled_from((0xA8, 0xA9)))
        pre = draw_prefixes(draw, ctx)
        rx = draw_rex(draw, ctx)
        n = 1 if opc == 0xA8 else (2 if _opsize(ctx.mode, pre, rx) == 16 else 4)
        return [Insn("test", bytes([opc]), pre, rx, imm=_imm(draw, n))]
    opc = draw(st.sampled_from((0xF6, 0xF7)))
    return [modrm_insn(draw, ctx, "test", [opc], reg=0, imm=1 if opc == 0xF6 else "z", byte=opc == 0xF6)]


def f_mul(draw, ctx):
    k = draw(st.integers(0, 3))
    if k == 0:
        opc = draw(st.sampled_from((0xF6, 0xF7)))
        return [modrm_insn(draw, ctx, "mul", [opc], reg=draw(st.integers(4, 5)), byte=opc == 0xF6)]
    if k == 1:
        return [modrm_insn(draw, ctx, "mul", [0x0F, 0xAF])]
    if k == 2:
        return [modrm_insn(draw, ctx, "mul", [0x69], imm="z")]
    return [modrm_insn(draw, ctx, "mul", [0x6B], imm=1)]


def f_div(draw, ctx):
    opc = draw(st.sampled_from((0xF6, 0xF7)))
    return [modrm_insn(draw, ctx, "div", [opc], reg=draw(st.integers(6, 7)), byte=opc == 0xF6)]


def f_shift(draw, ctx):
    opc = draw(st.sampled_from((0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3)))
    r = draw(st.sampled_from((0, 1, 2, 3, 4, 5, 7)))
    i = modrm_insn(draw, ctx, "shift", [opc], reg=r, byte=opc % 2 == 0)
    if opc in (0xC0, 0xC1):
        i.imm = _le(draw(SHIFT_COUNTS), 1)
    return [i]


def f_shld(draw, ctx):
    opc = draw(st.sampled_from((0xA4, 0xA5, 0xAC, 0xAD)))
    i = modrm_insn(draw, ctx, "shld", [0x0F, opc])
    if opc in (0xA4, 0xAC):
        c = draw(SHIFT_COUNTS)
        if _opsize(ctx.mode, i.prefixes, i.rex) == 16 and (c & 0x1F) > 16:
            c = c & 0x0F                       # count > 16: undefined result
        i.imm = _le(c, 1)
    return [i]


def f_bt(draw, ctx):
    if chance(draw, 40):
        r = draw(st.integers(4, 7))
        i = modrm_insn(draw, ctx, "bt", [0x0F, 0xBA], reg=r, imm=1, lock=True if r != 4 else "maybe")
        return [i]
    opc = draw(st.sampled_from((0xA3, 0xAB, 0xB3, 0xBB)))
    return [modrm_insn(draw, ctx, "bt", [0x0F, opc], lock=True if opc != 0xA3 else "maybe")]


def f_bitscan(draw, ctx):
    opc = draw(st.sampled_from((0xBC, 0xBD)))
    i = modrm_insn(draw, ctx, "bitscan", [0x0F, opc], noise_rep=False)
    if ctx.mode == 64 and _opsize(64, i.prefixes, i.rex) == 32:
        # With a zero source the destination is undefined (SDM); hardware and
        # Unicorn keep its low half but may or may not zero-extend it.  Make
        # the upper half zero first (MOV r32, r32) so both readings agree.
        r = ((i.modrm >> 3) & 7) | (8 if i.rex and i.rex & 4 else 0)
        setup = Insn("setup", b"\x89", rex=0x45 if r >= 8 else None,
                     modrm=0xC0 | ((r & 7) << 3) | (r & 7))
        i.head = False
        return [setup, i]
    return [i]


def f_xcnt(draw, ctx):
    opc = draw(st.sampled_from((0xB8, 0xBC, 0xBD)))
    return [modrm_insn(draw, ctx, "xcnt", [0x0F, opc], rep=0xF3)]


def f_bswap(draw, ctx):
    return [plain_insn(draw, ctx, "bswap", [0x0F, 0xC8 + draw(st.integers(0, 7))], p66=False)]


def f_convert(draw, ctx):
    return [plain_insn(draw, ctx, "convert", [draw(st.sampled_from((0x98, 0x99)))])]


def f_bcd(draw, ctx):
    opc = draw(st.sampled_from((0x27, 0x2F, 0x37, 0x3F, 0xD4, 0xD5)))
    imm = b""
    if opc in (0xD4, 0xD5):
        imm = _le(draw(st.one_of(st.just(10), st.just(10), st.integers(0, 255))), 1)
    return [plain_insn(draw, ctx, "bcd", [opc], imm=imm, rex=False)]


def f_mov(draw, ctx):
    k = draw(st.integers(0, 4))
    if k == 0:
        return [modrm_insn(draw, ctx, "mov", [draw(st.sampled_from((0x88, 0x89, 0x8A, 0x8B)))])]
    if k == 1:
        opc = draw(st.sampled_from((0xC6, 0xC7)))
        return [modrm_insn(draw, ctx, "mov", [opc], reg=0, imm=1 if opc == 0xC6 else "z",
                           byte=opc == 0xC6)]
    if k == 2:
        r = draw(st.integers(0, 7))
        pre = draw_prefixes(draw, ctx)
        rx = draw_rex(draw, ctx)
        return [Insn("mov", bytes([0xB0 + r]), pre, rx, imm=_imm(draw, 1))]
    if k == 3:
        r = draw(st.integers(0, 7))
        pre = draw_prefixes(draw, ctx)
        rx = draw_rex(draw, ctx)
        sz = _opsize(ctx.mode, pre, rx) // 8
        return [Insn("mov", bytes([0xB8 + r]), pre, rx, imm=_imm(draw, sz))]
    # A0-A3: moffs
    opc = draw(st.sampled_from((0xA0, 0xA1, 0xA2, 0xA3)))
    pre = draw_prefixes(draw, ctx, p67=False)
    rx = draw_rex(draw, ctx)
    asz = 8 if ctx.mode == 64 else 4
    return [Insn("mov", bytes([opc]), pre, rx, imm=_le(_ptr_disp32(draw), asz))]


def f_movx(draw, ctx):
    if ctx.mode == 64 and chance(draw, 25):
        return [modrm_insn(draw, ctx, "movx", [0x63])]
    opc = draw(st.sampled_from((0xB6, 0xB7, 0xBE, 0xBF)))
    return [modrm_insn(draw, ctx, "movx", [0x0F, opc], noise_rep=False)]


def f_lea(draw, ctx):
    return [modrm_insn(draw, ctx, "lea", [0x8D], mem="reg" if chance(draw, 3) else "mem")]


def f_xchg(draw, ctx):
    if chance(draw, 30):
        r = draw(st.integers(1, 7))
        return [plain_insn(draw, ctx, "xchg", [0x90 + r])]
    opc = draw(st.sampled_from((0x86, 0x87)))
    return [modrm_insn(draw, ctx, "xchg", [opc], byte=opc == 0x86, lock=True)]


def f_cmpxchg(draw, ctx):
    if chance(draw, 25):
        w = ctx.mode == 64 and chance(draw, 30)
        return [modrm_insn(draw, ctx, "cmpxchg", [0x0F, 0xC7], reg=1, mem="mem", lock=True,
                           rex_w=w, p66=False, noise_rep=False)]
    opc = draw(st.sampled_from((0xB0, 0xB1)))
    return [modrm_insn(draw, ctx, "cmpxchg", [0x0F, opc], byte=opc == 0xB0, lock=True,
                       noise_rep=False)]


def f_xadd(draw, ctx):
    opc = draw(st.sampled_from((0xC0, 0xC1)))
    return [modrm_insn(draw, ctx, "xadd", [0x0F, opc], byte=opc == 0xC0, lock=True, noise_rep=False)]


def f_push_pop(draw, ctx):
    k = draw(st.integers(0, 7))
    if k == 0:
        return [plain_insn(draw, ctx, "push_pop", [0x50 + draw(st.integers(0, 7))])]
    if k == 1:
        return [plain_insn(draw, ctx, "push_pop", [0x58 + draw(st.integers(0, 7))])]
    if k == 2:
        return [plain_insn(draw, ctx, "push_pop", [0x6A], imm=_imm(draw, 1))]
    if k == 3:
        pre = draw_prefixes(draw, ctx)
        rx = draw_rex(draw, ctx)
        p16 = 0x66 in pre and not (rx is not None and rx & 8)     # REX.W wins over 66
        return [Insn("push_pop", b"\x68", pre, rx, imm=_imm(draw, 2 if p16 else 4))]
    if k == 4:
        return [modrm_insn(draw, ctx, "push_pop", [0xFF], reg=6)]
    if k == 5:
        return [modrm_insn(draw, ctx, "push_pop", [0x8F], reg=0)]
    if k == 6:
        if ctx.mode == 32 and chance(draw, 50):
            return [plain_insn(draw, ctx, "push_pop", [draw(st.sampled_from((0x60, 0x61)))], rex=False)]
        return [plain_insn(draw, ctx, "push_pop", [0xC9])]                 # LEAVE
    imm = _le(draw(st.sampled_from((0, 8, 0x10, 0x104))), 2) + bytes([draw(st.integers(0, 3))])
    return [plain_insn(draw, ctx, "push_pop", [0xC8], imm=imm)]          # ENTER


def f_pushf_popf(draw, ctx):
    if chance(draw, 50):
        return [plain_insn(draw, ctx, "pushf_popf", [0x9C], p66=False)]
    # PUSH imm32 ; POPF with only the arithmetic flags and DF, and IF set
    # (no TF/AC...): IF as the host oracle's user mode has it (see IF)
    v = 0x2 | IF | draw(st.integers(0, 0xFFF)) & (ARITH | DF)
    push = Insn("pushf_popf", b"\x68", imm=_le(v, 4))
    popf = Insn("pushf_popf", b"\x9D", head=False)
    return [push, popf]


def f_lahf_sahf(draw, ctx):
    return [plain_insn(draw, ctx, "lahf_sahf", [draw(st.sampled_from((0x9E, 0x9F)))])]


def f_cmov(draw, ctx):
    return [modrm_insn(draw, ctx, "cmov", [0x0F, 0x40 + draw(st.integers(0, 15))], noise_rep=False)]


def f_setcc(draw, ctx):
    return [modrm_insn(draw, ctx, "setcc", [0x0F, 0x90 + draw(st.integers(0, 15))], byte=True,
                       noise_rep=False)]


def f_movbe(draw, ctx):
    opc = draw(st.sampled_from((0xF0, 0xF1)))
    return [modrm_insn(draw, ctx, "movbe", [0x0F, 0x38, opc], mem="mem", noise_rep=False)]


def f_flagops(draw, ctx):
    return [plain_insn(draw, ctx, "flagops", [draw(st.sampled_from((0xF5, 0xF8, 0xF9, 0xFC, 0xFD)))])]


def f_string(draw, ctx):
    opc = draw(st.sampled_from((0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF)))
    out = []
    rep = draw(st.sampled_from((None, 0xF3, 0xF3, 0xF2)))
    if chance(draw, 25):
        out.append(Insn("setup", b"\xBE", imm=_le(DATA_BASE + draw(st.integers(0, PTR_SPAN - 1)), 4)))
    if chance(draw, 25):
        out.append(Insn("setup", b"\xBF", imm=_le(DATA_BASE + draw(st.integers(0, PTR_SPAN - 1)), 4)))
    if rep is not None:
        out.append(Insn("setup", b"\xB9", imm=_le(draw(st.integers(0, 16)), 4)))
    pre = draw_prefixes(draw, ctx, rep=rep if rep is not None else False, p67=True)
    rx = draw_rex(draw, ctx, percent=30)
    out.append(Insn("string", bytes([opc]), pre, rx))
    for i in out[1:]:
        i.head = False
    return out


def f_xlat(draw, ctx):
    return [plain_insn(draw, ctx, "xlat", [0xD7], p67=True)]


def f_branch(draw, ctx):
    k = draw(st.integers(0, 5))
    if k == 0:
        i = Insn("branch", bytes([0x70 + draw(st.integers(0, 15))]), rel_size=1)
    elif k == 1:
        i = Insn("branch", bytes([0x0F, 0x80 + draw(st.integers(0, 15))]), rel_size=4)
    elif k == 2:
        i = Insn("branch", b"\xEB", rel_size=1)
    elif k == 3:
        i = Insn("branch", b"\xE9", rel_size=4)
    elif k == 4:
        i = Insn("branch", bytes([0xE0 + draw(st.integers(0, 3))]), rel_size=1)
        if chance(draw, 20):
            i.prefixes.append(0x67)
    else:
        i = Insn("branch", b"\xE8", rel_size=4)
    if ctx.mode == 64 and chance(draw, 20):
        i.rex = 0x40 | draw(st.integers(0, 15))
    return [i]


def f_nop(draw, ctx):
    if chance(draw, 50):
        return [plain_insn(draw, ctx, "nop", [0x90], rex=False)]
    return [modrm_insn(draw, ctx, "nop", [0x0F, 0x1F], reg=0, noise_rep=False)]


def f_undoc(draw, ctx):
    """Aliases the SDM opcode map does not list: SAL /6 (= SHL), 82 (= 80,
    32-bit only), SALC (D6, 32-bit only).  (F6/F7 /1, a TEST alias on real
    CPUs, is left out: Unicorn raises #UD for it and the SDM calls it
    reserved.)"""
    k = draw(st.integers(1, 3 if ctx.mode == 32 else 1))
    if k == 1:
        opc = draw(st.sampled_from((0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3)))
        i = modrm_insn(draw, ctx, "undoc", [opc], reg=6, byte=opc % 2 == 0)
        if opc in (0xC0, 0xC1):
            i.imm = _le(draw(SHIFT_COUNTS), 1)
        return [i]
    if k == 2:
        return [modrm_insn(draw, ctx, "undoc", [0x82], reg=draw(st.integers(0, 7)), imm=1, byte=True)]
    return [plain_insn(draw, ctx, "undoc", [0xD6], rex=False)]


@functools.lru_cache(maxsize=None)
def _sse_rows():
    """The SSE floating-point rows the family draws from (RCP/RSQRT too: the
    campaign compares them by the SDM's error bound, emu/fuzz/approx.py)."""
    from emu.fuzz.sse_cases import fp_rows
    return tuple(fp_rows())


_MAP_PREFIX = {0: b"", 1: b"\x0f", 2: b"\x0f\x38", 3: b"\x0f\x3a"}
_MAP_NUMBER = {0: 0, 1: 0x0F00, 2: 0x0F3800, 3: 0x0F3A00}     # the numbering of Family.opcodes


def _row_opcodes(row_file):
    """Family.opcodes of the rows of emu/isa/<row_file>."""
    from emu.isa.table import rows
    return tuple(sorted({_MAP_NUMBER[r.map] | r.op for r in rows() if r.where.startswith(row_file)}))


def _row_insn(draw, ctx, family, rows):
    """One of `rows` (opcode-table rows): its mandatory prefix, REX (REX.W
    where the row wants it), a register or memory operand, an imm8."""
    r = rows[draw(st.integers(0, len(rows) - 1))]
    pre = [] if r.prefix in (None, "NP") else [int(r.prefix, 16)]
    if chance(draw, 10):        # (not FS/GS: the host oracle refuses them)
        pre.insert(0, draw(st.sampled_from((0x26, 0x2E, 0x36, 0x3E) if ctx.mode == 64
                                           else (0x26, 0x36, 0x3E))))
    rx = draw_rex(draw, ctx, w=True if r.rexw else None)
    if r.rexw and rx is None:
        rx = 0x48
    if r.modrm is None:
        modrm, sib, disp = None, None, b""
    elif isinstance(r.modrm, tuple):
        step = draw(st.integers(0, 7)) if r.modrm[0] == "plus_i" else 0
        modrm, sib, disp = r.modrm[1] + step, None, b""
    else:
        mem = "any" if (r.reg_handler and r.mem_handler) else ("reg" if r.reg_handler else "mem")
        modrm, sib, disp = draw_modrm(draw, ctx, pre, rx, reg=r.modrm if isinstance(r.modrm, int)
                                      else None, mem=mem)
    imm = _imm(draw, 1) if r.imm == "ib" else b""
    return [Insn(family, _MAP_PREFIX[r.map] + bytes([r.op]), pre, rx, modrm, sib, disp, imm)]


def f_sse_fp(draw, ctx):
    """One row of emu/isa/simd_fp.py."""
    return _row_insn(draw, ctx, "sse_fp", _sse_rows())


@functools.lru_cache(maxsize=None)
def _simd_int_rows():
    from emu.isa.table import rows
    return tuple(r for r in rows() if r.where.startswith("simd_int.py"))


def f_simd_int(draw, ctx):
    """One row of emu/isa/simd_int.py (MMX, SSE2-SSE4.2 integer)."""
    return _row_insn(draw, ctx, "simd_int", _simd_int_rows())


@functools.lru_cache(maxsize=None)
def _x87_rows():
    """The x87 rows (emu/isa/x87.py) but FNSTENV and FNSAVE, which store
    the instruction and data pointers each engine reports its own way (the
    host oracle refuses them; tests/test_x87.py covers them)."""
    from emu.isa.table import rows
    return tuple(r for r in rows() if r.where.startswith("x87.py")
                 and r.mem_handler not in ("h_fnstenv", "h_fnsave"))


def f_x87(draw, ctx):
    """One row of emu/isa/x87.py, from a random x87 state (Case.fpu)."""
    return _row_insn(draw, ctx, "x87", _x87_rows())


@dataclass(frozen=True)
class Family:
    name: str
    fn: object
    weight: int
    opcodes: tuple            # primary opcodes: 0x00-0xFF, 0x0Fxx, 0x0F38xx
    modes: tuple = (32, 64)
    fp: bool = False          # x87/SSE: cases with it carry an FP state (Case.fpu)


def _r(a, b):
    return tuple(range(a, b + 1))


def _rows_of(*handlers, only=lambda r: True):
    """The primary opcodes of the opcode table's rows run by `handlers`
    (and passing `only`)."""
    from emu.isa.table import rows
    out = set()
    for r in rows():
        if (r.reg_handler in handlers or r.mem_handler in handlers) and only(r):
            out.update(_MAP_NUMBER[m] | op for m, op in r.opcodes)
    return tuple(sorted(out))


def _alu(*forms):
    return tuple(f"h_{op.lower()}_{f}" for op in ALU for f in forms)


def _one_byte_below(limit):
    return lambda r: r.map == 0 and r.op < limit


FAMILIES = {f.name: f for f in (
    Family("alu", f_alu, 10, _rows_of(*_alu("EG", "GE", "EI"), only=_one_byte_below(0x40))),
    Family("alu_imm", f_alu_imm, 8, _rows_of(*_alu("EI"), only=lambda r: r.has_modrm)),
    Family("incdec", f_incdec, 3, _rows_of("h_inc", "h_dec")),
    Family("not_neg", f_not_neg, 3, _rows_of("h_not", "h_neg")),
    Family("test", f_test, 3, _rows_of("h_test_EG", "h_test_EI")),
    Family("mul", f_mul, 5, _rows_of("h_mul", "h_imul1", "h_imul_GE", "h_imul_GEI")),
    Family("div", f_div, 4, _rows_of("h_div", "h_idiv")),
    Family("shift", f_shift, 8, _rows_of("h_rol", "h_ror", "h_rcl", "h_rcr", "h_shl", "h_shr",
                                         "h_sar")),
    Family("shld", f_shld, 4, _rows_of("h_shld", "h_shrd")),
    Family("bt", f_bt, 4, _rows_of("h_bt", "h_bts", "h_btr", "h_btc", "h_bt_I", "h_bts_I",
                                   "h_btr_I", "h_btc_I")),
    Family("bitscan", f_bitscan, 3, _rows_of("h_bsf", "h_bsr")),
    Family("xcnt", f_xcnt, 3, _rows_of("h_popcnt", "h_tzcnt", "h_lzcnt")),
    Family("bswap", f_bswap, 2, _rows_of("h_bswap")),
    Family("convert", f_convert, 2, _rows_of("h_cbw", "h_cwd")),
    Family("bcd", f_bcd, 3, _rows_of("h_daa", "h_das", "h_aaa", "h_aas", "h_aam", "h_aad"),
           modes=(32,)),
    Family("mov", f_mov, 6, _rows_of("h_mov_EG", "h_mov_GE", "h_mov_EI")),
    Family("movx", f_movx, 3, _rows_of("h_movzx", "h_movsx", "h_movsxd_arpl")),
    Family("lea", f_lea, 3, _rows_of("h_lea")),
    Family("xchg", f_xchg, 3, tuple(o for o in _rows_of("h_xchg", "h_xchg_ax") if o != 0x90)),  # 90: NOP
    Family("cmpxchg", f_cmpxchg, 3, _rows_of("h_cmpxchg", "h_cmpxchg8b")),
    Family("xadd", f_xadd, 2, _rows_of("h_xadd")),
    Family("push_pop", f_push_pop, 5, _rows_of("h_push_r", "h_pop_r", "h_push_I", "h_push_E",
                                               "h_pop_E", "h_pusha", "h_popa", "h_enter",
                                               "h_leave")),
    Family("pushf_popf", f_pushf_popf, 2, _rows_of("h_pushf", "h_popf")),
    Family("lahf_sahf", f_lahf_sahf, 2, _rows_of("h_lahf", "h_sahf")),
    Family("cmov", f_cmov, 4, _rows_of("h_cmov")),
    Family("setcc", f_setcc, 3, _rows_of("h_setcc")),
    Family("movbe", f_movbe, 2, _rows_of("h_movbe")),
    Family("flagops", f_flagops, 2, _rows_of("h_cmc", "h_clc", "h_stc", "h_cld", "h_std")),
    Family("string", f_string, 4, _rows_of("h_movs", "h_cmps", "h_stos", "h_lods", "h_scas")),
    Family("xlat", f_xlat, 1, _rows_of("h_xlat")),
    Family("branch", f_branch, 5, _rows_of("h_jcc", "h_jmp_rel", "h_call_rel", "h_loop",
                                           "h_jcxz")),
    # NOP is 90 without REX.B (a decoder rule, no row of its own) and 0F 1F /0.
    Family("nop", f_nop, 1, (0x90,) + _rows_of("h_nop", only=lambda r: r.op == 0x1F)),
    # aliases: SAL /6, 82, SALC
    Family("undoc", f_undoc, 1, _rows_of("h_shl", only=lambda r: r.modrm_reg == 6)
           + _rows_of("h_salc") + (0x82,)),
    # opt-in (weight 0): drawn when named in families= or given a weight
    Family("sse_fp", f_sse_fp, 0, _row_opcodes("simd_fp.py"), fp=True),
    Family("simd_int", f_simd_int, 0, _row_opcodes("simd_int.py"), fp=True),
    Family("x87", f_x87, 0, _row_opcodes("x87.py"), fp=True),
)}


def family_names(mode: int, opt_in: bool = False):
    """The families of `mode`; the opt-in ones (weight 0: the x87 and SIMD
    families, whose cases carry an FP state) only with `opt_in`."""
    return [n for n, f in FAMILIES.items() if mode in f.modes and (f.weight or opt_in)]


def _select(mode, families=None, weights=None, opcode_range=None):
    names = [n for n in (families or family_names(mode, opt_in=opcode_range is not None))
             if mode in FAMILIES[n].modes]
    if opcode_range is not None:
        lo, hi = opcode_range
        names = [n for n in names if any(lo <= o <= hi for o in FAMILIES[n].opcodes)]
    if not names:
        raise ValueError("no instruction family selected for mode %d" % mode)
    # opt-in families (weight 0) count when named or chosen by opcode range
    explicit = 1 if families or opcode_range else 0
    w = [max(0, (weights or {}).get(n, FAMILIES[n].weight or explicit)) for n in names]
    return names, w


def instruction_groups(mode: int, families=None, weights=None, opcode_range=None):
    """Strategy: one instruction bundle (a list of Insn: the instruction and
    any setup it needs), drawn from the selected families."""
    names, w = _select(mode, families, weights, opcode_range)
    total = sum(w)
    ctx = Ctx(mode)
    if total <= 0:
        raise ValueError("all weights are zero")

    @st.composite
    def one(draw):
        x = draw(st.integers(0, total - 1))
        for n, wt in zip(names, w):
            if x < wt:
                return FAMILIES[n].fn(draw, ctx)
            x -= wt
        raise AssertionError

    return one()


# ---------------------------------------------------------------------------
# Registers and data


def _specials(mode):
    v = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
    if mode == 64:
        v += [0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0x100000000,
              0xFFFFFFFF80000000]
    return v


@functools.lru_cache(maxsize=None)
def reg_value(mode: int):
    """A register value: mostly a pointer into the scratch area or a small
    number (usable as an index), sometimes special or random."""
    ptr = st.integers(0, PTR_SPAN - 1).map(lambda o: DATA_BASE + o)
    small = st.integers(0, 64)
    rnd = st.integers(0, (1 << mode) - 1)
    if mode == 64:
        # mostly canonical random values, sometimes anything
        canon = st.integers(-(1 << 47), (1 << 47) - 1).map(lambda v: v & ((1 << 64) - 1))
        rnd = st.one_of(st.integers(0, 0xFFFFFFFF), canon, canon, rnd)
    return st.one_of(ptr, ptr, small, ptr, small, st.sampled_from(_specials(mode)), rnd, rnd)


@functools.lru_cache(maxsize=None)
def eflags_value():
    """Random arithmetic flags and DF; IF set (see IF)."""
    return st.builds(lambda a, d: 0x2 | IF | (a & ARITH) | (DF if d else 0),
                     st.integers(0, 0xFFF), st.integers(0, 9).map(lambda x: x == 9))


@functools.lru_cache(maxsize=None)
def address_value(mode: int, role: str):
    """A value for a register that addresses memory: a pointer into the
    scratch area for a base, a small number for an index or a BT bit offset;
    sometimes anything."""
    ptr = st.integers(0, PTR_SPAN - 1).map(lambda o: DATA_BASE + o)
    if role == "base":
        return st.one_of(ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, reg_value(mode))
    if role == "index":
        small = st.integers(0, 64)
        return st.one_of(small, small, small, small, small, small, small, small, reg_value(mode))
    # bit offset of BT* with a memory operand: signed, within a few KiB
    bits = st.integers(-0x800, 0x4000).map(lambda v: v & ((1 << mode) - 1))
    return st.one_of(bits, bits, bits, bits, bits, bits, bits, bits, reg_value(mode))


_ROLE_RANK = {"bitoff": 0, "index": 1, "base": 2}


def address_registers(code: bytes, mode: int) -> dict:
    """{register index: role} for the registers `code` uses to address
    memory: ModRM base ('base') and SIB index ('index'), RSI/RDI of string
    instructions, RBX of XLAT, RBP of LEAVE/ENTER ('base'), the bit offset of
    BT* with a memory operand ('bitoff')."""
    out = {}

    def add(r, role):
        if _ROLE_RANK[role] > _ROLE_RANK.get(out.get(r), -1):
            out[r] = role
    for d in decode_all(code, mode)[0]:
        if d.is_mem and d.mnemonic not in ("LEA", "NOP"):
            if d.addrsize == 16:
                pass                       # (BX|BP)+(SI|DI)+disp16 wraps at 64 KiB: always RAM
            elif d.sib is not None:
                idx = ((d.sib >> 3) & 7) | ((d.rex & 2) << 2)
                if idx != 4:
                    add(idx, "index")
                if not (d.mod == 0 and d.sib & 7 == 5):
                    add((d.sib & 7) | ((d.rex & 1) << 3), "base")
            elif not (d.mod == 0 and d.modrm & 7 == 5):
                add((d.modrm & 7) | ((d.rex & 1) << 3), "base")
            if d.mnemonic in ("BT", "BTS", "BTR", "BTC") and d.map == 1 and d.op != 0xBA:
                add(d.reg, "bitoff")
        if d.mnemonic in ("MOVS", "CMPS", "LODS"):
            add(6, "base")
        if d.mnemonic in ("MOVS", "CMPS", "STOS", "SCAS"):
            add(7, "base")
        if d.mnemonic == "XLAT":
            add(3, "base")
        if d.mnemonic in ("LEAVE", "ENTER"):
            add(5, "base")
    return out


@st.composite
def registers(draw, mode: int, address_regs=None):
    """Initial registers for a case (always with the stack pointer at
    STACK_TOP).  Registers in `address_regs` ({index: role}, see
    address_registers) get values of their role most of the time; in about
    one case in ten all registers are wild."""
    names = gpr_names(mode)
    address_regs = address_regs or {}
    wild = chance(draw, 8)
    regs = {}
    for k, n in enumerate(names):
        if k in address_regs and not wild:
            regs[n] = draw(address_value(mode, address_regs[k]))
        else:
            regs[n] = draw(reg_value(mode))
    regs[names[4]] = STACK_TOP
    regs["eflags"] = draw(eflags_value())
    return regs


@st.composite
def scratch_data(draw, size: int = DATA_FILL):
    """Initial scratch contents, made from a drawn seed (hypothesis' buffer
    is too small to draw kilobytes byte by byte)."""
    style = draw(st.sampled_from(("random", "random", "random", "random", "zero", "small", "pattern")))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = random.Random(seed)
    if style == "zero":
        return bytes(size)
    if style == "small":
        return bytes(rng.choice((0, 0, 1, 2, 0x80, 0xFF)) for _ in range(size))
    if style == "pattern":
        pat = rng.randbytes(rng.randint(1, 16))
        return (pat * (size // len(pat) + 1))[:size]
    return rng.randbytes(size)


# ---------------------------------------------------------------------------
# Cases


def _fix_sequence(draw, mode, insns, regs):
    """Insert CMP r,r before readers of possibly-undefined flags and MOV CL,n
    before 16-bit SHLD/SHRD by CL that could get a count > 16."""
    for _ in range(24):
        code = assemble(insns)
        fa = analyze(code, mode, regs)
        problems = [(o, "flags") for o, _, _ in fa.consumed] + [(o, "dest") for o, _ in fa.undefined_dest]
        if not problems:
            return insns, code
        off, kind = min(problems)
        pos = 0
        k = None
        for j, i in enumerate(insns):
            if pos == off:
                k = j
                break
            pos += len(i)
        if k is None:
            break
        bad = insns[k]
        if kind == "flags":
            r1, r2 = draw(st.integers(0, 7)), draw(st.integers(0, 7))
            fix = Insn("fix", b"\x39", modrm=0xC0 | (r1 << 3) | r2)
        elif bad.opcode[:2] in (b"\x0f\xa5", b"\x0f\xad"):
            fix = Insn("fix", b"\xB1", imm=bytes([draw(st.integers(0, 16))]))
        else:
            break
        for i in insns:
            if i.target is bad:
                i.target = fix
        fix.head = bad.head
        bad.head = False
        insns.insert(k, fix)
    assume(False)


def _is_approximation(i: Insn) -> bool:
    """RCPPS/RCPSS/RSQRTPS/RSQRTSS (0F 52/53 without 66/F2)."""
    return i.opcode in (b"\x0f\x52", b"\x0f\x53") and not {0x66, 0xF2} & set(i.prefixes)


def _approximation_last(insns):
    """At most one RCP/RSQRT, moved to the end: the campaign compares its
    result by the SDM's error bound (emu/fuzz/approx.py), which needs the
    approximation unconsumed by later instructions."""
    approx = [i for i in insns if _is_approximation(i)]
    if not approx:
        return insns
    return [i for i in insns if not _is_approximation(i)] + approx[-1:]


@st.composite
def code_and_regs(draw, mode: int, min_insns: int = 1, max_insns: int = 6, families=None,
                  weights=None, opcode_range=None, regs=None):
    n = draw(st.integers(min_insns, max_insns))
    groups = draw(st.lists(instruction_groups(mode, families, weights, opcode_range),
                           min_size=n, max_size=n))
    insns = _approximation_last([fit15(i) for g in groups for i in g])
    heads = [i for i in insns if i.head]
    for k, i in enumerate(insns):
        if i.rel_size:
            later = [h for h in heads if insns.index(h) > k]
            j = draw(st.integers(0, len(later)))
            i.target = later[j] if j < len(later) else END
    if regs is None:
        regs = draw(registers(mode, address_registers(assemble(insns), mode)))
    insns, code = _fix_sequence(draw, mode, insns, regs)
    fp = any(FAMILIES[i.family].fp for i in insns if i.family in FAMILIES)
    return code, regs, len(insns), fp


@st.composite
def cases(draw, mode: int, min_insns: int = 1, max_insns: int = 6, families=None, weights=None,
          opcode_range=None):
    """Strategy: a Case of `mode` (32 or 64) with a few structured instructions.

    families     -- restrict to these family names (see FAMILIES)
    weights      -- {family: weight} overriding the default weights (0 disables)
    opcode_range -- (lo, hi): only families with a primary opcode in the range;
                    two-byte opcodes are 0x0Fxx, three-byte 0x0F38xx
    """
    code, regs, n, fp = draw(code_and_regs(mode, min_insns, max_insns, families, weights, opcode_range))
    if fp:          # an x87/SSE instruction: special values, a random FP state
        return Case(mode=mode, code=code, regs=regs, data=draw(fp_scratch_data()), count=n + 4,
                    fpu=draw(fpu_image(mode)))
    data = draw(scratch_data())
    return Case(mode=mode, code=code, regs=regs, data=data, count=n + 4)


def raw_code(mode: int, max_size: int = 24):
    """Random bytes, optionally behind a few plausible prefixes."""
    prefix = st.lists(st.sampled_from((0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x3E, 0x26, 0x64, 0x65, 0x36)
                                      + ((0x40, 0x41, 0x44, 0x48, 0x4C, 0x4F) if mode == 64 else ())),
                      max_size=3).map(bytes)
    body = st.one_of(st.binary(min_size=1, max_size=max_size),
                     st.tuples(st.sampled_from((b"", b"\x0f", b"\x0f\x38", b"\x0f\x3a")),
                               st.binary(min_size=1, max_size=12)).map(lambda t: t[0] + t[1]))
    return st.tuples(prefix, body).map(lambda t: t[0] + t[1])


@st.composite
def raw_cases(draw, mode: int, max_size: int = 24):
    """Strategy: a Case whose code is (mostly) random bytes."""
    code = draw(raw_code(mode, max_size))
    regs = draw(registers(mode))
    data = draw(scratch_data())
    return Case(mode=mode, code=code, regs=regs, data=data, count=32)


# ---------------------------------------------------------------------------
# Floating-point and SIMD state (cases with Case.fpu; see emu.fuzz.fpstate)

def _float_specials(ebits: int, mbits: int):
    """Bit patterns of special values of a binary format (sign bit first,
    then ebits of exponent, then mbits of fraction): signed zeros, the
    smallest and largest denormals and normals, one, infinities, quiet and
    signalling NaNs with payloads, the default NaN."""
    sign = 1 << (ebits + mbits)
    emax = ((1 << ebits) - 1) << mbits
    quiet = 1 << (mbits - 1)
    frac = (1 << mbits) - 1
    one = ((1 << (ebits - 1)) - 1) << mbits
    pos = [0, 1, frac, 1 << mbits, emax - 1, one, one | 1, one - 1, one + (1 << mbits),
           emax, emax | quiet, emax | quiet | 1, emax | quiet | (frac >> 1), emax | 1,
           emax | (quiet >> 1), emax | frac]
    return pos + [v | sign for v in pos]


F32_SPECIALS = _float_specials(8, 23)
F64_SPECIALS = _float_specials(11, 52)
#: integer boundaries, the integer indefinite (0x80..0) among them
INT_SPECIALS = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF,
                0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0x4F000000, 0xCF000000,
                0x41DFFFFFFFC00000, 0xC1E0000000000000, 0x43E0000000000000)


def _float_lane(specials, bits):
    """A float of `bits` (32 or 64) bits: special, random bits, or a finite
    value of either sign within a few binades of one."""
    mbits, bias = (23, 127) if bits == 32 else (52, 1023)
    near = st.tuples(st.integers(0, 1), st.integers(bias - 24, bias + 24),
                     st.integers(0, (1 << mbits) - 1)).map(
        lambda t, m=mbits, b=bits: (t[0] << (b - 1)) | (t[1] << m) | t[2])
    return st.one_of(st.sampled_from(specials), st.sampled_from(specials),
                     st.integers(0, (1 << bits) - 1), near, near)


def _lanes(lane, n, width):
    return st.lists(lane, min_size=n, max_size=n).map(
        lambda vs, w=width: sum(v << (w * k) for k, v in enumerate(vs)))


@functools.lru_cache(maxsize=None)
def xmm_value():
    """A 128-bit register value: four singles, two doubles, integers at
    their boundaries, or random bits."""
    f32 = _float_lane(F32_SPECIALS, 32)
    f64 = _float_lane(F64_SPECIALS, 64)
    ints = st.sampled_from(INT_SPECIALS)
    return st.one_of(_lanes(f32, 4, 32), _lanes(f32, 4, 32), _lanes(f64, 2, 64), _lanes(f64, 2, 64),
                     _lanes(ints, 2, 64), _lanes(ints.map(lambda v: v & 0xFFFFFFFF), 4, 32),
                     st.integers(0, (1 << 128) - 1))


@functools.lru_cache(maxsize=None)
def mxcsr_value():
    """MXCSR: any rounding mode, DAZ and FTZ; exceptions mostly masked,
    sometimes one or all unmasked; sticky flags sometimes set."""
    masks = st.one_of(st.just(0x3F), st.just(0x3F), st.just(0x3F),
                      st.integers(0, 5).map(lambda k: 0x3F & ~(1 << k)), st.integers(0, 0x3F))
    flags = st.one_of(st.just(0), st.just(0), st.integers(0, 0x3F))
    return st.builds(lambda rc, daz, ftz, m, f: (rc << 13) | (daz << 6) | (ftz << 15) | (m << 7) | f,
                     st.integers(0, 3), st.integers(0, 1), st.integers(0, 1), masks, flags)


@functools.lru_cache(maxsize=None)
def fcw_value():
    """x87 control word: any precision and rounding control, exceptions
    mostly masked."""
    masks = st.one_of(st.just(0x3F), st.just(0x3F), st.integers(0, 0x3F))
    return st.builds(lambda pc, rc, m: 0x40 | (pc << 8) | (rc << 10) | m,
                     st.sampled_from((0, 2, 3, 3)), st.integers(0, 3), masks)


@functools.lru_cache(maxsize=None)
def f80_value():
    """An 80-bit extended real as (significand, sign_exponent): zeros,
    denormals and pseudo-denormals, normals, unnormals, infinities,
    pseudo-infinities, NaNs with payloads, the real indefinite, random."""
    sigs = st.sampled_from((0, 1, 1 << 63, (1 << 63) | 1, (1 << 64) - 1, 0xC000000000000000,
                            0xC000000000000001, 0xA000000000000000, 0x7FFFFFFFFFFFFFFF))
    exps = st.sampled_from((0, 1, 0x3FFF, 0x3FFE, 0x4000, 0x403E, 0x7FFE, 0x7FFF))
    special = st.tuples(sigs, st.integers(0, 1), exps).map(lambda t: (t[0], (t[1] << 15) | t[2]))
    normal = st.tuples(st.integers(0, (1 << 63) - 1), st.integers(0, 1), st.integers(0x3FF0, 0x4040)).map(
        lambda t: ((1 << 63) | t[0], (t[1] << 15) | t[2]))
    rnd = st.tuples(st.integers(0, (1 << 64) - 1), st.integers(0, 0xFFFF))
    return st.one_of(special, special, normal, normal, rnd)


@st.composite
def fpu_image(draw, mode: int = 64):
    """A starting x87/SSE state (an FXSAVE64 image): random MXCSR and FCW,
    special-value registers, some x87 registers empty, any TOP."""
    from .fpstate import make_image
    top = draw(st.integers(0, 7))
    tags = draw(st.one_of(st.just(0), st.just(0xFF), st.integers(0, 0xFF)))
    fsw = (top << 11) | draw(st.one_of(st.just(0), st.integers(0, 0x3F)))
    return make_image(fcw=draw(fcw_value()), fsw=fsw, ftw=tags, mxcsr=draw(mxcsr_value()),
                      st=draw(st.lists(f80_value(), min_size=8, max_size=8)),
                      xmm=draw(st.lists(xmm_value(), min_size=16, max_size=16)))


@st.composite
def fp_scratch_data(draw, size: int = DATA_FILL):
    """Scratch contents for FP operands in memory: special singles and
    doubles, or the usual random bytes."""
    if chance(draw, 30):
        return draw(scratch_data(size))
    rng = random.Random(draw(st.integers(0, 2 ** 32 - 1)))
    out = bytearray()
    while len(out) < size:
        if rng.random() < 0.5:
            out += rng.choice(F32_SPECIALS + [rng.getrandbits(32)]).to_bytes(4, "little")
        else:
            out += rng.choice(F64_SPECIALS + [rng.getrandbits(64)]).to_bytes(8, "little")
    return bytes(out[:size])
