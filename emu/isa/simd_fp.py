"""Rows: SSE, SSE2, SSE3 and SSE4.1 floating point (emu/sse_fp.pxi), MXCSR
and the SIMD plumbing (emu/simd.pxi), state saving (emu/fxsave.pxi), and
the cache and ordering instructions (emu/memorder.pxi).  The format is
described in table.py.

Arithmetic handlers take sub = operation | shape << 4 (sse_fp.pxi: the
operations ADD SUB MUL DIV SQRT MIN MAX are 0-6, the shapes PS PD SS SD
0-3)."""
from emu.isa.table import row

PS, PD, SS, SD = 0, 1, 2, 3
SHAPES = (("NP", "PS", PS, "SSE", "xmm2/m128"), ("66", "PD", PD, "SSE2", "xmm2/m128"),
          ("F3", "SS", SS, "SSE", "xmm2/m32"), ("F2", "SD", SD, "SSE2", "xmm2/m64"))

# ---- arithmetic ----
for op, name, code in ((0, "ADD", 0x58), (1, "SUB", 0x5C), (2, "MUL", 0x59), (3, "DIV", 0x5E),
                       (4, "SQRT", 0x51), (5, "MIN", 0x5D), (6, "MAX", 0x5F)):
    for pfx, suffix, shape, feature, src in SHAPES:
        row(f"{pfx} 0F {code:02X} /r", f"{name}{suffix} xmm1, {src}", "h_sse_arith",
            sub=op | shape << 4, feature=feature)
for pfx, suffix, shape, feature, src in SHAPES:
    row(f"{pfx} 0F C2 /r ib", f"CMP{suffix} xmm1, {src}, imm8", "h_sse_cmp", sub=shape,
        feature=feature)
row("NP 0F 53 /r", "RCPPS xmm1, xmm2/m128", "h_sse_rcp", sub=PS << 4, feature="SSE")
row("F3 0F 53 /r", "RCPSS xmm1, xmm2/m32", "h_sse_rcp", sub=SS << 4, feature="SSE")
row("NP 0F 52 /r", "RSQRTPS xmm1, xmm2/m128", "h_sse_rcp", sub=1 | PS << 4, feature="SSE")
row("F3 0F 52 /r", "RSQRTSS xmm1, xmm2/m32", "h_sse_rcp", sub=1 | SS << 4, feature="SSE")
row("66 0F D0 /r", "ADDSUBPD xmm1, xmm2/m128", "h_sse_addsub", sub=PD, feature="SSE3")
row("F2 0F D0 /r", "ADDSUBPS xmm1, xmm2/m128", "h_sse_addsub", sub=PS, feature="SSE3")
row("66 0F 7C /r", "HADDPD xmm1, xmm2/m128", "h_sse_hop", sub=0 | PD << 4, feature="SSE3")
row("F2 0F 7C /r", "HADDPS xmm1, xmm2/m128", "h_sse_hop", sub=0 | PS << 4, feature="SSE3")
row("66 0F 7D /r", "HSUBPD xmm1, xmm2/m128", "h_sse_hop", sub=1 | PD << 4, feature="SSE3")
row("F2 0F 7D /r", "HSUBPS xmm1, xmm2/m128", "h_sse_hop", sub=1 | PS << 4, feature="SSE3")

# ---- logic ----
for k, name in enumerate(("AND", "ANDN", "OR", "XOR")):
    row(f"NP 0F {0x54 + k:02X} /r", f"{name}PS xmm1, xmm2/m128", "h_sse_logic", sub=k, feature="SSE")
    row(f"66 0F {0x54 + k:02X} /r", f"{name}PD xmm1, xmm2/m128", "h_sse_logic", sub=k, feature="SSE2")

# ---- comparisons into EFLAGS ----
row("NP 0F 2F /r", "COMISS xmm1, xmm2/m32", "h_sse_comi", sub=0, feature="SSE", defined="OSZAPC")
row("66 0F 2F /r", "COMISD xmm1, xmm2/m64", "h_sse_comi", sub=1, feature="SSE2", defined="OSZAPC")
row("NP 0F 2E /r", "UCOMISS xmm1, xmm2/m32", "h_sse_comi", sub=2, feature="SSE", defined="OSZAPC")
row("66 0F 2E /r", "UCOMISD xmm1, xmm2/m64", "h_sse_comi", sub=3, feature="SSE2", defined="OSZAPC")

# ---- moves ----
for pfx, suffix, feature in (("NP", "PS", "SSE"), ("66", "PD", "SSE2")):
    row(f"{pfx} 0F 28 /r", f"MOVA{suffix} xmm1, xmm2/m128", "h_sse_load", sub=16, feature=feature)
    row(f"{pfx} 0F 29 /r", f"MOVA{suffix} xmm2/m128, xmm1", "h_sse_store", sub=16, feature=feature)
    row(f"{pfx} 0F 10 /r", f"MOVU{suffix} xmm1, xmm2/m128", "h_sse_load", sub=0, feature=feature)
    row(f"{pfx} 0F 11 /r", f"MOVU{suffix} xmm2/m128, xmm1", "h_sse_store", sub=0, feature=feature)
    row(f"{pfx} 0F 2B /r", f"MOVNT{suffix} m128, xmm1", mem="h_sse_store", sub=16, feature=feature)
    row(f"{pfx} 0F 13 /r", f"MOVL{suffix} m64, xmm1", mem="h_movlps_store", sub=0, feature=feature)
    row(f"{pfx} 0F 17 /r", f"MOVH{suffix} m64, xmm1", mem="h_movlps_store", sub=1, feature=feature)
    row(f"{pfx} 0F 14 /r", f"UNPCKL{suffix} xmm1, xmm2/m128", "h_unpck",
        sub=0 if suffix == "PS" else 2, feature=feature)
    row(f"{pfx} 0F 15 /r", f"UNPCKH{suffix} xmm1, xmm2/m128", "h_unpck",
        sub=1 if suffix == "PS" else 3, feature=feature)
    row(f"{pfx} 0F C6 /r ib", f"SHUF{suffix} xmm1, xmm2/m128, imm8", "h_shufps",
        sub=0 if suffix == "PS" else 1, feature=feature)
    row(f"{pfx} 0F 50 /r", f"MOVMSK{suffix} r32/64, xmm", reg="h_movmskps",
        sub=4 if suffix == "PS" else 8, feature=feature)
row("F3 0F 10 /r", "MOVSS xmm1, xmm2/m32", "h_movss_load", sub=4, feature="SSE")
row("F3 0F 11 /r", "MOVSS xmm2/m32, xmm1", "h_movss_store", sub=4, feature="SSE")
row("F2 0F 10 /r", "MOVSD xmm1, xmm2/m64", "h_movss_load", sub=8, feature="SSE2")
row("F2 0F 11 /r", "MOVSD xmm2/m64, xmm1", "h_movss_store", sub=8, feature="SSE2")
row("NP 0F 12 /r", "MOVLPS xmm1, m64 / MOVHLPS xmm1, xmm2", "h_movlps", sub=0, feature="SSE")
row("66 0F 12 /r", "MOVLPD xmm1, m64", mem="h_movlps", sub=0, feature="SSE2")
row("NP 0F 16 /r", "MOVHPS xmm1, m64 / MOVLHPS xmm1, xmm2", "h_movlps", sub=1, feature="SSE")
row("66 0F 16 /r", "MOVHPD xmm1, m64", mem="h_movlps", sub=1, feature="SSE2")
row("F2 0F 12 /r", "MOVDDUP xmm1, xmm2/m64", "h_movddup", feature="SSE3")
# LDDQU: an unaligned 128-bit load (memory only), MOVDQU's load (simd_int.pxi)
row("F2 0F F0 /r", "LDDQU xmm1, m128", mem="h_movdqu_load", flags="mem", feature="SSE3")
row("F3 0F 12 /r", "MOVSLDUP xmm1, xmm2/m128", "h_movsldup", sub=0, feature="SSE3")
row("F3 0F 16 /r", "MOVSHDUP xmm1, xmm2/m128", "h_movsldup", sub=1, feature="SSE3")

# ---- conversions (sse_fp.pxi CV_*) ----
row("NP 0F 5A /r", "CVTPS2PD xmm1, xmm2/m64", "h_cvt", sub=0, feature="SSE2")
row("66 0F 5A /r", "CVTPD2PS xmm1, xmm2/m128", "h_cvt", sub=1, feature="SSE2")
row("F3 0F 5A /r", "CVTSS2SD xmm1, xmm2/m32", "h_cvt", sub=2, feature="SSE2")
row("F2 0F 5A /r", "CVTSD2SS xmm1, xmm2/m64", "h_cvt", sub=3, feature="SSE2")
row("NP 0F 5B /r", "CVTDQ2PS xmm1, xmm2/m128", "h_cvt", sub=4, feature="SSE2")
row("66 0F 5B /r", "CVTPS2DQ xmm1, xmm2/m128", "h_cvt", sub=5, feature="SSE2")
row("F3 0F 5B /r", "CVTTPS2DQ xmm1, xmm2/m128", "h_cvt", sub=6, feature="SSE2")
row("F3 0F E6 /r", "CVTDQ2PD xmm1, xmm2/m64", "h_cvt", sub=7, feature="SSE2")
row("F2 0F E6 /r", "CVTPD2DQ xmm1, xmm2/m128", "h_cvt", sub=8, feature="SSE2")
row("66 0F E6 /r", "CVTTPD2DQ xmm1, xmm2/m128", "h_cvt", sub=9, feature="SSE2")
row("F3 0F 2A /r", "CVTSI2SS xmm1, r/m32 (r/m64 with REX.W)", "h_cvtsi2s", sub=0, feature="SSE")
row("F2 0F 2A /r", "CVTSI2SD xmm1, r/m32 (r/m64 with REX.W)", "h_cvtsi2s", sub=1, feature="SSE2")
row("F3 0F 2D /r", "CVTSS2SI r32/64, xmm1/m32", "h_cvts2si", sub=0, feature="SSE")
row("F2 0F 2D /r", "CVTSD2SI r32/64, xmm1/m64", "h_cvts2si", sub=1, feature="SSE2")
row("F3 0F 2C /r", "CVTTSS2SI r32/64, xmm1/m32", "h_cvts2si", sub=2, feature="SSE")
row("F2 0F 2C /r", "CVTTSD2SI r32/64, xmm1/m64", "h_cvts2si", sub=3, feature="SSE2")
row("NP 0F 2A /r", "CVTPI2PS xmm, mm/m64", "h_cvtpi2p", sub=0, feature="SSE")
row("66 0F 2A /r", "CVTPI2PD xmm, mm/m64", "h_cvtpi2p", sub=1, feature="SSE2")
row("NP 0F 2D /r", "CVTPS2PI mm, xmm/m64", "h_cvtp2pi", sub=0, feature="SSE")
row("66 0F 2D /r", "CVTPD2PI mm, xmm/m128", "h_cvtp2pi", sub=1, feature="SSE2")
row("NP 0F 2C /r", "CVTTPS2PI mm, xmm/m64", "h_cvtp2pi", sub=2, feature="SSE")
row("66 0F 2C /r", "CVTTPD2PI mm, xmm/m128", "h_cvtp2pi", sub=3, feature="SSE2")

# ---- SSE4.1 ----
for k, suffix in enumerate(("PS", "PD", "SS", "SD")):
    row(f"66 0F 3A {0x08 + k:02X} /r ib", f"ROUND{suffix} xmm1, xmm2/m, imm8", "h_round", sub=k,
        feature="SSE4_1")
row("66 0F 3A 0C /r ib", "BLENDPS xmm1, xmm2/m128, imm8", "h_blend", sub=0, feature="SSE4_1")
row("66 0F 3A 0D /r ib", "BLENDPD xmm1, xmm2/m128, imm8", "h_blend", sub=1, feature="SSE4_1")
row("66 0F 38 14 /r", "BLENDVPS xmm1, xmm2/m128, <XMM0>", "h_blend", sub=2, feature="SSE4_1")
row("66 0F 38 15 /r", "BLENDVPD xmm1, xmm2/m128, <XMM0>", "h_blend", sub=3, feature="SSE4_1")
row("66 0F 3A 40 /r ib", "DPPS xmm1, xmm2/m128, imm8", "h_dpps", sub=0, feature="SSE4_1")
row("66 0F 3A 41 /r ib", "DPPD xmm1, xmm2/m128, imm8", "h_dpps", sub=1, feature="SSE4_1")
row("66 0F 3A 21 /r ib", "INSERTPS xmm1, xmm2/m32, imm8", "h_insertps", feature="SSE4_1")
row("66 0F 3A 17 /r ib", "EXTRACTPS r/m32, xmm1, imm8", "h_extractps", feature="SSE4_1")

# ---- MXCSR, state saving, cache and ordering (0F AE) ----
for where, name, handler, sub, feature in (
        ("0F AE /0", "FXSAVE m512byte", "h_fxsave", 0, "FXSR"),
        ("0F AE /1", "FXRSTOR m512byte", "h_fxrstor", 0, "FXSR"),
        ("0F AE /4", "XSAVE mem", "h_xsave", 0, "XSAVE"),
        ("0F AE /5", "XRSTOR mem", "h_xrstor", 0, "XSAVE"),
        ("0F AE /6", "XSAVEOPT mem", "h_xsave", 1, "XSAVE"),
        ("0F C7 /4", "XSAVEC mem", "h_xsave", 2, "XSAVE")):
    row(f"NP {where}", name, mem=handler, sub=sub, feature=feature)
    row(f"NP REX.W {where}", name.replace(" ", "64 ", 1), mem=handler, sub=sub, feature=feature)
row("NP 0F AE /2", "LDMXCSR m32", mem="h_ldmxcsr", feature="SSE")
row("NP 0F AE /3", "STMXCSR m32", mem="h_stmxcsr", feature="SSE")
row("NP 0F AE /7", "CLFLUSH m8", mem="h_clflush", feature="CLFLUSH")
row("66 0F AE /7", "CLFLUSHOPT m8", mem="h_clflush", feature="CLFLUSHOPT")
row("NP 0F AE E8+i", "LFENCE", "h_fence", feature="SSE2")
row("NP 0F AE F0+i", "MFENCE", "h_fence", feature="SSE2")
row("NP 0F AE F8+i", "SFENCE", "h_fence", feature="SSE")
row("0F 01 D0", "XGETBV", "h_xgetbv", feature="XSAVE")
row("0F 01 D1", "XSETBV", "h_xsetbv", feature="XSAVE")
row("F3 0F C7 /7", "RDPID r32/64", reg="h_rdpid", feature="RDPID")
row("NP 0F C3 /r", "MOVNTI m32/64, r32/64", mem="h_movnti", feature="SSE2")
