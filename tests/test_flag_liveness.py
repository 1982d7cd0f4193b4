"""Flag liveness (gen_variants.py): an instruction whose flags the next flag
writer overwrites (with only register moves, LEA and followed JMPs between) runs without
recording them.  That must not be visible: at every
cut (count, `until`, single-step), at a fault in the next instruction and at
the end, registers and flags must be those of the same code run one
instruction a block (decode_cache=False, where nothing is ever dead)."""
import random

import pytest

from emu import Machine
from helpers import CODE, DATA, STACK, TF, set_state

ARITH = 0x8D5

# One block of flag writers: dead candidates followed by overwriters
# (register-form ALU, IMUL, NEG, shifts by 1 or an immediate), and the
# exceptions that keep flags alive: a shift by 0, ADC (reads CF), INC, rotates.
SEQ32 = [
    b"\x01\xd8",                      # add eax, ebx
    b"\x89\xc6",                      # mov esi, eax
    b"\x29\xd1",                      # sub ecx, edx
    b"\x8d\x3c\x5b",                  # lea edi, [ebx + ebx*2]
    b"\xb9\x05\x00\x00\x00",          # mov ecx, 5
    b"\xc1\xc6\x03",                  # rol esi, 3
    b"\x0f\xb6\xd3",                  # movzx edx, bl
    b"\x31\xc7",                      # xor edi, eax
    b"\xd1\xe0",                      # shl eax, 1
    b"\x0f\xaf\xce",                  # imul ecx, esi
    b"\xff\xc2",                      # inc edx
    b"\xf7\xdb",                      # neg ebx
    b"\x03\x05" + DATA.to_bytes(4, "little"),      # add eax, [DATA]
    b"\x81\xe1\x34\x12\x00\x00",      # and ecx, 0x1234
    b"\xc1\xea\x05",                  # shr edx, 5
    b"\xc1\xe6\x00",                  # shl esi, 0 (changes no flag)
    b"\x09\xc8",                      # or eax, ecx
    b"\xc1\xcf\x07",                  # ror edi, 7
    b"\x29\xf8",                      # sub eax, edi
    b"\x11\xc1",                      # adc ecx, eax
    b"\x01\x05" + DATA.to_bytes(4, "little"),      # add [DATA], eax
    b"\x6b\xd0\x07",                  # imul edx, eax, 7
    b"\xc1\xf8\x03",                  # sar eax, 3
    b"\x39\xca",                      # cmp edx, ecx
    # pass-through writers (rotates, INC, DEC: some flags only) in a row,
    # NOT between, then an overwriter: dead together, live at every cut
    b"\x01\xd8",                      # add eax, ebx
    b"\xc1\xc6\x05",                  # rol esi, 5
    b"\xf7\xd2",                      # not edx
    b"\xd1\xc9",                      # ror ecx, 1
    b"\xff\xc7",                      # inc edi
    b"\xc1\xcb\x0b",                  # ror ebx, 11
    b"\xff\xc9",                      # dec ecx
    b"\x31\xd6",                      # xor esi, edx
    b"\x29\xc8",                      # sub eax, ecx
    b"\xc1\xc2\x03",                  # rol edx, 3
    b"\x11\xd8",                      # adc eax, ebx (reads the rotate's CF)
    b"\x21\xf1",                      # and ecx, esi
    b"\xff\xc0",                      # inc eax
    b"\x01\xc3",                      # add ebx, eax
]
SEQ64 = SEQ32[:12] + [
    b"\x49\x03\x40\x08",              # add rax, [r8 + 8]
    b"\x4b\x03\x0c\x88",              # add rcx, [r8 + r9*4]
    b"\x48\x21\xc8",                  # and rax, rcx
    b"\x48\xf7\xda",                  # neg rdx
    b"\x48\x0f\xaf\xc2",              # imul rax, rdx
    b"\x48\xc1\xc6\x0d",              # rol rsi, 13
    b"\x48\xd1\xef",                  # shr rdi, 1
    b"\x49\x01\x40\x10",              # add [r8 + 16], rax
    b"\x48\x83\xe8\x4d",              # sub rax, 77
    b"\x48\xff\xc9",                  # dec rcx
    b"\x31\xc6",                      # xor esi, eax
    b"\x48\xc1\xe7\x00",              # shl rdi, 0 (changes no flag)
    b"\x48\x0b\xd0",                  # or rdx, rax
] + SEQ32[12:]

REGS32 = ("eax", "ebx", "ecx", "edx", "esi", "edi")
REGS64 = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9")


def setup(m, code, values, data):
    m.mem_write(CODE, code)
    set_state(m, values, data)


def state(m, ex):
    regs = REGS64 if m.mode == 64 else REGS32
    return (ex.reason, ex.instructions, tuple(m.reg_read(r) for r in regs),
            m.reg_read("rip" if m.mode == 64 else "eip"), m.reg_read("eflags") & ARITH,
            m.mem_read(DATA, 24))


def random_values(rng, mode):
    bits = 64 if mode == 64 else 32
    special = [0, 1, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1, 0x80, 0xFF]
    names = REGS64[:6] if mode == 64 else REGS32
    values = {r: rng.choice(special) if rng.random() < 0.3 else rng.getrandbits(bits) for r in names}
    if mode == 64:
        values.update(r8=DATA, r9=1)
    return values


def straight(seq):
    """The sequence at CODE: (code, the address of each instruction and of the HLT)."""
    return b"".join(seq) + b"\xf4", [CODE + sum(len(x) for x in seq[:k]) for k in range(len(seq) + 1)]


def scattered(seq):
    """The sequence in pieces of three in slots of 64 bytes, run in a shuffled
    order of the slots, each piece ending with a JMP to the next: the pieces
    join into one block (followed JMPs, icache.pxi), above and below its start."""
    pieces = [seq[k:k + 3] for k in range(0, len(seq), 3)]
    order = [(5 * k + 3) % len(pieces) for k in range(len(pieces))]   # slot of each piece
    code = bytearray(b"\xf4" * 64 * len(pieces))
    addrs = []
    for k, piece in enumerate(pieces):
        pos = 64 * order[k]
        for insn in piece:
            code[pos:pos + len(insn)] = insn
            addrs.append(CODE + pos)
            pos += len(insn)
        addrs.append(CODE + pos)
        if k + 1 < len(pieces):             # jmp rel32 to the next piece (the last: its HLT)
            code[pos:pos + 5] = b"\xe9" + (64 * order[k + 1] - pos - 5).to_bytes(4, "little", signed=True)
    return bytes(code), addrs


@pytest.mark.parametrize("mode", [32, 64])
@pytest.mark.parametrize("arrange", [straight, scattered])
def test_every_cut_matches_one_instruction_a_block(mode, arrange):
    seq = SEQ64 if mode == 64 else SEQ32
    code, addrs = arrange(seq)
    live = Machine(mode=mode, memory=0x10000)
    plain = Machine(mode=mode, memory=0x10000, decode_cache=False)
    rng = random.Random(15)
    for _ in range(12):
        values = random_values(rng, mode)
        data = bytes(rng.getrandbits(8) for _ in range(24))
        for m in (live, plain):
            setup(m, code, values, data)
        want = state(plain, plain.run(start=addrs[0], count=100))
        assert want[0] == "hlt" and want[1] == len(addrs)
        assert state(live, live.run(start=addrs[0], count=100)) == want
        for k in range(1, len(addrs)):
            for stop in ("count", "until"):
                for m in (live, plain):
                    setup(m, code, values, data)
                kw = {"count": k} if stop == "count" else {"until": addrs[k]}
                got = state(live, live.run(start=addrs[0], **kw))
                assert got == state(plain, plain.run(start=addrs[0], **kw)), (mode, k, stop, values)
                assert got[1] == k


@pytest.mark.parametrize("mode", [32, 64])
def test_fault_after_a_flag_writer_sees_its_flags(mode):
    # add eax, ebx; add ecx, [unmapped]: the first one's flags are live
    far = 0x7FF00000
    code = b"\x01\xd8" + b"\x03\x0c\x25" + far.to_bytes(4, "little") + b"\xf4"
    for m in (Machine(mode=mode, memory=0x10000), Machine(mode=mode, memory=0x10000, decode_cache=False)):
        m.mem_write(CODE, code)
        m.reg_write("eax", 0xFFFFFFFF)
        m.reg_write("ebx", 1)
        m.reg_write("eflags", 0x2)
        ex = m.run(start=CODE, count=100)
        assert ex.reason == "unmapped" and ex.instructions == 1
        assert m.reg_read("eflags") & ARITH == 0x55          # 0xFFFFFFFF + 1: CF PF AF ZF


@pytest.mark.parametrize("mode", [32, 64])
def test_fault_after_pass_through_writers_sees_their_flags(mode):
    # sub eax, ebx; rol ecx, 3; not edx; inc esi; add ecx, [unmapped]: SUB's
    # ZF SF PF AF, INC's OF SF ZF AF PF and ROL's CF OF... in order, all seen
    far = 0x7FF00000
    code = (b"\x29\xd8\xc1\xc1\x03\xf7\xd2\xff\xc6" + b"\x03\x0c\x25" + far.to_bytes(4, "little")
            + b"\xf4")
    got = []
    for m in (Machine(mode=mode, memory=0x10000), Machine(mode=mode, memory=0x10000, decode_cache=False)):
        m.mem_write(CODE, code)
        for name, v in (("eax", 5), ("ebx", 7), ("ecx", 0x80000001), ("edx", 0), ("esi", 0x7FFFFFFF)):
            m.reg_write(name, v)
        m.reg_write("eflags", 0x2)
        ex = m.run(start=CODE, count=100)
        assert ex.reason == "unmapped" and ex.instructions == 4
        got.append(m.reg_read("eflags") & ARITH)
    # 5 - 7 sets CF; ROL 0x80000001 by 3: CF 0, OF 0 ^ 0; INC 0x7FFFFFFF: OF SF AF
    assert got[0] == got[1] == 0x894


def test_single_step_sees_every_instructions_flags():
    # pushf; or dword [esp], TF; popf; then the sequence, one #DB exit each
    code = b"\x9c\x81\x0c\x24" + TF.to_bytes(4, "little") + b"\x9d"
    start = CODE + len(code)
    code += b"".join(SEQ32) + b"\xf4"
    rng = random.Random(7)
    values = random_values(rng, 32)
    data = bytes(rng.getrandbits(8) for _ in range(24))
    plain = Machine(mode=32, memory=1 << 20, decode_cache=False)
    setup(plain, code, values, data)
    plain.reg_write("esp", STACK)
    plain.run(start=CODE, count=3)
    m = Machine(mode=32, memory=1 << 20)
    setup(m, code, values, data)
    m.reg_write("esp", STACK)
    m.run(start=CODE, count=3)
    assert m.reg_read("eip") == start and m.reg_read("eflags") & TF
    for _ in SEQ32:                  # TF: a #DB exit after each instruction
        ex, want = m.run(count=100), plain.run(count=100)
        assert ex.reason == "exception" and ex.vector == 1 and ex.instructions == 1
        assert state(m, ex) == state(plain, want)
