"""Architecturally undefined flags, per instruction, and a classifier that
tells which flags of a case's final state may legitimately differ between two
correct x86 implementations.

The table
=========

``TABLE`` maps a mnemonic (as named by :mod:`emu.fuzz.insn`) to a
:class:`FlagRule`: the flags the instruction *reads*, the flags it writes with
*defined* values, and the flags it leaves *undefined*, as the opcode table's
rows give them (``reads=``, ``defined=``, ``undefined=`` in emu/isa; Intel SDM vol. 2,
"Flags Affected" of each instruction; AMD APM vol. 3 agrees except where
noted).  Flags not mentioned are unaffected.  Summary (CF PF AF ZF SF OF; DF
is never undefined)::

    ADD SUB CMP NEG XADD CMPXCHG CMPS SCAS ... all six defined
    ADC SBB ................................... all six defined; read CF
    INC DEC ................................... PF AF ZF SF OF defined; CF unaffected
    AND OR XOR TEST ........................... CF=OF=0, SF ZF PF defined; AF undefined
    MUL IMUL (all forms) ...................... CF OF defined; SF ZF AF PF undefined
    DIV IDIV .................................. CF PF AF ZF SF OF all undefined
    SHL/SAL SHR SAR (count = masked count) .... count 0: nothing; else SF ZF PF defined,
                                                AF undefined, OF defined only if count = 1,
                                                CF defined, except SHL/SHR with count >= the
                                                operand size (8/16-bit operands): CF undefined
    ROL ROR ................................... count 0: nothing; else CF defined, OF defined
                                                only if count = 1 (SF ZF AF PF unaffected).
                                                CF is written even when count mod size = 0
                                                (e.g. ROL r8 by 8): "IF (COUNT & COUNTMASK) != 0"
    RCL RCR ................................... like ROL/ROR, and read CF (count != 0)
    SHLD SHRD ................................. count 0: nothing; count > operand size
                                                (16-bit forms, count 17..31): all flags AND the
                                                destination undefined; else CF SF ZF PF defined,
                                                AF undefined, OF defined only if count = 1
    BT BTS BTR BTC ............................ CF defined; OF SF AF PF undefined; ZF unaffected
    BSF BSR ................................... ZF defined; CF OF SF AF PF undefined
                                                (destination undefined if the source is 0 -- see
                                                below)
    LZCNT TZCNT ............................... CF ZF defined; OF SF PF AF undefined (SDM
                                                "Flags Affected"; note: *not* all defined)
    POPCNT .................................... all six defined (OF SF AF CF PF cleared)
    DAA DAS ................................... CF AF SF ZF PF defined; OF undefined; read CF AF
    AAA AAS ................................... CF AF defined; OF SF ZF PF undefined; read AF
    AAM AAD ................................... SF ZF PF defined; OF AF CF undefined
    SAHF ...................................... SF ZF AF PF CF defined (from AH)
    LAHF PUSHF SALC ........................... read flags (LAHF: SF ZF AF PF CF; SALC: CF)
    POPF ...................................... all written (defined: they come from memory)
    CLC STC CMC CLD STD ....................... CF / DF defined (CMC reads CF)
    CMPXCHG8B CMPXCHG16B ...................... ZF defined, others unaffected
    Jcc SETcc CMOVcc LOOPE LOOPNE ............. read the flags of their condition
    MOV MOVZX MOVSX MOVSXD MOVBE LEA XCHG BSWAP NOT CBW CWD PUSH POP
    LEAVE ENTER MOVS STOS LODS XLAT NOP JMP CALL ...... no flags

Count-dependent cases
---------------------
Shifts and rotates mask the count to 5 bits (6 with a 64-bit operand) *before*
anything else; the flag rules above are in terms of that masked count.  The
count comes from 1 (D0/D1), an imm8 (C0/C1, SHLD/SHRD imm8) or CL.  For CL the
classifier tracks CL statically through the sequence: the initial value from
the case's registers, ``MOV CL, imm8`` / ``MOV ECX, imm`` set it, and any
instruction that *might* write RCX (by its ModRM/opcode register fields or
implicitly: LOOP, REP string ops, POPA, CPUID...) makes it unknown.  With an
unknown count the undefined set is the union over every possible count, e.g.
SHL r32,CL then masks AF and OF (and keeps whatever was undefined before,
since count 0 leaves flags unaffected).

Undefined destinations
----------------------
* SHLD/SHRD with a 16-bit operand and a masked count > 16: the destination is
  undefined.  The strategies never generate it (they put ``MOV CL, n<=16``
  before CL forms and draw imm8 counts accordingly); the classifier reports it
  in ``FlagAnalysis.undefined_dest`` and such a case is not compared.
* BSWAP with a 16-bit operand (66 prefix): undefined result; not generated,
  reported likewise.
* BSF/BSR with a zero source: the SDM says the destination is undefined;
  hardware and QEMU/Unicorn keep its low part, which AMD documents, so it
  *is* compared (an emulator doing something else there is worth knowing
  about) -- except the upper half of a 64-bit register after a 32-bit
  BSF/BSR, which Unicorn zero-extends and AMD leaves alone: the strategies
  emit ``MOV r32, r32`` on the destination first so that it is zero either
  way.  (This is data-dependent, so the classifier cannot flag it.)

Consumed undefined flags (the choice)
-------------------------------------
An undefined flag can flow into defined state: ADC after MUL, a Jcc or SETcc
on ZF after DIV, LAHF/PUSHF, RCL, INC (which keeps an undefined CF), ...
The classifier propagates the undefined set along every control-flow path
(``undefined_out = (undefined_in - written) | newly_undefined``, merged by
union at join points) and records in ``FlagAnalysis.consumed`` every
instruction that reads a flag that may be undefined.  The choice:

1. the strategies (:mod:`emu.fuzz.strategies`) never *generate* that: when an
   instruction would read a possibly-undefined flag they insert a
   ``CMP r, r`` (which defines all six flags) right before it; and
2. for any other case (raw bytes, hand-written reproducers) a consumption
   makes the case *not comparable*: :func:`emu.fuzz.compare.compare` reports
   nothing for it and :func:`emu.fuzz.compare.comparable` says why.  Masking
   "everything after" would leave nothing worth comparing anyway (the
   register that got the undefined bit, the path taken...).

Everything that is never consumed is simply masked out of the final EFLAGS
comparison with ``FlagAnalysis.mask_at(final_rip)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .case import CODE_BASE
from .insn import Decoded, decode_all

CF, PF, AF, ZF, SF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x800
DF = 0x400
ARITH = CF | PF | AF | ZF | SF | OF
FLAG_NAMES = ((CF, "CF"), (PF, "PF"), (AF, "AF"), (ZF, "ZF"), (SF, "SF"), (DF, "DF"), (OF, "OF"))

#: Flags read by each condition code (Jcc/SETcc/CMOVcc low nibble).
COND_READS = (OF, OF, CF, CF, ZF, ZF, CF | ZF, CF | ZF, SF, SF, PF, PF,
              SF | OF, SF | OF, ZF | SF | OF, ZF | SF | OF)


def flag_names(mask: int) -> str:
    """'CF|ZF' style rendering of a flags mask."""
    return "|".join(n for b, n in FLAG_NAMES if mask & b) or "-"


@dataclass(frozen=True)
class FlagRule:
    reads: int = 0           #: flags the instruction reads
    defined: int = 0         #: flags it writes with defined values
    undefined: int = 0       #: flags it leaves undefined
    count: str | None = None  #: count-dependent: 'shift', 'rotate', 'rcrotate', 'dshift'
    note: str = ""


NONE = FlagRule()
_LETTER_BITS = {"O": OF, "S": SF, "Z": ZF, "A": AF, "P": PF, "C": CF, "D": DF}


def _mask(letters: str) -> int:
    m = 0
    for ch in letters:
        m |= _LETTER_BITS[ch]
    return m


def _row_rules() -> dict:
    """mnemonic -> FlagRule from the opcode table's reads/defined/undefined
    (the mnemonic is the row's first word, the first of alternatives such as
    PUSHF/PUSHFD/PUSHFQ); the rows of one mnemonic must agree."""
    from emu.isa.table import rows
    out, where = {}, {}
    for r in rows():
        name = r.mnemonic.split()[0].split("/")[0]
        rule = FlagRule(reads=_mask(r.reads), defined=_mask(r.defined), undefined=_mask(r.undefined),
                        note=f"{flag_names(_mask(r.undefined))} undefined" if r.undefined else "")
        if name in out and out[name] != rule:
            raise ValueError(f"{r.name}: flags differ from {where[name]} of the same mnemonic")
        out[name], where[name] = rule, r.name
    return out


#: The table: mnemonic -> FlagRule (mnemonics as produced by emu.fuzz.insn),
#: from the opcode table's rows, plus what rows cannot say: the
#: count-dependent shifts and rotates, and the names emu.fuzz.insn gives
#: that are no row's mnemonic.
TABLE: dict[str, FlagRule] = _row_rules()
TABLE.update({
    "SHL": FlagRule(count="shift"), "SAL": FlagRule(count="shift"),
    "SHR": FlagRule(count="shift"), "SAR": FlagRule(count="shift"),
    "ROL": FlagRule(count="rotate"), "ROR": FlagRule(count="rotate"),
    "RCL": FlagRule(count="rcrotate"), "RCR": FlagRule(count="rcrotate"),
    "SHLD": FlagRule(count="dshift"), "SHRD": FlagRule(count="dshift"),
    # Jcc / SETcc / CMOVcc: reads COND_READS[cond], handled in rule_for().
    "JCC": NONE, "SETCC": NONE, "CMOVCC": NONE,
    "JRCXZ": TABLE["JCXZ"], "MOV_MOFFS": TABLE["MOV"], "FWAIT": TABLE["WAIT"],
    "PAUSE": NONE, "UD1": NONE,
})

#: Unknown instructions: assumed to read every flag (so that nothing undefined
#: reaches them unnoticed) and to leave the undefined set as it was.
UNKNOWN = FlagRule(reads=ARITH, note="not in the table")


@dataclass(frozen=True)
class Effect:
    reads: int = 0
    defined: int = 0
    undefined: int = 0
    dest_undefined: bool = False


def count_effect(kind: str, mnemonic: str, size: int, count: int) -> Effect:
    """Flags effect of a shift/rotate of a `size`-bit operand by the *masked*
    `count` (see the module docstring)."""
    if count == 0:
        return Effect()
    if kind == "shift":
        und = AF
        if count > 1:
            und |= OF
        if mnemonic != "SAR" and count >= size:
            und |= CF
        return Effect(defined=(CF | PF | ZF | SF | OF) & ~und, undefined=und)
    if kind in ("rotate", "rcrotate"):
        reads = CF if kind == "rcrotate" else 0
        if count == 1:
            return Effect(reads=reads, defined=CF | OF)
        return Effect(reads=reads, defined=CF, undefined=OF)
    if kind == "dshift":
        if count > size:
            return Effect(undefined=ARITH, dest_undefined=True)
        if count == 1:
            return Effect(defined=CF | SF | ZF | PF | OF, undefined=AF)
        return Effect(defined=CF | SF | ZF | PF, undefined=AF | OF)
    raise ValueError(kind)


def rule_for(d: Decoded) -> FlagRule:
    """The FlagRule of a decoded instruction (Jcc/SETcc/CMOVcc resolved)."""
    if d.mnemonic in ("JCC", "SETCC", "CMOVCC"):
        return FlagRule(reads=COND_READS[d.cond])
    return TABLE.get(d.mnemonic, UNKNOWN)


def effects(d: Decoded, cl) -> list:
    """Possible flag effects of `d` given the value of CL before it (None =
    unknown).  More than one when the outcome depends on something not
    statically known."""
    rule = rule_for(d)
    if rule.count:
        size = d.opsize
        cmask = 0x3F if size == 64 else 0x1F
        if d.count == "one":
            counts = [1]
        elif d.count == "imm":
            counts = [(d.imm or 0) & cmask]
        elif cl is not None:
            counts = [cl & cmask]
        else:
            counts = range(cmask + 1)
        return list({count_effect(rule.count, d.mnemonic, size, c) for c in counts})
    if d.mnemonic in ("CMPS", "SCAS") and d.rep is not None:
        # REPE/REPNE with a zero count do not execute at all.
        return [Effect(), Effect(defined=ARITH)]
    if d.mnemonic == "BSWAP" and d.opsize == 16:
        return [Effect(dest_undefined=True)]
    return [Effect(rule.reads, rule.defined, rule.undefined)]


# ---------------------------------------------------------------------------
# CL tracking

_NO_GPR_WRITE = frozenset(("CMP", "TEST", "BT", "JCC", "JMP", "CALL", "NOP", "PAUSE", "PUSH",
                           "PUSHF", "PUSHA", "CLC", "STC", "CMC", "CLD", "STD", "SAHF",
                           "MOVS", "STOS", "CMPS", "SCAS", "LODS", "LAHF", "CBW", "CWD",
                           "MUL", "DIV", "IDIV", "MOV_MOFFS", "XLAT", "LEAVE", "ENTER",
                           "CMPXCHG8B", "CMPXCHG16B", "POPF", "JRCXZ", "INT3", "INT", "INTO",
                           "HLT", "UD2", "DAA", "DAS", "AAA", "AAS", "AAM", "AAD", "SALC"))
_IMPLICIT_RCX = frozenset(("POPA", "LOOP", "LOOPE", "LOOPNE", "CPUID", "RDTSC"))
_STRING = frozenset(("MOVS", "STOS", "CMPS", "SCAS", "LODS"))


#: (map, opcode) whose ModRM reg field is an opcode extension, not a register.
_GROUP_OPS = frozenset([(0, o) for o in (0x80, 0x81, 0x82, 0x83, 0x8F, 0xC0, 0xC1, 0xC6, 0xC7,
                                         0xD0, 0xD1, 0xD2, 0xD3, 0xF6, 0xF7, 0xFE, 0xFF)]
                       + [(1, o) for o in (0x00, 0x01, 0xBA, 0xC7, 0x18, 0x19, 0x1A, 0x1B, 0x1C,
                                           0x1D, 0x1E, 0x1F)]
                       + [(1, o) for o in range(0x90, 0xA0)])


def cl_after(d: Decoded, cl):
    """Value of CL after `d` (None = unknown), given CL before it.
    Conservative: any instruction that might write RCX makes it unknown."""
    mn = d.mnemonic
    if mn == "MOV" and d.modrm is None and d.reg == 1:
        return (d.imm or 0) & 0xFF                   # B1 ib / B9 iz/io
    if mn == "?" or mn in _IMPLICIT_RCX:
        return None
    if mn in _STRING:
        return None if d.rep is not None else cl
    if mn in _NO_GPR_WRITE:
        return cl
    if d.modrm is not None:
        if d.mod == 3 and d.rm == 1:
            return None
        if d.reg == 1 and (d.map, d.op) not in _GROUP_OPS:
            return None
        return cl
    if d.reg == 1:                                   # opcode register (40+r, 58+r, 90+r...)
        return None
    return cl


# ---------------------------------------------------------------------------
# The classifier

_NO_FALLTHROUGH = frozenset(("JMP", "CALL", "RET", "RETF", "IRET", "JMPN", "CALLN", "JMPF",
                             "CALLF", "JMPF_M", "CALLF_M", "HLT", "UD2", "UD0", "UD1", "SYSCALL"))
_UNKNOWN_TARGET = frozenset(("RET", "RETF", "IRET", "JMPN", "CALLN", "JMPF", "CALLF",
                             "JMPF_M", "CALLF_M"))


@dataclass
class FlagAnalysis:
    """What the classifier found out about a case."""
    mode: int
    insns: list                      #: decoded instructions (linear decode)
    masks: dict = field(default_factory=dict)
    """offset -> flags that may be undefined on entry to the instruction there;
    the key len(code) is the end of the sequence"""
    consumed: list = field(default_factory=list)
    """(offset, mnemonic, flags) for every instruction that may read an undefined flag"""
    undefined_dest: list = field(default_factory=list)
    """(offset, mnemonic) for every instruction that may leave its destination undefined"""
    complete: bool = True
    """False when control flow could not be followed (undecodable bytes that may
    execute, indirect branches, branches outside the code or into an instruction)"""
    notes: list = field(default_factory=list)

    def mask_at(self, rip: int) -> int:
        """Flags that may legitimately differ when execution stopped at `rip`."""
        if not self.complete:
            return ARITH
        return self.masks.get(rip - CODE_BASE, ARITH)

    @property
    def final_mask(self) -> int:
        return self.mask_at(CODE_BASE + (self.insns[-1].end if self.insns else 0))

    @property
    def comparable(self) -> bool:
        return not self.consumed and not self.undefined_dest


def initial_cl(regs: dict, mode: int):
    for name in ("rcx", "ecx", "cx", "cl"):
        if name in regs:
            return int(regs[name]) & 0xFF
    return 0


def analyze(code: bytes, mode: int, regs: dict | None = None) -> FlagAnalysis:
    """Classify the undefined flags of a sequence (see the module docstring)."""
    insns, stop = decode_all(code, mode)
    fa = FlagAnalysis(mode=mode, insns=insns)
    end = len(code)
    by_off = {d.offset: d for d in insns}
    # state: offset -> (undefined mask, cl)
    state = {0: (0, initial_cl(regs or {}, mode))}
    if end == 0:
        fa.masks[0] = 0
        return fa

    def merge(off, st):
        if off == end or off in by_off:
            old = state.get(off)
            new = st if old is None else (old[0] | st[0], old[1] if old[1] == st[1] else None)
            if new != old:
                state[off] = new
                return True
            return False
        fa.complete = False
        fa.notes.append(f"control reaches offset {off:#x}, not an instruction boundary"
                        if 0 <= off < end else f"control leaves the code (offset {off:#x})")
        return False

    consumed = {}
    undest = {}
    work = [0]
    seen_iter = 0
    while work:
        seen_iter += 1
        if seen_iter > 20000:
            fa.complete = False
            break
        off = work.pop()
        if off == end:
            continue
        d = by_off.get(off)
        if d is None:
            fa.complete = False
            fa.notes.append(f"undecodable bytes at offset {off:#x} may execute")
            continue
        undef, cl = state[off]
        out_undef = 0
        for e in effects(d, cl):
            if e.reads & undef:
                consumed[off] = (off, d.mnemonic, e.reads & undef)
            if e.dest_undefined:
                undest[off] = (off, d.mnemonic)
            out_undef |= (undef & ~(e.defined | e.undefined)) | e.undefined
        out = (out_undef, cl_after(d, cl))
        succ = []
        if d.mnemonic in _UNKNOWN_TARGET:
            fa.complete = False
            fa.notes.append(f"{d.mnemonic} at offset {off:#x}: target unknown")
        if d.rel is not None:
            succ.append(d.branch_target)
        if d.mnemonic not in _NO_FALLTHROUGH:
            succ.append(d.end)
        for s in succ:
            if merge(s, out):
                work.append(s)
    fa.consumed = sorted(consumed.values())
    fa.undefined_dest = sorted(undest.values())
    fa.masks = {off: st[0] for off, st in state.items()}
    return fa


def analyze_case(case) -> FlagAnalysis:
    return analyze(case.code, case.mode, case.regs)


def undefined_mask(code: bytes, mode: int, regs: dict | None = None, rip: int | None = None) -> int:
    """The mask of flags that may legitimately differ after running `code`
    (to its end, or to `rip` when given)."""
    fa = analyze(code, mode, regs)
    return fa.mask_at(CODE_BASE + len(code) if rip is None else rip)
