"""Record and replay (emu/replay.py): an interactive session, whose inputs
arrive when the host delivers them, is recorded and replayed to the same
end state bit for bit; a log that does not fit the run is refused."""
import json
import os
import subprocess
import sys
import time

from emu import Machine
from helpers import NEUTRAL_CWD, subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = subprocess_env()

# A flat 32-bit guest that counts while it polls COM1 (so what it does
# depends on when input arrives), echoes each byte followed by the count's
# low byte and keeps the count in RAM; on 'q' it prints the count's four
# bytes and exits.
ECHO = bytes.fromhex("31db" "43" "66bafd03" "ec" "a801" "74f6" "66baf803" "ec" "3c71" "740c" "ee"
                     "88d8" "ee" "891d00002000" "ebe1" "89d8" "ee" "c1e808" "ee" "c1e808" "ee"
                     "c1e808" "ee" "b000" "e6f4")


def echo_run(tmp_path, *extra, stdin=None):
    prog = tmp_path / "echo.bin"
    prog.write_bytes(ECHO)
    cmd = [sys.executable, "-m", "emu", "run", str(prog), "--flat", "0x100000", "--memory", "4M",
           "--max-instructions", "20000000000", *extra]        # (it polls COM1: seconds of waiting)
    return subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=NEUTRAL_CWD)


def wait_for(path, size, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and os.path.getsize(path) >= size:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {size} bytes")


def test_an_interactive_serial_session_replays_bit_identically(tmp_path):
    out1, out2 = tmp_path / "rec.out", tmp_path / "rep.out"
    log = tmp_path / "session.log"
    p = echo_run(tmp_path, "--input", "stdin", "--record", str(log), "--serial", str(out1),
                 "--save", str(tmp_path / "rec.sav"), stdin=subprocess.PIPE)
    typed = b""
    for chunk in (b"hi", b"!", b"x"):            # each after the guest echoed the last
        time.sleep(0.15)
        p.stdin.write(chunk)
        p.stdin.flush()
        typed += chunk
        wait_for(out1, 2 * len(typed))
    p.stdin.write(b"q")
    p.stdin.close()
    assert p.wait(60) == 0, p.stderr.read()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e.get("serial") is not None for e in events[1:-1]] == [True] * 4
    assert len({e["at"] for e in events[1:-1]}) == 4           # taken at four different points
    r = echo_run(tmp_path, "--replay", str(log), "--serial", str(out2), "--save", str(tmp_path / "rep.sav"))
    assert r.wait(60) == 0, r.stderr.read()
    assert out1.read_bytes() == out2.read_bytes() and out1.read_bytes()[0:8:2] == b"hi!x"
    a, b = Machine.load(str(tmp_path / "rec.sav")), Machine.load(str(tmp_path / "rep.sav"))
    assert a.guest_state_block() == b.guest_state_block()
    assert a.mem_read(0, a.memory_size) == b.mem_read(0, b.memory_size)

    # the same log with one input moved is a different run: replay says so
    events[2]["at"] += 1000
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    r = echo_run(tmp_path, "--replay", str(log), "--serial", str(out2))
    assert r.wait(60) == 2 and b"replay diverged" in r.stderr.read()


def test_a_controlled_realtime_supervisor_session_replays(tmp_path):
    conf = tmp_path / "b.toml"
    conf.write_text('[[domain]]\nname = "b"\nkernel = "balloon"\n')
    log = tmp_path / "sup.log"
    up = [sys.executable, "-m", "emu", "up", str(conf)]
    p = subprocess.Popen(up + ["--control", "--realtime", "--record", str(log)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=NEUTRAL_CWD)
    assert b"boot:" in p.stdout.readline() + p.stdout.readline() + p.stdout.readline() \
        + p.stdout.readline()                      # the guest is up and waiting on its timer
    p.stdin.write(b"balloon b 20M\n")
    p.stdin.flush()
    time.sleep(0.2)
    p.stdin.write(b"balloon b 40M\n")
    p.stdin.close()
    p.stdin = None
    rest, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["control"] for e in events if "control" in e][:2] == ["balloon b 20M", "balloon b 40M"]
    r = subprocess.run(up + ["--replay", str(log)], capture_output=True, env=ENV, timeout=120, cwd=NEUTRAL_CWD)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-1] == err.splitlines()[-1]       # the domain's end, counts included
