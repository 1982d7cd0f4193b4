"""RCPPS, RCPSS, RSQRTPS, RSQRTSS: approximations the oracles compare by the
Intel SDM's error bound, not bit for bit.

The SDM allows any result within ``|relative error| <= 1.5 * 2**-12`` of the
exact reciprocal (square root), and CPU makers use different tables (an AMD
Zen 4 and an Intel Core give different bits for most inputs).  pvemu rounds
the exact value to 12 significant bits (error at most 2**-13, inside the
bound; see emu/sse_fp.pxi ``pv_s_rcp``).  Two results that both honour the
bound are within ``2 * 1.5 * 2**-12`` (relative) of each other, so a case
that ends with its only approximation and whose only differences are XMM
lanes that close is not a divergence (the generator puts the approximation
last, where nothing consumes it).
Special inputs (zeros, infinities, NaNs, negative RSQRT operands) have exact
results that the engines must still agree on bit for bit: their lanes
differ by more than the tolerance, or in class.
"""
from __future__ import annotations

import itertools
import struct

from .case import CODE_BASE, Case
from .insn import decode_all

#: The SDM's bound on the relative error of RCP* and RSQRT*.
SDM_BOUND = 1.5 * 2.0 ** -12
#: Two results each within SDM_BOUND of the exact value differ by at most this.
TOLERANCE = 2 * SDM_BOUND * (1 + SDM_BOUND)


def ends_with_approximation(case: Case) -> bool:
    """Is the last instruction of `case` RCPPS/RCPSS (0F 53) or
    RSQRTPS/RSQRTSS (0F 52) (no 66/F2 prefix: those encodings are other
    instructions or #UD), the only one of them in the case?  (The generator
    makes such cases: emu.fuzz.strategies._approximation_last.)  Then no
    instruction consumes the approximation and its lanes can be compared
    by the bound."""
    insns = decode_all(case.code, case.mode)[0]
    hits = [k for k, d in enumerate(insns) if d.map == 1 and d.op in (0x52, 0x53)
            and not {0x66, 0xF2} & set(d.prefixes)]
    return hits == [len(insns) - 1]


def _f32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def lanes_close(a: int, b: int) -> bool:
    """Are two single-precision bit patterns equal, or two finite nonzero
    values of one sign within TOLERANCE of each other (relative)?"""
    if a == b:
        return True
    if not (a ^ b) >> 31 and all(v & 0x7FFFFFFF == 0 or (v >> 23) & 0xFF == 1 for v in (a, b)):
        # RCP of 1.11111111110100000000000B * 2^125 <= |x| < 2^126: a tiny
        # result (flushed to 0) or the smallest normals, the SDM lets the
        # implementation choose
        return True
    if (a ^ b) >> 31 or (a >> 23) & 0xFF in (0, 0xFF) or (b >> 23) & 0xFF in (0, 0xFF):
        return False            # sign, zero, denormal, infinity or NaN: exact results
    x, y = _f32(a), _f32(b)
    return abs(x - y) <= TOLERANCE * max(abs(x), abs(y))


def within_bound(case: Case, fpu_a: bytes, fpu_b: bytes, diffs, lanes_ok=None) -> bool:
    """True when `case` ends with its one RCP/RSQRT instruction and its only
    differences (`diffs`, compare()'s lines) are XMM registers whose 32-bit
    lanes are all :func:`lanes_close` (or `lanes_ok(a, b)`)."""
    lanes_ok = lanes_ok or lanes_close
    if not diffs or fpu_a is None or fpu_b is None or not ends_with_approximation(case):
        return False
    if not all(line.startswith("xmm") for line in diffs):
        return False
    for k in range(16 if case.mode == 64 else 8):
        a = fpu_a[160 + 16 * k:176 + 16 * k]
        b = fpu_b[160 + 16 * k:176 + 16 * k]
        for j in range(0, 16, 4):
            if not lanes_ok(int.from_bytes(a[j:j + 4], "little"),
                            int.from_bytes(b[j:j + 4], "little")):
                return False
    return True


# ---- x87 transcendentals -----------------------------------------------------

#: FSIN FCOS FSINCOS FPTAN FPATAN F2XM1 FYL2X FYL2XP1 (D9 modrm bytes).
TRANSCENDENTALS = frozenset((0xFE, 0xFF, 0xFB, 0xF2, 0xF3, 0xF0, 0xF1, 0xF9))


def has_transcendental(case: Case) -> bool:
    return any(d.map == 0 and d.op == 0xD9 and d.modrm in TRANSCENDENTALS
               for d in decode_all(case.code, case.mode)[0])


def _f80_ulps(a: int, b: int) -> int:
    """Distance in units of the last place of two 80-bit values (sign and
    exponent above the 64-bit significand) of one sign, or -1."""
    if (a ^ b) >> 79:
        return -1
    x, y = _ordinal(a), _ordinal(b)
    return abs(x - y) if x >= 0 and y >= 0 else -1


def _ordinal(v: int) -> int:
    """The place of a finite 80-bit value's magnitude among all of them
    (0 zero, then the denormals, the normals), or -1 (infinity, NaN, an
    unnormal or a pseudo-denormal): consecutive values differ by one."""
    se, sig = (v >> 64) & 0x7FFF, v & ((1 << 64) - 1)
    if se == 0x7FFF or (sig >> 63) != (se != 0):
        return -1
    return (se << 63) | (sig & ((1 << 63) - 1))


def _f80_step(v: int, d: int):
    """The 80-bit value `d` places from `v` in magnitude (sign kept), or None."""
    o = _ordinal(v)
    if o < 0 or o + d < 0 or (o + d) >> 63 >= 0x7FFF:
        return None
    se = (o + d) >> 63
    sig = ((o + d) & ((1 << 63) - 1)) | ((1 << 63) if se else 0)
    return ((v >> 79) << 79) | (se << 64) | sig


def transcendental_ulp(case: Case, fpu_a: bytes, fpu_b: bytes, diffs) -> bool:
    """True when `case` runs an x87 transcendental and its only differences
    are ST registers at most 1 ulp apart (and C1, which follows the
    rounding): pvemu rounds the exact result once, the host CPU is within
    0.52-0.61 ulp (README "Floating point: x87"), so they may differ by one."""
    if not diffs or fpu_a is None or fpu_b is None or not has_transcendental(case):
        return False
    for line in diffs:
        name = line.split(":", 1)[0]
        if name == "fsw":
            fa = int.from_bytes(fpu_a[2:4], "little")
            fb = int.from_bytes(fpu_b[2:4], "little")
            if (fa ^ fb) & ~0x0200:
                return False
        elif name.startswith("st") and name[2:].isdigit():
            k = int(name[2:])
            a = int.from_bytes(fpu_a[32 + 16 * k:42 + 16 * k], "little")
            b = int.from_bytes(fpu_b[32 + 16 * k:42 + 16 * k], "little")
            if _f80_ulps(a, b) != 1:
                return False
        else:
            return False
    return True


#: The ST registers holding a transcendental's result after it ran (D9
#: modrm): FPTAN leaves tan under 1.0, FSINCOS sin under cos, the others
#: one result in ST(0) (FPATAN FYL2X FYL2XP1 after their pop).
_RESULT_REGS = {0xF2: (1,), 0xFB: (0, 1)}


def nudged_runs(case: Case):
    """pvemu's results of `case` with the result of each of its
    transcendentals moved by one ulp up or down, or left (each result
    register of FSINCOS on its own or both), in every combination but
    none: what pvemu would give had it rounded as the host CPU, which is
    within 0.61 ulp of exact where pvemu is within 0.5
    (transcendental_ulp).  A case that also differs only by that seen
    through later instructions (an MMX or x87 instruction using the
    result, or a second transcendental: FYL2X then F2XM1 end up to 2 ulp
    apart) then agrees with one of these.  Only for straight-line code
    (each transcendental reached as its k-th instruction) with at most
    MAX_NUDGED transcendentals."""
    from .emu_oracle import run_emu
    insns = decode_all(case.code, case.mode)[0]
    at = [k for k, d in enumerate(insns) if d.map == 0 and d.op == 0xD9 and d.modrm in TRANSCENDENTALS]
    if not at or len(at) > MAX_NUDGED or case.fpu is None:
        return
    pc = "rip" if case.mode == 64 else "eip"
    choices = [[None] + _steps(insns[k].modrm) for k in at]
    for pick in itertools.product(*choices):
        if all(step is None for step in pick):
            continue
        ok = []
        patches = [(k + 1, _nudger(CODE_BASE + insns[k].offset + insns[k].length, step, pc, ok))
                   for k, step in zip(at, pick) if step is not None]
        res = run_emu(case, digest=False, patch=patches)
        if len(ok) == len(patches) and res.oracle_error is None:
            yield res


#: At most this many transcendentals in a case are nudged (3 ** n runs).
MAX_NUDGED = 3


def _steps(modrm: int):
    """The ways to move a transcendental's result by one ulp (D9 modrm)."""
    regs = _RESULT_REGS.get(modrm, (0,))
    steps = [{r: s} for r in regs for s in (1, -1)]
    if len(regs) == 2:
        steps += [{regs[0]: s, regs[1]: t} for s in (1, -1) for t in (1, -1)]
    return steps


def _nudger(after: int, step: dict, pc: str, ok: list):
    """fn(machine) for run_emu's patch: at `after` (just past the
    transcendental), move the ST registers in `step` by their ulps."""
    def nudge(m):
        if m.reg_read(pc) != after:
            return
        img = bytearray(m.fpu_image())
        for r, s in step.items():
            o = 32 + 16 * r
            v = _f80_step(int.from_bytes(img[o:o + 10], "little"), s)
            if v is None:
                return
            img[o:o + 10] = v.to_bytes(10, "little")
        m.set_fpu_image(bytes(img))
        ok.append(True)
    return nudge


def c1_only(diffs, fpu_a: bytes, fpu_b: bytes, case: Case = None) -> bool:
    """Are the only differences an FSW whose C1 alone differs (C1 follows
    a transcendental's rounding: transcendental_ulp) and, when `case` runs
    FNSTSW AX, the copy of that bit in AX?"""
    fsw = [x for x in diffs if x.startswith("fsw:")]
    if len(fsw) != 1 or fpu_a is None or fpu_b is None:
        return False
    if (int.from_bytes(fpu_a[2:4], "little") ^ int.from_bytes(fpu_b[2:4], "little")) != 0x0200:
        return False
    return all(_c1_copy_in_ax(case, x) for x in diffs if not x.startswith("fsw:"))


def _c1_copy_in_ax(case: Case, line: str) -> bool:
    """Is `line` ("rax: host=0x... emu=0x...") a difference of bit 9 (C1)
    alone in a case that stores the status word with FNSTSW AX (DF E0)?"""
    name, _, values = line.partition(":")
    if case is None or name.strip() not in ("rax", "eax"):
        return False
    if not any(d.map == 0 and d.op == 0xDF and d.modrm == 0xE0
               for d in decode_all(case.code, case.mode)[0]):
        return False
    v = [int(w.split("=", 1)[1], 16) for w in values.split() if "=0x" in w]
    return len(v) == 2 and v[0] ^ v[1] == 0x0200


def explain(case: Case, fpu_a: bytes, fpu_b: bytes, diffs):
    """'rcp', 'transcendental', 'both' (each difference explained by one of
    the two rules) or None."""
    if not diffs:
        return None
    xmm = [x for x in diffs if x.startswith("xmm")]
    x87 = [x for x in diffs if not x.startswith("xmm")]
    rcp = bool(xmm) and within_bound(case, fpu_a, fpu_b, xmm)
    trans = bool(x87) and transcendental_ulp(case, fpu_a, fpu_b, x87)
    if (rcp or not xmm) and (trans or not x87):
        return "both" if rcp and trans else ("rcp" if rcp else "transcendental")
    return None
