"""The opcode table: one declarative row per instruction form.

Every ``emu/isa/*.py`` file except this module, ``features.py`` and
``layout.py`` is a row file: a list of ``row(...)`` calls for one extension
(``base.py``, ``system.py``, ``x87.py``, ``simd_fp.py``, ...).  The rows are
the single source of what the core's decoder and the fuzzers know about an
instruction: ``emu/gen_opmap.py`` turns them into the core's decode tree
(``emu/opmap_gen.pxi``) and the CPUID feature bits, and the fuzz decoders and
generators read them through :func:`rows` and :mod:`emu.isa.decoder`.

    from emu.isa.table import row
    row("NP 0F 58 /r", "ADDPS xmm1, xmm2/m128", "h_addps", feature="SSE")
    row("F7 /3", "NEG r/m16/32/64", "h_neg", flags="lock", defined="OSZAPC")
    row("0F 01 /2", "LGDT m16&32", mem="h_lgdt")

``row(opcode, mnemonic, handler=None, *, reg=None, mem=None, flags="",
sub=0, feature="BASE", defined="", undefined="")``

opcode
    The SDM's opcode column.  An optional mandatory prefix first (``NP``
    = none of 66/F2/F3, ``66``, ``F2``, ``F3``), an optional ``REX.W +``,
    the opcode bytes (maps ``0F``, ``0F 38``, ``0F 3A``; ``B8+r`` for a
    register in the low three bits), then the ModRM: ``/r``, ``/0``..``/7``
    (ModRM.reg), ``C0+i`` (register form, ModRM byte C0+i, i = rm) or an
    exact ModRM byte (``D9 E8``, ``0F 01 D0``); then the immediates, in
    lower case as in the SDM (upper case is a byte: ``D9 CB`` is FXCH
    ST(3), ``E3 cb`` a rel8): ``ib
    iw id iz iv`` (iz: 16/32 bits by operand size, iv: 16/32/64), ``iw ib``
    (ENTER), relative targets ``cb cz`` and far pointers ``cp``.
    An opcode that has rows for some mandatory prefixes is selected by the
    last of F2/F3 present, else by 66, else NP; a row without a prefix
    takes every prefix no other row of its opcode claims (66 is then the
    operand size, F2/F3 are ignored or are REP).
mnemonic
    Intel syntax with operands, for documentation and fuzz reports.
handler / reg / mem
    The Cython handler (``cdef int h_x(CPU*, Insn*) noexcept nogil``) for
    both forms, or separate ones for the register and the memory form.  A
    row with only ``mem=`` (or only ``reg=``) leaves the other form #UD.
flags
    Space-separated decoder flags, see :data:`FLAGS`.
sub
    A small integer (0-255) the handler reads from ``Insn.sub``.
feature
    The CPUID feature that enables the row (a name from
    :mod:`emu.isa.features`).
defined / undefined
    The arithmetic flags (letters of ``OSZAPC``) the instruction writes with
    defined values / leaves undefined.

Anything no row covers decodes to #UD, with the length :mod:`emu.isa.layout`
gives for opcodes no row describes.  Mistakes (unknown flag or feature,
malformed opcode, two rows for the same encoding) raise :class:`RowError`
naming the row's file, line and opcode.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass, field

#: Decoder flags a row may give (the names mirror decode.pxi's constants).
FLAGS = {
    "b": "byte operation (operand size 8)",
    "d64": "64-bit operand size by default in 64-bit mode (stack operations)",
    "f64": "64-bit operand size always in 64-bit mode (near branches)",
    "i64": "invalid in 64-bit mode",
    "o64": "valid only in 64-bit mode",
    "lock": "LOCK allowed (with a memory destination)",
    "end": "ends a decoded block (control transfer, mode or state change)",
    "mem": "memory form only: the register form is #UD",
    "reg": "register form only: the memory form is #UD",
    "rmb": "the r/m operand is a byte (MOVZX/MOVSX Eb, SETcc)",
    "acc": "the r/m operand is the accumulator (AL/eAX/rAX forms)",
    "mreg": "ModRM names registers whatever its mod (MOV CRn/DRn)",
    "moffs": "a memory operand given by an address-sized offset (MOV A0-A3)",
}

PREFIXES = ("NP", "66", "F3", "F2")
MAPS = {(): 0, ("0F",): 1, ("0F", "38"): 2, ("0F", "3A"): 3}
MAP_NAMES = ("", "0F ", "0F 38 ", "0F 3A ")

#: Immediate kinds: the opcode column's tokens -> the kind's name.
IMMEDIATES = {
    ("ib",): "ib", ("iw",): "iw", ("id",): "id", ("iz",): "iz", ("iv",): "iv",
    ("iw", "ib"): "iw ib", ("cb",): "cb", ("cz",): "cz", ("cp",): "cp",
}
#: Relative branch targets among them.
RELATIVE = frozenset(("cb", "cz"))
_IMM_TOKENS = frozenset(t for key in IMMEDIATES for t in key)
ARITH_FLAGS = "OSZAPC"

_HEX = re.compile(r"^[0-9A-F]{2}$")
_HANDLER = re.compile(r"^h_[A-Za-z0-9_]+$")


class RowError(ValueError):
    """A malformed, unknown or conflicting row (the message names it)."""


@dataclass(frozen=True)
class Row:
    """One parsed row.  ``modrm`` is None (no ModRM byte), "r" (/r), an int
    0-7 (/digit), ``("exact", byte)`` or ``("plus_i", byte)`` (C0+i)."""
    opcode: str
    mnemonic: str
    reg_handler: str | None
    mem_handler: str | None
    flags: frozenset
    sub: int
    feature: str
    defined: str
    undefined: str
    where: str                      # "file.py:line", for messages
    prefix: str | None = None       # NP 66 F3 F2, or None
    rexw: bool = False
    map: int = 0                    # 0 one-byte, 1 0F, 2 0F 38, 3 0F 3A
    op: int = 0
    plus_r: bool = False            # opcode + register (8 opcodes)
    modrm: object = None
    imm: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return f"{self.where}: row {self.opcode!r} ({self.mnemonic})"

    @property
    def opcodes(self):
        """The (map, opcode byte) pairs the row covers."""
        return [(self.map, self.op + k) for k in range(8 if self.plus_r else 1)]

    @property
    def has_modrm(self) -> bool:
        return self.modrm is not None

    @property
    def forms(self):
        """'reg', 'mem' or both: the ModRM forms the row decodes."""
        out = []
        if self.reg_handler:
            out.append("reg")
        if self.mem_handler:
            out.append("mem")
        return tuple(out)

    @property
    def modrm_reg(self):
        """ModRM.reg the row requires, or None."""
        if isinstance(self.modrm, int):
            return self.modrm
        if isinstance(self.modrm, tuple):
            return (self.modrm[1] >> 3) & 7
        return None

    @property
    def modrm_rm(self):
        """ModRM.rm the row requires (exact ModRM bytes), or None (C0+i: any)."""
        if isinstance(self.modrm, tuple) and self.modrm[0] == "exact":
            return self.modrm[1] & 7
        return None


_ROWS: list = []


def row(opcode, mnemonic, handler=None, *, reg=None, mem=None, flags="", sub=0,
        feature="BASE", defined="", undefined=""):
    """Declare one instruction form (see the module docstring)."""
    frame = sys._getframe(1)
    where = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
    r = parse(opcode, mnemonic, handler, reg=reg, mem=mem, flags=flags, sub=sub,
              feature=feature, defined=defined, undefined=undefined, where=where)
    _ROWS.append(r)
    return r


def parse(opcode, mnemonic, handler=None, *, reg=None, mem=None, flags="", sub=0,
          feature="BASE", defined="", undefined="", where="?") -> Row:
    """Check and parse one row; raise RowError naming it."""
    name = f"{where}: row {opcode!r} ({mnemonic})"

    def bad(msg):
        return RowError(f"{name}: {msg}")

    if not isinstance(opcode, str) or not opcode.strip():
        raise bad("the opcode must be a non-empty string")
    if not isinstance(mnemonic, str) or not mnemonic.strip():
        raise bad("the mnemonic must be a non-empty string")
    flagset = frozenset(flags.split()) if isinstance(flags, str) else None
    if flagset is None:
        raise bad("flags must be a space-separated string")
    unknown = sorted(flagset - FLAGS.keys())
    if unknown:
        raise bad(f"unknown flag(s) {' '.join(unknown)} (known: {' '.join(FLAGS)})")
    for a, b in (("mem", "reg"), ("i64", "o64"), ("d64", "f64")):
        if a in flagset and b in flagset:
            raise bad(f"flags {a} and {b} exclude each other")
    from emu.isa.features import FEATURES
    if feature not in FEATURES:
        raise bad(f"unknown feature {feature!r} (known: {' '.join(sorted(FEATURES))})")
    if not isinstance(sub, int) or isinstance(sub, bool) or not 0 <= sub <= 255:
        raise bad(f"sub must be an int 0-255, not {sub!r}")
    for label, letters in (("defined", defined), ("undefined", undefined)):
        if not isinstance(letters, str) or any(ch not in ARITH_FLAGS for ch in letters) \
                or len(set(letters)) != len(letters):
            raise bad(f"{label} must be letters of {ARITH_FLAGS} without repeats, not {letters!r}")
    both = set(defined) & set(undefined)
    if both:
        raise bad(f"flags {''.join(sorted(both))} are both defined and undefined")
    if handler is not None and (reg is not None or mem is not None):
        raise bad("give either handler= or reg=/mem=, not both")
    for h in (handler, reg, mem):
        if h is not None and (not isinstance(h, str) or not _HANDLER.match(h)):
            raise bad(f"handler {h!r} is not a Cython handler name (h_...)")
    reg_h = reg if handler is None else handler
    mem_h = mem if handler is None else handler
    if "mem" in flagset:
        reg_h = None
    if "reg" in flagset:
        mem_h = None
    if reg_h is None and mem_h is None:
        raise bad("no handler: give handler=, reg= or mem=")

    # Immediates are lower case (ib, cb), opcode and ModRM bytes upper case
    # (CB is a ModRM byte, cb a rel8).
    tokens = [t if t in _IMM_TOKENS else t.upper()
              for t in opcode.replace("REX.W +", "REX.W").split()]
    fields = dict(prefix=None, rexw=False, plus_r=False, modrm=None, imm=None)
    k = 0
    if tokens and tokens[0] in PREFIXES:
        fields["prefix"] = tokens[0]
        k = 1
    if k < len(tokens) and tokens[k] == "REX.W":
        fields["rexw"] = True
        k += 1
    # the opcode bytes: escape bytes, then the opcode (maybe +r)
    esc = []
    if k < len(tokens) and tokens[k] == "0F":
        esc.append("0F")
        k += 1
        if k + 1 < len(tokens) and tokens[k] in ("38", "3A"):
            esc.append(tokens[k])
            k += 1
    if k >= len(tokens):
        raise bad("no opcode byte")
    tok = tokens[k]
    k += 1
    if tok.endswith("+R"):
        fields["plus_r"] = True
        tok = tok[:-2]
    if not _HEX.match(tok):
        raise bad(f"{tok!r} is not an opcode byte")
    op = int(tok, 16)
    if fields["plus_r"] and op & 7:
        raise bad("a +r opcode must have its low three bits clear")
    if not esc and op in (0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x0F):
        raise bad(f"{tok} is a prefix or escape, not an opcode")
    if esc == ["0F"] and op in (0x38, 0x3A):
        raise bad(f"0F {tok} is an escape: give the opcode byte after it")
    # the ModRM
    if k < len(tokens) and tokens[k] not in _IMM_TOKENS:
        t = tokens[k]
        if t == "/R":
            fields["modrm"] = "r"
            k += 1
        elif re.match(r"^/[0-7]$", t):
            fields["modrm"] = int(t[1])
            k += 1
        elif t.endswith("+I") and _HEX.match(t[:-2]):
            m = int(t[:-2], 16)
            if m < 0xC0 or m & 7:
                raise bad(f"{t}: a +i ModRM byte must be C0-F8 with rm = 0")
            fields["modrm"] = ("plus_i", m)
            k += 1
        elif _HEX.match(t):
            fields["modrm"] = ("exact", int(t, 16))
            k += 1
    imm = tuple(tokens[k:])
    if imm:
        if imm not in IMMEDIATES:
            raise bad(f"unknown immediate {' '.join(imm)!r} (known: "
                      f"{', '.join(' '.join(x) for x in IMMEDIATES)})")
        fields["imm"] = IMMEDIATES[imm]
    modrm = fields["modrm"]
    if fields["plus_r"] and modrm is not None:
        raise bad("a +r opcode has no ModRM byte")
    if isinstance(modrm, tuple):
        if modrm[1] < 0xC0:
            raise bad(f"an exact ModRM byte must be a register form (C0-FF), not {modrm[1]:02X}")
        mem_h = None
        if reg_h is None:
            raise bad("an exact ModRM byte is a register form: give handler= or reg=")
    needs_modrm = flagset & {"mem", "reg", "rmb", "mreg"} or (reg is not None) != (mem is not None)
    if modrm is None and needs_modrm:
        raise bad("flags mem/reg/rmb/mreg and separate reg=/mem= handlers need a ModRM byte")
    if modrm is None:
        mem_h = None            # no ModRM: one form, kept as the register form
    if "lock" in flagset and mem_h is None:
        raise bad("lock needs a memory form")
    if "moffs" in flagset and modrm is not None:
        raise bad("moffs forms have no ModRM byte")
    return Row(opcode=opcode, mnemonic=mnemonic, reg_handler=reg_h, mem_handler=mem_h,
               flags=flagset, sub=sub, feature=feature, defined=defined, undefined=undefined,
               where=where, map=MAPS[tuple(esc)], op=op, **fields)


#: Files of emu/isa/ that hold no rows.
NOT_ROW_FILES = frozenset(("__init__.py", "table.py", "features.py", "layout.py", "decoder.py"))


def row_files(directory=os.path.dirname(os.path.abspath(__file__))):
    return sorted(f for f in os.listdir(directory)
                  if f.endswith(".py") and f not in NOT_ROW_FILES)


_LOADED = None


def rows():
    """Every row of every row file (loaded once), checked for conflicts."""
    global _LOADED
    if _LOADED is None:
        out = []
        for f in row_files():
            mod = f"emu.isa.{f[:-3]}"
            del _ROWS[:]
            if mod in sys.modules:
                importlib.reload(sys.modules[mod])
            else:
                importlib.import_module(mod)
            out.extend(_ROWS)
        del _ROWS[:]
        from emu.isa.decoder import check_conflicts
        check_conflicts(out)
        _LOADED = out
    return _LOADED
