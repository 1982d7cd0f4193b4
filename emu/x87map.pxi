# The x87 opcodes D8-DF, until the declarative opcode table takes them:
# one escape handler per opcode byte finds the instruction's handler by
# ModRM (X87_MEM by ModRM.reg for memory forms, X87_REG by ModRM & 3F for
# register forms) and rewrites the decoded instruction to call it directly
# from then on.  Anything not listed raises #UD.

cdef struct X87Op:
    handler_t fn
    uint8_t sub

cdef X87Op X87_MEM[8][8]
cdef X87Op X87_REG[8][64]

cdef int h_x87_escape(CPU* c, Insn* i) noexcept nogil:
    cdef X87Op* o
    if i.mod == 3:
        o = &X87_REG[i.opcode & 7][i.modrm & 0x3F]
    else:
        o = &X87_MEM[i.opcode & 7][(i.modrm >> 3) & 7]
    if o.fn == NULL:
        return fault(c, 6, 0, 0)
    i.fn = o.fn
    i.sub = o.sub
    return o.fn(c, i)

cdef void xm(uint32_t opc, uint32_t reg, handler_t fn, uint32_t sub=0) noexcept nogil:
    X87_MEM[opc - 0xD8][reg].fn = fn
    X87_MEM[opc - 0xD8][reg].sub = <uint8_t>sub

cdef void xr(uint32_t opc, uint32_t modrm, uint32_t n, handler_t fn, uint32_t sub=0) noexcept nogil:
    """Register forms ModRM modrm .. modrm + n - 1."""
    cdef uint32_t k
    for k in range(n):
        X87_REG[opc - 0xD8][(modrm + k) & 0x3F].fn = fn
        X87_REG[opc - 0xD8][(modrm + k) & 0x3F].sub = <uint8_t>sub

cdef void init_x87_opmap() noexcept nogil:
    cdef uint32_t k
    memset(X87_MEM, 0, sizeof(X87_MEM))
    memset(X87_REG, 0, sizeof(X87_REG))
    for k in range(0xD8, 0xE0):
        op(k, M, h_x87_escape)
    op(0x9B, 0, h_fwait)
    for k in range(8):
        xm(0xD8, k, h_farith_m, K_M32FP)
        xm(0xDC, k, h_farith_m, K_M64FP)
        xm(0xDA, k, h_farith_m, K_M32INT)
        xm(0xDE, k, h_farith_m, K_M16INT)
    xr(0xD8, 0xC0, 64, h_farith_st0_sti)
    xr(0xDC, 0xC0, 64, h_farith_sti_st0, 0)
    xr(0xDE, 0xC0, 64, h_farith_sti_st0, 1)
    xr(0xDE, 0xD8, 8, NULL)
    xr(0xDE, 0xD9, 1, h_fcompp, 0)
    # loads and stores
    xm(0xD9, 0, h_fld_m, K_M32FP)
    xm(0xDD, 0, h_fld_m, K_M64FP)
    xm(0xDB, 5, h_fld_m, K_M80FP)
    xm(0xDF, 0, h_fld_m, K_M16INT)
    xm(0xDB, 0, h_fld_m, K_M32INT)
    xm(0xDF, 5, h_fld_m, K_M64INT)
    xm(0xDF, 4, h_fld_m, K_M80BCD)
    xm(0xD9, 2, h_fst_m, K_M32FP)
    xm(0xD9, 3, h_fst_m, K_M32FP | ST_POP)
    xm(0xDD, 2, h_fst_m, K_M64FP)
    xm(0xDD, 3, h_fst_m, K_M64FP | ST_POP)
    xm(0xDB, 7, h_fst_m, K_M80FP | ST_POP)
    xm(0xDF, 2, h_fst_m, K_M16INT)
    xm(0xDF, 3, h_fst_m, K_M16INT | ST_POP)
    xm(0xDF, 1, h_fst_m, K_M16INT | ST_POP | ST_TRUNC)
    xm(0xDB, 2, h_fst_m, K_M32INT)
    xm(0xDB, 3, h_fst_m, K_M32INT | ST_POP)
    xm(0xDB, 1, h_fst_m, K_M32INT | ST_POP | ST_TRUNC)
    xm(0xDF, 7, h_fst_m, K_M64INT | ST_POP)
    xm(0xDD, 1, h_fst_m, K_M64INT | ST_POP | ST_TRUNC)
    xm(0xDF, 6, h_fst_m, K_M80BCD | ST_POP)
    xr(0xD9, 0xC0, 8, h_fld_sti)
    xr(0xDD, 0xD0, 8, h_fst_sti, 0)
    xr(0xDD, 0xD8, 8, h_fst_sti, 1)
    xr(0xD9, 0xD8, 8, h_fst_sti, 1)          # FSTP1 (alias)
    xr(0xDF, 0xD0, 16, h_fst_sti, 1)         # FSTP8, FSTP9 (aliases)
    xr(0xD9, 0xC8, 8, h_fxch)
    xr(0xDD, 0xC8, 8, h_fxch)                # FXCH4 (alias)
    xr(0xDF, 0xC8, 8, h_fxch)                # FXCH7 (alias)
    # control
    xm(0xD9, 4, h_fldenv)
    xm(0xD9, 5, h_fldcw)
    xm(0xD9, 6, h_fnstenv)
    xm(0xD9, 7, h_fnstcw)
    xm(0xDD, 4, h_frstor)
    xm(0xDD, 6, h_fnsave)
    xm(0xDD, 7, h_fnstsw)
    xr(0xDF, 0xE0, 1, h_fnstsw)
    xr(0xDB, 0xE2, 1, h_fnclex)
    xr(0xDB, 0xE3, 1, h_fninit)
    xr(0xD9, 0xD0, 1, h_fnop, 0)
    xr(0xDB, 0xE0, 2, h_fnop, 1)             # FNENI, FNDISI: FNOPs since the 387
    xr(0xDB, 0xE4, 1, h_fnop, 1)             # FNSETPM
    xr(0xD9, 0xF6, 1, h_fstp_adjust, 0)      # FDECSTP
    xr(0xD9, 0xF7, 1, h_fstp_adjust, 1)      # FINCSTP
    xr(0xDD, 0xC0, 8, h_fstp_adjust, 2)      # FFREE
    xr(0xDF, 0xC0, 8, h_fstp_adjust, 3)      # FFREEP
    # comparisons
    xr(0xDD, 0xE0, 16, h_fucom)
    xr(0xDA, 0xE9, 1, h_fcompp, 1)           # FUCOMPP
    xr(0xDB, 0xE8, 16, h_fcomi, 0)
    xr(0xDF, 0xE8, 16, h_fcomi, 1)
    xr(0xD9, 0xE4, 1, h_ftst)
    xr(0xD9, 0xE5, 1, h_fxam)
    # FCMOVB E BE U, FCMOVNB NE NBE NU: i.sub is the Jcc condition
    for k in range(4):
        xr(0xDA, 0xC0 + 8 * k, 8, h_fcmov, 10 if k == 3 else 2 + 2 * k)
        xr(0xDB, 0xC0 + 8 * k, 8, h_fcmov, 11 if k == 3 else 3 + 2 * k)
    # ST(0) operations
    xr(0xD9, 0xE0, 1, h_fchs_fabs, 0)
    xr(0xD9, 0xE1, 1, h_fchs_fabs, 1)
    for k in range(7):                       # FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ
        xr(0xD9, 0xE8 + k, 1, h_fldconst, k)
    xr(0xD9, 0xF0, 1, h_f2xm1)
    xr(0xD9, 0xF1, 1, h_fyl2x, 0)
    xr(0xD9, 0xF9, 1, h_fyl2x, 1)            # FYL2XP1
    xr(0xD9, 0xF2, 1, h_fptan)
    xr(0xD9, 0xF3, 1, h_fpatan)
    xr(0xD9, 0xF4, 1, h_fxtract)
    xr(0xD9, 0xF5, 1, h_fprem, 1)            # FPREM1
    xr(0xD9, 0xF8, 1, h_fprem, 0)
    xr(0xD9, 0xFA, 1, h_funary, 0)           # FSQRT
    xr(0xD9, 0xFC, 1, h_funary, 1)           # FRNDINT
    xr(0xD9, 0xFB, 1, h_fsincos)
    xr(0xD9, 0xFD, 1, h_fscale)
    xr(0xD9, 0xFE, 1, h_fsin_fcos, 0)
    xr(0xD9, 0xFF, 1, h_fsin_fcos, 1)
