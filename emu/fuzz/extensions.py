"""Instructions of extensions pvemu's CPUID does not report.

pvemu is an x86-64-v2 CPU (``emu.isa.features.IMPLEMENTED``): an
instruction of an extension whose CPUID bit it leaves clear raises #UD, as
the SDM requires ("#UD if CPUID.(EAX=07H, ECX=0):EBX.SHA[bit 29] = 0" and
the like), while a host CPU that has the extension runs it.  Such a host
difference is explained by the feature (:func:`unreported_feature`), never
by the opcode alone: the feature must be one of ``features.FEATURES`` that
``features.IMPLEMENTED`` lacks, and the opcode table must have no row that
executes the encoding.
"""
from __future__ import annotations

from typing import Optional

from emu.isa import features

from .insn import LEGACY_PREFIXES, decode

#: (mandatory prefix: 0 none, 0x66, 0xF2, 0xF3; map: 2 = 0F 38, 3 = 0F 3A,
#: 1 = 0F; first opcode, last opcode) -> the feature (SDM Vol. 2 opcode maps).
_ROWS = (
    (0, 2, 0xC8, 0xCD, "SHA"),          # SHA1NEXTE SHA1MSG1/2 SHA256RNDS2 SHA256MSG1/2
    (0, 3, 0xCC, 0xCC, "SHA"),          # SHA1RNDS4
    (0x66, 2, 0xDB, 0xDF, "AES"),       # AESIMC AESENC(LAST) AESDEC(LAST)
    (0x66, 3, 0xDF, 0xDF, "AES"),       # AESKEYGENASSIST
    (0x66, 3, 0x44, 0x44, "PCLMULQDQ"),
    (0x66, 2, 0xF6, 0xF6, "ADX"),       # ADCX
    (0xF3, 2, 0xF6, 0xF6, "ADX"),       # ADOX
    (0, 2, 0xF9, 0xF9, "MOVDIRI"),
    (0x66, 2, 0xF8, 0xF8, "MOVDIR64B"),
    (0x66, 2, 0x82, 0x82, "INVPCID"),
    (0x66, 2, 0xCF, 0xCF, "GFNI"),      # GF2P8MULB
    (0x66, 3, 0xCE, 0xCF, "GFNI"),      # GF2P8AFFINE(INV)QB
    (0x66, 1, 0x78, 0x79, "SSE4A"),     # EXTRQ (AMD)
    (0xF2, 1, 0x78, 0x79, "SSE4A"),     # INSERTQ
    (0xF2, 1, 0x2B, 0x2B, "SSE4A"),     # MOVNTSD
    (0xF3, 1, 0x2B, 0x2B, "SSE4A"),     # MOVNTSS
)


def _vex_feature(code: bytes, pos: int, mode: int) -> Optional[str]:
    """AVX for a VEX prefix (C4/C5), AVX512F for EVEX (62) at `pos` (in
    32-bit mode only when the next byte's top bits are 11: else LES/LDS/BOUND)."""
    if pos + 1 >= len(code):
        return None
    op, nxt = code[pos], code[pos + 1]
    if op in (0xC4, 0xC5, 0x62) and (mode == 64 or nxt >> 6 == 3):
        return "AVX512F" if op == 0x62 else "AVX"
    return None


def unreported_feature(code: bytes, offset: int, mode: int) -> Optional[str]:
    """The feature of the instruction at `offset` when it belongs to an
    extension pvemu does not implement (so its CPUID bit is clear and the
    instruction is #UD in pvemu), else None."""
    code = bytes(code) + bytes(16)               # the code page is 0 past the code
    pos = offset
    while pos < len(code) and (code[pos] in LEGACY_PREFIXES
                               or mode == 64 and 0x40 <= code[pos] <= 0x4F):
        pos += 1
    name = _vex_feature(code, pos, mode)
    if name is None:
        d = decode(code, offset, mode)
        if d is None or d.valid:
            return None                          # pvemu's table runs it
        mand = [p for p in d.prefixes if p in (0x66, 0xF2, 0xF3)]
        last = ([p for p in mand if p in (0xF2, 0xF3)] or mand or [0])[-1]
        name = next((f for p, m, lo, hi, f in _ROWS
                     if p == last and m == d.map and lo <= d.op <= hi), None)
    if name is None or name in features.IMPLEMENTED:
        return None
    return name


def describe(name: str) -> str:
    b = features.FEATURES[name]
    leaf = f"{b.leaf:#x}" if b.leaf > 0xFF else str(b.leaf)
    return (f"not in pvemu's CPUID: {name} (CPUID.{leaf}:{b.reg.upper()}[{b.bit}] clear), "
            "so #UD, which the host CPU runs")
