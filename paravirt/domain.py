"""A guest domain: its machine and memory, the frames it owns, its shared
info page, event channels, console, timer and accounting."""
from __future__ import annotations

import threading
from typing import Callable, Optional

from emu import Machine
from emu.loader import load_kernel
from emu.system import start_image
from paravirt import abi
from paravirt.events import EventChannels
from paravirt.kvm import KvmState

PAGE = 4096
PV_IO_PORTS = frozenset(range(0x3F8, 0x400)) | {0xE9, 0x80}   # COM1, debug console, POST
WALL_CLOCK_EPOCH = 1_767_225_600        # 2026-01-01T00:00:00Z: virtual time 0, for repeatability

SHARED_INFO = abi.struct("shared_info")
SI_PENDING = SHARED_INFO.offset("vcpu.upcall_pending")
SI_MASK = SHARED_INFO.offset("vcpu.upcall_mask")
SI_PENDING_SEL = SHARED_INFO.offset("vcpu.pending_sel")
SI_TIME = SHARED_INFO.offset("vcpu.time")
SI_EVTCHN_PENDING = SHARED_INFO.offset("evtchn_pending")
SI_EVTCHN_MASK = SHARED_INFO.offset("evtchn_mask")
SI_WALL_CLOCK = SHARED_INFO.offset("wc_version")
SI_BALLOON_TARGET = SHARED_INFO.offset("balloon_target")
_TIME_INFO = abi.struct("vcpu_time_info")
_, _WALL_CLOCK = SHARED_INFO.span("wc_version", "pad0")
_, _RESERVATION = SHARED_INFO.span("balloon_target", "max_pages")


def time_scale(ips: int):
    """(mul, shift) with ns = ((tsc << shift) * mul) >> 32 (a right shift
    when shift < 0), for a TSC that counts `ips` per second."""
    ratio, shift = 1e9 / ips, 0
    while ratio >= 1.0:
        ratio /= 2
        shift += 1
    while ratio < 0.5:
        ratio *= 2
        shift -= 1
    return int(ratio * (1 << 32)), shift


class Domain:
    """One guest.  Created by Supervisor.create(); its fields are read-only
    to users except through the supervisor's calls."""

    def __init__(self, domid: int, name: str, kernel: bytes, memory: int, max_memory: int,
                 weight: int, paravirt: bool, cmdline: str = "", modules=(),
                 console: Optional[Callable[[str, bytes], None]] = None, ips: int = 100_000_000,
                 budget: Optional[int] = None, initrd: Optional[bytes] = None):
        self.domid = domid
        self.name = name
        self.weight = weight
        self.paravirt = paravirt
        self.pages = memory // PAGE
        self.max_pages = max_memory // PAGE
        self.budget = budget
        image = load_kernel(kernel, memory, cmdline=cmdline, modules=list(modules), initrd=initrd)
        self.machine = m = Machine(mode=image.mode, memory=max_memory, shared=True)
        start_image(m, image, memory)
        m.ips = ips
        # A Linux kernel is given KVM's paravirtual interface, which it knows;
        # the bundled guests pvemu's own (paravirt/abi.py).
        self.personality = "kvm" if paravirt and image.kind.startswith("linux") else "pvemu"
        self.kvm = KvmState() if self.personality == "kvm" else None
        self.owned = bytearray(b"\1" * self.pages + b"\0" * (self.max_pages - self.pages))
        if self.max_pages > self.pages:
            m.release_frames(self.pages, self.max_pages - self.pages)
        self.pinned: set[int] = set()
        self.grants: list = []                 # ref -> (grantee domid, gfn) or None
        self.foreign: dict[int, tuple] = {}    # my gfn -> (granter domid, ref)
        self.store: dict[int, int] = {}        # store_op keys
        self.io_ports = set(PV_IO_PORTS)       # what physdev_op may reach
        self.events = EventChannels(self)
        self.shared_info: Optional[int] = None # guest-physical address
        self.hypercall_page: Optional[int] = None
        self.timer_deadline: Optional[int] = None   # virtual time
        self.state = "paused"                  # paused, runnable, blocked, shutdown, crashed
        self.reason = ""                       # why it stopped (shutdown/crashed)
        self.exit_status: Optional[int] = None
        self.console_out = bytearray()
        self.console_in = bytearray()
        self._console_sink = console
        self._line = bytearray()
        self.stats = {"instructions": 0, "exits": 0, "hypercalls": 0, "traps": 0, "errors": 0}
        self.lock = threading.Condition()
        self.debugger = None                   # a gdb stub (emu/gdbstub.DomainStub) attached to it
        m.set_serial(self._console)

    # ---- console

    def _console(self, data: bytes) -> None:
        self.console_out += data
        if self._console_sink is not None:
            self._line += data
            while b"\n" in self._line:
                line, _, rest = self._line.partition(b"\n")
                self._console_sink(self.name, bytes(line))
                self._line = bytearray(rest)

    def flush_console(self) -> None:
        if self._line and self._console_sink is not None:
            self._console_sink(self.name, bytes(self._line))
        self._line = bytearray()

    write_console = _console

    # ---- time

    @property
    def vtime(self) -> int:
        return self.machine.virtual_time

    def ns(self, vtime: int) -> int:
        return vtime * 1_000_000_000 // self.machine.ips

    def vtime_of_ns(self, ns: int) -> int:
        return -(-ns * self.machine.ips // 1_000_000_000)

    # ---- memory ownership

    def owns(self, pfn: int) -> bool:
        return 0 <= pfn < self.max_pages and bool(self.owned[pfn])

    # ---- the shared info page

    def attach_shared_info(self, address: int) -> None:
        m = self.machine
        m.mem_write(address, bytes(PAGE))
        mul, shift = time_scale(m.ips)
        m.mem_write(address + SI_MASK, b"\1")
        m.mem_write(address + SI_TIME, _TIME_INFO.pack(2, 0, 0, 0, mul, shift, b""))
        m.mem_write(address + SI_WALL_CLOCK, _WALL_CLOCK.pack(2, WALL_CLOCK_EPOCH, 0, 0))
        self.shared_info = address
        self.update_reservation_info()
        m.set_shared_info(address)

    def update_reservation_info(self, target: Optional[int] = None) -> None:
        if self.shared_info is None:
            return
        if target is None:
            old = self.machine.mem_read(self.shared_info + SI_BALLOON_TARGET, SHARED_INFO.fields["balloon_target"].size)
            target = int.from_bytes(old, "little") or self.pages
        self.machine.mem_write(self.shared_info + SI_BALLOON_TARGET,
                               _RESERVATION.pack(target, self.pages, self.max_pages))

    def _bit(self, offset: int, port: int, value: Optional[bool] = None) -> bool:
        addr = self.shared_info + offset + port // 8
        byte = self.machine.mem_read(addr, 1)[0]
        bit = 1 << (port % 8)
        if value is not None:
            self.machine.mem_write(addr, bytes([(byte | bit) if value else (byte & ~bit)]))
        return bool(byte & bit)

    def raise_event(self, port: int) -> None:
        """Mark `port` pending; if it is not masked, flag the upcall and wake
        the domain (the CPU delivers the upcall once it is unmasked)."""
        if self.shared_info is None:
            return
        with self.lock:
            if self._bit(SI_EVTCHN_PENDING, port, True):
                return                           # already pending: one notification
            if not self._bit(SI_EVTCHN_MASK, port):
                self._notify(port)

    def _notify(self, port: int) -> None:
        si = self.shared_info
        sel = int.from_bytes(self.machine.mem_read(si + SI_PENDING_SEL, 8), "little")
        self.machine.mem_write(si + SI_PENDING_SEL, (sel | 1 << (port // 64)).to_bytes(8, "little"))
        self.machine.mem_write(si + SI_PENDING, b"\1")
        if self.state == "blocked":
            self.state = "runnable"
            self.lock.notify_all()

    def unmask_event(self, port: int) -> None:
        with self.lock:
            self._bit(SI_EVTCHN_MASK, port, False)
            if self._bit(SI_EVTCHN_PENDING, port):
                self._notify(port)

    def port_pending(self, port: int) -> bool:
        return self.shared_info is not None and self._bit(SI_EVTCHN_PENDING, port)

    def event_pending(self) -> bool:
        return self.shared_info is not None and self.machine.mem_read(self.shared_info + SI_PENDING, 1) == b"\1"

    def virq(self, virq: int) -> None:
        port = self.events.port_of_virq(virq)
        if port is not None:
            self.raise_event(port)

    def describe(self) -> str:
        mem = f"{self.pages * PAGE >> 20} MiB of {self.max_pages * PAGE >> 20} MiB"
        kind = ("paravirtualized" + (" (KVM's interface)" if self.kvm else "")) if self.paravirt else "unmodified"
        extra = f" ({self.reason})" if self.reason else ""
        return (f"domain {self.domid} {self.name}: {self.state}{extra}, {kind}, weight {self.weight}, "
                f"{mem}, {self.stats['instructions']:,} instructions, "
                f"{self.stats['hypercalls']:,} hypercalls, {self.stats['traps']:,} traps"
                + (f", {self.machine.pv_eoi_skipped:,} EOIs skipped (PV EOI)" if self.kvm else ""))
