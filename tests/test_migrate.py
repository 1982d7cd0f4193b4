"""Live migration (paravirt/migrate.py): a domain moved mid-run to another
supervisor ends as one that never moved; pingpong finishes across two
supervisor processes, its channel and shared page forwarded over the link;
bad streams, closed connections and wrong-version peers fail cleanly (the
source domain runs on, the destination keeps nothing)."""
import json
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from emu.guests import resolve
from paravirt import Supervisor, migrate
from paravirt.control import command
from paravirt.errors import ConfigError
from helpers import NEUTRAL_CWD, domains_ending as ending, subprocess_env


def kernel(guest):
    with open(resolve(guest)[1], "rb") as f:
        return f.read()


def supervisor(guest, copies=1, cmdline=None, realtime=False, ips=2_000_000):
    """`guest` under a supervisor at `ips` virtual instructions a second
    (realtime: not faster than that on the wall clock either, so a short
    guest is still running when its migration ends, however loaded the
    machine is)."""
    g, _ = resolve(guest)
    sup = Supervisor(console=None, ips=ips, realtime=realtime)
    for k in range(copies):
        sup.create(kernel(guest), name=f"d{k + 1}", memory=32 << 20,
                   max_memory=(64 << 20) if g.max_memory else None,
                   cmdline=g.args if cmdline is None else cmdline)
    return sup


class Destination:
    """A receiving supervisor on a thread of this process."""

    def __init__(self):
        self.sup = Supervisor(console=None)
        self.rx = migrate.Receiver(self.sup)
        self.address = f"127.0.0.1:{self.rx.port}"
        self.thread = threading.Thread(target=migrate.serve, args=(self.sup, self.rx), daemon=True)
        self.thread.start()

    def join(self):
        self.thread.join(60)
        assert not self.thread.is_alive()
        self.rx.close()


@pytest.mark.parametrize("guest,at,ips", [("hello64", 300_000, 300_000), ("sched64", 2_000_000, 2_000_000),
                                          ("balloon32", 3_000_000, 2_000_000),
                                          ("workload64", 5_000_000, 2_000_000)])
def test_a_migrated_domain_ends_as_one_that_never_moved(guest, at, ips):
    straight = supervisor(guest, ips=ips)
    straight.run()
    src = supervisor(guest, realtime=True, ips=ips)
    dst = Destination()
    done = []
    src.at(at, lambda: src.migrate(src.domain("d1"), dst.address, done.append))
    src.run()
    (mig,) = done
    assert mig.error is None, mig.error
    dst.join()
    assert not src.domains and mig.rounds >= 1 and 0 < mig.pages_sent
    assert mig.downtime <= mig.total
    assert ending(dst.sup) == ending(straight)


def test_an_idle_domain_needs_one_round_and_sends_what_it_uses():
    src = supervisor("sched32")
    src.run(max_instructions=2_000_000)
    dom = src.domain("d1")
    dst = Destination()
    done = []
    src.migrate(dom, dst.address, done.append)
    src.run()
    (mig,) = done
    assert mig.error is None, mig.error
    dst.join()
    assert mig.pages_sent < dom.max_pages // 4          # only the pages it ever wrote
    assert mig.bytes_sent < 1.5 * mig.pages_sent * 4096 + (1 << 20)
    assert dst.sup.domain("d1").state == "shutdown"


PINGPONG = """
[[domain]]
name = "ping"
kernel = "pingpong32"
memory = "16M"
cmdline = "rounds={rounds}"

[[domain]]
name = "pong"
kernel = "pingpong32"
memory = "16M"
cmdline = "rounds={rounds}"

[[action]]
at = {at}
migrate = {{ domain = "{who}", to = "127.0.0.1:{port}" }}
"""


def pvemu(*args):
    return subprocess.Popen([sys.executable, "-m", "emu", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=NEUTRAL_CWD)


@pytest.mark.parametrize("who", ["pong", "ping"])   # the grantee, the granter
def test_pingpong_finishes_with_one_half_migrated_to_another_process(tmp_path, who):
    rounds = 10000
    rx = pvemu("receive", "--listen", "0")
    try:
        line = rx.stderr.readline()
        assert line.startswith("pvemu receive: listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        config = tmp_path / "pingpong.toml"
        config.write_text(PINGPONG.format(rounds=rounds, at=1_000_000, port=port, who=who))
        src = pvemu("up", str(config))
        src_out, src_err = src.communicate(timeout=90)
        rx_out, rx_err = rx.communicate(timeout=30)
    finally:
        rx.kill()                           # (no-op once it has ended)
    assert src.returncode == 0, src_err
    assert rx.returncode == 0, rx_err
    want = f"pingpong: {rounds} round trips, counter {2 * rounds}"
    other = {"ping": "pong", "pong": "ping"}[who]
    # it started here and finished there: it moved mid-game
    assert "pong| pingpong: domain 2 is pong" in src_out and "ping| pingpong: domain 1 is ping" in src_out
    assert f"{other}| {want}" in src_out and f"{who}| pingpong: 1" not in src_out
    assert f"{who}| {want}" in rx_out, rx_out + rx_err
    assert f"pvemu: {who} migrated to 127.0.0.1" in src_err, src_err
    assert f"{who}: shutdown (poweroff, status 0)" in rx_err


def test_the_command_line_takes_migrate_actions_and_commands():
    sup = supervisor("hello32")
    text, fn = command(sup, "migrate d1 nowhere")
    assert fn is not None
    text, fn = command(sup, "migrate d1")
    assert fn is None and "HOST:PORT" in text
    with pytest.raises(ConfigError, match="HOST:PORT"):
        sup.migrate(sup.domain("d1"), "nowhere")
    sup.threads = True
    with pytest.raises(ConfigError, match="rounds, not threads"):
        sup.migrate(sup.domain("d1"), "127.0.0.1:1")


# ---- bad input: the source runs on, the destination keeps nothing


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fake_destination(behaviour):
    """A server that answers one connection as behaviour(conn) says."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        try:
            behaviour(conn)
        finally:
            conn.close()
            server.close()
    threading.Thread(target=serve, daemon=True).start()
    return f"127.0.0.1:{server.getsockname()[1]}"


def message(kind, payload=b""):
    return struct.pack("<4sI", kind, len(payload)) + payload


def read_message(conn):
    head = b""
    while len(head) < 8:
        try:
            got = conn.recv(8 - len(head))
        except OSError:                     # reset: the peer closed with our bytes unread
            return None, b""
        if not got:
            return None, b""
        head += got
    kind, n = struct.unpack("<4sI", head)
    data = b""
    while len(data) < n:
        try:
            got = conn.recv(n - len(data))
        except OSError:
            break
        if not got:
            break
        data += got
    return kind, data


def accept_then(stop_at, hang=False):
    """A destination that accepts everything until it has seen a `stop_at`
    message, then closes the connection (or with hang, says nothing more
    but keeps it open); never DONE."""
    def behaviour(conn):
        while True:
            kind, _ = read_message(conn)
            if kind in (None, stop_at):
                if hang:
                    time.sleep(5)
                return
            if kind in (b"HELO", b"DOMN"):
                conn.sendall(message(b"OKAY"))
            elif kind == b"PAGS":
                conn.sendall(message(b"PAGD"))
    return behaviour


def wrong_version(conn):
    read_message(conn)
    conn.sendall(message(b"HELO", struct.pack("<8sHII", b"PVEMUMIG", 99, 0, 0)))


def refuses(conn):
    read_message(conn)
    conn.sendall(message(b"FAIL", b"no room"))


@pytest.mark.parametrize("where,behaviour,error", [
    ("closed port", None, "cannot reach"),
    ("wrong version", wrong_version, "sent HELO where OKAY belongs"),
    ("refusal", refuses, "refused: no room"),
])
def test_a_refused_handshake_changes_nothing(where, behaviour, error):
    address = f"127.0.0.1:{closed_port()}" if behaviour is None else fake_destination(behaviour)
    sup = supervisor("hello64")
    sup.run(max_instructions=300_000)
    with pytest.raises(migrate.MigrationError, match=error):
        sup.migrate(sup.domain("d1"), address)
    assert not sup.links and not sup.outgoing and "d1" in {d.name for d in sup.domains.values()}


def migrated_to_fake(guest, at, behaviour):
    """(supervisor, migration) of `guest` run to its end while its
    migration at `at` meets a fake destination."""
    sup = supervisor(guest, realtime=True)
    done = []
    address = fake_destination(behaviour)
    sup.at(at, lambda: sup.migrate(sup.domain("d1"), address, done.append))
    sup.run()
    (mig,) = done
    return sup, mig


@pytest.mark.parametrize("stop_at", [b"PAGS", b"FINL"])
def test_a_connection_closed_mid_way_leaves_the_domain_running_here(stop_at):
    straight = supervisor("sched64")
    straight.run()
    sup, mig = migrated_to_fake("sched64", 2_000_000, accept_then(stop_at))
    assert "closed the connection mid-way" in mig.error or "cannot send" in mig.error, mig.error
    assert (mig.t_stop is not None) == (stop_at == b"FINL")   # FINL: stopped, then put back
    assert ending(sup) == ending(straight)
    assert not sup.links and not sup.remote


def test_a_destination_that_stops_answering_is_given_up(monkeypatch):
    monkeypatch.setattr(migrate, "ANSWER_TIMEOUT", 0.5)
    straight = supervisor("sched64")
    straight.run()
    sup, mig = migrated_to_fake("sched64", 2_000_000, accept_then(b"FINL", hang=True))
    assert "did not answer in time" in mig.error, mig.error
    assert ending(sup) == ending(straight)


def test_a_domain_that_ends_during_its_migration_ends_here():
    sup, mig = migrated_to_fake("hello64", 1_000_000, accept_then(b"FINL", hang=True))
    assert "during the migration" in mig.error, mig.error
    assert sup.domain("d1").state == "shutdown" and not sup.outgoing


def hello():
    return message(b"HELO", migrate.hello())


def domain_header(domid=7, name="x", memory=1 << 20, peers=()):
    return message(b"DOMN", json.dumps({"domid": domid, "name": name, "memory": memory,
                                        "peers": list(peers)}).encode())


def pages(frames, fill=b"\x5a"):
    return message(b"PAGS", struct.pack(f"<I{len(frames)}I", len(frames), *frames) + fill * 4096 * len(frames))


@pytest.mark.parametrize("stream,error", [
    (b"GET / HTTP/1.0\r\n\r\n", "unknown kind"),
    (message(b"HELO", struct.pack("<8sHII", b"PVEMUMIG", 99, 0, 0)), "version 99; this pvemu speaks 1"),
    (message(b"HELO", b"PVEMUSAV" + bytes(10)), "does not speak pvemu's migration protocol"),
    (hello() + message(b"HELO", bytes(5000)), "at most 4,096"),
    (hello() + message(b"DOMN", b"{not json"), "header is malformed"),
    (hello() + domain_header(memory=12345), "impossible memory size"),
    (hello() + domain_header() + pages([1, 2]), "closed the connection mid-way"),
    (hello() + domain_header() + pages([1 << 20]), "beyond the domain's 256 frames"),
    (hello() + domain_header() + message(b"PAGS", struct.pack("<I", 3)), "says 3 pages but holds 0"),
    (hello() + domain_header() + pages([1]) + message(b"FINL", b"PVEMUSAV" + bytes(100)),
     "version 0 save file"),
    (hello() + domain_header() + pages([1]) + message(b"FINL", b"junk"), "not a pvemu save file"),
    (hello() + domain_header() + pages([1]) + message(b"EVNT", bytes(12)), "sent EVNT during the pre-copy"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_bad_stream_is_refused_and_nothing_is_kept(stream, error):
    dst = Supervisor(console=None)
    rx = migrate.Receiver(dst)
    with socket.create_connection(("127.0.0.1", rx.port)) as c:
        try:
            c.sendall(stream)
            c.shutdown(socket.SHUT_WR)
        except OSError:                     # refused before it had read it all
            pass
        answers = []
        while True:
            kind, data = read_message(c)
            if kind is None:
                break
            answers.append((kind, data))
    deadline = time.monotonic() + 10
    while not rx.errors and time.monotonic() < deadline:
        time.sleep(0.01)
    rx.close()
    assert len(rx.errors) == 1 and error in rx.errors[0], rx.errors
    assert "partial domain is discarded" in rx.errors[0]
    assert answers and answers[-1][0] == b"FAIL" or "mid-way" in error
    assert not dst.domains and not dst.remote and not dst.links


def test_a_final_message_that_does_not_match_the_header_is_refused():
    src = supervisor("hello32")
    src.run(max_instructions=300_000)
    from emu import savefile
    from paravirt import save
    dom = src.domain("d1")
    meta, blobs = savefile.machine_sections(dom.machine)
    meta["domain"] = save.domain_meta(src, dom)
    meta["peers"] = []
    final = savefile.pack(savefile.KIND_DOMAIN, meta, blobs)
    corrupted = final[:-10] + bytes(10)
    for body, error in ((final, "announced domain 1 other but sent domain 1 d1"),
                        (corrupted, "corrupted (its checksum does not match)")):
        dst = Supervisor(console=None)
        rx = migrate.Receiver(dst)
        with socket.create_connection(("127.0.0.1", rx.port)) as c:
            c.sendall(hello() + domain_header(1, "other" if body is final else "d1", dom.machine.memory_size)
                      + message(b"FINL", body))
            c.shutdown(socket.SHUT_WR)
            while read_message(c)[0] is not None:
                pass
        rx.close()
        assert len(rx.errors) == 1 and error in rx.errors[0], rx.errors
        assert not dst.domains


def test_receive_refuses_a_bad_listen_address():
    out = subprocess.run([sys.executable, "-m", "emu", "receive", "--listen", "x:y"], capture_output=True,
                         text=True, env=subprocess_env(), cwd=NEUTRAL_CWD, timeout=60)
    assert out.returncode == 2 and "is not [HOST:]PORT" in out.stderr


def test_events_to_a_domain_behind_a_closed_link_fail_with_esrch():
    from paravirt import abi
    from paravirt.errors import HypercallError
    sup = supervisor("hello32")
    dom = sup.domain("d1")
    with socket.create_server(("127.0.0.1", 0)) as server:
        a = socket.create_connection(server.getsockname())
        b, _ = server.accept()
    link = migrate.Link(sup, a, "peer")
    link.routes = {5}
    sup.remote[5], sup.links[:] = link, [link]
    sup.send_event(dom, 5, 3)                           # goes out while the link is up
    assert read_message(b)[0] == b"EVNT"
    b.close()
    link.close()
    assert not sup.remote and not sup.links
    with pytest.raises(HypercallError) as e:
        sup.send_event(dom, 5, 3)
    assert e.value.errno == abi.ESRCH


def test_an_event_for_a_channel_that_is_not_there_is_dropped():
    sup = supervisor("hello32")
    dom = sup.domain("d1")
    sup.run(max_instructions=300_000)
    link = migrate.Link(sup, socket.socket(), "peer")
    link.routes = {5}
    port = dom.events.alloc_unbound(5)
    page = b"\x77" * 4096
    for frm, to, p in ((6, 1, port), (5, 2, port), (5, 1, port + 1), (5, 1, port)):
        migrate.deliver(sup, link, frm, to, p, [(5, 0, page)])
    assert not dom.port_pending(port)                   # unbound: no channel from domain 5 yet
    dom.events.ports[port].kind, dom.events.ports[port].remote_port = "interdomain", 9
    migrate.deliver(sup, link, 5, 1, port, [(5, 0, page)])
    assert dom.port_pending(port)
    with pytest.raises(migrate.MigrationError, match="says 2 pages"):
        migrate.parse_event(struct.pack("<HHII", 5, 1, port, 2) + bytes(10))
