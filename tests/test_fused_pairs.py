"""Superinstructions (gen_variants.py PAIRS): each fused register-form pair
must be indistinguishable from its two instructions run one after the other
(the core without the decode cache, one instruction a block, is the
reference), with random register values, in 32- and 64-bit mode, across
count/`until`/breakpoint cuts between the two, with the flags of either
half seen, and when a store rewrites the pair's second instruction."""
import random
import re

import pytest

from emu import Machine
from emu.gen_variants import PAIRS
from helpers import CODE, DATA, set_state

REGS32 = ["eax", "ecx", "edx", "ebx", "esi", "edi", "ebp"]
REGS64 = ["rax", "rcx", "rdx", "rbx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11",
          "r12", "r13", "r14", "r15"]
ARITH = 0x8D5       # CF PF AF ZF SF OF
BASE, INDEX = 6, 7  # memory operands: [rsi + disp32], [rsi + rdi + disp32]; rsi = DATA

# A variant's stem -> (opcode bytes, ModRM.reg (None: a register operand),
# immediate bytes).
FORMS = {"mov_EG": (b"\x89", None, 0), "mov_GE": (b"\x8b", None, 0), "movzx_1b6": (b"\x0f\xb6", None, 0),
         "xor_EG": (b"\x31", None, 0), "add_EG": (b"\x01", None, 0), "and_EG": (b"\x21", None, 0),
         "cmp_EG": (b"\x39", None, 0), "shl_c1": (b"\xc1", 4, 1), "shr_c1": (b"\xc1", 5, 1),
         "rol_c1": (b"\xc1", 0, 1), "ror_c1": (b"\xc1", 1, 1), "shr_d1": (b"\xd1", 5, 0),
         "not": (b"\xf7", 2, 0), "neg": (b"\xf7", 3, 0), "and_EI": (b"\x81", 4, 4),
         "add_EI": (b"\x81", 0, 4), "sub_EI": (b"\x81", 5, 4), "cmp_EI": (b"\x81", 7, 4),
         "or_EI": (b"\x81", 1, 4), "sbb_EG": (b"\x19", None, 0), "imul_GE": (b"\x0f\xaf", None, 0)}


def parse(variant):
    """v_cmp_EG_4r_j5 -> ('cmp_EG', 4, 'r', 5): stem, operand size, form
    (r: register; f, x, s, t: memory without and with an index), and the
    condition of a fused Jcc (or None)."""
    stem, osz, form, cc = re.fullmatch(r"v_(\w+?)_(\d)([rfxst])(?:_j(\d+))?(?:_nf)?", variant).groups()
    return stem, int(osz), form, None if cc is None else int(cc)


def encode(variant, dst, src, rng, mode):
    """The instruction(s) of `variant`: r/m = register dst (or memory at
    DATA), reg = src (or its /digit), a random immediate (a shift count of
    1-31); a fused Jcc's Jcc skips a NOT ECX (so taken or not shows)."""
    stem, osz, form, cc = parse(variant)
    opcode, digit, nimm = FORMS[stem]
    if osz == 1:
        opcode, nimm = bytes([opcode[0] - 1]), 1          # 80 /digit ib
    reg = src if digit is None else digit
    if form == "r":
        rm, tail = 0xC0 | (dst & 7), b""
    else:                                                 # mod 2: disp32
        disp = rng.randrange(0, 32).to_bytes(4, "little")
        rm, tail = (0x80 | BASE, disp) if form in "fs" else (0x84, bytes([INDEX << 3 | BASE]) + disp)
    rex = (0x48 if osz == 8 else 0x40) | ((reg >> 3) << 2) | ((dst >> 3) if form == "r" else 0)
    pre = bytes([rex]) if mode == 64 and rex != 0x40 else b""
    imm = rng.randrange(1, 32) if opcode == b"\xc1" else rng.getrandbits(32)
    code = pre + opcode + bytes([rm | (reg & 7) << 3]) + tail + imm.to_bytes(4, "little")[:nimm]
    return [code] if cc is None else [code, bytes([0x70 | cc, 2]), b"\xf7\xd1"]


def pairs_of(mode):
    """The pairs that exist in `mode` (64-bit operands and the K_MEMF/X forms
    only in 64-bit mode, the K_MEM32 forms only outside it)."""
    out = []
    for pair in PAIRS:
        forms = [parse(v) for v in pair]
        if mode == 64 and all(f[2] in "rfx" for f in forms):
            out.append(pair)
        elif mode == 32 and all(f[1] != 8 and f[2] in "rst" for f in forms):
            out.append(pair)
    return out


def random_state(rng, mode):
    bits = 64 if mode == 64 else 32
    special = [0, 1, (1 << bits) - 1, 1 << (bits - 1), (1 << 31) - 1, 0x80000000]
    values = {r: rng.choice(special) if rng.random() < 0.25 else rng.getrandbits(bits)
              for r in (REGS64 if mode == 64 else REGS32)}
    values.update({"rsi" if mode == 64 else "esi": DATA, "rdi" if mode == 64 else "edi": 8})
    return values


def program(pair, rng, mode, tail):
    """(code, addresses of its instructions and of the HLT) of the pair on
    random registers, followed by `tail` (b"": the flags are seen at the HLT,
    or an overwriter that makes dead flags dead), then HLT."""
    nregs = 16 if mode == 64 else 8
    regs = [r for r in range(nregs) if r not in (4, BASE, INDEX)]   # (not rsp, nor the address)
    a, b = rng.choice(regs), rng.choice(regs)
    if rng.random() < 0.5:
        b = a                                         # MOV r, x; OP r, y: the usual shape
    # (before a load, ADD/SUB r, r's flags are dead only with two registers:
    # gen_variants.py FIXABLE)
    src = rng.choice([r for r in regs if r != a] if parse(pair[1])[2] != "r" else regs)
    seq = (encode(pair[0], a, src, rng, mode) + encode(pair[1], b, rng.choice(regs), rng, mode)
           + ([tail] if tail else []))
    addrs = [CODE + sum(len(x) for x in seq[:k]) for k in range(len(seq) + 1)]
    return b"".join(seq) + b"\xf4", addrs


CMP = b"\x39\xd8"           # cmp eax, ebx: overwrites every flag, reads none


def tail_for(pair):
    """What makes flag liveness leave the pair's halves as PAIRS names them:
    nothing (the flags are seen at the HLT) when one records its flags, else
    a CMP (which makes the _nf halves' flags dead)."""
    def records(v):
        stem, _, _, cc = parse(v)
        return not v.endswith("_nf") and cc is None and stem not in ("mov_EG", "mov_GE", "movzx_1b6", "not")
    return b"" if any(records(v) for v in pair) else CMP


def machines(mode):
    return Machine(mode=mode, memory=0x10000), Machine(mode=mode, memory=0x10000, decode_cache=False)


def load(m, code, values):
    m.mem_write(CODE, code)
    set_regs(m, values)


def set_regs(m, values):
    """The registers and data of a fresh run (the code as it is: its blocks
    stay decoded)."""
    set_state(m, values, bytes(range(7, 7 + 64)))


def state(m, ex):
    names = REGS64 if m.mode == 64 else REGS32
    return (ex.reason, ex.instructions, tuple(m.reg_read(r) for r in names),
            m.reg_read("rip" if m.mode == 64 else "eip"), m.reg_read("eflags") & ARITH,
            m.mem_read(DATA, 64))


def fused_name(pair):
    return "p_%s__%s" % (pair[0][2:], pair[1][2:])


def whole_run_matches(live, plain, pair, rng, mode, tail):
    """Run a random program() of the pair to its HLT on both machines."""
    code, addrs = program(pair, rng, mode, tail)
    values = random_state(rng, mode)
    for m in (live, plain):
        load(m, code, values)
    want = state(plain, plain.run(start=CODE, count=100))
    assert want[0] == "hlt" and want[3] in (addrs[-1], addrs[-1] + 1)
    assert state(live, live.run(start=CODE, count=100)) == want, (pair, code.hex())


@pytest.mark.parametrize("mode", [32, 64])
def test_every_pair_is_fused_and_matches_the_two_instructions(mode):
    rng = random.Random(mode)
    live, plain = machines(mode)
    for pair in pairs_of(mode):
        for _ in range(8):
            whole_run_matches(live, plain, pair, rng, mode, tail_for(pair))
            # the pair ran as one handler
            assert live.decoded_handlers(CODE)[0] == fused_name(pair), pair


@pytest.mark.parametrize("mode", [32, 64])
def test_flags_after_the_pair_are_seen(mode):
    """No overwriter after the pair: its second's flags are live at the HLT
    (the pair then only fuses if its second records no flags anyway)."""
    rng = random.Random(100 + mode)
    live, plain = machines(mode)
    for pair in pairs_of(mode):
        for _ in range(4):
            whole_run_matches(live, plain, pair, rng, mode, b"")


@pytest.mark.parametrize("mode", [32, 64])
@pytest.mark.parametrize("stop", ["count", "until", "breakpoint"])
def test_a_cut_between_the_two_stops_exactly_there(mode, stop):
    """The block is decoded (and fused) by a whole run first; then a run cut
    at the pair's second instruction stops there with the first's flags, and
    a second run goes on from there as the two would."""
    rng = random.Random(200 + mode)
    live, plain = machines(mode)
    for pair in pairs_of(mode):
        code, addrs = program(pair, rng, mode, tail_for(pair))
        values = random_state(rng, mode)
        load(live, code, values)
        live.run(start=CODE, count=100)
        assert live.decoded_handlers(CODE)[0] == fused_name(pair)
        got = {}
        for m in (live, plain):
            if m is live:
                set_regs(m, values)          # (a store of the code would drop the fused block)
            else:
                load(m, code, values)
            if stop == "count":
                ex = m.run(start=CODE, count=1)
            elif stop == "until":
                ex = m.run(start=CODE, until=addrs[1])
            else:
                m.set_breakpoints([addrs[1]])
                ex = m.run(start=CODE, count=100)
                m.set_breakpoints([])
            first = state(m, ex)
            assert first[1] == 1 and first[3] == addrs[1], (pair, stop, first)
            got[m] = (first, state(m, m.run(count=100)))
        assert got[live] == got[plain], (pair, stop, code.hex())
        # and the block is fused again for the next whole run
        set_regs(live, values)
        live.run(start=CODE, count=100)
        assert live.decoded_handlers(CODE)[0] == fused_name(pair)


@pytest.mark.parametrize("mode", [32, 64])
def test_a_store_over_the_pairs_second_instruction(mode):
    """A byte store before the pair, in the same block, rewrites the second
    instruction's ModRM (other registers): the block that held the fused
    pair must not run the old second instruction."""
    rng = random.Random(300 + mode)
    live, plain = machines(mode)
    store_len = 8                           # mov byte [disp32], imm8 (SIB: absolute in both modes)
    for pair in pairs_of(mode):
        body, addrs = program(pair, rng, mode, tail_for(pair))
        second = addrs[1] - CODE            # the second instruction's offset in body
        op = second + (1 if mode == 64 and body[second] & 0xF0 == 0x40 else 0)     # (after a REX)
        modrm = op + (2 if body[op] == 0x0F else 1)
        new = body[modrm] ^ 0x09
        code = b"\xc6\x04\x25" + (CODE + store_len + modrm).to_bytes(4, "little") + bytes([new]) + body
        values = random_state(rng, mode)
        got = {}
        for m in (live, plain):
            load(m, code, values)
            m.run(start=CODE + store_len, count=100)     # decodes (and fuses) the pair's block
            set_regs(m, values)
            got[m] = state(m, m.run(start=CODE, count=100))   # the store, then the pair
            assert m.mem_read(CODE + store_len + modrm, 1)[0] == new
        assert got[live] == got[plain], (pair, code.hex())


@pytest.mark.parametrize("mode", [32, 64])
def test_a_fault_in_the_pairs_second_stops_after_the_first(mode):
    """A memory second that faults (its address outside RAM) ends the run at
    the second instruction, the first retired, as unfused (a load first,
    through the same address register, faults itself first)."""
    rng = random.Random(400 + mode)
    live, plain = machines(mode)
    for pair in [p for p in pairs_of(mode) if parse(p[1])[2] != "r"]:
        code, addrs = program(pair, rng, mode, tail_for(pair))
        values = dict(random_state(rng, mode), **{"rsi" if mode == 64 else "esi": 0x7FFF0000})
        load(live, code, random_state(rng, mode))
        live.run(start=CODE, count=100)                  # decodes (and fuses) the pair's block
        assert live.decoded_handlers(CODE)[0] == fused_name(pair)
        got = {}
        for m in (live, plain):
            load(m, code, values)
            ex = m.run(start=CODE, count=100)
            got[m] = (state(m, ex), ex.address)
        assert got[plain][0][0] != "hlt" and got[plain][1] == addrs[parse(pair[0])[2] == "r"]
        assert got[live] == got[plain], (pair, code.hex())
