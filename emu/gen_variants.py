"""Generate emu/variants.pxi: copies of the hottest handlers specialized
for one operand size and form, so the C compiler folds away the run-time
size and register/memory tests of the generic handlers.

Each variant is one line calling an inline template with constants; the
table at the bottom says which generic handler each one replaces.  setup.py
runs this before Cython; `python -m emu.gen_variants` prints the file.
"""
import os
import sys

ALU_OPS = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]
SIZES = (4, 8)
BYTE_TOO = (1, 4, 8)        # ... and the byte forms of compiled C's string code
# A variant's place in its row: SLOT[osz] * len(KINDS) + FORM[kind]: the
# register form, memory, memory at a flat base (+ index) + displacement
# (K_MEMF, K_MEMX: 64-bit mode, no FS/GS), which skip the segment base and
# the masks, and memory at a 32-bit address through a segment of base 0
# outside 64-bit mode (K_MEM32, K_MEM32X: memory.pxi mem_kind), likewise.  Templates that
# take no flat forms use their memory variant there.  The order is that of
# the K_* values, so FORM = kind - K_REG.
SLOT = {1: 0, 4: 1, 8: 2}
KINDS = {"r": "K_REG", "m": "K_MEM", "f": "K_MEMF", "x": "K_MEMX", "s": "K_MEM32", "t": "K_MEM32X"}
FORM = {k: n for n, k in enumerate(KINDS)}
ROW = len(SLOT) * len(KINDS)
FLAT_KINDS = ("f", "x", "s", "t")

# generic handler -> (template call with {osz} and {kind}, the sizes it has
# variants for); each size has a register and a memory form, and a flat
# memory form if the handler is in FLAT.
SIZED = {}
for op in ALU_OPS:
    for form in ("EG", "GE", "EI"):
        SIZED[f"h_{op}_{form}"] = (f"alu_{form}(c, i, A_{op.upper()}, {{osz}}, {{kind}}, h_{op}_{form}, {{fl}})",
                                   BYTE_TOO if op in ("and", "sub", "cmp") else SIZES)
for form in ("EG", "GE", "EI"):
    SIZED[f"h_mov_{form}"] = (f"mov_{form}(c, i, {{osz}}, {{kind}}, h_mov_{form})", BYTE_TOO)
SIZED["h_imul_GE"] = ("imul_G(c, i, False, {osz}, {kind}, h_imul_GE, {fl})", SIZES)
SIZED["h_imul_GEI"] = ("imul_G(c, i, True, {osz}, {kind}, h_imul_GEI, {fl})", SIZES)
for _op in ("inc", "dec", "not", "neg"):
    SIZED[f"h_{_op}"] = (f"unary_op(c, i, U_{_op.upper()}, {{osz}}, {{kind}}, h_{_op}, {{fl}})", SIZES)
SIZED["h_lea"] = ("lea(c, i, {osz}, {kind})", SIZES)   # (its register forms are #UD: never used)
# (PUSH/POP r, CALL rel and RET have no r/m operand: both forms are the same)
for _name in ("push_r", "pop_r", "call_rel", "call_on", "ret"):
    SIZED[f"h_{_name}"] = (f"{_name}(c, i, {{osz}})", SIZES)
SIZED["h_call_E"] = ("call_E(c, i, {osz}, {kind})", SIZES)
SIZED["h_jmp_E"] = ("jmp_E(c, i, {osz}, {kind})", SIZES)

SIG = "(CPU* c, Insn* i) noexcept nogil"

# Handlers whose operands depend on the opcode too: MOVZX/MOVSX (the byte
# and word loads of compiled C) and the shifts and rotates by an immediate,
# by 1 and by CL.  Generic handler, opcode -> the template call; variants for osz 4 and
# 8, register and memory.
MOVX = {("h_movzx", 0x1B6): "movx(c, i, 1, False, {osz}, {kind}, h_movzx)",
        ("h_movzx", 0x1B7): "movx(c, i, 2, False, {osz}, {kind}, h_movzx)",
        ("h_movsx", 0x1BE): "movx(c, i, 1, True, {osz}, {kind}, h_movsx)",
        ("h_movsx", 0x1BF): "movx(c, i, 2, True, {osz}, {kind}, h_movsx)"}
for _op in ("shl", "shr", "sar"):
    for _opcode, _cnt in ((0xC1, "CNT_IMM"), (0xD1, "CNT_ONE"), (0xD3, "CNT_CL")):
        MOVX[(f"h_{_op}", _opcode)] = f"shift_op(c, i, LF_{_op.upper()}, {_cnt}, {{osz}}, {{kind}}, {{fl}})"
for _n, _op in enumerate(("rol", "ror")):
    for _opcode, _cnt in ((0xC1, "CNT_IMM"), (0xD1, "CNT_ONE"), (0xD3, "CNT_CL")):
        MOVX[(f"h_{_op}", _opcode)] = f"rotate_op(c, i, {_n}, {_cnt}, {{osz}}, {{kind}}, {{fl}})"

# The templates that take the flat forms (addr_of, and a TLB hit path with a
# slow handler, or LEA): the rest have a register and a memory form only.
FLAT = {g for g in list(SIZED) + list(MOVX)
        if (g if isinstance(g, str) else g[0]).startswith(
            ("h_add", "h_or", "h_adc", "h_sbb", "h_and", "h_sub", "h_xor", "h_cmp", "h_mov",
             "h_imul", "h_inc", "h_dec", "h_not", "h_neg", "h_lea", "h_call_E", "h_jmp_E"))}

# Macro-fused flag-setter + Jcc pairs (control.pxi fuse_jcc, shift_jcc): for
# each first instruction (the handler it has after specialize, its size and
# form), the conditions fused.  CMP and SUB: every condition that compares
# the operands; TEST, and the shifts of a register by 1 or an immediate
# (isqrt's `shr eax,2; jne`): ZF and SF.  Other pairs run unfused.
SUB_CC = (2, 3, 4, 5, 6, 7, 12, 13, 14, 15)
LOGIC_CC = (4, 5, 8, 9)
FUSE = []   # (name, first handler, osz, kind, template call without its last two arguments, conditions)
for form in ("EG", "GE", "EI"):
    for osz in BYTE_TOO:
        for k, kind in KINDS.items():
            FUSE.append((f"cmp_{form}_{osz}{k}", f"v_cmp_{form}_{osz}{k}", osz, kind,
                         f"fuse_jcc(c, i, A_CMP, FM_{form}, {osz}, {kind}", SUB_CC))
for form in ("EG", "EI"):
    for osz in SIZES:
        FUSE.append((f"sub_{form}_{osz}r", f"v_sub_{form}_{osz}r", osz, "K_REG",
                     f"fuse_jcc(c, i, A_SUB, FM_{form}, {osz}, K_REG", SUB_CC))
for osz in BYTE_TOO:
    FUSE.append((f"test_EG_{osz}r", "h_test_EG", osz, "K_REG", f"fuse_jcc(c, i, A_AND, FM_TEST, {osz}, K_REG",
                 LOGIC_CC))
for _op in ("shl", "shr", "sar"):
    for _opcode, _cnt in ((0xC1, "CNT_IMM"), (0xD1, "CNT_ONE")):
        for osz in SIZES:
            FUSE.append((f"{_op}_{_opcode:x}_{osz}r", f"v_{_op}_{_opcode:x}_{osz}r", osz, "K_REG",
                         f"shift_jcc(c, i, LF_{_op.upper()}, {_cnt}, {osz}", LOGIC_CC))


# Flag liveness: an instruction whose flags the next flag writer in its
# block overwrites (all six, reading none) without being able to fault runs
# as a variant that records no flags (fl False; build_block calls
# drop_dead_flags).  Between the two there may only be TRANSPARENT
# instructions (register moves, LEA, NOT, followed JMPs: no flags, no fault)
# and PASS writers, themselves dead then, so no exception,
# hook or block exit can come between them; a block cut
# (budget, `until`, single-step, breakpoints) swaps every flag writer
# before the cut back to its live variant (flags_all_live, in the run loop)
# while the block runs.  Dead variants: the generic handlers and
# MOVX entries below, in all their forms (a memory form's miss goes to its
# generic handler, which records the flags).  Overwriters: the register
# forms of ADD OR AND SUB XOR CMP, IMUL, NEG, the shifts by 1 or by a
# nonzero immediate, and the fused register-form pairs.
DEAD = ([f"h_{op}_{form}" for op in ("add", "or", "and", "sub", "xor") for form in ("EG", "GE", "EI")]
        + ["h_imul_GE", "h_imul_GEI", "h_inc", "h_dec", "h_neg"]
        + [k for k in MOVX if k[0] in ("h_shl", "h_shr", "h_sar", "h_rol", "h_ror")])
OVERWRITE = ([(f"v_{op}_{form}_{osz}r", False) for op in ("add", "or", "and", "sub", "xor", "cmp")
              for form in ("EG", "GE", "EI") for osz in SIZED[f"h_{op}_{form}"][1]]
             + [(f"v_{g}_{osz}r", False) for g in ("imul_GE", "imul_GEI", "neg") for osz in SIZES]
             + [(f"v_{op}_{opc:x}_{osz}r", opc == 0xC1) for op in ("shl", "shr", "sar")
                for opc in (0xC1, 0xD1) for osz in SIZES]
             + [(f"v_{name}_j{cc}", "_c1_" in name) for name, _, _, kind, _, ccs in FUSE if kind == "K_REG"
                for cc in ccs])
# Pass-through writers: register forms that set only some flags (ROL/ROR:
# CF OF; INC/DEC: all but CF) and cannot fault.  When the next writer
# overwrites what they set, they record nothing and leave the last record
# standing, so the flags before them are as dead as those after them.
PASS = ([f"v_{op}_{opc:x}_{osz}r" for op in ("rol", "ror") for opc in (0xC1, 0xD1) for osz in SIZES]
        + [f"v_{op}_{osz}r" for op in ("inc", "dec") for osz in SIZES])
# Writers dead but where the next instruction misses the TLB: a memory
# form that overwrites all six flags if it completes (OVERMEM) makes the
# flags of a register ADD SUB AND OR XOR right before it (FIXABLE) dead, as
# a register overwriter would; only when its memory operand is not a TLB
# hit (it may fault or exit then, and the flags before it are seen) does it
# record them first from the writer's operands, which it has not changed
# yet (alu.pxi redo_dead_flags; i.fixfl says how).  ADD and SUB with the
# same register as both operands are not fixable (the operand is lost).
FIX_OPS = {"add": "A_ADD", "or": "A_OR", "and": "A_AND", "sub": "A_SUB", "xor": "A_XOR"}
FIXABLE = [(f"v_{op}_{form}_{osz}r", f"0x80 | FM_{form} << 3 | {FIX_OPS[op]}")
           for op in FIX_OPS for form in ("EG", "GE", "EI") for osz in SIZED[f"h_{op}_{form}"][1]]
# The same before a load (LOADMEM: a memory MOV, MOVZX or MOVSX, which
# touches no flag but may miss) that an overwriter follows, with only
# TRANSPARENT instructions between.
LOADMEM = ([f"v_mov_GE_{osz}{k}" for osz in BYTE_TOO for k in KINDS if k != "r"]
           + [f"v_{g[2:]}_{opc:x}_{osz}{k}" for g, opc in MOVX if g in ("h_movzx", "h_movsx")
              for osz in SIZES for k in KINDS if k != "r"])
OVERMEM = ([f"v_{op}_{form}_{osz}{k}" for op in list(FIX_OPS) + ["cmp"] for form in ("EG", "GE", "EI")
            for osz in SIZED[f"h_{op}_{form}"][1] for k in KINDS if k != "r"]
           + [f"v_{name}_j{cc}" for name, _, _, kind, _, ccs in FUSE if kind != "K_REG" for cc in ccs])
TRANSPARENT = ([f"v_mov_{form}_{osz}r" for form in ("EG", "GE", "EI") for osz in BYTE_TOO]
               + [f"v_not_{osz}r" for osz in SIZES]
               + [f"v_{g}_{opc:x}_{osz}r" for g in ("movzx", "movsx") for opc in (0x1B6, 0x1B7, 0x1BE, 0x1BF)
                  if (g == "movzx") == (opc < 0x1BE) for osz in SIZES]
               + [f"v_lea_{osz}{k}" for osz in SIZES for k in KINDS if k != "r"]
               + ["h_jmp_on"])      # a followed JMP (icache.pxi)

# Superinstructions: adjacent pairs run by one handler (one dispatch instead
# of two), chosen by their dynamic frequency across the suite and the
# workload (benchmarks/pair_freq.py --core: the mean share of a program's
# instructions, -O2, both widths, and the most in one program):
#   xor_EG_4r_nf ; mov_EG_4r      1.9%   (7.4% sha256-32)
#   mov_EG_4r ; mov_EG_4r         1.6%  (12.8% sha256-64; 8r 0.6%)
#   mov_EG_4r ; shr/shl_c1_nf     0.9% each (5.3%, 4.6% hashtab-64)
#   shr/shl_c1_nf ; xor_EG_nf     0.8%, 0.7%
#   add_EI_nf ; cmp_EI+Jcc        0.9%, 0.8% (6.2% lz77-32, 7.7% interp-32)
#   add_EI_nf ; cmp_EG+Jcc        0.3%, 0.2% (5.2% lz77-64, 4.4% workload)
#   the CRC step of the workload (shr_d1;and_EI;neg;and_EI;xor: 4.4% each in
#   64-bit), matrix's index updates and loop test (sub_EI;add_EI, add_EI;
#   add_EG, add_EG;cmp+Jcc: 7.2% each), SHA-256's rounds (mov with
#   add/and/xor/rol/ror/not/shr, and the loads and stores between them in
#   32-bit code: add;mov r,m 4.9%, mov;mov m,r 2.5%), tree's frame set-up
#   (mov;sub_EI 4.3%, add_EI;mov 4.9% tree-32), qsort-64's sbb;or (3.3%).
# CMP/SUB/TEST + Jcc (FUSE above) are the commonest pairs of all; such a
# fused pair may be a second here.  The first is always a register form of
# PAIR_FIRSTS (it cannot fault), or a load (MOV r, m: TLB hits only; the
# dot product's mov; imul r,m, 7.3% of matrix); other pairs starting with a memory operand
# (mov r,m;mov r,m 0.5%, 8% of qsort-32), a PUSH/POP or LEA stay unfused.
# Each entry: (first variant, second variant), named as flag liveness leaves
# them (_nf: flags dead), {o} expanded to 4 and 8, {k} to the flat memory
# forms.  build_block installs them after drop_dead_flags (fuse_pairs); a
# cut (block_slow) runs its block unfused (unfuse_pairs) and fuses it again.
PAIRS_SPEC = [
    ("xor_EG_{o}r_nf", "mov_EG_{o}r"), ("mov_EG_{o}r", "mov_EG_{o}r"), ("add_EG_{o}r_nf", "mov_EG_{o}r"),
    ("xor_EG_{o}r", "mov_EG_{o}r"), ("shr_c1_{o}r_nf", "mov_EG_{o}r"),
    ("mov_EG_{o}r", "shr_c1_{o}r_nf"), ("mov_EG_{o}r", "shl_c1_{o}r_nf"), ("mov_EG_{o}r", "rol_c1_{o}r_nf"),
    ("mov_EG_{o}r", "ror_c1_{o}r_nf"), ("mov_EG_{o}r", "add_EG_{o}r_nf"), ("mov_EG_{o}r", "and_EG_{o}r_nf"),
    ("mov_EG_{o}r", "xor_EG_{o}r_nf"), ("mov_EG_{o}r", "xor_EG_{o}r"), ("mov_EG_{o}r", "not_{o}r"),
    ("mov_EG_{o}r", "and_EI_{o}r_nf"),
    ("shl_c1_{o}r_nf", "xor_EG_{o}r_nf"), ("shr_c1_{o}r_nf", "xor_EG_{o}r_nf"),
    ("rol_c1_{o}r_nf", "xor_EG_{o}r_nf"), ("rol_c1_{o}r_nf", "xor_EG_{o}r"), ("ror_c1_{o}r_nf", "xor_EG_{o}r_nf"),
    ("ror_c1_{o}r_nf", "ror_c1_{o}r_nf"), ("rol_c1_{o}r_nf", "rol_c1_{o}r_nf"),
    ("and_EG_{o}r_nf", "xor_EG_{o}r_nf"), ("xor_EG_{o}r_nf", "and_EG_{o}r_nf"),
    ("xor_EG_{o}r_nf", "shr_c1_{o}r_nf"), ("add_EG_{o}r_nf", "add_EG_{o}r_nf"), ("not_{o}r", "and_EG_{o}r_nf"),
    ("shr_d1_{o}r_nf", "and_EI_{o}r_nf"), ("and_EI_{o}r_nf", "neg_{o}r_nf"), ("neg_{o}r_nf", "shr_d1_{o}r_nf"),
    ("and_EI_{o}r_nf", "xor_EG_{o}r_nf"), ("sub_EI_{o}r_nf", "add_EI_{o}r_nf"),
    ("add_EI_8r_nf", "add_EG_4r_nf"), ("add_EI_4r_nf", "add_EG_4r_nf"),
    ("add_EG_{o}r", "mov_GE_{o}{k}"), ("xor_EG_{o}r", "mov_GE_{o}{k}"), ("mov_EG_{o}r", "mov_GE_{o}{k}"),
    ("add_EG_{o}r_nf", "mov_GE_{o}{k}"), ("xor_EG_{o}r_nf", "mov_GE_{o}{k}"),
    ("mov_EG_{o}r", "mov_EG_{o}{k}"), ("mov_EG_{o}r", "movzx_1b6_{o}{k}"),
    ("add_EG_4r_nf", "cmp_EG_4r_j5"), ("add_EG_4r_nf", "cmp_EG_8r_j5"), ("add_EI_4r_nf", "cmp_EI_4r_j5"),
    ("add_EI_4r_nf", "cmp_EI_1r_j7"), ("xor_EG_4r_nf", "sub_EI_4r_j5"), ("shr_d1_4r_nf", "cmp_EG_4r_j2"),
    ("add_EI_8r_nf", "cmp_EG_4r_j4"), ("add_EI_8r_nf", "cmp_EG_4r_j2"), ("add_EI_4r_nf", "cmp_EG_4r_j2"),
    ("mov_EG_{o}r", "sub_EI_{o}r"), ("add_EI_{o}r", "mov_EG_{o}r"), ("xor_EG_{o}r_nf", "and_EI_{o}r"),
    ("sbb_EG_4r", "or_EI_4r"),
    ("mov_GE_{o}{k}", "imul_GE_{o}{k}_nf"),
]
# Scanning loops (scanloop.pxi): ADD r, imm (flags dead) then CMP m, imm
# fused with JE/JNE, byte or dword, run as a pair whose handler also runs
# the next passes of a loop that is its block.  sse42str's strlen
# (`add r9, 1; cmp byte [r8 + r9], 0; jne`) is 47% of its instructions.
LOOPS_SPEC = [("add_EI_{o}r_nf", f"cmp_EI_{s}{{k}}_j{cc}") for s in (1, 4) for cc in (4, 5)]


def expand_pairs(spec):
    """The variant pairs of a spec's entries, {o} and {k} expanded."""
    return {("v_" + a.format(o=osz, k=k), "v_" + b.format(o=osz, k=k))
            for a, b in spec for osz in SIZES for k in FLAT_KINDS}


LOOPS = expand_pairs(LOOPS_SPEC)
PAIRS = sorted(expand_pairs(PAIRS_SPEC) | LOOPS)
# The templates whose register form takes K_PAIR (it ends in next_reg): the
# only ones a pair may start with.
PAIR_FIRSTS = ("mov_EG(", "mov_GE(", "mov_EI(", "movx(", "alu_EG(", "alu_GE(", "alu_EI(",
               "unary_op(", "shift_op(", "rotate_op(")


def variant_names(generic):
    """(name, osz, kind letter, template call) of each variant of a SIZED or MOVX entry."""
    if isinstance(generic, str):
        call, sizes = SIZED[generic]
        stem = generic[2:]
    else:
        call, sizes = MOVX[generic], SIZES
        stem = f"{generic[0][2:]}_{generic[1]:x}"
    for osz in sizes:
        for k, kind in kinds_of(generic).items():
            yield f"v_{stem}_{osz}{k}", osz, kind, call


def kinds_of(generic) -> dict:
    """The operand forms a SIZED or MOVX entry has variants for."""
    return KINDS if generic in FLAT else {k: v for k, v in KINDS.items() if k not in FLAT_KINDS}


def pair_handler(first, second, calls) -> str:
    """The fused handler of PAIRS entry (first, second): the first's template
    with K_PAIR, which does not dispatch, then the second's, which does."""
    (call_a, osz_a, kind_a, fl_a), (call_b, osz_b, kind_b, fl_b) = calls[first], calls[second]
    second_call = call_b.format(osz=osz_b, kind=kind_b, fl=fl_b).replace('(c, i, ', '(c, i + 1, ', 1)
    # (a second that faults, misses the TLB or stores into code sets CPU.cur
    # itself on its way out, as it does unfused: dispatch.pxi)
    if kind_a != "K_REG" and call_a.startswith("mov_GE("):
        # a load: on anything but a TLB hit its generic handler runs it, and
        # then the second unfused (its slot keeps its own handler)
        return (f"cdef int p_{first[2:]}__{second[2:]}{SIG}:\n"
                f"    if mov_GE_hit(c, i, {osz_a}, {kind_a}):\n"
                f"        return {second_call}\n"
                f"    return h_mov_GE(c, i)")
    if kind_a != "K_REG" or not call_a.startswith(PAIR_FIRSTS):
        raise ValueError(f"pair {first} {second}: the first a register form of {PAIR_FIRSTS} or a MOV r, m")
    return (f"cdef int p_{first[2:]}__{second[2:]}{SIG}:\n"
            f"    {call_a.format(osz=osz_a, kind='K_PAIR', fl=fl_a)}\n"
            f"    return {second_call}")


def loop_handler(first, second, calls) -> str:
    """The fused handler of LOOPS entry (first, second): scanloop.pxi scan_pair."""
    (_, osz_a, _, _), (call_b, osz_b, kind_b, _) = calls[first], calls[second]
    cc, alone = call_b.split(", ")[-2:]
    return (f"cdef int p_{first[2:]}__{second[2:]}{SIG}:\n"
            f"    return scan_pair(c, i, {osz_a}, {osz_b}, {kind_b}, {cc}, {alone.rstrip(')')})")


def generate() -> str:
    out = ["# Generated by emu/gen_variants.py: do not edit.", ""]
    dead = []          # (live variant, its dead-flags twin)
    calls = {}         # variant -> (template call, osz, kind, fl)
    for generic in list(SIZED) + list(MOVX):
        for name, osz, kind, call in variant_names(generic):
            out.append(f"cdef int {name}{SIG}: return {call.format(osz=osz, kind=kind, fl='True')}")
            calls[name] = (call, osz, kind, "True")
            if generic in DEAD:
                out.append(f"cdef int {name}_nf{SIG}: "
                           f"return {call.format(osz=osz, kind=kind, fl='False')}")
                dead.append((name, name + "_nf"))
                calls[name + "_nf"] = (call, osz, kind, "False")
    for cc in range(16):
        out.append(f"cdef int v_jcc_{cc}{SIG}: return jcc(c, i, {cc})")
    for name, first, osz, kind, call, ccs in FUSE:
        for cc in ccs:
            out.append(f"cdef int v_{name}_j{cc}{SIG}: return {call}, {cc}, {first})")
            calls[f"v_{name}_j{cc}"] = (f"{call}, {cc}, {first})", osz, kind, "True")
    for first, second in PAIRS:
        out.append(loop_handler(first, second, calls) if (first, second) in LOOPS
                   else pair_handler(first, second, calls))
    out += ["", "cdef void specialize(CPU* c, Insn* i) noexcept nogil:",
            '    """Swap a generic handler for its specialized variant (i decoded in c.mode)."""',
            "    cdef handler_t f = i.fn",
            "    cdef handler_t v = NULL",
            "    cdef uint32_t k",
            "    if f == h_jcc:",
            "        i.fn = JCC_VARIANTS[i.sub]",
            "        return",
            "    if i.osz == 1 or i.osz == 4 or i.osz == 8:",
            f"        k = {SLOT[1] * len(KINDS)} if i.osz == 1 else "
            f"({SLOT[4] * len(KINDS)} if i.osz == 4 else {SLOT[8] * len(KINDS)})",
            "    else:",
            "        return",
            "    k += (K_REG if i.mod == 3 else mem_kind(c, i)) - K_REG"]
    for n, generic in enumerate(SIZED):
        out.append(f"    {'if' if n == 0 else 'elif'} f == {generic}:")
        out.append(f"        v = SIZED_VARIANTS[{n}][k]")
    for n, (generic, opcode) in enumerate(MOVX):
        nonzero = " and (i.imm & (0x3F if i.osz == 8 else 0x1F)) != 0" if "CNT_IMM" in MOVX[(generic, opcode)] else ""
        out.append(f"    elif f == {generic} and i.opcode == {opcode:#x}{nonzero}:")
        out.append(f"        v = MOVX_VARIANTS[{n}][k]")
    out += ["    if v != NULL:", "        i.fn = v"]
    out += ["", "cdef void fuse_pair(CPU* c, Insn* a, Insn* j) noexcept nogil:",
            '    """Give a flag-setting instruction followed by a Jcc (both specialized)',
            '    the fused handler for the pair, if there is one."""',
            "    cdef uint32_t k, cc = j.sub & 15",
            "    cdef uint32_t kind = K_REG if a.mod == 3 else mem_kind(c, a)",
            "    if j.fn != JCC_VARIANTS[cc] or j != a + 1:   # (a CS limit guard may stand between)",
            "        return",
            f"    for k in range({len(FUSE)}):",
            "        if FUSE_FIRST[k] == a.fn and FUSE_OSZ[k] == a.osz and FUSE_KIND[k] == kind:",
            "            if FUSED[k][cc] != NULL:",
            "                a.fn = FUSED[k][cc]",
            "            return"]
    out += ["", "# Flag liveness (above): each handler's class, found by its address.",
            "cdef enum:",
            "    FL_TRANSPARENT = 1     # touches no flag, cannot fault",
            "    FL_OVERWRITES = 2      # sets all six flags, reads none, cannot fault",
            "    FL_COUNTED = 4         # ... only if its immediate count is not 0",
            "    FL_LIVE = 8            # records its flags; twin: the variant that does not",
            "    FL_DEAD = 16           # records none; twin: the variant that does",
            "    FL_PASS = 32           # sets some flags only, cannot fault (PASS)",
            "    FL_FUSED = 64          # runs a CMP/SUB/TEST and its Jcc; twin: the first alone",
            "    FL_PAIR = 128          # runs a PAIRS pair; twin: the first alone",
            "    FL_OVERMEM = 256       # overwrites all six flags unless its memory operand misses (OVERMEM)",
            "    FL_LOADMEM = 512       # a load: no flag, but its memory operand may miss (LOADMEM)",
            "    FL_SLOTS = 4096",
            "",
            "cdef struct FlagInfo:",
            "    handler_t fn",
            "    handler_t twin",
            "    uint32_t cls",
            "    uint32_t pairs         # 1 + its first entry in PAIR_FIRST, if pairs start with it",
            "    uint8_t fix            # FIXABLE: its Insn.fixfl code",
            "",
            "cdef FlagInfo FLAG_INFO[FL_SLOTS]   # open addressing on the handler's address",
            "",
            "cdef FlagInfo* flag_info(handler_t f, bint add) noexcept nogil:",
            '    """The entry of f (a new one if add; else NULL when it has none)."""',
            "    cdef size_t h = (<size_t>f >> 4) & (FL_SLOTS - 1)",
            "    while FLAG_INFO[h].fn != NULL and FLAG_INFO[h].fn != f:",
            "        h = (h + 1) & (FL_SLOTS - 1)",
            "    if FLAG_INFO[h].fn == NULL:",
            "        if not add:",
            "            return NULL",
            "        FLAG_INFO[h].fn = f",
            "    return &FLAG_INFO[h]",
            "",
            "cdef void flag_class(handler_t f, uint32_t cls, handler_t twin) noexcept nogil:",
            "    cdef FlagInfo* e = flag_info(f, True)",
            "    e.cls |= cls",
            "    if twin != NULL:",
            "        e.twin = twin",
            "",
            "cdef inline uint32_t flag_cls(Insn* i) noexcept nogil:",
            "    cdef FlagInfo* e = flag_info(i.fn, False)",
            "    return e.cls if e != NULL else 0",
            "",
            "cdef bint overwrites_flags(Insn* i) noexcept nogil:",
            '    """Does i set all six arithmetic flags, read none, and never fault?"""',
            "    cdef uint32_t cls = flag_cls(i)",
            "    if not (cls & FL_OVERWRITES):",
            "        return False",
            "    return not (cls & FL_COUNTED) or (i.imm & (0x3F if i.osz == 8 else 0x1F)) != 0",
            "",
            "cdef inline bint fixable(Insn* w, uint8_t fix) noexcept nogil:",
            '    """Can redo_dead_flags rebuild w\'s flags (FIXABLE code fix)?"""',
            "    return ((fix >> 3) & 3) == FM_EI or ((fix & 7) != A_ADD and (fix & 7) != A_SUB) or w.reg != w.rm",
            "",
            "cdef void drop_dead_flags(Insn* insns, uint32_t n) noexcept nogil:",
            '    """Flag liveness over a block of n instructions (no markers), from its end."""',
            "    cdef uint32_t k = n, cls",
            "    cdef bint dead = False, over, onmiss = False   # onmiss: insns[k + 1] is OVERMEM",
            "    cdef FlagInfo* e",
            "    while k > 0:",
            "        k -= 1",
            "        e = flag_info(insns[k].fn, False)",
            "        cls = e.cls if e != NULL else 0",
            "        if onmiss:",
            "            onmiss = False",
            "            if e != NULL and e.fix and fixable(&insns[k], e.fix):",
            "                insns[k + 1].fixfl = e.fix",
            "                dead = True",
            "        if cls & FL_TRANSPARENT:",
            "            continue",
            "        if cls & FL_LOADMEM:",
            "            insns[k].fixfl = 0",
            "            onmiss = dead",
            "            dead = False",
            "            continue",
            "        over = overwrites_flags(&insns[k]) or (dead and (cls & FL_PASS))",
            "        if dead and (cls & FL_LIVE):",
            "            insns[k].fn = e.twin",
            "        dead = over",
            "        if cls & FL_OVERMEM:",
            "            insns[k].fixfl = 0",
            "            onmiss = True",
            "",
            "cdef void flags_all_live(Insn* insns, uint32_t n) noexcept nogil:",
            '    """Give insns[0, n) the variants that record their flags, for a cut at',
            '    insns[n], where the flags are seen (drop_dead_flags over the whole',
            '    block undoes it: the twins share their classes)."""',
            "    cdef FlagInfo* e",
            "    while n > 0:",
            "        n -= 1",
            "        e = flag_info(insns[n].fn, False)",
            "        if e != NULL and (e.cls & FL_DEAD):",
            "            insns[n].fn = e.twin",
            "",
            "cdef handler_t unfuse_before(Insn* insns, uint32_t n) noexcept nogil:",
            '    """A cut at insns[n] (n > 0) that falls on a fused pair\'s Jcc: give the',
            "    pair's first instruction its own handler, which runs it alone and then",
            '    the end marker (fuse_jcc never looks at its Jcc\'s slot); returns the',
            '    fused handler to put back, or NULL when there is no such pair."""',
            "    cdef handler_t f = insns[n - 1].fn",
            "    cdef FlagInfo* e = flag_info(f, False)",
            "    if e != NULL and (e.cls & FL_FUSED):",
            "        insns[n - 1].fn = e.twin",
            "        return f",
            "    return NULL",
            "",
            "cdef void fuse_pairs(Insn* insns, uint32_t n) noexcept nogil:",
            '    """Give each PAIRS pair among insns[0, n) (no markers) its fused handler,',
            '    from the start (a run of three fuses its first two)."""',
            "    cdef uint32_t k = 0, p",
            "    cdef FlagInfo* e",
            "    while k + 1 < n:",
            "        e = flag_info(insns[k].fn, False)",
            "        if e != NULL and e.pairs:",
            "            p = e.pairs - 1",
            "            while PAIR_FIRST[p] == insns[k].fn:     # (sorted by first; NULL at the end)",
            "                if PAIR_SECOND[p] == insns[k + 1].fn:",
            "                    insns[k].fn = PAIR_FN[p]",
            "                    k += 1",
            "                    break",
            "                p += 1",
            "        k += 1",
            "",
            "cdef void pairs_start(handler_t first, uint32_t k) noexcept nogil:",
            "    flag_info(first, True).pairs = k",
            "",
            "cdef void unfuse_pairs(Insn* insns, uint32_t n) noexcept nogil:",
            '    """Undo fuse_pairs over insns[0, n): each instruction its own handler."""',
            "    cdef FlagInfo* e",
            "    while n > 0:",
            "        n -= 1",
            "        e = flag_info(insns[n].fn, False)",
            "        if e != NULL and (e.cls & FL_PAIR):",
            "            insns[n].fn = e.twin"]
    out += ["", f"cdef handler_t SIZED_VARIANTS[{len(SIZED)}][{ROW}]",
            f"cdef handler_t MOVX_VARIANTS[{len(MOVX)}][{ROW}]", "cdef handler_t JCC_VARIANTS[16]",
            f"cdef handler_t FUSE_FIRST[{len(FUSE)}]", f"cdef uint8_t FUSE_OSZ[{len(FUSE)}]",
            f"cdef uint8_t FUSE_KIND[{len(FUSE)}]", f"cdef handler_t FUSED[{len(FUSE)}][16]",
            f"cdef handler_t PAIR_FIRST[{len(PAIRS) + 1}]", f"cdef handler_t PAIR_SECOND[{len(PAIRS)}]",
            f"cdef handler_t PAIR_FN[{len(PAIRS)}]", "",
            "cdef void init_variants() noexcept nogil:"]
    out += ["    memset(SIZED_VARIANTS, 0, sizeof(SIZED_VARIANTS))",
            "    memset(MOVX_VARIANTS, 0, sizeof(MOVX_VARIANTS))"]
    for n, (generic, (_, sizes)) in enumerate(SIZED.items()):
        for osz in sizes:
            for k in KINDS:
                v = k if k in kinds_of(generic) else "m"
                out.append(f"    SIZED_VARIANTS[{n}][{SLOT[osz] * len(KINDS) + FORM[k]}] = v_{generic[2:]}_{osz}{v}")
    for n, (generic, opcode) in enumerate(MOVX):
        for osz in SIZES:
            for k in KINDS:
                v = k if k in kinds_of((generic, opcode)) else "m"
                out.append(f"    MOVX_VARIANTS[{n}][{SLOT[osz] * len(KINDS) + FORM[k]}] = "
                           f"v_{generic[2:]}_{opcode:x}_{osz}{v}")
    for cc in range(16):
        out.append(f"    JCC_VARIANTS[{cc}] = v_jcc_{cc}")
    out.append("    memset(FLAG_INFO, 0, sizeof(FLAG_INFO))")
    for live, nf in dead:
        out.append(f"    flag_class({live}, FL_LIVE, {nf})")
        out.append(f"    flag_class({nf}, FL_DEAD, {live})")
    twin = dict(dead)
    for name, counted in OVERWRITE:
        for f in (name, twin.get(name)) if name in twin else (name,):
            out.append(f"    flag_class({f}, FL_OVERWRITES{' | FL_COUNTED' if counted else ''}, NULL)")
    for name in PASS:
        out.append(f"    flag_class({name}, FL_PASS, NULL)")
        out.append(f"    flag_class({twin[name]}, FL_PASS, NULL)")
    for name in TRANSPARENT:
        out.append(f"    flag_class({name}, FL_TRANSPARENT, NULL)")
    for name, fix in FIXABLE:
        for f in (name, twin[name]):
            out.append(f"    flag_info({f}, True).fix = {fix}")
    out.append("    memset(FUSED, 0, sizeof(FUSED))")
    for k, (name, first, osz, kind, _, ccs) in enumerate(FUSE):
        out.append(f"    FUSE_FIRST[{k}] = {first}")
        out.append(f"    FUSE_OSZ[{k}] = {osz}")
        out.append(f"    FUSE_KIND[{k}] = {kind}")
        for cc in ccs:
            out.append(f"    FUSED[{k}][{cc}] = v_{name}_j{cc}")
            out.append(f"    flag_class(v_{name}_j{cc}, FL_FUSED, {first})")
    for k, (first, second) in enumerate(PAIRS):
        out.append(f"    PAIR_FIRST[{k}] = {first}")
        out.append(f"    PAIR_SECOND[{k}] = {second}")
        out.append(f"    PAIR_FN[{k}] = p_{first[2:]}__{second[2:]}")
        out.append(f"    flag_class(p_{first[2:]}__{second[2:]}, FL_PAIR, {first})")
        if k == 0 or PAIRS[k - 1][0] != first:
            out.append(f"    pairs_start({first}, {k + 1})")
    out.append(f"    PAIR_FIRST[{len(PAIRS)}] = NULL")
    for name in OVERMEM:
        for f in (name, twin[name]) if name in twin else (name,):
            out.append(f"    flag_class({f}, FL_OVERMEM, NULL)")
    for name in LOADMEM:
        out.append(f"    flag_class({name}, FL_LOADMEM, NULL)")
    return "\n".join(out) + "\n"


def write(path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "variants.pxi")):
    text = generate()
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as f:
            f.write(text)
    return path


if __name__ == "__main__":
    sys.stdout.write(generate())
