"""Macro-fused CMP/SUB/TEST/shift + Jcc pairs (control.pxi fuse_jcc, shift.pxi
shift_jcc): each must be
indistinguishable from the two instructions run one after the other, for
every condition, operand size and form, and across count/until cuts,
faults, single steps and self-modifying code."""
import pytest

from emu import Machine
from helpers import CODE, DATA, STACK, TF

A_REG, B_REG = 0, 3          # eax (rax), ebx (rbx)


def mask(bits):
    return (1 << bits) - 1


def sign(v, bits):
    return (v >> (bits - 1)) & 1


def cond(cc, cf, zf, sf, of, pf):
    base = [of, cf, zf, cf | zf, sf, pf, sf ^ of, (sf ^ of) | zf][cc >> 1]
    return bool(base) ^ bool(cc & 1)


SHIFTS = {"shl": 4, "shr": 5, "sar": 7}      # ModRM.reg of C1/D1


def shifted(kind, d, n, bits):
    if kind == "shl":
        return (d << n) & mask(bits)
    if kind == "shr":
        return d >> n
    return ((d - (sign(d, bits) << bits)) >> n) & mask(bits)


def expected_taken(kind, cc, d, s, bits):
    """Is the Jcc on cc taken after the first instruction, and its result
    (None, None for a shift's conditions other than ZF and SF: the
    unfused run decides those alone)."""
    m = mask(bits)
    d, s = d & m, s & m
    if kind in SHIFTS:
        n = s & (63 if bits == 64 else 31)
        r = shifted(kind, d, n, bits) if n else d
        if cc >> 1 not in (2, 4):
            return None, None
        zf, sf = (int(r == 0), sign(r, bits)) if n else (0, 0)   # (a zero count keeps EFLAGS = 2)
        return cond(cc, 0, zf, sf, 0, 0), r
    if kind == "test":
        r = d & s
        cf = of = 0
    else:
        r = (d - s) & m
        cf = int(d < s)
        of = sign((d ^ s) & (d ^ r), bits)
    zf, sf = int(r == 0), sign(r, bits)
    pf = int(bin(r & 0xFF).count("1") % 2 == 0)
    return cond(cc, cf, zf, sf, of, pf), r


def addr32(a):
    return a.to_bytes(4, "little")


# (name, kind, bits, encoder(imm) -> bytes, destination register written?)
# Every first instruction reads d from eax/[DATA] and s from ebx/[DATA]/imm.
def forms(mode):
    out = []
    for bits in (8, 16, 32, 64):
        if bits == 64 and mode != 64:
            continue
        pre = {16: b"\x66", 64: b"\x48"}.get(bits, b"")
        w = 0 if bits == 8 else 1
        isz = {8: 1, 16: 2, 32: 4, 64: 4}[bits]
        sib_abs = b"\x25" + addr32(DATA)          # [disp32], absolute in both modes
        out += [
            ("cmp_EG_r", "sub", bits, lambda i, p=pre, w=w: p + bytes([0x38 | w, 0xD8]), "d"),
            ("cmp_GE_r", "sub", bits, lambda i, p=pre, w=w: p + bytes([0x3A | w, 0xC3]), "d"),
            ("cmp_EI_r", "sub", bits, lambda i, p=pre, w=w, n=isz:
                p + bytes([0x80 | w, 0xF8]) + i.to_bytes(n, "little"), "imm"),
            ("cmp_acc_I", "sub", bits, lambda i, p=pre, w=w, n=isz:
                p + bytes([0x3C | w]) + i.to_bytes(n, "little"), "imm"),
            ("cmp_EG_m", "sub", bits, lambda i, p=pre, w=w, a=sib_abs: p + bytes([0x38 | w, 0x1C]) + a, "dmem"),
            ("cmp_GE_m", "sub", bits, lambda i, p=pre, w=w, a=sib_abs: p + bytes([0x3A | w, 0x04]) + a, "smem"),
            ("cmp_EI_m", "sub", bits, lambda i, p=pre, w=w, a=sib_abs, n=isz:
                p + bytes([0x80 | w, 0x3C]) + a + i.to_bytes(n, "little"), "dmem_imm"),
            ("sub_EG_r", "sub", bits, lambda i, p=pre, w=w: p + bytes([0x28 | w, 0xD8]), "d"),
            ("sub_EI_r", "sub", bits, lambda i, p=pre, w=w, n=isz:
                p + bytes([0x80 | w, 0xE8]) + i.to_bytes(n, "little"), "imm"),
            ("test_EG_r", "test", bits, lambda i, p=pre, w=w: p + bytes([0x84 | w, 0xD8]), "d"),
        ]
        if bits != 8:
            out.append(("cmp_EI8_r", "sub", bits, lambda i, p=pre: p + bytes([0x83, 0xF8, i & 0xFF]), "imm8"))
        for op, digit in SHIFTS.items():
            out += [(f"{op}_c1_r", op, bits, lambda i, p=pre, w=w, g=digit:
                        p + bytes([0xC0 | w, 0xC0 | g << 3, i & 0xFF]), "cnt"),
                    (f"{op}_d1_r", op, bits, lambda i, p=pre, w=w, g=digit:
                        p + bytes([0xD0 | w, 0xC0 | g << 3]), "one")]
    return out


def values(bits):
    m = mask(bits)
    top = 1 << (bits - 1)
    vals = [(0, 0), (1, 2), (2, 1), (top, 1), (1, top), (top - 1, m), (m, top - 1),
            (m, m), (top, top), (0x5A & m, 0x5A & m), (0, m), (top, top - 1)]
    return vals


def program(first, near, cc):
    """first; jcc +2 (rel8 or rel32); inc ecx; hlt: ecx stays 0 iff taken"""
    if near:
        jcc = bytes([0x0F, 0x80 | cc]) + (2).to_bytes(4, "little")
    else:
        jcc = bytes([0x70 | cc, 2])
    return first + jcc + b"\xff\xc1" + b"\xf4"


def run_one(m, code, d, s, bits, src):
    m.mem_write(CODE, code)
    for r in ("rax", "rbx", "rcx", "rdx") if m.mode == 64 else ("eax", "ebx", "ecx", "edx"):
        m.reg_write(r, 0)
    m.reg_write("eflags", 0x2)
    if src in ("dmem", "dmem_imm"):
        m.mem_write(DATA, d.to_bytes(8, "little"))
        m.reg_write("rax" if m.mode == 64 else "eax", 0x77)
        m.reg_write("rbx" if m.mode == 64 else "ebx", s)
    elif src == "smem":
        m.mem_write(DATA, s.to_bytes(8, "little"))
        m.reg_write("rax" if m.mode == 64 else "eax", d)
    else:
        m.reg_write("rax" if m.mode == 64 else "eax", d)
        m.reg_write("rbx" if m.mode == 64 else "ebx", s)
    ex = m.run(start=CODE, count=100)
    regs = tuple(m.reg_read(r) for r in (("rax", "rbx", "rcx", "rdx", "rip") if m.mode == 64
                                         else ("eax", "ebx", "ecx", "edx", "eip")))
    return ex.reason, ex.instructions, regs, m.reg_read("eflags")


@pytest.mark.parametrize("mode", [32, 64])
def test_fused_pairs_match_the_unfused_sequence(mode):
    fused = Machine(mode=mode, memory=0x10000)
    plain = Machine(mode=mode, memory=0x10000, decode_cache=False)   # one instruction a block
    n = 0
    for name, kind, bits, enc, src in forms(mode):
        for d, s in values(bits):
            if src in ("imm", "dmem_imm"):
                s &= mask(min(bits, 32))
                imm = s
                if bits == 64 and s >> 31:      # imm32 sign-extends
                    s |= mask(64) ^ mask(32)
            elif src == "imm8":
                imm = s & 0xFF
                s = imm | (mask(bits) ^ 0xFF if imm & 0x80 else 0)
            elif src in ("cnt", "one"):         # the count: an imm8, or 1
                imm = s = (s % 67) & 0xFF if src == "cnt" else 1
            else:
                imm = 0
            for cc in range(16):
                for near in (False, True):
                    code = program(enc(imm), near, cc)
                    got = run_one(fused, code, d, s, bits, src)
                    want = run_one(plain, code, d, s, bits, src)
                    assert got == want, (name, bits, hex(d), hex(s), cc, near)
                    taken, r = expected_taken(kind, cc, d, s, bits)
                    if taken is None:
                        continue
                    assert got[0] == "hlt" and got[1] == 3 + (not taken), (name, bits, cc)
                    assert (got[2][2] == 0) == taken, (name, bits, hex(d), hex(s), cc)
                    if name.startswith("sub") or kind in SHIFTS:
                        assert got[2][0] & mask(bits) == r
                    n += 1
    assert n > 10000


def test_cut_between_the_pair_by_count_and_until():
    # mov edx, 5; cmp eax, ebx; je +2; inc ecx; hlt   (one block, the pair fused)
    code = b"\xba\x05\x00\x00\x00" + b"\x39\xd8" + b"\x74\x02" + b"\xff\xc1" + b"\xf4"
    for stop in ("count", "until"):
        m = Machine(mode=32, memory=0x10000)
        m.mem_write(CODE, code)
        m.reg_write("eax", 7)
        m.reg_write("ebx", 7)
        assert m.run(start=CODE, count=10).reason == "hlt"    # decode and run it fused once
        m.reg_write("ebx", 8)
        m.reg_write("eflags", 0x2)
        if stop == "count":
            ex = m.run(start=CODE, count=2)
        else:
            ex = m.run(start=CODE, until=CODE + 7)
        assert ex.reason == stop and ex.instructions == 2
        assert m.reg_read("eip") == CODE + 7 and m.reg_read("ecx") == 0
        assert m.reg_read("eflags") & 0x8D5 == 0x95        # 7 - 8: CF SF AF PF, not ZF
        m.reg_write("ebx", 7)                               # the flags are already set
        ex = m.run(count=1)                                 # the Jcc alone: not taken
        assert ex.reason == "count" and ex.instructions == 1 and m.reg_read("eip") == CODE + 9
        ex = m.run(count=10)
        assert ex.reason == "hlt" and m.reg_read("ecx") == 1
        # a cut right at the CMP still runs nothing of the pair
        ex = m.run(start=CODE, count=1)
        assert ex.instructions == 1 and m.reg_read("eip") == CODE + 5


def test_fault_in_the_first_instruction_of_a_pair():
    # cmp eax, [0x7ff00000]; je +2; inc ecx  -> unmapped read, nothing retired
    m = Machine(mode=32, memory=0x10000)
    m.mem_write(CODE, b"\x90" + b"\x3b\x05" + addr32(0x7FF00000) + b"\x74\x02\xff\xc1\xf4")
    m.reg_write("eflags", 0x2 | 0x40)
    ex = m.run(start=CODE, count=100)
    assert ex.reason == "unmapped" and ex.address == CODE + 1 and ex.instructions == 1
    assert m.reg_read("eip") == CODE + 1 and m.reg_read("ecx") == 0
    assert m.reg_read("eflags") & 0x40                     # flags untouched
    # 64-bit: a non-canonical operand is #GP at the CMP
    m = Machine(mode=64, memory=0x10000)
    m.mem_write(CODE, b"\x48\x3b\x03" + b"\x74\x02\xff\xc1\xf4")   # cmp rax, [rbx]; je; inc ecx
    m.reg_write("rbx", 0x8000_0000_0000_0000)
    ex = m.run(start=CODE, count=100)
    assert ex.reason == "exception" and ex.vector == 13 and ex.address == CODE
    assert ex.instructions == 0 and m.reg_read("ecx") == 0


def test_single_step_through_a_pair():
    # pushf; or dword [esp], TF; popf; cmp eax, ebx; jne +2; inc ecx; hlt
    code = b"\x9c\x81\x0c\x24" + TF.to_bytes(4, "little") + b"\x9d"
    pair = len(code)
    code += b"\x39\xd8" + b"\x75\x02" + b"\xff\xc1" + b"\xf4"
    m = Machine(mode=32, memory=1 << 20)
    m.mem_write(CODE, code)
    m.reg_write("esp", STACK)
    m.reg_write("eax", 1)
    m.reg_write("ebx", 2)
    ex = m.run(start=CODE, count=100)                 # #DB after the CMP (the first under TF)
    assert ex.reason == "exception" and ex.vector == 1 and ex.instructions == 4
    assert m.reg_read("eip") == CODE + pair + 2
    ex = m.run(count=100)                              # the JNE alone: taken
    assert ex.vector == 1 and ex.instructions == 1 and m.reg_read("eip") == CODE + pair + 6
    assert m.reg_read("ecx") == 0


def test_data_breakpoint_on_the_first_instruction_of_a_pair():
    # DR0: 4-byte reads/writes at DATA; cmp eax, [DATA]; je +2; inc ecx; hlt
    def mov_dr(n, value):
        return b"\xb8" + value.to_bytes(4, "little") + bytes([0x0F, 0x23, 0xC0 | (n << 3)])
    code = mov_dr(0, DATA) + mov_dr(7, 0x1 | (0b11 << 16) | (0b11 << 18))
    pair = len(code)
    code += b"\x3b\x05" + addr32(DATA) + b"\x74\x02\xff\xc1\xf4"
    m = Machine(mode=32, memory=0x10000)
    m.mem_write(CODE, code)
    ex = m.run(start=CODE, count=100)
    assert ex.reason == "exception" and ex.vector == 1
    assert m.reg_read("eip") == CODE + pair + 6 and m.reg_read("ecx") == 0


def test_self_modifying_code_rewrites_the_jcc_of_a_fused_pair():
    # loop: cmp eax, ebx; je skip (rewritten); inc ecx; skip: inc esi;
    #       mov byte [jcc], 0x75 (je -> jne); cmp esi, 3; jb loop; hlt
    jcc = CODE + 2
    code = b"\x39\xd8" + b"\x74\x02" + b"\xff\xc1" + b"\xff\xc6"
    code += b"\xc6\x05" + addr32(jcc) + b"\x75"
    code += b"\x83\xfe\x03" + bytes([0x72, (-(len(code) + 5)) & 0xFF])
    m = Machine(mode=32, memory=0x10000)
    m.mem_write(CODE, code + b"\xf4")
    ex = m.run(start=CODE, count=1000)
    # first pass: je taken (eax == ebx); then jne, not taken: ecx counts 2
    assert ex.reason == "hlt" and m.reg_read("ecx") == 2 and m.reg_read("esi") == 3
    assert m.stats["smc_invalidations"] >= 1
    # a store in the same block as the pair, before it, rewrites the Jcc
    # mov byte [jcc2], 0x75; cmp eax, ebx; je +2; inc ecx; hlt
    code = b"\xc6\x05" + addr32(CODE + 9) + b"\x75" + b"\x39\xd8" + b"\x74\x02\xff\xc1\xf4"
    m = Machine(mode=32, memory=0x10000)
    m.mem_write(CODE, code)
    ex = m.run(start=CODE, count=100)
    assert ex.reason == "hlt" and m.reg_read("ecx") == 1 and ex.instructions == 5
    # the host rewrites the Jcc's displacement between runs
    m.mem_write(CODE + 9, b"\x74\x00")                  # je +0: inc ecx runs either way
    m.reg_write("ecx", 0)
    ex = m.run(start=CODE, count=100)
    assert ex.reason == "hlt" and m.reg_read("ecx") == 1


def test_repeated_cuts_at_the_jcc_of_a_loop():
    # top: inc ecx; add edx, ecx; cmp ecx, 50; jne top; hlt: a budget that
    # ends at every point of the loop, its fused Jcc included, must give the
    # state of one uncut run (the pair is unfused for a cut run, fused again
    # after: both must take the branch the same way)
    code = b"\xff\xc1" + b"\x01\xca" + b"\x83\xf9\x32" + bytes([0x75, (-9) & 0xFF]) + b"\xf4"
    for mode in (32, 64):
        ref = Machine(mode=mode, memory=0x10000)
        ref.mem_write(CODE, code)
        ex = ref.run(start=CODE, count=1000)
        assert ex.reason == "hlt" and ref.reg_read("ecx") == 50
        for step in (1, 2, 3, 4, 5, 7):
            m = Machine(mode=mode, memory=0x10000)
            m.mem_write(CODE, code)
            ex = m.run(start=CODE, count=step)
            total, runs = ex.instructions, 1
            while ex.reason == "count":
                assert ex.instructions == step, (mode, step)     # never past the budget
                ex = m.run(count=step)
                total += ex.instructions
                runs += 1
            assert ex.reason == "hlt" and total == 4 * 50 + 1, (mode, step)
            assert runs == -(-total // step), (mode, step)
            for r in ("ecx", "edx", "eflags"):
                assert m.reg_read(r) == ref.reg_read(r), (mode, step, r)
