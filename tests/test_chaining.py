"""Block chaining (dispatch.pxi chain): a near branch going on to the next
block without the run loop must be invisible.  Every result is compared with
the same machine with chaining off (Machine.block_chaining = False: the same
blocks, each through the run loop) and, where the block boundaries cannot
matter, with decode_cache=False (one instruction per block): exact counts
and `until` stops inside chained loops, stop() from another thread, timer
interrupts arriving during tight loops, stores into a chained block."""
import threading

import pytest

from emu import Machine
from helpers import CODE, STACK

ENGINES = {
    "chained": dict(decode_cache=True, chaining=True),
    "unchained": dict(decode_cache=True, chaining=False),
    "uncached": dict(decode_cache=False, chaining=True),
}

# Loops (32-bit, at CODE), each made of chained blocks; ECX counts rounds.
LOOPS = {
    # one-instruction block chained to itself: loop $
    "loop_self": b"\xe2\xfe\xf4",
    # top: inc eax; dec ecx; jnz top (one block, a fused pair at its end)
    "dec_jnz": b"\x40\x49\x75\xfc\xf4",
    # call f; add edx, eax; dec ecx; jnz top; hlt; f: inc eax; ret  (2 blocks a round:
    # the call is followed, icache.pxi)
    "call_ret": b"\xe8\x06\x00\x00\x00\x01\xc2\x49\x75\xf6\xf4\x40\xc3",
    # top: inc eax; jz out (never taken: a fall-through); jmp b; hlt x4;
    # b: inc edx; dec ecx; jnz top; out: hlt  (one block a round:
    # the jmp is followed)
    "jz_jmp_jnz": b"\x40\x74\x0a\xeb\x04\xf4\xf4\xf4\xf4\x42\x49\x75\xf3\xf4",
    # top: inc eax x 70; dec ecx; jnz top: longer than a block (BLOCK_MAX, 64),
    # so the first block ends without a branch and its end marker chains
    "long_body": b"\x40" * 70 + b"\x49\x75" + bytes([-73 & 0xFF]) + b"\xf4",
}


def machine(engine, code, ecx=1000):
    e = ENGINES[engine]
    m = Machine(mode=32, memory=1 << 20, decode_cache=e["decode_cache"])
    m.block_chaining = e["chaining"]
    m.mem_write(CODE, code)
    m.reg_write("esp", STACK)
    m.reg_write("ecx", ecx)
    m.reg_write("eip", CODE)
    return m


def state(m):
    return tuple(m.reg_read(r) for r in ("eip", "eax", "ecx", "edx", "esp", "eflags")) + (m.instructions,)


def test_chaining_happens_and_can_be_turned_off():
    m = machine("chained", LOOPS["call_ret"])
    assert m.block_chaining
    assert m.run(count=100_000).reason == "hlt"
    assert m.stats["blocks_chained"] > 1990
    m = machine("unchained", LOOPS["call_ret"])
    assert not m.block_chaining
    assert m.run(count=100_000).reason == "hlt"
    assert m.stats["blocks_chained"] == 0


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_count_stops_exactly_inside_chained_loops(name):
    """run(count=n) for every n up to a few rounds, and a long run taken in
    slices of odd sizes: the same state in every engine."""
    for n in list(range(0, 40)) + [97, 1000, 2999]:
        results = set()
        for engine in ENGINES:
            m = machine(engine, LOOPS[name])
            ex = m.run(count=n)
            results.add((ex.reason, ex.instructions, ex.address) + state(m))
        assert len(results) == 1, (n, results)
    for engine in ENGINES:
        m = machine(engine, LOOPS[name], ecx=5000)
        trace = []
        while True:
            ex = m.run(count=37)
            trace.append((ex.reason, ex.instructions) + state(m))
            if ex.reason != "count":
                break
        if engine == "chained":
            reference = trace
        assert trace == reference


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_until_stops_exactly_inside_chained_loops(name):
    code = LOOPS[name]
    for target in range(CODE, CODE + len(code) - 1):
        results = set()
        for engine in ENGINES:
            m = machine(engine, code, ecx=50)
            stops = []
            for _ in range(5):
                ex = m.run(until=target, count=10_000)
                stops.append((ex.reason, ex.instructions) + state(m))
                if ex.reason != "until":
                    break
                m.run(count=1)          # step off the address
            results.add(tuple(stops))
        assert len(results) == 1, (hex(target), results)


def test_stop_from_another_thread_while_blocks_chain():
    """stop() lands while a block (two joined by a followed JMP) chains to
    itself for ever; the run ends with 'stop' at a block boundary, with state
    and counts consistent (checked by replaying the same number of
    instructions unchained)."""
    code = b"\x40\xeb\x01\xf4\x42\xeb\xf9"      # top: inc eax; jmp b; hlt; b: inc edx; jmp top
    m = machine("chained", code)
    t = threading.Timer(0.2, m.stop)
    t.start()
    ex = m.run()
    t.join()
    assert ex.reason == "stop" and ex.instructions > 10_000
    assert m.stats["blocks_chained"] > 1000
    ref = machine("uncached", code)
    assert ref.run(count=ex.instructions).reason == "count"
    assert state(ref) == state(m)
    assert m.reg_read("eax") + m.reg_read("edx") == ex.instructions // 2
    # and it goes on from there as if nothing happened
    assert m.run(count=1001).reason == "count" and ref.run(count=1001).reason == "count"
    assert state(ref) == state(m)


# The timer guest: its own GDT and IDT, the PIC remapped to 0x20 with only
# IRQ 0 unmasked, the PIT (channel 0, mode 2) at a reload of 49, then a loop
# of ECX = 20000 rounds (EBX picks it: 0 `loop $`, 1 inc/dec/jnz, 2 a call
# and a ret) with interrupts on, then CLI; HLT.  The IRQ 0 handler logs ECX
# and the interrupted EIP at 0x6004 + 8 * n (n at 0x6000), sends EOI and
# IRETs.  Source (GNU as, .code32, loaded at 0x1000) in the test's history:
# lgdt; lidt; ljmp 8:1f; 1: data segments, esp = 0xF000; ICW1-4, OCW1 0xFE;
# out 0x43, 0x34; out 0x40, 0x31; out 0x40, 0; xor eax, eax; xor edx, edx;
# mov ecx, 20000; sti; the loops; done: cli; hlt; func: inc eax; ret; irq0.
TIMER_GUEST = bytes.fromhex(
    "0f0115b01000000f011db8100000ea15100000080066b810008ed88ec08ed0bc00f00000"
    "b011e620b020e621b004e621b001e621b0fee621b034e643b031e640b000e64031c031d2"
    "b9204e0000fb83fb01740983fb02740ae2feeb10404975fceb0ae80700000001c24975f6"
    "faf440c35053a1006000008b5c2408890cc504600000891cc508600000ff0500600000b0"
    "20e6205b58cf66900000000000000000ffff0000009acf00ffff00000092cf0017009810"
    "00006690070100300000")
IRQ0 = 0x1070


def timer_run(engine, body):
    e = ENGINES[engine]
    m = Machine(mode=32, memory=1 << 20, decode_cache=e["decode_cache"])
    m.block_chaining = e["chaining"]
    m.mem_write(0x1000, TIMER_GUEST)
    gate = (IRQ0 & 0xFFFF) | (0x08 << 16) | (0x8E << 40) | ((IRQ0 >> 16) << 48)
    m.mem_write(0x3000 + 0x20 * 8, gate.to_bytes(8, "little"))
    m.reg_write("ebx", body)
    ex = m.run(start=0x1000, count=1_000_000)
    n = int.from_bytes(m.mem_read(0x6000, 4), "little")
    raw = m.mem_read(0x6004, 8 * n)
    log = [(int.from_bytes(raw[8 * k:8 * k + 4], "little"), int.from_bytes(raw[8 * k + 4:8 * k + 8], "little"))
           for k in range(n)]
    return ex, log, state(m), m.stats["blocks_chained"]


@pytest.mark.parametrize("body", [0, 1, 2])
def test_timer_interrupts_during_chained_loops_match_the_run_loop(body):
    ex, log, st, chained = timer_run("chained", body)
    assert ex.reason == "hlt" and len(log) >= 3
    assert chained > 1000
    # (Not against decode_cache=False: the set-up code arms the PIT in the
    # middle of a block, where virtual time is that of the block's start.)
    ex2, log2, st2, _ = timer_run("unchained", body)
    assert (ex.instructions, log, st) == (ex2.instructions, log2, st2)


def test_store_into_a_chained_block_is_seen_at_once():
    """Each round rewrites the immediate of `add edx, imm8` in the other
    block of the loop (a store into code the branch chains to)."""
    # top: inc eax; mov [patch], al; jmp b; b: add edx, imm8 (patch); dec ecx; jnz top; hlt
    patch = CODE + 13
    code = (b"\x40" + b"\xa2" + patch.to_bytes(4, "little") + b"\xeb\x03" + b"\xf4\xf4\xf4"
            + b"\x83\xc2\x00" + b"\x49\x75\xef\xf4")
    assert code[13] == 0 and code[12] == 0xC2
    results = set()
    for engine in ENGINES:
        m = machine(engine, code, ecx=300)
        ex = m.run(count=100_000)
        results.add((ex.reason, ex.instructions) + state(m))
    assert len(results) == 1, results
    reason, _, _, eax, _, edx = next(iter(results))[:6]
    def sext8(v):
        return (v & 0xFF) - ((v & 0x80) << 1)
    assert reason == "hlt" and eax == 300 and edx == sum(sext8(k) for k in range(1, 301)) & 0xFFFFFFFF


# A guest that unmasks the event upcall with a plain store inside a chained
# loop: the upcall (vector 0x30, pending set by the host) must arrive at the
# same block boundary as through the run loop.  Its handler logs ECX and the
# interrupted EIP like the timer guest's (and leaves the upcall masked).
# lgdt; lidt; ljmp 8:1f; 1: data segments, esp = 0xF000; xor eax, eax;
# mov ecx, 20000; body: inc eax; cmp eax, 3000; jne 2f; mov byte [0x7001], 0;
# 2: dec ecx; jnz body; hlt; handler.
UPCALL_GUEST = bytes.fromhex(
    "0f0115781000000f011d80100000ea15100000080066b810008ed88ec08ed0bc00f0000"
    "031c0b9204e0000403db80b00007507c60501700000004975eef45053a1006000008b5c"
    "2408890cc504600000891cc508600000ff05006000005b58cf0000000000000000ffff00"
    "00009acf00ffff00000092cf001700601000006690870100300000")
UPCALL_HANDLER = 0x103E


@pytest.mark.parametrize("engine", ["chained", "unchained"])
def test_upcall_unmasked_inside_a_chained_loop(engine):
    e = ENGINES[engine]
    m = Machine(mode=32, memory=1 << 20, decode_cache=e["decode_cache"])
    m.block_chaining = e["chaining"]
    m.mem_write(0x1000, UPCALL_GUEST)
    gate = (UPCALL_HANDLER & 0xFFFF) | (0x08 << 16) | (0x8E << 40)
    m.mem_write(0x3000 + 0x30 * 8, gate.to_bytes(8, "little"))
    m.mem_write(0x7000, b"\x01\x01")                  # upcall pending, masked
    m.set_shared_info(0x7000, upcall_vector=0x30)
    ex = m.run(start=0x1000, count=1_000_000)
    assert ex.reason == "hlt" and m.pv_counters["upcalls"] == 1
    raw = m.mem_read(0x6000, 12)
    assert int.from_bytes(raw[0:4], "little") == 1
    # taken after the block with the store: at the top of the loop again
    assert int.from_bytes(raw[4:8], "little") == 20000 - 3000
    assert int.from_bytes(raw[8:12], "little") == 0x102B
    assert ex.instructions == 10 + 5 * 20000 + 1 + 10 + 1    # set-up, rounds, the store, handler, hlt
