"""Saving a supervised domain to a file and restoring it under a supervisor
(Supervisor.save / Supervisor.restore; `save`/`restore` in `pvemu up`
files and on --control; `pvemu restore --supervised FILE`).

The file is a machine save (emu/savefile.py, kind 'domain') plus the
domain's supervisor-side state: its frames (owned, pinned), grants it gave
and frames it maps from others, its event channels, shared info and
hypercall page addresses, timer, store keys, console, state and counters,
and the supervisor's pv_ops choices (which operations run in the core).
The shared info page itself is guest RAM and comes with it.

A domain restored where its peers are missing keeps its state, but what
joined it to them fails cleanly: a frame mapped from a missing domain's
grant becomes a private copy of its last contents, and an event channel to
a missing domain becomes unbound (sends on it are refused)."""
from __future__ import annotations

import threading

from emu import savefile
from emu.errors import EmuError
from paravirt.errors import ConfigError

#: Domain attributes that are not saved as they are: the machine (saved as
#: one), the event channels (below), and what a restore makes afresh.
_NOT_PLAIN = {"machine", "events", "lock", "_console_sink", "debugger"}


def domain_meta(sup, dom) -> dict:
    """The supervisor-side state of `dom`, JSON-able."""
    plain = {k: savefile.encode(v) for k, v in vars(dom).items() if k not in _NOT_PLAIN}
    ports = {p: (ch.kind, ch.remote_dom, ch.remote_port, ch.virq) for p, ch in dom.events.ports.items()}
    return {"attrs": plain, "ports": savefile.encode(ports),
            "virqs": savefile.encode(dict(dom.events.virqs)),
            "in_core": sorted(op.name for op in sup.pvops if op.in_core),
            "clock": sup.now()}


def save(sup, dom, path: str) -> int:
    """Supervisor.save: write `dom` to `path` (between quanta: from an
    action, a --control command or while the supervisor is not running).
    Returns the file's size."""
    if dom.state in ("shutdown", "crashed"):
        raise ConfigError(f"domain {dom.name} has {dom.state}: nothing to save")
    dom.flush_console()
    meta, blobs = savefile.machine_sections(dom.machine)
    meta["domain"] = domain_meta(sup, dom)
    return savefile.write(path, savefile.KIND_DOMAIN, meta, blobs)


def restore(sup, paths, name: str = None) -> list:
    """Supervisor.restore: the domains the save files `paths` hold, added to
    `sup` in the states they were saved in (paused stays paused).  Domains
    saved together are restored together, so the grants and event channels
    between them are joined again.  Each keeps its domain id (the guest
    knows it), so ids and names must be free.  Every file is read and
    checked before anything is added to the supervisor."""
    loaded = [_load(p) for p in paths]
    ids = [d["attrs"]["domid"] for _, _, d in loaded]
    names = [name or d["attrs"]["name"] for _, _, d in loaded] if len(loaded) == 1 else \
        [d["attrs"]["name"] for _, _, d in loaded]
    for domid, dname in zip(ids, names):
        if domid in sup.domains or ids.count(domid) > 1:
            raise ConfigError(f"cannot restore {dname}: domain id {domid} is taken")
        if any(x.name == dname for x in sup.domains.values()) or names.count(dname) > 1:
            raise ConfigError(f"cannot restore: there is already a domain named {dname!r}")
    doms = [make_domain(sup, meta, blobs, d, dname) for (meta, blobs, d), dname in zip(loaded, names)]
    install(sup, doms, [d for _, _, d in loaded])
    return doms


def install(sup, doms: list, saved: list, remote=frozenset()) -> None:
    """Add restored (or migrated) domains to `sup` and join them to their
    peers; `saved`: their domain_meta() dicts; `remote`: the ids of peers
    on another supervisor, reached through a link (paravirt/migrate.py)."""
    if not sup.domains:                      # a fresh supervisor takes the saved choices
        in_core = set(saved[0]["in_core"])
        for op in sup.pvops:
            op.in_core = op.trap is not None and op.name in in_core
        sup.clock = max(sup.clock, *(d["clock"] for d in saved))
    for dom in doms:
        sup.attach(dom)
    for dom in doms:
        _rejoin(sup, dom, remote)
        dom.machine.pv_trap_mask = sup._trap_mask(dom)


def _load(path: str) -> tuple:
    meta, blobs = savefile.read(path, savefile.KIND_DOMAIN)
    return meta, blobs, parse(meta, path)


def parse(meta: dict, path: str) -> dict:
    """The domain part of a domain save's meta, decoded and checked."""
    try:
        d = meta["domain"]
        d["attrs"] = {k: savefile.decode(v) for k, v in d["attrs"].items()}
        d["ports"] = savefile.decode(d["ports"])
        d["virqs"] = savefile.decode(d["virqs"])
        d["attrs"]["domid"], d["attrs"]["name"], d["in_core"], d["clock"]
    except (KeyError, TypeError, ValueError) as e:
        raise EmuError(f"{path} does not hold a complete domain ({type(e).__name__}: {e})") from None
    return d


def make_domain(sup, meta: dict, blobs: dict, d: dict, name: str, machine=None):
    """The Domain object of a loaded file (not yet in the supervisor);
    `machine`: see savefile.machine_from."""
    from paravirt.domain import Domain
    from paravirt.events import Channel, EventChannels
    dom = Domain.__new__(Domain)
    dom.__dict__.update(d["attrs"])
    dom.name = name
    dom.machine = savefile.machine_from(meta, blobs, machine)
    dom.lock = threading.Condition()
    dom.debugger = None
    dom._console_sink = sup.console
    dom.events = EventChannels(dom)
    dom.events.ports = {p: Channel(*fields) for p, fields in d["ports"].items()}
    dom.events.virqs = d["virqs"]
    return dom


def _rejoin(sup, dom, remote=frozenset()) -> None:
    """Re-establish the mappings and channels to other domains, or let them
    fail cleanly where the peer is not there.  Those to a peer in `remote`
    stay as they are: a link carries them (paravirt/migrate.py)."""
    for gfn, (granter_id, ref) in list(dom.foreign.items()):
        if granter_id in remote:
            continue
        granter = sup.domains.get(granter_id)
        grant = granter.grants[ref] if granter and 0 <= ref < len(granter.grants) else None
        if grant is not None and grant[0] == dom.domid:
            dom.machine.map_frame_from(gfn, granter.machine, grant[1])
        else:
            del dom.foreign[gfn]             # the saved contents stay, as a private frame
            sup.log(f"{dom.name}: frame {gfn:#x} was mapped from domain {granter_id}, which is "
                    "not here: it keeps its last contents as a private frame")
    for port, ch in dom.events.ports.items():
        if ch.kind != "interdomain" or ch.remote_dom in remote:
            continue
        peer = sup.domains.get(ch.remote_dom)
        rch = peer.events.ports.get(ch.remote_port) if peer else None
        if rch is not None and rch.remote_dom == dom.domid and rch.kind in ("unbound", "interdomain"):
            rch.kind, rch.remote_port = "interdomain", port
        else:
            ch.kind, ch.remote_port = "unbound", 0
            sup.log(f"{dom.name}: event channel {port} led to domain {ch.remote_dom}, which is "
                    "not here: it is unbound now")
