"""A small x86 instruction decoder for the fuzzing machinery.

It is *not* an emulator: it finds instruction boundaries (lengths) and
validity for the legacy opcode maps (VEX/EVEX/XOP are not decoded) by
walking the decode tree of the opcode table (:mod:`emu.isa.decoder`, the
same tree the core's decoder is generated from), and names the general-purpose integer instructions precisely enough
for :mod:`emu.fuzz.flags` (which flags an instruction reads, defines or leaves
undefined) and for :func:`emu.fuzz.compare.shrink` (dropping instructions and
fixing up the branches that jump over them).

``decode(code, offset, mode)`` returns a :class:`Decoded` or None when the
bytes cannot be decoded (truncated, longer than 15 bytes, or a VEX/EVEX/XOP
escape).  Opcodes that decode to a known length but that this module does not
name get ``mnemonic == '?'``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from emu.isa import decoder as isa_decoder
from emu.isa import layout, table

LEGACY_PREFIXES = frozenset((0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65, 0x66, 0x67))
SEGMENT_PREFIXES = frozenset((0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65))
MAX_LEN = 15

ALU = ("ADD", "OR", "ADC", "SBB", "AND", "SUB", "XOR", "CMP")
GRP2 = ("ROL", "ROR", "RCL", "RCR", "SHL", "SHR", "SAL", "SAR")
GRP3 = ("TEST", "TEST", "NOT", "NEG", "MUL", "IMUL", "DIV", "IDIV")
BT_GRP8 = {4: "BT", 5: "BTS", 6: "BTR", 7: "BTC"}

@dataclass
class Decoded:
    """One decoded instruction (offsets are relative to the start of the code)."""
    offset: int
    length: int
    mode: int
    prefixes: tuple = ()          # legacy prefix bytes, in order
    rex: int = 0                  # the effective REX byte (0 if none)
    map: int = 0                  # 0: one-byte, 1: 0F, 2: 0F 38, 3: 0F 3A
    op: int = 0
    modrm: int | None = None
    sib: int | None = None
    disp: int = 0                 # signed
    disp_size: int = 0
    disp_offset: int = 0          # offset of the displacement inside the instruction
    imm: int | None = None        # unsigned, as encoded (first immediate)
    imm_size: int = 0
    imm_offset: int = 0
    imm2: int | None = None       # ENTER's second immediate
    mnemonic: str = "?"
    valid: bool = True            # decodes to an instruction (not #UD) per the opcode table
    opsize: int = 32              # operand size in bits
    addrsize: int = 32
    rel: int | None = None        # relative branch displacement (signed)
    rel_size: int = 0
    cond: int | None = None       # condition code of Jcc/SETcc/CMOVcc
    count: str | None = None      # shift count source: 'one', 'cl', 'imm'
    reg: int | None = None        # ModRM reg (with REX.R) or opcode register (with REX.B)
    rm: int | None = None         # ModRM rm register (with REX.B) when mod == 3
    extra: dict = field(default_factory=dict)

    # -- convenience ---------------------------------------------------
    @property
    def end(self) -> int:
        return self.offset + self.length

    @property
    def mod(self):
        return None if self.modrm is None else self.modrm >> 6

    @property
    def is_mem(self) -> bool:
        return self.modrm is not None and (self.modrm >> 6) != 3

    @property
    def lock(self) -> bool:
        return 0xF0 in self.prefixes

    @property
    def rep(self):
        """The last F2/F3 prefix, or None."""
        r = None
        for p in self.prefixes:
            if p in (0xF2, 0xF3):
                r = p
        return r

    @property
    def branch_target(self):
        """Target offset of a relative branch (relative to the code start)."""
        if self.rel is None:
            return None
        return self.end + self.rel

    def has_prefix(self, p) -> bool:
        return p in self.prefixes


def _s(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _rd(code, pos, n):
    if pos + n > len(code):
        raise IndexError
    return int.from_bytes(code[pos:pos + n], "little")


def decode(code: bytes, offset: int = 0, mode: int = 32) -> Decoded | None:
    """Decode the instruction at `offset` of `code` in `mode` (32 or 64)."""
    try:
        return _decode(code, offset, mode)
    except IndexError:
        return None


def _decode(code, offset, mode):
    pos = offset
    prefixes = []
    rex = 0
    while True:
        b = code[pos]
        if b in LEGACY_PREFIXES:
            prefixes.append(b)
            rex = 0                      # a REX before a legacy prefix is ignored
            pos += 1
        elif mode == 64 and 0x40 <= b <= 0x4F:
            rex = b
            pos += 1
        else:
            break
        if pos - offset >= MAX_LEN:
            return None
    d = Decoded(offset=offset, length=0, mode=mode, prefixes=tuple(prefixes), rex=rex)
    p66 = 0x66 in prefixes
    p67 = 0x67 in prefixes
    rexw = bool(rex & 8)
    if mode == 64:
        d.addrsize = 32 if p67 else 64
    else:
        d.addrsize = 16 if p67 != (mode == 16) else 32
    op = code[pos]
    pos += 1
    if op == 0x0F:
        op = code[pos]
        pos += 1
        if op == 0x38:
            d.map = 2
            op = code[pos]
            pos += 1
        elif op == 0x3A:
            d.map = 3
            op = code[pos]
            pos += 1
        else:
            d.map = 1
    d.op = op
    m = d.map

    # VEX / EVEX / XOP escapes are not decoded.
    if m == 0:
        if op in (0xC4, 0xC5, 0x62) and (mode == 64 or (code[pos] >> 6) == 3):
            return None
        if op == 0x8F and ((code[pos] >> 3) & 7) != 0:
            return None

    # The opcode table decides the ModRM byte, the immediate and validity.
    if m == 1 and op in layout.UNDEFINED_0F:
        return None                      # undefined opcodes: no length to speak of
    has_modrm = isa_decoder.has_modrm(m, op)
    leaf = isa_decoder.lookup(mode, prefixes, rex, m, op, code[pos] if has_modrm else None)
    flags = leaf.flags
    d.valid = isa_decoder.valid(leaf, mode, 0xF0 in prefixes, code[pos] if has_modrm else None)
    if "i64" in flags and mode == 64:
        d.extra["invalid64"] = True
    if leaf.row is not None:
        d.extra["feature"] = leaf.row.feature
        d.extra["handler"] = leaf.handler

    # operand size
    if "b" in flags:
        d.opsize = 8
    elif mode == 64 and flags & {"d64", "f64"}:
        d.opsize = 16 if p66 and not rexw else 64       # REX.W wins over 66
    elif mode == 64 and rexw:
        d.opsize = 64
    elif p66 != (mode == 16):
        d.opsize = 16
    else:
        d.opsize = 32
    mn = "?"

    if m == 0:
        if op < 0x40 and (op & 7) < 6:
            mn = ALU[op >> 3]
        elif op < 0x40:
            mn = {0x27: "DAA", 0x2F: "DAS", 0x37: "AAA", 0x3F: "AAS"}.get(op, "?")
            if mn == "?" and op in (0x06, 0x0E, 0x16, 0x1E):
                mn = "PUSH_SEG"
            elif mn == "?" and op in (0x07, 0x17, 0x1F):
                mn = "POP_SEG"
        elif op < 0x50:
            mn = "INC" if op < 0x48 else "DEC"
            d.reg = op & 7
        elif op < 0x58:
            mn = "PUSH"
            d.reg = (op & 7) | ((rex & 1) << 3)
        elif op < 0x60:
            mn = "POP"
            d.reg = (op & 7) | ((rex & 1) << 3)
        elif op == 0x60:
            mn = "PUSHA"
        elif op == 0x61:
            mn = "POPA"
        elif op == 0x62:
            mn = "BOUND"
        elif op == 0x63:
            mn = "MOVSXD" if mode == 64 else "ARPL"
        elif op == 0x68:
            mn = "PUSH"
        elif op == 0x69:
            mn = "IMUL"
        elif op == 0x6A:
            mn = "PUSH"
        elif op == 0x6B:
            mn = "IMUL"
        elif op < 0x70:
            mn = "INS" if op < 0x6E else "OUTS"
        elif op < 0x80:
            mn = "JCC"
            d.cond = op & 15
        elif op < 0x84:
            mn = ALU[(code[pos] >> 3) & 7]
        elif op < 0x86:
            mn = "TEST"
        elif op < 0x88:
            mn = "XCHG"
        elif op < 0x8C:
            mn = "MOV"
        elif op in (0x8C, 0x8E):
            mn = "MOV_SREG"
        elif op == 0x8D:
            mn = "LEA"
        elif op == 0x8F:
            mn = "POP" if ((code[pos] >> 3) & 7) == 0 else "?"
        elif op < 0x98:
            d.reg = (op & 7) | ((rex & 1) << 3)
            if op == 0x90 and not rex & 1:
                mn = "PAUSE" if 0xF3 in prefixes else "NOP"
            else:
                mn = "XCHG"
        elif op == 0x98:
            mn = "CBW"
        elif op == 0x99:
            mn = "CWD"
        elif op == 0x9A:
            mn = "CALLF"
        elif op == 0x9B:
            mn = "FWAIT"
        elif op == 0x9C:
            mn = "PUSHF"
        elif op == 0x9D:
            mn = "POPF"
        elif op == 0x9E:
            mn = "SAHF"
        elif op == 0x9F:
            mn = "LAHF"
        elif op < 0xA4:
            mn = "MOV_MOFFS"
        elif op < 0xB0:
            mn = {0xA4: "MOVS", 0xA5: "MOVS", 0xA6: "CMPS", 0xA7: "CMPS", 0xA8: "TEST", 0xA9: "TEST",
                  0xAA: "STOS", 0xAB: "STOS", 0xAC: "LODS", 0xAD: "LODS", 0xAE: "SCAS",
                  0xAF: "SCAS"}[op]
        elif op < 0xB8:
            mn = "MOV"
            d.reg = (op & 7) | ((rex & 1) << 3)
        elif op < 0xC0:
            mn = "MOV"
            d.reg = (op & 7) | ((rex & 1) << 3)
        elif op in (0xC0, 0xC1):
            mn = GRP2[(code[pos] >> 3) & 7]
            d.count = "imm"
        elif op == 0xC2:
            mn = "RET"
        elif op == 0xC3:
            mn = "RET"
        elif op in (0xC4, 0xC5):
            mn = ("LES" if op == 0xC4 else "LDS")
        elif op in (0xC6, 0xC7):
            r = (code[pos] >> 3) & 7
            if r == 0:
                mn = "MOV"
            elif code[pos] == 0xF8:
                mn = "XABORT" if op == 0xC6 else "XBEGIN"
        elif op == 0xC8:
            mn = "ENTER"
        elif op == 0xC9:
            mn = "LEAVE"
        elif op == 0xCA:
            mn = "RETF"
        elif op == 0xCB:
            mn = "RETF"
        elif op == 0xCC:
            mn = "INT3"
        elif op == 0xCD:
            mn = "INT"
        elif op == 0xCE:
            mn = "INTO"
        elif op == 0xCF:
            mn = "IRET"
        elif op < 0xD4:
            mn = GRP2[(code[pos] >> 3) & 7]
            d.count = "one" if op < 0xD2 else "cl"
        elif op == 0xD4:
            mn = "AAM"
        elif op == 0xD5:
            mn = "AAD"
        elif op == 0xD6:
            mn = "SALC"
        elif op == 0xD7:
            mn = "XLAT"
        elif op < 0xE0:
            mn = "X87"
        elif op < 0xE4:
            mn = ("LOOPNE", "LOOPE", "LOOP", "JRCXZ")[op - 0xE0]
        elif op < 0xE8:
            mn = ("IN" if op < 0xE6 else "OUT")
        elif op == 0xE8:
            mn = "CALL"
        elif op == 0xE9:
            mn = "JMP"
        elif op == 0xEA:
            mn = "JMPF"
        elif op == 0xEB:
            mn = "JMP"
        elif op < 0xF0:
            mn = "IN" if op < 0xEE else "OUT"
        elif op == 0xF1:
            mn = "INT1"
        elif op == 0xF4:
            mn = "HLT"
        elif op == 0xF5:
            mn = "CMC"
        elif op in (0xF6, 0xF7):
            r = (code[pos] >> 3) & 7
            mn = GRP3[r]
        elif op < 0xFE:
            mn = {0xF8: "CLC", 0xF9: "STC", 0xFA: "CLI", 0xFB: "STI", 0xFC: "CLD", 0xFD: "STD"}[op]
        elif op == 0xFE:
            r = (code[pos] >> 3) & 7
            mn = {0: "INC", 1: "DEC"}.get(r, "?")
        else:  # 0xFF
            r = (code[pos] >> 3) & 7
            mn = ("INC", "DEC", "CALLN", "CALLF_M", "JMPN", "JMPF_M", "PUSH", "?")[r]
        if d.extra.get("invalid64"):
            mn = "?"
    elif m == 1:
        if op in (0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E, 0x30, 0x31, 0x32, 0x33, 0x34,
                  0x35, 0x37, 0x77, 0xA0, 0xA1, 0xA2, 0xA8, 0xA9, 0xAA) or 0xC8 <= op <= 0xCF:
            mn = {0x0B: "UD2", 0xA2: "CPUID", 0xA0: "PUSH_SEG", 0xA8: "PUSH_SEG",
                  0xA1: "POP_SEG", 0xA9: "POP_SEG", 0x31: "RDTSC"}.get(op, "?")
            if 0xC8 <= op <= 0xCF:
                mn = "BSWAP"
                d.reg = (op & 7) | ((rex & 1) << 3)
        elif 0x80 <= op <= 0x8F:
            mn = "JCC"
            d.cond = op & 15
        else:
            if 0x40 <= op <= 0x4F:
                mn, d.cond = "CMOVCC", op & 15
            elif 0x90 <= op <= 0x9F:
                mn, d.cond = "SETCC", op & 15
            elif op == 0x1F:
                mn = "NOP"
            else:
                rep = None
                for p in prefixes:
                    if p in (0xF2, 0xF3):
                        rep = p
                mn = {0xA3: "BT", 0xAB: "BTS", 0xB3: "BTR", 0xBB: "BTC",
                      0xA4: "SHLD", 0xA5: "SHLD", 0xAC: "SHRD", 0xAD: "SHRD",
                      0xAF: "IMUL", 0xB0: "CMPXCHG", 0xB1: "CMPXCHG",
                      0xB6: "MOVZX", 0xB7: "MOVZX", 0xBE: "MOVSX", 0xBF: "MOVSX",
                      0xBC: "BSF", 0xBD: "BSR", 0xC0: "XADD", 0xC1: "XADD",
                      0xB9: "UD1", 0xFF: "UD0"}.get(op, "?")
                if op in (0xB8, 0xBC, 0xBD) and rep == 0xF3:
                    mn = {0xB8: "POPCNT", 0xBC: "TZCNT", 0xBD: "LZCNT"}[op]
                if op == 0xBA:
                    mn = BT_GRP8.get((code[pos] >> 3) & 7, "?")
                if op == 0xC7:
                    r = (code[pos] >> 3) & 7
                    if r == 1 and (code[pos] >> 6) != 3:
                        mn = "CMPXCHG16B" if rexw else "CMPXCHG8B"
                if op in (0xA4, 0xAC):
                    d.count = "imm"
                elif op in (0xA5, 0xAD):
                    d.count = "cl"
                if op in (0xB6, 0xBE):
                    d.extra["src_size"] = 8
                elif op in (0xB7, 0xBF):
                    d.extra["src_size"] = 16
    elif m == 2:
        if op in (0xF0, 0xF1) and 0xF2 not in prefixes and 0xF3 not in prefixes:
            mn = "MOVBE"

    if has_modrm:
        modrm = code[pos]
        pos += 1
        d.modrm = modrm
        mod, r, rm = modrm >> 6, (modrm >> 3) & 7, modrm & 7
        d.reg = r | ((rex & 4) << 1)
        if mod == 3 or isa_decoder.is_mreg(m, op):
            d.rm = rm | ((rex & 1) << 3)
        elif d.addrsize == 16:
            if mod == 0 and rm == 6:
                d.disp_size = 2
            elif mod == 1:
                d.disp_size = 1
            elif mod == 2:
                d.disp_size = 2
        else:
            if rm == 4:
                d.sib = code[pos]
                pos += 1
                if mod == 0 and (d.sib & 7) == 5:
                    d.disp_size = 4
            elif mod == 0 and rm == 5:
                d.disp_size = 4
                if mode == 64:
                    d.extra["riprel"] = True
            if mod == 1:
                d.disp_size = 1
            elif mod == 2:
                d.disp_size = 4
        if d.disp_size:
            d.disp_offset = pos - offset
            d.disp = _s(_rd(code, pos, d.disp_size), d.disp_size * 8)
            pos += d.disp_size
    # immediate or relative target, sized as the core sizes them
    if "b" in flags:
        core_osz = 1
    elif mode == 64 and (rexw or "f64" in flags):
        core_osz = 8
    elif p66 != (mode == 16):
        core_osz = 2
    else:
        core_osz = 8 if mode == 64 and "d64" in flags else 4
    size = isa_decoder.imm_size(leaf.imm, mode, core_osz, d.addrsize // 8)
    imm = rel = 0
    if leaf.imm in table.RELATIVE:
        rel = size
    elif leaf.imm == "iw ib":
        imm = 2
    else:
        imm = size
    if imm:
        d.imm_offset = pos - offset
        d.imm = _rd(code, pos, imm)
        d.imm_size = imm
        pos += imm
        if leaf.imm == "iw ib":
            d.imm2 = _rd(code, pos, 1)
            pos += 1
    if rel:
        d.imm_offset = pos - offset
        d.rel = _s(_rd(code, pos, rel), rel * 8)
        d.rel_size = rel
        pos += rel
    d.mnemonic = mn
    d.length = pos - offset
    if d.length > MAX_LEN:
        return None
    return d


def decode_all(code: bytes, mode: int):
    """Decode `code` linearly.  Returns (list of Decoded, offset where decoding
    stopped: len(code) when everything decoded)."""
    out = []
    off = 0
    while off < len(code):
        d = decode(code, off, mode)
        if d is None:
            break
        out.append(d)
        off = d.end
    return out, off


def boundaries(code: bytes, mode: int):
    """Instruction start offsets of `code`.  Uses this decoder and falls back to
    capstone (when installed) for what it cannot decode; returns None if the
    code cannot be split."""
    insns, stop = decode_all(code, mode)
    offs = [d.offset for d in insns]
    if stop == len(code):
        return offs
    try:
        import capstone
    except ImportError:
        return None
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if mode == 64 else capstone.CS_MODE_32)
    off = stop
    while off < len(code):
        got = next(md.disasm(code[off:], off, 1), None)
        if got is None:
            return None
        offs.append(off)
        off += got.size
    return offs


# ---------------------------------------------------------------------------
# Operands, for the classifier and the fault checks


def effective_address(d: Decoded, regs: dict, mode: int):
    """Linear address of the ModRM memory operand given the register values
    *before* the instruction (all segment bases are 0).  None if no memory
    operand."""
    if not d.is_mem:
        return None
    names = _reg_names(mode)

    def r(i):
        return int(regs.get(names[i], 0)) if i < len(names) else 0
    mod, rm = d.modrm >> 6, d.modrm & 7
    if d.addrsize == 16:
        bases = ((3, 6), (3, 7), (5, 6), (5, 7), (6,), (7,), (5,), (3,))[rm]
        if mod == 0 and rm == 6:
            bases = ()
        ea = sum(r(i) & 0xFFFF for i in bases) + d.disp
        return ea & 0xFFFF
    rexb = (d.rex & 1) << 3
    rexx = (d.rex & 2) << 2
    ea = d.disp
    if d.sib is not None:
        scale, index, base = d.sib >> 6, ((d.sib >> 3) & 7) | rexx, d.sib & 7
        if index != 4:
            ea += r(index) << scale
        if not (mod == 0 and base == 5):
            ea += r(base | rexb)
    elif mod == 0 and rm == 5:
        if mode == 64:
            ea += int(regs.get("rip", 0)) + d.length
    else:
        ea += r(rm | rexb)
    return ea & ((1 << d.addrsize) - 1)


def _reg_names(mode):
    from .case import gpr_names
    return gpr_names(mode)


def is_canonical(addr: int) -> bool:
    addr &= (1 << 64) - 1
    top = addr >> 47
    return top == 0 or top == (1 << 17) - 1


_STACK_MN = frozenset(("PUSH", "POP", "PUSHF", "POPF", "PUSHA", "POPA", "CALL", "ENTER", "LEAVE",
                       "RET", "CALLN"))


def memory_accesses(d: Decoded, regs: dict, mode: int):
    """[(linear address, size, via_ss)] of the memory accesses `d` would make
    with the registers `regs` (gpr_names(mode) plus 'rip' = its address),
    approximately: the ModRM operand (with the bit-offset displacement of
    BT/BTS/BTR/BTC r/m, reg), the stack slot of stack operations, RSI/RDI of
    string operations (none when a REP count is 0), moffs, XLAT.  Segment bases
    are 0.  `via_ss`: the access goes through SS (#SS rather than #GP for a
    non-canonical address); in 64-bit mode only FS/GS overrides count, the
    CS/DS/ES/SS ones being ignored."""
    names = _reg_names(mode)
    size = max(1, d.opsize // 8)
    seg = [p for p in d.prefixes if p in SEGMENT_PREFIXES]
    if mode == 64:
        seg = [p for p in seg if p in (0x64, 0x65)]
    ss_override = bool(seg) and seg[-1] == 0x36
    amask = (1 << d.addrsize) - 1
    out = []

    def reg(i):
        return int(regs.get(names[i], 0)) if i < len(names) else 0
    if d.is_mem and (d.mnemonic not in ("LEA", "NOP", "?") or _fp_memory_operand(d)):
        ea = effective_address(d, regs, mode)
        base = None
        if d.addrsize != 16:
            if d.sib is not None:
                if not (d.mod == 0 and (d.sib & 7) == 5):
                    base = (d.sib & 7) | ((d.rex & 1) << 3)
            elif not (d.mod == 0 and (d.modrm & 7) == 5):
                base = (d.modrm & 7) | ((d.rex & 1) << 3)
        elif (d.modrm & 7) in (2, 3, 6) and not (d.mod == 0 and (d.modrm & 7) == 6):
            base = 5                                  # [BP+...] uses SS
        via_ss = ss_override if seg else base in (4, 5)
        if d.mnemonic in ("CMPXCHG8B", "CMPXCHG16B"):
            size = 16 if d.mnemonic == "CMPXCHG16B" else 8
        elif _fp_memory_operand(d):
            size = 1
        if d.map == 1 and d.op in (0xA3, 0xAB, 0xB3, 0xBB):
            bits = d.opsize
            off = reg(d.reg) & ((1 << bits) - 1)
            if off >> (bits - 1):
                off -= 1 << bits
            ea = (ea + (off >> (bits.bit_length() - 1)) * (bits // 8)) & amask
        out.append((ea, size, via_ss))
    mn = d.mnemonic
    pop_first = mn == "POP" and bool(out)          # POP r/m: the stack is read first
    modrm_access = out[:]
    if pop_first:
        out = []
    if mn in _STACK_MN:
        ssize = max(2, d.opsize // 8) if mode == 32 or d.opsize == 16 else 8
        if mn in ("POP", "POPF", "POPA", "RET", "LEAVE"):
            sp = reg(5) if mn == "LEAVE" else reg(4)      # LEAVE pops at RBP
            out.append((sp, ssize, True))
        else:                                              # pushes
            out.append(((reg(4) - ssize) & ((1 << mode) - 1), ssize, True))
        if mn == "ENTER":
            level = (d.imm2 or 0) & 0x1F
            for k in range(1, level):                      # nested frame pointers: [rBP - k*size]
                out.append(((reg(5) - k * ssize) & ((1 << mode) - 1), ssize, True))
            if level:                                      # their copies and the frame pointer
                span = level * ssize                       # below the pushed rBP
                out.append(((reg(4) - ssize - span) & ((1 << mode) - 1), span, True))
            final = reg(4) - ssize * (level + 1 if level else 1) - (d.imm or 0)
            out.append((final & ((1 << mode) - 1), ssize, True))   # the final rSP's write check
    if pop_first:
        out += modrm_access
    if mn in ("MOVS", "LODS", "CMPS", "OUTS", "STOS", "SCAS", "INS") and d.rep is not None:
        if reg(1) & amask == 0:
            return []                                 # a zero count: no access at all
    if mn in ("MOVS", "LODS", "CMPS", "OUTS"):
        out.append((reg(6) & amask, size, ss_override))
    if mn in ("MOVS", "STOS", "CMPS", "SCAS", "INS"):
        out.append((reg(7) & amask, size, False))
    if mn == "MOV_MOFFS":
        out.append((d.imm, size, ss_override))
    if mn == "XLAT":
        out.append(((reg(3) + (reg(0) & 0xFF)) & amask, 1, ss_override))
    return out


#: Features whose instructions with a ModRM memory operand access it (but
#: the hint NOPs, PREFETCHh and LEA-like rows, whose handler is h_nop).
_FP_FEATURES = frozenset(("X87", "MMX", "SSE", "SSE2", "SSE3", "SSSE3", "SSE4_1", "SSE4_2",
                          "CLFLUSH", "CLFLUSHOPT"))


def _fp_memory_operand(d: Decoded) -> bool:
    """Does `d`, an x87/MMX/SSE instruction the decoder does not name,
    access its ModRM memory operand?  (memory_accesses then reports its first
    byte: the operand's size is not decoded, and the non-canonical check only
    needs where it starts.)"""
    return (d.mnemonic in ("?", "X87") and d.valid and d.extra.get("feature") in _FP_FEATURES
            and d.extra.get("handler") != "h_nop")


def first_noncanonical(accesses, mapped):
    """The first access of `accesses` (memory_accesses' list, in program order)
    that faults *because* it is non-canonical, or None: an earlier access that
    faults anyway (not `mapped(address, size)`) comes first."""
    for acc in accesses:
        a, size, _ = acc
        if not is_canonical(a) or not is_canonical(a + size - 1):
            return acc
        if not mapped(a, size):
            return None
    return None


def flat_mapped(limit: int):
    """`mapped` predicate for flat RAM from 0 to `limit`."""
    return lambda a, size: 0 <= a and a + size <= limit
