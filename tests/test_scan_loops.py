"""Scanning loops (scanloop.pxi, gen_variants.py LOOPS): `add r, imm; cmp
m, imm; jne/je back` run by one handler that also runs the loop's next
passes.  Every way out of the loop must be exact, as in the core without
the decode cache (one instruction a block): the end of the string, a count
or `until` cut or a breakpoint anywhere in it, the string running into
memory outside RAM or onto a not-present page (the ADD's flags seen at the
fault), with code after the Jcc in the same block."""
import random
import struct

import pytest

from emu import Machine
from emu._core import decode_info
from helpers import CODE

ARITH = 0x8D5
STR = 0x20000                # the strings: up to the end of RAM or NOT_PRESENT
NOT_PRESENT = 0x30000        # (the page tables' hole)
RAM = 0x40000


def loops(mode):
    """(name, code) of each loop shape; each is followed by `mov eax, ecx`
    (in its block: a Jcc not taken goes on) and HLT."""
    tail = b"\x89\xc8\xf4"
    if mode == 64:
        return [("strlen r8+r9", b"\x49\x83\xc1\x01\x43\x80\x3c\x08\x00\x75\xf5" + tail),
                ("skip [rdi] == 0x20", b"\x48\x83\xc7\x01\x80\x3f\x20\x74\xf7" + tail),
                ("dword [rsi+disp]", b"\x48\x83\xc6\x04\x81\x7e\x10\x00\x00\x00\x00\x75\xf3" + tail),
                ("32-bit index", b"\x83\xc2\x01\x41\x80\x3c\x10\x00\x75\xf6" + tail),
                # the loop after another instruction of its block: it branches to
                # an entry that is not the block's start (dispatch.pxi chain_self)
                ("strlen after xor", b"\x31\xc9\x49\x83\xc1\x01\x43\x80\x3c\x08\x00\x75\xf5" + tail)]
    return [("strlen ebx+ebp", b"\x83\xc5\x01\x80\x3c\x2b\x00\x75\xf7" + tail),
            ("skip [esi+disp] == 0x20", b"\x83\xc6\x01\x80\x7e\x08\x20\x74\xf7" + tail),
            ("dword [edi]", b"\x83\xc7\x04\x83\x3f\x00\x75\xf8" + tail),
            ("strlen after xor", b"\x31\xc9\x83\xc5\x01\x80\x3c\x2b\x00\x75\xf7" + tail)]


def machines(mode, paged):
    out = [Machine(mode=mode, memory=RAM), Machine(mode=mode, memory=RAM, decode_cache=False)]
    if paged:
        for m in out:
            identity_paging(m, mode)
    return out


def identity_paging(m, mode):
    """The first 256 KiB mapped one to one but the page NOT_PRESENT."""
    top = 0x10000
    ptes = [(k << 12) | 3 if k << 12 != NOT_PRESENT else 0 for k in range(RAM >> 12)]
    if mode == 64:
        for level in range(3):
            m.mem_write(top + 0x1000 * level, struct.pack("<Q", top + 0x1000 * (level + 1) | 3))
        m.mem_write(top + 0x3000, struct.pack("<%dQ" % len(ptes), *ptes))
        m.write_cr(3, top)
        return
    m.mem_write(top, struct.pack("<I", top + 0x1000 | 3))
    m.mem_write(top + 0x1000, struct.pack("<%dI" % len(ptes), *ptes))
    m.write_cr(3, top)
    m.write_cr(0, m.read_cr(0) | 0x80000000)


REGS = {64: ["rax", "rcx", "rdx", "rbx", "rbp", "rsi", "rdi", "r8", "r9"],
        32: ["eax", "ecx", "edx", "ebx", "ebp", "esi", "edi"]}


def setup(m, code, regs, data):
    m.mem_write(CODE, code)
    m.mem_write(STR, data)
    for name, v in regs.items():
        m.reg_write(name, v)
    m.reg_write("eflags", 0x2)


def state(m, ex):
    return (ex.reason, ex.instructions, getattr(ex, "vector", None),
            tuple(m.reg_read(r) for r in REGS[m.mode]), m.reg_read("eflags") & ARITH,
            m.reg_read("rip" if m.mode == 64 else "eip"))


def random_case(rng, mode, end):
    """Registers that point the loop at STR and a string that ends (a NUL, a
    non-blank or a zero dword) after a random length, or runs up to `end`."""
    length = rng.choice((0, 1, 2, 15, 16, 17, rng.randrange(300), rng.randrange(3000)))
    data = bytearray(rng.choice(b"\x01a \x20\xff") for _ in range(end - STR))
    if rng.random() < 0.8:
        data[length:length + 4] = b"\x00\x00\x00\x00" if rng.random() < 0.5 else b"x\x00\x00\x00"
    else:
        data = data.replace(b"\x00", b"\x01")       # none: the loop runs off the end
    start = rng.randrange(-1, 2)
    if mode == 64:
        regs = {"r8": STR - start - 1, "r9": start, "rdi": STR - 1, "rsi": STR - 0x14,
                "rdx": start & 0xFFFFFFFF, "rcx": 77, "rax": 0}
    else:
        regs = {"ebx": STR - start - 1, "ebp": start & 0xFFFFFFFF, "esi": STR - 9, "edi": STR - 4,
                "ecx": 77, "eax": 0}
    if mode == 64 and rng.random() < 0.3:
        regs["r9"] = (start - 1) & (1 << 64) - 1       # (an ADD that carries out: r9 -1 + 1)
        regs["r8"] = STR - start
    return regs, bytes(data)


@pytest.mark.parametrize("mode", [32, 64])
@pytest.mark.parametrize("end", ["ram", "not-present"])
def test_whole_runs_and_runs_off_the_end(mode, end):
    rng = random.Random(mode + len(end))
    live, plain = machines(mode, end == "not-present")
    limit = RAM if end == "ram" else NOT_PRESENT
    for name, code in loops(mode):
        for _ in range(25):
            regs, data = random_case(rng, mode, limit)
            got = []
            for m in (live, plain):
                setup(m, code, regs, data)
                got.append(state(m, m.run(start=CODE, count=20_000)))
            assert got[0] == got[1], (name, regs, got)
            # the loop ran as a scanning-loop pair (when the run got to decode it)
            handlers = live.decoded_handlers(CODE)
            assert any(str(h).startswith("p_add_EI_") for h in handlers[:2]), handlers


@pytest.mark.parametrize("mode", [32, 64])
def test_cuts_inside_the_loop(mode):
    """A run cut after k instructions (k anywhere in the passes), then one
    to the end; `until` at each of the loop's instructions; a breakpoint at
    each of them, then on."""
    rng = random.Random(40 + mode)
    live, plain = machines(mode, False)
    for name, code in loops(mode):
        lens = []
        pos = 0
        for _ in range(3):                    # the lengths of ADD, CMP, Jcc
            n = decode_info(mode, code[pos:pos + 15])[0]
            lens.append(n)
            pos += n
        addrs = [CODE, CODE + lens[0], CODE + lens[0] + lens[1]]
        for _ in range(12):
            regs, data = random_case(rng, mode, RAM)
            k = rng.randrange(1, 400)
            for how in ("count", "until", "breakpoint"):
                got = []
                for m in (live, plain):
                    setup(m, code, regs, data)
                    m.run(start=CODE, count=20_000)       # (decoded and fused, on the live one)
                    setup(m, code, regs, data)
                    if how == "count":
                        first = m.run(start=CODE, count=k)
                    elif how == "until":
                        first = m.run(start=CODE, count=20_000, until=addrs[k % 3])
                    else:
                        m.set_breakpoints([addrs[k % 3]])
                        first = m.run(start=CODE + 0, count=20_000) if k % 3 else None
                        if first is None:             # (a breakpoint at the start: after one pass)
                            m.run(start=CODE, count=1)
                            first = m.run(count=20_000)
                        m.set_breakpoints([])
                    got.append((state(m, first), state(m, m.run(count=20_000))))
                assert got[0] == got[1], (name, how, k, regs)
