# The opcode map: one line per opcode (or opcode row), the single source the
# decoder reads.  op(code, flags, handler, imm, sub): code 0x00-0xFF is the
# one-byte map, 0x1xx is 0F xx, 0x2xx is 0F 38 xx.  grp(code, flags, n, imm)
# sends an opcode to group table n, indexed by ModRM.reg; gop(n, reg, ...)
# fills it.  Anything not listed decodes to #UD.

cdef void op(uint32_t code, uint32_t flags, handler_t fn, uint32_t imm=I_NONE, uint32_t sub=0) noexcept nogil:
    OPS[code].fn = fn
    OPS[code].flags = <uint16_t>flags
    OPS[code].imm = <uint8_t>imm
    OPS[code].sub = <uint8_t>sub
    OPS[code].grp = 0

cdef void grp(uint32_t code, uint32_t flags, uint32_t n, uint32_t imm=I_NONE) noexcept nogil:
    op(code, flags | M | GRP, NULL, imm)
    OPS[code].grp = <uint8_t>n

cdef void gop(uint32_t n, uint32_t reg, uint32_t flags, handler_t fn, uint32_t imm=I_NONE, uint32_t sub=0) noexcept nogil:
    GROUPS[n][reg].fn = fn
    GROUPS[n][reg].flags = <uint16_t>flags
    GROUPS[n][reg].imm = <uint8_t>imm
    GROUPS[n][reg].sub = <uint8_t>sub

cdef enum:
    G1 = 1      # 80-83: ALU r/m, imm
    G1A = 2     # 8F: POP r/m
    G2 = 3      # C0 C1 D0-D3: shifts and rotates
    G3 = 4      # F6 F7: TEST NOT NEG MUL IMUL DIV IDIV
    G4 = 5      # FE: INC DEC r/m8
    G5 = 6      # FF: INC DEC CALL CALLF JMP JMPF PUSH
    G8 = 7      # 0F BA: BT BTS BTR BTC r/m, imm8
    G9 = 8      # 0F C7: CMPXCHG8B/16B
    G11 = 9     # C6 C7: MOV r/m, imm
    G16 = 10    # 0F 18: prefetch hints (NOPs)

cdef void init_opmap() noexcept nogil:
    cdef uint32_t k, row, lk
    memset(OPS, 0, sizeof(OPS))
    memset(GROUPS, 0, sizeof(GROUPS))
    cdef handler_t alu_eg[8]
    cdef handler_t alu_ge[8]
    cdef handler_t alu_ei[8]
    alu_eg[:] = [h_add_EG, h_or_EG, h_adc_EG, h_sbb_EG, h_and_EG, h_sub_EG, h_xor_EG, h_cmp_EG]
    alu_ge[:] = [h_add_GE, h_or_GE, h_adc_GE, h_sbb_GE, h_and_GE, h_sub_GE, h_xor_GE, h_cmp_GE]
    alu_ei[:] = [h_add_EI, h_or_EI, h_adc_EI, h_sbb_EI, h_and_EI, h_sub_EI, h_xor_EI, h_cmp_EI]

    # Not implemented, but decoded to their right length so an exit can show
    # the whole instruction: the two- and three-byte opcodes that take a
    # ModRM byte (SSE, MMX, system).  All raise #UD.
    for k in range(0x100, 0x300):
        op(k, M, h_ud)
    for k in range(0x104, 0x10C):
        op(k, 0, h_ud)
    for k in range(0x130, 0x138):
        op(k, 0, h_ud)
    op(0x10E, 0, h_ud)
    op(0x177, 0, h_ud)
    op(0x1AA, 0, h_ud)

    # 00-3F: the eight ALU rows (Eb,Gb Ev,Gv Gb,Eb Gv,Ev AL,Ib eAX,Iz)
    for k in range(8):
        row = k * 8
        lk = LK if k != 7 else 0
        op(row + 0, M | B | lk, alu_eg[k])
        op(row + 1, M | lk, alu_eg[k])
        op(row + 2, M | B, alu_ge[k])
        op(row + 3, M, alu_ge[k])
        op(row + 4, ACC | B, alu_ei[k], I_B)
        op(row + 5, ACC, alu_ei[k], I_Z)
    op(0x06, I64, h_push_seg, I_NONE, S_ES)
    op(0x07, I64 | END, h_pop_seg, I_NONE, S_ES)
    op(0x0E, I64, h_push_seg, I_NONE, S_CS)
    op(0x16, I64, h_push_seg, I_NONE, S_SS)
    op(0x17, I64 | END, h_pop_seg, I_NONE, S_SS)
    op(0x1E, I64, h_push_seg, I_NONE, S_DS)
    op(0x1F, I64 | END, h_pop_seg, I_NONE, S_DS)
    op(0x27, I64, h_daa)
    op(0x2F, I64, h_das)
    op(0x37, I64, h_aaa)
    op(0x3F, I64, h_aas)
    for k in range(8):
        op(0x40 + k, OPR | I64, h_inc)        # REX in 64-bit mode
        op(0x48 + k, OPR | I64, h_dec)
        op(0x50 + k, OPR | D64, h_push_r)
        op(0x58 + k, OPR | D64, h_pop_r)
    op(0x60, I64, h_pusha)
    op(0x61, I64, h_popa)
    op(0x62, M | MEM | I64, h_bound)
    op(0x63, M, h_movsxd_arpl)
    op(0x68, D64, h_push_I, I_Z)
    op(0x69, M, h_imul_GEI, I_Z)
    op(0x6A, D64, h_push_I, I_B)
    op(0x6B, M, h_imul_GEI, I_B)
    for k in range(16):
        op(0x70 + k, F64 | END, h_jcc, I_B, k)
        op(0x140 + k, M, h_cmov, I_NONE, k)
        op(0x180 + k, F64 | END, h_jcc, I_Z, k)
        op(0x190 + k, M | B, h_setcc, I_NONE, k)
    grp(0x80, B, G1, I_B)
    grp(0x81, 0, G1, I_Z)
    grp(0x82, B | I64, G1, I_B)
    grp(0x83, 0, G1, I_B)
    for k in range(8):
        gop(G1, k, LK if k != 7 else 0, alu_ei[k])
    op(0x84, M | B, h_test_EG)
    op(0x85, M, h_test_EG)
    op(0x86, M | B | LK, h_xchg)
    op(0x87, M | LK, h_xchg)
    op(0x88, M | B, h_mov_EG)
    op(0x89, M, h_mov_EG)
    op(0x8A, M | B, h_mov_GE)
    op(0x8B, M, h_mov_GE)
    op(0x8C, M, h_mov_E_Sw)
    op(0x8D, M | MEM, h_lea)
    op(0x8E, M | END, h_mov_Sw_E)
    grp(0x8F, D64, G1A)
    gop(G1A, 0, 0, h_pop_E)
    for k in range(8):
        op(0x90 + k, OPR, h_xchg_ax)         # 90 without REX.B: NOP
    op(0x98, 0, h_cbw)
    op(0x99, 0, h_cwd)
    op(0x9A, I64 | END, h_call_far, I_AP)
    op(0x9C, D64, h_pushf)
    op(0x9D, D64 | END, h_popf)
    op(0x9E, 0, h_sahf)
    op(0x9F, 0, h_lahf)
    op(0xA0, MOFFS | B, h_mov_GE)
    op(0xA1, MOFFS, h_mov_GE)
    op(0xA2, MOFFS | B, h_mov_EG)
    op(0xA3, MOFFS, h_mov_EG)
    op(0xA4, B, h_movs)
    op(0xA5, 0, h_movs)
    op(0xA6, B, h_cmps)
    op(0xA7, 0, h_cmps)
    op(0xA8, ACC | B, h_test_EI, I_B)
    op(0xA9, ACC, h_test_EI, I_Z)
    op(0xAA, B, h_stos)
    op(0xAB, 0, h_stos)
    op(0xAC, B, h_lods)
    op(0xAD, 0, h_lods)
    op(0xAE, B, h_scas)
    op(0xAF, 0, h_scas)
    for k in range(8):
        op(0xB0 + k, OPR | B, h_mov_EI, I_B)
        op(0xB8 + k, OPR, h_mov_EI, I_V)
    grp(0xC0, B, G2, I_B)
    grp(0xC1, 0, G2, I_B)
    grp(0xD0, B, G2)
    grp(0xD1, 0, G2)
    grp(0xD2, B, G2)
    grp(0xD3, 0, G2)
    gop(G2, 0, 0, h_rol)
    gop(G2, 1, 0, h_ror)
    gop(G2, 2, 0, h_rcl)
    gop(G2, 3, 0, h_rcr)
    gop(G2, 4, 0, h_shl)
    gop(G2, 5, 0, h_shr)
    gop(G2, 6, 0, h_shl)                     # SAL, an alias of SHL
    gop(G2, 7, 0, h_sar)
    op(0xC2, D64 | END, h_ret, I_W)
    op(0xC3, D64 | END, h_ret)
    op(0xC4, M | MEM | I64, h_lxs, I_NONE, S_ES)   # VEX in 64-bit mode: not implemented
    op(0xC5, M | MEM | I64, h_lxs, I_NONE, S_DS)
    grp(0xC6, B, G11)
    grp(0xC7, 0, G11)
    gop(G11, 0, 0, h_mov_EI, I_Z)
    op(0xC8, D64, h_enter, I_ENTER)
    op(0xC9, D64, h_leave)
    op(0xCA, END, h_ret_far, I_W)
    op(0xCB, END, h_ret_far)
    op(0xCC, END, h_int3)
    op(0xCD, END, h_int, I_B)
    op(0xCE, I64 | END, h_into)
    op(0xCF, END, h_iret)
    op(0xD4, I64, h_aam, I_B)
    op(0xD5, I64, h_aad, I_B)
    op(0xD6, I64, h_salc)
    op(0xD7, 0, h_xlat)
    op(0xE0, F64 | END, h_loop, I_B)
    op(0xE1, F64 | END, h_loop, I_B)
    op(0xE2, F64 | END, h_loop, I_B)
    op(0xE3, F64 | END, h_jcxz, I_B)
    op(0xE4, B, h_in, I_B)
    op(0xE5, 0, h_in, I_B)
    op(0xE6, B, h_out, I_B)
    op(0xE7, 0, h_out, I_B)
    op(0xEC, B, h_in)
    op(0xED, 0, h_in)
    op(0xEE, B, h_out)
    op(0xEF, 0, h_out)
    op(0x6C, B, h_ins)
    op(0x6D, 0, h_ins)
    op(0x6E, B, h_outs)
    op(0x6F, 0, h_outs)
    op(0xE8, F64 | END, h_call_rel, I_Z)
    op(0xE9, F64 | END, h_jmp_rel, I_Z)
    op(0xEA, I64 | END, h_jmp_far, I_AP)
    op(0xEB, F64 | END, h_jmp_rel, I_B)
    op(0xF1, END, h_int1)
    op(0xF4, END, h_hlt)
    op(0xF5, 0, h_cmc)
    grp(0xF6, B, G3)
    grp(0xF7, 0, G3)
    gop(G3, 0, 0, h_test_EI, I_Z)
    gop(G3, 1, 0, h_test_EI, I_Z)            # undocumented alias of /0
    gop(G3, 2, LK, h_not)
    gop(G3, 3, LK, h_neg)
    gop(G3, 4, 0, h_mul)
    gop(G3, 5, 0, h_imul1)
    gop(G3, 6, 0, h_div)
    gop(G3, 7, 0, h_idiv)
    op(0xF8, 0, h_clc)
    op(0xF9, 0, h_stc)
    op(0xFA, 0, h_cli)
    op(0xFB, END, h_sti)
    op(0xFC, 0, h_cld)
    op(0xFD, 0, h_std)
    grp(0xFE, B, G4)
    gop(G4, 0, LK, h_inc)
    gop(G4, 1, LK, h_dec)
    grp(0xFF, 0, G5)
    gop(G5, 0, LK, h_inc)
    gop(G5, 1, LK, h_dec)
    gop(G5, 2, F64 | END, h_call_E)
    gop(G5, 3, MEM | END, h_call_far)
    gop(G5, 4, F64 | END, h_jmp_E)
    gop(G5, 5, MEM | END, h_jmp_far)
    gop(G5, 6, D64, h_push_E)

    # --- the two-byte map (0F xx) ---
    op(0x100, M, h_grp6)                     # SLDT STR LLDT LTR VERR VERW
    op(0x101, M | END, h_grp7)               # SGDT SIDT LGDT LIDT SMSW LMSW INVLPG SWAPGS RDTSCP
    op(0x102, M, h_lar_lsl)
    op(0x103, M, h_lar_lsl)
    op(0x106, 0, h_clts)
    op(0x108, 0, h_wbinvd)                   # INVD
    op(0x109, 0, h_wbinvd)
    op(0x120, M | MREG | END, h_mov_cr)
    op(0x121, M | MREG, h_mov_dr)
    op(0x122, M | MREG | END, h_mov_cr)
    op(0x123, M | MREG, h_mov_dr)
    op(0x105, END, h_syscall)
    op(0x107, END, h_sysret)
    op(0x134, END, h_sysenter)
    op(0x135, END, h_sysexit)
    op(0x130, END, h_wrmsr)
    op(0x132, 0, h_rdmsr)
    op(0x10B, END, h_ud)                     # UD2
    op(0x10D, M, h_nop)                      # PREFETCH/PREFETCHW hints
    grp(0x118, 0, G16)
    for k in range(8):
        gop(G16, k, 0, h_nop)
    for k in range(0x19, 0x20):
        op(0x100 + k, M, h_nop)              # 0F 19-1F: NOP r/m (0F 1F /0 is the long NOP)
    op(0x131, 0, h_rdtsc)
    op(0x1A0, D64, h_push_seg, I_NONE, S_FS)
    op(0x1A1, D64 | END, h_pop_seg, I_NONE, S_FS)
    op(0x1A2, 0, h_cpuid)
    op(0x1A3, M, h_bt)
    op(0x1A4, M, h_shld, I_B)
    op(0x1A5, M, h_shld)
    op(0x1A8, D64, h_push_seg, I_NONE, S_GS)
    op(0x1A9, D64 | END, h_pop_seg, I_NONE, S_GS)
    op(0x1AB, M | LK, h_bts)
    op(0x1AC, M, h_shrd, I_B)
    op(0x1AD, M, h_shrd)
    op(0x1AF, M, h_imul_GE)
    op(0x1B0, M | B | LK, h_cmpxchg)
    op(0x1B1, M | LK, h_cmpxchg)
    op(0x1B2, M | MEM | END, h_lxs, I_NONE, S_SS)
    op(0x1B3, M | LK, h_btr)
    op(0x1B4, M | MEM, h_lxs, I_NONE, S_FS)
    op(0x1B5, M | MEM, h_lxs, I_NONE, S_GS)
    op(0x1B6, M | RMB, h_movzx)
    op(0x1B7, M, h_movzx)
    op(0x1B8, M, h_popcnt)
    grp(0x1BA, 0, G8, I_B)
    gop(G8, 4, 0, h_bt_I)
    gop(G8, 5, LK, h_bts_I)
    gop(G8, 6, LK, h_btr_I)
    gop(G8, 7, LK, h_btc_I)
    op(0x1BB, M | LK, h_btc)
    op(0x1BC, M, h_bsf)
    op(0x1BD, M, h_bsr)
    op(0x1BE, M | RMB, h_movsx)
    op(0x1BF, M, h_movsx)
    op(0x1C0, M | B | LK, h_xadd)
    op(0x1C1, M | LK, h_xadd)
    grp(0x1C7, 0, G9)
    gop(G9, 1, MEM | LK, h_cmpxchg8b)
    for k in range(8):
        op(0x1C8 + k, OPR, h_bswap)
    op(0x1FF, M, h_ud)                       # UD0

    # --- the three-byte map 0F 38 xx ---
    op(0x2F0, M | MEM, h_movbe)
    op(0x2F1, M | MEM, h_movbe)

    # --- the x87 escapes D8-DF and WAIT (x87map.pxi) ---
    init_x87_opmap()
