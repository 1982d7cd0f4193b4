"""The SIMD integer instructions (MMX, SSE, SSE2, SSSE3, SSE4.1, SSE4.2),
differential against the host CPU: every row of emu/isa/simd_int.py, in its
register and memory forms, with random and boundary operands, runs natively
(emu.fuzz.host) and on the emulator, and the vector registers, general
registers, flags, memory and any fault must agree.

Each case loads xmm0-xmm15 (xmm0-xmm7 in 32-bit mode) and mm0-mm7 from the
scratch area, runs the instruction, and stores them all back, so the state
that the comparison sees is in memory.  The memory operand is at
[rbx] = DATA_BASE + 0x400 (+ a misalignment, for the #GP of aligned forms)."""
import platform
import random
import struct
from pathlib import Path

import pytest

from emu.fuzz.case import DATA_BASE, Case, gpr_names  # noqa: E402
from emu.fuzz import host  # noqa: E402

OK, WHY = host.available(probe=True)
needs_cpu = pytest.mark.skipif(not OK, reason=f"host oracle unavailable: {WHY}")

XMM_IN, MM_IN, MEM, XMM_OUT, MM_OUT = 0x000, 0x100, 0x400, 0x200, 0x300
ARITH = 0x8D5
CASES = 12          # random cases per row, form and mode
# General registers an instruction may name: not rsp, rbx (the memory
# operand) or rsi (the base of the loads and stores around it).
GPRS = {64: (0, 1, 2, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15), 32: (0, 1, 2, 5, 7)}


def simd_rows():
    from emu.isa.table import rows
    return [r for r in rows() if r.where.startswith("simd_int.py")]


# --- operands ------------------------------------------------------------------

BOUNDARY = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
            0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF)


def vector(rng):
    """16 bytes: random, or lanes of boundary values, or small counts."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(16)
    if kind == 1:
        size = rng.choice((1, 2, 4, 8))
        return b"".join((rng.choice(BOUNDARY) & ((1 << 8 * size) - 1)).to_bytes(size, "little")
                        for _ in range(16 // size))
    if kind == 2:                    # shift counts and small lanes
        return struct.pack("<QQ", rng.choice((0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 1 << 32)),
                           rng.getrandbits(64))
    return bytes(rng.choice((0, 1, 0x41, 0x42, 0x7F, 0x80, 0xFF)) for _ in range(16))


def imm8(rng):
    return rng.choice((rng.randrange(256), rng.randrange(20), 0x80, 0xFF, 31, 32, 63, 64))


def modrm(mod, reg, rm):
    return bytes([(mod << 6) | ((reg & 7) << 3) | (rm & 7)])


def operands(r):
    """(reg operand kind, rm operand kind) of a row: 'xmm', 'mm' or 'gpr'."""
    if r.modrm is None:
        return None, None
    ops = [o.strip() for o in r.mnemonic.split(" ", 1)[1].split(",")]
    ops = [o for o in ops if not o.startswith("imm8") and not o.startswith("<")]
    def kind(o):
        return "xmm" if o.startswith("xmm") else ("mm" if o.startswith("mm") else "gpr")
    if isinstance(r.modrm, int):
        return None, kind(ops[0])
    if len(ops) == 1:
        return kind(ops[0]), None
    first_is_rm = "/m" in ops[0] or ops[0].startswith("m")
    reg, rm = (ops[1], ops[0]) if first_is_rm else (ops[0], ops[1])
    return kind(reg), kind(rm)


def encode(r, mode, rng, mem):
    """The instruction bytes of row r with random registers (the memory form
    uses [rbx]), and a random immediate."""
    regk, rmk = operands(r)
    esc = (b"", b"\x0f", b"\x0f\x38", b"\x0f\x3a")[r.map]
    if r.modrm is None:
        return esc + bytes([r.op])
    def pick(k):
        return rng.choice(GPRS[mode]) if k == "gpr" else rng.randrange(16 if k == "xmm" and mode == 64 else 8)
    reg = r.modrm if isinstance(r.modrm, int) else pick(regk)
    rm = 3 if mem else pick(rmk)
    prefix = b"" if r.prefix in (None, "NP") else bytes([int(r.prefix, 16)])
    rex = 0
    if r.rexw:
        rex |= 0x48
    elif mode == 64 and "16/32/64" in r.mnemonic:       # CRC32 r/m16/32/64
        choice = rng.randrange(3)
        rex |= 0x48 if choice == 2 else 0
        prefix = (b"\x66" if choice == 0 else b"") + prefix
    if mode == 64 and regk != "mm" and reg >= 8 and not isinstance(r.modrm, int):
        rex |= 0x44
    if mode == 64 and rmk != "mm" and rm >= 8 and not mem:
        rex |= 0x41
    if mode == 64 and rex == 0 and rng.randrange(4) == 0:
        rex = 0x40                   # a REX that changes nothing
    code = prefix + (bytes([rex]) if rex else b"") + esc + bytes([r.op]) + modrm(0 if mem else 3, reg, rm)
    if r.imm == "ib":
        code += bytes([imm8(rng)])
    return code


# --- the case: load the state, run the instruction, store the state -----------------------

def load_store(mode, code):
    nx = 16 if mode == 64 else 8
    out = b""
    for k in range(nx):              # movdqu xmmk, [rsi + XMM_IN + 16k]
        out += (b"\x44" if k >= 8 else b"") + b"\xf3\x0f\x6f" + modrm(2, k, 6) + struct.pack("<i", XMM_IN + 16 * k)
    for k in range(8):               # movq mmk, [rsi + MM_IN + 8k]
        out += b"\x0f\x6f" + modrm(2, k, 6) + struct.pack("<i", MM_IN + 8 * k)
    out += code
    for k in range(nx):              # movdqu [rsi + XMM_OUT + 16k], xmmk
        out += (b"\x44" if k >= 8 else b"") + b"\xf3\x0f\x7f" + modrm(2, k, 6) + struct.pack("<i", XMM_OUT + 16 * k)
    for k in range(8):               # movq [rsi + MM_OUT + 8k], mmk
        out += b"\x0f\x7f" + modrm(2, k, 6) + struct.pack("<i", MM_OUT + 8 * k)
    return out


def make_case(mode, code, rng, misalign=0):
    data = bytearray(0x500)
    for k in range(16):
        data[XMM_IN + 16 * k:XMM_IN + 16 * k + 16] = vector(rng)
    for k in range(8):
        data[MM_IN + 8 * k:MM_IN + 8 * k + 8] = vector(rng)[:8]
    data[MEM:MEM + 0x40] = vector(rng) + vector(rng) + vector(rng) + vector(rng)
    names = gpr_names(mode)
    bits = 64 if mode == 64 else 32
    regs = {n: rng.choice((rng.getrandbits(bits), rng.randrange(-20, 20) % (1 << bits), 16, 8, 0))
            for n in names}
    regs[names[6]] = DATA_BASE                      # rsi: the state
    regs[names[3]] = DATA_BASE + MEM + misalign     # rbx: the memory operand
    regs[names[7]] = DATA_BASE + MEM + rng.randrange(0x20)   # rdi: MASKMOVQ/MASKMOVDQU
    regs[names[4]] = DATA_BASE + 0x8000            # rsp
    return Case(mode=mode, code=load_store(mode, code), regs=regs, data=bytes(data), count=200)


# --- running both -------------------------------------------------------------------------

def run_emulator(case):
    from emu.fuzz.emu_oracle import run_emu
    return run_emu(case, digest=False)


def describe(case, code, got, want):
    return (f"mode {case.mode} insn {code.hex()} regs {case.regs}\n"
            f" host: vector {want.vector} err {want.oracle_error}\n emu:  vector {got.vector} err {got.oracle_error}")


def check_cases(oracle, items):
    """items: (case, insn bytes).  Compare every case; collect differences."""
    wants = oracle.run_many([c for c, _ in items])
    bad = []
    for (case, code), want in zip(items, wants):
        if want.oracle_error:
            bad.append("host oracle error: " + describe(case, code, want, want))
            continue
        got = run_emulator(case)
        why = None
        if got.vector != want.vector:
            why = "fault"
        elif want.vector is None:
            names = gpr_names(case.mode)
            if any(got.regs[n] != want.regs[n] for n in names):
                why = "gpr " + " ".join(f"{n}:{got.regs[n]:#x}/{want.regs[n]:#x}" for n in names
                                        if got.regs[n] != want.regs[n])
            elif (got.regs["eflags"] ^ want.regs["eflags"]) & ARITH:
                why = f"eflags {got.regs['eflags']:#x}/{want.regs['eflags']:#x}"
            elif got.data[:0x500] != want.data[:0x500]:
                diff = [k for k in range(0x500) if got.data[k] != want.data[k]]
                k = diff[0] & ~15
                why = (f"data at {k:#x}: emu {got.data[k:k + 16].hex()} host {want.data[k:k + 16].hex()}")
        if why:
            bad.append(why + "\n  " + describe(case, code, got, want))
    return bad


@pytest.fixture(scope="module")
def oracle():
    if not OK:
        pytest.skip(f"host oracle unavailable: {WHY}")
    with host.HostOracle() as o:
        yield o


def row_id(r):
    return f"{r.opcode}|{r.mnemonic.split(',')[0]}"


ROWS = simd_rows()


@needs_cpu
@pytest.mark.parametrize("r", ROWS, ids=row_id)
def test_row_matches_host(oracle, r):
    rng = random.Random(row_id(r))
    items = []
    for mode in (64, 32):
        if mode == 32 and r.rexw:
            continue
        for form in r.forms:
            for k in range(CASES):
                code = encode(r, mode, rng, form == "mem")
                misalign = rng.choice((0, 0, 0, 1, 8)) if form == "mem" else 0
                items.append((make_case(mode, code, rng, misalign), code))
    bad = check_cases(oracle, items)
    assert not bad, f"{len(bad)} of {len(items)} cases differ:\n" + "\n".join(bad[:5])


# --- PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM: every imm8 mode ---------------------------

STRING_OPS = {"PCMPESTRM": 0x60, "PCMPESTRI": 0x61, "PCMPISTRM": 0x62, "PCMPISTRI": 0x63}


def string_case(mode, op, imm, a, b, eax, edx, mem, rexw=False):
    """op xmm1, xmm2 (or [rbx]) with xmm1 = a, xmm2 / memory = b."""
    code = b"\x66" + (b"\x48" if rexw else b"") + b"\x0f\x3a" + bytes([op]) + \
        modrm(0 if mem else 3, 1, 3 if mem else 2) + bytes([imm])
    rng = random.Random(0)
    case = make_case(mode, code, rng, misalign=rng.choice((0, 3)) if mem else 0)
    data = bytearray(case.data)
    data[XMM_IN + 16:XMM_IN + 32] = a
    data[XMM_IN + 32:XMM_IN + 48] = b
    data[MEM:MEM + 32] = b + b
    case.data = bytes(data)
    names = gpr_names(mode)
    case.regs[names[0]] = eax % (1 << (64 if mode == 64 else 32))
    case.regs[names[2]] = edx % (1 << (64 if mode == 64 else 32))
    return case, code


def string_operand(rng):
    """Strings over a small alphabet (so that elements match), with nulls."""
    alphabet = rng.choice((b"ab", b"abc\x00", b"\x00\x01\x80\xff", bytes(range(0x40, 0x48))))
    return bytes(rng.choice(alphabet) for _ in range(16))


@needs_cpu
def test_string_compare_every_mode(oracle):
    """All 256 imm8 values (bit 7 is ignored) for each of the four, in both
    modes, register and memory (unaligned) forms."""
    rng = random.Random(42)
    items = []
    for name, op in STRING_OPS.items():
        for imm in range(256):
            mode = rng.choice((32, 64))
            items.append(string_case(mode, op, imm, string_operand(rng), string_operand(rng),
                                     rng.randrange(-18, 18), rng.randrange(-18, 18), rng.randrange(2),
                                     rexw=mode == 64 and rng.randrange(4) == 0))
    bad = check_cases(oracle, items)
    assert not bad, f"{len(bad)} of {len(items)} cases differ:\n" + "\n".join(bad[:5])


try:
    from hypothesis import given, settings, strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    alphabet = st.sampled_from((0, 0x41, 0x42, 0x43, 0x80, 0xFF, 0x61))

    @needs_cpu
    @settings(max_examples=150, deadline=None)
    @given(name=st.sampled_from(sorted(STRING_OPS)), imm=st.integers(0, 255),
           a=st.binary(min_size=16, max_size=16) | st.lists(alphabet, min_size=16, max_size=16).map(bytes),
           b=st.lists(alphabet, min_size=16, max_size=16).map(bytes),
           eax=st.integers(-(1 << 63), (1 << 63) - 1) | st.integers(-20, 20),
           edx=st.integers(-(1 << 63), (1 << 63) - 1) | st.integers(-20, 20),
           mode=st.sampled_from((32, 64)), mem=st.booleans(), rexw=st.booleans())
    def test_string_compare_hypothesis(oracle, name, imm, a, b, eax, edx, mode, mem, rexw):
        item = string_case(mode, STRING_OPS[name], imm, a, b, eax, edx, mem, rexw=rexw and mode == 64)
        bad = check_cases(oracle, [item])
        assert not bad, bad[0]


# --- CRC32: known values ----------------------------------------------------------------

def test_crc32c_check_value():
    """CRC-32C of "123456789" is 0xE3069283 (the standard check value); the
    instruction computes the raw register update (no final inversion), so
    start at ~0 and invert at the end, as software does."""
    code = b""
    for k in range(9):               # crc32 eax, byte [rbx + k]
        code += b"\xf2\x0f\x38\xf0" + modrm(1, 0, 3) + bytes([k])
    from helpers import run_code, DATA
    m, ex = run_code(code, mode=64, regs={"rax": 0xFFFFFFFF, "rbx": DATA}, data=b"123456789")
    assert ex.reason == "hlt", ex
    assert m.reg_read("rax") ^ 0xFFFFFFFF == 0xE3069283


# --- mandatory prefixes: the ones no row claims are #UD ----------------------------------

@needs_cpu
def test_other_prefixes_match_host(oracle):
    """Every opcode of these rows, register and memory form, with each of
    none, 66, F3, F2 (and 66 with F2/F3, where the last of F2/F3 selects) and
    LOCK: the host decides which decode and which are #UD."""
    rng = random.Random(7)
    seen = set()
    items = []
    for r in ROWS:
        key = (r.map, r.op, r.modrm if isinstance(r.modrm, int) else None)
        if key in seen:
            continue
        seen.add(key)
        esc = (b"", b"\x0f", b"\x0f\x38", b"\x0f\x3a")[r.map]
        reg = r.modrm if isinstance(r.modrm, int) else 1
        imm = b"\x05" if r.imm == "ib" else b""
        tails = [esc + bytes([r.op]) + imm] if r.modrm is None else \
            [esc + bytes([r.op]) + modrm(mod, reg, 2 if mod == 3 else 3) + imm for mod in (3, 0)]
        for tail in tails:
            for prefix in (b"", b"\x66", b"\xf3", b"\xf2", b"\x66\xf3", b"\xf2\x66", b"\xf3\xf2",
                           b"\xf2\xf3", b"\xf0", b"\xf0\x66"):
                for mode in (32, 64):
                    items.append((make_case(mode, prefix + tail, rng), prefix + tail))
    bad = check_cases(oracle, items)
    assert not bad, f"{len(bad)} of {len(items)} cases differ:\n" + "\n".join(bad[:5])


# --- the checks before a SIMD instruction (CR0.EM, CR0.TS, CR4.OSFXSR) ------------------

@pytest.mark.parametrize("code, mmx", [(b"\x0f\xfc\xc1", True), (b"\x66\x0f\xfc\xc1", False),
                                       (b"\x66\x0f\x38\x00\xc1", False), (b"\x0f\x38\x00\xc1", True),
                                       (b"\xf2\x0f\x38\xf0\xc1", None)])
def test_control_register_checks(code, mmx):
    """CR0.EM: #UD for MMX and SSE; CR0.TS: #NM; CR4.OSFXSR clear: #UD for
    SSE forms only (MMX does not need it).  CRC32 is a general-purpose
    instruction: none of these apply."""
    from helpers import run_code
    for cr0_set, cr4_clear, want in ((0x4, 0, 6), (0x8, 0, 7), (0, 0x200, None if mmx else 6)):
        def setup(m):
            m.write_cr(0, m.read_cr(0) | cr0_set)
            m.write_cr(4, (m.read_cr(4) | 0x600) & ~cr4_clear)
        m, ex = run_code(b"", mode=64)
        setup(m)
        m.mem_write(0x1000, code + b"\xf4")
        ex = m.run(start=0x1000, count=10)
        if mmx is None:
            want = None
        got = ex.vector if ex.reason == "exception" else None
        assert got == want, (code.hex(), cr0_set, cr4_clear, ex)


# --- MMX and the x87 state: TOP = 0 and every tag valid; EMMS empties them ---------------

MMX_STATE_CODES = {
    "paddb mm1, mm2": "0ffcca",
    "movd mm0, eax": "0f6ec0",
    "movd eax, mm3 (reads only)": "0f7ed8",
    "pextrw eax, mm1, 2 (reads only)": "0fc5c102",
    "pmovmskb eax, mm5 (reads only)": "0fd7c5",
    "emms": "0f77",
    "paddb mm1, mm2; emms": "0ffcca0f77",
    "movq2dq xmm1, mm2": "f30fd6ca",
    "movdq2q mm7, xmm3": "f20fd6fb",
    "paddb xmm1, xmm2 (no MMX transition)": "660ffcca",
    "maskmovq mm1, mm2 [rdi]": "0ff7ca",
    # a fault on the memory operand leaves the x87 state alone
    "paddb mm0, [0xf0000000] (faults)": "0ffc0425000000f0",
    "movq [0xf0000000], mm1 (faults)": "0f7f0c25000000f0",
    "movd mm1, [0xf0000000] (faults)": "0f6e0c25000000f0",
    "pinsrw mm1, [0xf0000000], 1 (faults)": "0fc40c25000000f001",
    # ... but MASKMOVQ enters MMX mode even when its store faults
    "maskmovq mm1, mm2 at [0xf0000000] (faults)": "bf000000f00ff7ca",
    "maskmovq with an all-zero mask at [0xf0000000] (faults)": "0fefd2bf000000f00ff7ca",
    "maskmovdqu with an all-zero mask at [0xf0000000] (faults)": "660fefd2bf000000f0660ff7ca",
}


@needs_cpu
@pytest.mark.parametrize("name", sorted(MMX_STATE_CODES))
def test_mmx_x87_state(oracle, name):
    """The whole FXSAVE image (FSW with TOP, the tags, ST0-7 with the all-ones
    exponent an MMX write leaves, XMM) after an MMX instruction, from an x87
    state with TOP = 5 and some registers empty, matches the host."""
    from emu.fuzz.fpstate import fpu_diffs, make_image
    from emu.fuzz.emu_oracle import run_emu
    rng = random.Random(name)
    code = bytes.fromhex(MMX_STATE_CODES[name])
    items = []
    for mode in (32, 64):
        for top, ftw in ((5, 0x3C), (0, 0xFF), (3, 0x00)):
            st = [(rng.getrandbits(64), rng.choice((0x3FFF, 0xC001, 0x7FFF))) for _ in range(8)]
            img = make_image(fsw=top << 11, ftw=ftw, st=st, xmm=[rng.getrandbits(128) for _ in range(16)])
            case = make_case(mode, b"", rng)
            case.code = code
            case.fpu = img
            items.append(case)
    for case, want in zip(items, oracle.run_many(items)):
        got = run_emu(case, digest=False)
        assert want.oracle_error is None, want.oracle_error
        assert got.vector == want.vector
        assert got.data == want.data
        assert fpu_diffs(case.mode, got.fpu, want.fpu, ("emu", "host")) == [], case


# --- a gcc-built program: vectorized loops and intrinsics, native vs pvemu ---------------

def _gcc(*args):
    import subprocess
    return subprocess.run(["gcc", *map(str, args)], capture_output=True, text=True)


def _has_fp_moves():
    """gcc moves vectors with MOVAPS/MOVUPS too: rows of simd_fp.py."""
    from emu.isa.table import rows
    return {(r.prefix, r.op) for r in rows() if r.map == 1} >= {("NP", 0x28), ("NP", 0x29), ("NP", 0x10), ("NP", 0x11)}


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="needs an x86-64 host")
@pytest.mark.skipif(not _has_fp_moves(), reason="needs MOVAPS/MOVUPS (the SSE floating-point rows)")
def test_gcc_program_matches_native(tmp_path):
    """tests/simd_int_prog.c built with gcc -O3 -msse4.2: the native run's
    printed results equal what the same code leaves in memory on pvemu."""
    import subprocess
    from emu import Machine
    from emu.loader import load_elf
    src = Path(__file__).with_name("simd_int_prog.c")
    native, elf = tmp_path / "native", tmp_path / "prog.elf"
    r = _gcc("-O3", "-msse4.2", "-DNATIVE", "-o", native, src)
    if r.returncode:
        pytest.skip(f"gcc cannot build the program: {r.stderr[:200]}")
    want = [int(x, 16) for x in subprocess.run([native], capture_output=True, text=True,
                                               check=True).stdout.split()]
    r = _gcc("-O3", "-msse4.2", "-ffreestanding", "-fno-pic", "-no-pie", "-fno-stack-protector",
             "-nostdlib", "-static", "-Wl,-Ttext=0x100000", "-Wl,-e,_start", "-Wl,--build-id=none",
             "-o", elf, src)
    assert r.returncode == 0, r.stderr
    img = load_elf(elf.read_bytes(), 16 << 20)
    m = Machine(mode=64, memory=16 << 20)
    for addr, data in img.segments:
        m.mem_write(addr, data)
    m.reg_write("rsp", 0xF00000 - 8)         # as after a call: rsp + 8 is 16-byte aligned
    ex = m.run(start=img.entry, count=10_000_000)
    assert ex.reason == "hlt", ex
    nm = subprocess.run(["nm", elf], capture_output=True, text=True, check=True).stdout
    result = next(int(line.split()[0], 16) for line in nm.splitlines() if line.endswith(" result"))
    got = list(struct.unpack("<6Q", bytes(m.mem_read(result, 48))))
    assert got == want
