"""The gdb stub (emu/gdbstub.py): the Remote Serial Protocol spoken to a
socket client, and real gdb sessions in batch mode against bundled guests
(skipped, saying so, without gdb)."""
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from emu import Machine
from emu.gdbstub import GdbStub, checksum
from helpers import NEUTRAL_CWD, subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUESTS = os.path.join(ROOT, "emu", "images", "guests")
GDB = shutil.which("gdb")

# 0x1000: mov eax, 0; loop: inc eax; mov [0x2000], eax; cmp eax, 1000; jne loop; hlt
COUNTER = bytes.fromhex("b800000000" "40" "a300200000" "3de8030000" "75f3" "f4")


class Client:
    """A minimal gdb: packets out, replies in (acks skipped)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""

    def send(self, text):
        data = text.encode("latin-1")
        self.s.sendall(b"$" + data + b"#%02x" % checksum(data))

    def reply(self):
        while True:
            while b"#" not in self.buf or len(self.buf) < self.buf.index(b"#") + 3:
                chunk = self.s.recv(65536)
                assert chunk, "the stub closed the connection"
                self.buf += chunk
            start = self.buf.index(b"$")
            end = self.buf.index(b"#", start)
            body = self.buf[start + 1:end]
            assert self.buf[end + 1:end + 3] == b"%02x" % checksum(body)
            self.buf = self.buf[end + 3:]
            return body.decode("latin-1")

    def ask(self, text):
        self.send(text)
        return self.reply()


@pytest.fixture
def stub():
    m = Machine(mode=32, memory=1 << 20)
    m.mem_write(0x1000, COUNTER)
    m.mem_write(0x3000, b"\xeb\xfe")              # jmp $
    m.reg_write("eip", 0x1000)
    s = GdbStub(m, 0, wait=True)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("exit", s.serve()), daemon=True)
    t.start()
    c = Client(s.port)
    yield m, c, result, t
    c.s.close()


def test_description_registers_and_memory(stub):
    m, c, _, _ = stub
    assert "qXfer:features:read+" in c.ask("qSupported:multiprocess+;swbreak+")
    assert c.ask("QStartNoAckMode") == "OK"
    xml = c.ask("qXfer:features:read:target.xml:0,ffff")
    assert xml[0] == "l"
    root = ET.fromstring(xml[1:])
    assert root.find("architecture").text == "i386"
    regs = root.findall(".//reg")
    names = [r.get("name") for r in regs]
    assert names[:10] == ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags"]
    assert {"st0", "xmm7", "mxcsr", "cr0", "cr3", "efer", "fs_base"} <= set(names)
    g = bytes.fromhex(c.ask("g"))
    assert len(g) * 8 == sum(int(r.get("bitsize")) for r in regs)
    assert int.from_bytes(g[32:36], "little") == 0x1000
    assert c.ask("p8") == "00100000"
    assert c.ask("P0=78563412") == "OK" and m.reg_read("eax") == 0x12345678
    k = names.index("cr0")
    assert int.from_bytes(bytes.fromhex(c.ask(f"p{k:x}")), "little") == m.read_cr(0)
    assert c.ask("m1000,5") == "b800000000"
    assert c.ask("M2000,4:efbeadde") == "OK" and m.mem_read(0x2000, 4) == bytes.fromhex("efbeadde")
    assert c.ask("m200000,4") == "E14"           # beyond RAM
    assert c.ask("?").startswith("T05")


def test_breakpoints_steps_watchpoints_to_the_end(stub):
    m, c, result, t = stub
    assert c.ask("Z0,1010,1") == "OK"
    assert c.ask("c").startswith("T05swbreak:")
    assert m.reg_read("eip") == 0x1010 and m.reg_read("eax") == 1
    assert c.ask("c").startswith("T05swbreak:")          # steps off it, round the loop once
    assert m.reg_read("eax") == 2
    assert c.ask("vCont;s:1").startswith("T05")
    assert m.reg_read("eip") == 0x1005
    assert c.ask("z0,1010,1") == "OK"
    assert c.ask("Z2,2000,4") == "OK"
    assert c.ask("c") == "T05watch:2000;thread:01;"
    assert m.reg_read("eip") == 0x100B and m.mem_read(0x2000, 4) == (3).to_bytes(4, "little")
    assert c.ask("z2,2000,4") == "OK"
    assert c.ask("Z1,1012,1") == "OK"                    # a hardware breakpoint at the hlt
    assert c.ask("c").startswith("T05hwbreak:") and m.reg_read("eax") == 1000
    assert c.ask("z1,1012,1") == "OK"
    assert c.ask("c") == "W7e"                           # HLT with nothing to wake it: the end
    t.join(10)
    assert result["exit"].reason == "hlt"


def test_ctrl_c_interrupts_a_running_guest_and_kill_ends_it(stub):
    m, c, result, t = stub
    assert c.ask("P8=00300000") == "OK"                  # eip = the endless loop
    c.send("c")
    time.sleep(0.3)
    c.s.sendall(b"\x03")
    assert c.reply().startswith("T02")
    assert m.reg_read("eip") == 0x3000 and m.instructions > 0
    c.send("k")
    t.join(10)
    assert not t.is_alive()


def test_watchpoints_are_limited_to_what_the_debug_registers_hold(stub):
    _, c, _, _ = stub
    for k in range(4):
        assert c.ask(f"Z2,{0x2000 + 8 * k:x},8") == "OK"
    assert c.ask("Z2,2100,4").startswith("E")            # a fifth
    assert c.ask("Z3,2101,4").startswith("E")            # unaligned


# ---- real gdb

def pvemu_gdb(guest, port, *extra):
    env = subprocess_env()
    return subprocess.Popen([sys.executable, "-m", "emu", "run", guest, "--gdb", f"tcp::{port}",
                             "--gdb-wait", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=NEUTRAL_CWD)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gdb(*commands, port, pre=()):
    args = [GDB, "-batch", "-nx", *sum((["-ex", x] for x in pre), [])]
    args += ["-ex", f"target remote 127.0.0.1:{port}"]
    args += sum((["-ex", x] for x in commands), [])
    for _ in range(50):                      # the stub may still be starting
        p = subprocess.run(args, capture_output=True, text=True, timeout=120)
        if "Connection refused" not in p.stdout + p.stderr:
            return p.stdout + p.stderr
        time.sleep(0.2)
    raise AssertionError("the stub never listened")


needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb is not installed (.ci/run installs it)")


@needs_gdb
@pytest.mark.parametrize("bits", [32, 64])
def test_gdb_breaks_on_a_symbol_inspects_steps_and_continues_to_the_end(tmp_path, bits):
    port = free_port()
    serial = tmp_path / "serial.txt"
    extra = ["--gdb-arch", "x86-64"] if bits == 64 else []
    proc = pvemu_gdb(f"hello{bits}", port, "--serial", str(serial), *extra)
    pc = "rip" if bits == 64 else "eip"
    pre = ["set architecture i386:x86-64"] if bits == 64 else []
    out = gdb("break guest_main", "watch *(unsigned int*)&mem_end", "continue",
              "delete 2", "continue", f"info registers {pc} cr0", "x/s (char*)&guest_name",
              "print (unsigned int)mem_end", "stepi", f"info registers {pc}", "continue",
              port=port, pre=pre + [f"file {GUESTS}/hello{bits}.elf"])
    assert proc.wait(60) == 0, out
    assert "Hardware watchpoint 2" in out and "New value = " in out, out
    assert "Breakpoint 1, " in out and "in guest_main ()" in out, out
    assert out.count("<guest_main") >= 2, out                        # before and after stepi
    assert '"hello"' in out, out
    assert "$1 = 33554432" in out, out                               # 32 MiB
    assert "cr0            0x80000011" in out, out
    assert "exited normally" in out, out
    assert serial.read_bytes().endswith(b"goodbye\n")


@needs_gdb
def test_gdb_sees_the_switch_to_long_mode(tmp_path):
    """hello64 starts in 32-bit mode: gdb attached there gets i386; after it
    stopped in long mode and went away, the next gdb gets x86-64."""
    port = free_port()
    proc = pvemu_gdb("hello64", port, "--serial", str(tmp_path / "serial.txt"))
    entry = int(subprocess.run(["nm", f"{GUESTS}/hello64.elf"], capture_output=True, text=True)
                .stdout.split(" T guest_main")[0].split()[-1], 16)
    first = gdb(f"break *{entry:#x}", "continue", "info registers eip", "info registers rip",
                "disconnect", port=port)
    assert "Invalid register `rip'" in first, first                 # the i386 layout
    assert f"eip            {entry:#x}" in first, first
    second = gdb("show architecture", "info registers rip efer", "continue", port=port)
    assert "i386:x86-64" in second, second
    assert f"rip            {entry:#x}" in second and "efer           0x500" in second, second
    assert "exited normally" in second, second
    assert proc.wait(60) == 0



@needs_gdb
def test_one_stub_per_supervised_domain(tmp_path):
    """pingpong's two domains under the supervisor, each with its gdb: one
    stops at a breakpoint and steps while the other only continues; the
    game still finishes."""
    port = free_port()
    env = subprocess_env()
    proc = subprocess.Popen([sys.executable, "-m", "emu", "run", "--supervised", "pingpong32",
                             "--cmdline", "rounds=50", "--gdb", f"tcp::{port}", "--gdb-wait"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=NEUTRAL_CWD)
    pong = []                    # (its own thread: gdb() retries until the second stub listens)
    t = threading.Thread(target=lambda: pong.append(gdb(
        "break guest_main", "continue", "stepi", "info registers eip", "continue",
        port=port + 1, pre=(f"file {GUESTS}/pingpong32.elf",))))
    t.start()
    ping = gdb("continue", port=port)
    t.join(timeout=120)
    pong_out = pong[0] if pong else "(pong's gdb did not finish)"
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "exited normally" in ping, ping
    assert "Breakpoint 1, " in pong_out and "<guest_main+" in pong_out, pong_out
    assert "exited normally" in pong_out, pong_out
    assert out.decode().count("50 round trips, counter 100") == 2
