"""Side exits and back edges (icache.pxi build_block, dispatch.pxi
chain_self): a Jcc, LOOP or JrCXZ not taken goes on in its block, and a
branch to its block's own start, or to another of its instructions, runs
that block again from there without a lookup.  Neither may be visible: counts, `until`, breakpoints, single-step,
self-modifying code, hooks and coverage behave as with one instruction a
block (decode_cache=False), in 16-, 32- and 64-bit code.  (Timer
interrupts arriving in such loops: test_chaining.py's timer guest, whose
`loop $` and inc/dec/jnz loops branch back to their block's start.)"""
import pytest

from emu import Machine
from helpers import CODE, STACK, TF, stops_at

IP = {16: "ip", 32: "eip", 64: "rip"}

# The same bytes in every mode (16-bit: ax, cx, dx, bx).
# top: inc eax; test al, 1; jnz odd (a side exit); inc edx;
# odd: add ebx, eax; dec ecx; jecxz out (a side exit); jmp top (back to the
# block's start); out: hlt
SIDE = bytes.fromhex("ffc0" "a801" "7502" "ffc2" "01c3" "ffc9" "e302" "ebf0" "f4")
SIDE_INSNS = [0, 2, 4, 6, 8, 10, 12, 14, 16]
# top: inc eax; loop top (back to the start, else on in the block); inc edx;
# cmp edx, 3; je out (a side exit); mov ecx, esi; jmp top; out: hlt
LOOPS = bytes.fromhex("ffc0" "e2fc" "ffc2" "83fa03" "7404" "89f1" "ebf1" "f4")
LOOPS_INSNS = [0, 2, 4, 6, 9, 11, 13, 15]
# xor edi, edi; top: inc ebx; test bl, 1; jnz skip (over one instruction of
# its block); inc ebp; skip: rdtsc (reads the count mid-block); add edi, eax;
# dec ecx; jnz top (back into its block, not to its start); hlt
INNER = bytes.fromhex("31ff" "ffc3" "f6c301" "7502" "ffc5" "0f31" "01c7" "ffc9" "75ef" "f4")
INNER_INSNS = [0, 2, 4, 7, 9, 11, 13, 15, 17, 19]
PROGRAMS = {"side": (SIDE, SIDE_INSNS), "loops": (LOOPS, LOOPS_INSNS), "inner": (INNER, INNER_INSNS)}
BRANCHES = {"side": {4, 12, 14}, "loops": {2, 9, 13}, "inner": {7, 17}}


def machine(mode, name, **kw):
    m = Machine(mode=mode, memory=1 << 20, **kw)
    m.mem_write(CODE, PROGRAMS[name][0])
    m.reg_write("esp", STACK)
    m.reg_write("ecx", 7)
    m.reg_write("esi", 4)
    m.reg_write(IP[mode], CODE)
    return m


def state(m):
    return (tuple(m.reg_read(r) for r in (IP[m.mode], "eax", "ebx", "ecx", "edx", "eflags"))
            + (m.instructions,))


def execution(mode, name):
    """The address of each instruction the program runs, one a block."""
    m = machine(mode, name, decode_cache=False)
    seen = []
    m.hook_add("code", lambda a, n: seen.append(a - CODE))
    assert m.run(count=10_000).reason == "hlt"
    return seen


@pytest.mark.parametrize("mode", [16, 32, 64])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_one_block_runs_the_whole_loop(mode, name):
    """Every round is the one block, entered again from its own end (side's
    jnz odd goes on in it too: odd is never a block of its own)."""
    m = machine(mode, name)
    ex = m.run(count=10_000)
    ref = machine(mode, name, decode_cache=False)
    assert ex.reason == ref.run(count=10_000).reason == "hlt"
    assert state(m) == state(ref)
    assert ex.instructions == len(execution(mode, name))
    assert m.stats["blocks_decoded"] == (1 if name == "inner" else 2)   # top, out (inner: its hlt too)
    assert m.stats["blocks_chained"] >= 5


@pytest.mark.parametrize("mode", [16, 32, 64])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_count_stops_exactly_and_goes_on(mode, name):
    total = len(execution(mode, name))
    for n in range(total + 1):
        a, b = machine(mode, name), machine(mode, name, decode_cache=False)
        assert a.run(count=n).reason == b.run(count=n).reason
        assert state(a) == state(b), n
        for m in (a, b):
            m.run(count=10_000)
        assert state(a) == state(b), n


@pytest.mark.parametrize("mode", [16, 32, 64])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_until_and_breakpoints_past_a_side_exit(mode, name):
    """A stop at each instruction (after the side exits too), round after round."""
    for off in PROGRAMS[name][1]:
        results = set()
        for engine in ({}, {"decode_cache": False}):
            for stop in ("until", "breakpoints"):
                results.add(stops_at(machine(mode, name, **engine), CODE + off, stop, state, 12))
        assert len(results) == 1, (off, results)


@pytest.mark.parametrize("mode", [32, 64])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_single_step_traps_after_each_instruction(mode, name):
    """TF set, no IDT: a #DB trap after every instruction, at the next one."""
    m = machine(mode, name)
    m.reg_write("eflags", m.reg_read("eflags") | TF)
    seen = []
    for _ in range(1000):
        ex = m.run(count=10_000)
        if ex.reason == "hlt":
            break
        assert (ex.reason, ex.vector) == ("exception", 1)
        seen.append(m.reg_read(IP[mode]) - CODE)
    assert seen == execution(mode, name)[1:]


def basic_blocks(mode, name):
    """(start, size) of the basic blocks run: each branch ends one."""
    code, insns = PROGRAMS[name]
    ends = {a: (insns + [len(code)])[k + 1] for k, a in enumerate(insns)}
    blocks, start = [], None
    for a in execution(mode, name):
        if start is None:
            start = a
        if a in BRANCHES[name] or code[a] == 0xF4:
            blocks.append((start, ends[a] - start))
            start = None
    return blocks


@pytest.mark.parametrize("mode", [16, 32, 64])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_block_hooks_and_coverage_see_the_basic_blocks(mode, name):
    m = machine(mode, name)
    seen, blocks = [], []
    m.hook_add("code", lambda a, n: seen.append(a - CODE))
    m.hook_add("block", lambda a, n: blocks.append((a - CODE, n)))
    assert m.run(count=10_000).reason == "hlt"
    assert seen == execution(mode, name)
    assert blocks == basic_blocks(mode, name)
    m = machine(mode, name)
    m.coverage_start()
    assert m.run(count=10_000).reason == "hlt"
    assert m.coverage_counts["blocks"] == len(basic_blocks(mode, name))


# top: inc eax; test al, 1; jnz skip (a side exit); mov [patch], al;
# skip: add edx, imm8 (patch: the imm8); dec ecx; jnz top; hlt.  On even
# rounds a store rewrites the block it is in, after its side exit.
PATCH = CODE + 15
SMC = (bytes.fromhex("ffc0" "a801" "7507") + b"\x88\x04\x25" + PATCH.to_bytes(4, "little")
       + bytes.fromhex("83c200" "ffc9" "75ec" "f4"))


@pytest.mark.parametrize("mode", [32, 64])
def test_a_store_rewrites_its_block_after_a_side_exit(mode):
    def run(n, **kw):
        m = Machine(mode=mode, memory=1 << 20, **kw)
        m.mem_write(CODE, SMC)
        m.reg_write("esp", STACK)
        m.reg_write("ecx", 9)
        m.reg_write(IP[mode], CODE)
        ex = m.run(count=n)
        return m, (ex.reason,) + state(m)
    m, end = run(1000)
    assert end == run(1000, decode_cache=False)[1]
    assert end[0] == "hlt"
    # rounds 1..9 add the last even eax stored (round 2k stores it first): 0, 2, 2, 4, 4, ...
    assert m.reg_read("edx") == 0 + 2 + 2 + 4 + 4 + 6 + 6 + 8 + 8
    assert m.stats["smc_invalidations"] >= 4
    for n in range(0, 70):
        assert run(n)[1] == run(n, decode_cache=False)[1], n


def test_a_16_bit_branch_back_to_the_start_in_32_bit_code_wraps():
    """`jnz` with an operand-size prefix at 0x11000 goes to 0x1000 (its
    target less 64 KiB: the IP is 16 bits wide for it), not to its own
    block's start."""
    for engine in ({}, {"decode_cache": False}):
        m = Machine(mode=32, memory=1 << 20, **engine)
        m.mem_write(0x11000, bytes.fromhex("ffc9" "6675fb" "f4"))   # top: dec ecx; jnz16 top; hlt
        m.mem_write(0x1000, bytes.fromhex("ffc2" "f4"))             # inc edx; hlt
        m.reg_write("ecx", 3)
        ex = m.run(start=0x11000, count=100)
        assert (ex.reason, ex.address, ex.instructions) == ("hlt", 0x1002, 4)
        assert (m.reg_read("ecx"), m.reg_read("edx")) == (2, 1)


def test_a_32_bit_branch_back_to_the_start_in_real_mode():
    """The same with the operand size 32 in 16-bit code: its own block's start."""
    results = set()
    for engine in ({}, {"decode_cache": False}):
        m = Machine(mode=16, memory=1 << 20, **engine)
        m.mem_write(CODE, bytes.fromhex("ffc0" "6675fb" "f4"))     # top: inc ax; jnz32 top; hlt
        m.reg_write("ax", 0xFFF0)
        m.reg_write("ip", CODE)
        ex = m.run(count=1000)
        results.add((ex.reason, ex.address, ex.instructions, m.reg_read("ax")))
        if engine:
            assert m.stats["blocks_chained"] == 0
        else:
            assert m.stats["blocks_decoded"] == 1 and m.stats["blocks_chained"] == 15
    assert results == {("hlt", CODE + 5, 2 * 16 + 1, 0)}
