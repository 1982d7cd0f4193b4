"""SSE/SSE2/SSE3/SSE4.1 floating point, MXCSR, the SIMD checks, and the
x87/SSE state instructions (FXSAVE, XSAVE, XGETBV/XSETBV, CPUID leaf 0xD).

Semantics are checked against the host CPU (emu.fuzz.host): every row of
emu/isa/simd_fp.py in its register and memory forms, with special values
under random MXCSR (rounding, DAZ, FTZ, masked and unmasked exceptions).
RCPPS/RSQRTPS are approximations that differ between CPU makers: they are
checked against the SDM's error bound instead."""
import math
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from emu import Machine
from emu.fuzz import compare, run_emu
from emu.fuzz.case import STACK_TOP, Case, gpr_names
from emu.fuzz.fpstate import fields, make_image
from emu.fuzz.host import HostOracle, available
from emu.fuzz.sse_cases import fp_rows, sse_case

HOST = available()
needs_host = pytest.mark.skipif(not HOST[0], reason="host oracle: " + HOST[1])
APPROX = ("RCP", "RSQRT")


def exact_rows():
    return [r for r in fp_rows() if not r.mnemonic.startswith(APPROX)]


@pytest.fixture(scope="module")
def host():
    with HostOracle() as h:
        yield h


def check_against_host(host, cases):
    results = host.run_many(cases)
    bad = []
    for c, r in zip(cases, results):
        assert r.oracle_error is None, r.oracle_error
        d = compare(c, r, run_emu(c), names=("host", "emu"))
        if d:
            bad.append((c.code.hex(), d[:3]))
    assert not bad, f"{len(bad)} of {len(cases)} differ, e.g. {bad[:5]}"


@needs_host
@pytest.mark.parametrize("mode", [32, 64])
def test_every_row_matches_the_host(host, mode):
    """Each row, both ModRM forms, 12 cases each, special values and random
    MXCSR (about 3,000 cases per mode)."""
    rng = random.Random(mode)
    cases = []
    for r in exact_rows():
        for mem in (False, True):
            if getattr(r, ("mem" if mem else "reg") + "_handler"):
                cases += [sse_case(r, mode, rng, mem=mem) for _ in range(12)]
    check_against_host(host, cases)


@needs_host
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2 ** 32 - 1), mode=st.sampled_from((32, 64)))
def test_random_rows_match_the_host(host, seed, mode):
    rng = random.Random(seed)
    rows = exact_rows()
    check_against_host(host, [sse_case(rng.choice(rows), mode, rng) for _ in range(20)])


# ---- RCPPS / RSQRTPS: the SDM's bound |error| <= 1.5 * 2^-12 * |exact| ----

def run_code(m, code, count=1):
    m.mem_write(0x1000, code)
    return m.run(start=0x1000, count=count)


def f32(v):
    return struct.unpack("<f", struct.pack("<I", v))[0]


@pytest.mark.parametrize("rsqrt", [False, True])
def test_rcp_rsqrt_error_bound(rsqrt):
    rng = random.Random(5)
    m = Machine(mode=64, memory=1 << 20)
    code = bytes.fromhex("0f52c1" if rsqrt else "0f53c1")        # RSQRTPS / RCPPS xmm0, xmm1
    for _ in range(300):
        lanes = [((rng.randint(1, 253) << 23) | rng.getrandbits(23)) | (0 if rsqrt else rng.getrandbits(1) << 31)
                 for _ in range(4)]
        m.reg_write("xmm1", sum(v << (32 * k) for k, v in enumerate(lanes)))
        mx = m.reg_read("mxcsr")
        assert run_code(m, code).reason == "count"
        out = m.reg_read("xmm0")
        for k, v in enumerate(lanes):
            x = f32(v)
            exact = 1 / math.sqrt(x) if rsqrt else 1 / x
            got = f32((out >> (32 * k)) & 0xFFFFFFFF)
            if abs(exact) < 2.0 ** -126:
                assert got == 0.0                  # tiny results flush to zero
            else:
                assert abs(got - exact) <= 1.5 * 2.0 ** -12 * abs(exact), (hex(v), got, exact)
        assert m.reg_read("mxcsr") == mx           # no flags


def test_rcp_special_values():
    m = Machine(mode=64, memory=1 << 20)
    lanes = [0x00000000, 0x80000000, 0x7F800000, 0x7F800001]
    m.reg_write("xmm1", sum(v << (32 * k) for k, v in enumerate(lanes)))
    run_code(m, bytes.fromhex("0f53c1"))
    out = [(m.reg_read("xmm0") >> (32 * k)) & 0xFFFFFFFF for k in range(4)]
    assert out == [0x7F800000, 0xFF800000, 0x00000000, 0x7FC00001]


# ---- the checks every SSE instruction makes ----

ADDPS = bytes.fromhex("0f58c1")
MOVAPS_LOAD = bytes.fromhex("0f2803")          # movaps xmm0, [rbx]
MOVUPS_LOAD = bytes.fromhex("0f1003")


def test_flat_machines_start_with_sse_on():
    for mode in (32, 64):
        m = Machine(mode=mode, memory=1 << 20)
        assert m.read_cr(0) & 0x26 == 0x22                   # MP, NE set; EM clear
        assert m.read_cr(4) & 0x40600 == 0x40600             # OSFXSR, OSXMMEXCPT, OSXSAVE
        assert m.reg_read("mxcsr") == 0x1F80
        img = fields(m.fpu_image(), 64)
        assert img["fcw"] == 0x37F and img["ftw"] == 0
    assert Machine(mode=16, memory=1 << 20).read_cr(4) & 0x40600 == 0


def test_reset_fpu_is_the_architectural_state():
    m = Machine(mode=32, memory=1 << 20)
    m.reset_fpu()
    assert m.read_cr(4) & 0x40600 == 0 and m.read_cr(0) & 0x22 == 0
    assert run_code(m, ADDPS).vector == 6                    # CR4.OSFXSR clear: #UD
    assert fields(m.fpu_image(), 32)["fcw"] == 0x40


@pytest.mark.parametrize("cr, bit, vector", [(0, 0x4, 6), (0, 0x8, 7), (4, 0x200, 6)])
def test_sse_entry_checks(cr, bit, vector):
    m = Machine(mode=64, memory=1 << 20)
    v = m.read_cr(cr)
    m.write_cr(cr, v ^ bit)
    ex = run_code(m, ADDPS)
    assert ex.reason == "exception" and ex.vector == vector


def test_alignment_gp_only_for_the_aligned_forms():
    m = Machine(mode=64, memory=1 << 20)
    m.reg_write("rbx", 0x2008)
    assert run_code(m, MOVAPS_LOAD).vector == 13
    assert run_code(m, MOVUPS_LOAD).reason == "count"
    m.reg_write("rbx", 0x2010)
    assert run_code(m, MOVAPS_LOAD).reason == "count"


@pytest.mark.parametrize("osxmmexcpt, vector", [(True, 19), (False, 6)])
def test_unmasked_exception_is_xm_or_ud(osxmmexcpt, vector):
    m = Machine(mode=64, memory=1 << 20)
    if not osxmmexcpt:
        m.write_cr(4, m.read_cr(4) & ~0x400)
    m.reg_write("mxcsr", 0x1F80 & ~(0x4 << 7))               # divide by zero unmasked
    m.reg_write("xmm0", 0x3F800000)
    m.reg_write("xmm1", 0)
    ex = run_code(m, bytes.fromhex("f30f5ec1"))              # divss xmm0, xmm1
    assert ex.reason == "exception" and ex.vector == vector
    assert m.reg_read("xmm0") == 0x3F800000                  # not written
    assert m.reg_read("mxcsr") & 0x3F == 0x4                 # the flag is set


def test_masked_exception_sets_flags_and_writes():
    m = Machine(mode=64, memory=1 << 20)
    m.reg_write("xmm0", 0x3F800000)
    m.reg_write("xmm1", 0)
    assert run_code(m, bytes.fromhex("f30f5ec1")).reason == "count"
    assert m.reg_read("xmm0") == 0x7F800000 and m.reg_read("mxcsr") == 0x1F84


def test_ldmxcsr_reserved_bits_gp():
    m = Machine(mode=64, memory=1 << 20)
    m.mem_write(0x2000, (0x10000 | 0x1F80).to_bytes(4, "little"))
    m.reg_write("rbx", 0x2000)
    assert run_code(m, bytes.fromhex("0fae13")).vector == 13          # ldmxcsr [rbx]
    m.mem_write(0x2000, (0x7F80 | 0x40).to_bytes(4, "little"))
    assert run_code(m, bytes.fromhex("0fae13")).reason == "count"
    assert m.reg_read("mxcsr") == 0x7FC0
    assert run_code(m, bytes.fromhex("0fae1b")).reason == "count"      # stmxcsr [rbx]
    assert m.mem_read(0x2000, 4) == (0x7FC0).to_bytes(4, "little")


# ---- FXSAVE / FXRSTOR ----

def test_fxsave_layout_64_and_32_bit_formats():
    m = Machine(mode=64, memory=1 << 20)
    st0 = (0x8000000000000001, 0x3FFF)
    img = make_image(fcw=0x27F, fsw=0x3800 | 0x20, ftw=0x80, mxcsr=0x9FC0, st=[st0],
                     xmm=[k * 0x0101010101010101 | (k << 120) for k in range(16)])
    m.set_fpu_image(img)
    m.reg_write("rbx", 0x3000)
    assert run_code(m, bytes.fromhex("480fae03")).reason == "count"     # fxsave64 [rbx]
    out = m.mem_read(0x3000, 512)
    assert out[0:2] == (0x27F).to_bytes(2, "little")
    assert out[2:4] == (0x3820).to_bytes(2, "little")                  # TOP = 7
    assert out[4] == 0x80
    assert out[24:28] == (0x9FC0).to_bytes(4, "little")
    assert out[28:32] == (0xFFFF).to_bytes(4, "little")                # MXCSR_MASK
    assert out[32:42] == st0[0].to_bytes(8, "little") + st0[1].to_bytes(2, "little")
    assert out[160 + 16 * 15:176 + 16 * 15] == img[160 + 16 * 15:176 + 16 * 15]
    assert out[464:512] == bytes(48)                                   # not written
    # restore after changing the state
    m.reg_write("xmm3", 0)
    assert run_code(m, bytes.fromhex("480fae0b")).reason == "count"     # fxrstor64 [rbx]
    assert fields(m.fpu_image(), 64) == fields(img, 64)
    # the 32-bit format in 32-bit mode: FCS at 12, only XMM0-7
    m32 = Machine(mode=32, memory=1 << 20)
    m32.set_fpu_image(img)
    m32.mem_write(0x3000, b"\xAA" * 512)
    m32.reg_write("ebx", 0x3000)
    assert run_code(m32, bytes.fromhex("0fae03")).reason == "count"
    out = m32.mem_read(0x3000, 512)
    assert out[160 + 16 * 7:176 + 16 * 7] == img[160 + 16 * 7:176 + 16 * 7]
    assert out[160 + 16 * 8:176 + 16 * 8] == b"\xAA" * 16


def test_fxsave_alignment_and_fxrstor_reserved_mxcsr():
    m = Machine(mode=64, memory=1 << 20)
    m.reg_write("rbx", 0x3008)
    assert run_code(m, bytes.fromhex("0fae03")).vector == 13
    m.reg_write("rbx", 0x3000)
    assert run_code(m, bytes.fromhex("0fae03")).reason == "count"
    m.mem_write(0x3000 + 24, (0x1F80 | 0x20000).to_bytes(4, "little"))
    assert run_code(m, bytes.fromhex("0fae0b")).vector == 13


# ---- XSAVE family, XCR0, CPUID leaf 0xD ----

XGETBV = bytes.fromhex("0f01d0")
XSETBV = bytes.fromhex("0f01d1")


def test_xgetbv_xsetbv():
    m = Machine(mode=64, memory=1 << 20)
    m.reg_write("rcx", 0)
    assert run_code(m, XGETBV).reason == "count"
    assert (m.reg_read("rdx") << 32 | m.reg_read("rax")) == 3
    for bad in (0, 2, 4, 5, 7, 1 << 40):                    # x87 off, AVX, unsupported
        m.reg_write("rax", bad & 0xFFFFFFFF)
        m.reg_write("rdx", bad >> 32)
        assert run_code(m, XSETBV).vector == 13, hex(bad)
    m.reg_write("rax", 1)
    m.reg_write("rdx", 0)
    assert run_code(m, XSETBV).reason == "count"
    assert run_code(m, XGETBV).reason == "count" and m.reg_read("rax") == 1
    m.reg_write("rcx", 1)
    assert run_code(m, XGETBV).vector == 13
    m.write_cr(4, m.read_cr(4) & ~0x40000)
    assert run_code(m, XGETBV).vector == 6                   # CR4.OSXSAVE clear


def test_xsave_xrstor_components():
    m = Machine(mode=64, memory=1 << 20)
    img = make_image(fcw=0x27F, mxcsr=0x9FC0, xmm=[(k + 1) << 64 for k in range(16)])
    m.set_fpu_image(img)
    m.reg_write("rbx", 0x4000)
    m.reg_write("rax", 3)
    m.reg_write("rdx", 0)
    assert run_code(m, bytes.fromhex("480fae23")).reason == "count"      # xsave64 [rbx]
    area = m.mem_read(0x4000, 576)
    assert area[512:520] == (3).to_bytes(8, "little")                   # XSTATE_BV
    assert area[0:2] == (0x27F).to_bytes(2, "little") and area[160:176] == img[160:176]
    # XRSTOR with XSTATE_BV = x87 only: SSE registers to their init state,
    # MXCSR still loaded from memory (standard form)
    m.mem_write(0x4000 + 512, (1).to_bytes(8, "little"))
    assert run_code(m, bytes.fromhex("480fae2b")).reason == "count"      # xrstor64 [rbx]
    assert m.reg_read("xmm0") == 0 and m.reg_read("mxcsr") == 0x9FC0
    # a header bit XCR0 does not enable: #GP
    m.mem_write(0x4000 + 512, (7).to_bytes(8, "little"))
    assert run_code(m, bytes.fromhex("480fae2b")).vector == 13
    # misaligned: #GP
    m.reg_write("rbx", 0x4010)
    assert run_code(m, bytes.fromhex("480fae23")).vector == 13
    # XSAVEC: compacted header
    m.reg_write("rbx", 0x5000)
    assert run_code(m, bytes.fromhex("480fc723")).reason == "count"      # xsavec64 [rbx]
    hdr = m.mem_read(0x5000 + 512, 64)
    assert int.from_bytes(hdr[8:16], "little") == (1 << 63) | 3
    m.write_cr(4, m.read_cr(4) & ~0x40000)
    assert run_code(m, bytes.fromhex("480fae23")).vector == 6           # CR4.OSXSAVE clear


def test_cpuid_reports_sse_and_leaf_0xd():
    m = Machine(mode=64, memory=1 << 20)
    eax, ebx, ecx, edx = m.cpuid(1)
    for bit in (19, 24, 25, 26):                             # CLFSH FXSR SSE SSE2
        assert edx >> bit & 1
    assert ecx >> 26 & 1 and ecx >> 27 & 1                   # XSAVE, OSXSAVE (CR4)
    assert (ebx >> 8) & 0xFF == 8                            # 64-byte lines
    assert m.cpuid(0)[0] >= 0xD
    # x87 + SSE (the legacy region and header, 576 bytes) and, this model
    # having PKU, PKRU: 8 bytes at 2688 (Intel's and QEMU's offset)
    assert m.cpuid(0xD, 0)[:3] == (0x203, 576, 2696)
    assert m.cpuid(0xD, 1)[:2] == (3, 576)                   # XSAVEOPT, XSAVEC; XCR0's compacted size
    assert m.cpuid(0xD, 9) == (8, 2688, 0, 0)
    m.reg_write("rcx", 0)
    m.reg_write("rax", 0x203)
    m.reg_write("rdx", 0)
    assert run_code(m, XSETBV).reason == "count"
    assert m.cpuid(0xD, 0)[1] == 2696 and m.cpuid(0xD, 1)[1] == 584
    old = Machine(mode=64, memory=1 << 20, cpu="qemu64")     # no PKU: no PKRU component
    assert old.cpuid(0xD, 0)[:3] == (3, 576, 576) and old.cpuid(0xD, 9) == (0, 0, 0, 0)
    old.reg_write("rcx", 0)
    old.reg_write("rax", 0x203)
    assert run_code(old, XSETBV).vector == 13
    m.write_cr(4, m.read_cr(4) & ~0x40000)
    assert not m.cpuid(1)[2] >> 27 & 1


def test_simd_register_names():
    m = Machine(mode=64, memory=1 << 20)
    m.reg_write("xmm15", (1 << 128) - 1)
    m.reg_write("mm3", 0x1234)
    s = m.state()
    assert s["xmm15"] == (1 << 128) - 1 and s["mm3"] == 0x1234 and s["mxcsr"] == 0x1F80
    img = fields(m.fpu_image(), 64)
    assert img["ftw"] == 0xFF and img["st3"] == (0xFFFF << 64) | 0x1234 and img["fsw"] >> 11 & 7 == 0


def test_lddqu_loads_unaligned_and_cpuid_is_x86_64_v2():
    from emu import Machine
    m = Machine(mode=64, memory=1 << 20)
    m.mem_write(0x2001, bytes(range(16)))
    m.mem_write(0x1000, bytes.fromhex("f20ff00425" "01200000" "f4"))   # lddqu xmm0, [0x2001]; hlt
    assert m.run(start=0x1000, count=10).reason == "hlt"
    assert m.reg_read("xmm0") == int.from_bytes(bytes(range(16)), "little")
    m.mem_write(0x1000, bytes.fromhex("f20ff0c1"))                      # register form: #UD
    ex = m.run(start=0x1000, count=10)
    assert ex.reason == "exception" and ex.vector == 6
    ecx, edx = m.cpuid(1)[2:]
    # x86-64-v2: CMPXCHG16B, LAHF-SAHF, POPCNT, SSE3, SSE4.1, SSE4.2, SSSE3 (and v1's base)
    for bit in (0, 9, 13, 19, 20, 23):
        assert ecx >> bit & 1, bit
    for bit in (0, 8, 15, 23, 24, 25, 26):
        assert edx >> bit & 1, bit
    assert m.cpuid(0x80000001)[2] & 1


def test_fpu_write_checks_mxcsr_as_reg_write_does():
    import pytest
    from emu import EmuError, Machine
    m = Machine(mode=64, memory=1 << 16)
    m.fpu_write({"mxcsr": 0x1F80 | 0x40})          # DAZ: allowed
    assert m.reg_read("mxcsr") == 0x1FC0
    with pytest.raises(EmuError, match="reserved"):
        m.fpu_write({"mxcsr": 1 << 20})


# ---- tininess after rounding (SDM Vol. 1 4.9.1.5, 11.5.2.5) ----

TINY_CODES = {   # xmm0 op= xmm1 (DPPS/DPPD: lane 0's product only, the sum adds zeros)
    "mulss": ("f30f59c1", 32), "mulsd": ("f20f59c1", 64), "mulps": ("0f59c1", 32),
    "mulpd": ("660f59c1", 64), "divss": ("f30f5ec1", 32), "divsd": ("f20f5ec1", 64),
    "cvtsd2ss": ("f20f5ac1", 64), "cvtpd2ps": ("660f5ac1", 64),
    "dpps": ("660f3a40c111", 32), "dppd": ("660f3a41c111", 64),
}


def _bits(v, bits):
    return struct.unpack("<I" if bits == 32 else "<Q", struct.pack("<f" if bits == 32 else "<d", v))[0]


def _near_min(rng, name, bits):
    """Operands (x, y) whose result lies within a few ulps of the smallest
    normal, on either side."""
    if name.startswith("cvt"):                       # a double near the smallest normal single
        x = 2.0 ** -126 * (1 + rng.randint(-8, 8) * 2.0 ** -rng.randint(20, 60))
        return _bits(x, 64), 0
    z = 1 + rng.getrandbits(20) / 2 ** 20
    tiny = 2.0 ** (-126 if bits == 32 else -1022)
    if name.startswith("div"):                       # (MIN * z) / (z +- a few ulps)
        return _bits(tiny * z, bits), _bits(z, bits) + rng.randint(-3, 3)
    return _bits(z, bits), _bits(tiny / z, bits) + rng.randint(-3, 3)


def tiny_case(rng, name, mode):
    hexcode, bits = TINY_CODES[name]
    pairs = [_near_min(rng, name, bits) for _ in range(128 // bits)]
    xmm0 = sum(x << (bits * k) for k, (x, _) in enumerate(pairs))
    xmm1 = xmm0 if name.startswith("cvt") else sum(y << (bits * k) for k, (_, y) in enumerate(pairs))
    mxcsr = (rng.getrandbits(2) << 13) | (rng.getrandbits(1) << 15) | (0x1F80 & ~(rng.getrandbits(1) << 11))
    return Case(mode=mode, code=bytes.fromhex(hexcode), regs={gpr_names(mode)[4]: STACK_TOP},
                count=1, fpu=make_image(mxcsr=mxcsr, xmm=[xmm0, xmm1]))


@needs_host
@pytest.mark.parametrize("name", sorted(TINY_CODES))
def test_tininess_after_rounding_matches_the_host(host, name):
    """Results within a few ulps of the smallest normal in every rounding
    mode, UE masked or not, FTZ on or off: UE (and FTZ's flush) follow the
    result rounded with an unbounded exponent, not the one before rounding
    (a product that rounds up to the smallest normal is not tiny)."""
    rng = random.Random(name)
    check_against_host(host, [tiny_case(rng, name, rng.choice((32, 64))) for _ in range(150)])


def test_rounding_up_to_the_smallest_normal_is_not_tiny():
    """MULSD of the largest denormal by 1 + 2^-52 (exact: MIN * (1 - 2^-104)):
    to nearest and upward it rounds, even with an unbounded exponent, to the
    smallest normal: not tiny, so no UE (PE and DE only); toward zero it
    stays tiny (UE)."""
    for rc, flags, result in ((0, 0x22, 0x0010000000000000), (2, 0x22, 0x0010000000000000),
                              (3, 0x32, 0x000FFFFFFFFFFFFF)):
        m = Machine(mode=64)
        m.reg_write("mxcsr", 0x1F80 | rc << 13)
        m.reg_write("xmm0", 0x000FFFFFFFFFFFFF)
        m.reg_write("xmm1", 0x3FF0000000000001)
        run_code(m, bytes.fromhex("f20f59c1"))
        assert m.reg_read("mxcsr") & 0x3F == flags, (rc, hex(m.reg_read("mxcsr")))
        assert m.reg_read("xmm0") & (2 ** 64 - 1) == result
