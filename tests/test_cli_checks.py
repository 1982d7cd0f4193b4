"""The `pvemu` command refuses what cannot work before anything runs: an
option that does not apply (pvemu/options.py), a number out of range, a
file it could not write, more memory than there is; each with one line
naming the option and exit status 2.  And what the supervisor's summary
says: a destroyed domain is listed and fails the run; pingpong pairs
whatever domain ids it gets."""
import pytest
from helpers import pvemu_cli

from emu.bounds import MAX_MEMORY


def refused(*args, option):
    """Run pvemu; check it stopped with status 2 and one line naming `option`."""
    r = pvemu_cli(*args, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 2, (r.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert option in lines[0] and lines[0].startswith("pvemu "), lines[0]
    return lines[0]


# -- options that do not apply ------------------------------------------------

@pytest.mark.parametrize("option", [["--serial", "out.txt"], ["--bios", "fw.bin"], ["--trace", "5"],
                                    ["--qemu-exit-status"], ["--save", "x.sav"], ["--flat", "0x1000"]])
def test_machine_options_with_supervised(option):
    line = refused("run", "hello", "--supervised", *option, option=option[0])
    assert "does not apply with --supervised" in line


@pytest.mark.parametrize("option", [["--threads"], ["--quantum", "1000"], ["--balloon", "hello=16M@1ms"],
                                    ["--pause", "hello@1ms"], ["--realtime"], ["--control"], ["--verbose"],
                                    ["--unmodified"]])
def test_supervisor_options_without_supervised(option):
    line = refused("run", "hello", *option, option=option[0])
    assert "only applies with --supervised" in line


def test_restore_checks_its_options_too(tmp_path):
    save = tmp_path / "m.sav"
    refused("restore", save, "--threads", option="--threads")
    refused("restore", "--supervised", save, "--serial", tmp_path / "out", option="--serial")
    refused("restore", "--supervised", save, "--qemu-exit-status", option="--qemu-exit-status")


@pytest.mark.parametrize("args,option", [
    (["run", "hello", "--gdb-wait"], "--gdb-wait"),
    (["run", "hello", "--save-at", "100"], "--save-at"),
    (["run", "hello", "--trace-range", "0x1000-0x2000"], "--trace-range"),
    (["run", "hello", "--supervised", "--gdb-wait"], "--gdb-wait"),
])
def test_an_option_without_the_one_it_needs(args, option):
    assert "needs" in refused(*args, option=option)


# -- values ---------------------------------------------------------------------

@pytest.mark.parametrize("args,option", [
    (["--ips", str(10 ** 30)], "--ips"),
    (["--ips", "0"], "--ips"),
    (["--max-instructions", str(10 ** 30)], "--max-instructions"),
    (["--max-instructions", "-1"], "--max-instructions"),
    (["--trace", str(10 ** 30)], "--trace"),
])
def test_numbers_out_of_range(args, option):
    refused("run", "hello", *args, option=option)


def test_numbers_out_of_range_under_the_supervisor():
    refused("run", "hello", "--supervised", "--quantum", "0", option="--quantum")
    refused("run", "hello", "--supervised", "--ips", str(1 << 70), option="--ips")


def test_memory_beyond_what_a_machine_takes():
    too_much = f"{(MAX_MEMORY >> 30) * 2}G"
    refused("run", "hello", "--memory", too_much, option="--memory")
    refused("run", "hello", "--supervised", "--memory", too_much, option="--memory")


def test_a_bad_size_names_the_option():
    assert "bad size" in refused("run", "hello", "--memory", "12Q", option="--memory")


def test_memory_the_host_cannot_give():
    """Within a Machine's limit but more than this host can allocate: the
    allocation fails cleanly (or, where the host overcommits that much,
    the guest boots)."""
    r = pvemu_cli("run", "hello", "--memory", f"{MAX_MEMORY >> 30}G", "--max-instructions", "1000",
                  timeout=60)
    err = r.stderr.decode()
    assert "Traceback" not in err
    if r.returncode == 2:
        assert "--memory" in err and "cannot allocate" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["--serial", "--save", "--record", "--debugcon"])
def test_unwritable_run_outputs(tmp_path, option):
    line = refused("run", "hello", option, tmp_path / "missing" / "out", option=option)
    assert "no directory" in line
    assert "is a directory" in refused("run", "hello", option, tmp_path, option=option)


def test_unwritable_fuzz_outputs_are_refused_before_the_campaign(tmp_path):
    (tmp_path / "file").write_text("")
    line = refused("fuzz", "--cases", "10", "--json", tmp_path / "missing" / "s.json", option="--json")
    assert "no directory" in line
    line = refused("fuzz", "--cases", "10", "--out", tmp_path / "file" / "findings", option="--out")
    assert "no directory" in line
    assert "is not a directory" in refused("fuzz", "--cases", "10", "--out", tmp_path / "file", option="--out")


# -- what the supervisor's summary says -------------------------------------------

def test_a_destroyed_domain_is_reported_and_fails_the_run(tmp_path):
    cfg = tmp_path / "two.toml"
    cfg.write_text('[[domain]]\nname = "a"\nkernel = "hello"\n\n[[domain]]\nname = "b"\nkernel = "hello"\n\n'
                   '[[action]]\nat = 1000\ndestroy = "b"\n')
    r = pvemu_cli("up", cfg, timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    summary = [line for line in err.splitlines() if line.startswith("pvemu: domain")]
    assert len(summary) == 2, err
    assert "domain 1 a: shutdown (poweroff, status 0)" in summary[0]
    assert "domain 2 b: shutdown (destroyed)" in summary[1]


def test_pingpong_pairs_whatever_ids_it_gets():
    r = pvemu_cli("run", "hello", "pingpong", "--supervised", "--cmdline", "rounds=50", timeout=180)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, err
    assert "pingpong1| pingpong: domain 2 is ping" in out and "pingpong2| pingpong: domain 3 is pong" in out
    assert out.count("pingpong: 50 round trips, counter 100") == 2


def test_bench_options_that_do_not_apply_to_the_sections_chosen():
    line = refused("bench", "--sections", "exits", "--rounds", "3", option="--rounds")
    assert "--sections" in line and "workload" in line
    refused("bench", "--sections", "workload", "--programs", "sha256", option="--programs")
    refused("bench", "--sections", "aggregate", "--engines", "emu", option="--engines")
    refused("bench", "--rounds", str(1 << 40), option="--rounds")
    refused("bench", "--repeat", "0", option="--repeat")


def test_kut_and_up_numbers_out_of_range(tmp_path):
    refused("kut", "--jobs", "0", option="--jobs")
    refused("up", tmp_path / "none.toml", "--max-instructions", str(10 ** 30), option="--max-instructions")
    refused("up", tmp_path / "none.toml", "--record", tmp_path / "missing" / "log", option="--record")
