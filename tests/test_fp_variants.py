"""The specialized SSE and x87 handlers (emu/sse_fast.pxi, emu/x87_fast.pxi)
against the host CPU and the architecture's rules.

A variant runs only the common case (SSE usable, MXCSR on the fast path,
normal lanes and results, a memory operand aligned and in a page the TLB
holds; for the x87 FNINIT's control word, full registers, normals) and
hands anything else to the generic handler.  (and the register forms of
CVTSD2SS, CVTSS2SD, CVTSI2SS/SD, XORPS/XORPD).  The host cases run each
instruction twice, so that the second run finds its operand's page in the
TLB (the first one fills it), under MXCSR/FCW values on and off the fast
path, with lanes that leave it (denormals, zeros, infinities, NaNs, results
near the ends of the range).  The machine cases check what the host cases
cannot reach: operands that cross a page, misaligned MOVAPS/ADDPS with the
page in the TLB, an unmasked exception after the variant has run, and the
x87 stack faults of the register forms."""
import random
import struct

import pytest

from emu import Machine
from emu.fuzz.case import DATA_BASE, STACK_TOP, Case, gpr_names
from emu.fuzz.fpstate import make_image
from emu.fuzz.sse_cases import encode, fp_rows

from test_sse_fast_path import HOST, _vec, host  # noqa: F401
from test_sse_fp import check_against_host
from x87_oracle import DST, data_block, differences, host_available, mem, program
from test_fast_paths_fp import _normal80, _st0, binary_source, x87  # noqa: F401

needs_host = pytest.mark.skipif(not HOST[0], reason="host oracle: " + HOST[1])
needs_x87_host = pytest.mark.skipif(not host_available(), reason="needs an x86-64 Linux host with gcc")
FAST = ("ADD", "SUB", "MUL", "DIV", "SQRT")
MOVES = ("MOVSS", "MOVSD", "MOVAPS", "MOVAPD", "MOVUPS", "MOVUPD", "MOVDDUP",
         "CVTSD2SS", "CVTSS2SD", "CVTSI2SS", "CVTSI2SD", "XORPS", "XORPD")


def variant_rows():
    rows = []
    for r in fp_rows():
        name = r.mnemonic.split()[0]
        if (name[:-2] in FAST and name[-2:] in ("PS", "PD", "SS", "SD")) or name in MOVES:
            rows.append(r)
    return rows


def twice_case(r, mode, rng):
    """Row r's instruction twice (the second finds the TLB filled)."""
    name = r.mnemonic.split()[0]
    bits = 64 if name.endswith(("D", "PD")) and not name.startswith("MOVSS") else 32
    mem_form = r.mem_handler is not None and (r.reg_handler is None or rng.random() < 0.6)
    code = encode(r, mode, rng, mem_form)
    names = gpr_names(mode)
    regs = {n: rng.choice((0, 1, -1, rng.getrandbits(31), rng.getrandbits(64)))
            & ((1 << mode) - 1) for n in names}
    regs[names[4]] = STACK_TOP
    regs[names[3]] = DATA_BASE
    data = b"".join(_vec(rng, bits).to_bytes(16, "little") for _ in range(256))
    k = rng.random()
    if k < 0.7:
        mxcsr = 0x1FA0                               # the fast path
    elif k < 0.85:
        mxcsr = 0x1F80 | rng.getrandbits(6)          # PE maybe clear
    else:                                            # anything: unmasked, DAZ, FTZ, RC
        mxcsr = rng.getrandbits(16) & 0xFFFF
    img = make_image(mxcsr=mxcsr, xmm=[_vec(rng, bits) for _ in range(16)])
    return Case(mode=mode, code=code + code, regs=regs, data=data, count=2, fpu=img)


@needs_host
@pytest.mark.parametrize("mode", [32, 64])
def test_sse_variants_match_the_host(host, mode):  # noqa: F811
    rng = random.Random(0x5EF0 + mode)
    rows = variant_rows()
    assert len(rows) >= 33                # 20 arithmetic rows, the moves, conversions, XORs
    check_against_host(host, [twice_case(rng.choice(rows), mode, rng) for _ in range(3000)])


def _machine(mode=64):
    m = Machine(mode=mode, memory=1 << 20)
    m.reg_write("mxcsr", 0x1FA0)
    return m


def _run(m, code, count):
    m.mem_write(0x1000, code)
    return m.run(start=0x1000, count=count)


WARM = bytes.fromhex("8b03")              # mov eax, [rbx]: fills the read TLB
WARM_W = bytes.fromhex("8903")            # mov [rbx], eax: and the write TLB


@pytest.mark.parametrize("mode", [32, 64])
def test_operand_across_a_page(mode):
    """movsd xmm0, [rbx]; addsd xmm0, [rbx]; movups xmm1, [rbx+8];
    movsd [rbx+16], xmm0 with rbx 4 bytes before a page's end."""
    m = _machine(mode)
    base = 0x2FFC
    m.mem_write(base, struct.pack("<3d", 1.5, 2.25, 3.0))
    m.reg_write("ebx" if mode == 32 else "rbx", base)
    code = bytes.fromhex("f20f1003" "f20f5803" "0f104b08" "f20f114310")
    ex = _run(m, WARM + code + WARM + code, 10)
    assert ex.reason == "count"
    assert struct.unpack("<d", m.mem_read(base + 16, 8))[0] == 3.0
    assert m.reg_read("xmm1") == int.from_bytes(struct.pack("<2d", 2.25, 3.0), "little")


@pytest.mark.parametrize("code", [bytes.fromhex("0f2803"), bytes.fromhex("0f5803"),
                                  bytes.fromhex("0f2903"), bytes.fromhex("660f5903")],
                         ids=["movaps-load", "addps", "movaps-store", "mulpd"])
def test_misaligned_aligned_forms_gp_with_the_page_in_the_tlb(code):
    m = _machine()
    m.reg_write("rbx", 0x2008)
    m.reg_write("xmm0", 0x1234)
    ex = _run(m, WARM_W + WARM + code, 3)
    assert ex.reason == "exception" and ex.vector == 13
    assert m.reg_read("xmm0") == 0x1234
    m.reg_write("rbx", 0x2010)                      # aligned: runs (twice, warm)
    assert _run(m, WARM_W + code + code, 3).reason == "count"


def test_unmasked_exception_after_the_variant_ran():
    """divsd xmm0, [rbx] on a normal divisor (the variant, TLB warm), then
    with a zero divisor and ZE unmasked: #XM, xmm0 kept, ZE set; and a
    denormal lane with DE masked leaves the fast path and reports DE."""
    m = _machine()
    m.reg_write("rbx", 0x2000)
    m.mem_write(0x2000, struct.pack("<d", 4.0))
    m.reg_write("xmm0", int.from_bytes(struct.pack("<d", 1.0), "little"))
    divsd = bytes.fromhex("f20f5e03")
    assert _run(m, WARM + divsd + divsd, 3).reason == "count"
    assert struct.unpack("<d", m.reg_read("xmm0").to_bytes(16, "little")[:8])[0] == 1.0 / 16
    m.reg_write("mxcsr", 0x1FA0 & ~(0x4 << 7))
    m.mem_write(0x2000, struct.pack("<d", 0.0))
    ex = _run(m, divsd, 1)
    assert ex.reason == "exception" and ex.vector == 19
    assert struct.unpack("<d", m.reg_read("xmm0").to_bytes(16, "little")[:8])[0] == 1.0 / 16
    assert m.reg_read("mxcsr") & 0x3F == 0x24
    m.reg_write("mxcsr", 0x1FA0)
    m.mem_write(0x2000, struct.pack("<Q", 1))         # the smallest denormal
    assert _run(m, divsd, 1).reason == "count"
    assert m.reg_read("mxcsr") & 0x3F == 0x22 | 0x8   # DE, PE, and the quotient overflows


def test_sse_unusable_faults_in_the_variant_forms():
    """CR0.TS after the variant has run: #NM; CR0.EM: #UD."""
    m = _machine()
    m.reg_write("rbx", 0x2000)
    addsd = bytes.fromhex("f20f58c1")
    assert _run(m, addsd + addsd, 2).reason == "count"
    m.write_cr(0, m.read_cr(0) | 0x8)
    ex = _run(m, addsd, 1)
    assert ex.reason == "exception" and ex.vector == 7
    m.write_cr(0, (m.read_cr(0) & ~0x8) | 0x4)
    ex = _run(m, addsd, 1)
    assert ex.reason == "exception" and ex.vector == 6


# ---- x87 ----------------------------------------------------------------------

# (masked only: the host program cannot take the #MF a second instruction
# would raise after an unmasked one; test_x87_unmasked_... covers that)
X87_FCWS = (0x37F, 0x37F, 0x37F, 0x33F, 0x27F, 0x77F, 0xB7F, 0xF7F, 0x07F)
ST_OPS = (0, 1, 4, 5)                     # FADD FMUL FSUB FSUBR: the variants' operations


def x87_variant_cases(rng, count):
    """The variant forms twice each (m80 sources: a double's bits and two
    more bytes, any pattern), on 0-8 pushed registers (stack faults
    and overflow), under FNINIT's control word mostly."""
    cases = []
    for _ in range(count):
        fcw = rng.choice(X87_FCWS)
        wide, src = binary_source(rng)
        kind = rng.randrange(7)
        if kind == 6:
            src = struct.pack("<QH", rng.getrandbits(64), rng.getrandbits(16))
        pushes = rng.choice((0, 1, 2, 2, 2, 7, 8))
        if kind == 0:
            op = mem(0xDD if wide else 0xD9, 0)                                  # FLD m
        elif kind == 1:
            op = mem(0xDC if wide else 0xD8, rng.choice(ST_OPS))                 # FADD.. m
        elif kind == 2:
            op = mem(0xDD if wide else 0xD9, rng.choice((2, 3)), DST)           # FST/FSTP m
        elif kind == 3:
            op = bytes([0xD9, rng.choice((0xC1, 0xC9, 0xC7, 0xCF))])             # FLD/FXCH ST(1|7)
        elif kind == 6:
            op = rng.choice((mem(0xDB, 5), mem(0xDB, 7, DST)))                  # FLD/FSTP m80
        else:
            op = bytes([rng.choice((0xD8, 0xDC, 0xDE)), 0xC1 | (rng.choice(ST_OPS) << 3)])
        cases.append(("%s fcw %04x pushes %d" % (op.hex(), fcw, pushes), program(op + op, pushes),
                      data_block(fcw, _st0(rng), _normal80(rng), src)))
    return cases


@needs_x87_host
def test_x87_variants_match_the_host(x87):  # noqa: F811
    host_cpu, emu = x87
    cases = x87_variant_cases(random.Random(0x87F), 3000)
    bad = [(name, d) for (name, _, _), d in differences(host_cpu, emu, cases)]
    assert not bad, "%d of %d differ, first: %r" % (len(bad), len(cases), bad[:3])


def _x87_state(m):
    f = m.fpu_read()
    return f["fsw"], f["ftw"], f["top"]


def test_x87_stack_faults_in_the_variant_forms():
    """FNINIT, FLD1, then FXCH ST(1) (empty ST(1)): masked stack underflow,
    IE and SF, C1 clear, the indefinite exchanged into ST(0); FADD ST(0), ST(2) likewise;
    FLD ST(0) with ST(7) full: overflow, C1 set."""
    m = Machine(mode=32, memory=1 << 20)
    ex = _run(m, bytes.fromhex("dbe3" "d9e8" "d9c9"), 3)       # fninit; fld1; fxch st(1)
    assert ex.reason == "count"
    fsw, ftw, top = _x87_state(m)
    assert fsw & 0x7F == 0x41 and not fsw & 0x200
    st = m.fpu_read()["st"]
    assert st[top] == (0xC000000000000000, 0xFFFF)              # the real indefinite
    assert st[(top + 1) & 7] == (0x8000000000000000, 0x3FFF)    # 1.0
    _run(m, bytes.fromhex("dbe3" "d9e8" "d8c2"), 3)            # fadd st(0), st(2)
    assert _x87_state(m)[0] & 0x7F == 0x41
    ex = _run(m, bytes.fromhex("dbe3") + bytes.fromhex("d9e8") * 8 + bytes.fromhex("d9c0"), 10)
    assert ex.reason == "count"
    fsw = _x87_state(m)[0]
    assert fsw & 0x7F == 0x41 and fsw & 0x200                  # overflow: C1 set


def test_x87_unmasked_precision_exception_is_reported_not_fast():
    """FCW with PE unmasked: FMUL m64 on inexact operands sets PE and ES (no
    fast path), and the next waiting instruction raises #MF (CR0.NE)."""
    m = Machine(mode=32, memory=1 << 20)
    m.write_cr(0, m.read_cr(0) | 0x20)
    m.reg_write("ebx", 0x2000)
    m.mem_write(0x2000, struct.pack("<dH", 1.0 / 3.0, 0x35F))
    code = bytes.fromhex("dbe3" "d96b08" "dd03" "dc0b" "dc0b")  # fninit; fldcw; fld; fmul; fmul
    ex = _run(m, code, 5)
    assert ex.reason == "exception" and ex.vector == 16
    assert _x87_state(m)[0] & 0xA0 == 0xA0


def _round(num, den, bits):
    """num/den > 0 rounded to `bits` significant bits, to nearest even, as
    (integer significand, exponent)."""
    e = num.bit_length() - den.bit_length()
    while (num << max(0, -e)) < (den << max(0, e)):
        e -= 1
    shift = bits - 1 - e                            # value * 2**shift in [2**(bits-1), 2**bits)
    n, d = (num << shift, den) if shift >= 0 else (num, den << -shift)
    q, r = divmod(n, d)
    if 2 * r > d or (2 * r == d and q & 1):
        q += 1
    if q >> bits:
        q >>= 1
        shift -= 1
    return q, -shift


def test_x87_double_rounding_through_the_stack():
    """FLD m64; FMUL m64; FSTP m64 on warm pages: the product rounded to 64
    bits, then to 53, with PE and C1 as the two roundings say."""
    rng = random.Random(87)
    m = Machine(mode=32, memory=1 << 20)
    m.reg_write("ebx", 0x2000)
    code = bytes.fromhex("dbe3" "8b03" "8953 10" "dd03" "dc4b08" "dd5b10")
    for _ in range(200):
        a, b = (rng.getrandbits(52) | (1 << 52)) << rng.randint(0, 3), rng.getrandbits(52) | (1 << 52)
        x, y = a / (1 << 52), b / (1 << 52)
        m.mem_write(0x2000, struct.pack("<2d", x, y))
        assert _run(m, code, 6).reason == "count"
        got = struct.unpack("<d", m.mem_read(0x2010, 8))[0]
        fx, fy = x.as_integer_ratio(), y.as_integer_ratio()
        q64, e64 = _round(fx[0] * fy[0], fx[1] * fy[1], 64)
        q53, e53 = _round(q64 << max(0, e64), 1 << max(0, -e64), 53)
        assert got == q53 * 2.0 ** e53


def _xmm(*lanes):
    return int.from_bytes(struct.pack("<%dd" % len(lanes), *lanes), "little")


@pytest.mark.parametrize("code, a, b, want", [
    ("660f59c1", (1.5, 0.0), (0.0, -2.0), (0.0, -0.0)),          # mulpd: zero factors
    ("f20f5ec1", (0.0, 7.0), (float("inf"), 1.0), (0.0, 7.0)),   # divsd 0 / inf
    ("f20f5cc1", (2.5, 7.0), (2.5, 1.0), (0.0, 7.0)),            # subsd x - x = +0
    ("f20f51c1", (1.0, 7.0), (-0.0, 1.0), (-0.0, 7.0)),          # sqrtsd -0
], ids=["mulpd", "divsd", "subsd", "sqrtsd"])
def test_exact_zero_results_raise_nothing(code, a, b, want):
    """Exact zeros stay on the fast path: the result with its sign, MXCSR
    as it was (PE set, nothing else)."""
    m = _machine()
    m.reg_write("xmm0", _xmm(*a))
    m.reg_write("xmm1", _xmm(*b))
    assert _run(m, bytes.fromhex(code), 1).reason == "count"
    assert m.reg_read("xmm0") == _xmm(*want)
    assert m.reg_read("mxcsr") == 0x1FA0
