"""Followed JMPs and CALLs (icache.pxi build_block): a block goes on through
a JMP or CALL rel whose target is on its first page, so short blocks joined
by JMPs run as one.  That must not be visible: counts, `until`, breakpoints, faults, hooks
and self-modifying code behave as with one instruction a block
(decode_cache=False), in 16-, 32- and 64-bit code, with targets below the
block's start as well as above it."""
import pytest

from emu import Machine
from helpers import CODE, STACK, stops_at


def layout(pieces):
    """Code from {offset: [bytes or ("jmp"/"jnz", label) or label]}: labels
    name offsets, jumps are rel8 to a label.  Returns (code, labels)."""
    labels, size = {}, 0
    for at, items in pieces.items():
        pos = at
        for x in items:
            if isinstance(x, str):
                labels[x] = pos
            else:
                pos += 2 if isinstance(x, tuple) else len(x)
        size = max(size, pos)
    code = bytearray(b"\xf4" * size)
    for at, items in pieces.items():
        pos = at
        for x in items:
            if isinstance(x, tuple):
                rel = labels[x[1]] - (pos + 2)
                assert -128 <= rel < 128
                x = bytes([0xEB if x[0] == "jmp" else 0x75, rel & 0xFF])
            elif isinstance(x, str):
                continue
            code[pos:pos + len(x)] = x
            pos += len(x)
    return bytes(code), labels


# A loop zigzagging through its page: entry jumps forward to start, which
# jumps back to b, on to c, back to d, whose JNZ (a superblock's Jcc) goes
# round again.  The same bytes in every mode (16-bit: dx, si, cx).
ZIGZAG, Z = layout({
    0x00: ["entry", ("jmp", "start")],
    0x10: ["b", b"\xff\xc2", b"\x01\xd8", ("jmp", "c")],          # inc edx; add eax, ebx
    0x30: ["d", b"\xff\xc9", ("jnz", "top"), "out", b"\xf4"],     # dec ecx; jnz top; hlt
    0x40: ["start", b"\x31\xdb", b"\xff\xc3",                     # xor ebx, ebx; inc ebx
           "top", b"\x01\xc8", ("jmp", "b")],                     # add eax, ecx
    0x60: ["c", b"\x83\xee\x01", ("jmp", "d")],                   # sub esi, 1
})
ROUNDS = 3
IP = {16: "ip", 32: "eip", 64: "rip"}


def machine(mode, code=ZIGZAG, **kw):
    m = Machine(mode=mode, memory=1 << 20, **kw)
    m.mem_write(CODE, code)
    m.reg_write("esp", STACK)
    m.reg_write("ecx", ROUNDS)
    m.reg_write(IP[mode], CODE)
    return m


def state(m):
    return tuple(m.reg_read(r) for r in (IP[m.mode], "eax", "ebx", "ecx", "edx", "esi", "eflags")) + (m.instructions,)


def execution(mode):
    """The address of each instruction the zigzag runs, one a block."""
    m = machine(mode, decode_cache=False)
    seen = []
    m.hook_add("code", lambda a, n: seen.append(a))
    assert m.run(count=1000).reason == "hlt"
    return seen


@pytest.mark.parametrize("mode", [16, 32, 64])
def test_the_jmps_are_followed(mode):
    """One block, from entry through every JMP to the JNZ and the HLT after
    it: the JNZ goes round again inside it (top is one of its instructions,
    dispatch.pxi chain_self)."""
    m = machine(mode)
    ex = m.run(count=1000)
    ref = machine(mode, decode_cache=False)
    assert ex.reason == ref.run(count=1000).reason == "hlt"
    assert state(m) == state(ref)
    assert ex.instructions == len(execution(mode)) == 4 + 9 * ROUNDS
    assert m.stats["blocks_decoded"] == 1


@pytest.mark.parametrize("mode", [16, 32, 64])
def test_count_until_and_breakpoints_stop_exactly(mode):
    total = len(execution(mode))
    for n in range(total + 1):
        a, b = machine(mode), machine(mode, decode_cache=False)
        assert a.run(count=n).reason == b.run(count=n).reason
        assert state(a) == state(b), n
        for m in (a, b):                       # and on from there in one go
            m.run(count=1000)
        assert state(a) == state(b), n
    for label, off in Z.items():
        results = set()
        for engine in ({}, {"decode_cache": False}):
            for stop in ("until", "breakpoints"):
                results.add(stops_at(machine(mode, **engine), CODE + off, stop, state, ROUNDS + 1, 1000))
        assert len(results) == 1, (label, results)


@pytest.mark.parametrize("mode", [16, 32, 64])
def test_code_hooks_see_every_instruction_and_block_hooks_the_basic_blocks(mode):
    m = machine(mode)
    seen, blocks = [], []
    m.hook_add("code", lambda a, n: seen.append(a))
    m.hook_add("block", lambda a, n: blocks.append((a - CODE, n)))
    assert m.run(count=1000).reason == "hlt"
    assert seen == execution(mode)
    # Unicorn's basic blocks: each JMP and the JNZ ends one
    loop = [(Z["b"], 6), (Z["c"], 5), (Z["d"], 4)]
    assert blocks == ([(Z["entry"], 2), (Z["start"], 8)] + loop
                      + [(Z["top"], 4)] + loop + [(Z["top"], 4)] + loop + [(Z["out"], 1)])


def test_coverage_counts_the_basic_blocks():
    m = machine(32)
    m.coverage_start()
    assert m.run(count=1000).reason == "hlt"
    assert m.coverage_counts["blocks"] == 2 + 3 * ROUNDS + (ROUNDS - 1) + 1


@pytest.mark.parametrize("mode", [32, 64])
def test_a_fault_after_a_followed_jmp_is_at_its_instruction(mode):
    # entry: inc ebx; jmp below; ...; below: inc eax; mov eax, [esi] (unmapped)
    code, lab = layout({0x00: ["below", b"\xff\xc0", b"\x8b\x06", b"\xf4"],
                        0x20: ["entry", b"\xff\xc3", ("jmp", "below")]})
    m = machine(mode, code)
    m.reg_write("esi", 0x7FF00000)
    ex = m.run(start=CODE + lab["entry"], count=100)
    assert (ex.reason, ex.address, ex.instructions) == ("unmapped", CODE + lab["below"] + 2, 3)
    assert m.reg_read("eax") == 1 and m.reg_read("ebx") == 1


def test_a_store_rewrites_code_after_a_followed_jmp():
    # start: mov byte [b + 1], 0xC0 (inc edx -> inc eax); jmp b; b: inc edx; jmp c; c: hlt
    for engine in ({}, {"decode_cache": False}):
        code, lab = layout({0x10: ["b", b"\xff\xc2", ("jmp", "c")],
                            0x40: ["start", b"\xc6\x05" + (CODE + 0x11).to_bytes(4, "little") + b"\xc0",
                                   ("jmp", "b")],
                            0x60: ["c", b"\xf4"]})
        m = machine(32, code, **engine)
        ex = m.run(start=CODE + lab["start"], count=100)
        assert (ex.reason, ex.instructions) == ("hlt", 5)
        assert (m.reg_read("eax"), m.reg_read("edx")) == (1, 0)


@pytest.mark.parametrize("writer", ["guest", "mem_write"])
def test_a_block_is_invalidated_by_stores_below_its_start(writer):
    """The block at start covers b, below it: a later store into b, by
    another block or by Machine.mem_write, drops it."""
    code, lab = layout({0x10: ["b", b"\xff\xc2", ("jmp", "c")],           # inc edx
                        0x40: ["start", b"\xff\xc3", ("jmp", "b")],        # inc ebx
                        0x60: ["c", b"\xf4"],
                        0x80: ["poke", b"\xc6\x05" + (CODE + 0x11).to_bytes(4, "little") + b"\xc0", b"\xf4"]})
    m = machine(32, code)
    assert m.run(start=CODE + lab["start"], count=100).reason == "hlt"
    assert m.stats["blocks_decoded"] == 1 and m.reg_read("edx") == 1
    if writer == "guest":
        assert m.run(start=CODE + lab["poke"], count=100).reason == "hlt"
    else:
        m.mem_write(CODE + 0x11, b"\xc0")
    assert m.run(start=CODE + lab["start"], count=100).reason == "hlt"
    assert (m.reg_read("eax"), m.reg_read("ebx"), m.reg_read("edx")) == (1, 2, 1)


def test_an_instruction_breakpoint_below_the_block_start():
    """DR0 on an instruction a followed JMP reaches backwards: #DB before it."""
    # mov eax, b; mov dr0, eax; mov eax, 2; mov dr7, eax; nop; jmp b; b: inc ebx
    arm = b"\xb8" + (CODE + 0x10).to_bytes(4, "little") + b"\x0f\x23\xc0" + b"\xb8\x02\x00\x00\x00\x0f\x23\xf8"
    code, lab = layout({0x10: ["b", b"\xff\xc3", b"\xf4"], 0x40: ["start", arm, b"\x90", ("jmp", "b")]})
    m = machine(32, code)
    ex = m.run(start=CODE + lab["start"], count=100)
    assert (ex.reason, ex.vector, ex.address, ex.instructions) == ("exception", 1, CODE + lab["b"], 6)
    assert m.reg_read("ebx") == 0


def test_jmps_to_other_pages_and_loops_end_the_block():
    # start: inc eax; jmp far (next page); far: inc ebx; jmp start2; start2: inc ecx; jmp start2 (a loop)
    code = bytearray(b"\xf4" * 0x1100)
    code[0xFF0:0xFF7] = b"\xff\xc0\xe9" + (0x1000 - 0xFF7 + 0x10).to_bytes(4, "little")
    code[0x1010:0x1014] = b"\xff\xc3\xeb\x00"
    code[0x1014:0x1018] = b"\xff\xc6\xeb\xfc"
    for engine in ({}, {"decode_cache": False}):
        m = machine(32, bytes(code), **engine)
        ex = m.run(start=CODE + 0xFF0, count=100)
        assert (ex.reason, m.reg_read("eax"), m.reg_read("ebx"), m.reg_read("esi")) == ("count", 1, 1, 48)
        if engine:
            continue
        # two blocks: the jump to the next page ends the first; the loop's
        # jump ends the second, and goes round inside it (start2 is one of
        # its instructions: dispatch.pxi chain_self)
        assert m.stats["blocks_decoded"] == 2


# main: call f (below); add eax, 1; call g (above); dec ecx; jnz main; hlt
# f: inc edx; ret    g: call f (nested); add ebx, eax; ret
CALLS, C = layout({0x10: ["f", b"\xff\xc2", b"\xc3"],
                   0x40: ["main", b"\xe8" + (0x10 - 0x45).to_bytes(4, "little", signed=True),
                          b"\x83\xc0\x01", b"\xe8" + (0x70 - 0x4D).to_bytes(4, "little", signed=True),
                          b"\xff\xc9", ("jnz", "main"), b"\xf4"],
                   0x70: ["g", b"\xe8" + (0x10 - 0x75).to_bytes(4, "little", signed=True), b"\x01\xc3", b"\xc3"]})


@pytest.mark.parametrize("mode", [32, 64])
def test_calls_are_followed_exactly(mode):
    ref = machine(mode, CALLS, decode_cache=False)
    ex = ref.run(start=CODE + C["main"], count=1000)
    assert ex.reason == "hlt" and (ref.reg_read("edx"), ref.reg_read("ebx")) == (2 * ROUNDS, ROUNDS * (ROUNDS + 1) // 2)
    m = machine(mode, CALLS)
    assert m.run(start=CODE + C["main"], count=1000).reason == "hlt"
    assert state(m) == state(ref) and m.mem_read(STACK - 32, 32) == ref.mem_read(STACK - 32, 32)
    # main: call f, inc edx, ret | add, call g, call f, inc edx, ret | add ebx, ret | dec, jnz, hlt
    assert m.stats["blocks_decoded"] == 4
    for n in range(ex.instructions + 1):
        a, b = machine(mode, CALLS), machine(mode, CALLS, decode_cache=False)
        assert a.run(start=CODE + C["main"], count=n).reason == b.run(start=CODE + C["main"], count=n).reason
        assert state(a) == state(b) and a.mem_read(STACK - 32, 32) == b.mem_read(STACK - 32, 32), n


def test_a_followed_call_whose_push_faults_is_not_retired():
    m = machine(32, CALLS)
    m.reg_write("esp", 0x7FF00000)             # unmapped: the push faults
    ex = m.run(start=CODE + C["main"], count=1000)
    assert (ex.reason, ex.address, ex.instructions) == ("unmapped", CODE + C["main"], 0)
    assert m.reg_read("esp") == 0x7FF00000


def test_a_followed_call_whose_push_rewrites_its_block_goes_on_at_the_target():
    # main: call f, with the stack's top at its own bytes (the push overwrites them)
    code, lab = layout({0x10: ["f", b"\xff\xc2", b"\xf4"],
                        0x30: ["main", b"\xe8" + (0x10 - 0x35).to_bytes(4, "little", signed=True), b"\xf4"]})
    for engine in ({}, {"decode_cache": False}):
        m = machine(32, code, **engine)
        m.reg_write("esp", CODE + 0x34)
        ex = m.run(start=CODE + lab["main"], count=100)
        assert (ex.reason, ex.address, ex.instructions) == ("hlt", CODE + lab["f"] + 2, 3)
        assert m.reg_read("edx") == 1 and m.mem_read(CODE + 0x30, 4) == (CODE + 0x35).to_bytes(4, "little")


def test_a_block_is_not_reused_where_its_ips_would_wrap():
    """Real mode: the block at 0000:7C10 jumps back to 7BF0, on its page.
    The same bytes run as 07C1:0000 jump to IP FFE0 (the 16-bit IP wraps),
    linear 17BF0: the block found by physical address must not be reused."""
    results = []
    for engine in ({}, {"decode_cache": False}):
        m = Machine(mode=16, memory=1 << 20, **engine)
        m.mem_write(0x7C10, b"\xeb" + (0x7BF0 - 0x7C12 & 0xFF).to_bytes(1, "little"))   # jmp 7BF0
        m.mem_write(0x7BF0, b"\xff\xc2\xf4")       # inc dx; hlt
        m.mem_write(0x17BF0, b"\xff\xc3\xf4")      # inc bx; hlt
        assert m.run(start=0x7C10, count=10).reason == "hlt"
        m.reg_write("cs", 0x07C1)
        assert m.run(start=0, count=10).reason == "hlt"
        results.append((m.reg_read("dx"), m.reg_read("bx"), m.reg_read("ip"), m.reg_read("cs")))
    assert results[0] == results[1] == (1, 1, 0xFFE3, 0x07C1)


def test_rip_relative_operands_below_the_block_start():
    # start: jmp b; ... b (below): lea rax, [rip]; mov rbx, [rip - 16]; hlt
    code, lab = layout({0x10: ["b", bytes.fromhex("488d0500000000"), bytes.fromhex("488b1df0ffffff"), b"\xf4"],
                        0x40: ["start", ("jmp", "b")]})
    for engine in ({}, {"decode_cache": False}):
        m = machine(64, code, **engine)
        assert m.run(start=CODE + lab["start"], count=100).reason == "hlt"
        assert m.reg_read("rax") == CODE + 0x17
        assert m.reg_read("rbx") == int.from_bytes(code[0x0E:0x16], "little")
        assert m.stats["blocks_decoded"] == (1 if not engine else 4)
