"""The host-CPU oracle (emu.fuzz.host): native execution of cases in a
sandboxed child process.  Everything that needs the CPU skips cleanly where
the oracle is unavailable (not x86-64 Linux, extension not built, ...)."""
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

try:
    import emu.fuzz.case  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emu.fuzz.case import CODE_BASE, DATA_BASE, DATA_SIZE, STACK_TOP, Case, gpr_names
from emu.fuzz import host
from emu.fuzz.host import HostOracle, available, excluded_reason

OK, WHY = available(probe=True)
needs_cpu = pytest.mark.skipif(not OK, reason=f"host oracle unavailable: {WHY}")

CF, PF, AF, ZF, SF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x400, 0x800
ARITH = CF | PF | AF | ZF | SF | OF


@pytest.fixture(scope="module")
def oracle():
    if not OK:
        pytest.skip(f"host oracle unavailable: {WHY}")
    with HostOracle() as o:
        yield o


@pytest.fixture(scope="module")
def stepper():
    if not OK:
        pytest.skip(f"host oracle unavailable: {WHY}")
    with HostOracle(step=True) as o:
        yield o


def add_flags(a, b, bits):
    """The architectural ADD result and flags, computed independently."""
    mask = (1 << bits) - 1
    full = a + b
    res = full & mask
    top = 1 << (bits - 1)
    f = 0
    if full > mask:
        f |= CF
    if bin(res & 0xFF).count("1") % 2 == 0:
        f |= PF
    if (a ^ b ^ res) & 0x10:
        f |= AF
    if res == 0:
        f |= ZF
    if res & top:
        f |= SF
    if (a ^ res) & (b ^ res) & top:
        f |= OF
    return res, f


ADD_INPUTS = [(0, 0), (1, 2), (0xFFFFFFFF, 1), (0x7FFFFFFF, 1), (0x80000000, 0x80000000),
              (0x0F, 0x01), (0x12345678, 0x9ABCDEF0), (0xFFFFFFFF, 0xFFFFFFFF), (0x80, 0x80)]


# ---------------------------------------------------------------------------
# architectural results

@needs_cpu
@pytest.mark.parametrize("mode", [32, 64])
def test_add_eax_ebx_flags(oracle, mode):
    a_name, b_name = ("eax", "ebx") if mode == 32 else ("rax", "rbx")
    cases = [Case(mode=mode, code=bytes.fromhex("01d8"),  # add eax, ebx
                  regs={a_name: a, b_name: b, "eflags": ARITH})  # flags all set on entry
             for a, b in ADD_INPUTS]
    for (a, b), r in zip(ADD_INPUTS, oracle.run_many(cases)):
        res, flags = add_flags(a, b, 32)
        assert r.oracle_error is None and r.vector is None
        assert r.regs[a_name] == res          # (in 64-bit mode: zero-extended)
        assert r.regs[b_name] == b
        assert r.regs["eflags"] & ARITH == flags, (hex(a), hex(b))
        assert r.regs["rip" if mode == 64 else "eip"] == CODE_BASE + 2
        assert set(r.regs) == set(gpr_names(mode)) | {"eflags", "rip" if mode == 64 else "eip"}


@needs_cpu
def test_add_rax_rbx_64bit_flags(oracle):
    rng = random.Random(7)
    pairs = [(rng.getrandbits(64), rng.getrandbits(64)) for _ in range(50)]
    pairs += [(2**64 - 1, 1), (2**63 - 1, 1), (2**63, 2**63)]
    results = oracle.run_many([Case(mode=64, code=bytes.fromhex("4801d8"), regs={"rax": a, "rbx": b})
                               for a, b in pairs])
    for (a, b), r in zip(pairs, results):
        res, flags = add_flags(a, b, 64)
        assert (r.regs["rax"], r.regs["eflags"] & ARITH) == (res, flags)


@needs_cpu
@pytest.mark.parametrize("mode", [32, 64])
def test_initial_flags_are_loaded(oracle, mode):
    acc = "eax" if mode == 32 else "rax"
    # adc eax, 0 : adds the incoming CF
    r0, r1 = oracle.run_many([Case(mode=mode, code=bytes.fromhex("83d000"), regs={acc: 5, "eflags": f})
                              for f in (0, CF)])
    assert (r0.regs[acc], r1.regs[acc]) == (5, 6)
    # lodsb walks down with DF=1 and up with DF=0; DF is reported back
    si = "esi" if mode == 32 else "rsi"
    up, down = oracle.run_many([Case(mode=mode, code=b"\xac", regs={si: DATA_BASE + 8, "eflags": f},
                                     data=bytes(range(16))) for f in (0, DF)])
    assert (up.regs[si], up.regs[acc] & 0xFF, up.regs["eflags"] & DF) == (DATA_BASE + 9, 8, 0)
    assert (down.regs[si], down.regs[acc] & 0xFF, down.regs["eflags"] & DF) == (DATA_BASE + 7, 8, DF)


@needs_cpu
def test_32bit_mode_really_is_32bit(oracle):
    # 0x40 is INC EAX in 32-bit mode (a REX prefix in 64-bit mode)
    r = oracle.run(Case(mode=32, code=b"\x40", regs={"eax": 0xFFFFFFFF}))
    assert r.regs["eax"] == 0 and r.regs["eflags"] & ZF and r.regs["eip"] == CODE_BASE + 1
    r = oracle.run(Case(mode=32, code=b"\x48", regs={"eax": 0}))  # DEC EAX
    assert r.regs["eax"] == 0xFFFFFFFF and r.regs["eflags"] & SF
    # 40 01 d8 in 64-bit mode: REX + add eax, ebx
    r = oracle.run(Case(mode=64, code=b"\x40\x01\xd8", regs={"rax": 1, "rbx": 2}))
    assert r.regs["rax"] == 3 and r.regs["rip"] == CODE_BASE + 3
    # push/pop are 4 bytes in 32-bit mode, 8 in 64-bit mode
    r = oracle.run(Case(mode=32, code=b"\x50\x5b", regs={"eax": 0x11223344, "esp": STACK_TOP}))
    assert r.regs["esp"] == STACK_TOP and r.regs["ebx"] == 0x11223344
    r = oracle.run(Case(mode=32, code=b"\x50", regs={"eax": 0x11223344, "esp": STACK_TOP}))
    off = STACK_TOP - 4 - DATA_BASE
    assert r.regs["esp"] == STACK_TOP - 4
    assert r.data[off:off + 8] == bytes.fromhex("4433221100000000")
    r = oracle.run(Case(mode=64, code=b"\x50", regs={"rax": 0x1122334455667788, "rsp": STACK_TOP}))
    off = STACK_TOP - 8 - DATA_BASE
    assert r.regs["rsp"] == STACK_TOP - 8
    assert r.data[off:off + 8] == (0x1122334455667788).to_bytes(8, "little")
    # a 32-bit address wraps at 4 GiB: [eax+0x10] with eax = -0x10 + DATA_BASE... stays 32-bit
    r = oracle.run(Case(mode=32, code=bytes.fromhex("8b4010"), regs={"eax": DATA_BASE - 0x10},
                        data=b"\x78\x56\x34\x12"))
    assert r.regs["eax"] == 0x12345678


@needs_cpu
def test_memory_is_reset_and_returned(oracle):
    # mov [rax], rbx ; the scratch area comes back whole, with the write in it
    data = bytes(range(256)) * 4
    w, fresh = oracle.run_many([
        Case(mode=64, code=bytes.fromhex("488918"), regs={"rax": DATA_BASE + 0x5000, "rbx": 0x0102030405060708},
             data=data),
        Case(mode=64, code=b"\x90", data=b"\xAA"),
    ])
    assert len(w.data) == DATA_SIZE and len(fresh.data) == DATA_SIZE
    assert w.data[:len(data)] == data
    assert w.data[0x5000:0x5008] == bytes.fromhex("0807060504030201")
    assert w.data[len(data):0x5000] == bytes(0x5000 - len(data))
    # the next case starts from its own data, zero-padded: no trace of the write
    assert fresh.data == b"\xAA" + bytes(DATA_SIZE - 1)


# ---------------------------------------------------------------------------
# exceptions

@needs_cpu
@pytest.mark.parametrize("mode", [32, 64])
def test_divide_by_zero_is_de_at_the_div(oracle, mode):
    r = oracle.run(Case(mode=mode, code=bytes.fromhex("90 90 f7f1 90"), regs={"eax" if mode == 32 else "rax": 7}))
    assert r.oracle_error is None
    assert r.vector == 0
    assert r.regs["eip" if mode == 32 else "rip"] == CODE_BASE + 2


@needs_cpu
@pytest.mark.parametrize("mode", [32, 64])
def test_ud2_is_ud(oracle, mode):
    r = oracle.run(Case(mode=mode, code=bytes.fromhex("90 0f0b 90")))
    assert r.vector == 6 and r.regs["eip" if mode == 32 else "rip"] == CODE_BASE + 1


@needs_cpu
def test_unmapped_and_noncanonical_accesses(oracle):
    load_unmapped, fetch_unmapped, write_unmapped, noncanon, int3 = oracle.run_many([
        Case(mode=64, code=bytes.fromhex("90 488b00"), regs={"rax": 0x12345678}),
        Case(mode=64, code=bytes.fromhex("ffe0"), regs={"rax": 0x300000}),
        Case(mode=32, code=bytes.fromhex("8918"), regs={"eax": 0x1000}),
        Case(mode=64, code=bytes.fromhex("488b00"), regs={"rax": 0x8000000000000000}),
        Case(mode=64, code=bytes.fromhex("90 90 cc 90")),
    ])
    assert (load_unmapped.vector, load_unmapped.regs["rip"]) == (-1, CODE_BASE + 1)
    assert (fetch_unmapped.vector, fetch_unmapped.regs["rip"]) == (-1, 0x300000)
    assert (write_unmapped.vector, write_unmapped.regs["eip"]) == (-1, CODE_BASE)
    assert (noncanon.vector, noncanon.regs["rip"]) == (13, CODE_BASE)
    assert (int3.vector, int3.regs["rip"]) == (3, CODE_BASE + 3)    # a trap: after the CC


@needs_cpu
def test_end_reached_through_jumps_and_a_full_page(oracle):
    # jmp over junk to the end; a full 4096-byte code page ends at the page end
    r1, r2 = oracle.run_many([
        Case(mode=64, code=bytes.fromhex("eb02 0f0b")),
        Case(mode=32, code=b"\x40" * 4096),
    ])
    assert (r1.vector, r1.regs["rip"]) == (None, CODE_BASE + 4)
    assert (r2.vector, r2.regs["eip"], r2.regs["eax"]) == (None, CODE_BASE + 4096, 4096)


# ---------------------------------------------------------------------------
# robustness: the child survives bad cases, and the parent survives the child

@needs_cpu
def test_stack_smash_and_wild_jumps_do_not_kill_anything(oracle):
    before = oracle.restarts
    bad = [
        Case(mode=64, code=bytes.fromhex("4831e4 50 50 c3")),           # rsp = 0; push
        Case(mode=64, code=b"\xc3", regs={"rsp": STACK_TOP},             # ret to a wild address
             data=bytes(STACK_TOP - DATA_BASE) + (0xDEADBEEF000).to_bytes(8, "little")),
        Case(mode=32, code=b"\xc3", regs={"esp": 0xFFFFFFF0}),          # ret with esp unmapped
        Case(mode=64, code=bytes.fromhex("ffe0"), regs={"rax": 0x7FFFFFFFF000}),
        Case(mode=64, code=bytes.fromhex("ffe0"), regs={"rax": 0xFFFF800000000000}),
        Case(mode=32, code=bytes.fromhex("ffe0"), regs={"eax": 0xFFFFF000}),
        Case(mode=64, code=bytes.fromhex("48c7c400102000 e8fbffffff")),  # recurse until the stack runs out
    ]
    results = oracle.run_many(bad + [Case(mode=64, code=bytes.fromhex("4801d8"), regs={"rax": 1, "rbx": 2})])
    for r in results[:-1]:
        assert r.oracle_error is None and r.vector in (-1, 13), r
    assert results[-1].regs["rax"] == 3 and results[-1].vector is None
    assert oracle.restarts == before  # survived without a restart


@needs_cpu
@pytest.mark.parametrize("step", [False, True])
@pytest.mark.parametrize("mode", [32, 64])
def test_flags_a_case_leaves_do_not_leak(mode, step):
    # popf with NT | ID | AC | DF | TF: sigreturn keeps NT and ID for the
    # harness, and NT=1 would make the next entry (IRETQ) fault
    sp = "rsp" if mode == 64 else "esp"
    width = mode // 8
    image = 0x4000 | 0x200000 | 0x40000 | DF | CF
    popf = Case(mode=mode, code=b"\x9d", regs={sp: STACK_TOP},
                data=bytes(STACK_TOP - DATA_BASE) + image.to_bytes(width, "little"))
    add = Case(mode=mode, code=b"\x01\xd8", regs={"eax" if mode == 32 else "rax": 1, "ebx" if mode == 32 else "rbx": 2})
    with HostOracle(step=step) as o:
        results = o.run_many([popf, add, popf, add, add])
        assert o.restarts == 0
    assert results[0].regs["eflags"] & (0x4000 | 0x200000 | 0x40000 | DF | CF) == image
    for r in results[1::2] + results[4:]:
        assert r.oracle_error is None and r.vector is None
        assert r.regs["eflags"] == 0x6 and r.regs["eax" if mode == 32 else "rax"] == 3


@needs_cpu
def test_corrupted_harness_restarts_the_child():
    with HostOracle() as o:
        pid = o.pid
        # overwrite the harness's saved stack pointer: the child can only die
        evil = Case(mode=64, code=bytes.fromhex("488918"), regs={"rax": o.info["saved_rsp"], "rbx": 0x1234})
        good = [Case(mode=64, code=bytes.fromhex("4801d8"), regs={"rax": i, "rbx": 1}) for i in range(20)]
        results = o.run_many(good[:10] + [evil] + good[10:])
        assert [r.regs["rax"] for r in results[:10]] == list(range(1, 11))
        assert results[10].oracle_error and results[10].oracle_error.startswith("crash")
        assert [r.regs["rax"] for r in results[11:]] == list(range(11, 21))
        assert o.restarts == 1 and o.pid != pid


@needs_cpu
def test_child_killed_while_idle_is_replaced():
    with HostOracle() as o:
        pid = o.pid
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        r = o.run(Case(mode=32, code=b"\x40"))
        assert r.oracle_error is None and r.regs["eax"] == 1
        assert o.pid != pid


@needs_cpu
def test_unresponsive_child_times_out():
    with HostOracle(timeout=1.0) as o:
        os.kill(o.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        r1, r2 = o.run_many([Case(mode=64, code=b"\x90"), Case(mode=64, code=b"\x90\x90")])
        assert time.monotonic() - t0 < 10
        assert r1.oracle_error and "stopped answering" in r1.oracle_error
        assert r2.oracle_error is None and r2.regs["rip"] == CODE_BASE + 2
        assert o.restarts == 1


@needs_cpu
@pytest.mark.parametrize("mode", [32, 64])
def test_infinite_loop_is_a_bounded_oracle_error(oracle, mode):
    t0 = time.monotonic()
    r, after = oracle.run_many([Case(mode=mode, code=bytes.fromhex("ebfe")),   # jmp $
                                Case(mode=mode, code=b"\x90")])
    assert time.monotonic() - t0 < 5
    assert r.oracle_error and r.oracle_error.startswith("hang")
    assert after.oracle_error is None and after.vector is None


@needs_cpu
def test_timer_interruptions_do_not_disturb_the_case():
    # 32-bit "add eax, ecx; loop" for up to a few hundred ms of CPU: the hang
    # timer's 2 ms ticks interrupt the longer ones (returning into
    # compatibility mode) or, after two ticks, abandon them.  Which ones is up
    # to the CPU's speed, so the assertion is per case: exact or a hang.  The
    # anchors are certain: 1000 iterations (a few microseconds) cannot span two
    # ticks and finish; "jmp $" hangs.
    sizes = [1000, 2_000_000, 5_000_000, 10_000_000, 20_000_000, 40_000_000, 80_000_000] * 4
    cases = [Case(mode=32, code=bytes.fromhex("01c8 e2fc"), regs={"ecx": n}) for n in sizes]
    with HostOracle(tick_ms=2) as o:
        results = o.run_many(cases + [Case(mode=32, code=bytes.fromhex("ebfe"))])
    for n, r in zip(sizes, results):
        if r.oracle_error:
            assert n > 1000 and r.oracle_error.startswith("hang"), (n, r.oracle_error)
        else:
            assert r.regs["eax"] == (n * (n + 1) // 2) & 0xFFFFFFFF and r.regs["ecx"] == 0
    assert results[-1].oracle_error.startswith("hang")


# ---------------------------------------------------------------------------
# exclusions and the sandbox

EXCLUDED = {
    "syscall": (64, "0f05"), "sysenter": (32, "0f34"), "int 0x80": (32, "cd80"),
    "in": (64, "e460"), "out dx": (32, "ee"), "hlt": (64, "f4"), "cli": (32, "fa"), "sti": (64, "fb"),
    "rdtsc": (64, "0f31"), "rdtscp": (64, "0f01f9"), "rdrand": (64, "0fc7f0"), "rdseed": (32, "0fc7f8"),
    "cpuid": (32, "0fa2"), "mov ds": (32, "8ed8"), "mov r,ss": (64, "8cd0"), "pop es": (32, "07"),
    "lds": (32, "c5060000"), "lss": (64, "0fb200"), "push fs": (64, "0fa0"), "fs:": (64, "648b00"),
    "gs:": (32, "658b00"), "far jmp": (32, "ea000010002300"), "far call m": (64, "ff18"),
    "retf": (64, "cb"), "iret": (32, "cf"), "wrfsbase": (64, "f3480faed0"), "xgetbv": (64, "0f01d0"),
    "66 jmp": (64, "66eb00"),
    "after a jump": (64, "eb01 cc 0f05"),     # reached only through the jmp's target
}


@pytest.mark.parametrize("name", sorted(EXCLUDED))
def test_excluded_instructions(name):
    mode, hexcode = EXCLUDED[name]
    code = bytes.fromhex(hexcode)
    why = excluded_reason(Case(mode=mode, code=code))
    assert why and why.startswith("excluded:"), name


ALLOWED = {
    "alu": (64, "4801d8 4829c8 48f7e3"), "int3": (64, "cc"), "ud2": (32, "0f0b"), "andn (VEX)": (64, "c4e260f2c1"),
    "les-looking VEX in 64": (64, "c5f9efc0"), "into": (32, "ce"), "pushf/popf": (32, "9c9d"),
    "ds: override": (32, "3e8b00"), "mov r,imm64": (64, "48b8 0102030405060708"),
    "rep movsb": (64, "f3a4"), "x87": (32, "d9e8 d9c0"), "ldmxcsr": (64, "0fae10"),
    "syscall bytes in an immediate": (64, "b8 0f050f05"),
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_allowed_instructions(name):
    mode, hexcode = ALLOWED[name]
    code = bytes.fromhex(hexcode)
    why = excluded_reason(Case(mode=mode, code=code))
    assert why is None, (name, why)


def test_truncated_last_instruction_is_refused_only_without_step():
    c = Case(mode=64, code=bytes.fromhex("4801d8 05 0100"))   # add eax, imm32 cut short
    assert excluded_reason(c) and "past the end" in excluded_reason(c)
    assert excluded_reason(c, step=True) is None
    assert excluded_reason(c, step="auto") is None


def test_needs_step():
    def ns(hexcode, count=16, mode=64):
        return host.needs_step(Case(mode=mode, code=bytes.fromhex(hexcode), count=count))
    assert not ns("4801d8 4829c8")                 # straight line
    assert not ns("7403 4801d8 90")                # forward branch (to the nop)
    assert ns("4801d8 4829c8", count=1)            # more instructions than count
    assert ns("ebfe")                              # jmp $
    assert ns("90 e2fd")                           # loop back
    assert ns("c3")                                # ret: anywhere
    assert ns("ffe0")                              # jmp rax
    assert ns("eb10")                              # jumps past the end, into the zeros
    assert ns("4801d8 05 0100")                    # runs past the end
    assert not ns("e8 00000000", mode=32)          # call to the next instruction


@needs_cpu
def test_auto_step_mode():
    loop = Case(mode=64, code=bytes.fromhex("e2fe"), regs={"rcx": 100}, count=5)   # loop $
    jmp = Case(mode=32, code=bytes.fromhex("ebfe"), count=16)                       # jmp $
    straight = host.bench_cases(300, 64, seed=5)
    with HostOracle(step="auto") as o:
        rl, rj, *rs = o.run_many([loop, jmp] + straight)
    assert rl.oracle_error is None and rl.regs["rcx"] == 95 and rl.regs["rip"] == CODE_BASE
    assert rj.oracle_error is None and rj.vector is None and rj.regs["eip"] == CODE_BASE
    with HostOracle() as o:
        assert [(r.regs, r.vector) for r in o.run_many(straight)] == [(r.regs, r.vector) for r in rs]
    with pytest.raises(ValueError):
        HostOracle(step="sometimes")


@needs_cpu
def test_seccomp_stops_system_calls_even_unchecked():
    with HostOracle(check=False) as o:
        pid = o.pid
        results = o.run_many([
            Case(mode=64, code=bytes.fromhex("b827000000 0f05")),        # getpid
            Case(mode=64, code=bytes.fromhex("b83e000000 0f05"),         # kill(-1, SIGKILL)
                 regs={"rdi": 2**64 - 1, "rsi": 9}),
            Case(mode=32, code=bytes.fromhex("b801000000 cd80")),        # exit (i386 ABI)
            Case(mode=64, code=bytes.fromhex("b83c000000 cd80")),        # int 0x80 from 64-bit code
            Case(mode=64, code=bytes.fromhex("4801d8"), regs={"rax": 1, "rbx": 2}),
        ])
        for r in results[:4]:
            assert r.oracle_error and r.oracle_error.startswith("excluded: system call"), r
        assert "system call 39" in results[0].oracle_error
        assert results[4].regs["rax"] == 3
        assert o.restarts == 0 and o.pid == pid


@needs_cpu
def test_segment_changes_are_repaired_unchecked():
    with HostOracle(check=False) as o:
        results = o.run_many([
            Case(mode=64, code=bytes.fromhex("8ee0"), regs={"rax": 0x2B}),        # mov fs, ax
            Case(mode=64, code=bytes.fromhex("8ee8"), regs={"rax": 0x2B}),        # mov gs, ax
            Case(mode=64, code=bytes.fromhex("f3480faed0"), regs={"rax": 0x1000}),  # wrfsbase rax
            Case(mode=64, code=bytes.fromhex("4801d8"), regs={"rax": 1, "rbx": 2}),
        ])
        assert all(r.oracle_error is None for r in results)
        assert results[-1].regs["rax"] == 3
        assert o.restarts == 0


def test_invalid_cases_are_oracle_errors():
    if not OK:
        pytest.skip(WHY)
    with HostOracle() as o:
        r = o.run_many([Case(mode=16, code=b"\x90"), Case(mode=64, code=b"\x90" * 5000),
                        Case(mode=64, code=b"\x90", regs={"eax": 1}),
                        Case(mode=64, code=b"\x90", data=bytes(DATA_SIZE + 1))])
        assert all(x.oracle_error for x in r)


# ---------------------------------------------------------------------------
# step mode: Case.count honoured exactly

@needs_cpu
def test_step_mode_counts_instructions(stepper):
    loop = Case(mode=64, code=bytes.fromhex("e2fe"), regs={"rcx": 100}, count=5)   # loop $
    r = stepper.run(loop)
    assert r.oracle_error is None and r.vector is None
    assert r.regs["rcx"] == 95 and r.regs["rip"] == CODE_BASE
    # a REP string instruction counts once, however many iterations it makes
    rep = Case(mode=32, code=bytes.fromhex("f3a4 40 40"), count=2,
               regs={"esi": DATA_BASE, "edi": DATA_BASE + 0x100, "ecx": 10}, data=bytes(range(1, 11)))
    r = stepper.run(rep)
    assert r.regs["ecx"] == 0 and r.regs["eax"] == 1 and r.regs["eip"] == CODE_BASE + 3
    assert r.data[0x100:0x10A] == bytes(range(1, 11))
    # the end still ends the case before the count runs out
    r = stepper.run(Case(mode=64, code=b"\x90\x90", count=16))
    assert r.regs["rip"] == CODE_BASE + 2 and r.vector is None


@needs_cpu
def test_step_mode_hides_tf(stepper):
    r = stepper.run(Case(mode=32, code=bytes.fromhex("9c 58"), regs={"esp": STACK_TOP, "eflags": CF}))
    assert r.regs["eax"] & 0x100 == 0 and r.regs["eax"] & CF
    assert r.regs["eflags"] & 0x100 == 0
    # popf that clears TF does not stop the counting
    popf = Case(mode=64, code=bytes.fromhex("9d 90 90 90"), regs={"rsp": STACK_TOP}, count=2)
    r = stepper.run(popf)
    assert r.regs["rip"] == CODE_BASE + 2


@needs_cpu
def test_step_mode_agrees_with_free_running(oracle, stepper):
    cases = host.bench_cases(200, 64, seed=11) + host.bench_cases(200, 32, seed=12)
    a = oracle.run_many(cases)
    b = stepper.run_many(cases)
    for x, y in zip(a, b):
        assert (x.regs, x.data, x.vector) == (y.regs, y.data, y.vector)


# ---------------------------------------------------------------------------
# throughput (not timed: just a big batch that must complete)

@needs_cpu
@pytest.mark.parametrize("mode", [32, 64])
def test_batch_of_2000_cases_completes(oracle, mode):
    cases = host.bench_cases(2000, mode, seed=mode)
    results = oracle.run_many(cases)
    assert len(results) == 2000
    assert all(r.oracle_error is None and r.vector is None for r in results)
    ip = "rip" if mode == 64 else "eip"
    assert all(r.regs[ip] == c.end for c, r in zip(cases, results))


@needs_cpu
def test_measure_rate_runs(oracle):
    assert host.measure_rate(300, 64, oracle=oracle) > 0


# ---------------------------------------------------------------------------
# the length decoder behind the exclusion scan, against capstone

def test_length_decoder_agrees_with_capstone():
    capstone = pytest.importorskip("capstone")
    rng = random.Random(1234)
    for mode in (32, 64):
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if mode == 64 else capstone.CS_MODE_32)
        checked = wrong = 0
        for _ in range(20000):
            code = bytes(rng.getrandbits(8) for _ in range(16))
            ins = next(md.disasm(code, 0), None)
            if ins is None or ins.mnemonic.startswith(("ud0", "ud1")):
                continue  # undefined encodings: lengths are a matter of taste
            mine = host._decode(code, 0, mode == 64)
            checked += 1
            if not isinstance(mine, host._Insn) or mine.length != ins.size:
                wrong += 1
        assert checked > 15000
        assert wrong <= checked // 2000, (mode, wrong, checked)  # (capstone has a few oddities)
