"""Live migration of a supervised domain to a supervisor in another process
(Supervisor.migrate; `migrate NAME HOST:PORT` on --control and in `pvemu
up` files; `pvemu receive --listen PORT` on the other side).

As Xen does it: the domain runs on while its memory is copied, round after
round sending the pages it dirtied since the round before
(Machine.dirty_pages), until the dirty set is small, stops shrinking or
MAX_ROUNDS is reached; then it is stopped and the rest goes in one message
(stop-and-copy): the pages dirtied in the last round, the frames it maps
from other domains, and its CPU, device and supervisor-side state in the
save file's format (savefile.pack, paravirt/save.py).  The destination
resumes it and answers DONE; only then does the source drop its copy.
Whatever goes wrong before that (a refused handshake, a closed
connection, a bad message) leaves the domain running at the source, and
the destination discards what it had received.

The connection then stays as a link between the two supervisors: event
channels between the migrated domain and the domains it left behind are
forwarded over it, and the pages they share through grants travel with
each notification: the sender's copy when it notifies replaces the
receiver's (release consistency: right for protocols that hand a page
over with each event, as pingpong does, not for two writers of one page
at once).  What is not forwarded fails with -ESRCH: mapping a grant or
reading the store keys of a domain on the other side, and every send once
the link is closed.

The stream is messages of a 4-byte kind and a u32 length:
    HELO  magic "PVEMUMIG", version u16, CPU layout size u32, fingerprint u32
    DOMN  JSON: the domain's id, name, memory size, and its peers left behind
          (checked early; those of FINL's META count: the domain may have
          found new ones during the pre-copy)
    PAGS  u32 count, count frame numbers (u32), count pages
    FINL  a domain save (savefile.pack) whose RAM is the last pages
    EVNT  from u16, to u16, port u32, page count u32; a page: granter u16,
          grant ref u32, 4096 bytes
and back: OKAY (the handshake step is accepted), PAGD (a PAGS message is
written: the source sends the next one only then, so none wait unwritten
when it stops the domain), DONE (the domain runs here now; when FINL came
and when it resumed, two doubles of the destination's monotonic clock),
FAIL (why not, UTF-8)."""
from __future__ import annotations

import json
import queue
import socket
import struct
import sys
import threading
import time
from typing import Callable, Optional

from emu import savefile
from emu.errors import EmuError
from paravirt import abi, save
from paravirt.domain import PAGE
from paravirt.errors import ConfigError, HypercallError

MAGIC = b"PVEMUMIG"
VERSION = 1
MAX_ROUNDS = 30          # pre-copy rounds at most (Xen stops after 29 by default)
FEW_PAGES = 50           # a dirty set this small goes in the stop-and-copy (Xen's threshold)
CHUNK = 1024             # pages a PAGS message (4 MiB): one between two quanta
HANDSHAKE_TIMEOUT = 10.0 # seconds a peer may take to answer a handshake step
ANSWER_TIMEOUT = 30.0    # seconds the destination may take to answer during the migration
SOCKET_BUFFER = 4 << 20  # bytes the kernel buffers each way (as far as it allows)
SEND_TIMEOUT = 30        # seconds a send may block before the link counts as dead

_HEAD = struct.Struct("<4sI")
_HELLO = struct.Struct("<8sHII")
_EVENT = struct.Struct("<HHII")
_PAGEREF = struct.Struct("<HI")
_STEPS = struct.Struct("<dd")        # DONE: when the destination had FINL, and resumed the domain
_KINDS = (b"HELO", b"DOMN", b"PAGS", b"FINL", b"EVNT", b"OKAY", b"PAGD", b"DONE", b"FAIL")
_ZERO = bytes(PAGE)


class MigrationError(EmuError):
    """A migration (or link) that cannot go on; the message says why."""


def parse_address(text: str, listen: bool = False) -> tuple:
    """(host, port) of "HOST:PORT" (HOST empty: 127.0.0.1); to listen on,
    "PORT" alone will do, and port 0 means any free one."""
    host, sep, port = str(text).rpartition(":")
    if not port.isdigit() or not (0 if listen else 1) <= int(port) < 65536 or not (sep or listen):
        raise ConfigError(f"{text!r} is not {'[HOST:]PORT' if listen else 'HOST:PORT'} (e.g. 127.0.0.1:7000)")
    return host or "127.0.0.1", int(port)


def hello() -> bytes:
    from emu._core import cpu_layout
    return _HELLO.pack(MAGIC, VERSION, *cpu_layout())


def check_hello(payload: bytes) -> None:
    """MigrationError unless `payload` is a HELO this pvemu can take."""
    from emu._core import cpu_layout
    if len(payload) != _HELLO.size or payload[:8] != MAGIC:
        raise MigrationError("the peer does not speak pvemu's migration protocol")
    _, version, size, fingerprint = _HELLO.unpack(payload)
    if version != VERSION:
        raise MigrationError(f"the peer speaks migration version {version}; this pvemu speaks {VERSION}")
    if (size, fingerprint) != cpu_layout():
        raise MigrationError(f"the peer's CPU state differs from this pvemu's (layout {size}/{fingerprint:#x}, "
                             f"here {cpu_layout()[0]}/{cpu_layout()[1]:#x})")


class Link:
    """One connection between two supervisors: the migration stream, then
    the events of the domains on either side.  Messages go out whole and in
    order (one lock); a reader thread hands those that come in to
    handle(kind, payload) and, when the connection ends, calls
    on_close(error)."""

    def __init__(self, sup, sock: socket.socket, name: str):
        self.sup, self.sock, self.name = sup, sock, name
        self.handle: Callable = lambda kind, payload: None
        self.on_close: Callable = lambda error: None
        self.closed = False
        self.sent = 0                    # bytes, headers included
        self.routes: set = set()         # domain ids reached through this link
        self._lock = threading.Lock()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", SEND_TIMEOUT, 0))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):   # the stop-and-copy fits: no wait to send it
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)

    def send(self, kind: bytes, payload=b"") -> None:
        with self._lock:
            if self.closed:
                raise MigrationError(f"the link to {self.name} is closed")
            try:
                self.sock.sendall(_HEAD.pack(kind, len(payload)))
                self.sock.sendall(payload)
            except OSError as e:
                self._shut()
                raise MigrationError(f"cannot send to {self.name}: {e.strerror or e}") from None
            self.sent += _HEAD.size + len(payload)

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                got = self.sock.recv(min(n - len(buf), 1 << 20))
            except socket.timeout:
                raise MigrationError(f"{self.name} did not answer in time") from None
            except OSError as e:
                raise MigrationError(f"the connection to {self.name} failed: {e.strerror or e}") from None
            if not got:
                raise MigrationError(f"{self.name} closed the connection mid-way")
            buf += got
        return bytes(buf)

    def recv(self, limit: int) -> tuple:
        """(kind, payload) of the next message; MigrationError for an end of
        stream, an unknown kind or a payload over `limit` bytes."""
        kind, n = _HEAD.unpack(self._exact(_HEAD.size))
        if kind not in _KINDS:
            raise MigrationError(f"{self.name} sent a message of unknown kind {kind!r}")
        if n > limit:
            raise MigrationError(f"{self.name} sent a {kind.decode()} message of {n:,} bytes "
                                 f"(at most {limit:,} expected here)")
        return kind, self._exact(n)

    def expect(self, want: bytes, limit: int = 4096) -> bytes:
        """The payload of the next message, which must be `want` (a FAIL
        becomes MigrationError with the peer's reason)."""
        kind, payload = self.recv(limit)
        if kind == b"FAIL":
            raise MigrationError(f"{self.name} refused: {payload.decode('utf-8', 'replace')}")
        if kind != want:
            raise MigrationError(f"{self.name} sent {kind.decode()} where {want.decode()} belongs")
        return payload

    def fail(self, why: str) -> None:
        """Tell the peer why we stop (if it still listens), and close."""
        try:
            self.send(b"FAIL", why.encode())
        except MigrationError:
            pass
        self.close()

    def start_reader(self, limit: int, timeout: Optional[float] = None) -> None:
        def loop():
            try:
                while True:
                    kind, payload = self.recv(limit)
                    self.handle(kind, payload)
            except MigrationError as e:
                error = None if self.closed else e
            self.close()
            self.on_close(error)
        self.sock.settimeout(timeout)
        threading.Thread(target=loop, name=f"pvemu-link-{self.name}", daemon=True).start()

    def _shut(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """Close the connection; the domains behind it are out of reach."""
        self._shut()
        self.sock.close()
        for domid in self.routes:
            if self.sup.remote.get(domid) is self:
                del self.sup.remote[domid]
        if self in self.sup.links:
            self.sup.links.remove(self)

    # ---- events across the link

    def event(self, dom, remote: int, port: int) -> None:
        """Forward dom's notification of `remote`'s port, with the pages the
        two share (Supervisor.send_event)."""
        pages = shared_pages(dom, remote)
        parts = [_EVENT.pack(dom.domid, remote, port, len(pages))]
        for granter, ref, gfn in pages:
            parts += [_PAGEREF.pack(granter, ref), dom.machine.mem_read(gfn << 12, PAGE)]
        try:
            self.send(b"EVNT", b"".join(parts))
        except MigrationError as e:
            raise HypercallError(abi.ESRCH, str(e)) from None   # the domain is out of reach

    def take_events(self) -> None:
        """From now on, EVNT messages are delivered to this supervisor's domains."""
        def handle(kind, payload):
            if kind != b"EVNT":
                raise MigrationError(f"{self.name} sent {kind.decode()} on an established link")
            ev = parse_event(payload)
            self.sup.post(lambda: deliver(self.sup, self, *ev), f"event from domain {ev[0]} via {self.name}")
        self.handle = handle


def shared_pages(dom, remote: int) -> list:
    """(granter, grant ref, dom's frame) of each page dom shares with domain
    `remote`: the grants it maps from it and the grants it gave it."""
    out = [(g, ref, gfn) for gfn, (g, ref) in dom.foreign.items() if g == remote]
    out += [(dom.domid, ref, grant[1]) for ref, grant in enumerate(dom.grants)
            if grant is not None and grant[0] == remote]
    return out


def parse_event(payload: bytes) -> tuple:
    """(from, to, port, [(granter, ref, page)]) of an EVNT payload."""
    if len(payload) < _EVENT.size:
        raise MigrationError("an event message is cut short")
    frm, to, port, n = _EVENT.unpack_from(payload)
    step = _PAGEREF.size + PAGE
    if len(payload) != _EVENT.size + n * step:
        raise MigrationError(f"an event message says {n} pages but holds {len(payload) - _EVENT.size} bytes")
    pages = []
    for k in range(n):
        at = _EVENT.size + k * step
        granter, ref = _PAGEREF.unpack_from(payload, at)
        pages.append((granter, ref, payload[at + _PAGEREF.size:at + step]))
    return frm, to, port, pages


def deliver(sup, link: Link, frm: int, to: int, port: int, pages: list) -> None:
    """An event from domain `frm` (behind `link`) for port `port` of domain
    `to`: first the shared pages it carries, then the notification.  One
    that names a channel which is not there is dropped (and logged)."""
    target = sup.domains.get(to)
    ch = target.events.ports.get(port) if target is not None else None
    if frm not in link.routes or ch is None or ch.kind != "interdomain" or ch.remote_dom != frm:
        sup.log(f"dropped an event from domain {frm} for port {port} of domain {to} (no such channel)")
        return
    for granter, ref, data in pages:
        for d, gfn in holders(sup, frm, granter, ref):
            d.machine.mem_write(gfn << 12, data)
    target.raise_event(port)


def holders(sup, frm: int, granter: int, ref: int) -> list:
    """(domain, frame) here holding the page of grant `ref` of `granter`
    shared with domain `frm`: the granter's own frame, or the frames
    mapping it."""
    g = sup.domains.get(granter)
    if g is not None:
        grant = g.grants[ref] if 0 <= ref < len(g.grants) else None
        return [(g, grant[1])] if grant is not None and grant[0] == frm else []
    if granter != frm:
        return []
    return [(d, gfn) for d in sup.domains.values() for gfn, key in d.foreign.items() if key == (granter, ref)]


def peers_of(dom) -> set:
    """The ids of the domains dom shares channels or pages with."""
    peers = {ch.remote_dom for ch in dom.events.ports.values() if ch.kind == "interdomain"}
    peers |= {g for g, _ in dom.foreign.values()}
    peers |= {grant[0] for grant in dom.grants if grant is not None}
    return peers - {dom.domid}


def pages_message(m, todo: list, skip_zero: bool) -> tuple:
    """(PAGS payload, pages in it) for the first CHUNK frames of `todo`
    (taken off it) of machine m; all-zero pages are left out when
    skip_zero (the destination's RAM starts zeroed) and do not count."""
    nums, data = [], []
    k = 0
    while k < len(todo) and len(nums) < CHUNK:
        f = todo[k]
        k += 1
        page = m.mem_read(f << 12, PAGE)
        if skip_zero and page == _ZERO:
            continue
        nums.append(f)
        data.append(page)
    del todo[:k]
    return struct.pack(f"<I{len(nums)}I", len(nums), *nums) + b"".join(data), len(nums)


# ---- the source side


class Migration:
    """Moving one domain out (Supervisor.migrate).  Driven from the
    supervisor's thread between quanta; a sender thread does the socket
    writes of the pre-copy, so the domains run on while pages travel.
    Afterwards: rounds, pages_sent, bytes_sent, downtime and total (seconds;
    downtime from the stop to the destination's DONE), or error."""

    def __init__(self, sup, dom, address: str, on_done: Optional[Callable] = None):
        from paravirt.supervisor import TERMINAL
        if sup.threads:
            raise ConfigError("live migration needs domains scheduled in rounds, not threads")
        if dom.state in TERMINAL or dom.domid not in sup.domains:
            raise ConfigError(f"domain {dom.name} is {dom.state}: nothing to migrate")
        if any(mig.dom is dom for mig in sup.outgoing):
            raise ConfigError(f"domain {dom.name} is already migrating")
        self.sup, self.dom, self.address = sup, dom, address
        self.host, self.port = parse_address(address)
        self.on_done = on_done or (lambda mig: None)
        self.rounds = 0                  # pre-copy rounds (the stop-and-copy not counted)
        self.dirty_history: list = []    # pages dirtied in each round
        self.pages_sent = 0
        self.bytes_sent = 0
        self.domain_pages = dom.pages
        self.downtime = self.total = None
        self.error: Optional[str] = None
        self.done = False
        self.t_start = self.t_stop = self.t_sent = self.t_ack = None
        self.steps: dict = {}            # when the stop-and-copy was sent, received, resumed (monotonic)
        self._todo: list = []
        self._was = dom.state
        self._outbox = queue.SimpleQueue()
        self.link: Optional[Link] = None

    def start(self) -> "Migration":
        """Connect, shake hands (MigrationError if the destination refuses:
        nothing has changed), and begin the pre-copy."""
        sup, dom = self.sup, self.dom
        self.t_start = time.monotonic()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=HANDSHAKE_TIMEOUT)
        except OSError as e:
            raise MigrationError(f"cannot reach {self.address}: {e.strerror or e}") from None
        link = Link(sup, sock, self.address)
        try:
            link.send(b"HELO", hello())
            link.expect(b"OKAY")
            peers = sorted(p for p in peers_of(dom) if p in sup.domains)
            link.send(b"DOMN", json.dumps({"domid": dom.domid, "name": dom.name,
                                           "memory": dom.machine.memory_size, "peers": peers}).encode())
            link.expect(b"OKAY")
        except MigrationError:
            link.close()
            raise
        self.link = link
        link.handle, link.on_close = self._incoming, self._closed
        link.start_reader(1 << 16, ANSWER_TIMEOUT)
        sup.links.append(link)
        sup.outgoing.append(self)
        dom.machine.dirty_pages(clear=True)          # from here on, what is written is sent again
        self._todo = [f for f in range(dom.max_pages) if dom.owned[f]]
        threading.Thread(target=self._sender, name=f"pvemu-migrate-{dom.name}", daemon=True).start()
        sup.post(self._step, f"migrate {dom.name}: pre-copy")
        return self

    def _sender(self) -> None:
        while True:
            payload = self._outbox.get()
            if payload is None:
                return
            try:
                self.link.send(b"PAGS", payload)
            except MigrationError as e:
                self.sup.post(lambda e=e: self._fail(e), f"migrate {self.dom.name}: failed")
                return

    def _step(self) -> None:
        """Between quanta: send the next chunk of this round, or end the
        round and choose between another and the stop-and-copy."""
        from paravirt.supervisor import TERMINAL
        if self.done:
            return
        dom, m = self.dom, self.dom.machine
        if dom.state in TERMINAL:
            self._fail(MigrationError(f"domain {dom.name} {dom.state} during the migration ({dom.reason})"))
            return
        if self._todo:
            payload, n = pages_message(m, self._todo, skip_zero=self.rounds == 0)
            self.pages_sent += n
            self._outbox.put(payload)
            return
        dirty = sorted(f for f in {a >> 12 for a in m.dirty_pages(clear=True)} if dom.owns(f))
        self.rounds += 1
        self.dirty_history.append(len(dirty))
        shrinking = len(self.dirty_history) < 2 or len(dirty) < self.dirty_history[-2]
        if len(dirty) <= FEW_PAGES or self.rounds >= MAX_ROUNDS or not shrinking:
            self._stop_and_copy(dirty)
        else:
            self._todo = dirty
            self._step()

    def _stop_and_copy(self, dirty: list) -> None:
        sup, dom, m = self.sup, self.dom, self.dom.machine
        self.t_stop = time.monotonic()
        self._was = dom.state
        dom.state = "migrating"                      # not scheduled, not woken
        del sup.domains[dom.domid]
        sup.remote[dom.domid] = self.link            # its events go to the link from now on
        self.link.routes.add(dom.domid)
        dom.flush_console()
        final = sorted(set(dirty) | set(dom.foreign))
        meta, blobs = savefile.machine_sections(m, frames=False)
        blobs["PFNS"] = struct.pack(f"<{len(final)}I", *final)
        blobs["PAGE"] = b"".join(m.mem_read(f << 12, PAGE) for f in final)
        d = save.domain_meta(sup, dom)
        d["attrs"]["state"] = self._was
        meta["domain"] = d
        meta["peers"] = sorted(p for p in peers_of(dom) if p in sup.domains)   # as they are now
        self.pages_sent += len(final)
        try:
            self.link.send(b"FINL", savefile.pack(savefile.KIND_DOMAIN, meta, blobs))
            self.t_sent = time.monotonic()
        except MigrationError as e:
            self._fail(e)

    def _incoming(self, kind: bytes, payload: bytes) -> None:
        """The reader thread: the destination's answer, then link events."""
        if kind == b"PAGD" and self.t_stop is None:      # the pages are in: send the next ones
            self.sup.post(self._step, f"migrate {self.dom.name}: pre-copy")
        elif kind == b"DONE" and self.t_stop is not None and not self.done:
            self.t_ack = time.monotonic()
            self.link.sock.settimeout(None)             # a link may be quiet for long
            if len(payload) == _STEPS.size:             # the destination's clock: one host's if equal
                self.steps.update(zip(("received", "resumed"), _STEPS.unpack(payload)))
            self.link.take_events()
            self.sup.post(self._complete, f"migrate {self.dom.name}: done")
        elif kind == b"FAIL":
            error = MigrationError(f"{self.address} refused: {payload.decode('utf-8', 'replace')}")
            self.sup.post(lambda: self._fail(error), f"migrate {self.dom.name}: failed")
        else:
            raise MigrationError(f"{self.address} sent {kind.decode()} during the migration")

    def _closed(self, error) -> None:
        if not self.done and self.t_ack is None:
            error = error or MigrationError(f"the link to {self.address} closed")
            self.sup.post(lambda: self._fail(error), f"migrate {self.dom.name}: failed")

    def poll(self) -> None:
        """The supervisor has nothing else to run: give up if the domain
        ended before it was stopped for the copy (no answer will come)."""
        from paravirt.supervisor import TERMINAL
        if self.t_stop is None and self.dom.state in TERMINAL:
            self._fail(MigrationError(f"domain {self.dom.name} {self.dom.state} during the migration "
                                      f"({self.dom.reason})"))

    def _complete(self) -> None:
        if self.done:
            return
        self.done = True
        self.downtime, self.total = self.t_ack - self.t_stop, self.t_ack - self.t_start
        self.steps["sent"] = self.t_sent
        self._outbox.put(None)                       # end the sender thread (not while stopped:
                                                     # it would compete for the GIL)
        self.bytes_sent = self.link.sent
        self.dom.reason = f"migrated to {self.address}"
        self.sup.outgoing.remove(self)
        self.sup.log(f"{self.dom.name}: {self.describe()}")
        self.on_done(self)

    def _fail(self, error: Exception) -> None:
        """Give up: the domain runs on here (put back if it had been
        stopped, with the notifications it missed)."""
        if self.done:
            return
        self.done = True
        self.error = str(error)
        self._outbox.put(None)
        self.link.close()
        if self in self.sup.outgoing:
            self.sup.outgoing.remove(self)
        dom = self.dom
        if self.t_stop is not None:
            dom.state = self._was
            self.sup.domains[dom.domid] = dom
            for port, ch in dom.events.ports.items():    # what was sent to it meanwhile went to
                if ch.kind == "interdomain":               # the link: notify again (a spurious event
                    dom.raise_event(port)                  # is harmless to a handler, as in Xen)
        self.sup.log(f"{dom.name}: migration to {self.address} failed: {self.error}; it runs on here")
        self.on_done(self)

    def describe(self) -> str:
        if self.error:
            return f"migration of {self.dom.name} to {self.address} failed: {self.error}; it runs on here"
        return (f"{self.dom.name} migrated to {self.address}: {self.rounds} pre-copy rounds "
                f"(dirty pages {', '.join(map(str, self.dirty_history))}), {self.pages_sent:,} pages sent "
                f"of {self.domain_pages:,} ({self.bytes_sent / (self.domain_pages * PAGE):.2f}x its memory "
                f"in bytes), downtime {self.downtime * 1e3:.1f} ms, total {self.total * 1e3:.0f} ms")


def start_reported(sup, dom, address: str, out=None) -> None:
    """The `migrate` action and command: start it, and say how it ended on
    `out` (stderr); a refusal is reported, not raised."""
    out = out or sys.stderr

    def report(mig):
        print(f"pvemu: {mig.describe()}", file=out, flush=True)
    try:
        sup.migrate(dom, address, report)
    except (EmuError, ConfigError) as e:
        print(f"pvemu: migration of {dom.name} to {address} failed: {e}; it runs on here", file=out, flush=True)


# ---- the destination side


class Receiver:
    """Takes migrating domains in for supervisor `sup`: listens on
    HOST:PORT (port 0: any free one, then see .port), and each domain that
    arrives whole is added between quanta and runs on.  A migration that
    fails is reported through report(message) and leaves nothing behind."""

    def __init__(self, sup, port: int = 0, host: str = "127.0.0.1", report: Optional[Callable] = None):
        try:
            self.sock = socket.create_server((host, port))
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        self.sup, self.host, self.port = sup, host, self.sock.getsockname()[1]
        self.report = report or (lambda message: None)
        self.errors: list = []
        self.received: list = []
        self.arrived = threading.Event()
        threading.Thread(target=self._accept, name="pvemu-receive", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            conn.settimeout(HANDSHAKE_TIMEOUT)
            link = Link(self.sup, conn, f"{peer[0]}:{peer[1]}")
            threading.Thread(target=self._take, args=(link,), name="pvemu-receive-domain", daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _take(self, link: Link) -> None:
        """One incoming migration, on its own thread."""
        try:
            check_hello(link.expect(b"HELO"))
            link.send(b"OKAY")
            head = self._domain_header(link.expect(b"DOMN"))
            link.send(b"OKAY")
            link.sock.settimeout(None)               # pre-copy runs at the source's pace
            m = head["machine"]
            limit = m.memory_size + (16 << 20)
            while True:
                kind, payload = link.recv(limit)
                if kind == b"PAGS":
                    put_pages(m, payload)
                    link.send(b"PAGD")
                elif kind == b"FINL":
                    received = time.monotonic()
                    break
                elif kind == b"FAIL":
                    raise MigrationError(f"the source gave up: {payload.decode('utf-8', 'replace')}")
                else:
                    raise MigrationError(f"{link.name} sent {kind.decode()} during the pre-copy")
            where = f"the migration stream from {link.name}"
            meta, blobs = savefile.unpack(payload, savefile.KIND_DOMAIN, where)
            d = save.parse(meta, where)
            peers = meta.get("peers")
            if not isinstance(peers, list) or not all(isinstance(p, int) for p in peers):
                raise MigrationError(f"{where} does not say which domains the link leads to")
            if (d["attrs"]["domid"], d["attrs"]["name"]) != (head["domid"], head["name"]):
                raise MigrationError(f"{link.name} announced domain {head['domid']} {head['name']} but "
                                     f"sent domain {d['attrs']['domid']} {d['attrs']['name']}")
            try:
                dom = save.make_domain(self.sup, meta, blobs, d, head["name"], m)
            except (KeyError, TypeError, ValueError) as e:
                raise MigrationError(f"{where} holds an incomplete domain ({type(e).__name__}: {e})") from None
            absent = blobs.get("ABSN") or b""
            f = absent.find(1)
            while f >= 0:
                m.release_frames(f)                  # pre-copied once, ballooned out since
                f = absent.find(1, f + 1)
        except (EmuError, ConfigError, HypercallError) as e:
            self._failed(link, str(e))
            return
        answer = queue.SimpleQueue()
        self.sup.post(lambda: answer.put(self._resume(link, dom, d, peers, received)),
                      f"resume {head['name']} from {link.name}")
        why = answer.get()
        if why:
            self._failed(link, why)

    def _domain_header(self, payload: bytes) -> dict:
        try:
            head = json.loads(payload)
            domid, name, memory, peers = head["domid"], head["name"], head["memory"], head["peers"]
            assert isinstance(domid, int) and isinstance(name, str) and isinstance(memory, int)
            assert isinstance(peers, list) and all(isinstance(p, int) for p in peers)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise MigrationError("the domain header is malformed") from None
        self._check_free(domid, name, peers)
        if memory <= 0 or memory % PAGE or memory > 1 << 40:
            raise MigrationError(f"domain {name} has an impossible memory size {memory}")
        head["machine"] = savefile.machine_for({"memory": memory, "decode_cache": True, "shared": True})
        return head

    def _check_free(self, domid: int, name: str, peers: list) -> None:
        sup = self.sup
        if domid in sup.domains or domid in sup.remote:
            raise MigrationError(f"domain id {domid} is taken here")
        if any(d.name == name for d in sup.domains.values()):
            raise MigrationError(f"there is already a domain named {name!r} here")
        clash = [p for p in peers if p in sup.domains or p in sup.remote]
        if clash:
            raise MigrationError(f"domain {name}'s peers {clash} have ids that are taken here")

    def _resume(self, link: Link, dom, d: dict, peers: list, received: float) -> Optional[str]:
        """The supervisor's thread: add the domain, join it to the link,
        answer DONE.  Returns why not, or None."""
        sup = self.sup
        try:
            self._check_free(dom.domid, dom.name, peers)
        except MigrationError as e:
            return str(e)
        save.install(sup, [dom], [d], remote=set(peers))
        link.routes = set(peers)
        for p in peers:
            sup.remote[p] = link
        sup.links.append(link)
        try:
            link.send(b"DONE", _STEPS.pack(received, time.monotonic()))
        except MigrationError as e:
            del sup.domains[dom.domid]
            link.close()
            return str(e)
        link.take_events()
        link.start_reader(1 << 24)
        self.received.append(dom)
        sup.log(f"received {dom.describe()} from {link.name}")
        self.arrived.set()
        return None

    def _failed(self, link: Link, why: str) -> None:
        message = f"migration from {link.name} failed: {why}; the partial domain is discarded"
        self.errors.append(message)
        self.report(message)
        link.fail(why)


def put_pages(m, payload: bytes) -> None:
    """Write a PAGS message's pages into machine m (pre-copy)."""
    if len(payload) < 4:
        raise MigrationError("a page message is cut short")
    (n,) = struct.unpack_from("<I", payload)
    if len(payload) != 4 + n * (4 + PAGE):
        raise MigrationError(f"a page message says {n} pages but holds {len(payload) - 4} bytes")
    frames = struct.unpack_from(f"<{n}I", payload, 4)
    npages = m.memory_size // PAGE
    view = memoryview(payload)[4 + 4 * n:]
    for k, f in enumerate(frames):
        if f >= npages:
            raise MigrationError(f"a page message names frame {f:#x}, beyond the domain's {npages} frames")
        m.mem_write(f << 12, view[k * PAGE:(k + 1) * PAGE])


def serve(sup, receiver: Receiver, max_instructions: Optional[int] = None) -> None:
    """Wait for the first domain to arrive, then run the supervisor until
    its domains end (`pvemu receive`)."""
    while not sup.domains:
        sup.posted.wait(0.1)
        sup.posted.clear()
        sup._due_actions()
    sup.run(max_instructions=max_instructions)
