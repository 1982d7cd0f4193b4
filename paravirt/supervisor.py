"""The supervisor domain: creates guest domains, schedules them by weight,
and answers their hypercalls and trapped privileged instructions.

    from paravirt import Supervisor
    sup = Supervisor()
    sup.create(open("hello64.elf", "rb").read(), name="hello")
    results = sup.run()

Scheduling is weighted round robin over quanta of retired instructions (a
domain of weight 512 gets twice the quantum of one of weight 256).  Time is
virtual and shared: while one domain runs, every other domain's clock moves
on by the same amount, so timers behave as on one physical CPU and a run is
the same every time.  With threads=True each domain runs on its own thread
instead (the core releases the GIL), each with its own clock.  With
realtime=True (rounds only) virtual time may not run ahead of the wall
clock, as QEMU's -icount sleep=on: idle domains wait for real, and commands
posted while they run (Supervisor.post, `--control`) meet them mid-run.

Isolation: a domain that faults with nowhere to go, triple-faults, touches
memory it does not have, or runs past its budget is stopped with the reason;
the supervisor and the other domains go on.
"""
from __future__ import annotations

import functools
import queue
import sys
import threading
import time
from typing import Callable, Optional

from paravirt import abi, kvm
from paravirt.domain import PAGE, SI_MASK, Domain
from paravirt.errors import ConfigError, HypercallError
from paravirt.hypercalls import HYPERCALLS
from paravirt.pvops import NATIVE, GuestFault, PvOpsTable

DEFAULT_QUANTUM = 200_000              # instructions per round at weight 256
DEFAULT_WEIGHT = 256
TERMINAL = ("shutdown", "crashed")
FEATURES = (abi.F_HYPERCALL_PAGE | abi.F_SHARED_INFO | abi.F_EVTCHN | abi.F_BALLOON
            | abi.F_VTIMER | abi.F_MULTICALL | abi.F_GRANT)

# trapped class -> which operands the pv_op takes
_TRAP_ARGS = {"popf": (0,), "write_cr": (1,), "rdmsr": (0,), "wrmsr": (0, 1), "cpuid": (0, 1),
              "in": (0, 1), "out": (0, 1, 2), "lgdt": (0, 1), "lidt": (0, 1), "ltr": (0,),
              "lldt": (0,), "invlpg": (0,), "lmsw": (0,)}   # which trap operands the pv_op takes


def print_console(name: str, line: bytes) -> None:
    sys.stdout.write(f"{name}| {line.decode('utf-8', 'replace')}\n")
    sys.stdout.flush()


class Supervisor:
    """Runs guest domains.  console(name, line) receives each line a domain
    prints (serial port or console_io); the default prints `name| line`."""

    def __init__(self, quantum: int = DEFAULT_QUANTUM, console: Optional[Callable] = print_console,
                 ips: int = 100_000_000, threads: bool = False, log: Optional[Callable] = None,
                 realtime: bool = False):
        if quantum <= 0:
            raise ConfigError(f"quantum must be positive, not {quantum}")
        self.quantum = quantum
        self.realtime = realtime        # virtual time may not run ahead of the wall clock
        self._epoch = None
        self.console = console
        self.ips = ips
        self.threads = threads
        self.log = log or (lambda msg: None)
        self.pvops = PvOpsTable()
        self.hypercalls = dict(HYPERCALLS)
        self.features = FEATURES
        self.domains: dict[int, Domain] = {}
        self.destroyed: list[Domain] = []     # ended by destroy(): still in the summary
        self.lock = threading.RLock()
        self.clock = 0                  # shared virtual time (sequential scheduling)
        self.actions: list = []         # (virtual time, sequence, description, fn), sorted
        self.requests = queue.SimpleQueue()   # (description, fn) posted from other threads
        self.controlled = False         # post() may still bring work: idle domains wait for it
        self.recorder = None            # emu.replay.Recorder: inputs logged as they are taken
        self.script = None              # emu.replay.Script: a log's inputs given back instead
        self.posted = threading.Event() # set by post(): an idle supervisor wakes at once
        self.links: list = []           # paravirt/migrate.Link: connections to other supervisors
        self.remote: dict = {}          # domain id -> the Link it is reached through
        self.outgoing: list = []        # paravirt/migrate.Migration: domains moving out

    # ---- domains

    def create(self, kernel: bytes, name: Optional[str] = None, memory: int = 32 << 20,
               max_memory: Optional[int] = None, weight: int = DEFAULT_WEIGHT, paravirt: bool = True,
               cmdline: str = "", modules=(), budget: Optional[int] = None, paused: bool = False,
               initrd: Optional[bytes] = None) -> Domain:
        """A new domain booting `kernel` (Multiboot, ELF, or a Linux bzImage
        with `initrd`).  paravirt=False hides the supervisor (no CPUID
        leaves, VMCALL is #UD): an unmodified kernel whose privileged
        instructions trap instead.  A paravirtualized Linux kernel is given
        KVM's interface (paravirt/kvm.py) and runs its privileged
        instructions in the core, as under hardware virtualization."""
        domid = max(self.domains, default=0) + 1
        name = name or f"dom{domid}"
        max_memory = max_memory or memory
        if memory % PAGE or max_memory % PAGE or not 0 < memory <= max_memory:
            raise ConfigError(f"domain {name}: memory {memory} and max_memory {max_memory} must be "
                              "whole pages with 0 < memory <= max_memory")
        if not 1 <= weight <= 65535:
            raise ConfigError(f"domain {name}: weight {weight} must be 1-65535")
        if any(d.name == name for d in self.domains.values()):
            raise ConfigError(f"there is already a domain named {name!r}")
        dom = Domain(domid, name, kernel, memory, max_memory, weight, paravirt, cmdline, modules,
                     self.console, self.ips, budget, initrd)
        m = dom.machine
        if dom.kvm:
            m.pv_enable(kvm.cpuid_leaves())
        elif paravirt:
            m.pv_enable({0x40000000: (0x40000002, abi.SIG_EBX, abi.SIG_ECX, abi.SIG_EDX),
                         0x40000001: (abi.ABI_VERSION, self.features, 0, 0),
                         0x40000002: (1, abi.MSR_HYPERCALL_PAGE, abi.MSR_SHARED_INFO, domid)})
        m.pv_trap_mask = self._trap_mask(dom)
        dom.state = "paused" if paused else "runnable"
        self.attach(dom)
        self.log(f"created {dom.describe()}")
        return dom

    def attach(self, dom: Domain) -> None:
        """Take a domain in (create and restore): its exits come here."""
        dom.machine.set_exit_handlers(hypercall=functools.partial(self.call_hypercall, dom),
                                      privop=functools.partial(self._privop, dom),
                                      vtimer=functools.partial(self._fire_timer, dom))
        dom.machine.set_serial(dom.write_console)
        self.domains[dom.domid] = dom

    # ---- save and restore (paravirt/save.py)

    def save(self, dom: Domain, path: str) -> int:
        """Save domain `dom` to the file `path` (call it between quanta: from
        an action (at), a posted request (post) or while run() is not
        running).  Returns the file's size in bytes."""
        from paravirt import save
        return save.save(self, dom, path)

    def restore(self, path, name: Optional[str] = None):
        """Add the domain saved in file `path` (optionally under a new name)
        in the state it was saved in, and return it; `path` may be a list of
        files saved together (e.g. both halves of pingpong): their grants
        and event channels are joined again, and a list is returned.
        EmuError or ConfigError, and nothing added, when a file is bad or a
        domain id or name is taken."""
        from paravirt import save
        paths = [path] if isinstance(path, str) else list(path)
        doms = save.restore(self, paths, name)
        for dom in doms:
            self.log(f"restored {dom.describe()}")
        return doms[0] if isinstance(path, str) else doms

    def domain(self, ref) -> Domain:
        """A domain by id or name."""
        for d in self.domains.values():
            if d.domid == ref or d.name == ref:
                return d
        raise HypercallError(abi.ESRCH, f"no domain {ref!r}")

    def pause(self, dom: Domain) -> None:
        if dom.state not in TERMINAL:
            dom.state = "paused"
            dom.machine.stop()

    def unpause(self, dom: Domain) -> None:
        with dom.lock:
            if dom.state == "paused":
                dom.state = "runnable"
                dom.lock.notify_all()

    def kill(self, dom: Domain, why: str) -> None:
        """End a domain from outside (gdb's kill): it stops as shut down."""
        self._finish(dom, "shutdown", why)

    def destroy(self, dom: Domain) -> None:
        self._finish(dom, "shutdown", "destroyed")
        del self.domains[dom.domid]
        self.destroyed.append(dom)

    @staticmethod
    def target_pages(dom: Domain, size: int) -> int:
        """A balloon target of `size` bytes in pages, or ConfigError when it
        is outside what the domain can hold."""
        pages = size // PAGE
        if not 1 <= pages <= dom.max_pages:
            raise ConfigError(f"balloon target {size} bytes for {dom.name} is outside "
                              f"4K..{dom.max_pages * PAGE >> 20}M (its max_memory)")
        return pages

    def set_target(self, dom: Domain, pages: int) -> None:
        """The balloon target: the domain's driver is told (VIRQ_BALLOON)
        and gives back or takes pages to reach it."""
        self.target_pages(dom, pages * PAGE)
        dom.update_reservation_info(pages)
        dom.virq(abi.VIRQ_BALLOON)

    def at(self, vtime: int, fn: Callable[[], None], description: str = "") -> None:
        """Call fn() once the supervisor's virtual time reaches `vtime`
        (instructions; between quanta): balloon targets, pause, unpause."""
        self.actions.append((vtime, len(self.actions), description, fn))
        self.actions.sort(key=lambda a: a[:2])

    def now(self) -> int:
        """Virtual time: shared by all domains when scheduling in rounds, the
        furthest domain's with threads."""
        if self.threads:
            return max((d.vtime for d in self.domains.values()), default=0)
        return self.clock

    def post(self, fn: Callable[[], None], description: str = "", command: Optional[str] = None) -> None:
        """Run fn() between quanta as soon as possible; safe to call from any
        thread while run() is running (pvemu's --control console does).
        `command`: the --control line it came from, for a record log."""
        self.requests.put((description, fn, command))
        self.posted.set()

    def _wait_request(self) -> None:
        """Nothing can run: wait (interruptibly) for a posted request."""
        if self.script is not None and self.script.next_at("control") != self.clock:
            self.controlled = False             # the log has nothing for this point: no wait
        while (self.controlled or self.links) and self.requests.empty() and self.script is None:
            self.posted.wait(0.05)
            self.posted.clear()
        self._due_actions()

    def _due_actions(self) -> None:
        if self.script is not None:               # replay: the log's commands, where they were taken
            for event in self.script.take("control", self.clock):
                self._replayed(event["control"])
        while not self.requests.empty():
            what, fn, command = self.requests.get_nowait()
            self.log(f"at {self.now():,}: {what}")
            if self.recorder is not None and command is not None:
                self.recorder.event(self.clock, control=command)
            fn()
        while self.actions and self.actions[0][0] <= self.now():
            _, _, what, fn = self.actions.pop(0)
            self.log(f"at {self.now():,}: {what}")
            fn()

    # ---- record and replay (emu/replay.py)

    def record(self, path: str) -> None:
        """Log the inputs of the coming run() that are not part of its
        setup (--control commands and where they were taken, --realtime
        pacing decisions) to `path`; replay() gives them back."""
        from emu.replay import Recorder
        if self.threads:
            raise ConfigError("record and replay need domains scheduled in rounds, not threads")
        self.recorder = Recorder(path, self.clock, kind="supervisor")

    def replay(self, path: str) -> None:
        """Take the inputs of the coming run() from a log record() wrote,
        instead of from --control and the wall clock: the domains end as
        they did when it was recorded (checked at the end)."""
        from emu.replay import Script
        if self.threads:
            raise ConfigError("record and replay need domains scheduled in rounds, not threads")
        self.script = Script(path, self.clock, kind="supervisor")
        self.realtime = False
        self.controlled = self.script.next_at("control") is not None

    def _replayed(self, line: str) -> None:
        from paravirt.control import END, command
        self.log(f"at {self.now():,}: replayed {line!r}")
        if line == END:
            self.controlled = False
            return
        _, fn = command(self, line)
        if fn is not None:
            fn()
        if self.script.next_at("control") is None:
            self.controlled = False

    def digest(self) -> str:
        """SHA-256 over every domain's state, for record and replay."""
        import hashlib
        from emu.replay import machine_digest
        h = hashlib.sha256()
        for d in self.domains.values():
            h.update(f"{d.domid} {d.name} {d.state} {d.reason} {d.exit_status}".encode())
            h.update(machine_digest(d.machine).encode())
        return h.hexdigest()

    def refresh_trap_mask(self) -> None:
        """Apply changes to the pv_ops table's in_core marks to every domain."""
        for d in self.domains.values():
            d.machine.pv_trap_mask = self._trap_mask(d)

    def _trap_mask(self, dom: Domain) -> int:
        """What traps: the pv_ops table's classes, except for a domain with
        KVM's interface, whose only exits are its MSRs and VMCALL."""
        return 0 if dom.kvm else self.pvops.trap_mask()

    # ---- exits from the core

    def call_hypercall(self, dom: Domain, nr, a1=0, a2=0, a3=0, a4=0, a5=0) -> int:
        """Run hypercall nr for dom as if it had made it: -errno on refusal."""
        if dom.kvm:
            return kvm.hypercall(dom, nr)
        handler = self.hypercalls.get(nr)
        if handler is None:
            dom.stats["errors"] += 1
            return -abi.ENOSYS
        try:
            if not self.threads:                # one thread: nothing to lock against
                return handler(self, dom, a1, a2, a3, a4, a5)
            with self.lock:
                return handler(self, dom, a1, a2, a3, a4, a5)
        except HypercallError as e:
            dom.stats["errors"] += 1
            self.log(f"{dom.name}: hypercall {nr} refused: -{e.errno} {e.why}")
            return -e.errno
        except GuestFault as e:
            dom.stats["errors"] += 1
            self.log(f"{dom.name}: hypercall {nr} would fault ({e})")
            return -abi.EINVAL
        except (ValueError, OverflowError) as e:     # a value no field can hold
            dom.stats["errors"] += 1
            self.log(f"{dom.name}: hypercall {nr} with bad values: {e}")
            return -abi.EINVAL

    def _privop(self, dom: Domain, cls, a0, a1, a2):
        sub = a0 if cls in ("write_cr", "read_cr") else None
        op = self.pvops.for_trap(cls, sub)
        operands = (a0, a1, a2)
        args = [operands[k] for k in _TRAP_ARGS.get(cls, ())]
        try:
            if self.threads:
                with self.lock:
                    result = op.handler(self, dom, *args)
            else:
                result = op.handler(self, dom, *args)
        except GuestFault as e:
            return self._inject(dom, e.vector, e.error)
        except HypercallError as e:
            self.log(f"{dom.name}: trapped {cls} refused: {e.why}")
            return self._inject(dom, 13, 0)
        if result is NATIVE:
            dom.machine.pv_native()
            return None
        if dom.state in TERMINAL:
            return None
        return result

    def _inject(self, dom: Domain, vector: int, error) -> None:
        ex = dom.machine.inject(vector, error)
        if ex is not None:
            self._crash(dom, str(ex))
        return None

    def _fire_timer(self, dom: Domain) -> None:
        dom.timer_deadline = None
        dom.machine.set_timer(None)
        dom.virq(abi.VIRQ_TIMER)

    # ---- services the hypercalls use

    def fill_hypercall_page(self, dom: Domain, gpa: int) -> None:
        page = bytearray(b"\xcc" * PAGE)            # int3 between stubs
        for nr in range(PAGE // abi.HYPERCALL_STUB_SIZE):
            stub = b"\xb8" + nr.to_bytes(4, "little") + b"\x0f\x01\xc1\xc3"   # mov eax, nr; vmcall; ret
            page[nr * 32:nr * 32 + len(stub)] = stub
        dom.machine.mem_write(gpa, bytes(page))
        dom.hypercall_page = gpa

    def set_timer(self, dom: Domain, deadline_ns: int) -> None:
        if deadline_ns == 0:
            dom.timer_deadline = None
            dom.machine.set_timer(None)
            return
        dom.timer_deadline = dom.vtime_of_ns(deadline_ns)
        dom.machine.set_timer(dom.timer_deadline)

    def yield_(self, dom: Domain) -> None:
        dom.machine.stop()

    def block(self, dom: Domain, clear_mask: bool = True) -> None:
        """Sleep until an event is pending (sched_op block enables events,
        as Xen's does)."""
        if dom.shared_info is None:
            raise HypercallError(abi.EINVAL, "block needs the shared info page (no events otherwise)")
        if clear_mask:
            dom.machine.mem_write(dom.shared_info + SI_MASK, b"\0")
        with dom.lock:
            if dom.event_pending():
                return
            dom.state = "blocked"
        dom.machine.stop()

    def shutdown(self, dom: Domain, reason: str, status: int = 0) -> None:
        dom.exit_status = status
        self._finish(dom, "shutdown", f"{reason}, status {status}")

    def _crash(self, dom: Domain, why: str) -> None:
        self._finish(dom, "crashed", why)

    def _finish(self, dom: Domain, state: str, why: str) -> None:
        with dom.lock:
            if dom.state in TERMINAL:
                return
            dom.state, dom.reason = state, why
            dom.lock.notify_all()
        dom.machine.stop()
        dom.flush_console()
        self.log(f"{dom.name}: {state}: {why}")
        if dom.debugger is not None:
            dom.debugger.stopped(None)

    def balloon_out(self, dom: Domain, frames) -> int:
        done = 0
        for f in frames:
            if not dom.owns(f) or f in dom.pinned or f in dom.foreign or dom.pages <= 1:
                break
            if dom.shared_info is not None and f == dom.shared_info >> 12 or f == (dom.hypercall_page or -PAGE) >> 12:
                break
            dom.machine.release_frames(f)
            dom.owned[f] = 0
            dom.pages -= 1
            done += 1
        dom.update_reservation_info()
        return done

    def balloon_in(self, dom: Domain, frames) -> int:
        done = 0
        for f in frames:
            if not 0 <= f < dom.max_pages or dom.owned[f] or dom.pages >= dom.max_pages:
                break
            dom.machine.restore_frames(f)
            dom.owned[f] = 1
            dom.pages += 1
            done += 1
        dom.update_reservation_info()
        return done

    def account(self, dom: Domain) -> None:
        """Bring dom.stats up to date with the core's counters."""
        c = dom.machine.pv_counters
        dom.stats.update(hypercalls=c["hypercalls"], traps=c["traps"], exits=c["hypercalls"] + c["traps"])

    # ---- scheduling

    def run(self, max_instructions: Optional[int] = None) -> dict:
        """Run every domain until each has shut down, crashed or is paused
        (or the total budget is spent).  Returns {name: domain}."""
        if self.threads:
            self._run_threads(max_instructions)
        else:
            self._run_rounds(max_instructions)
        for d in self.domains.values():
            self.account(d)
            d.flush_console()
        if self.recorder is not None:
            self.recorder.close(self.clock, self.digest())
            self.recorder = None
        if self.script is not None:
            script, self.script = self.script, None
            script.check_end(self.clock, self.digest())
        return {d.name: d for d in self.domains.values()}

    def _slice(self, dom: Domain, total_left: Optional[int]) -> int:
        q = max(1, self.quantum * dom.weight // DEFAULT_WEIGHT)
        if dom.budget is not None:
            q = min(q, dom.budget - dom.stats["instructions"])
        if total_left is not None:
            q = min(q, total_left)
        return q

    def _run_once(self, dom: Domain, count: int) -> int:
        """One quantum of `dom`; returns instructions retired."""
        if dom.kvm:
            kvm.write_steal_time(dom)
        ex = dom.machine.run(count=count)
        n = ex.instructions
        dom.stats["instructions"] += n
        self.account(dom)
        if ex.reason in ("exception", "triple-fault", "unmapped"):
            self._crash(dom, str(ex))
        elif ex.reason == "debug-exit":
            self.shutdown(dom, "debug-exit", ex.status)
        elif ex.reason == "shutdown":
            self.shutdown(dom, ex.shutdown)
        elif ex.reason == "hlt":
            self._finish(dom, "shutdown", f"halted at {ex.address:#x} with nothing to wake it")
        elif ex.reason in ("hypercall", "privop", "vtimer"):      # a handler was removed
            self._crash(dom, f"unhandled {ex}")
        elif dom.debugger is not None and dom.debugger.wants(ex):  # a gdb breakpoint or Ctrl-C
            self.pause(dom)
            dom.debugger.stopped(ex)
        if dom.budget is not None and dom.stats["instructions"] >= dom.budget and dom.state not in TERMINAL:
            self._finish(dom, "crashed", f"ran past its budget of {dom.budget:,} instructions")
        return n

    def _pace(self, vtime: int) -> int:
        """With realtime, wait until the wall clock reaches `vtime` (or a
        request is posted); returns the virtual time actually reached (a
        host-dependent result: logged when recording, taken from the log
        when replaying)."""
        if self.script is not None:
            got = self.script.take("pace", self.clock, first=True)
            return got[0]["pace"] if got else vtime
        if not self.realtime:
            return vtime
        reached = self._pace_wall(vtime)
        if self.recorder is not None and reached != vtime:
            self.recorder.event(self.clock, pace=reached)
        return reached

    def _pace_wall(self, vtime: int) -> int:
        if self._epoch is None:
            self._epoch = time.monotonic() - self.clock / self.ips
        while self.requests.empty():
            ahead = self._epoch + vtime / self.ips - time.monotonic()
            if ahead <= 0:
                return vtime
            threading.Event().wait(min(ahead, 0.05))
        return max(self.clock, min(vtime, int((time.monotonic() - self._epoch) * self.ips)))

    def _run_rounds(self, max_instructions: Optional[int]) -> None:
        total = 0
        while True:
            live = [d for d in self.domains.values() if d.state in ("runnable", "blocked")]
            paused = any(d.state == "paused" for d in self.domains.values())
            for mig in list(self.outgoing) if not live else ():
                mig.poll()                                   # (its domain may have ended meanwhile)
            if not live and (paused and self.controlled or self.outgoing):
                self._wait_request()                         # e.g. an unpause, a migration's end
                continue
            if not live and self.actions and paused:
                self.clock = max(self.clock, self.actions[0][0])    # only an action can go on
                self._due_actions()
                continue
            if not live or (max_instructions is not None and total >= max_instructions):
                return
            runnable = [d for d in live if d.state == "runnable"]
            if not runnable:
                if not self._idle(live):
                    return
                continue
            for dom in runnable:
                if dom.state != "runnable":
                    continue
                left = None if max_instructions is None else max_instructions - total
                if left is not None and left <= 0:
                    return
                count = self._slice(dom, left)
                if count <= 0:
                    self._finish(dom, "crashed", f"ran past its budget of {dom.budget:,} instructions")
                    continue
                n = self._run_once(dom, count)
                total += n
                self.clock += n
                self._pace(self.clock)
                self._due_actions()
                for other in live:                 # one CPU: everyone's clock moves on
                    if other is not dom:
                        other.machine.advance_time(n)
                        if other.kvm and other.state == "runnable":
                            other.kvm.steal_ns += other.ns(n)      # it waited to run
                        self._wake_if_due(other)

    def _wake_if_due(self, dom: Domain) -> None:
        if dom.state == "blocked" and dom.timer_deadline is not None and dom.vtime >= dom.timer_deadline:
            self._fire_timer(dom)

    def _idle(self, blocked) -> bool:
        """Every live domain is blocked: move time on to the first timer or
        scheduled action."""
        waits = [d.timer_deadline - d.vtime for d in blocked if d.timer_deadline is not None]
        if self.actions:
            waits.append(self.actions[0][0] - self.clock)
        if not waits and (self.controlled or self.links):   # only a posted request can wake them
            self._wait_request()
            return True
        if not waits:
            for d in blocked:
                self._finish(d, "crashed", "blocked with no timer set and no other domain running: "
                                           "no event can ever arrive")
            return False
        step = self._pace(self.clock + max(0, min(waits))) - self.clock
        self.clock += step
        for d in blocked:
            d.machine.advance_time(step)
            self._wake_if_due(d)
        self._due_actions()
        return True

    def _run_threads(self, max_instructions: Optional[int]) -> None:
        def loop(dom: Domain) -> None:
            while True:
                with dom.lock:
                    while dom.state in ("blocked", "paused"):
                        if dom.state == "blocked" and dom.timer_deadline is not None:
                            dom.machine.advance_time(dom.timer_deadline - dom.vtime)   # idle till then
                            self._fire_timer(dom)
                            continue
                        if not any(d.state in ("runnable",) for d in self.domains.values() if d is not dom) \
                                and dom.state == "blocked":
                            self._finish(dom, "crashed", "blocked with no timer set and no other "
                                                         "domain running: no event can ever arrive")
                        else:
                            dom.lock.wait(0.05)
                    if dom.state in TERMINAL:
                        return
                left = None
                if max_instructions is not None:
                    left = max_instructions - dom.stats["instructions"]
                    if left <= 0:
                        return
                count = self._slice(dom, left)
                if count <= 0:
                    self._finish(dom, "crashed", f"ran past its budget of {dom.budget:,} instructions")
                    return
                self._run_once(dom, count)
                with self.lock:
                    self._due_actions()

        workers = [threading.Thread(target=loop, args=(d,), name=f"pvemu-{d.name}", daemon=True)
                   for d in self.domains.values() if d.state not in TERMINAL]
        for t in workers:
            t.start()
        for t in workers:
            t.join()

    # ---- live migration (paravirt/migrate.py)

    def migrate(self, dom: Domain, address: str, on_done: Optional[Callable] = None):
        """Start moving `dom` to the supervisor listening at HOST:PORT
        (`pvemu receive`) while it runs on: pre-copy rounds between quanta,
        then a short stop-and-copy.  Returns the Migration; on_done(it) is
        called when it ends (it.error says whether it failed; the domain
        then runs on here).  Call it between quanta, as save()."""
        from paravirt import migrate
        return migrate.Migration(self, dom, address, on_done).start()

    def send_event(self, dom: Domain, remote: int, port: int) -> None:
        """Notify port `port` of domain `remote`, here or through a link."""
        peer = self.domains.get(remote)
        if peer is not None:
            peer.raise_event(port)
        elif remote in self.remote:
            self.remote[remote].event(dom, remote, port)
        else:
            raise HypercallError(abi.ESRCH, f"no domain {remote!r}")
