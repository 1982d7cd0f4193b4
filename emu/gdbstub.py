"""A gdb remote stub: `pvemu run ... --gdb tcp::1234 [--gdb-wait]`, as
QEMU's `-gdb tcp::1234 [-S]`.

gdb's Remote Serial Protocol over TCP on 127.0.0.1, all-stop, one thread:
qSupported, QStartNoAckMode, target descriptions (qXfer:features:read) for
i386 and x86-64 (general, segment, x87, SSE, segment-base and control
registers), ? g G p P m M (memory through the guest's page tables), Z0/z0
and Z1/z1 breakpoints (the core's run stops, Machine.set_breakpoints), Z2
Z3 Z4 watchpoints (the core's debug registers, owned by the debugger while
set), s c vCont, Ctrl-C (Machine.stop from the reader thread), k, D.

The description is chosen when gdb asks for it: x86-64 when the CPU is in
long mode (or a 64-bit machine), else i386 (--gdb-arch forces one; QEMU's
qemu-system-x86_64 always gives x86-64).  A kernel that switches modes
while gdb is attached keeps the connection's layout (registers shown at
its width); gdb attached again gets the other.  `detach` lets the guest
run on; a gdb that goes away without detaching (`disconnect`, killed)
leaves it stopped for the next one, as gdbserver does.

Threads: the caller's thread runs the machine and speaks the protocol; a
reader thread splits the byte stream into packets and turns Ctrl-C into
Machine.stop(); an accept thread waits for gdb while the guest runs (it
stops the guest when gdb connects, as QEMU does).
"""
from __future__ import annotations

import queue
import socket
import threading

from emu.errors import EmuError

SIGINT, SIGTRAP, SIGSEGV = 2, 5, 11
EFER = 0xC0000080
KERNEL_GS_BASE = 0xC0000102
SLICE = 1 << 24             # instructions per run() while continuing (budget checks)


# ---- target descriptions: (name, bits, type, feature) in register-number order

def _layout(amd64: bool) -> list:
    w = 64 if amd64 else 32
    gp = (["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"] + [f"r{k}" for k in range(8, 16)]
          if amd64 else ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"])
    core = "org.gnu.gdb.i386.core"
    regs = [(n, w, "data_ptr" if n[1:] in ("sp", "bp") else ("int64" if amd64 else "int32"), core)
            for n in gp]
    regs += [("rip" if amd64 else "eip", w, "code_ptr", core), ("eflags", 32, "i386_eflags", core)]
    regs += [(s, 32, "int32", core) for s in ("cs", "ss", "ds", "es", "fs", "gs")]
    regs += [(f"st{k}", 80, "i387_ext", core) for k in range(8)]
    regs += [(n, 32, "int", core) for n in ("fctrl", "fstat", "ftag", "fiseg", "fioff",
                                            "foseg", "fooff", "fop")]
    sse = "org.gnu.gdb.i386.sse"
    regs += [(f"xmm{k}", 128, "vec128", sse) for k in range(16 if amd64 else 8)]
    regs += [("mxcsr", 32, "i386_mxcsr", sse)]
    # Segment bases and system registers in a feature of pvemu's own (gdb's
    # i386 "segments" feature has fixed register numbers this layout lacks).
    sysf = "org.pvemu.gdb.x86.sys"
    regs += [("fs_base", w, "int", sysf), ("gs_base", w, "int", sysf)]
    if amd64:
        regs += [("k_gs_base", 64, "int", sysf)]
    regs += [(n, w, "int", sysf) for n in ("cr0", "cr2", "cr3", "cr4", "cr8")] + [("efer", 64, "int", sysf)]
    return regs


_VECTOR_TYPES = """
  <vector id="v4f" type="ieee_single" count="4"/>
  <vector id="v2d" type="ieee_double" count="2"/>
  <vector id="v16i8" type="int8" count="16"/>
  <vector id="v8i16" type="int16" count="8"/>
  <vector id="v4i32" type="int32" count="4"/>
  <vector id="v2i64" type="int64" count="2"/>
  <union id="vec128">
    <field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>
    <field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>
    <field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>
    <field name="uint128" type="uint128"/>
  </union>
  <flags id="i386_mxcsr" size="4">
    <field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/>
    <field name="ZE" start="2" end="2"/><field name="OE" start="3" end="3"/>
    <field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
    <field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/>
    <field name="DM" start="8" end="8"/><field name="ZM" start="9" end="9"/>
    <field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
    <field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
  </flags>"""

_EFLAGS_TYPE = """
  <flags id="i386_eflags" size="4">
    <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/>
    <field name="PF" start="2" end="2"/><field name="AF" start="4" end="4"/>
    <field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
    <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/>
    <field name="DF" start="10" end="10"/><field name="OF" start="11" end="11"/>
    <field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
    <field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/>
    <field name="VIF" start="19" end="19"/><field name="VIP" start="20" end="20"/>
    <field name="ID" start="21" end="21"/>
  </flags>"""

#: Types a feature defines (gdb scopes types to their feature).
_FEATURE_TYPES = {"org.gnu.gdb.i386.core": _EFLAGS_TYPE, "org.gnu.gdb.i386.sse": _VECTOR_TYPES}


def target_xml(amd64: bool) -> str:
    """The target description gdb reads with qXfer:features:read:target.xml."""
    arch = "i386:x86-64" if amd64 else "i386"
    out = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
           f"<target><architecture>{arch}</architecture>"]
    feature = None
    for k, (name, bits, typ, feat) in enumerate(_layout(amd64)):
        if feat != feature:
            if feature:
                out.append("</feature>")
            out.append(f'<feature name="{feat}">')
            out.append(_FEATURE_TYPES.get(feat, ""))
            feature = feat
        out.append(f'<reg name="{name}" bitsize="{bits}" type="{typ}" regnum="{k}"/>')
    out.append("</feature></target>")
    return "\n".join(out)


def _f80(sig: int, se: int) -> bytes:
    return sig.to_bytes(8, "little") + se.to_bytes(2, "little")


class Registers:
    """Reading and writing the registers of one layout by number."""

    def __init__(self, m, amd64: bool):
        self.m, self.amd64 = m, amd64
        self.layout = _layout(amd64)

    def read(self, k: int) -> bytes:
        name, bits, _, _ = self.layout[k]
        m = self.m
        if name.startswith("st"):
            f = m.fpu_read()
            return _f80(*f["st"][(f["top"] + int(name[2:])) & 7])
        if name.startswith("xmm"):
            return m.fpu_read()["xmm"][int(name[3:])]
        return (self._value(name) & ((1 << bits) - 1)).to_bytes(bits // 8, "little")

    def _value(self, name: str) -> int:
        m = self.m
        fpu = {"fctrl": "fcw", "fstat": "fsw", "ftag": "ftw", "fiseg": "fcs", "fioff": "fip",
               "foseg": "fds", "fooff": "fdp", "fop": "fop", "mxcsr": "mxcsr"}
        if name in fpu:
            return m.fpu_read()[fpu[name]]
        if name.startswith("cr"):
            return m.read_cr(int(name[2:]))
        if name == "efer":
            return m.read_msr(EFER) or 0
        if name == "k_gs_base":
            return m.read_msr(KERNEL_GS_BASE) or 0
        if name == "eflags":
            return m.reg_read("rflags")
        return m.reg_read({"eip": "rip"}.get(name, name))

    def write(self, k: int, data: bytes) -> None:
        name, bits, _, _ = self.layout[k]
        m = self.m
        v = int.from_bytes(data[:bits // 8], "little")
        if name.startswith("st"):
            f = m.fpu_read()
            st = f["st"]
            st[(f["top"] + int(name[2:])) & 7] = (v & ((1 << 64) - 1), v >> 64)
            m.fpu_write({"st": st})
        elif name.startswith("xmm"):
            xmm = m.fpu_read()["xmm"]
            xmm[int(name[3:])] = bytes(data[:16])
            m.fpu_write({"xmm": xmm})
        elif name in ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop", "mxcsr"):
            key = {"fctrl": "fcw", "fstat": "fsw", "ftag": "ftw", "fiseg": "fcs", "fioff": "fip",
                   "foseg": "fds", "fooff": "fdp"}.get(name, name)
            m.fpu_write({key: v})
        elif name.startswith("cr"):
            m.write_cr(int(name[2:]), v)
        elif name == "efer":
            m.write_msr(EFER, v)
        elif name == "k_gs_base":
            m.write_msr(KERNEL_GS_BASE, v)
        else:
            reg = {"eip": "rip", "eflags": "rflags"}.get(name, name)
            if bits == 32 and reg[0] == "e" and len(reg) == 3:
                reg = "r" + reg[1:]
                v |= self.m.reg_read(reg) & ~0xFFFFFFFF      # keep the upper half in long mode
            if reg in ("cs", "ss", "ds", "es", "fs", "gs"):
                v &= 0xFFFF
            m.reg_write(reg, v)

    def read_all(self) -> bytes:
        return b"".join(self.read(k) for k in range(len(self.layout)))

    def write_all(self, data: bytes) -> None:
        pos = 0
        for k, (_, bits, _, _) in enumerate(self.layout):
            n = bits // 8
            if pos + n > len(data):
                break
            self.write(k, data[pos:pos + n])
            pos += n


# ---- packets

def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    """Binary data in a reply: '#', '$', '}' and '*' escaped with '}'."""
    out = bytearray()
    for b in data:
        if b in b"#$}*":
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    return bytes(out)


def frame(data: bytes) -> bytes:
    """One packet: $data#checksum."""
    return b"$" + data + b"#%02x" % checksum(data)


class Connection:
    """One gdb on a socket: a reader thread queues whole packets (acked
    while gdb wants acks) and turns Ctrl-C into a stop of the machine."""

    def __init__(self, sock, machine):
        self.sock, self.m = sock, machine
        self.packets = queue.SimpleQueue()
        self.ack = True
        self.interrupted = False
        threading.Thread(target=self._read, daemon=True, name="pvemu-gdb-reader").start()

    def _read(self):
        buf = bytearray()
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.packets.put(None)
                return
            buf += data
            while buf:
                if buf[0] == 0x03:                   # Ctrl-C
                    del buf[0]
                    self.interrupted = True
                    self.m.stop()
                    self.packets.put(b"\x03")
                elif buf[0] != ord("$"):
                    del buf[0]                       # acks and noise
                else:
                    end = buf.find(b"#")
                    if end < 0 or len(buf) < end + 3:
                        break
                    body, sent = bytes(buf[1:end]), bytes(buf[end + 1:end + 3])
                    del buf[:end + 3]
                    ok = sent.lower() == b"%02x" % checksum(body)
                    if self.ack:
                        self._send_raw(b"+" if ok else b"-")
                    if ok:
                        self.packets.put(body)

    def _send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            pass

    def send(self, data) -> None:
        self._send_raw(frame(data.encode() if isinstance(data, str) else data))

    def next(self):
        """The next packet (blocking), b'\\x03' for Ctrl-C, None when gdb left."""
        return self.packets.get()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class GdbStub:
    """The protocol for one machine.  serve() runs it: the guest runs when
    gdb says so (or freely while no gdb is attached)."""

    def __init__(self, machine, port: int, wait: bool = False, end: int = None, arch: str = "auto"):
        if arch not in ("auto", "i386", "x86-64"):
            raise EmuError(f"gdb architecture {arch!r}: use auto, i386 or x86-64")
        self.m = machine
        self.arch = arch
        self.wait = wait
        self.end = end
        self.sw = set()            # Z0 addresses
        self.hw = set()            # Z1 addresses
        self.watch = []            # [(address, length, kind)] for Z2/Z3/Z4
        self.regs = None
        self.conn = None
        self.incoming = queue.SimpleQueue()
        self.last = None           # the Exit the guest stopped with
        self.finished = False
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.server.bind(("127.0.0.1", port))
        except OSError as e:
            raise EmuError(f"cannot listen for gdb on 127.0.0.1:{port}: {e.strerror}") from None
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="pvemu-gdb-accept").start()

    def _accept(self):
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.incoming.put(sock)
            self.m.stop()          # a gdb arriving stops the guest, as with QEMU

    # ---- running the guest

    def serve(self):
        """Run until the guest ends (or gdb kills it); returns the last Exit."""
        while not self.finished:
            if self.conn is None:
                if self.wait:
                    self._attach(self.incoming.get())
                    continue
                ex = self._run_free()
                if ex is not None:
                    return ex
                continue
            body = self.conn.next()
            if body is None:                 # gdb went away without D: stay stopped for the next
                self._detach()
                self.wait = True
                continue
            if body == b"\x03":                # Ctrl-C while stopped (one in a continue is answered there)
                if self.conn.interrupted:
                    self.conn.interrupted = False
                    self.conn.send(self._stop_reply(None, SIGINT))
                continue
            self._packet(body)
        self.server.close()
        return self.last

    def _attach(self, sock):
        self.conn = Connection(sock, self.m)
        self.regs = None
        self.wait = False

    def _detach(self):
        if self.conn:
            self.conn.close()
        self.conn = None
        self.sw.clear()
        self.hw.clear()
        self.watch = []
        self._arm()

    def _run_free(self):
        """No gdb: run until the guest ends (returned) or gdb connects (None)."""
        while True:
            ex = self.m.run(count=self._slice())
            if not self.incoming.empty():
                self._attach(self.incoming.get())
                return None
            if ex.reason not in ("count", "stop") or self._spent():
                self.last = ex
                return ex

    def _slice(self) -> int:
        return SLICE if self.end is None else max(0, min(SLICE, self.end - self.m.instructions))

    def _spent(self) -> bool:
        return self.end is not None and self.m.instructions >= self.end

    def _arm(self):
        self.m.set_breakpoints(sorted(self.sw | self.hw))
        self.m.set_debugger_watchpoints(
            [(a, n, "write" if k == "watch" else "access") for a, n, k in self.watch])

    def _step(self):
        """One instruction, with the breakpoints out of the way."""
        self.m.set_breakpoints([])
        try:
            ex = self.m.run(count=1)
            if ex.reason == "stop" and ex.instructions == 0:
                ex = self.m.run(count=1)     # a stop asked for earlier (a pause) was still pending
            return ex
        finally:
            self._arm()

    def _continue(self):
        m = self.m
        ex = None
        if m.reg_read("rip") in self.sw | self.hw:
            ex = self._step()                # step off the breakpoint first
            if ex.reason != "count":
                return ex
        while True:
            if self._spent():
                return ex
            ex = m.run(count=self._slice())
            if ex.reason == "stop" and not self.conn.interrupted:
                continue                     # another gdb knocked; not ours to report
            if ex.reason != "count":
                return ex

    def _stop_reply(self, ex, signal=SIGTRAP) -> str:
        """T/W reply for how the guest stopped."""
        self.last = ex or self.last
        if ex is not None:
            if ex.reason == "stop":
                signal = SIGINT
                self.conn.interrupted = False
            elif ex.reason == "until":
                rip = self.m.reg_read("rip")
                return f"T05{'hwbreak' if rip in self.hw and rip not in self.sw else 'swbreak'}:;thread:01;"
            elif ex.reason == "debug":
                for k in self.m.debugger_hits():
                    if k < len(self.watch):
                        a, _, kind = self.watch[k]
                        return f"T05{kind}:{a:x};thread:01;"
            elif ex.reason == "debug-exit":
                self.finished = True
                return f"W{ex.status & 0xFF:02x}"
            elif ex.reason == "hlt":
                self.finished = True
                return "W7e"
            elif ex.reason in ("exception", "triple-fault", "unmapped"):
                signal = SIGSEGV
            elif ex.reason == "count" and self._spent():
                self.finished = True
                return "X09"
        return f"T{signal:02x}thread:01;"

    # ---- packets

    def _packet(self, body: bytes):
        text = body.decode("latin-1")
        c = self.conn
        cmd = text[:1]
        try:
            reply = self._answer(text, cmd)
        except (EmuError, ValueError, IndexError) as e:
            reply = "E16" if not isinstance(e, EmuError) else "E22"
        if reply is not None:
            c.send(reply)

    def _layout(self) -> Registers:
        if self.regs is None:
            m = self.m
            amd64 = self.arch == "x86-64" or (
                self.arch == "auto" and (m.mode == 64 or bool((m.read_msr(EFER) or 0) & 0x400)))
            self.regs = Registers(m, amd64)
        return self.regs

    def _answer(self, text: str, cmd: str):
        m = self.m
        if text.startswith("qSupported"):
            return ("PacketSize=4000;qXfer:features:read+;swbreak+;hwbreak+;"
                    "QStartNoAckMode+;vContSupported+")
        if text == "QStartNoAckMode":
            self.conn.send("OK")
            self.conn.ack = False
            return None
        if text.startswith("qXfer:features:read:target.xml:"):
            off, length = (int(x, 16) for x in text.rsplit(":", 1)[1].split(","))
            xml = target_xml(self._layout().amd64).encode()
            part = xml[off:off + length]
            return (b"l" if off + length >= len(xml) else b"m") + escape(part)
        if text.startswith("qXfer:"):
            return "E00"
        if text == "?":
            return self._stop_reply(None, SIGTRAP)
        if text in ("qC",):
            return "QC01"
        if text == "qfThreadInfo":
            return "m01"
        if text == "qsThreadInfo":
            return "l"
        if text == "qAttached":
            return "1"
        if text.startswith("qSymbol"):
            return "OK"
        if text.startswith("qRcmd,"):
            return self._monitor(bytes.fromhex(text[6:]).decode())
        if cmd == "H" or cmd == "T":
            return "OK"
        if text == "vCont?":
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            action = text[6:].split(";")[0].split(":")[0]
            return self._resume(action[0].lower())
        if cmd in ("c", "s", "C", "S"):
            if len(text) > 1 and cmd in "cs":
                m.reg_write("rip", int(text[1:], 16))
            return self._resume(cmd.lower())
        if cmd == "g":
            return self._layout().read_all().hex()
        if cmd == "G":
            self._layout().write_all(bytes.fromhex(text[1:]))
            return "OK"
        if cmd == "p":
            k = int(text[1:], 16)
            return self._layout().read(k).hex() if k < len(self._layout().layout) else "E45"
        if cmd == "P":
            k, value = text[1:].split("=")
            self._layout().write(int(k, 16), bytes.fromhex(value))
            return "OK"
        if cmd == "m":
            addr, n = (int(x, 16) for x in text[1:].split(","))
            data = m.read_virtual(addr, min(n, 0x4000))
            return data.hex() if data is not None else "E14"
        if cmd == "M":
            where, data = text[1:].split(":")
            addr, n = (int(x, 16) for x in where.split(","))
            return "OK" if m.write_virtual(addr, bytes.fromhex(data)[:n]) else "E14"
        if cmd in ("Z", "z"):
            return self._points(cmd == "Z", text[1:])
        if cmd == "k" or text.startswith("vKill"):
            self.finished = True
            self.conn.close()
            return None
        if cmd == "D":
            self.conn.send("OK")
            self._detach()
            return None
        return ""                             # not supported: gdb falls back or says so

    def _resume(self, how: str):
        ex = self._step() if how == "s" else self._continue()
        return self._stop_reply(ex)

    def _points(self, insert: bool, spec: str) -> str:
        kind, addr, length = spec.split(",")[:3]
        addr, length = int(addr, 16), int(length.split(";")[0], 16)
        if kind == "0" or kind == "1":
            table = self.sw if kind == "0" else self.hw
            (table.add if insert else table.discard)(addr)
        elif kind in ("2", "3", "4"):
            name = {"2": "watch", "3": "rwatch", "4": "awatch"}[kind]
            point = (addr, length, name)
            if insert:
                if len(self.watch) >= 4 or length not in (1, 2, 4, 8) or addr % length:
                    return "E28"                # gdb then says it cannot insert it
                self.watch.append(point)
            elif point in self.watch:
                self.watch.remove(point)
        else:
            return ""
        self._arm()
        return "OK"

    def _monitor(self, command: str) -> str:
        """`monitor info` in gdb: the machine's devices and counters."""
        words = command.split()
        if words[:1] == ["info"]:
            m = self.m
            text = (f"instructions {m.instructions:,}, virtual time {m.virtual_time:,}, "
                    f"mode {m.mode}, cpl {m.cpl}\n{m.device_state()}\n")
        else:
            text = "monitor commands: info\n"
        return text.encode().hex()


def serve_machine(m, port: int, wait: bool = False, end: int = None, arch: str = "auto"):
    """`pvemu run --gdb`: serve gdb for machine m until the guest ends;
    returns the last Exit."""
    import sys
    stub = GdbStub(m, port, wait, end, arch)
    print(f"pvemu: gdb stub on 127.0.0.1:{stub.port}"
          + (" (waiting for gdb)" if wait else ""), file=sys.stderr, flush=True)
    ex = stub.serve()
    if ex is None:                       # gdb killed the guest before it ran to an end
        ex = m.run(count=0)
    return ex


class DomainStub(GdbStub):
    """A gdb stub for one supervised domain (`--supervised --gdb`, one port
    a domain).  The supervisor runs the domain; this stub speaks the
    protocol on a thread of its own and has the supervisor pause and
    unpause the domain between quanta (Supervisor.post).  The supervisor
    tells it when the domain stops at a breakpoint, a watchpoint or a
    Ctrl-C (wants/stopped) or ends."""

    def __init__(self, sup, dom, port: int, wait: bool = False, arch: str = "auto"):
        super().__init__(dom.machine, port, wait=wait, arch=arch)
        self.sup, self.dom = sup, dom
        self.stops = queue.SimpleQueue()
        self.resumed = False
        dom.debugger = self
        sup.controlled = True                # a paused domain may be continued by gdb: wait for it
        self.thread = threading.Thread(target=self.serve, daemon=True, name=f"pvemu-gdb-{dom.name}")
        self.thread.start()

    def close(self, timeout: float = 10) -> None:
        """After the supervisor's run: let an attached gdb have its last reply."""
        if self.conn is not None:
            self.thread.join(timeout)

    # called by the supervisor on its thread
    def wants(self, ex) -> bool:
        """Is this stop of the domain's quantum the debugger's?"""
        return self.resumed and (ex.reason in ("until", "debug")
                                 or (ex.reason == "stop" and self.conn is not None and self.conn.interrupted))

    def stopped(self, ex) -> None:
        """The domain stopped for the debugger (ex), or ended (None)."""
        if self.resumed:
            self.resumed = False
            self.stops.put(ex)

    def serve(self):
        """The protocol thread; gdb's kill ends the domain."""
        ex = super().serve()
        if self.dom.state not in ("shutdown", "crashed"):
            self._call(lambda: self.sup.kill(self.dom, "killed from gdb"))
        return ex

    # run control, through the supervisor
    def _call(self, fn):
        """fn() on the supervisor's thread between quanta; its result."""
        box = queue.SimpleQueue()
        self.sup.post(lambda: box.put(fn()), f"gdb: {self.dom.name}")
        return box.get()

    def _attach(self, sock):
        super()._attach(sock)
        self._call(lambda: self.sup.pause(self.dom))

    def _run_free(self):
        self._attach(self.incoming.get())       # the domain runs under the supervisor meanwhile
        return None

    def _detach(self):
        super()._detach()
        self._call(lambda: self.sup.unpause(self.dom))

    def _step(self):
        return self._call(super()._step)

    def _continue(self):
        if self.dom.state in ("shutdown", "crashed"):
            return None
        if self.m.reg_read("rip") in self.sw | self.hw:
            ex = self._step()
            if ex.reason != "count":
                return ex
        self.resumed = True
        self._call(lambda: self.sup.unpause(self.dom))
        return self.stops.get()

    def _stop_reply(self, ex, signal=SIGTRAP) -> str:
        if ex is None and self.dom.state in ("shutdown", "crashed"):
            self.finished = True
            if self.dom.state == "shutdown":
                return f"W{(self.dom.exit_status or 0) & 0xFF:02x}"
            return f"X{SIGSEGV:02x}"
        return super()._stop_reply(ex, signal)


def serve_domains(sup, base_port: int, wait: bool = False, arch: str = "auto") -> list:
    """`--supervised --gdb tcp::PORT`: a stub for each domain, on PORT,
    PORT+1, ... in domain order.  With wait, the domains start paused until
    gdb continues them."""
    import sys
    stubs = []
    for k, dom in enumerate(sup.domains.values()):
        if wait:
            sup.pause(dom)
        stubs.append(DomainStub(sup, dom, base_port + k, arch=arch))
        print(f"pvemu: gdb stub for {dom.name} on 127.0.0.1:{stubs[-1].port}", file=sys.stderr, flush=True)
    return stubs
