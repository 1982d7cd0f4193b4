"""Event channels: ports a domain binds to virtual IRQs or to another
domain's port, and the bits the supervisor sets in the shared info page
(evtchn_pending, pending_sel, upcall_pending) as Xen's 2-level ABI does."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from paravirt import abi
from paravirt.errors import HypercallError, inval

NR_PORTS = abi.NR_EVENT_CHANNELS


@dataclass
class Channel:
    kind: str                       # 'unbound', 'interdomain', 'virq'
    remote_dom: int = 0
    remote_port: int = 0
    virq: int = -1


class EventChannels:
    """One domain's ports (1 .. NR_PORTS-1; port 0 is never valid)."""

    def __init__(self, domain):
        self.domain = domain
        self.ports: dict[int, Channel] = {}
        self.virqs: dict[int, int] = {}           # virq -> port

    def _free_port(self) -> int:
        for p in range(1, NR_PORTS):
            if p not in self.ports:
                return p
        raise HypercallError(abi.ENOSPC, "no free event channel port")

    def get(self, port: int) -> Channel:
        ch = self.ports.get(port)
        if ch is None:
            raise inval(f"port {port} is not bound")
        return ch

    def alloc_unbound(self, remote_dom: int) -> int:
        port = self._free_port()
        self.ports[port] = Channel("unbound", remote_dom=remote_dom)
        return port

    def bind_virq(self, virq: int) -> int:
        if not 0 <= virq < abi.NR_VIRQS:
            raise inval(f"virq {virq} does not exist")
        if virq in self.virqs:
            raise HypercallError(abi.EEXIST, f"virq {virq} is already bound to port {self.virqs[virq]}")
        port = self._free_port()
        self.ports[port] = Channel("virq", virq=virq)
        self.virqs[virq] = port
        return port

    def bind_interdomain(self, remote, remote_port: int) -> int:
        """Connect to `remote`'s port, which must be unbound and offered to us."""
        rch = remote.events.ports.get(remote_port)
        if rch is None or rch.kind != "unbound" or rch.remote_dom != self.domain.domid:
            raise inval(f"port {remote_port} of domain {remote.domid} is not offered to "
                        f"domain {self.domain.domid}")
        port = self._free_port()
        self.ports[port] = Channel("interdomain", remote.domid, remote_port)
        rch.kind, rch.remote_port = "interdomain", port
        return port

    def close(self, port: int, peers) -> None:
        ch = self.get(port)
        if ch.kind == "virq":
            del self.virqs[ch.virq]
        elif ch.kind == "interdomain":
            peer = peers.get(ch.remote_dom)
            if peer is not None and ch.remote_port in peer.events.ports:
                rch = peer.events.ports[ch.remote_port]
                rch.kind, rch.remote_port = "unbound", 0
        del self.ports[port]

    def peer_of(self, port: int):
        """(remote domain id, remote port) an interdomain port sends to."""
        ch = self.get(port)
        if ch.kind != "interdomain":
            raise inval(f"port {port} is {ch.kind}, not connected to another domain")
        return ch.remote_dom, ch.remote_port

    def port_of_virq(self, virq: int) -> Optional[int]:
        return self.virqs.get(virq)
