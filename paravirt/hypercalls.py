"""The hypercalls: each decodes its arguments by the ABI (pvemu_abi.h),
validates every guest pointer and number, and does its work through the
pv_ops table or the supervisor.  ``handler(sup, dom, a1..a5) -> int``;
refusals raise HypercallError and reach the guest as -errno."""
from __future__ import annotations

import struct

from paravirt import abi, pagetables
from paravirt.errors import HypercallError, fault, inval
from paravirt.pvops import check_descriptor

# The argument structures, as pvemu_abi.h lays them out.
TRAP_INFO = abi.struct("trap_info")
RESERVATION = abi.struct("reservation")
MMU_UPDATE = abi.struct("mmu_update")
MMUEXT_OP = abi.struct("mmuext_op")
GNTTAB_GRANT = abi.struct("gnttab_grant")
GNTTAB_MAP = abi.struct("gnttab_map")
SCHED_SHUTDOWN = abi.struct("sched_shutdown")
SCHED_POLL = abi.struct("sched_poll")
ALLOC_UNBOUND = abi.struct("evtchn_alloc_unbound")
BIND_INTERDOMAIN = abi.struct("evtchn_bind_interdomain")
BIND_VIRQ = abi.struct("evtchn_bind_virq")
EVTCHN_PORT = abi.struct("evtchn_port")
RUNSTATE_INFO = abi.struct("runstate_info")
PHYSDEV_PIO = abi.struct("physdev_pio")
CPU_REGS = abi.struct("cpu_regs")
STORE = abi.struct("store")
MULTICALL_ENTRY = abi.struct("multicall_entry")
# The fields the supervisor writes back: (offset, struct).
GRANT_REF = GNTTAB_GRANT.span("ref")
UNBOUND_PORT = ALLOC_UNBOUND.span("port")
INTERDOMAIN_PORT = BIND_INTERDOMAIN.span("local_port")
VIRQ_PORT = BIND_VIRQ.span("port")
PIO_VALUE = PHYSDEV_PIO.span("value")
STORE_VALUE = STORE.span("value")
MULTICALL_RESULT = MULTICALL_ENTRY.span("result")
U32 = struct.Struct("<I")       # the `done` counts of mmu_update and mmuext_op
U64 = struct.Struct("<Q")       # cpu_op's MSR values


# ---- guest memory, by guest-virtual address through its page tables

def read_guest(dom, va: int, n: int) -> bytes:
    data = dom.machine.read_virtual(va, n)
    if data is None:
        raise fault(f"{n} bytes at {va:#x} are not mapped")
    return data


def write_guest(dom, va: int, data: bytes) -> None:
    if not dom.machine.write_virtual(va, data):
        raise fault(f"{len(data)} bytes at {va:#x} are not mapped writable")


def read_struct(dom, va: int, layout) -> tuple:
    """The fields of the structure at va (read_guest's check, one frame
    fewer: this is every hypercall's path)."""
    data = dom.machine.read_virtual(va, layout.size)
    if data is None:
        raise fault(f"struct pvemu_{layout.name} at {va:#x} is not mapped")
    return layout.unpack(data)


def write_field(dom, va: int, field, value) -> None:
    """Write one field (offset, struct) of the structure at va."""
    offset, s = field
    write_guest(dom, va + offset, s.pack(value))


def _bounded(count: int, limit: int, what: str) -> int:
    if count > limit:
        raise HypercallError(abi.E2BIG, f"{count} {what} in one call (at most {limit})")
    return count


def _wide(dom) -> bool:
    return dom.machine.mode == 64


def set_trap_table(sup, dom, table, count, *_):
    done = 0
    for k in range(_bounded(count, 256, "trap entries")):
        vector, flags, cs, _pad, address = read_struct(dom, table + TRAP_INFO.size * k, TRAP_INFO)
        if address == 0:
            break
        sup.pvops.call("cpu.set_trap", sup, dom, vector, cs, address, flags & 3, bool(flags & 4))
        done += 1
    return done


def set_callbacks(sup, dom, vector, entry, cs, *_):
    if not 32 <= vector < 256:
        raise inval(f"upcall vector {vector} must be 32-255")
    sup.pvops.call("cpu.set_trap", sup, dom, vector, cs, entry, 0, False)
    dom.machine.upcall_vector = vector
    return 0


def stack_switch(sup, dom, ss, sp, *_):
    return sup.pvops.call("cpu.set_kernel_stack", sup, dom, ss, sp)


def set_gdt(sup, dom, frames, entries, *_):
    if not 1 <= entries <= 512:
        raise inval(f"a GDT of {entries} entries (1-512)")
    width = 8 if _wide(dom) else 4
    base = int.from_bytes(read_guest(dom, frames, width), "little")
    table = read_guest(dom, base, entries * 8)
    for (desc,) in struct.iter_unpack("<Q", table):
        check_descriptor(desc)
    return sup.pvops.call("cpu.load_gdt", sup, dom, base, entries * 8 - 1)


def update_descriptor(sup, dom, gpa, lo, hi=0, *_):
    desc = lo if _wide(dom) else lo | hi << 32
    return sup.pvops.call("cpu.write_gdt_entry", sup, dom, gpa, desc)


# ---- memory

def memory_op(sup, dom, cmd, arg, *_):
    if cmd == abi.MEMOP_current_reservation:
        return dom.pages
    if cmd == abi.MEMOP_maximum_reservation:
        return dom.max_pages
    if cmd not in (abi.MEMOP_increase_reservation, abi.MEMOP_populate_physmap,
                   abi.MEMOP_decrease_reservation):
        raise inval(f"memory_op {cmd}")
    start, nr = read_struct(dom, arg, RESERVATION)
    frames = struct.unpack(f"<{_bounded(nr, abi.MEMOP_MAX_EXTENTS, 'extents')}Q",
                           read_guest(dom, start, 8 * nr)) if nr else ()
    if cmd == abi.MEMOP_decrease_reservation:
        return sup.balloon_out(dom, frames)
    return sup.balloon_in(dom, frames)


def mmu_update(sup, dom, reqs, count, done_ptr, *_):
    done, error = 0, None
    try:
        _bounded(count, abi.MMU_MAX_REQS, "page-table updates")
        requests = [read_struct(dom, reqs + MMU_UPDATE.size * k, MMU_UPDATE) for k in range(count)]
        done, error = sup.pvops.call("mmu.set_pte_batch", sup, dom, requests)
    finally:
        if done_ptr:
            write_guest(dom, done_ptr, U32.pack(done))
    if error is not None:
        raise error
    return 0


def update_va_mapping(sup, dom, va, a2, a3, a4=0, *_):
    val, flags = (a2, a3) if _wide(dom) else (a2 | a3 << 32, a4)
    ptr = pagetables.leaf_entry_address(dom.machine, va)
    if ptr is None:
        raise inval(f"no page table maps {va:#x}")
    sup.pvops.call("mmu.set_pte", sup, dom, ptr, val)
    flush = flags & (abi.UVMF_INVLPG | abi.UVMF_TLB_FLUSH)      # (both: all of it)
    if flush == abi.UVMF_INVLPG:
        dom.machine.flush_tlb(va)
    elif flush:
        dom.machine.flush_tlb()
    return 0


def mmuext_op(sup, dom, ops, count, done_ptr, *_):
    done = 0
    ops_by_name = sup.pvops.ops
    try:
        for k in range(_bounded(count, abi.MMU_MAX_REQS, "mmuext operations")):
            cmd, _pad, arg1, _arg2 = read_struct(dom, ops + MMUEXT_OP.size * k, MMUEXT_OP)
            if cmd == abi.MMUEXT_NEW_BASEPTR:                  # every CR3 load: the common one first
                if (arg1 & pagetables.ADDR_MASK) >> 12 not in dom.pinned:
                    raise inval(f"new base pointer {arg1:#x}: its root table is not pinned")
                ops_by_name["mmu.write_cr3"].handler(sup, dom, arg1)
            elif cmd <= abi.MMUEXT_PIN_L4_TABLE:
                ops_by_name["mmu.pin"].handler(sup, dom, arg1)
            elif cmd == abi.MMUEXT_UNPIN_TABLE:
                ops_by_name["mmu.unpin"].handler(sup, dom, arg1)
            elif cmd == abi.MMUEXT_TLB_FLUSH_LOCAL:
                ops_by_name["mmu.flush_tlb_all"].handler(sup, dom)
            elif cmd == abi.MMUEXT_INVLPG_LOCAL:
                ops_by_name["mmu.flush_tlb_one"].handler(sup, dom, arg1)
            else:
                raise inval(f"mmuext_op command {cmd}")
            done += 1
    finally:
        if done_ptr:
            write_guest(dom, done_ptr, U32.pack(done))
    return 0


def grant_table_op(sup, dom, cmd, arg, *_):
    layout = GNTTAB_GRANT if cmd == abi.GNTTABOP_grant else GNTTAB_MAP
    domid, _pad, ref, gfn = read_struct(dom, arg, layout)
    if cmd == abi.GNTTABOP_grant:
        if not dom.owns(gfn):
            raise HypercallError(abi.EPERM, f"frame {gfn:#x} is not the domain's")
        sup.domain(domid)
        dom.grants.append((domid, gfn))
        write_field(dom, arg, GRANT_REF, len(dom.grants) - 1)
        return 0
    if cmd == abi.GNTTABOP_map:
        granter = sup.domain(domid)
        if not 0 <= ref < len(granter.grants) or granter.grants[ref] is None \
                or granter.grants[ref][0] != dom.domid:
            raise inval(f"grant {ref} of domain {domid} is not offered to domain {dom.domid}")
        if not dom.owns(gfn) or gfn in dom.pinned or gfn in dom.foreign:
            raise HypercallError(abi.EPERM, f"frame {gfn:#x} cannot take a mapping")
        dom.machine.map_frame_from(gfn, granter.machine, granter.grants[ref][1])
        dom.foreign[gfn] = (domid, ref)
        return 0
    if cmd == abi.GNTTABOP_unmap:
        if gfn not in dom.foreign:
            raise inval(f"frame {gfn:#x} holds no mapped grant")
        dom.machine.unmap_frame(gfn)
        del dom.foreign[gfn]
        return 0
    raise inval(f"grant_table_op {cmd}")


# ---- time, scheduling, events, console

def set_timer_op(sup, dom, a1, a2=0, *_):
    deadline = a1 if _wide(dom) else a1 | a2 << 32
    return sup.pvops.call("time.set_oneshot", sup, dom, deadline)


def sched_op(sup, dom, cmd, arg, *_):
    if cmd == abi.SCHEDOP_yield:
        sup.yield_(dom)
    elif cmd == abi.SCHEDOP_block:
        sup.block(dom)
    elif cmd == abi.SCHEDOP_shutdown:
        reason, status = read_struct(dom, arg, SCHED_SHUTDOWN)
        names = {abi.SHUTDOWN_poweroff: "poweroff", abi.SHUTDOWN_reboot: "reboot",
                 abi.SHUTDOWN_suspend: "suspend", abi.SHUTDOWN_crash: "crash"}
        if reason not in names:
            raise inval(f"shutdown reason {reason}")
        sup.shutdown(dom, names[reason], status)
    elif cmd == abi.SCHEDOP_poll:
        ports, nr, _pad, timeout = read_struct(dom, arg, SCHED_POLL)
        wanted = struct.unpack(f"<{_bounded(nr, 128, 'ports')}I", read_guest(dom, ports, 4 * nr))
        for p in wanted:
            dom.events.get(p)
        if not any(dom.port_pending(p) for p in wanted):
            if timeout:
                sup.set_timer(dom, timeout)
            sup.block(dom, clear_mask=False)
    else:
        raise inval(f"sched_op {cmd}")
    return 0


def event_channel_op(sup, dom, cmd, arg, *_):
    ev = dom.events
    if cmd == abi.EVTCHNOP_alloc_unbound:
        d, remote, _port = read_struct(dom, arg, ALLOC_UNBOUND)
        if d not in (abi.DOMID_SELF, dom.domid):
            raise HypercallError(abi.EPERM, "a domain allocates only its own ports")
        sup.domain(remote)
        write_field(dom, arg, UNBOUND_PORT, ev.alloc_unbound(remote))
    elif cmd == abi.EVTCHNOP_bind_interdomain:
        remote, _pad, remote_port, _port = read_struct(dom, arg, BIND_INTERDOMAIN)
        write_field(dom, arg, INTERDOMAIN_PORT, ev.bind_interdomain(sup.domain(remote), remote_port))
    elif cmd == abi.EVTCHNOP_bind_virq:
        virq, vcpu, _port = read_struct(dom, arg, BIND_VIRQ)
        if vcpu != 0:
            raise HypercallError(abi.ENOENT, f"vcpu {vcpu} does not exist")
        write_field(dom, arg, VIRQ_PORT, ev.bind_virq(virq))
    elif cmd in (abi.EVTCHNOP_close, abi.EVTCHNOP_send, abi.EVTCHNOP_unmask):
        (port,) = read_struct(dom, arg, EVTCHN_PORT)
        if cmd == abi.EVTCHNOP_close:
            ev.close(port, sup.domains)
        elif cmd == abi.EVTCHNOP_unmask:
            ev.get(port)
            dom.unmask_event(port)
        else:
            remote, rport = ev.peer_of(port)
            sup.send_event(dom, remote, rport)
    else:
        raise inval(f"event_channel_op {cmd}")
    return 0


def console_io(sup, dom, cmd, count, buf, *_):
    _bounded(count, abi.CONSOLE_MAX, "console bytes")
    if cmd == abi.CONSOLEIO_write:
        dom.write_console(read_guest(dom, buf, count))
        return count
    if cmd == abi.CONSOLEIO_read:
        data = bytes(dom.console_in[:count])
        write_guest(dom, buf, data)
        del dom.console_in[:len(data)]
        return len(data)
    raise inval(f"console_io command {cmd}")


def version(sup, dom, cmd, arg=0, *_):
    if cmd == abi.VERSION_abi:
        return abi.ABI_VERSION
    if cmd == abi.VERSION_features:
        return sup.features
    if cmd == abi.VERSION_domid:
        return dom.domid
    if cmd == abi.VERSION_name:
        name = dom.name.encode()[:31]
        write_guest(dom, arg, name + b"\0")
        return len(name)
    raise inval(f"version command {cmd}")


def vcpu_op(sup, dom, cmd, vcpu, arg, *_):
    if vcpu != 0:
        raise HypercallError(abi.ENOENT, f"vcpu {vcpu} does not exist")
    if cmd == abi.VCPUOP_is_up:
        return 1
    if cmd == abi.VCPUOP_get_runstate_info:
        sup.account(dom)
        s = dom.stats
        write_guest(dom, arg, RUNSTATE_INFO.pack(dom.machine.instructions, s["exits"], s["hypercalls"],
                                                 s["traps"], dom.ns(dom.vtime)))
        return 0
    raise inval(f"vcpu_op command {cmd}")


def physdev_op(sup, dom, cmd, arg, *_):
    port, size, _pad, value = read_struct(dom, arg, PHYSDEV_PIO)
    if size not in (1, 2, 4):
        raise inval(f"port access size {size}")
    if not all(p in dom.io_ports for p in range(port, port + size)):
        raise HypercallError(abi.EPERM, f"port {port:#x} is not one the domain may use")
    if cmd == abi.PHYSDEVOP_pio_in:
        v = sup.pvops.call("cpu.io_in", sup, dom, port, size)
        write_field(dom, arg, PIO_VALUE, v & 0xFFFFFFFF)
        return 0
    if cmd == abi.PHYSDEVOP_pio_out:
        return sup.pvops.call("cpu.io_out", sup, dom, port, size, value)
    raise inval(f"physdev_op command {cmd}")


def _read_op(name):
    return lambda sup, dom, a, b: sup.pvops.call(name, sup, dom)


def _cpu_read_msr(sup, dom, msr, out):
    write_guest(dom, out, U64.pack(sup.pvops.call("cpu.read_msr", sup, dom, msr)))
    return 0


def _cpu_write_msr(sup, dom, msr, ptr):
    (value,) = U64.unpack(read_guest(dom, ptr, 8))
    return sup.pvops.call("cpu.write_msr", sup, dom, msr, value)


def _cpu_cpuid(sup, dom, _a, regs):
    eax, _, ecx, _ = read_struct(dom, regs, CPU_REGS)
    write_guest(dom, regs, CPU_REGS.pack(*sup.pvops.call("cpu.cpuid", sup, dom, eax, ecx)))
    return 0


def _cpu_load_idt(sup, dom, ptr, _b):
    fmt = "<HQ" if _wide(dom) else "<HI"
    limit, base = struct.unpack(fmt, read_guest(dom, ptr, struct.calcsize(fmt)))
    return sup.pvops.call("cpu.load_idt", sup, dom, base, limit)


_CPU_OPS = {
    abi.CPUOP_read_cr0: _read_op("cpu.read_cr0"), abi.CPUOP_read_cr2: _read_op("mmu.read_cr2"),
    abi.CPUOP_read_cr3: _read_op("mmu.read_cr3"), abi.CPUOP_read_cr4: _read_op("cpu.read_cr4"),
    abi.CPUOP_wbinvd: _read_op("cpu.wbinvd"),
    abi.CPUOP_write_cr0: lambda sup, dom, a, b: sup.pvops.call("cpu.write_cr0", sup, dom, a),
    abi.CPUOP_write_cr4: lambda sup, dom, a, b: sup.pvops.call("cpu.write_cr4", sup, dom, a),
    abi.CPUOP_load_tr: lambda sup, dom, a, b: sup.pvops.call("cpu.load_tr", sup, dom, a),
    abi.CPUOP_read_msr: _cpu_read_msr, abi.CPUOP_write_msr: _cpu_write_msr,
    abi.CPUOP_cpuid: _cpu_cpuid, abi.CPUOP_load_idt: _cpu_load_idt,
}


def cpu_op(sup, dom, cmd, a, b, *_):
    op = _CPU_OPS.get(cmd)
    if op is None:
        raise inval(f"cpu_op command {cmd}")
    return op(sup, dom, a, b)


def store_op(sup, dom, cmd, arg, *_):
    domid, _pad, key, value = read_struct(dom, arg, STORE)
    if cmd == abi.STOREOP_write:
        if key not in dom.store and len(dom.store) >= abi.STORE_MAX_KEYS:
            raise HypercallError(abi.ENOSPC, f"domain {dom.domid} has {abi.STORE_MAX_KEYS} keys already")
        dom.store[key] = value
        return 0
    if cmd == abi.STOREOP_read:
        owner = dom if domid == abi.DOMID_SELF else sup.domain(domid)
        if key not in owner.store:
            raise HypercallError(abi.ENOENT, f"domain {owner.domid} has no key {key:#x}")
        write_field(dom, arg, STORE_VALUE, owner.store[key])
        return 0
    raise inval(f"store_op command {cmd}")


def multicall(sup, dom, calls, count, *_):
    for k in range(_bounded(count, abi.MULTICALL_MAX, "multicall entries")):
        entry = calls + MULTICALL_ENTRY.size * k
        op, *args, _result = read_struct(dom, entry, MULTICALL_ENTRY)
        if op == abi.HC_multicall:
            result = -abi.EINVAL
        else:
            result = sup.call_hypercall(dom, op, *args[:5])
        write_field(dom, entry, MULTICALL_RESULT, result)
    return 0


HYPERCALLS = {
    abi.HC_set_trap_table: set_trap_table, abi.HC_mmu_update: mmu_update,
    abi.HC_set_gdt: set_gdt, abi.HC_stack_switch: stack_switch,
    abi.HC_set_callbacks: set_callbacks, abi.HC_update_descriptor: update_descriptor,
    abi.HC_memory_op: memory_op, abi.HC_multicall: multicall,
    abi.HC_update_va_mapping: update_va_mapping, abi.HC_set_timer_op: set_timer_op,
    abi.HC_version: version, abi.HC_console_io: console_io,
    abi.HC_grant_table_op: grant_table_op, abi.HC_vcpu_op: vcpu_op,
    abi.HC_mmuext_op: mmuext_op, abi.HC_sched_op: sched_op,
    abi.HC_event_channel_op: event_channel_op, abi.HC_physdev_op: physdev_op,
    abi.HC_cpu_op: cpu_op, abi.HC_store_op: store_op,
}
