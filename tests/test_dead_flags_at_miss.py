"""Flags dead but where a memory operand misses (gen_variants.py FIXABLE,
OVERMEM, LOADMEM): a register ADD SUB AND OR XOR right before a memory CMP
or ALU instruction, which overwrites every flag, or before a load that an
overwriter follows, records no flags; when that
memory operand is not a TLB hit and faults or exits, the flags the writer
would have recorded must be there: in the state of the exit and in the
EFLAGS image a delivered #PF pushes, as in the core without the decode
cache (one instruction a block, where nothing is dead)."""
import random
import struct

import pytest

from emu import Machine
from helpers import CODE, DATA, STACK

ARITH = 0x8D5
ESI, EDI = 6, 7                  # the memory operands' base and index
REGS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
OPS = {"add": 0, "or": 1, "and": 4, "sub": 5, "xor": 6}
NOT_PRESENT = 0x9000             # a page left out of the page tables below


def rex(mode, w, reg=0, rm=0):
    if mode != 64:
        return b""
    b = 0x40 | (8 if w else 0) | ((reg >> 3) << 2) | (rm >> 3)
    return bytes([b]) if b != 0x40 else b""


def writer(rng, mode):
    """A random register-form flag writer (ADD OR AND SUB XOR: r/m, imm;
    r/m, reg; reg, r/m; byte, dword or qword), its destination never ESP;
    returns (code, whether flag liveness can drop its flags)."""
    nregs = 16 if mode == 64 else 8
    regs = [r for r in range(nregs) if r != 4 and (r < 8 or mode == 64)]
    if rng.random() < 0.75:
        regs = [r for r in regs if r not in (ESI, EDI)]      # (mostly keep the address)
    op = rng.choice(list(OPS))
    osz = rng.choice((4, 8) if mode == 64 else (4,)) if rng.random() < 0.85 else 1
    dst, src = rng.choice(regs), rng.choice(regs)
    if osz == 1:                            # byte registers: no REX, AL..BL
        dst, src = dst & 3, src & 3
    form = rng.choice(("EI", "EG", "GE"))
    w = osz == 8
    if form == "EI":
        if osz == 1:
            code = rex(mode, w, 0, dst) + bytes([0x80, 0xC0 | OPS[op] << 3 | (dst & 7), rng.getrandbits(8)])
        elif rng.random() < 0.5:
            code = rex(mode, w, 0, dst) + bytes([0x83, 0xC0 | OPS[op] << 3 | (dst & 7), rng.getrandbits(8)])
        else:
            code = (rex(mode, w, 0, dst) + bytes([0x81, 0xC0 | OPS[op] << 3 | (dst & 7)])
                    + struct.pack("<I", rng.getrandbits(32)))
        same = False
    else:
        if rng.random() < 0.2:
            src = dst                        # add eax, eax: not fixable for ADD and SUB
        opcode = OPS[op] * 8 + (0 if osz == 1 else 1) + (2 if form == "GE" else 0)
        reg, rm = (src, dst) if form == "EG" else (dst, src)
        code = rex(mode, w, reg, rm) + bytes([opcode, 0xC0 | (reg & 7) << 3 | (rm & 7)])
        same = src == dst
    # (the byte forms of ADD OR XOR have no variant, so no dead twin)
    fixable = not (same and op in ("add", "sub")) and (osz != 1 or op in ("and", "sub"))
    return code, fixable


def reader(rng, mode):
    """(code, it overwrites the flags): a memory instruction that overwrites
    every flag unless it faults: CMP / ALU on [esi], [esi + disp8], [esi +
    edi] in its forms, and the CMP + JNE of a string loop (the Jcc skips a
    NOT ECX); or a load (MOV, MOVZX, MOVSX) and then a register CMP, XOR,
    ADD or SUB, which do too; or a load alone, which does not."""
    w = mode == 64 and rng.random() < 0.5
    reg = rng.choice((0, 1, 2, 3, 5))
    jne = b"\x75\x02\xf7\xd1"
    if rng.random() < 0.4:
        load = rng.choice([
            rex(mode, False, reg) + bytes([0x0F, 0xB6, 0x04 | reg << 3, 0x3E]),   # movzx reg, byte [esi + edi]
            rex(mode, w, reg) + bytes([0x8B, 0x46 | reg << 3, 0x08]),             # mov reg, [esi + 8]
            rex(mode, False, reg) + bytes([0x0F, 0xBE, 0x06 | reg << 3]),         # movsx reg, byte [esi]
            rex(mode, False, reg) + bytes([0x8A, 0x06 | reg << 3]),               # mov reg8, [esi]
        ])
        if rng.random() < 0.2:
            return load, False
        return load + rex(mode, w) + rng.choice((b"\x39\xda", b"\x31\xc8", b"\x01\xd1", b"\x29\xd8")), True
    return rng.choice([
        rex(mode, False) + b"\x80\x3c\x3e\x00" + jne,                    # cmp byte [esi + edi], 0; jne
        b"\x80\x3c\x3e" + bytes([rng.getrandbits(8)]),                   # cmp byte [esi + edi], imm8
        rex(mode, w) + b"\x81\x7e\x08" + struct.pack("<I", rng.getrandbits(32)),   # cmp [esi + 8], imm32
        rex(mode, w) + b"\x83\x3e" + bytes([rng.getrandbits(8)]) + jne,  # cmp [esi], imm8; jne
        rex(mode, w, reg) + bytes([0x3B, 0x04 | reg << 3, 0x3E]) + jne,  # cmp reg, [esi + edi]; jne
        rex(mode, w, reg) + bytes([0x39, 0x06 | reg << 3]),              # cmp [esi], reg
        rex(mode, w, reg) + bytes([0x03, 0x04 | reg << 3, 0x3E]),        # add reg, [esi + edi]
        rex(mode, w, reg) + bytes([0x31, 0x46 | reg << 3, 0x04]),        # xor [esi + 4], reg
        rex(mode, w) + b"\x83\x2e" + bytes([rng.getrandbits(8)]),        # sub [esi], imm8
        rex(mode, w, reg) + bytes([0x23, 0x06 | reg << 3]),              # and reg, [esi]
    ]), True


def program(rng, mode):
    """(code, the writer alone, the writer fixable): a writer, a reader, HLT."""
    code, fixable = writer(rng, mode)
    second, kills = reader(rng, mode)
    return code + second + b"\xf4", code, fixable and kills


def live_handler(m, code):
    """The handler the writer `code` has where its flags are seen (before a HLT)."""
    m.mem_write(CODE, code + b"\xf4")
    m.run(start=CODE, count=2)
    return m.decoded_handlers(CODE)[0]


def random_regs(rng, mode, base):
    bits = 64 if mode == 64 else 32
    special = [0, 1, (1 << bits) - 1, 1 << (bits - 1), 0x7F, 0x80, 0xFF]
    values = {k: rng.choice(special) if rng.random() < 0.3 else rng.getrandbits(bits)
              for k in range(16 if mode == 64 else 8) if k != 4}
    values[ESI], values[EDI] = base, rng.randrange(0, 16)
    return values


def set_regs(m, values):
    for k, v in values.items():
        m.reg_write(("r%d" % k) if k >= 8 else ("r" + REGS[k][1:] if m.mode == 64 else REGS[k]), v)
    m.reg_write("eflags", 0x2)


def state(m, ex):
    names = ["r%d" % k if k >= 8 else ("r" + REGS[k][1:] if m.mode == 64 else REGS[k])
             for k in range(16 if m.mode == 64 else 8)]
    return (ex.reason, ex.instructions, getattr(ex, "vector", None), tuple(m.reg_read(r) for r in names),
            m.reg_read("eflags") & ARITH, bytes(m.mem_read(DATA, 32)))


def page_tables(m, mode):
    """Identity paging of the first MiB but NOT_PRESENT (32-bit: two-level
    paging; 64-bit: four levels at 0x20000..0x23FFF)."""
    top = 0x20000
    ptes = [(k << 12) | 3 if k << 12 != NOT_PRESENT else 0 for k in range(256)]
    if mode == 64:
        for level in range(3):
            m.mem_write(top + 0x1000 * level, struct.pack("<Q", top + 0x1000 * (level + 1) | 3))
        m.mem_write(top + 0x3000, struct.pack("<256Q", *ptes))
        m.write_cr(3, top)
        m.write_cr(4, m.read_cr(4) | 0x20)
        return
    m.mem_write(top, struct.pack("<I", top + 0x1000 | 3))
    m.mem_write(top + 0x1000, struct.pack("<256I", *ptes))
    m.write_cr(3, top)
    m.write_cr(0, m.read_cr(0) | 0x80000000)


def machines(mode, paged=False):
    out = (Machine(mode=mode, memory=1 << 20), Machine(mode=mode, memory=1 << 20, decode_cache=False))
    if paged:
        for m in out:
            page_tables(m, mode)
    return out


def run_both(live, plain, code, values, data):
    got = []
    for m in (live, plain):
        m.mem_write(CODE, code)
        m.mem_write(DATA, data)
        set_regs(m, values)
        got.append(state(m, m.run(start=CODE, count=100)))
    assert got[0] == got[1], (code.hex(), values)
    return got[0]


@pytest.mark.parametrize("mode", [32, 64])
@pytest.mark.parametrize("where", ["ram", "unmapped", "not-present"])
def test_the_writers_flags_are_seen_where_the_reader_faults(mode, where):
    """The writer runs without its flags (its dead variant) when fixable, and
    every run, with the reader's operand in RAM (a TLB miss the first time,
    then hits), outside RAM (an exit) or on a not-present page (a #PF with
    no IDT: an exception exit), ends in the same state as unfused."""
    rng = random.Random(mode * 10 + len(where))
    live, plain = machines(mode, paged=where == "not-present")
    probe = Machine(mode=mode, memory=1 << 20)
    base = {"ram": DATA, "unmapped": 0x7FFF0000 if mode == 32 else 0x7FFFFFF0000, "not-present": NOT_PRESENT}[where]
    dropped = 0
    for _ in range(300):
        code, first, fixable = program(rng, mode)
        values = random_regs(rng, mode, base)
        data = bytes(rng.getrandbits(8) for _ in range(32))
        got = run_both(live, plain, code, values, data)
        if where != "ram" and got[3][ESI] == base and got[3][EDI] == values[EDI]:
            assert got[0] != "hlt" and got[1] == 1        # the reader faulted, the writer retired
        got = run_both(live, plain, code, values, data)  # the block decoded: the same again
        name = live.decoded_handlers(CODE)[0]
        if str(name).startswith("p_"):          # fused with the load (PAIRS): the first's half says
            dead = name.split("__")[0].endswith("_nf")
        else:
            dead = name != live_handler(probe, first)
        assert dead == fixable, code.hex()
        dropped += dead
    assert dropped > 120


def with_pf_handler(m, handler):
    """A flat GDT and an interrupt gate for #PF to `handler` (32-bit)."""
    gdt, idt = 0x2000, 0x3000
    m.mem_write(gdt, struct.pack("<3Q", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF))
    m.load_table("gdt", gdt, 23)
    m.reg_write("cs", 0x08)
    m.reg_write("ss", 0x10)
    m.mem_write(idt + 8 * 14, struct.pack("<Q", (handler & 0xFFFF) | 0x08 << 16 | 0x8E00 << 32
                                          | (handler >> 16) << 48))
    m.load_table("idt", idt, 8 * 256 - 1)


def test_a_delivered_page_fault_pushes_the_writers_flags():
    """add ebp, 1; cmp byte [esi + edi], 0; jne (a string loop) with [esi +
    edi] on a not-present page: the #PF handler (HLT) finds the EFLAGS of
    the ADD in its frame, RF set, and the loop's registers as they were."""
    handler = 0x5000
    live, plain = machines(32, paged=True)
    rng = random.Random(5)
    loop = b"\x83\xc5\x01\x80\x3c\x2e\x00\x75\xf7\xf4"    # 1: add ebp, 1; cmp byte [esi + ebp], 0; jne 1b; hlt
    # the first ADD overflows, wraps to 0, carries out of bit 3; then random
    # counts and a few bytes before the page
    cases = [(0x7FFFFFFF, 0), (0xFFFFFFFF, 0), (0x0F, 0)]
    for start, before in cases + [(rng.getrandbits(32), rng.randrange(0, 8)) for _ in range(20)]:
        base = (NOT_PRESENT - start - 1 - before) & 0xFFFFFFFF
        frames = []
        for m in (live, plain):
            with_pf_handler(m, handler)
            m.mem_write(handler, b"\xf4")
            m.mem_write(CODE, loop)
            m.mem_write(NOT_PRESENT - 0x100, b"\x01" * 0x100)       # no NUL before the page
            m.reg_write("esp", STACK)
            set_regs(m, {5: start, ESI: base, 4: STACK})
            ex = m.run(start=CODE, count=10_000)
            assert ex.reason == "hlt" and ex.address == handler, str(ex)
            frames.append(struct.unpack("<4I", m.mem_read(STACK - 16, 16)) + (m.read_cr(2), m.reg_read("ebp")))
        assert frames[0] == frames[1], (hex(start), hex(base))
        error, eip, cs, eflags = frames[0][:4]
        assert eip == CODE + 3 and error == 0 and frames[0][4] == (base + frames[0][5]) & 0xFFFFFFFF
        ebp = frames[0][5]
        want = 0x10002 | (0x40 if ebp == 0 else 0) | (0x80 if ebp >> 31 else 0)
        want |= (1 if ebp == 0 else 0) | (0x800 if ebp == 0x80000000 else 0) | (0x10 if ebp & 0xF == 0 else 0)
        want |= 4 if bin(ebp & 0xFF).count("1") % 2 == 0 else 0
        assert eflags & (ARITH | 0x10000) == want & (ARITH | 0x10000), (hex(eflags), hex(want), hex(ebp))
