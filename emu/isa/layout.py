"""The length layout of the whole legacy opcode space: which opcodes take a
ModRM byte and which immediate, whether or not a row implements them (SDM
vol. 2, appendix A).  It gives the length of opcodes no row describes (they
decode to #UD, and the host oracle's scan must step over them); the opcode
table checks that every row agrees with it.

One character per opcode: '.' nothing, 'm' ModRM, 'b' imm8, 'z' imm16/32,
'M' ModRM+imm8, 'Z' ModRM+imm16/32, 'w' imm16, 'e' imm16+imm8 (ENTER),
'v' imm16/32/64 (MOV r, imm), 'o' moffs, 'p' far pointer, 'j' rel8,
'J' rel16/32, 'f'/'F' F6/F7 (imm8 / imm16/32 if ModRM.reg is 0 or 1),
'P' prefix, 'x' 0F escape, '3' 0F 38 escape, 'A' 0F 3A escape.
"""

MAP0 = ("mmmmbz..mmmmbz.x"   # 0x
        "mmmmbz..mmmmbz.."   # 1x
        "mmmmbzP.mmmmbzP."   # 2x
        "mmmmbzP.mmmmbzP."   # 3x
        "................"   # 4x
        "................"   # 5x
        "..mmPPPPzZbM...."   # 6x
        "jjjjjjjjjjjjjjjj"   # 7x
        "MZMMmmmmmmmmmmmm"   # 8x
        "..........p....."   # 9x
        "oooo....bz......"   # Ax
        "bbbbbbbbvvvvvvvv"   # Bx
        "MMw.mmMZe.w..b.."   # Cx
        "mmmmbb..mmmmmmmm"   # Dx
        "jjjjbbbbJJpj...."   # Ex
        "P.PP..fF......mm")  # Fx
# 0F 0F (3DNow!) takes ModRM and an imm8 suffix; 0F 20-23 (MOV CRn/DRn)
# read their ModRM as registers whatever its mod.
MAP1 = ("mmmm.........m.M"   # 0x
        "mmmmmmmmmmmmmmmm"   # 1x
        "mmmmmmmmmmmmmmmm"   # 2x
        "........3.A....."   # 3x
        "mmmmmmmmmmmmmmmm"   # 4x
        "mmmmmmmmmmmmmmmm"   # 5x
        "mmmmmmmmmmmmmmmm"   # 6x
        "MMMMmmm.mmmmmmmm"   # 7x
        "JJJJJJJJJJJJJJJJ"   # 8x
        "mmmmmmmmmmmmmmmm"   # 9x
        "...mMmmm...mMmmm"   # Ax
        "mmmmmmmmmmMmmmmm"   # Bx
        "mmMmMMMm........"   # Cx
        "mmmmmmmmmmmmmmmm"   # Dx
        "mmmmmmmmmmmmmmmm"   # Ex
        "mmmmmmmmmmmmmmmm")  # Fx
MAP2 = "m" * 256              # 0F 38: ModRM
MAP3 = "M" * 256              # 0F 3A: ModRM + imm8
MAPS = (MAP0, MAP1, MAP2, MAP3)
assert all(len(m) == 256 for m in MAPS)

#: 0F opcodes that are undefined with no length to speak of (the fuzz
#: decoder refuses them; the core decodes them as one-byte #UD).
UNDEFINED_0F = frozenset((0x04, 0x0A, 0x0C, 0x24, 0x25, 0x26, 0x27, 0x36, 0x39, 0x3B, 0x3C,
                          0x3D, 0x3E, 0x3F, 0x7A, 0x7B, 0xA6, 0xA7))

#: MOV to/from CRn/DRn: ModRM always names registers.
MREG_0F = frozenset((0x20, 0x21, 0x22, 0x23))

#: Shape character -> (has ModRM, immediate kind as in table.IMMEDIATES).
SHAPES = {
    ".": (False, None), "m": (True, None), "M": (True, "ib"), "Z": (True, "iz"),
    "b": (False, "ib"), "z": (False, "iz"), "w": (False, "iw"), "e": (False, "iw ib"),
    "v": (False, "iv"), "o": (False, "moffs"), "p": (False, "cp"), "j": (False, "cb"),
    "J": (False, "cz"), "f": (True, "ib"), "F": (True, "iz"),
}


def shape(map_: int, op: int, modrm_reg=None):
    """(has ModRM, immediate kind) of an opcode; for F6/F7 the immediate
    depends on ModRM.reg (None: the /0 form)."""
    ch = MAPS[map_][op]
    if ch not in SHAPES:
        raise ValueError(f"map {map_} opcode {op:02X} is a prefix or escape ({ch!r})")
    has_modrm, imm = SHAPES[ch]
    if ch in "fF" and modrm_reg is not None and modrm_reg >= 2:
        imm = None
    return has_modrm, imm
