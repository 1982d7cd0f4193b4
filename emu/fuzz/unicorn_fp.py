"""Unicorn's x87 and SSE deviations from the Intel SDM, by class.

Found by x87/SSE campaigns against Unicorn (``pvemu fuzz --oracle unicorn
--families x87,sse_fp,simd_int``) and refereed by the host CPU: in every
sampled divergence the host agreed with pvemu bit for bit (README "Known
oracle differences").  Unicorn cannot be corrected into the SDM's result for
these (that would need an x87/SSE model beside pvemu's), so a divergence of
these classes is *explained* -- counted by class, not reported -- and the
host oracle is the referee for floating point.

One case often shows several classes at once (a stack fault in one x87
instruction, an MXCSR flag in an SSE one).  Each class therefore names the
difference lines (compare()'s lines) it accounts for: a *stop* class explains
why the engines stopped at different places (then every later difference
follows from it), a *state* class explains only the fields its bug touches.
A case is explained when every line is accounted for by some class
(:func:`explain` returns the combination); anything else stays a
divergence.  Each class matches only its own pattern
(tests/test_fuzz_fp_oracles.py; tests/test_fuzz_unicorn_classes.py replays
a recorded case per class that no other class explains).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from . import approx, fpstate
from .case import CODE_BASE, DATA_BASE, Case, Result, gpr_names
from .insn import decode, decode_all, effective_address

_X87_FIELDS = frozenset(("fsw", "ftw", "st", "fcw"))


@dataclass(frozen=True)
class FPClass:
    name: str
    sdm: str
    unicorn: str
    lines: Callable          #: (_Ctx) -> the difference lines it explains


@dataclass(frozen=True)
class Explanation:
    """The classes that together account for every difference of a case."""
    classes: tuple

    @property
    def name(self) -> str:
        return " + ".join(c.name for c in self.classes)


def _field(line: str) -> str:
    return line.split(":", 1)[0].split("[", 1)[0].rstrip("0123456789")


def _index(line: str) -> int:
    return int(line.split(":", 1)[0].lstrip("abcdefghijklmnopqrstuvwxyz"))


class _Ctx:
    """What the classes look at: the case, both results, the lines to explain."""

    def __init__(self, case: Case, uc: Result, emu: Result, diffs):
        self.case, self.uc, self.emu = case, uc, emu
        self.lines = [x for x in diffs if not x.startswith("(")]
        self.insns = decode_all(case.code, case.mode)[0]
        self.pcn = "rip" if case.mode == 64 else "eip"
        self._before = {}

    def pc(self, res: Result):
        return res.regs.get(self.pcn)

    def insn_at(self, pc):
        """The decoded instruction at address `pc` (None: outside the code)."""
        off = (pc or 0) - CODE_BASE
        if not 0 <= off < len(self.case.code):
            return None
        return decode(self.case.code + bytes(16), off, self.case.mode)

    def fields(self, res: Result):
        return fpstate.fields(res.fpu, self.case.mode) if res.fpu is not None else None

    def regs_before(self, k: int) -> dict:
        """pvemu's registers before instruction number k of the case."""
        if k not in self._before:
            from .emu_oracle import run_emu
            r = run_emu(replace(self.case, count=k), digest=False)
            self._before[k] = r.regs if r.vector is None and not r.oracle_error else None
        return self._before[k]


def _is(d, map_, op, reg=None, mem=None, prefix=None) -> bool:
    """Does the decoded instruction `d` have this opcode (and ModRM.reg,
    memory form, mandatory prefix 66/F2/F3, 0 for none of them)?"""
    if d is None or d.map != map_ or d.op != op:
        return False
    if reg is not None and (d.modrm is None or (d.modrm >> 3) & 7 != reg):
        return False
    if mem is not None and d.is_mem != mem:
        return False
    if prefix is not None:
        mand = [p for p in d.prefixes if p in (0x66, 0xF2, 0xF3)]
        if (mand[-1] if mand else 0) != prefix:
            return False
    return True


# ---- stop classes: the engines stop at different instructions ---------------------

def _no_fp_exception(x: _Ctx):
    return x.lines if x.emu.vector in (16, 19) and x.uc.vector != x.emu.vector else ()


def _misaligned_sse(x: _Ctx):
    emu = x.emu
    if emu.vector != 13 or x.uc.vector == 13:
        return ()
    pc = x.pc(emu)
    d = x.insn_at(pc)
    if d is None or d.map not in (1, 2, 3) or not d.is_mem:
        return ()
    ea = effective_address(d, dict(emu.regs, rip=pc), x.case.mode)
    return x.lines if ea is not None and ea % 16 != 0 else ()


def _unimplemented(x: _Ctx):
    if x.uc.vector != 6 or x.emu.vector == 6:
        return ()
    d = x.insn_at(x.pc(x.uc))
    clflushopt = _is(d, 1, 0xAE, reg=7, mem=True, prefix=0x66)
    cmp_imm = d is not None and d.map == 1 and d.op == 0xC2 and (d.imm or 0) >= 8
    return x.lines if clflushopt or cmp_imm else ()


def _ldmxcsr_reserved(x: _Ctx):
    if x.emu.vector != 13 or x.uc.vector == 13:
        return ()
    pc = x.pc(x.emu)
    d = x.insn_at(pc)
    if not _is(d, 1, 0xAE, reg=2, mem=True, prefix=0):
        return ()
    off = (effective_address(d, dict(x.emu.regs, rip=pc), x.case.mode) or -1) - DATA_BASE
    if not 0 <= off <= len(x.emu.data) - 4:
        return ()
    value = int.from_bytes(x.emu.data[off:off + 4], "little")
    return x.lines if value & ~fpstate.MXCSR_MASK else ()


def _maskmov(d) -> bool:
    return _is(d, 1, 0xF7, mem=False) and (0xF2 not in d.prefixes and 0xF3 not in d.prefixes)


def _maskmov_unselected(x: _Ctx):
    """pvemu faults at a MASKMOVQ/MASKMOVDQU whose mask leaves some bytes
    unselected; Unicorn touches only the selected bytes and does not fault
    there."""
    emu, uc = x.emu, x.uc
    if emu.vector not in (-1, 12, 13) or (uc.vector == emu.vector and x.pc(uc) == x.pc(emu)):
        return ()
    d = x.insn_at(x.pc(emu))
    f = x.fields(emu)
    if not _maskmov(d) or f is None or d.rm is None:
        return ()
    if uc.vector == -1 and x.pc(uc) == CODE_BASE + d.end:
        return ()                   # Unicorn faulted there too: _fault_rip_past
    if 0x66 in d.prefixes:
        mask = f[f"xmm{d.rm}"]
        width = 16
    else:
        mask = f[f"st{((d.rm & 7) - _top(f)) & 7}"] & ((1 << 64) - 1)
        width = 8
    return x.lines if not all((mask >> (8 * k + 7)) & 1 for k in range(width)) else ()


def _top(f) -> int:
    return (f["fsw"] >> 11) & 7


#: QEMU helpers whose memory access reports a fault with the instruction
#: pointer past the instruction: MASKMOVQ/MASKMOVDQU, FSTP m80fp, FBSTP.
def _helper_store(d) -> bool:
    return _maskmov(d) or _is(d, 0, 0xDB, reg=7, mem=True) or _is(d, 0, 0xDF, reg=6, mem=True)


def _fault_rip_past(x: _Ctx):
    """Both fault at the same store (Unicorn: unmapped; pvemu: unmapped, or
    #GP/#SS for its non-canonical address), Unicorn with rip past it: the
    rip/vector lines, and the x87 state an x87 store had already updated."""
    emu, uc = x.emu, x.uc
    if uc.vector != -1 or emu.vector not in (-1, 12, 13):
        return ()
    d = x.insn_at(x.pc(emu))
    if not _helper_store(d) or x.pc(uc) != CODE_BASE + d.end:
        return ()
    keep = {"vector", x.pcn} | (_X87_FIELDS if d.map == 0 else set())
    return [line for line in x.lines if _field(line) in keep]


def _clflush_no_fault(x: _Ctx):
    """pvemu faults at CLFLUSH of unmapped memory; Unicorn runs on."""
    if x.emu.vector != -1 or (x.uc.vector == -1 and x.pc(x.uc) == x.pc(x.emu)):
        return ()
    d = x.insn_at(x.pc(x.emu))
    return x.lines if _is(d, 1, 0xAE, reg=7, mem=True) else ()


# ---- state classes: fields one instruction kind leaves different -------------------

#: x87 stores to memory: (opcode, ModRM.reg) -> operand bytes.
_X87_STORES = {(0xD9, 2): 4, (0xD9, 3): 4, (0xDD, 2): 8, (0xDD, 3): 8, (0xDB, 7): 10,
               (0xDF, 2): 2, (0xDF, 3): 2, (0xDB, 2): 4, (0xDB, 3): 4, (0xDF, 7): 8,
               (0xDF, 1): 2, (0xDB, 1): 4, (0xDD, 1): 8, (0xDF, 6): 10,
               (0xD9, 7): 2, (0xDD, 7): 2}          # ... and FNSTCW, FNSTSW m16


def _x87_store_spans(x: _Ctx):
    """[(address, size)] written by the case's x87 stores (addresses from
    pvemu's registers before each)."""
    out = []
    for k, d in enumerate(x.insns):
        size = _X87_STORES.get((d.op, (d.modrm or 0) >> 3 & 7)) if d.map == 0 and d.is_mem else None
        if size is None:
            continue
        regs = x.regs_before(k)
        if regs is None:
            break
        ea = effective_address(d, dict(regs, rip=CODE_BASE + d.offset), x.case.mode)
        if ea is not None:
            out.append((ea, size))
    return out


def _mmx_store_spans(x: _Ctx):
    """[(address, size)] written by the case's MMX stores: MOVQ m64, mm
    (0F 7F), MOVD m32, mm (0F 7E), MOVNTQ (0F E7), MASKMOVQ ([rDI])."""
    out = []
    names = gpr_names(x.case.mode)
    for k, d in enumerate(x.insns):
        if d.map != 1 or any(p in d.prefixes for p in (0x66, 0xF2, 0xF3)):
            continue
        if d.op in (0x7F, 0x7E, 0xE7) and d.is_mem or d.op == 0xF7 and not d.is_mem:
            regs = x.regs_before(k)
            if regs is None:
                break
            if d.op == 0xF7:
                ea = int(regs.get(names[7], 0)) & ((1 << d.addrsize) - 1)
            else:
                ea = effective_address(d, dict(regs, rip=CODE_BASE + d.offset), x.case.mode)
            out.append((ea, 4 if d.op == 0x7E and not d.rex & 8 else 8))
    return out


def _mem_span(line: str):
    lo, hi = line[4:].split("]", 1)[0].split("..")
    return int(lo, 16), int(hi, 16) + 1


def _x87_state(x: _Ctx):
    if x.case.fpu is None:
        return ()
    out = [line for line in x.lines if _field(line) in _X87_FIELDS]
    mem = [line for line in x.lines if line.startswith("mem[")]
    if mem:
        spans = _x87_store_spans(x)
        out += [line for line in mem
                if any(a <= lo and hi <= a + s for a, s in spans for lo, hi in [_mem_span(line)])]
    if mem and any(_field(line) == "st" for line in out):
        # the MMX registers are the x87 registers: MMX stores of them differ too
        spans = _mmx_store_spans(x)
        out += [line for line in mem
                if any(a <= lo and hi <= a + s for a, s in spans for lo, hi in [_mem_span(line)])]
    if any(_field(line) == "st" for line in out):
        # ... and MMX-to-GPR moves: PMOVMSKB r, mm; MOVD r32, mm; PEXTRW r, mm
        dests = {gpr_names(x.case.mode)[d.rm if d.op == 0x7E else d.reg]
                 for d in x.insns if d.map == 1 and not d.is_mem and d.op in (0xD7, 0x7E, 0xC5)
                 and not {0x66, 0xF2, 0xF3} & set(d.prefixes)}
        out += [line for line in x.lines if line.split(":")[0] in dests]
    if any(_is(d, 0, 0xDF, mem=False) and d.modrm == 0xE0 for d in x.insns):   # FNSTSW AX
        acc = gpr_names(x.case.mode)[0]
        a, b = int(x.uc.regs.get(acc, 0)), int(x.emu.regs.get(acc, 0))
        out += [line for line in x.lines if _field(line) == acc and not (a ^ b) & ~0xFFFF]
    return out


def _mxcsr_flags(x: _Ctx):
    if x.case.fpu is None:
        return ()
    a, b = x.fields(x.uc), x.fields(x.emu)
    if a is not None and b is not None and (a["mxcsr"] ^ b["mxcsr"]) & ~0x3F:
        return ()
    return [line for line in x.lines if _field(line) == "mxcsr"]


_FCOMI_FLAGS = 0x10 | 0x80 | 0x800          # AF SF OF


_UNORDERED = 0x40 | 0x04 | 0x01              # ZF PF CF


def _fcomi_flags(x: _Ctx):
    """FCOMI/FCOMIP/FUCOMI/FUCOMIP (DB/DF E8-F7) leave AF SF OF, and on a
    stack underflow (FSW: SF and IE) do not report unordered."""
    if not any(d.map == 0 and d.op in (0xDB, 0xDF) and d.modrm is not None
               and 0xE8 <= d.modrm <= 0xF7 for d in x.insns):
        return ()
    a, b = int(x.uc.regs.get("eflags", 0)), int(x.emu.regs.get("eflags", 0))
    diff = (a ^ b) & 0xCD5
    if diff & ~(_FCOMI_FLAGS | _UNORDERED) or b & _FCOMI_FLAGS:
        return ()
    f = x.fields(x.emu)
    if diff & _UNORDERED and not (b & _UNORDERED == _UNORDERED and f is not None
                                  and f["fsw"] & 0x41 == 0x41):
        return ()
    return [line for line in x.lines if _field(line) == "eflags"]


def _approximation(x: _Ctx):
    xmm = [line for line in x.lines if _field(line) == "xmm"]
    if xmm and approx.within_bound(x.case, x.uc.fpu, x.emu.fpu, xmm, lanes_ok=_rcp_lanes):
        return xmm
    return ()


def _rcp_lanes(uc_lane: int, emu_lane: int) -> bool:
    """Lanes within the bound, or RCP/RSQRT of a zero-or-denormal input:
    pvemu (and the host) give the infinity of its sign, Unicorn a finite
    value of at least 2^63 (the reciprocal (root) of the denormal); or a
    tiny RCP result, which the SDM flushes to zero and Unicorn does not."""
    if approx.lanes_close(uc_lane, emu_lane):
        return True
    if emu_lane & 0x7FFFFFFF == 0 and not (uc_lane ^ emu_lane) >> 31:
        return (uc_lane >> 23) & 0xFF == 0
    return (emu_lane & 0x7FFFFFFF == 0x7F800000 and not (uc_lane ^ emu_lane) >> 31
            and 0xBE <= (uc_lane >> 23) & 0xFF < 0xFF)


def _is_tiny(v: int, bits: int) -> bool:
    """Zero or denormal as a float of `bits` (32 or 64) bits."""
    frac = 23 if bits == 32 else 52
    return (v >> frac) & ((1 << (bits - 1 - frac)) - 1) == 0


def _daz_ftz(x: _Ctx):
    """With MXCSR.DAZ or FTZ set, XMM lanes where both engines hold a zero or
    a denormal (of the lane's single or double width): Unicorn does not
    apply DAZ in MIN/MAX or FTZ in conversions and some arithmetic."""
    a, b = x.fields(x.uc), x.fields(x.emu)
    start = fpstate.fields(x.case.fpu, x.case.mode) if x.case.fpu is not None else None
    if a is None or b is None or not any(f["mxcsr"] & 0x8040 for f in (b, start) if f):
        return ()
    out = []
    for line in x.lines:
        if _field(line) != "xmm":
            continue
        va, vb = a[line.split(":")[0]], b[line.split(":")[0]]
        if any(all(_lane(va, w, j) == _lane(vb, w, j)
                   or _is_tiny(_lane(va, w, j), w) and _is_tiny(_lane(vb, w, j), w)
                   for j in range(128 // w)) for w in (32, 64)):
            out.append(line)
    return out


def _lane(v: int, w: int, j: int) -> int:
    return (v >> (w * j)) & ((1 << w) - 1)


def _nan_choice(x: _Ctx):
    """XMM lanes where both engines return a NaN, different ones: with NaN
    operands the SDM returns the first source's NaN (quieted), else the
    NaN operand, else the QNaN indefinite (Vol. 1 Table 4-7); Unicorn's
    softfloat picks by its own rules."""
    a, b = x.fields(x.uc), x.fields(x.emu)
    if a is None or b is None:
        return ()
    out = []
    for line in x.lines:
        name = line.split(":")[0]
        if _field(line) != "xmm":
            continue
        va, vb = a[name], b[name]
        if any(all(_lane(va, w, j) == _lane(vb, w, j)
                   or _is_nan(_lane(va, w, j), w) and _is_nan(_lane(vb, w, j), w)
                   for j in range(128 // w)) for w in (32, 64)):
            out.append(line)
    return out


def _is_nan(v: int, bits: int) -> bool:
    frac = 23 if bits == 32 else 52
    return (v >> frac) & ((1 << (bits - 1 - frac)) - 1) == (1 << (bits - 1 - frac)) - 1 \
        and v & ((1 << frac) - 1) != 0


def _ssse3_mmx_rex(x: _Ctx):
    """An SSSE3 instruction's MMX form (NP 0F 38 00-1E, NP 0F 3A 0F) with
    REX.R or REX.B: Unicorn indexes its MMX registers with them, past the
    eight, and overwrites other state (MXCSR, XMM, x87 registers)."""
    if not any((d.map == 2 and d.op <= 0x1E or d.map == 3 and d.op == 0x0F)
               and 0x66 not in d.prefixes and d.rex & 5 for d in x.insns):
        return ()
    return [line for line in x.lines if _field(line) in _X87_FIELDS | {"xmm", "mxcsr"}]


def _horizontal_alias(x: _Ctx):
    """PHADDW/D/SW, PHSUBW/D/SW (0F 38 01-03, 05-07) and HADDPS/PD,
    HSUBPS/PD (F2/66 0F 7C/7D) with the same register as both operands:
    Unicorn writes the destination's low half before it reads the source's
    (which is the same register) for the high half."""
    regs = set()
    for d in x.insns:
        horizontal = (d.map == 2 and d.op in (1, 2, 3, 5, 6, 7)
                      or d.map == 1 and d.op in (0x7C, 0x7D) and {0x66, 0xF2} & set(d.prefixes))
        if horizontal and not d.is_mem and d.reg == d.rm and (0x66 in d.prefixes or d.map == 1):
            regs.add(f"xmm{d.reg}")
    return [line for line in x.lines if line.split(":")[0] in regs]


def _pcmpstr_masked_negative(x: _Ctx):
    """PCMPxSTRx with imm8[5:4] = 11 (masked negative polarity): the SDM
    negates IntRes1 over the valid elements of the second operand
    (xmm2/m128), Unicorn over those of the first."""
    if not any(d.map == 3 and 0x60 <= d.op <= 0x63 and (d.imm or 0) & 0x30 == 0x30
               and 0x66 in d.prefixes for d in x.insns):
        return ()
    names = {gpr_names(x.case.mode)[1], "xmm0", "eflags"}
    return [line for line in x.lines if line.split(":")[0] in names]


CLASSES = (
    FPClass("no #MF/#XM",
            "an unmasked x87 exception raises #MF at the next waiting x87 instruction "
            "(CR0.NE=1), an unmasked SIMD exception #XM (CR4.OSXMMEXCPT=1) (Vol. 1 8.7, 11.5)",
            "sets the exception flags but raises neither, and runs on",
            _no_fp_exception),
    FPClass("misaligned SSE operand",
            "a legacy-SSE 16-byte memory operand that must be aligned (MOVAPS, ADDPS m128, "
            "PUNPCKLDQ xmm, m128...) raises #GP(0) when it is not (Vol. 1 11.6.7)",
            "accesses it without a fault",
            _misaligned_sse),
    FPClass("#UD for an implemented encoding",
            "CLFLUSHOPT (CPUID.7:EBX[23]) and the legacy CMPPS/PD/SS/SD with imm8 >= 8 (bits "
            "7:3 ignored) execute (Vol. 2A CLFLUSHOPT, CMPPS)",
            "its CPU model raises #UD for them",
            _unimplemented),
    FPClass("LDMXCSR reserved bits",
            "LDMXCSR of a value with a bit set outside MXCSR_MASK raises #GP(0) (Vol. 2A LDMXCSR)",
            "loads it without a fault",
            _ldmxcsr_reserved),
    FPClass("MASKMOV* unselected bytes",
            "MASKMOVQ/MASKMOVDQU: a zero mask byte does not prevent addressing faults (#GP, "
            "#SS), page faults are implementation-specific (Vol. 2B MASKMOVQ); pvemu checks "
            "the whole operand, as the host CPU does",
            "touches only the selected bytes, so does not fault on the others",
            _maskmov_unselected),
    FPClass("fault rip past a helper store",
            "a fault is reported at the faulting instruction, with the state before it "
            "(Vol. 3A 6.5: faults are restartable)",
            "MASKMOVQ/MASKMOVDQU, FSTP m80fp and FBSTP (stores done in a QEMU helper) report "
            "the unmapped access with rip after the instruction, FSTP/FBSTP popped",
            _fault_rip_past),
    FPClass("CLFLUSH without its fault",
            "CLFLUSH checks its operand as a byte load: an unmapped address faults "
            "(Vol. 2A CLFLUSH, Protected Mode Exceptions)",
            "does not access memory and runs on",
            _clflush_no_fault),
    FPClass("x87 status, tags and registers",
            "stack overflow/underflow set IE and SF, write the indefinite and mark the tags; "
            "C1 reports rounding; precision control rounds the basic operations; "
            "unsupported encodings are invalid operands; a masked invalid store writes the "
            "indefinite (Vol. 1 8.1-8.5)",
            "QEMU's x87 ignores stack faults (no IE/SF, empty tags stay empty), leaves C1, "
            "differs in results of constants, precision control, special encodings and "
            "FBSTP, reads FCW bit 6 as 0 after FLDENV; so the x87 stores of the case (FST, "
            "FIST, FBSTP, FNSTSW, FNSTCW) write other values",
            _x87_state),
    FPClass("MXCSR exception flags",
            "DE for denormal operands (also under DAZ: no), IE for invalid operations, PE, UE "
            "and OE as the SDM's tables say (Vol. 1 11.5.2)",
            "sets different flags (DE, IE of SQRT on negative denormals...)",
            _mxcsr_flags),
    FPClass("FCOMI keeps AF SF OF",
            "FCOMI/FCOMIP/FUCOMI/FUCOMIP set ZF PF CF and clear OF SF AF (Vol. 2A FCOMI)",
            "leaves OF, SF and AF as they were",
            _fcomi_flags),
    FPClass("DAZ/FTZ not applied",
            "with MXCSR.DAZ, denormal inputs are zeros (MINPS/MAXPS... compare them as "
            "zeros); with FTZ, tiny results are flushed to zero (Vol. 1 10.2.3.3-4)",
            "keeps the denormal (MIN/MAX under DAZ, CVTPD2PS and some arithmetic under FTZ)",
            _daz_ftz),
    FPClass("NaN operand choice",
            "with NaN operands the result is the first source operand's NaN (an SNaN "
            "quieted), else the NaN operand's, else the QNaN indefinite (Vol. 1 4.8.3.5, "
            "Table 4-7)",
            "returns another NaN (softfloat's propagation rules)",
            _nan_choice),
    FPClass("SSSE3 MMX form with REX.R/REX.B",
            "the MMX registers are mm0-mm7: REX.R and REX.B do not extend their numbers "
            "(Vol. 2A 2.2.1.2, Table 2-4 note)",
            "numbers the register with them and accesses state past the eight MMX registers",
            _ssse3_mmx_rex),
    FPClass("horizontal add/sub on one register",
            "PHADD*/PHSUB*/HADDP*/HSUBP* xmm1, xmm1 read both operands before writing "
            "(Vol. 2B PHADDW: the high half comes from the source)",
            "writes the destination's low half first, then reads it as the source",
            _horizontal_alias),
    FPClass("PCMPxSTRx masked negative polarity",
            "imm8[5:4] = 11 negates IntRes1 for the valid elements of the second operand, "
            "xmm2/m128 (Vol. 2B 4.1.6)",
            "negates over the valid elements of the first operand (ECX, XMM0, EFLAGS differ)",
            _pcmpstr_masked_negative),
    FPClass("RCP/RSQRT approximation",
            "RCPPS/RCPSS/RSQRTPS/RSQRTSS: any result within 1.5*2^-12 (Vol. 2B RCPPS)",
            "uses other approximation tables (compared by the bound, emu/fuzz/approx.py), "
            "and gives a finite value for a denormal input (SDM: treated as 0, so infinity)",
            _approximation),
)


def explain(case: Case, uc: Result, emu: Result, diffs):
    """The :class:`Explanation` (classes that together account for every
    difference line of a Unicorn/pvemu divergence), or None."""
    x = _Ctx(case, uc, emu, diffs)
    if not x.lines:
        return None
    left = set(x.lines)
    used = []
    for c in CLASSES:
        got = set(c.lines(x)) & left
        if got:
            used.append(c)
            left -= got
        if not left:
            return Explanation(tuple(used))
    return None
