"""The pv_ops table: every privileged operation a guest kernel performs,
grouped as Linux's paravirt_ops groups them (cpu, irq, mmu, time).

Each entry names the hypercall a paravirtualized kernel makes for it, the
instruction class through which an unmodified kernel traps into it, and the
supervisor's handler, called the same way from both paths:
``handler(supervisor, domain, *operands) -> result``.  The table is data:

    from paravirt import Supervisor
    sup = Supervisor()
    sup.pvops.wrap("mmu.write_cr3", lambda inner: lambda s, d, v: (log(v), inner(s, d, v))[1])
    sup.pvops.set_in_core("irq.disable")     # CLI runs in the C core, no exit

A handler raises GuestFault(vector, error) where the CPU itself would fault
(a trapped instruction gets that exception; a hypercall gets -EINVAL), and
HypercallError(errno) where the supervisor refuses (a trapped instruction
gets #GP(0)).  A handler returning NATIVE asks the core to run the trapped
instruction itself, once (only meaningful on the trap path).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Optional

from emu._core import PRIVOP_CLASSES
from paravirt import abi, kvm, pagetables
from paravirt.errors import HypercallError, fault, inval

NATIVE = object()   # handler result: let the core run the trapped instruction
IF = 0x200
EFER = 0xC0000080


class GuestFault(Exception):
    """The operation faults as the CPU would fault it."""

    def __init__(self, vector: int, error: Optional[int] = 0):
        super().__init__(f"vector {vector} error {error}")
        self.vector = vector
        self.error = error


@dataclass
class PvOp:
    name: str                       # group.operation
    hypercall: Optional[str]        # 'nr name[/sub-operation]', or how PV kernels do it without one
    trap: Optional[str]             # the instruction class that traps into it (PRIVOP_CLASSES)
    handler: Callable
    doc: str = ""
    in_core: bool = False           # run the trap class in the C core, without an exit
    in_guests: bool = True          # the bundled guests' pv_ops (guests/lib/pvops.h) have it too

    @property
    def group(self) -> str:
        return self.name.split(".")[0]


# ------------------------------------------------------------------ handlers

def _gp(ok: bool) -> None:
    if not ok:
        raise GuestFault(13, 0)


def cpuid(sup, dom, leaf, subleaf=0):
    return dom.machine.cpuid(leaf, subleaf)


def read_cr(n):
    return lambda sup, dom: dom.machine.read_cr(n)


def write_cr(n):
    def handler(sup, dom, value):
        _gp(dom.machine.write_cr(n, value))
        return 0
    return handler


def write_cr3(sup, dom, value):
    if not dom.owns((value & pagetables.ADDR_MASK) >> 12):
        raise HypercallError(abi.EPERM, f"CR3 {value:#x} names a frame the domain does not own")
    _gp(dom.machine.write_cr(3, value))
    return 0


def read_msr(sup, dom, msr):
    if kvm.is_kvm_msr(msr):
        v = kvm.read_msr(dom, msr) if dom.kvm else None
        if v is None:
            raise GuestFault(13, 0)
        return v
    if (msr >> 8) == 0x400000:
        if dom.kvm:
            raise GuestFault(13, 0)            # pvemu's MSRs are not KVM's
        if msr == abi.MSR_HYPERCALL_PAGE:
            return dom.hypercall_page or 0
        if msr == abi.MSR_SHARED_INFO:
            return dom.shared_info or 0
        raise GuestFault(13, 0)
    v = dom.machine.read_msr(msr)
    if v is None:
        raise GuestFault(13, 0)
    return v


def write_msr(sup, dom, msr, value):
    if kvm.is_kvm_msr(msr):
        _gp(dom.kvm is not None and kvm.write_msr(dom, msr, value))
        return 0
    if msr == abi.MSR_HYPERCALL_PAGE or msr == abi.MSR_SHARED_INFO:
        if not dom.paravirt or dom.kvm:
            raise GuestFault(13, 0)        # the supervisor is hidden from this domain
        if value & 0xFFF or not dom.owns(value >> 12):
            raise GuestFault(13, 0)
        if msr == abi.MSR_HYPERCALL_PAGE:
            sup.fill_hypercall_page(dom, value)
        else:
            dom.attach_shared_info(value)
        return 0
    if (msr >> 8) == 0x400000:
        raise GuestFault(13, 0)
    _gp(dom.machine.write_msr(msr, value))
    return 0


def _check_table(dom, base, limit):
    """A descriptor table must be mapped RAM the domain owns."""
    m = dom.machine
    for va in range(base & ~0xFFF, base + limit + 1, 4096):
        pa = m.translate(va)
        if pa is None or not dom.owns(pa >> 12):
            raise fault(f"descriptor table at {base:#x} is not mapped memory of the domain")


def load_table(which):
    def handler(sup, dom, base, limit):
        _check_table(dom, base, limit)
        dom.machine.load_table(which, base, limit)
        return 0
    return handler


def load_segment(which):
    def handler(sup, dom, selector):
        err = dom.machine.load_segment_register(which, selector)
        if err is not None:
            raise GuestFault(*err)
        return 0
    return handler


def check_descriptor(desc: int) -> None:
    """A paravirtualized domain builds no privilege transfers of its own:
    present call and task gates are refused in its GDT and LDT."""
    if desc & (1 << 47) and not (desc >> 44) & 1 and (desc >> 40) & 0xF in (0x4, 0x5, 0xC):
        raise inval("call and task gates are not allowed in a paravirtualized domain's tables")


def write_descriptor(sup, dom, gpa, desc):
    if gpa & 7 or not dom.owns(gpa >> 12):
        raise fault(f"descriptor address {gpa:#x} is not 8-byte aligned memory of the domain")
    check_descriptor(desc)
    dom.machine.mem_write(gpa, struct.pack("<Q", desc & 0xFFFFFFFFFFFFFFFF))
    return 0


def set_trap(sup, dom, vector, cs, address, dpl, trap):
    """One gate of the loaded IDT (set_trap_table's entries, set_callbacks'
    upcall): an interrupt gate, or a trap gate (IF kept); 16 bytes in long
    mode."""
    m = dom.machine
    idt_base, idt_limit = m.state()["idtr"]
    long_mode = m.read_msr(EFER) & 0x400
    size = 16 if long_mode else 8
    if not 0 <= vector < 256 or vector * size + size - 1 > idt_limit:
        raise inval(f"vector {vector} is outside the loaded IDT (limit {idt_limit:#x})")
    if cs & 0xFFFC == 0:
        raise inval(f"gate selector {cs:#x} is null")
    kind = 0xF if trap else 0xE
    low = ((address & 0xFFFF) | (cs & 0xFFFF) << 16 | (kind | (dpl & 3) << 5 | 0x80) << 40
           | ((address >> 16) & 0xFFFF) << 48)
    data = struct.pack("<Q", low) + (struct.pack("<Q", (address >> 32) & 0xFFFFFFFF) if long_mode else b"")
    va = idt_base + vector * size
    pa = m.translate(va, write=True)
    if pa is None or not dom.owns(pa >> 12) or not m.write_virtual(va, data):
        raise fault(f"the IDT at {idt_base:#x} is not writable memory of the domain")
    return 0


def set_kernel_stack(sup, dom, ss, sp):
    m = dom.machine
    st = m.state()
    if not st["tr"]:
        raise inval("no task register loaded (cpu_op load_tr first)")
    base = st["tr_base"]
    long_mode = m.read_msr(EFER) & 0x400
    data = struct.pack("<Q", sp) if long_mode else struct.pack("<II", sp & 0xFFFFFFFF, ss & 0xFFFF)
    if not m.write_virtual(base + 4, data):
        raise fault("the TSS is not mapped writable")
    return 0


def io_in(sup, dom, port, size):
    return dom.machine.port_in(port, size)


def io_out(sup, dom, port, size, value):
    status = dom.machine.port_out(port, size, value)
    if status is not None:
        sup.shutdown(dom, "debug-exit", status)
    return 0


def wbinvd(sup, dom):
    return 0                                 # caches are not modelled: nothing to write back


def clts(sup, dom):
    _gp(dom.machine.write_cr(0, dom.machine.read_cr(0) & ~8))
    return 0


def lmsw(sup, dom, value):
    cr0 = dom.machine.read_cr(0)
    _gp(dom.machine.write_cr(0, (cr0 & ~0xE) | (value & 0xF) | (cr0 & 1)))
    return 0


def save_fl(sup, dom):
    return dom.machine.reg_read("rflags") & IF


def interrupt_flag(sup, dom, *flags):
    """CLI, STI, POPF: the core runs them, keeping STI's one-instruction
    shadow (a STI; HLT pair must not lose the wake-up between the two)."""
    return NATIVE


def halt(sup, dom):
    """A trapped HLT: the core waits for the domain's own timer interrupt."""
    return NATIVE


def set_pte(sup, dom, ptr, val):
    """One validated page-table write (mmu_update's request)."""
    m = dom.machine
    size = pagetables.entry_size(m)
    if ptr % size or not dom.owns(ptr >> 12):
        raise HypercallError(abi.EPERM, f"page-table entry at {ptr:#x} is not in a frame the domain owns")
    if val & pagetables.PRESENT:
        frame = (val & (pagetables.ADDR_MASK if size == 8 else 0xFFFFF000)) >> 12
        if not dom.owns(frame):
            raise HypercallError(abi.EPERM, f"entry {val:#x} maps frame {frame:#x}, which the domain does not own")
    m.mem_write(ptr, (val & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
    m.flush_tlb()
    return 0


def set_pte_batch(sup, dom, requests):
    """mmu_update's requests [(ptr | command, val)] in order, each as
    set_pte; stops at the first refused one.  Returns (done, None), or
    (done, the exception that refused request `done`)."""
    for done, (ptr, val) in enumerate(requests):
        try:
            if ptr & 3 != abi.MMU_NORMAL_PT_UPDATE:
                raise inval(f"mmu_update command {ptr & 3}")
            sup.pvops.call("mmu.set_pte", sup, dom, ptr & ~3, val)
        except (HypercallError, GuestFault) as e:
            return done, e
    return len(requests), None


def flush_tlb_all(sup, dom):
    dom.machine.flush_tlb()
    return 0


def flush_tlb_one(sup, dom, va):
    dom.machine.flush_tlb(va)
    return 0


def pin_table(sup, dom, frame):
    if not dom.owns(frame):
        raise HypercallError(abi.EPERM, f"frame {frame:#x} is not the domain's")
    for f in pagetables.table_frames(dom.machine, frame):
        if not dom.owns(f):
            raise HypercallError(abi.EPERM, f"table {frame:#x} maps frame {f:#x}, which the domain does not own")
    dom.pinned.add(frame)
    return 0


def unpin_table(sup, dom, frame):
    if frame not in dom.pinned:
        raise inval(f"frame {frame:#x} is not pinned")
    dom.pinned.discard(frame)
    return 0


def clock_read(sup, dom):
    """The TSC: virtual time in instructions (ns = TSC scaled by the shared
    info's vcpu_time_info)."""
    return dom.machine.virtual_time


def set_timer(sup, dom, deadline_ns):
    sup.set_timer(dom, deadline_ns)
    return 0


# ------------------------------------------------------------------ the table

def default_ops() -> list:
    return [
        PvOp("cpu.cpuid", "40 cpu_op/cpuid", "cpuid", cpuid, "CPUID (the supervisor's leaves included)"),
        PvOp("cpu.read_cr0", "40 cpu_op/read_cr0", "read_cr:0", read_cr(0)),
        PvOp("cpu.write_cr0", "40 cpu_op/write_cr0", "write_cr:0", write_cr(0)),
        PvOp("cpu.read_cr4", "40 cpu_op/read_cr4", "read_cr:4", read_cr(4)),
        PvOp("cpu.write_cr4", "40 cpu_op/write_cr4", "write_cr:4", write_cr(4)),
        PvOp("cpu.read_cr8", None, "read_cr:8", read_cr(8), "the task priority register", in_guests=False),
        PvOp("cpu.write_cr8", None, "write_cr:8", write_cr(8), in_guests=False),
        PvOp("cpu.read_msr", "40 cpu_op/read_msr", "rdmsr", read_msr),
        PvOp("cpu.write_msr", "40 cpu_op/write_msr", "wrmsr", write_msr,
             "the supervisor's MSRs 0x40000000 (hypercall page) and 0x40000001 (shared info) included"),
        PvOp("cpu.load_gdt", "2 set_gdt", "lgdt", load_table("gdt"), in_guests=False),
        PvOp("cpu.load_idt", "40 cpu_op/load_idt", "lidt", load_table("idt")),
        PvOp("cpu.set_trap", "0 set_trap_table", None, set_trap,
             "one IDT gate; natively a store into the IDT"),
        PvOp("cpu.load_tr", "40 cpu_op/load_tr", "ltr", load_segment("tr")),
        PvOp("cpu.load_ldt", None, "lldt", load_segment("ldt"), in_guests=False),
        PvOp("cpu.write_gdt_entry", "10 update_descriptor", None, write_descriptor,
             "natively a plain store into the GDT", in_guests=False),
        PvOp("cpu.set_kernel_stack", "3 stack_switch", None, set_kernel_stack,
             "natively a plain store into the TSS"),
        PvOp("cpu.io_in", "33 physdev_op/pio_in", "in", io_in),
        PvOp("cpu.io_out", "33 physdev_op/pio_out", "out", io_out),
        PvOp("cpu.wbinvd", "40 cpu_op/wbinvd", "wbinvd", wbinvd),
        PvOp("cpu.clts", None, "clts", clts, in_guests=False),
        PvOp("cpu.lmsw", None, "lmsw", lmsw, in_guests=False),
        PvOp("irq.save_fl", "none: reads shared_info vcpu.upcall_mask", None, save_fl,
             "natively PUSHF, which never traps (x86's classic virtualization hole)"),
        PvOp("irq.restore_fl", "none: writes vcpu.upcall_mask", "popf", interrupt_flag,
             "a POPF that changes IF traps"),
        PvOp("irq.disable", "none: vcpu.upcall_mask = 1", "cli", interrupt_flag),
        PvOp("irq.enable", "none: vcpu.upcall_mask = 0 (then check upcall_pending)", "sti", interrupt_flag),
        PvOp("irq.safe_halt", "29 sched_op/block", None, halt, "natively STI; HLT"),
        PvOp("irq.halt", "29 sched_op/block", "hlt", halt),
        PvOp("mmu.read_cr2", "40 cpu_op/read_cr2", "read_cr:2", read_cr(2)),
        PvOp("mmu.write_cr2", None, "write_cr:2", write_cr(2), in_guests=False),
        PvOp("mmu.read_cr3", "40 cpu_op/read_cr3", "read_cr:3", read_cr(3)),
        PvOp("mmu.write_cr3", "26 mmuext_op/new_baseptr", "write_cr:3", write_cr3,
             "the new root must be a frame the domain owns"),
        PvOp("mmu.set_pte", "1 mmu_update", None, set_pte,
             "one entry of any level, natively a plain store"),
        PvOp("mmu.set_pte_batch", "1 mmu_update", None, set_pte_batch,
             "several entries in one call, each as set_pte"),
        PvOp("mmu.flush_tlb_all", "26 mmuext_op/tlb_flush_local", None, flush_tlb_all,
             "natively a CR3 reload"),
        PvOp("mmu.flush_tlb_one", "26 mmuext_op/invlpg_local", "invlpg", flush_tlb_one),
        PvOp("mmu.pin", "26 mmuext_op/pin_l1..l4_table", None, pin_table),
        PvOp("mmu.unpin", "26 mmuext_op/unpin_table", None, unpin_table),
        PvOp("time.clock_read", "none: vcpu_time_info in shared info", "rdtsc", clock_read,
             "RDTSC runs in the core unless its class is trapped", in_core=True),
        PvOp("time.set_oneshot", "15 set_timer_op", None, set_timer),
    ]


class PvOpsTable:
    """The operations by name, and the trap dispatch derived from them."""

    def __init__(self, ops=None):
        self.ops: dict[str, PvOp] = {op.name: op for op in (ops or default_ops())}
        self._by_trap = {}                          # (class, CR number or None) -> op
        for op in self.ops.values():
            if op.trap is None:
                continue
            cls, _, sub = op.trap.partition(":")
            if cls not in PRIVOP_CLASSES:
                raise ValueError(f"{op.name}: unknown trap class {op.trap!r}")
            self._by_trap[(cls, int(sub) if sub else None)] = op

    def __getitem__(self, name: str) -> PvOp:
        try:
            return self.ops[name]
        except KeyError:
            raise KeyError(f"no pv_op {name!r}; known: {', '.join(self.ops)}") from None

    def __iter__(self):
        return iter(self.ops.values())

    def call(self, name: str, sup, dom, *args):
        try:
            op = self.ops[name]
        except KeyError:
            op = self[name]                         # the error naming the known ones
        return op.handler(sup, dom, *args)

    def replace(self, name: str, handler: Callable) -> None:
        """Use `handler(supervisor, domain, *operands)` for this operation."""
        self[name].handler = handler

    def wrap(self, name: str, wrapper: Callable) -> None:
        """handler = wrapper(handler): e.g. to log or count an operation."""
        op = self[name]
        op.handler = wrapper(op.handler)

    def set_in_core(self, name: str, in_core: bool = True) -> None:
        """Run the operation's trap class in the C core without an exit (the
        analogue of hardware assistance).  Classes are per instruction: every
        operation sharing the class (e.g. write_cr for CR0, CR3, CR4) moves too."""
        op = self[name]
        if op.trap is None:
            raise ValueError(f"{name} has no trapping instruction")
        cls = op.trap.split(":")[0]
        for other in self.ops.values():
            if other.trap and other.trap.split(":")[0] == cls:
                other.in_core = in_core

    def trap_mask(self) -> int:
        mask = 0
        for op in self.ops.values():
            if op.trap is not None and not op.in_core:
                mask |= 1 << PRIVOP_CLASSES.index(op.trap.split(":")[0])
        return mask

    def for_trap(self, cls: str, sub) -> PvOp:
        """The operation a trapped instruction class (with its CR number for
        read_cr/write_cr) runs."""
        op = self._by_trap.get((cls, sub))
        if op is None:
            raise KeyError(f"no pv_op for trapped {cls} {sub}")
        return op
