"""x87 rows (D8-DF).  Handlers are in emu/x87.pxi and emu/x87trans.pxi.

Memory forms take the operand kind in ``sub`` (the K_* values of x87.pxi),
stores also ST_POP and ST_TRUNC; register arithmetic reads the operation
from ModRM.reg, so one handler serves a whole opcode row.  Undocumented
aliases that Intel parts execute (FSTP1, FSTP8/9, FXCH4/7, FCOM2, FCOMP3/5,
FFREEP) are rows too; the 8087/287 FNENI, FNDISI, FNSETPM run as FNOPs.
"""
from emu.isa.table import row

M32FP, M64FP, M80FP, M16INT, M32INT, M64INT, M80BCD = range(7)
POP, TRUNC = 0x08, 0x10
ARITH = ("FADD", "FMUL", "FCOM", "FCOMP", "FSUB", "FSUBR", "FDIV", "FDIVR")
# DC/DE register forms: reg 4-7 name the reversed operations.
ARITH_STI = ("FADD", "FMUL", "FCOM2", "FCOMP3", "FSUBR", "FSUB", "FDIVR", "FDIV")
ARITH_STI_POP = ("FADDP", "FMULP", "FCOMP5", None, "FSUBRP", "FSUBP", "FDIVRP", "FDIVP")


def x87(opcode, mnemonic, handler=None, **kw):
    row(opcode, mnemonic, handler, feature="X87", **kw)


# --- arithmetic and comparisons --------------------------------------------
for n, name in enumerate(ARITH):
    x87(f"D8 /{n}", f"{name} m32fp", mem="h_farith_m", sub=M32FP)
    x87(f"DC /{n}", f"{name} m64fp", mem="h_farith_m", sub=M64FP)
    x87(f"DA /{n}", f"FI{name[1:]} m32int", mem="h_farith_m", sub=M32INT)
    x87(f"DE /{n}", f"FI{name[1:]} m16int", mem="h_farith_m", sub=M16INT)
    x87(f"D8 {0xC0 + 8 * n:02X}+i", f"{name} ST(0), ST(i)", reg="h_farith_st0_sti")
    x87(f"DC {0xC0 + 8 * n:02X}+i", f"{ARITH_STI[n]} ST(i), ST(0)", reg="h_farith_sti_st0", sub=0)
    if ARITH_STI_POP[n]:                        # DE D8-DF: only D9 (FCOMPP)
        x87(f"DE {0xC0 + 8 * n:02X}+i", f"{ARITH_STI_POP[n]} ST(i), ST(0)", reg="h_farith_sti_st0", sub=1)
x87("DE D9", "FCOMPP", reg="h_fcompp", sub=0)
x87("DA E9", "FUCOMPP", reg="h_fcompp", sub=1)
x87("DD E0+i", "FUCOM ST(i)", reg="h_fucom")
x87("DD E8+i", "FUCOMP ST(i)", reg="h_fucom")
x87("DB F0+i", "FCOMI ST(0), ST(i)", reg="h_fcomi", sub=0, defined="OSZAPC")
x87("DB E8+i", "FUCOMI ST(0), ST(i)", reg="h_fcomi", sub=0, defined="OSZAPC")
x87("DF F0+i", "FCOMIP ST(0), ST(i)", reg="h_fcomi", sub=1, defined="OSZAPC")
x87("DF E8+i", "FUCOMIP ST(0), ST(i)", reg="h_fcomi", sub=1, defined="OSZAPC")
x87("D9 E4", "FTST", reg="h_ftst")
x87("D9 E5", "FXAM", reg="h_fxam")
for n, (cc, ncc) in enumerate(((2, 3), (4, 5), (6, 7), (10, 11))):
    name = ("B", "E", "BE", "U")[n]
    x87(f"DA {0xC0 + 8 * n:02X}+i", f"FCMOV{name} ST(0), ST(i)", reg="h_fcmov", sub=cc, reads="ZF PF CF")
    x87(f"DB {0xC0 + 8 * n:02X}+i", f"FCMOVN{name} ST(0), ST(i)", reg="h_fcmov", sub=ncc, reads="ZF PF CF")

# --- loads and stores ---------------------------------------------------------
for opcode, name, kind in (("D9 /0", "FLD m32fp", M32FP), ("DD /0", "FLD m64fp", M64FP),
                           ("DB /5", "FLD m80fp", M80FP), ("DF /0", "FILD m16int", M16INT),
                           ("DB /0", "FILD m32int", M32INT), ("DF /5", "FILD m64int", M64INT),
                           ("DF /4", "FBLD m80bcd", M80BCD)):
    x87(opcode, name, mem="h_fld_m", sub=kind)
for opcode, name, sub in (("D9 /2", "FST m32fp", M32FP), ("D9 /3", "FSTP m32fp", M32FP | POP),
                          ("DD /2", "FST m64fp", M64FP), ("DD /3", "FSTP m64fp", M64FP | POP),
                          ("DB /7", "FSTP m80fp", M80FP | POP),
                          ("DF /2", "FIST m16int", M16INT), ("DF /3", "FISTP m16int", M16INT | POP),
                          ("DB /2", "FIST m32int", M32INT), ("DB /3", "FISTP m32int", M32INT | POP),
                          ("DF /7", "FISTP m64int", M64INT | POP),
                          ("DF /1", "FISTTP m16int", M16INT | POP | TRUNC),
                          ("DB /1", "FISTTP m32int", M32INT | POP | TRUNC),
                          ("DD /1", "FISTTP m64int", M64INT | POP | TRUNC),
                          ("DF /6", "FBSTP m80bcd", M80BCD | POP)):
    x87(opcode, name, mem="h_fst_m", sub=sub)
# Register forms: (opcode, mnemonic, handler, sub)
REGISTER_ROWS = (
    ("D9 C0+i", "FLD ST(i)", "h_fld_sti", 0),
    ("DD D0+i", "FST ST(i)", "h_fst_sti", 0),
    ("DD D8+i", "FSTP ST(i)", "h_fst_sti", 1),
    ("D9 D8+i", "FSTP1 ST(i)", "h_fst_sti", 1),
    ("DF D0+i", "FSTP8 ST(i)", "h_fst_sti", 1),
    ("DF D8+i", "FSTP9 ST(i)", "h_fst_sti", 1),
    ("D9 C8+i", "FXCH ST(i)", "h_fxch", 0),
    ("DD C8+i", "FXCH4 ST(i)", "h_fxch", 0),
    ("DF C8+i", "FXCH7 ST(i)", "h_fxch", 0),
    ("D9 E0", "FCHS", "h_fchs_fabs", 0),
    ("D9 E1", "FABS", "h_fchs_fabs", 1),
    ("D9 FA", "FSQRT", "h_funary", 0),
    ("D9 FC", "FRNDINT", "h_funary", 1),
    ("D9 FD", "FSCALE", "h_fscale", 0),
    ("D9 F4", "FXTRACT", "h_fxtract", 0),
    ("D9 F8", "FPREM", "h_fprem", 0),
    ("D9 F5", "FPREM1", "h_fprem", 1),
    ("D9 F0", "F2XM1", "h_f2xm1", 0),
    ("D9 F1", "FYL2X", "h_fyl2x", 0),
    ("D9 F9", "FYL2XP1", "h_fyl2x", 1),
    ("D9 F2", "FPTAN", "h_fptan", 0),
    ("D9 F3", "FPATAN", "h_fpatan", 0),
    ("D9 FE", "FSIN", "h_fsin_fcos", 0),
    ("D9 FF", "FCOS", "h_fsin_fcos", 1),
    ("D9 FB", "FSINCOS", "h_fsincos", 0),
    ("D9 D0", "FNOP", "h_fnop", 0),
    ("DB E0", "FNENI", "h_fnop", 1),
    ("DB E1", "FNDISI", "h_fnop", 1),
    ("DB E4", "FNSETPM", "h_fnop", 1),
    ("D9 F6", "FDECSTP", "h_fstp_adjust", 0),
    ("D9 F7", "FINCSTP", "h_fstp_adjust", 1),
    ("DD C0+i", "FFREE ST(i)", "h_fstp_adjust", 2),
    ("DF C0+i", "FFREEP ST(i)", "h_fstp_adjust", 3),
    ("DB E3", "FNINIT", "h_fninit", 0),
    ("DB E2", "FNCLEX", "h_fnclex", 0),
    ("DF E0", "FNSTSW AX", "h_fnstsw", 0),
)
# Memory forms of the control instructions (the operand is their image)
CONTROL_ROWS = (
    ("D9 /5", "FLDCW m2byte", "h_fldcw", 0),
    ("D9 /7", "FNSTCW m2byte", "h_fnstcw", 0),
    ("DD /7", "FNSTSW m2byte", "h_fnstsw", 0),
    ("D9 /4", "FLDENV m14/28byte", "h_fldenv", 0),
    ("D9 /6", "FNSTENV m14/28byte", "h_fnstenv", 0),
    ("DD /4", "FRSTOR m94/108byte", "h_frstor", 0),
    ("DD /6", "FNSAVE m94/108byte", "h_fnsave", 0),
)
for opcode, name, handler, sub in REGISTER_ROWS:
    x87(opcode, name, reg=handler, sub=sub)
for opcode, name, handler, sub in CONTROL_ROWS:
    x87(opcode, name, mem=handler, sub=sub)
for k, name in enumerate(("FLD1", "FLDL2T", "FLDL2E", "FLDPI", "FLDLG2", "FLDLN2", "FLDZ")):
    x87(f"D9 {0xE8 + k:02X}", name, reg="h_fldconst", sub=k)

