"""Rows: the SIMD integer instructions of MMX, SSE, SSE2, SSSE3, SSE4.1 and
SSE4.2 (handlers in emu/simd_int.pxi; EMMS's in the SIMD plumbing, simd.pxi).
An instruction with an MMX and an SSE form has the handler h_x for the xmm
form and h_x_mm for the mm form.  The format is described in table.py."""
from emu.isa.table import row

# Two-operand instructions of the 0F map: opcode, mnemonic, feature of the
# MMX form (None: xmm form only).  The xmm form (66) is SSE2.
TWO_BYTE = (
    (0x60, "PUNPCKLBW", "MMX"), (0x61, "PUNPCKLWD", "MMX"), (0x62, "PUNPCKLDQ", "MMX"),
    (0x63, "PACKSSWB", "MMX"), (0x64, "PCMPGTB", "MMX"), (0x65, "PCMPGTW", "MMX"),
    (0x66, "PCMPGTD", "MMX"), (0x67, "PACKUSWB", "MMX"), (0x68, "PUNPCKHBW", "MMX"),
    (0x69, "PUNPCKHWD", "MMX"), (0x6A, "PUNPCKHDQ", "MMX"), (0x6B, "PACKSSDW", "MMX"),
    (0x6C, "PUNPCKLQDQ", None), (0x6D, "PUNPCKHQDQ", None),
    (0x74, "PCMPEQB", "MMX"), (0x75, "PCMPEQW", "MMX"), (0x76, "PCMPEQD", "MMX"),
    (0xD1, "PSRLW", "MMX"), (0xD2, "PSRLD", "MMX"), (0xD3, "PSRLQ", "MMX"),
    (0xD4, "PADDQ", "SSE2"), (0xD5, "PMULLW", "MMX"),
    (0xD8, "PSUBUSB", "MMX"), (0xD9, "PSUBUSW", "MMX"), (0xDA, "PMINUB", "SSE"),
    (0xDB, "PAND", "MMX"), (0xDC, "PADDUSB", "MMX"), (0xDD, "PADDUSW", "MMX"),
    (0xDE, "PMAXUB", "SSE"), (0xDF, "PANDN", "MMX"),
    (0xE0, "PAVGB", "SSE"), (0xE1, "PSRAW", "MMX"), (0xE2, "PSRAD", "MMX"),
    (0xE3, "PAVGW", "SSE"), (0xE4, "PMULHUW", "SSE"), (0xE5, "PMULHW", "MMX"),
    (0xE8, "PSUBSB", "MMX"), (0xE9, "PSUBSW", "MMX"), (0xEA, "PMINSW", "SSE"),
    (0xEB, "POR", "MMX"), (0xEC, "PADDSB", "MMX"), (0xED, "PADDSW", "MMX"),
    (0xEE, "PMAXSW", "SSE"), (0xEF, "PXOR", "MMX"),
    (0xF1, "PSLLW", "MMX"), (0xF2, "PSLLD", "MMX"), (0xF3, "PSLLQ", "MMX"),
    (0xF4, "PMULUDQ", "SSE2"), (0xF5, "PMADDWD", "MMX"), (0xF6, "PSADBW", "SSE"),
    (0xF8, "PSUBB", "MMX"), (0xF9, "PSUBW", "MMX"), (0xFA, "PSUBD", "MMX"),
    (0xFB, "PSUBQ", "SSE2"), (0xFC, "PADDB", "MMX"), (0xFD, "PADDW", "MMX"),
    (0xFE, "PADDD", "MMX"),
)

for op, name, mmx in TWO_BYTE:
    h = name.lower()
    m32 = "m32" if name.startswith("PUNPCKL") else "m64"
    if mmx:
        row(f"NP 0F {op:02X} /r", f"{name} mm, mm/{m32}", f"h_{h}_mm", feature=mmx)
    row(f"66 0F {op:02X} /r", f"{name} xmm1, xmm2/m128", f"h_{h}", feature="SSE2")

# SSSE3 (0F 38 xx), each with an MMX and an xmm form.
for op, name in ((0x00, "PSHUFB"), (0x01, "PHADDW"), (0x02, "PHADDD"), (0x03, "PHADDSW"),
                 (0x04, "PMADDUBSW"), (0x05, "PHSUBW"), (0x06, "PHSUBD"), (0x07, "PHSUBSW"),
                 (0x08, "PSIGNB"), (0x09, "PSIGNW"), (0x0A, "PSIGND"), (0x0B, "PMULHRSW"),
                 (0x1C, "PABSB"), (0x1D, "PABSW"), (0x1E, "PABSD")):
    h = name.lower()
    row(f"NP 0F 38 {op:02X} /r", f"{name} mm1, mm2/m64", f"h_{h}_mm", feature="SSSE3")
    row(f"66 0F 38 {op:02X} /r", f"{name} xmm1, xmm2/m128", f"h_{h}", feature="SSSE3")
row("NP 0F 3A 0F /r ib", "PALIGNR mm1, mm2/m64, imm8", "h_palignr_mm", feature="SSSE3")
row("66 0F 3A 0F /r ib", "PALIGNR xmm1, xmm2/m128, imm8", "h_palignr", feature="SSSE3")

# SSE4.1 and SSE4.2 two-operand instructions (66 0F 38 xx).
for op, name, feature in (
        (0x10, "PBLENDVB", "SSE4_1"), (0x17, "PTEST", "SSE4_1"), (0x28, "PMULDQ", "SSE4_1"),
        (0x29, "PCMPEQQ", "SSE4_1"), (0x2B, "PACKUSDW", "SSE4_1"), (0x37, "PCMPGTQ", "SSE4_2"),
        (0x38, "PMINSB", "SSE4_1"), (0x39, "PMINSD", "SSE4_1"), (0x3A, "PMINUW", "SSE4_1"),
        (0x3B, "PMINUD", "SSE4_1"), (0x3C, "PMAXSB", "SSE4_1"), (0x3D, "PMAXSD", "SSE4_1"),
        (0x3E, "PMAXUW", "SSE4_1"), (0x3F, "PMAXUD", "SSE4_1"), (0x40, "PMULLD", "SSE4_1"),
        (0x41, "PHMINPOSUW", "SSE4_1")):
    row(f"66 0F 38 {op:02X} /r", f"{name} xmm1, xmm2/m128", f"h_{name.lower()}", feature=feature,
        defined="OSZAPC" if name == "PTEST" else "")
for k, (kind, size) in enumerate((("BW", 64), ("BD", 32), ("BQ", 16), ("WD", 64), ("WQ", 32), ("DQ", 64))):
    row(f"66 0F 38 {0x20 + k:02X} /r", f"PMOVSX{kind} xmm1, xmm2/m{size}", f"h_pmovsx{kind.lower()}",
        feature="SSE4_1")
    row(f"66 0F 38 {0x30 + k:02X} /r", f"PMOVZX{kind} xmm1, xmm2/m{size}", f"h_pmovzx{kind.lower()}",
        feature="SSE4_1")
row("66 0F 38 2A /r", "MOVNTDQA xmm1, m128", mem="h_movdqa_load", feature="SSE4_1")
row("66 0F 3A 0E /r ib", "PBLENDW xmm1, xmm2/m128, imm8", "h_pblendw", feature="SSE4_1")
row("66 0F 3A 42 /r ib", "MPSADBW xmm1, xmm2/m128, imm8", "h_mpsadbw", feature="SSE4_1")
row("66 0F 3A 14 /r ib", "PEXTRB r32/m8, xmm2, imm8", "h_pextrb", feature="SSE4_1")
row("66 0F 3A 15 /r ib", "PEXTRW r32/m16, xmm, imm8", "h_pextrw_rm", feature="SSE4_1")
row("66 0F 3A 16 /r ib", "PEXTRD r/m32, xmm2, imm8", "h_pextrd", feature="SSE4_1")
row("66 REX.W 0F 3A 16 /r ib", "PEXTRQ r/m64, xmm2, imm8", "h_pextrd", feature="SSE4_1")
row("66 0F 3A 20 /r ib", "PINSRB xmm1, r32/m8, imm8", "h_pinsrb", feature="SSE4_1")
row("66 0F 3A 22 /r ib", "PINSRD xmm1, r/m32, imm8", "h_pinsrd", feature="SSE4_1")
row("66 REX.W 0F 3A 22 /r ib", "PINSRQ xmm1, r/m64, imm8", "h_pinsrd", feature="SSE4_1")

# SSE4.2 string compares and CRC32.
for op, name in ((0x60, "PCMPESTRM"), (0x61, "PCMPESTRI"), (0x62, "PCMPISTRM"), (0x63, "PCMPISTRI")):
    row(f"66 0F 3A {op:02X} /r ib", f"{name} xmm1, xmm2/m128, imm8", f"h_{name.lower()}",
        feature="SSE4_2", defined="OSZAPC")
row("F2 0F 38 F0 /r", "CRC32 r32/64, r/m8", "h_crc32", flags="rmb", sub=1, feature="SSE4_2")
row("F2 0F 38 F1 /r", "CRC32 r32/64, r/m16/32/64", "h_crc32", feature="SSE4_2")

# Shuffles, inserts, extracts, byte masks.
row("NP 0F 70 /r ib", "PSHUFW mm1, mm2/m64, imm8", "h_pshufw_mm", feature="SSE")
row("66 0F 70 /r ib", "PSHUFD xmm1, xmm2/m128, imm8", "h_pshufd", feature="SSE2")
row("F3 0F 70 /r ib", "PSHUFHW xmm1, xmm2/m128, imm8", "h_pshufhw", feature="SSE2")
row("F2 0F 70 /r ib", "PSHUFLW xmm1, xmm2/m128, imm8", "h_pshuflw", feature="SSE2")
row("NP 0F C4 /r ib", "PINSRW mm, r32/m16, imm8", "h_pinsrw_mm", feature="SSE")
row("66 0F C4 /r ib", "PINSRW xmm, r32/m16, imm8", "h_pinsrw", feature="SSE2")
row("NP 0F C5 /r ib", "PEXTRW r32, mm, imm8", reg="h_pextrw_mm", flags="reg", feature="SSE")
row("66 0F C5 /r ib", "PEXTRW r32, xmm, imm8", reg="h_pextrw", flags="reg", feature="SSE2")
row("NP 0F D7 /r", "PMOVMSKB r32, mm", reg="h_pmovmskb_mm", flags="reg", feature="SSE")
row("66 0F D7 /r", "PMOVMSKB r32, xmm", reg="h_pmovmskb", flags="reg", feature="SSE2")

# Shifts by an immediate: groups 12-14, register forms only.
for op, digit, name, mmx in ((0x71, 2, "PSRLW", True), (0x71, 4, "PSRAW", True), (0x71, 6, "PSLLW", True),
                             (0x72, 2, "PSRLD", True), (0x72, 4, "PSRAD", True), (0x72, 6, "PSLLD", True),
                             (0x73, 2, "PSRLQ", True), (0x73, 6, "PSLLQ", True),
                             (0x73, 3, "PSRLDQ", False), (0x73, 7, "PSLLDQ", False)):
    h = f"h_{name.lower()}" + ("_i" if mmx else "")
    if mmx:
        row(f"NP 0F {op:02X} /{digit} ib", f"{name} mm, imm8", reg=f"{h}_mm", flags="reg", feature="MMX")
    row(f"66 0F {op:02X} /{digit} ib", f"{name} xmm1, imm8", reg=h, flags="reg", feature="SSE2")

# Moves.
row("NP 0F 77", "EMMS", "h_emms", feature="MMX")
row("NP 0F 6E /r", "MOVD mm, r/m32", "h_movd_mm_rm", feature="MMX")
row("NP REX.W 0F 6E /r", "MOVQ mm, r/m64", "h_movd_mm_rm", feature="MMX")
row("NP 0F 7E /r", "MOVD r/m32, mm", "h_movd_rm_mm", feature="MMX")
row("NP REX.W 0F 7E /r", "MOVQ r/m64, mm", "h_movd_rm_mm", feature="MMX")
row("66 0F 6E /r", "MOVD xmm, r/m32", "h_movd_x_rm", feature="SSE2")
row("66 REX.W 0F 6E /r", "MOVQ xmm, r/m64", "h_movd_x_rm", feature="SSE2")
row("66 0F 7E /r", "MOVD r/m32, xmm", "h_movd_rm_x", feature="SSE2")
row("66 REX.W 0F 7E /r", "MOVQ r/m64, xmm", "h_movd_rm_x", feature="SSE2")
row("F3 0F 7E /r", "MOVQ xmm1, xmm2/m64", "h_movq_x_xm", feature="SSE2")
row("66 0F D6 /r", "MOVQ xmm2/m64, xmm1", "h_movq_xm_x", feature="SSE2")
row("NP 0F 6F /r", "MOVQ mm, mm/m64", "h_movq_mm_mmm", feature="MMX")
row("NP 0F 7F /r", "MOVQ mm/m64, mm", "h_movq_mmm_mm", feature="MMX")
row("66 0F 6F /r", "MOVDQA xmm1, xmm2/m128", "h_movdqa_load", feature="SSE2")
row("F3 0F 6F /r", "MOVDQU xmm1, xmm2/m128", "h_movdqu_load", feature="SSE2")
row("66 0F 7F /r", "MOVDQA xmm2/m128, xmm1", "h_movdqa_store", feature="SSE2")
row("F3 0F 7F /r", "MOVDQU xmm2/m128, xmm1", "h_movdqu_store", feature="SSE2")
row("NP 0F E7 /r", "MOVNTQ m64, mm", mem="h_movq_mmm_mm", feature="SSE")
row("66 0F E7 /r", "MOVNTDQ m128, xmm1", mem="h_movdqa_store", feature="SSE2")
row("F3 0F D6 /r", "MOVQ2DQ xmm, mm", reg="h_movq2dq", flags="reg", feature="SSE2")
row("F2 0F D6 /r", "MOVDQ2Q mm, xmm", reg="h_movdq2q", flags="reg", feature="SSE2")
row("NP 0F F7 /r", "MASKMOVQ mm1, mm2", reg="h_maskmovq", flags="reg", feature="SSE")
row("66 0F F7 /r", "MASKMOVDQU xmm1, xmm2", reg="h_maskmovdqu", flags="reg", feature="SSE2")
