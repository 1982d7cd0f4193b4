"""The supervisor as a whole: unmodified kernels trapping into it (the test
kernels of guests/tests, whose output must still be QEMU's), scheduling by
weight, virtual time, threads, isolation, the TOML file and the commands."""
import os
import textwrap

import pytest

from emu.system import parse_size
from helpers import pvemu_cli
from paravirt import ConfigError, Supervisor
from paravirt.config import load
from pvscript import Script
from test_kernels_pvemu import IMAGES, KERNELS, expected, kernel_args

MiB = 1 << 20


@pytest.mark.parametrize("paravirt", [False, True], ids=["unmodified", "pv-visible"])
@pytest.mark.parametrize("name", KERNELS)
def test_test_kernels_under_the_supervisor_match_qemu(name, paravirt):
    """Every privileged instruction of these kernels traps into the pv_ops
    handlers (the same ones hypercalls use) and the output is QEMU's."""
    args = kernel_args(name)
    with open(os.path.join(IMAGES, name + ".elf"), "rb") as f:
        image = f.read()
    sup = Supervisor(console=None)
    dom = sup.create(image, name=name, memory=parse_size(args["memory"]), cmdline=args["cmdline"],
                     paravirt=paravirt, budget=200_000_000)
    sup.run()
    out, qemu_status = expected(name)
    assert dom.state == "shutdown", dom.reason
    assert ((dom.exit_status << 1) | 1) == qemu_status
    assert bytes(dom.console_out) == out
    assert dom.stats["traps"] > 0


def spinner(bits=64):
    """A guest that loops forever (jmp $)."""
    s = Script(bits)
    s.raw(b"\xeb\xfe")
    return s.image(end="hlt")


def test_weights_share_the_cpu():
    sup = Supervisor(console=None, quantum=10_000)
    a = sup.create(spinner(), name="a", memory=4 * MiB, weight=256)
    b = sup.create(spinner(), name="b", memory=4 * MiB, weight=768)
    sup.run(max_instructions=4_000_000)
    ratio = b.stats["instructions"] / a.stats["instructions"]
    assert 2.9 < ratio < 3.1
    # one CPU: both clocks moved by the total
    assert abs(a.vtime - b.vtime) <= 30_000 and a.vtime >= 3_900_000


def test_budget_stops_a_runaway_domain_and_others_go_on():
    sup = Supervisor(console=None, quantum=10_000)
    loop = sup.create(spinner(32), name="loop", memory=4 * MiB, budget=1_000_000)
    ok = sup.create(Script(64).image(), name="ok", memory=4 * MiB)
    sup.run()
    assert loop.state == "crashed" and "budget of 1,000,000" in loop.reason
    assert loop.stats["instructions"] == 1_000_000
    assert ok.state == "shutdown" and ok.exit_status == 0


def test_triple_fault_is_reported_and_isolated():
    s = Script(32)
    s.raw(b"\x0f\x01\x1d" + (0x190000).to_bytes(4, "little"))      # lidt [empty idt] (traps, is emulated)
    s.raw(b"\xcc")                                                 # int3 -> #GP -> #DF -> triple fault
    s.put(0x190000, b"\x07\x00\x00\x00\x00\x00")                 # limit 7: vector 0 only, not present
    sup = Supervisor(console=None)
    bad = sup.create(s.image(), name="bad", memory=4 * MiB)
    ok = sup.create(Script(32).image(), name="ok", memory=4 * MiB)
    sup.run()
    assert bad.state == "crashed" and "triple fault" in bad.reason
    assert ok.state == "shutdown"


def test_pause_unpause_and_destroy():
    sup = Supervisor(console=None, quantum=10_000)
    a = sup.create(spinner(), name="a", memory=4 * MiB)
    b = sup.create(spinner(), name="b", memory=4 * MiB)
    sup.at(100_000, lambda: sup.pause(a), "pause a")
    sup.at(300_000, lambda: sup.unpause(a), "unpause a")
    sup.run(max_instructions=500_000)
    assert a.stats["instructions"] < b.stats["instructions"] - 150_000
    sup.destroy(b)
    assert "b" not in {d.name for d in sup.domains.values()} and b.state == "shutdown"


def test_threads_run_domains_in_parallel():
    sup = Supervisor(console=None, threads=True, quantum=50_000)
    doms = [sup.create(spinner(), name=f"d{k}", memory=4 * MiB, budget=2_000_000) for k in range(2)]
    done = [sup.create(Script(32).image(), name="ok", memory=4 * MiB)]
    sup.run()
    for d in doms:
        assert d.state == "crashed" and d.stats["instructions"] == 2_000_000
    assert done[0].state == "shutdown"


# ---- configuration and commands

def write(tmp_path, text):
    p = tmp_path / "domains.toml"
    p.write_text(textwrap.dedent(text))
    return str(p)


@pytest.mark.parametrize("text, message", [
    ("[[domain]]\nmemory = '32M'\n", "no kernel"),
    ("[[domain]]\nkernel = 'nosuchguest'\n", "neither a file nor a bundled guest"),
    ("[[domain]]\nkernel = 'hello'\nweight = 'heavy'\n", "weight must be int"),
    ("[[domain]]\nkernel = 'hello'\ncolour = 1\n", "unknown keys colour"),
    ("[[domain]]\nkernel = 'hello'\nmemory = 'lots'\n", "bad size"),
    ("[[domain]]\nkernel = 'hello'\n[[domain]]\nkernel = 'hello'\n", "unique"),
    ("[[domain]]\nkernel = 'hello'\n[[action]]\nat = '1ms'\npause = 'other'\n", "no domain named 'other'"),
    ("[[domain]]\nkernel = 'hello'\n[[action]]\nat = 'soon'\npause = 'hello'\n", "bad time"),
    ("[domains]\n", "unknown sections domains"),
    ("[[domain]\n", "not valid TOML"),
    ("", "no [[domain]] entries"),
])
def test_config_errors_name_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(write(tmp_path, text))


def test_config_reads_domains_and_actions(tmp_path):
    cfg = load(write(tmp_path, """
        [supervisor]
        quantum = 1000
        [[domain]]
        name = "b"
        kernel = "balloon32"
        max_memory = "48M"
        weight = 512
        [[action]]
        at = "2ms"
        balloon = { domain = "b", target = "24M" }
        """))
    d = cfg.domains[0]
    assert (d.name, d.memory, d.max_memory, d.weight, cfg.quantum) == ("b", 32 * MiB, 48 * MiB, 512, 1000)
    assert d.kernel.endswith("balloon32.elf")
    a = cfg.actions[0]
    assert (a.at, a.kind, a.domain, a.target) == (200_000, "balloon", "b", 24 * MiB)


def test_pvemu_up_runs_the_file(tmp_path):
    path = write(tmp_path, """
        [[domain]]
        name = "one"
        kernel = "hello32"
        [[domain]]
        name = "two"
        kernel = "hello"
        paravirt = false
        """)
    p = pvemu_cli("up", path)
    assert p.returncode == 0, p.stderr.decode()
    assert "one| backend: paravirt" in p.stdout.decode() and "two| backend: native" in p.stdout.decode()
    assert "domain 2 two: shutdown" in p.stderr.decode() and "unmodified" in p.stderr.decode()


def test_pvemu_run_supervised_and_errors():
    p = pvemu_cli("run", "hello32", "--supervised")
    assert p.returncode == 0 and "hello| backend: paravirt" in p.stdout.decode()
    p = pvemu_cli("run", "hello", "sched")
    assert p.returncode == 2 and "need --supervised" in p.stderr.decode()
    p = pvemu_cli("run", "nosuch", "--supervised")
    assert p.returncode == 2 and "neither a file nor a bundled guest" in p.stderr.decode()
    p = pvemu_cli("up", "/nonexistent.toml")
    assert p.returncode == 2 and "cannot read" in p.stderr.decode()
    p = pvemu_cli("guests")
    assert p.returncode == 0 and "pingpong" in p.stdout.decode()


def test_control_commands_while_running():
    import io
    from paravirt.control import command, serve
    sup = Supervisor(console=None, quantum=10_000)
    a = sup.create(spinner(), name="a", memory=4 * MiB)
    b = sup.create(spinner(), name="b", memory=4 * MiB, max_memory=8 * MiB)
    assert command(sup, "pause nobody")[0].startswith("no domain named 'nobody'")
    assert "is outside 4K..8M" in command(sup, "balloon b 1G")[0]
    assert command(sup, "frobnicate")[0].startswith("unknown command")
    assert "domain 1 a" in command(sup, "list")[0]
    out = io.StringIO()
    serve(sup, io.StringIO("pause a\nballoon b 6M\nhelp\n"), out).join()
    sup.run(max_instructions=200_000)
    assert a.state == "paused" and a.stats["instructions"] <= 10_000
    assert b.stats["instructions"] >= 190_000
    assert "ok: pause a" in out.getvalue() and "balloon NAME SIZE" in out.getvalue()


def test_realtime_paces_virtual_time_to_the_wall_clock():
    import time
    sup = Supervisor(console=None, quantum=20_000, ips=1_000_000, realtime=True)
    sup.create(spinner(), name="a", memory=4 * MiB)
    t = time.monotonic()
    sup.run(max_instructions=300_000)                  # 0.3 s of virtual time
    assert time.monotonic() - t >= 0.25
