"""The supervisor's hypercalls, one by one, through small guests in i386 and
x86-64 (tests/pvscript.py): the success paths, and for each the error codes
a bad argument must get, with the supervisor healthy afterwards."""
import os
import struct

import pytest

from emu import Machine
from paravirt import Supervisor, abi
from paravirt.pvops import PvOpsTable
from pvscript import DATA, RESULTS, SHARED_INFO, Script, results

WIDTHS = [32, 64]
E = lambda name: -getattr(abi, "E" + name)   # noqa: E731
MiB = 1 << 20


def boot(script_or_image, end="shutdown", **kw):
    sup = Supervisor(console=None)
    image = script_or_image.image(end) if isinstance(script_or_image, Script) else script_or_image
    kw.setdefault("memory", 4 * MiB)
    dom = sup.create(image, name=kw.pop("name", "t"), **kw)
    sup.run(max_instructions=5_000_000)
    return sup, dom


def run_script(s, **kw):
    n = s.results                      # before the final shutdown call is added
    sup, dom = boot(s, **kw)
    assert dom.state == "shutdown", dom.reason
    return sup, dom, results(dom, n)


# ---- discovery

@pytest.mark.parametrize("bits", WIDTHS)
def test_cpuid_leaves_only_under_the_supervisor(bits):
    s = Script(bits)
    for leaf in (0x40000000, 0x40000001, 0x40000002, 1):
        s.mov(0, leaf)
        s.mov(1, 0)
        s.raw(b"\x0f\xa2")                                # cpuid
        for reg in (0, 3, 1, 2):                          # eax ebx ecx edx -> results
            if reg:                                       # mov rax, reg
                s.raw((b"\x48" if bits == 64 else b"") + bytes([0x89, 0xC0 | (reg << 3)]))
            s.store_rax()
    _, dom, r = run_script(s)
    assert r[0] == 0x40000002
    sig = struct.pack("<3I", r[1], r[2], r[3])
    assert sig == abi.SIGNATURE
    assert r[4] == abi.ABI_VERSION and r[5] == Supervisor(console=None).features
    assert r[8] == 1 and r[9] == abi.MSR_HYPERCALL_PAGE and r[10] == abi.MSR_SHARED_INFO and r[11] == dom.domid
    assert r[14] & abi.CPUID_HV_BIT


def test_hidden_supervisor_and_bare_machine():
    """An unmodified domain and a machine with no supervisor see a plain CPU:
    no hypervisor bit, VMCALL is #UD."""
    m = Machine(mode=32, memory=MiB)
    assert not m.cpuid(1)[2] & abi.CPUID_HV_BIT
    m.mem_write(0x1000, b"\x0f\x01\xc1")
    ex = m.run(start=0x1000)
    assert ex.reason == "exception" and ex.vector == 6
    s = Script(32)
    sup, dom = boot(s, paravirt=False)
    assert not dom.machine.cpuid(1)[2] & abi.CPUID_HV_BIT
    # its WRMSR to the hypercall-page MSR is #GP, with no IDT: the domain stops, reported
    assert dom.state == "crashed" and "#GP" in dom.reason


# ---- hypercall page, version, console

@pytest.mark.parametrize("bits", WIDTHS)
def test_hypercall_page_stubs_and_version(bits):
    s = Script(bits)
    name = s.put(DATA, bytes(32))
    s.hypercall(abi.HC_version, abi.VERSION_abi)
    s.hypercall(abi.HC_version, abi.VERSION_features)
    s.hypercall(abi.HC_version, abi.VERSION_domid)
    s.hypercall(abi.HC_version, abi.VERSION_name, name)
    s.hypercall(abi.HC_version, 99)
    s.hypercall(abi.HC_version, abi.VERSION_name, 0x7FFF0000)        # outside memory
    sup, dom, r = run_script(s, name="guest-one")
    assert r == [abi.ABI_VERSION, sup.features, dom.domid, 9, E("INVAL"), E("FAULT")]
    assert dom.machine.mem_read(DATA, 10) == b"guest-one\0"
    page = dom.machine.mem_read(0x200000 + 18 * 32, 32)
    assert page[:9] == b"\xb8\x12\0\0\0\x0f\x01\xc1\xc3"


@pytest.mark.parametrize("bits", WIDTHS)
def test_unknown_hypercalls_are_enosys(bits):
    s = Script(bits)
    for nr in (5, 11, 42, 63, 64, 100, 127):
        s.hypercall(nr)
    _, _, r = run_script(s)
    assert r == [E("NOSYS")] * 7


@pytest.mark.parametrize("bits", WIDTHS)
def test_console_io(bits):
    s = Script(bits)
    msg = s.put(DATA, b"hi there\n")
    buf = s.put(DATA + 0x100, bytes(16))
    s.hypercall(abi.HC_console_io, abi.CONSOLEIO_write, 9, msg)
    s.hypercall(abi.HC_console_io, abi.CONSOLEIO_write, 5000, msg)          # too long
    s.hypercall(abi.HC_console_io, abi.CONSOLEIO_write, 16, 0x3FFFF8)       # runs off memory
    s.hypercall(abi.HC_console_io, abi.CONSOLEIO_read, 16, buf)
    s.hypercall(abi.HC_console_io, 7, 1, msg)
    sup = Supervisor(console=None)
    dom = sup.create(s.image(), memory=4 * MiB)
    dom.console_in += b"typed"
    sup.run()
    assert results(dom, 5) == [9, E("2BIG"), E("FAULT"), 5, E("INVAL")]
    assert bytes(dom.console_out) == b"hi there\n"
    assert dom.machine.mem_read(DATA + 0x100, 6) == b"typed\0"


# ---- memory: balloon

@pytest.mark.parametrize("bits", WIDTHS)
def test_balloon_out_and_in(bits):
    s = Script(bits)
    frames = s.put(DATA, struct.pack("<4Q", 0x300, 0x301, 0x302, 0x5000))   # the last is beyond max
    res = s.put(DATA + 0x100, struct.pack("<QQ", frames, 3))
    res_bad = s.put(DATA + 0x200, struct.pack("<QQ", frames + 24, 1))
    res_big = s.put(DATA + 0x300, struct.pack("<QQ", frames, 5000))
    s.hypercall(abi.HC_memory_op, abi.MEMOP_current_reservation, 0)
    s.hypercall(abi.HC_memory_op, abi.MEMOP_maximum_reservation, 0)
    s.hypercall(abi.HC_memory_op, abi.MEMOP_decrease_reservation, res)
    s.hypercall(abi.HC_memory_op, abi.MEMOP_decrease_reservation, res)       # not owned any more: 0 done
    s.hypercall(abi.HC_memory_op, abi.MEMOP_current_reservation, 0)
    s.hypercall(abi.HC_memory_op, abi.MEMOP_increase_reservation, res)
    s.hypercall(abi.HC_memory_op, abi.MEMOP_populate_physmap, res_bad)       # beyond max: 0
    s.hypercall(abi.HC_memory_op, abi.MEMOP_decrease_reservation, res_big)
    s.hypercall(abi.HC_memory_op, 77, res)
    s.hypercall(abi.HC_memory_op, abi.MEMOP_decrease_reservation, 0x7FFFFFF0)
    s.hypercall(abi.HC_memory_op, abi.MEMOP_increase_reservation, DATA + 0x400)   # the first unowned ...
    sup = Supervisor(console=None)
    s.put(DATA + 0x400, struct.pack("<QQ", DATA + 0x500, 1))
    s.put(DATA + 0x500, struct.pack("<Q", 0x500))            # frame 0x500 = 5 MiB: above memory, below max
    dom = sup.create(s.image(), memory=4 * MiB, max_memory=8 * MiB)
    sup.run()
    r = results(dom, 11)
    assert r == [1024, 2048, 3, 0, 1021, 3, 0, E("2BIG"), E("INVAL"), E("FAULT"), 1]
    assert dom.pages == 1025 and dom.machine.frame_present(0x500) and dom.owns(0x300)


@pytest.mark.parametrize("bits", WIDTHS)
def test_touching_a_ballooned_out_frame_stops_only_that_domain(bits):
    s = Script(bits)
    frames = s.put(DATA, struct.pack("<Q", 0x300))
    res = s.put(DATA + 0x100, struct.pack("<QQ", frames, 1))
    s.hypercall(abi.HC_memory_op, abi.MEMOP_decrease_reservation, res)
    s.mov(0, 0x300123)
    s.raw(b"\x8b\x00" if bits == 32 else b"\x48\x8b\x00")     # mov eax, [eax]
    sup = Supervisor(console=None)
    bad = sup.create(s.image(), name="bad", memory=4 * MiB)
    good = sup.create(Script(bits).image(), name="good", memory=4 * MiB)
    sup.run()
    assert bad.state == "crashed" and "0x300123" in bad.reason and "unmapped" in bad.reason
    assert good.state == "shutdown" and good.exit_status == 0
    assert not bad.machine.frame_present(0x300)


# ---- page tables

def paged_script(bits):
    """A script that first turns paging on with identity-mapped tables it
    pins: returns (script, the page-table frame for 0-2/4 MiB)."""
    s = Script(bits)
    if bits == 32:
        pd, pt = 0x120000, 0x121000
        s.put(pd, struct.pack("<I", pt | 3).ljust(4096, b"\0"))
        s.put(pt, b"".join(struct.pack("<I", (k << 12) | 3) for k in range(1024)))
        s.raw(b"\xb8" + struct.pack("<I", pd) + b"\x0f\x22\xd8")            # mov cr3, eax
        s.raw(b"\x0f\x20\xc0\x0d\x00\x00\x00\x80\x0f\x22\xc0")              # cr0 |= PG
        return s, pt, pd
    # 64-bit flat machine: load CR3 with 4-level tables mapping 0-4 MiB with 4 KiB pages
    pml4, pdpt, pd, pt0, pt1 = 0x120000, 0x121000, 0x122000, 0x123000, 0x124000
    s.put(pml4, struct.pack("<Q", pdpt | 3).ljust(4096, b"\0"))
    s.put(pdpt, struct.pack("<Q", pd | 3).ljust(4096, b"\0"))
    s.put(pd, struct.pack("<QQ", pt0 | 3, pt1 | 3).ljust(4096, b"\0"))
    s.put(pt0, b"".join(struct.pack("<Q", (k << 12) | 3) for k in range(512)))
    s.put(pt1, b"".join(struct.pack("<Q", ((512 + k) << 12) | 3) for k in range(512)))
    s.raw(b"\x48\xb8" + struct.pack("<Q", pml4) + b"\x0f\x22\xd8")          # mov cr3, rax
    return s, pt1, pml4


@pytest.mark.parametrize("bits", WIDTHS)
def test_mmu_update_validates_entries(bits):
    s, pt, root = paged_script(bits)
    size = 4 if bits == 32 else 8
    slot = pt + (0x3F0 if bits == 32 else 0x1F0) * size           # maps linear 0x3F0000
    reqs = s.put(DATA, struct.pack("<QQQQ", slot, 0x3F0000 | 3,             # fine
                                   slot, 0x7000000 | 3) +                   # frame not owned
                 struct.pack("<QQ", 0x7000000, 3) +                         # entry not in memory
                 struct.pack("<QQ", slot | 1, 3))                           # unknown command
    done = DATA + 0x100
    for k in range(4):
        s.hypercall(abi.HC_mmu_update, reqs + 16 * k, 1, done)
    s.hypercall(abi.HC_mmu_update, reqs, 2000, done)                        # too many
    s.hypercall(abi.HC_mmu_update, reqs, 2, done)                           # stops at the bad one
    s.hypercall(abi.HC_update_va_mapping, 0x3F1000, *((0x3F1000 | 3, 0, 1) if bits == 32 else (0x3F1000 | 3, 1)))
    s.hypercall(abi.HC_update_va_mapping, 0x3F2000, *((0x6000000 | 3, 0, 1) if bits == 32 else (0x6000000 | 3, 1)))
    _, dom, r = run_script(s)
    assert r == [0, E("PERM"), E("PERM"), E("INVAL"), E("2BIG"), E("PERM"), 0, E("PERM")]
    assert dom.machine.mem_read(done, 4) == struct.pack("<I", 1)
    assert dom.machine.mem_read(slot, size) == (0x3F0000 | 3).to_bytes(size, "little")


@pytest.mark.parametrize("bits", WIDTHS)
def test_mmuext_pin_and_new_baseptr(bits):
    s, pt, root = paged_script(bits)
    def op(cmd, arg1):
        return (s.put(DATA + 0x200 + 24 * op.n, struct.pack("<IIQQ", cmd, 0, arg1, 0))
                if not op.__setattr__("n", op.n + 1) else None)
    op.n = 0
    level = abi.MMUEXT_PIN_L2_TABLE if bits == 32 else abi.MMUEXT_PIN_L4_TABLE
    ops = [op(abi.MMUEXT_NEW_BASEPTR, root),            # not pinned yet
           op(level, root >> 12),
           op(abi.MMUEXT_NEW_BASEPTR, root),
           op(abi.MMUEXT_TLB_FLUSH_LOCAL, 0),
           op(abi.MMUEXT_INVLPG_LOCAL, 0x1000),
           op(level, 0x7000),                           # not the domain's
           op(abi.MMUEXT_UNPIN_TABLE, 0x55),            # not pinned
           op(99, 0)]
    for o in ops:
        s.hypercall(abi.HC_mmuext_op, o, 1, 0)
    sup, dom, r = run_script(s)
    assert r == [E("INVAL"), 0, 0, 0, 0, E("PERM"), E("INVAL"), E("INVAL")]
    assert root >> 12 in dom.pinned


# ---- events and the upcall

def upcall_script(bits):
    """Paging off; a GDT, an IDT with the upcall gate, the shared info page;
    the upcall handler counts into RESULTS+0x800 and clears upcall_pending."""
    s = Script(bits)
    gdt = 0x130000
    s.put(gdt, struct.pack("<4Q", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF, 0x00AF9A000000FFFF))
    desc = s.put(gdt + 0x100, struct.pack("<HQ", 31, gdt) if bits == 64 else struct.pack("<HI", 31, gdt))
    idt = 0x131000
    idtr = s.put(gdt + 0x200, struct.pack("<HQ", 4095, idt) if bits == 64 else struct.pack("<HI", 2047, idt))
    s.put(idt, bytes(4096))
    # lgdt [desc] (traps, emulated), then reload CS through a far return
    s.raw((b"\x0f\x01\x14\x25" if bits == 64 else b"\x0f\x01\x15") + struct.pack("<I", desc))
    cs = 0x18 if bits == 64 else 0x08
    from pvscript import CODE
    if bits == 64:
        here = CODE + len(s.code)
        s.raw(b"\x6a" + bytes([cs]) + b"\x68" + struct.pack("<I", here + 2 + 5 + 2) + b"\x48\xcb")
    else:
        here = CODE + len(s.code)
        s.raw(b"\xea" + struct.pack("<IH", here + 7, cs))
    s.raw(b"\xb8\x10\x00\x00\x00\x8e\xd0\x8e\xd8")                       # mov ss/ds, 0x10
    s.hypercall(abi.HC_cpu_op, abi.CPUOP_load_idt, idtr, 0)
    s.wrmsr(abi.MSR_SHARED_INFO, SHARED_INFO)
    return s, cs


def handler_code(bits):
    count = RESULTS + 0x800
    inc = (b"\xff\x04\x25" if bits == 64 else b"\xff\x05") + struct.pack("<I", count)
    clear = (b"\xc6\x04\x25" if bits == 64 else b"\xc6\x05") + struct.pack("<I", SHARED_INFO) + b"\x00"
    unmask = (b"\xc6\x04\x25" if bits == 64 else b"\xc6\x05") + struct.pack("<I", SHARED_INFO + 1) + b"\x00"
    ack = (b"\xc7\x04\x25" if bits == 64 else b"\xc7\x05") + struct.pack("<II", SHARED_INFO + 64, 0)
    return inc + ack + clear + unmask + (b"\x48\xcf" if bits == 64 else b"\xcf")


@pytest.mark.parametrize("bits", WIDTHS)
def test_virq_timer_upcall_and_block(bits):
    s, cs = upcall_script(bits)
    handler = s.put(0x140000, handler_code(bits))
    port_arg = s.put(DATA, struct.pack("<III", abi.VIRQ_TIMER, 0, 0))
    s.hypercall(abi.HC_set_callbacks, 0x40, handler, cs)
    s.hypercall(abi.HC_set_callbacks, 5, handler, cs)                  # an exception vector
    s.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_bind_virq, port_arg)
    s.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_bind_virq, port_arg)   # twice
    s.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_bind_virq, s.put(DATA + 0x40, struct.pack("<III", 99, 0, 0)))
    for _ in range(3):                      # a timer 1 ms ahead, then block until it fires
        s.hypercall(abi.HC_vcpu_op, abi.VCPUOP_get_runstate_info, 0, DATA + 0x100)
        s.mov(0, 0)
        s.raw((b"\x48\x8b\x04\x25" if bits == 64 else b"\xa1") + struct.pack("<I", DATA + 0x120))  # rax = system_time
        s.raw(b"\x48\x05" + struct.pack("<I", 1_000_000) if bits == 64 else b"\x05" + struct.pack("<I", 1_000_000))
        if bits == 64:
            s.raw(b"\x48\x89\xc7")                                            # rdi = rax
            s.call(0x200000 + abi.HC_set_timer_op * 32)
        else:
            s.raw(b"\x89\xc3\x31\xc9")                                        # ebx = eax, ecx = 0
            s.call(0x200000 + abi.HC_set_timer_op * 32)
        s.store_rax()
        s.hypercall(abi.HC_sched_op, abi.SCHEDOP_block, 0)
    s.hypercall(abi.HC_sched_op, 42, 0)
    sup, dom, r = run_script(s)
    assert r[:6] == [0, 0, E("INVAL"), 0, E("EXIST"), E("INVAL")]     # load_idt, callbacks, bind_virq...
    assert dom.machine.mem_read(DATA + 8, 4) == struct.pack("<I", 1)    # ... to port 1
    assert r[6:] == [0, 0, 0, 0, 0, 0, 0, 0, 0, E("INVAL")]
    assert dom.machine.mem_read(RESULTS + 0x800, 4) == struct.pack("<I", 3)
    assert dom.machine.pv_counters["upcalls"] == 3
    assert dom.vtime >= 3 * 100_000          # 1 ms each at 100 M instructions/s


@pytest.mark.parametrize("bits", WIDTHS)
def test_event_channels_between_domains(bits):
    """Domain 1 offers a port to domain 2, which binds it and sends; the
    event reaches domain 1's shared info page; misuse gets errors."""
    a = Script(bits)
    a.wrmsr(abi.MSR_SHARED_INFO, SHARED_INFO)
    a.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_alloc_unbound,
                a.put(DATA, struct.pack("<HHI", abi.DOMID_SELF, 2, 0)))
    a.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_alloc_unbound, a.put(DATA + 0x10, struct.pack("<HHI", 2, 2, 0)))
    a.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_alloc_unbound,
                a.put(DATA + 0x20, struct.pack("<HHI", abi.DOMID_SELF, 9, 0)))
    a.hypercall(abi.HC_sched_op, abi.SCHEDOP_yield, 0)
    a.hypercall(abi.HC_sched_op, abi.SCHEDOP_yield, 0)
    b = Script(bits)
    b.wrmsr(abi.MSR_SHARED_INFO, SHARED_INFO)
    b.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_bind_interdomain, b.put(DATA, struct.pack("<HHII", 1, 0, 1, 0)))
    b.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_bind_interdomain,
                b.put(DATA + 0x10, struct.pack("<HHII", 1, 0, 1, 0)))
    b.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_send, b.put(DATA + 0x20, struct.pack("<I", 1)))
    b.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_send, b.put(DATA + 0x30, struct.pack("<I", 7)))
    b.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_close, b.put(DATA + 0x40, struct.pack("<I", 1)))
    b.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_send, DATA + 0x20)
    sup = Supervisor(console=None, quantum=50)
    da = sup.create(a.image(), name="a", memory=4 * MiB)
    db = sup.create(b.image(), name="b", memory=4 * MiB)
    sup.run()
    assert results(da, 3) == [0, E("PERM"), E("SRCH")]
    assert da.machine.mem_read(DATA + 4, 4) == struct.pack("<I", 1)
    assert results(db, 6) == [0, E("INVAL"), 0, E("INVAL"), 0, E("INVAL")]
    assert da.port_pending(1) and da.machine.mem_read(SHARED_INFO, 1) == b"\1"


# ---- batching, grants, the store, cpu_op

@pytest.mark.parametrize("bits", WIDTHS)
def test_multicall(bits):
    s = Script(bits)
    entries = b"".join(struct.pack("<7Qq", *e, 0) for e in [
        (abi.HC_version, abi.VERSION_abi, 0, 0, 0, 0, 0),
        (abi.HC_version, abi.VERSION_domid, 0, 0, 0, 0, 0),
        (abi.HC_multicall, 0, 0, 0, 0, 0, 0),
        (99, 0, 0, 0, 0, 0, 0)])
    calls = s.put(DATA, entries)
    s.hypercall(abi.HC_multicall, calls, 4)
    s.hypercall(abi.HC_multicall, calls, 65)
    s.hypercall(abi.HC_multicall, 0x7FFFF000, 1)
    _, dom, r = run_script(s)
    assert r == [0, E("2BIG"), E("FAULT")]
    got = [struct.unpack("<q", dom.machine.mem_read(DATA + 64 * k + 56, 8))[0] for k in range(4)]
    assert got == [abi.ABI_VERSION, dom.domid, E("INVAL"), E("NOSYS")]


@pytest.mark.parametrize("bits", WIDTHS)
def test_grant_a_page_to_another_domain(bits):
    a = Script(bits)
    a.hypercall(abi.HC_grant_table_op, abi.GNTTABOP_grant, a.put(DATA, struct.pack("<HHIQ", 2, 0, 0, 0x150)))
    a.hypercall(abi.HC_grant_table_op, abi.GNTTABOP_grant, a.put(DATA + 0x10, struct.pack("<HHIQ", 2, 0, 0, 0x9999)))
    a.hypercall(abi.HC_store_op, abi.STOREOP_write, a.put(DATA + 0x20, struct.pack("<HHIQ", 0, 0, 7, 0x1234)))
    a.raw((b"\xc7\x04\x25" if bits == 64 else b"\xc7\x05") + struct.pack("<II", 0x150000, 0xCAFE))
    a.hypercall(abi.HC_sched_op, abi.SCHEDOP_yield, 0)
    b = Script(bits)
    b.hypercall(abi.HC_grant_table_op, abi.GNTTABOP_map, b.put(DATA, struct.pack("<HHIQ", 1, 0, 0, 0x160)))
    b.hypercall(abi.HC_grant_table_op, abi.GNTTABOP_map, b.put(DATA + 0x10, struct.pack("<HHIQ", 1, 0, 5, 0x161)))
    b.hypercall(abi.HC_store_op, abi.STOREOP_read, b.put(DATA + 0x20, struct.pack("<HHIQ", 1, 0, 7, 0)))
    b.hypercall(abi.HC_store_op, abi.STOREOP_read, b.put(DATA + 0x30, struct.pack("<HHIQ", 1, 0, 8, 0)))
    sup = Supervisor(console=None, quantum=10_000)
    da = sup.create(a.image(), name="a", memory=4 * MiB)
    db = sup.create(b.image(), name="b", memory=4 * MiB)
    sup.run()
    assert results(da, 3) == [0, E("PERM"), 0]
    assert results(db, 4) == [0, E("INVAL"), 0, E("NOENT")]
    assert db.machine.mem_read(0x160000, 4) == struct.pack("<I", 0xCAFE)     # the same page
    assert db.machine.mem_read(DATA + 0x28, 8) == struct.pack("<Q", 0x1234)


@pytest.mark.parametrize("bits", WIDTHS)
def test_cpu_op(bits):
    s = Script(bits)
    regs = s.put(DATA, struct.pack("<4I", 0x40000000, 0, 0, 0))
    val = s.put(DATA + 0x20, struct.pack("<Q", 0x0007040600070406))
    s.hypercall(abi.HC_cpu_op, abi.CPUOP_read_cr0, 0, 0)
    s.hypercall(abi.HC_cpu_op, abi.CPUOP_cpuid, 0, regs)
    s.hypercall(abi.HC_cpu_op, abi.CPUOP_write_msr, 0x277, val)              # PAT
    s.hypercall(abi.HC_cpu_op, abi.CPUOP_read_msr, 0x277, DATA + 0x30)
    s.hypercall(abi.HC_cpu_op, abi.CPUOP_read_msr, 0x12345, DATA + 0x30)     # no such MSR
    s.hypercall(abi.HC_cpu_op, abi.CPUOP_write_cr4, 0, 0) if bits == 64 else s.hypercall(abi.HC_cpu_op, 99, 0, 0)
    s.hypercall(abi.HC_cpu_op, abi.CPUOP_load_tr, 0x28, 0)                   # beyond the (empty) GDT
    _, dom, r = run_script(s)
    assert r[0] == dom.machine.read_cr(0) & (0xFFFFFFFF if bits == 32 else 2**64 - 1)
    assert r[1:] == [0, 0, 0, E("INVAL"), E("INVAL"), E("INVAL")]
    assert dom.machine.mem_read(DATA + 4, 12) == abi.SIGNATURE
    assert dom.machine.mem_read(DATA + 0x30, 8) == struct.pack("<Q", 0x0007040600070406)


# ---- the pv_ops table and traps

def test_pvops_table_groups_numbers_and_traps():
    t = PvOpsTable()
    groups = {op.group for op in t}
    assert groups == {"cpu", "irq", "mmu", "time"}
    for name in ("irq.disable", "irq.enable", "irq.save_fl", "irq.restore_fl", "irq.safe_halt", "irq.halt",
                 "mmu.write_cr3", "mmu.read_cr2", "mmu.set_pte", "mmu.flush_tlb_one", "cpu.write_msr",
                 "cpu.load_gdt", "cpu.io_out", "time.clock_read", "time.set_oneshot"):
        assert name in t.ops
    assert t["mmu.write_cr3"].trap == "write_cr:3" and t["mmu.write_cr3"].hypercall.startswith("26 ")
    mask = t.trap_mask()
    t.set_in_core("irq.disable")
    assert t.trap_mask() == mask & ~1
    with pytest.raises(KeyError, match="no pv_op"):
        t["cpu.nope"]


def test_trapped_instructions_run_the_table_handlers():
    """An unmodified kernel's MOV CR3 / WRMSR reach the same handlers, which
    a user can wrap; marking an op in-core removes its exits."""
    path = os.path.join(os.path.dirname(__file__), "..", "emu", "images", "tests", "paging32.elf")
    image = open(path, "rb").read()
    seen = []
    sup = Supervisor(console=None)
    sup.pvops.wrap("mmu.write_cr3", lambda inner: lambda s, d, v: (seen.append(v), inner(s, d, v))[1])
    dom = sup.create(image, name="paging", memory=32 * MiB, paravirt=False)
    sup.run()
    assert dom.state == "shutdown" and dom.exit_status == 0 and seen
    traps = dom.stats["traps"]
    sup2 = Supervisor(console=None)
    sup2.pvops.set_in_core("cpu.io_out")
    sup2.pvops.set_in_core("cpu.io_in")
    dom2 = sup2.create(image, name="paging", memory=32 * MiB, paravirt=False)
    sup2.run()
    assert bytes(dom2.console_out) == bytes(dom.console_out)
    assert dom2.stats["traps"] < traps / 10


def test_guest_pointers_fuzzed_never_hurt_the_supervisor():
    """Random numbers, sub-operations and pointers into every hypercall:
    always an int back, never an exception, and the domain still runs."""
    import random
    rnd = random.Random(1234)
    sup = Supervisor(console=None)
    dom = sup.create(Script(64).image(), memory=4 * MiB)
    interesting = [0, 1, 2, 3, 4, 5, 6, 7, 9, 0xFFF, 0x1000, 0x3FFFF8, 0x400000, 2**31, 2**32 - 1,
                   2**63, 2**64 - 1, DATA, RESULTS, 0x7FF0]
    for _ in range(3000):
        nr = rnd.choice(list(abi.names("HC_")) + [rnd.randrange(128)])
        if nr in (abi.HC_sched_op,):
            continue                  # blocking and shutdown end the domain: covered elsewhere
        args = [rnd.choice(interesting) if rnd.random() < 0.7 else rnd.randrange(2**64) for _ in range(5)]
        r = sup.call_hypercall(dom, nr, *args)
        assert isinstance(r, int)
    sup.run()
    assert dom.state in ("shutdown", "crashed")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read RSS")
def test_balloon_gives_host_memory_back():
    """A guest dirties 32 MiB, balloons those frames out (the process RSS
    drops), takes them back (zero-filled, still not resident) and dirties
    them again (RSS rises)."""
    first, count = 0x800, 8192                    # frames 8 MiB .. 40 MiB
    s = Script(64)
    fill = (b"\x48\xbf" + struct.pack("<Q", first << 12) + b"\x48\xc7\xc1" + struct.pack("<I", count * 512)
            + b"\x48\x31\xc0\x48\xff\xc8\xf3\x48\xab")        # rdi, rcx; rax = -1; rep stosq
    s.raw(fill)
    lists = []
    for k in range(count // 1024):
        frames = s.put(DATA + 0x10000 + k * 0x2000,
                       struct.pack("<1024Q", *range(first + k * 1024, first + (k + 1) * 1024)))
        lists.append(s.put(DATA + 0x100 + 16 * k, struct.pack("<QQ", frames, 1024)))
    for cmd in (abi.MEMOP_decrease_reservation, abi.MEMOP_increase_reservation):
        for res in lists:
            s.hypercall(abi.HC_memory_op, cmd, res)
    s.hypercall(abi.HC_memory_op, abi.MEMOP_current_reservation, 0)
    s.raw(fill)
    s.hypercall(abi.HC_memory_op, abi.MEMOP_current_reservation, 0)
    sup = Supervisor(console=None)
    rss = []
    inner = sup.hypercalls[abi.HC_memory_op]

    def measured(sup_, dom_, cmd, *args):
        rss.append((cmd, _rss()))
        return inner(sup_, dom_, cmd, *args)
    sup.hypercalls[abi.HC_memory_op] = measured
    dom = sup.create(s.image(), memory=48 * MiB)
    sup.run()
    assert dom.state == "shutdown", dom.reason
    r = results(dom, s.results - 1)
    assert r[:8] == [1024] * 8 and r[8:16] == [1024] * 8 and r[16] == r[17] == 48 * MiB // 4096
    before = rss[0][1]                    # 32 MiB dirty
    after_out = rss[8][1]                 # all 8 decreases done
    after_in = rss[16][1]                 # all 8 increases done, the frames not touched yet
    end = rss[17][1]                      # dirtied again
    assert before - after_out > 24 * MiB, (before, after_out)
    assert after_in - after_out < 4 * MiB, (after_out, after_in)
    assert end - after_in > 24 * MiB, (after_in, end)


@pytest.mark.parametrize("bits", WIDTHS)
def test_event_channel_within_a_domain(bits):
    s = Script(bits)
    s.wrmsr(abi.MSR_SHARED_INFO, SHARED_INFO)
    s.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_alloc_unbound,
                s.put(DATA, struct.pack("<HHI", abi.DOMID_SELF, 1, 0)))
    s.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_bind_interdomain,
                s.put(DATA + 0x10, struct.pack("<HHII", 1, 0, 1, 0)))
    s.hypercall(abi.HC_event_channel_op, abi.EVTCHNOP_send, s.put(DATA + 0x20, struct.pack("<I", 2)))
    _, dom, r = run_script(s)
    assert r == [0, 0, 0]
    assert dom.machine.mem_read(DATA + 0x18, 4) == struct.pack("<I", 2)
    assert dom.port_pending(1) and not dom.port_pending(2)
