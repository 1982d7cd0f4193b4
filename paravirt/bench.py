"""What an exit to Python costs, timed in one process:

  - the hypercall round trip (VMCALL, a Python handler, back to the guest),
    into a trivial handler and through the supervisor, against Unicorn
    running the same loop with INT 0x80 (or CPUID) answered by a Python
    hook, the usual way to emulate a system call or hypercall with Unicorn;
  - one guest operation (CPUID, interrupts off and on, a CR3 write) done
    three ways: paravirtualized (hypercall or shared-page store), trapped
    (the native instruction exiting to the pv_ops handler), in-core;
  - aggregate MIPS of two workload domains on one thread and on two.

Also runs the pvbench guest under the supervisor and reports its own
counts (retired instructions and exits per operation, PV backend against the
native backend trapped).  Used by `pvemu bench` and benchmarks/.
"""
from __future__ import annotations

import re
import struct
import time
from typing import Callable, Optional

from paravirt import abi

CODE, STACK, HC_PAGE, ARG = 0x100000, 0x170000, 0x200000, 0x180000


def _elf64(code: bytes, entry: int = CODE) -> bytes:
    """A minimal ELF64 executable with one segment at CODE (starts in flat
    64-bit mode under pvemu's loader)."""
    eh = (b"\x7fELF\x02\x01\x01" + bytes(9) +
          struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, 64, 0, 0, 64, 56, 1, 64, 0, 0))
    ph = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, CODE, CODE, len(code), len(code) + 0x100000, 0x1000)
    return (eh + ph).ljust(0x1000, b"\0") + code


def _stub(nr: int) -> int:
    return HC_PAGE + nr * abi.HYPERCALL_STUB_SIZE


class _Asm:
    def __init__(self):
        self.code = bytearray()

    def emit(self, b: bytes) -> "_Asm":
        self.code += b
        return self

    def call(self, target: int) -> "_Asm":
        return self.emit(b"\xe8" + struct.pack("<i", target - (CODE + len(self.code) + 5)))

    def loop(self, body: Callable[["_Asm"], None], n: int) -> "_Asm":
        self.emit(b"\xb9" + struct.pack("<I", n))            # mov ecx, n
        top = len(self.code)
        body(self)
        self.emit(b"\xff\xc9")                                # dec ecx
        return self.emit(b"\x0f\x85" + struct.pack("<i", top - (len(self.code) + 6)))   # jnz top


SHINFO, PML4 = 0x190000, 0x110000
REGS = ARG + 0x40                       # struct pvemu_cpu_regs for cpu_op cpuid
UPCALL_MASK = SHINFO + abi.struct("shared_info").offset("vcpu.upcall_mask")
MMUEXT_OP = abi.struct("mmuext_op")


def _setup(a: _Asm, paging: bool) -> None:
    a.emit(b"\x48\xbc" + struct.pack("<Q", STACK))                        # mov rsp, STACK
    for msr, value in ((abi.MSR_HYPERCALL_PAGE, HC_PAGE), (abi.MSR_SHARED_INFO, SHINFO)):
        a.emit(b"\xb9" + struct.pack("<I", msr) + b"\xb8" + struct.pack("<I", value) + b"\x31\xd2\x0f\x30")
    if paging:                                                            # pin the tables, load CR3
        a.emit(b"\xbf" + struct.pack("<I", ARG + 0x80) + b"\xbe\x01\x00\x00\x00\x31\xd2")
        a.call(_stub(abi.HC_mmuext_op))
        a.emit(b"\x48\xb8" + struct.pack("<Q", PML4) + b"\x0f\x22\xd8")


# One operation three ways: (paravirtualized body, native body, needs paging)
OPERATIONS = {
    "cpuid": (lambda s: s.emit(b"\x51\xbf" + struct.pack("<I", abi.CPUOP_cpuid) + b"\x31\xf6\xba"
                                + struct.pack("<I", REGS)).call(_stub(abi.HC_cpu_op)).emit(b"\x59"),
              lambda s: s.emit(b"\x51\x31\xc0\x0f\xa2\x59"), False),
    "irq off/on": (lambda s: s.emit(b"\xc6\x04\x25" + struct.pack("<I", UPCALL_MASK) + b"\x01"
                                     b"\xc6\x04\x25" + struct.pack("<I", UPCALL_MASK) + b"\x00"),
                   lambda s: s.emit(b"\xfa\xfb"), False),
    "write cr3": (lambda s: s.emit(b"\x51\xbf" + struct.pack("<I", ARG + 0xA0) + b"\xbe\x01\x00\x00\x00\x31\xd2")
                  .call(_stub(abi.HC_mmuext_op)).emit(b"\x59"),
                  lambda s: s.emit(b"\x0f\x22\xd8"), True),
    "null hypercall": (lambda s: s.emit(b"\x31\xff").call(_stub(abi.HC_version)),
                       None, False),
}


def loop_guest(op: str, paravirt: bool, n: int) -> bytes:
    """A 64-bit guest doing operation `op` n times, through its
    paravirtualized form or its native instruction, then shutting down."""
    pv_body, native_body, paging = OPERATIONS[op]
    a = _Asm()
    _setup(a, paging)
    a.loop(pv_body if paravirt else native_body, n)
    a.emit(b"\xbf" + struct.pack("<I", abi.SCHEDOP_shutdown) + b"\xbe" + struct.pack("<I", ARG))
    a.call(_stub(abi.HC_sched_op))
    a.emit(b"\xf4")
    tables = {PML4: PML4 + 0x1003, PML4 + 0x1000: PML4 + 0x2003, PML4 + 0x2000: 0x83}  # 2 MiB pages
    data = bytearray(bytes(a.code).ljust(PML4 - CODE, b"\x90"))
    for addr in sorted(tables):
        data[addr - CODE:addr - CODE + 4096] = struct.pack("<Q", tables[addr]).ljust(4096, b"\0")
    data[PML4 + 0x2008 - CODE:PML4 + 0x2010 - CODE] = struct.pack("<Q", 0x200083)   # 2-4 MiB
    data = bytes(data).ljust(ARG - CODE, b"\0")
    data += abi.struct("sched_shutdown").pack(abi.SHUTDOWN_poweroff, 0).ljust(0x80, b"\0")     # ARG
    data += MMUEXT_OP.pack(abi.MMUEXT_PIN_L4_TABLE, 0, PML4 >> 12, 0).ljust(0x20, b"\0")       # ARG + 0x80
    data += MMUEXT_OP.pack(abi.MMUEXT_NEW_BASEPTR, 0, PML4, 0)                                  # ARG + 0xA0
    return _elf64(data)


def time_pvemu(op: str, n: int, how: str) -> float:
    """Seconds for n of `op` under the supervisor; how = 'paravirt',
    'trapped' or 'in-core'."""
    from paravirt.supervisor import Supervisor
    sup = Supervisor(console=None, quantum=1 << 40)
    if how == "in-core":
        for name in ("cpu.cpuid", "irq.disable", "irq.enable", "mmu.write_cr3"):
            sup.pvops.set_in_core(name)
    dom = sup.create(loop_guest(op, how == "paravirt", n), name=op, memory=4 << 20)
    t = time.perf_counter()
    sup.run()
    dt = time.perf_counter() - t
    if dom.state != "shutdown":
        raise RuntimeError(f"the {op} loop guest ({how}) did not finish: {dom.reason}")
    return dt


def time_trivial_hypercall(n: int) -> float:
    """Seconds for n VMCALLs answered by a trivial Python function: the
    core's exit path alone (no supervisor)."""
    from emu import Machine
    m = Machine(mode=64, memory=1 << 20)
    m.pv_enable()
    m.set_exit_handlers(hypercall=lambda nr, a1, a2, a3, a4, a5: 0)
    m.mem_write(0x1000, b"\xb9" + struct.pack("<I", n) + b"\x0f\x01\xc1\xff\xc9\x75\xf9\xf4")
    t = time.perf_counter()
    ex = m.run(start=0x1000)
    dt = time.perf_counter() - t
    if ex.reason != "hlt":
        raise RuntimeError(f"the trivial hypercall loop ended with {ex}")
    return dt


def time_unicorn(kind: str, n: int) -> Optional[float]:
    """Seconds for n INT 0x80 (kind 'int') or CPUID (kind 'cpuid') answered
    by a Python hook in Unicorn; None without Unicorn."""
    try:
        import unicorn
        from unicorn import x86_const as x
    except ImportError:
        return None
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 2 << 20)
    op = b"\xcd\x80" if kind == "int" else b"\x51\x31\xc0\x0f\xa2\x59"
    body = op + b"\x49\x75" + bytes([(-(len(op) + 3)) & 0xFF])               # dec ecx; jnz body
    code = b"\xb9" + struct.pack("<I", n) + body + b"\xf4"
    uc.mem_write(0x1000, code)
    uc.reg_write(x.UC_X86_REG_ESP, 0x8000)
    if kind == "int":
        def hook(uc, intno, data):
            uc.reg_write(x.UC_X86_REG_EAX, 0)
        uc.hook_add(unicorn.UC_HOOK_INTR, hook)
    else:
        def hook(uc, data):
            uc.reg_write(x.UC_X86_REG_EAX, 0x40000002)
            return 1                                    # handled: skip the instruction
        uc.hook_add(unicorn.UC_HOOK_INSN, hook, None, 1, 0, x.UC_X86_INS_CPUID)
    t = time.perf_counter()
    uc.emu_start(0x1000, 0x1000 + len(code) - 1)
    return time.perf_counter() - t


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _timed(fn, repeat):
    times = [fn() for _ in range(repeat)]
    return None if times[0] is None else _median(times)


def exit_costs(n: int = 100_000, repeat: int = 3, progress: Callable[[str], None] = lambda s: None) -> dict:
    """Microseconds per call: the hypercall round trip against Unicorn's
    hook, and each operation three ways."""
    progress(f"exits: hypercall round trips x {n:,}")
    rt = {"trivial handler (core exit path)": _timed(lambda: time_trivial_hypercall(n), repeat),
          "supervisor (version hypercall)": _timed(lambda: time_pvemu("null hypercall", n, "paravirt"), repeat),
          "unicorn INT 0x80 + Python hook": _timed(lambda: time_unicorn("int", n), repeat),
          "unicorn CPUID + Python hook": _timed(lambda: time_unicorn("cpuid", n), repeat)}
    ways = {}
    for op in ("cpuid", "irq off/on", "write cr3"):
        progress(f"exits: {op} three ways x {n:,}")
        ways[op] = {how: _timed(lambda: time_pvemu(op, n, how), repeat)
                    for how in ("paravirt", "trapped", "in-core")}
    us = lambda t: None if t is None else t / n * 1e6          # noqa: E731
    return {"calls": n, "repeat": repeat,
            "round_trip_us": {k: us(v) for k, v in rt.items()},
            "three_ways_us": {op: {h: us(t) for h, t in w.items()} for op, w in ways.items()}}


def format_exit_costs(r: dict) -> str:
    rt = r["round_trip_us"]
    uc = rt["unicorn INT 0x80 + Python hook"]
    out = [f"pvemu benchmark: exits to Python, us per call (median of {r['repeat']} runs of {r['calls']:,} calls)",
           f"{'hypercall round trip':<36} {'us/call':>8} {'calls/s':>12}  vs unicorn INT hook"]
    for name, v in rt.items():
        if v is None:
            out.append(f"{name:<36} {'-':>8} {'-':>12}  (unicorn not installed)")
            continue
        ratio = f"{uc / v:.1f}x its rate" if uc and not name.startswith("unicorn") else "-"
        out.append(f"{name:<36} {v:8.3f} {1e6 / v:12,.0f}  {ratio}")
    out.append("")
    out.append(f"{'one operation three ways':<16} {'paravirt':>10} {'trapped':>10} {'in-core':>10}"
               "   (us per operation)")
    for op, w in r["three_ways_us"].items():
        out.append(f"{op:<16} " + " ".join(f"{w[h]:10.3f}" for h in ("paravirt", "trapped", "in-core")))
    out.append("paravirt: the hypercall (cpuid: cpu_op; write cr3: mmuext new_baseptr) or, for irq off/on, "
               "two stores to the shared info page; trapped: the native instruction exiting to the "
               "supervisor's pv_ops handler; in-core: the same instruction run by the C core, no exit.")
    return "\n".join(out)


def aggregate_mips(rounds: int = 400, progress: Callable[[str], None] = lambda s: None) -> dict:
    """Two workload domains on one thread (rounds) and on two threads:
    total retired instructions / wall seconds.  400 rounds take about 0.7 s
    on one thread: at 40 (0.07 s) the threads' start-up and the
    supervisor's set-up weighed enough to show 1.5-1.7x for 2.0x."""
    from emu.guests import resolve
    from paravirt.supervisor import Supervisor
    _, path = resolve("workload64")
    with open(path, "rb") as f:
        image = f.read()
    out = {}
    for threads in (False, True):
        progress(f"aggregate: two workload domains, threads={threads}")
        sup = Supervisor(console=None, threads=threads, quantum=2_000_000)
        doms = [sup.create(image, name=f"w{k}", cmdline=f"rounds={rounds}") for k in range(2)]
        t = time.perf_counter()
        sup.run()
        dt = time.perf_counter() - t
        bad = [d for d in doms if d.state != "shutdown" or d.exit_status != 0]
        if bad:
            raise RuntimeError(f"workload domain {bad[0].name} ended: {bad[0].reason}")
        insns = sum(d.stats["instructions"] for d in doms)
        out["two threads" if threads else "one thread"] = {"instructions": insns, "seconds": dt,
                                                           "mips": insns / dt / 1e6}
    return out


def format_aggregate(r: dict) -> str:
    one, two = r["one thread"], r["two threads"]
    return ("pvemu benchmark: two workload domains under the supervisor, aggregate MIPS\n"
            f"one thread   {one['mips']:8.1f} MIPS  ({one['instructions']:,} instructions in {one['seconds']:.3f} s)\n"
            f"two threads  {two['mips']:8.1f} MIPS  ({two['instructions']:,} instructions in {two['seconds']:.3f} s)"
            + (f"\nno scaling figure: {r['not_idle']}" if r.get("not_idle")
               else f"  = {two['mips'] / one['mips']:.2f}x"))


BENCH_LINE = re.compile(r"bench (\S+) backend=(\S+) iters=(\d+) insns=(\d+) exits=(\d+)")


def pvbench(bits: int = 64) -> list:
    """The pvbench guest's own lines under the supervisor: [(op, backend,
    iters, insns, exits)]."""
    from emu.guests import resolve
    from paravirt.supervisor import Supervisor
    guest, path = resolve(f"pvbench{bits}")
    sup = Supervisor(console=None)
    with open(path, "rb") as f:
        dom = sup.create(f.read(), name="pvbench", cmdline=guest.args)
    sup.run(max_instructions=2_000_000_000)
    text = bytes(dom.console_out).decode("utf-8", "replace")
    return [(m[1], m[2], int(m[3]), int(m[4]), int(m[5])) for m in BENCH_LINE.finditer(text)]


def format_pvbench(rows: list, bits: int) -> str:
    out = [f"pvbench guest ({bits}-bit) under the supervisor: per operation, PV backend vs the "
           "native backend trapping",
           f"{'operation':<14} {'backend':<8} {'insns/op':>9} {'exits/op':>9}"]
    for op, backend, iters, insns, exits in rows:
        out.append(f"{op:<14} {backend:<8} {insns / max(iters, 1):9.1f} {exits / max(iters, 1):9.3f}")
    return "\n".join(out)
