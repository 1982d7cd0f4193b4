"""The opcode table (emu/isa) is the single source of the decoders: the
core's decoder (generated decode tree, emu._core.decode_info) and the fuzz
decoders (emu.fuzz.insn.decode, the host oracle's length scan) agree on the
length and the validity of every row's encodings in 16-, 32- and 64-bit
mode and of random byte strings; malformed rows are refused by name."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emu.fuzz import host, insn
from emu.isa import decoder, features, layout
from emu.isa.table import RowError, parse, rows

core = pytest.importorskip("emu._core")

PREFIX_BYTES = {"NP": b"", "66": b"\x66", "F3": b"\xf3", "F2": b"\xf2"}
ESCAPES = (b"", b"\x0f", b"\x0f\x38", b"\x0f\x3a")
PAD = bytes(range(0x11, 0x21))          # after the instruction: never all zeros


def _modrm_choices(path, mode):
    """ModRM bytes (with SIB/displacement) that reach the leaf at `path`."""
    sel = dict(path)
    reg = sel.get("reg", 0)
    if sel.get("mod") == 1 or "rm" in sel:
        return [bytes([0xC0 | reg << 3 | sel.get("rm", 1)])]
    mems = [bytes([reg << 3 | 0]), bytes([0x80 | reg << 3 | 1]) + b"\x44\x33\x22\x11",
            bytes([0x40 | reg << 3 | 2]) + b"\x7f"]
    if mode != 16:
        mems.append(bytes([0x04 | reg << 3, 0x25]) + b"\x00\x10\x00\x00")   # SIB, disp32
    regs = [bytes([0xC0 | reg << 3 | 3])]
    if sel.get("mod") == 0:
        return mems
    return mems + regs


def _encodings():
    """(mode, bytes, leaf) for every leaf of every opcode that has rows."""
    trees = decoder.trees()
    for (map_, op) in sorted(decoder.by_opcode(rows())):
        for path, leaf in decoder.iter_leaves(trees[(map_, op)]):
            sel = dict(path)
            modes = [64] if sel.get("mode") == 1 or sel.get("w") == 1 else \
                [16, 32] if sel.get("mode") == 0 else [16, 32, 64]
            slot = decoder.PREFIX_SLOTS[sel["prefix"]] if "prefix" in sel else "NP"
            for mode in modes:
                if mode == 64 and map_ == 0 and 0x40 <= op <= 0x4F:
                    continue                    # REX prefixes in 64-bit mode
                rex = b"\x48" if sel.get("w") == 1 else b""
                head = PREFIX_BYTES[slot] + rex + ESCAPES[map_] + bytes([op])
                if leaf.has_modrm:
                    for m in _modrm_choices(path, mode):
                        if map_ == 0 and (op in (0x62, 0xC4, 0xC5) and (mode == 64 or m[0] >= 0xC0)
                                          or op == 0x8F and m[0] & 0x38):
                            continue            # EVEX/VEX/XOP escapes: not legacy instructions
                        yield mode, head + m, leaf
                else:
                    yield mode, head, leaf


ENCODINGS = list(_encodings())


def _fuzz_views(mode, code):
    """(length, valid) from insn.decode and the host scan's length (or None)."""
    d = insn.decode(code, 0, mode)
    hlen = None
    if mode != 16:
        h = host._decode(code, 0, mode == 64)
        if h is not None and h != host._TOO_LONG and not h.vex:
            hlen = h.length
    return d, hlen


def _agree(mode, code):
    n, handler = core.decode_info(mode, code)
    d, hlen = _fuzz_views(mode, code)
    if d is None or handler == "h_gp0":
        return None                     # VEX/XOP, no length, or longer than 15
    assert n == d.length, f"{code.hex()} mode {mode}: core length {n}, insn.py {d.length}"
    if hlen is not None and handler != "h_ud":   # an invalid encoding has no length to agree on
        assert hlen == n, f"{code.hex()} mode {mode}: core length {n}, host scan {hlen}"
    assert (handler not in ("h_ud", "h_gp0")) == d.valid, (
        f"{code.hex()} mode {mode}: core {handler}, insn.py valid={d.valid}")
    return n, handler, d


def test_every_row_is_decoded_alike():
    assert len(ENCODINGS) > 1000
    checked = 0
    for mode, enc, leaf in ENCODINGS:
        got = _agree(mode, enc + PAD)
        assert got is not None, f"{enc.hex()} mode {mode}: the fuzz decoder refuses a row"
        n, handler, d = got
        if d.valid:
            assert handler == leaf.handler or (handler == "h_nop" and leaf.handler == "h_xchg_ax"), (
                f"{enc.hex()} mode {mode}: core runs {handler}, the table says {leaf.handler}")
        checked += 1
    assert checked == len(ENCODINGS)


def test_lock_only_where_the_table_allows_it():
    for mode, enc, leaf in ENCODINGS[::3]:
        _, handler, d = _agree(mode, b"\xf0" + enc + PAD)
        if d.valid:
            assert "lock" in leaf.flags and d.is_mem


@pytest.mark.parametrize("code, mode, length, handler", [
    ("0f2000", 32, 3, "h_mov_cr"),               # MOV r, CR0 with mod != 3: no displacement
    ("0f228000000000", 32, 3, "h_mov_cr"),
    ("f30f38f008", 64, 5, "h_ud"),               # MOVBE with F3: #UD (as the CPU and Unicorn)
    ("660f38f108", 64, 5, "h_movbe"),
    ("f30fbcc0", 64, 4, "h_tzcnt"),
    ("f20fbcc0", 64, 4, "h_bsf"),                # F2 is no mandatory prefix of BSF
    ("f30fbdc0", 64, 4, "h_lzcnt"),
    ("f3f20fbdc0", 64, 5, "h_bsr"),              # the last of F2/F3 selects
    ("0fb8c0", 64, 3, "h_ud"),                   # JMPE: no row
    ("66f30fb8c0", 32, 5, "h_popcnt"),
    ("0f3a0fc001", 64, 5, "h_palignr_mm"),       # 0F 3A: ModRM + imm8
    ("63c0", 32, 2, "h_movsxd_arpl"),
    ("48b80100000000000000", 64, 10, "h_mov_EI"),
])
def test_known_disagreements_are_fixed(code, mode, length, handler):
    raw = bytes.fromhex(code)
    assert core.decode_info(mode, raw + PAD) == (length, handler)
    assert insn.decode(raw + PAD, 0, mode).length == length


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from((16, 32, 64)),
       prefixes=st.lists(st.sampled_from((0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x64, 0x48, 0x41)),
                         max_size=3),
       body=st.binary(min_size=1, max_size=14))
def test_random_bytes_are_decoded_alike(mode, prefixes, body):
    _agree(mode, bytes(prefixes) + body + PAD)


def test_rows_agree_with_the_layout_and_features():
    for r in rows():
        assert r.feature in features.FEATURES
        for map_, op in r.opcodes:
            assert layout.shape(map_, op, r.modrm_reg)[0] == r.has_modrm
    used = {r.feature for r in rows()}
    assert features.IMPLEMENTED - features.MACHINE - {"BASE"} <= used


@pytest.mark.parametrize("leaf", (1, features.EXT))
def test_cpuid_reports_the_implemented_features(leaf):
    from emu import Machine
    m = Machine(mode=32, memory=1 << 16)
    m.mem_write(0x1000, b"\xb8" + leaf.to_bytes(4, "little") + b"\x0f\xa2\xf4")  # CPUID; HLT
    m.run(start=0x1000)
    ecx, edx = m.reg_read("ecx"), m.reg_read("edx")
    if leaf == 1:
        ecx &= ~(1 << 27)       # OSXSAVE is CR4.OSXSAVE (on in a flat machine), not a table feature
    bits = features.cpuid_bits()
    assert ecx == bits.get((leaf, 0, "ecx"), 0) and edx == bits.get((leaf, 0, "edx"), 0)
    if leaf == 1:
        assert ecx & (1 << 23) and ecx & (1 << 22)      # POPCNT, MOVBE
    else:
        assert ecx & (1 << 5) and edx & (1 << 29)       # LZCNT, LM


# ---- malformed rows are refused with a message naming the row

@pytest.mark.parametrize("args, kwargs, message", [
    (("0F 58 /r", "X", "h_x"), {"flags": "b bogus"}, "unknown flag(s) bogus"),
    (("0F 58 /r", "X", "h_x"), {"feature": "SSE9"}, "unknown feature 'SSE9'"),
    (("0F 58 /9", "X", "h_x"), {}, "unknown immediate"),
    (("0F 38", "X", "h_x"), {}, "escape"),
    (("B9+r", "X", "h_x"), {}, "low three bits"),
    (("90", "X", "h_x"), {"flags": "mem"}, "need a ModRM byte"),
    (("0F 58 /r", "X"), {}, "no handler"),
    (("0F 58 /r", "X", "h_x"), {"mem": "h_y"}, "not both"),
    (("0F 58 /r", "X", "x_handler"), {}, "not a Cython handler name"),
    (("0F 58 /r", "X", "h_x"), {"defined": "ZQ"}, "letters of OSZAPC"),
    (("0F 58 /r", "X", "h_x"), {"defined": "Z", "undefined": "Z"}, "both defined and undefined"),
    (("0F 58 /r", "X", "h_x"), {"sub": 300}, "sub must be"),
    (("D9 12", "X", "h_x"), {}, "register form"),
    (("66", "X", "h_x"), {}, "no opcode byte"),
    (("0F 58 /r zz", "X", "h_x"), {}, "unknown immediate"),
])
def test_malformed_rows_are_refused(args, kwargs, message):
    with pytest.raises(RowError) as e:
        parse(*args, where="mine.py:7", **kwargs)
    assert message in str(e.value) and f"mine.py:7: row {args[0]!r}" in str(e.value)


def test_conflicting_rows_are_refused():
    a = parse("0F BC /r", "BSF", "h_bsf", where="a.py:1")
    b = parse("0F BC /r", "OTHER", "h_other", where="b.py:2")
    with pytest.raises(RowError, match=r"a.py:1.*conflicts with b.py:2|b.py:2.*conflicts with a.py:1"):
        decoder.build_trees([a, b])
    c = parse("F3 0F BC /r", "TZCNT", "h_tzcnt", where="c.py:3")
    decoder.build_trees([a, c])                          # a prefixed row refines: no conflict


def test_rows_must_fit_the_opcode_layout():
    with pytest.raises(RowError, match="layout"):
        decoder.build_trees([parse("0F 70 /r", "PSHUFW without its imm8", "h_x", where="x.py:1")])
    with pytest.raises(RowError, match="layout"):
        decoder.build_trees([parse("C3 ib", "RET with an immediate", "h_x", where="x.py:2")])


def test_x87_and_sse_shapes_select_the_right_row():
    """The forms the x87 and SIMD row files use: memory /digit plus register
    C0+i and exact ModRM bytes; mandatory prefixes with an unprefixed row;
    REX.W rows; 0F 3A with an imm8."""
    extra = [parse(*a, where=f"extra.py:{n}", **kw) for n, (a, kw) in enumerate([
        (("D9 /0", "FLD m32fp", "h_fld"), {"flags": "mem", "feature": "X87"}),
        (("D9 C0+i", "FLD ST(i)", "h_fld_st"), {"feature": "X87"}),
        (("D9 C8+i", "FXCH ST(i)", "h_fxch"), {"feature": "X87"}),
        (("D9 E8", "FLD1", "h_fld1"), {"feature": "X87"}),
        (("NP 0F 58 /r", "ADDPS xmm1, xmm2/m128", "h_addps"), {"feature": "SSE"}),
        (("66 0F 58 /r", "ADDPD xmm1, xmm2/m128", "h_addpd"), {"feature": "SSE2"}),
        (("F3 0F 58 /r", "ADDSS xmm1, xmm2/m32", "h_addss"), {"feature": "SSE"}),
        (("66 0F 3A 16 /r ib", "PEXTRD r/m32, xmm2, imm8", "h_pextrd"), {"feature": "SSE4_1"}),
        (("66 REX.W 0F 3A 16 /r ib", "PEXTRQ r/m64, xmm2, imm8", "h_pextrq"), {"feature": "SSE4_1"}),
        (("F2 0F 38 F0 /r", "CRC32 r32, r/m8", "h_crc32"), {"flags": "b", "feature": "SSE4_2"}),
        (("0F AE /7", "CLFLUSH m8", "h_clflush"), {"flags": "mem", "feature": "CLFLUSH"}),
        (("66 0F AE /7", "CLFLUSHOPT m8", "h_clflushopt"), {"flags": "mem", "feature": "CLFLUSHOPT"}),
        (("NP 0F AE F8", "SFENCE", "h_nop"), {"feature": "SSE"}),
    ])]
    # (the real x87 and SIMD rows are left out: the extra ones stand in for them)
    trees = decoder.build_trees([r for r in rows() if not r.where.startswith(("x87.py", "simd_"))]
                                + extra)

    def pick(map_, op, prefixes=(), rex=0, modrm=None, mode=64):
        leaf = decoder.walk(trees[(map_, op)], mode, decoder.prefix_slot(prefixes), rex & 8, modrm)
        return leaf.handler

    assert pick(0, 0xD9, modrm=0x00) == "h_fld" and pick(0, 0xD9, modrm=0xC3) == "h_fld_st"
    assert pick(0, 0xD9, modrm=0xCB) == "h_fxch" and pick(0, 0xD9, modrm=0xE8) == "h_fld1"
    assert pick(0, 0xD9, modrm=0xE9) is None and pick(0, 0xD9, modrm=0x08) is None
    assert [pick(1, 0x58, p, modrm=0xC1) for p in ((), (0x66,), (0xF3,), (0xF2,), (0x66, 0xF3))] == \
        ["h_addps", "h_addpd", "h_addss", None, "h_addss"]
    assert pick(3, 0x16, (0x66,), modrm=0xC0) == "h_pextrd"
    assert pick(3, 0x16, (0x66,), rex=0x48, modrm=0xC0) == "h_pextrq"
    assert pick(2, 0xF0, (0xF2,), modrm=0x00) == "h_crc32" and pick(2, 0xF0, modrm=0x00) == "h_movbe"
    assert pick(2, 0xF0, (0xF3,), modrm=0x00) is None
    assert pick(1, 0xAE, modrm=0x38) == "h_clflush" and pick(1, 0xAE, (0x66,), modrm=0x38) == "h_clflushopt"
    assert pick(1, 0xAE, modrm=0xF8) == "h_nop" and pick(1, 0xAE, (0x66,), modrm=0xF8) is None
