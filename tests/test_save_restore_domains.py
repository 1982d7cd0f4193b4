"""Saving and restoring supervised domains (Supervisor.save / restore,
paravirt/save.py): a domain saved mid-run and restored under a new
supervisor ends as one that never stopped; pingpong's two halves restore
together; a lone half fails cleanly; `save`/`restore` actions in `pvemu up`
files and on --control; bad files change nothing."""
import os

import pytest

from emu import EmuError, Machine
from emu.guests import resolve
from paravirt import Supervisor
from paravirt.control import command
from paravirt.errors import ConfigError
from helpers import domains_ending, pvemu_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def supervisor(guest, copies=1, cmdline=None):
    g, path = resolve(guest)
    with open(path, "rb") as f:
        kernel = f.read()
    sup = Supervisor(console=None)
    for k in range(copies):
        sup.create(kernel, name=f"d{k + 1}", memory=32 << 20,
                   max_memory=(64 << 20) if g.max_memory else None,
                   cmdline=g.args if cmdline is None else cmdline)
    return sup


ending = domains_ending


@pytest.mark.parametrize("guest,at", [("hello64", 300_000), ("balloon32", 3_000_000),
                                      ("sched64", 2_000_000), ("pvbench32", 1_000_000)])
def test_a_restored_domain_ends_as_one_that_never_stopped(tmp_path, guest, at):
    straight = supervisor(guest)
    straight.run()
    saved = supervisor(guest)
    saved.run(max_instructions=at)
    dom = saved.domain("d1")
    assert dom.state not in ("shutdown", "crashed")
    saved.save(dom, str(tmp_path / "d.sav"))
    again = Supervisor(console=None)
    again.restore(str(tmp_path / "d.sav"))
    again.run()
    assert ending(again) == ending(straight)


def test_pingpong_restores_both_halves_together_and_finishes(tmp_path):
    straight = supervisor("pingpong32", 2, "rounds=100")
    straight.run()
    saved = supervisor("pingpong32", 2, "rounds=100")
    saved.run(max_instructions=600_000)
    files = [str(tmp_path / f"{d.name}.sav") for d in saved.domains.values()]
    for d, f in zip(saved.domains.values(), files):
        saved.save(d, f)
    again = Supervisor(console=None)
    again.restore(files)
    again.run()
    assert ending(again) == ending(straight)
    assert b"100 round trips, counter 200" in again.domain("d1").console_out


def test_a_lone_half_fails_cleanly(tmp_path):
    saved = supervisor("pingpong64", 2, "rounds=1000")
    for _ in range(100):                               # on to mid-game: the grant is mapped
        saved.run(max_instructions=200_000)
        if saved.domain("d2").foreign:
            break
    assert saved.domain("d2").foreign
    saved.save(saved.domain("d2"), str(tmp_path / "d2.sav"))
    logs = []
    alone = Supervisor(console=None, log=logs.append)
    alone.restore(str(tmp_path / "d2.sav"))
    alone.run(max_instructions=5_000_000)
    d = alone.domain("d2")
    assert d.state in ("shutdown", "crashed") and d.exit_status != 0
    assert any("not here" in line for line in logs), logs


def test_bad_files_and_clashes_add_nothing(tmp_path):
    m = Machine(memory=1 << 20)
    m.save(str(tmp_path / "m.sav"))
    sup = supervisor("hello32")
    sup.save(sup.domain("d1"), str(tmp_path / "d.sav"))
    with pytest.raises(EmuError, match="holds a machine"):
        sup.restore(str(tmp_path / "m.sav"))
    with pytest.raises(ConfigError, match="domain id 1 is taken"):
        sup.restore(str(tmp_path / "d.sav"))
    with pytest.raises(EmuError, match="cannot read"):
        sup.restore([str(tmp_path / "d.sav"), str(tmp_path / "missing.sav")])
    assert list(sup.domains) == [1]
    with pytest.raises(EmuError, match="holds a domain"):
        Machine.load(str(tmp_path / "d.sav"))


def test_control_commands_save_and_restore(tmp_path):
    sup = supervisor("hello32")
    path = str(tmp_path / "d1.sav")
    text, fn = command(sup, f"save d1 {path}")
    assert text == f"save d1 to {path}" and fn is not None
    fn()
    assert os.path.getsize(path) > 0
    assert command(sup, "save d1")[1] is None              # FILE missing: an answer, no action
    other = Supervisor(console=None)
    text, fn = command(other, f"restore {path}")
    fn()
    assert [d.name for d in other.domains.values()] == ["d1"]


def test_up_file_save_action_and_pvemu_restore(tmp_path):
    conf = tmp_path / "pp.toml"
    conf.write_text('''
[[domain]]
name = "ping"
kernel = "pingpong"
cmdline = "rounds=100"
[[domain]]
name = "pong"
kernel = "pingpong"
cmdline = "rounds=100"
[[action]]
at = 400000
save = { domain = "ping", file = "ping.sav" }
[[action]]
at = 400000
save = { domain = "pong", file = "pong.sav" }
''')
    whole = pvemu_cli("up", str(conf))
    assert whole.returncode == 0, whole.stderr
    rest = pvemu_cli("restore", "--supervised", str(tmp_path / "ping.sav"), str(tmp_path / "pong.sav"))
    assert rest.returncode == 0, rest.stderr
    done = [line for line in whole.stdout.decode().splitlines() if "round trips" in line]
    assert done and all(line in rest.stdout.decode() for line in done)
