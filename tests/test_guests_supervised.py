"""The bundled guests (emu/images/guests) under the pvemu supervisor, through
the Python API: paravirtualized (the PV pv_ops backend, hypercalls) and
unmodified (paravirt=False: the native backend, its privileged instructions
trapped and emulated), both widths.  tests/test_guests_native.py runs them on
bare pvemu and QEMU."""
import json
import re
from pathlib import Path

import pytest

from paravirt import Supervisor

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "emu" / "images" / "guests"
GUESTS = {g["name"]: g for g in json.loads((IMAGES / "guests.json").read_text())}
WIDTHS = {"32": "i386", "64": "x86-64"}
MIB = 1 << 20
BUDGET = 300_000_000
SINGLE = ["hello", "sched", "balloon", "pvbench", "workload"]


def size(text):
    assert text.endswith("M")
    return int(text[:-1]) * MIB


def image(name, width):
    return (IMAGES / f"{name}{width}.elf").read_bytes()


def create(sup, name, width, dom_name=None, paravirt=True, cmdline=None, **kw):
    g = GUESTS[name]
    kw.setdefault("memory", size(g["memory"]))
    kw.setdefault("max_memory", size(g.get("max_memory", g["memory"])))
    return sup.create(image(name, width), name=dom_name or name, paravirt=paravirt,
                      cmdline=g["args"] if cmdline is None else cmdline, budget=BUDGET, **kw)


def out(dom):
    return bytes(dom.console_out).decode()


def run_one(name, width, paravirt=True, cmdline=None):
    sup = Supervisor(console=None)
    dom = create(sup, name, width, paravirt=paravirt, cmdline=cmdline)
    sup.run()
    return dom


def assert_powered_off(dom):
    assert (dom.state, dom.exit_status) == ("shutdown", 0), (dom.state, dom.reason, out(dom))
    assert dom.reason.startswith("poweroff"), dom.reason


def assert_header(text, name, width, backend):
    assert text.startswith(f"{name} ({WIDTHS[width]})\nbackend: {backend}\n"), text
    assert "PANIC" not in text and "FAIL" not in text, text


def stable(text):
    """Lines that do not depend on the backend or on timing."""
    return [line for line in text.splitlines() if not line.startswith(("~ ", "backend: "))]


def benches(text):
    """{(name, backend): (iters, insns, exits)} from the bench lines."""
    got = {}
    for m in re.finditer(r"^bench (\w+) backend=(\w+) iters=(\d+) insns=(\d+) exits=(\d+)$", text, re.M):
        got[m[1], m[2]] = tuple(int(x) for x in m.group(3, 4, 5))
    return got


@pytest.fixture(scope="module")
def pv_runs():
    return {}


def pv(pv_runs, name, width):
    if (name, width) not in pv_runs:
        pv_runs[name, width] = run_one(name, width)
    return pv_runs[name, width]


# ---------------------------------------------------------------- paravirtualized

@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", SINGLE)
def test_paravirt(pv_runs, name, width):
    dom = pv(pv_runs, name, width)
    text = out(dom)
    assert_powered_off(dom)
    assert_header(text, name, width, "paravirt")
    assert dom.stats["hypercalls"] > 0
    if name == "hello":
        assert "hello from a pvemu bundled guest" in text and "paging: on, cr0.pg=1" in text
    elif name == "sched":
        assert "all tasks done" in text and text.count("private page ok") == 3
    elif name == "workload":
        checksum = json.loads((ROOT / "emu" / "images" / "workload.json").read_text())["checksums"]["10"]
        assert f"workload: 10 rounds, checksum 0x{checksum:08x}\n" in text
    elif name == "balloon":
        assert "allocator self-test: ok" in text
        assert "self-test: out 64, owned 64, in 64, owned 0" in text
        assert re.search(r"^done: owned 8192 pages", text, re.M), text


@pytest.mark.parametrize("width", WIDTHS)
def test_pvbench_batching(pv_runs, width):
    b = benches(out(pv(pv_runs, "pvbench", width)))
    names = ["null", "irq", "pte", "pte_batch", "cr3"]
    assert set(b) == {(n, k) for n in names for k in ("native", "pv")}
    iters = b["pte", "pv"][0]
    assert b["pte", "pv"][2] >= iters                       # one mmu_update each
    assert b["pte_batch", "pv"][2] * 10 < b["pte", "pv"][2]  # 64 per call
    assert b["irq", "pv"][2] <= 2                           # a byte store: no exit
    assert b["irq", "native"][2] >= 2 * iters               # CLI and STI trap
    assert b["cr3", "pv"][2] >= iters
    assert all(v[1] > 0 for v in b.values())


def pingpong(width, threads=False, rounds=1000):
    sup = Supervisor(console=None, threads=threads)
    doms = [create(sup, "pingpong", width, dom_name=n, cmdline=f"rounds={rounds}") for n in ("ping", "pong")]
    results = sup.run()
    assert set(results) == {"ping", "pong"}
    for dom, role in zip(doms, ("ping", "pong")):
        text = out(dom)
        assert_powered_off(dom)
        assert_header(text, "pingpong", width, "paravirt")
        assert f"pingpong: domain {dom.domid} is {role}\n" in text
        assert f"pingpong: {rounds} round trips, counter {2 * rounds}\n" in text
    return doms


@pytest.mark.parametrize("width", WIDTHS)
def test_pingpong(width):
    ping, pong = pingpong(width)
    assert (ping.domid, pong.domid) == (1, 2)


@pytest.mark.parametrize("width", WIDTHS)
def test_pingpong_threads(width):
    pingpong(width, threads=True, rounds=300)


@pytest.mark.parametrize("width", WIDTHS)
def test_balloon_follows_target(width):
    sup = Supervisor(console=None)
    dom = create(sup, "balloon", width, cmdline="seconds=2")
    # A busy second domain keeps virtual time moving in quanta (otherwise the
    # supervisor would skip straight to the driver's timer), so the driver
    # sits blocked between the steps.
    spin = create(sup, "workload", width, dom_name="spin", cmdline="rounds=120")
    initial = size(GUESTS["balloon"]["memory"]) // 4096
    assert dom.pages == initial and dom.max_pages == 2 * initial
    sup.run(max_instructions=20_000_000)
    assert dom.state == "blocked" and dom.pages == initial, (dom.state, out(dom))
    targets = (7680, 7000, initial)             # down 512, down 680, up 1192 (two calls)
    for target in targets:
        sup.set_target(dom, target)
        assert dom.state == "runnable"          # VIRQ_BALLOON woke it
        for _ in range(30):                     # steps until the driver is done
            sup.run(max_instructions=10_000_000)
            if dom.state != "runnable":
                break
        assert (dom.state, dom.pages) == ("blocked", target), (target, dom.state, dom.pages)
    assert spin.state == "runnable"             # still keeping time moving
    sup.run()
    text = out(dom)
    assert_powered_off(dom)
    assert_powered_off(spin)
    for target in targets:
        assert f"target: owned {target} pages (target {target}, max {2 * initial})" in text, text
    assert f"done: owned {initial} pages" in text


def hostile_lines(text):
    checks = [line for line in text.splitlines() if line.startswith("check ")]
    bad = [line for line in checks if not re.fullmatch(r"check .+: (\S+|no fault) \(want \1\) ok", line)]
    return checks, bad


def run_hostile(width, cmdline):
    sup = Supervisor(console=None)
    dom = create(sup, "hostile", width, cmdline=cmdline)
    sup.run()
    text = out(dom)
    assert_header(text, "hostile", width, "paravirt")
    checks, bad = hostile_lines(text)
    assert not bad, "\n".join(bad)
    m = re.search(r"^hostile: (\d+) checks refused as expected$", text, re.M)
    assert m and int(m[1]) == len(checks) > 80, text
    assert "not as expected" not in text
    victim = re.search(r"^touching the ballooned-out frame (0x[0-9a-f]+): the domain must die$", text, re.M)
    assert victim, text
    assert dom.state == "crashed", (dom.state, dom.reason)
    assert "unmapped" in dom.reason and f"{int(victim[1], 16):#x}" in dom.reason, dom.reason
    # The supervisor goes on: another guest in the same supervisor.
    hello = create(sup, "hello", width)
    sup.run()
    assert_powered_off(hello)
    assert "hello from a pvemu bundled guest" in out(hello)
    assert dom.state == "crashed"
    return text


@pytest.mark.parametrize("width", WIDTHS)
def test_hostile_without_port_f4(width):
    text = run_hostile(width, "f4=0")
    for line in ("check ring 3: hypercall: -EPERM (want -EPERM) ok",
                 "check mmuext: new_baseptr to a table not pinned: -EINVAL (want -EINVAL) ok",
                 "check set_gdt: a table with a call gate: -EINVAL (want -EINVAL) ok",
                 "check store_op write: key 65: -ENOSPC (want -ENOSPC) ok"):
        assert line in text


@pytest.mark.parametrize("width", WIDTHS)
def test_hostile(width):
    text = run_hostile(width, "")
    assert "check physdev pio_out: isa-debug-exit (port 0xF4): -EPERM (want -EPERM) ok" in text


# ---------------------------------------------------------------- unmodified (paravirt=False)

@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(GUESTS))
def test_unmodified(pv_runs, name, width):
    dom = run_one(name, width, paravirt=False)
    text = out(dom)
    # The native backend exits through isa-debug-exit, trapped.
    assert (dom.state, dom.exit_status) == ("shutdown", 0), (dom.state, dom.reason, text)
    assert dom.reason.startswith("debug-exit"), dom.reason
    assert_header(text, name, width, "native")
    assert dom.stats["traps"] > 0 and dom.stats["hypercalls"] == 0
    if name in ("hello", "sched", "workload"):
        assert stable(text) == stable(out(pv(pv_runs, name, width)))
    elif name == "balloon":
        assert "allocator self-test: ok\nno balloon: not running under the pvemu supervisor\n" in text
    elif name == "pingpong":
        assert "pingpong: 1000 round trips, counter 2000\n" in text
    elif name == "pvbench":
        b = benches(text)
        assert {k for _, k in b} == {"native"} and len(b) == 5
        assert b["irq", "native"][2] == 0            # natively: no exits counted
    elif name == "hostile":
        assert "hostile: needs the pvemu supervisor" in text
