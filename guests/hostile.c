/* hostile: every bad hypercall argument it can think of, and escapes the
 * supervisor must refuse.  One line per check:
 *   check <what>: <result> (want <expected>) ok|ACCEPTED|differs
 * where results are -Exxx, a number, or the exception a trapped or ring-3
 * instruction took (#GP).  Then `hostile: N checks refused as expected`
 * (and `hostile: M checks not as expected` if any were not).  The last
 * check touches a frame it has ballooned out but left mapped, which must
 * kill the domain: if it lives on, it exits 0x70.  f4=0 on the command line
 * skips the isa-debug-exit check.  Natively there is nothing to attack: it
 * says so and exits 0. */
#include "guest.h"

const char guest_name[] = "hostile";

static int passed, failed;
static u8 scratch[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static u8 scratch2[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

#define FAULT       1000                /* a result of FAULT + v: exception v */
#define NO_FAULT    (-FAULT)

static const char *name_of(long r, char *buf)
{
    static const struct { int e; const char *n; } names[] = {
        { PVEMU_EPERM, "EPERM" }, { PVEMU_ENOENT, "ENOENT" }, { PVEMU_ESRCH, "ESRCH" },
        { PVEMU_E2BIG, "E2BIG" }, { PVEMU_EAGAIN, "EAGAIN" }, { PVEMU_ENOMEM, "ENOMEM" },
        { PVEMU_EFAULT, "EFAULT" }, { PVEMU_EBUSY, "EBUSY" }, { PVEMU_EEXIST, "EEXIST" },
        { PVEMU_EINVAL, "EINVAL" }, { PVEMU_ENOSPC, "ENOSPC" }, { PVEMU_ENOSYS, "ENOSYS" },
    };
    if (r == NO_FAULT)
        return "no fault";
    if (r == FAULT + 13)
        return "#GP";
    if (r == FAULT + 6)
        return "#UD";
    if (r >= FAULT && r < FAULT + 32) {
        ksnprintf(buf, 16, "#%ld", r - FAULT);
        return buf;
    }
    for (u32 i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (r == -names[i].e) {
            ksnprintf(buf, 24, "-%s", names[i].n);
            return buf;
        }
    ksnprintf(buf, 24, "%ld", r);
    return buf;
}

/* want: -errno, a count, or FAULT + vector. */
static void check(const char *what, long r, long want)
{
    char a[24], b[24];
    int ok = r == want;
    passed += ok;
    failed += !ok;
    printk("check %s: %s (want %s) %s\n", what, name_of(r, a), name_of(want, b),
           ok ? "ok" : r >= 0 && r < FAULT ? "ACCEPTED" : "differs");
}

#define UNMAPPED    ((uptr)0x10)                    /* page 0 is never mapped */
#define OUTSIDE     ((uptr)0xF0000000u)             /* beyond RAM, not mapped */

/* Instructions that must fault: the exception handler resumes at the label
 * after the instruction and records the vector. */
volatile uptr fault_resume;
volatile long fault_vector;

static void on_fault(trapframe *f)
{
    if (!fault_resume)
        panic("exception %u, error 0x%x, at %p", (u32)f->vector, (u32)f->err, (void *)FRAME_IP(f));
    fault_vector = FAULT + (long)f->vector;
    FRAME_IP(f) = fault_resume;
    fault_resume = 0;
}

#ifdef __x86_64__
#define ARM "lea 1f(%%rip), %%r11\n\tmov %%r11, fault_resume(%%rip)\n\t"
#define ARM_CLOBBER "r11"
#else
#define ARM "movl $1f, fault_resume\n\t"
#define ARM_CLOBBER "cc"
#endif
#define PROBE(insn, ...) ({                                                     \
    fault_vector = NO_FAULT;                                                    \
    __asm__ volatile(ARM insn "\n1:" : : __VA_ARGS__ : "memory", ARM_CLOBBER);  \
    fault_resume = 0;                                                           \
    fault_vector;                                                               \
})

static long probe_wrmsr(u32 msr, u64 v) { return PROBE("wrmsr", "c"(msr), "a"((u32)v), "d"((u32)(v >> 32))); }
static long probe_rdmsr(u32 msr)
{
    u32 lo, hi;
    fault_vector = NO_FAULT;
    __asm__ volatile(ARM "rdmsr\n1:" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory", ARM_CLOBBER);
    (void)lo, (void)hi;
    fault_resume = 0;
    return fault_vector;
}
static long probe_write_cr3(uptr v) { return PROBE("mov %0, %%cr3", "r"(v)); }
static long probe_ltr(u16 sel) { return PROBE("ltr %0", "r"(sel)); }

/* Ring 3: results for the kernel to check (the image is user-accessible). */
static volatile long user_results[5];

static void user_probe(long unused)
{
    (void)unused;
    user_results[0] = hypercall(PVEMU_HC_version, PVEMU_VERSION_abi, 0, 0, 0, 0);
    user_results[1] = PROBE("outb %%al, $0xF4", "a"(0));
    user_results[2] = PROBE("cli", "i"(0));
    user_results[3] = PROBE("wrmsr", "c"(PVEMU_MSR_SHARED_INFO), "a"(0), "d"(0));
    user_results[4] = PROBE("hlt", "i"(0));
    syscall1(SYS_exit, 0);
}

static const u8 assigned[] = {
    PVEMU_HC_set_trap_table, PVEMU_HC_mmu_update, PVEMU_HC_set_gdt, PVEMU_HC_stack_switch,
    PVEMU_HC_set_callbacks, PVEMU_HC_update_descriptor, PVEMU_HC_memory_op, PVEMU_HC_multicall,
    PVEMU_HC_update_va_mapping, PVEMU_HC_set_timer_op, PVEMU_HC_version, PVEMU_HC_console_io,
    PVEMU_HC_grant_table_op, PVEMU_HC_vcpu_op, PVEMU_HC_mmuext_op, PVEMU_HC_sched_op,
    PVEMU_HC_event_channel_op, PVEMU_HC_physdev_op, PVEMU_HC_cpu_op, PVEMU_HC_store_op,
};

static long store(u32 cmd, u16 domid, u32 key, u64 *value, uptr arg)
{
    struct pvemu_store s = { domid, 0, key, value ? *value : 0 };
    long r = HC(store_op, cmd, arg ? arg : (uptr)&s, 0);
    if (value)
        *value = s.value;
    return r;
}

/* A DPL-3 32-bit call gate to the kernel's code segment. */
static u64 call_gate(uptr offset)
{
    return (u64)(offset & 0xFFFF) | (u64)KCODE << 16 | 0xEC00ull << 32 | (u64)(offset >> 16 & 0xFFFF) << 48;
}

static long update_descriptor(uptr gpa, u64 desc)
{
#ifdef __x86_64__
    return hypercall(PVEMU_HC_update_descriptor, gpa, desc, 0, 0, 0);
#else
    return hypercall(PVEMU_HC_update_descriptor, gpa, (u32)desc, (u32)(desc >> 32), 0, 0);
#endif
}

int guest_main(void)
{
    if (!shared_info) {
        printk("hostile: needs the pvemu supervisor (nothing to attack natively)\n");
        return 0;
    }
    for (int v = 0; v < 32; v++)
        trap_install(v, on_fault, 0);
    syscalls_init();
    u64 ram_frames = mem_end >> 12;
    uptr not_owned = (uptr)((ram_frames + 16) << 12);
    long r;

    /* Hypercall numbers. */
    int unassigned = 0, enosys = 0;
    for (int nr = 0; nr < (int)(PAGE_SIZE / PVEMU_HYPERCALL_STUB_SIZE); nr++) {
        int known = 0;
        for (u32 i = 0; i < sizeof(assigned); i++)
            known |= assigned[i] == nr;
        if (known)
            continue;
        unassigned++;
        r = hypercall(nr, 0, 0, 0, 0, 0);
        if (r == -PVEMU_ENOSYS)
            enosys++;
        else
            printk("hypercall %d (not in the ABI): %ld\n", nr, r);
    }
    check("hypercalls not in the ABI (0..127), each", enosys == unassigned ? -PVEMU_ENOSYS : enosys,
          -PVEMU_ENOSYS);
    printk("(%d unassigned numbers tried, 42..127 among them)\n", unassigned);
    check("hypercall 127 (last stub)", hypercall(127, 0, 0, 0, 0, 0), -PVEMU_ENOSYS);
    check("version: bad cmd", HC(version, 99, 0, 0), -PVEMU_EINVAL);
    check("version name: unmapped buffer", HC(version, PVEMU_VERSION_name, UNMAPPED, 0), -PVEMU_EFAULT);

    /* Console and scheduling. */
    check("console_io: unmapped buffer", HC(console_io, PVEMU_CONSOLEIO_write, 16, UNMAPPED), -PVEMU_EFAULT);
    check("console_io: buffer outside memory", HC(console_io, PVEMU_CONSOLEIO_write, 16, OUTSIDE), -PVEMU_EFAULT);
    check("console_io: 4097 bytes", HC(console_io, PVEMU_CONSOLEIO_write, PVEMU_CONSOLE_MAX + 1, scratch),
          -PVEMU_E2BIG);
    check("console_io: bad cmd", HC(console_io, 7, 1, scratch), -PVEMU_EINVAL);
    check("sched_op: bad cmd", HC(sched_op, 99, 0, 0), -PVEMU_EINVAL);
    check("sched_op shutdown: unmapped arg", HC(sched_op, PVEMU_SCHEDOP_shutdown, UNMAPPED, 0), -PVEMU_EFAULT);
    struct pvemu_sched_shutdown sd = { 99, 0 };
    check("sched_op shutdown: bad reason", HC(sched_op, PVEMU_SCHEDOP_shutdown, &sd, 0), -PVEMU_EINVAL);
    struct pvemu_sched_poll poll = { (uptr)scratch, 129, 0, 0 };
    check("sched_op poll: 129 ports", HC(sched_op, PVEMU_SCHEDOP_poll, &poll, 0), -PVEMU_E2BIG);

    /* Memory reservation. */
    u64 *frames = (u64 *)scratch;
    frames[0] = ram_frames + 100;
    check("decrease: frame beyond memory (extents done)", memory_op(PVEMU_MEMOP_decrease_reservation, frames, 1), 0);
    check("decrease: 1025 extents", memory_op(PVEMU_MEMOP_decrease_reservation, frames, 1025), -PVEMU_E2BIG);
    check("decrease: unmapped list", memory_op(PVEMU_MEMOP_decrease_reservation, (u64 *)UNMAPPED, 1),
          -PVEMU_EFAULT);
    frames[0] = (uptr)shared_info >> 12;
    check("decrease: the shared info frame (extents done)", memory_op(PVEMU_MEMOP_decrease_reservation, frames, 1), 0);
    frames[0] = kernel_as.root >> 12;
    check("decrease: a pinned page table (extents done)", memory_op(PVEMU_MEMOP_decrease_reservation, frames, 1), 0);
    frames[0] = 1;
    check("increase: frame already owned (extents done)", memory_op(PVEMU_MEMOP_increase_reservation, frames, 1), 0);
    check("memory_op: bad cmd", HC(memory_op, 99, scratch, 0), -PVEMU_EINVAL);

    /* Page tables. */
    struct pvemu_mmu_update *u = (struct pvemu_mmu_update *)scratch;
    pte_t *pte = pte_lookup(&kernel_as, (uptr)scratch2, 0);
    u32 done;
    u[0].ptr = (uptr)pte;
    u[0].val = (pte_t)not_owned | PTE_P | PTE_W;
    check("mmu_update: maps a frame not owned", HC(mmu_update, u, 1, &done), -PVEMU_EPERM);
    u[0].ptr = OUTSIDE;
    u[0].val = 0;
    check("mmu_update: entry outside memory", HC(mmu_update, u, 1, &done), -PVEMU_EPERM);
    u[0].ptr = (uptr)pte + 1;
    check("mmu_update: misaligned entry", HC(mmu_update, u, 1, &done), -PVEMU_EINVAL);
    u[0].ptr = (uptr)pte | 3;
    check("mmu_update: bad command bits", HC(mmu_update, u, 1, &done), -PVEMU_EINVAL);
    check("mmu_update: 1025 requests", HC(mmu_update, u, PVEMU_MMU_MAX_REQS + 1, &done), -PVEMU_E2BIG);
    check("mmu_update: unmapped list", HC(mmu_update, UNMAPPED, 1, &done), -PVEMU_EFAULT);
    check("update_va_mapping: maps a frame not owned",
          hypercall(PVEMU_HC_update_va_mapping, (uptr)scratch2, (uptr)not_owned | 3, 0, 0, 0), -PVEMU_EPERM);

    struct pvemu_mmuext_op *op = (struct pvemu_mmuext_op *)scratch;
    const u32 pin_root = PT_LEVELS == 4 ? PVEMU_MMUEXT_PIN_L4_TABLE : PVEMU_MMUEXT_PIN_L2_TABLE;
    *op = (struct pvemu_mmuext_op){ 99, 0, 0, 0 };
    check("mmuext: bad cmd", HC(mmuext_op, op, 1, &done), -PVEMU_EINVAL);
    check("mmuext: 1025 operations", HC(mmuext_op, op, PVEMU_MMU_MAX_REQS + 1, &done), -PVEMU_E2BIG);
    *op = (struct pvemu_mmuext_op){ pin_root, 0, ram_frames + 16, 0 };
    check("mmuext: pin a frame beyond memory", HC(mmuext_op, op, 1, &done), -PVEMU_EPERM);
    memset(scratch2, 0, PAGE_SIZE);
    ((pte_t *)scratch2)[0] = (pte_t)not_owned | PTE_P | PTE_W;
    *op = (struct pvemu_mmuext_op){ pin_root, 0, (uptr)scratch2 >> 12, 0 };
    check("mmuext: pin a table mapping a frame not owned", HC(mmuext_op, op, 1, &done), -PVEMU_EPERM);
    ((pte_t *)scratch2)[0] = 0;
    *op = (struct pvemu_mmuext_op){ PVEMU_MMUEXT_NEW_BASEPTR, 0, (uptr)scratch2, 0 };
    check("mmuext: new_baseptr to a table not pinned", HC(mmuext_op, op, 1, &done), -PVEMU_EINVAL);
    *op = (struct pvemu_mmuext_op){ PVEMU_MMUEXT_NEW_BASEPTR, 0, not_owned, 0 };
    check("mmuext: new_baseptr beyond memory", HC(mmuext_op, op, 1, &done), -PVEMU_EINVAL);
    *op = (struct pvemu_mmuext_op){ PVEMU_MMUEXT_UNPIN_TABLE, 0, (uptr)scratch2 >> 12, 0 };
    check("mmuext: unpin a table not pinned", HC(mmuext_op, op, 1, &done), -PVEMU_EINVAL);

    /* Batches. */
    struct pvemu_multicall_entry *mc = (struct pvemu_multicall_entry *)scratch;
    mc[0] = (struct pvemu_multicall_entry){ PVEMU_HC_multicall, { (uptr)scratch, 1 }, 0 };
    r = HC(multicall, mc, 1, 0);
    check("multicall: nested", r < 0 ? r : mc[0].result, -PVEMU_EINVAL);
    mc[0] = (struct pvemu_multicall_entry){ 99, { 0 }, 0 };
    r = HC(multicall, mc, 1, 0);
    check("multicall: entry with hypercall 99", r < 0 ? r : mc[0].result, -PVEMU_ENOSYS);
    check("multicall: 65 entries", HC(multicall, mc, PVEMU_MULTICALL_MAX + 1, 0), -PVEMU_E2BIG);
    check("multicall: unmapped list", HC(multicall, UNMAPPED, 1, 0), -PVEMU_EFAULT);

    /* Event channels. */
    struct pvemu_evtchn_port p = { 0 };
    check("evtchn send: port 0", HC(event_channel_op, PVEMU_EVTCHNOP_send, &p, 0), -PVEMU_EINVAL);
    p.port = PVEMU_NR_EVENT_CHANNELS;
    check("evtchn send: port 512", HC(event_channel_op, PVEMU_EVTCHNOP_send, &p, 0), -PVEMU_EINVAL);
    p.port = 300;
    check("evtchn send: a port not bound", HC(event_channel_op, PVEMU_EVTCHNOP_send, &p, 0), -PVEMU_EINVAL);
    check("evtchn unmask: a port not bound", HC(event_channel_op, PVEMU_EVTCHNOP_unmask, &p, 0), -PVEMU_EINVAL);
    check("evtchn close: a port not bound", HC(event_channel_op, PVEMU_EVTCHNOP_close, &p, 0), -PVEMU_EINVAL);
    struct pvemu_evtchn_bind_virq bv = { PVEMU_NR_VIRQS, 0, 0 };
    check("evtchn bind_virq: virq 16", HC(event_channel_op, PVEMU_EVTCHNOP_bind_virq, &bv, 0), -PVEMU_EINVAL);
    bv = (struct pvemu_evtchn_bind_virq){ PVEMU_VIRQ_TIMER, 0, 0 };
    check("evtchn bind_virq: timer bound twice", HC(event_channel_op, PVEMU_EVTCHNOP_bind_virq, &bv, 0),
          -PVEMU_EEXIST);
    bv = (struct pvemu_evtchn_bind_virq){ PVEMU_VIRQ_CONSOLE, 1, 0 };
    check("evtchn bind_virq: vcpu 1", HC(event_channel_op, PVEMU_EVTCHNOP_bind_virq, &bv, 0), -PVEMU_ENOENT);
    struct pvemu_evtchn_alloc_unbound au = { (u16)(pv_domid + 1), (u16)pv_domid, 0 };
    check("evtchn alloc_unbound: for another domain", HC(event_channel_op, PVEMU_EVTCHNOP_alloc_unbound, &au, 0),
          -PVEMU_EPERM);
    au = (struct pvemu_evtchn_alloc_unbound){ PVEMU_DOMID_SELF, 999, 0 };
    check("evtchn alloc_unbound: remote no domain", HC(event_channel_op, PVEMU_EVTCHNOP_alloc_unbound, &au, 0),
          -PVEMU_ESRCH);
    struct pvemu_evtchn_bind_interdomain bi = { 999, 0, 1, 0 };
    check("evtchn bind_interdomain: no domain", HC(event_channel_op, PVEMU_EVTCHNOP_bind_interdomain, &bi, 0),
          -PVEMU_ESRCH);
    bi = (struct pvemu_evtchn_bind_interdomain){ (u16)pv_domid, 0, 1, 0 };
    check("evtchn bind_interdomain: port not offered", HC(event_channel_op, PVEMU_EVTCHNOP_bind_interdomain, &bi, 0),
          -PVEMU_EINVAL);
    p.port = 1;                         /* VIRQ_TIMER's, bound at boot */
    check("evtchn send: a virq port", HC(event_channel_op, PVEMU_EVTCHNOP_send, &p, 0), -PVEMU_EINVAL);
    check("evtchn: bad cmd", HC(event_channel_op, 99, &p, 0), -PVEMU_EINVAL);
    check("evtchn: unmapped arg", HC(event_channel_op, PVEMU_EVTCHNOP_send, UNMAPPED, 0), -PVEMU_EFAULT);

    /* Grants. */
    struct pvemu_gnttab_grant g = { 999, 0, 0, (uptr)scratch >> 12 };
    check("grant: to no such domain", HC(grant_table_op, PVEMU_GNTTABOP_grant, &g, 0), -PVEMU_ESRCH);
    g = (struct pvemu_gnttab_grant){ (u16)pv_domid, 0, 0, ram_frames + 16 };
    check("grant: frame not owned", HC(grant_table_op, PVEMU_GNTTABOP_grant, &g, 0), -PVEMU_EPERM);
    struct pvemu_gnttab_map m = { (u16)pv_domid, 0, 4000, (uptr)scratch >> 12 };
    check("grant map: bad ref", HC(grant_table_op, PVEMU_GNTTABOP_map, &m, 0), -PVEMU_EINVAL);
    g = (struct pvemu_gnttab_grant){ (u16)pv_domid, 0, 0, (uptr)scratch2 >> 12 };
    if (HC(grant_table_op, PVEMU_GNTTABOP_grant, &g, 0) < 0)
        printk("could not grant a page to itself\n");
    m = (struct pvemu_gnttab_map){ (u16)pv_domid, 0, g.ref, kernel_as.root >> 12 };
    check("grant map: over a pinned page table", HC(grant_table_op, PVEMU_GNTTABOP_map, &m, 0), -PVEMU_EPERM);
    m = (struct pvemu_gnttab_map){ (u16)pv_domid, 0, g.ref, ram_frames + 16 };
    check("grant map: at a frame not owned", HC(grant_table_op, PVEMU_GNTTABOP_map, &m, 0), -PVEMU_EPERM);
    m = (struct pvemu_gnttab_map){ 0, 0, 0, (uptr)scratch >> 12 };
    check("grant unmap: nothing mapped there", HC(grant_table_op, PVEMU_GNTTABOP_unmap, &m, 0), -PVEMU_EINVAL);
    check("grant: bad cmd", HC(grant_table_op, 99, &m, 0), -PVEMU_EINVAL);

    /* store_op. */
    u64 value = 0;
    check("store_op: bad cmd", store(99, PVEMU_DOMID_SELF, 1, &value, 0), -PVEMU_EINVAL);
    check("store_op read: absent key", store(PVEMU_STOREOP_read, PVEMU_DOMID_SELF, 0x1234, &value, 0),
          -PVEMU_ENOENT);
    check("store_op read: no such domain", store(PVEMU_STOREOP_read, 999, 1, &value, 0), -PVEMU_ESRCH);
    check("store_op: unmapped arg", store(PVEMU_STOREOP_read, PVEMU_DOMID_SELF, 1, 0, UNMAPPED), -PVEMU_EFAULT);
    int stored = 0;
    for (u32 k = 0; k < PVEMU_STORE_MAX_KEYS; k++) {
        value = k;
        stored += store(PVEMU_STOREOP_write, 0, 0x100 + k, &value, 0) == 0;
    }
    if (stored != PVEMU_STORE_MAX_KEYS)
        printk("store_op: only %d of %d keys written\n", stored, PVEMU_STORE_MAX_KEYS);
    value = 64;
    check("store_op write: key 65", store(PVEMU_STOREOP_write, 0, 0x100 + PVEMU_STORE_MAX_KEYS, &value, 0),
          -PVEMU_ENOSPC);

    /* Descriptor tables, gates, stacks. */
    struct { u16 limit; uptr base; } __attribute__((packed)) gdtr;
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    check("update_descriptor: DPL-3 call gate to ring 0", update_descriptor(gdtr.base, call_gate(0x1000)),
          -PVEMU_EINVAL);
    check("update_descriptor: misaligned", update_descriptor(gdtr.base + 8 + 4, 0), -PVEMU_EFAULT);
    check("update_descriptor: beyond memory", update_descriptor(not_owned, 0), -PVEMU_EFAULT);
    u32 n = (gdtr.limit + 1u) / 8;
    memcpy(scratch2, (const void *)gdtr.base, n * 8);
    ((u64 *)scratch2)[n] = call_gate(0x1000);
    ((u64 *)scratch2)[n + 1] = 0;
    uptr gdt_frames[1] = { (uptr)scratch2 };
    check("set_gdt: a table with a call gate", HC(set_gdt, gdt_frames, n + 2, 0), -PVEMU_EINVAL);
    check("set_gdt: 1000 entries", HC(set_gdt, gdt_frames, 1000, 0), -PVEMU_EINVAL);
    check("set_gdt: unmapped frame list", HC(set_gdt, UNMAPPED, 8, 0), -PVEMU_EFAULT);
    gdt_frames[0] = OUTSIDE;
    check("set_gdt: table outside memory", HC(set_gdt, gdt_frames, 8, 0), -PVEMU_EFAULT);

    struct pvemu_trap_info *t = (struct pvemu_trap_info *)scratch;
    t[0] = (struct pvemu_trap_info){ 0x90, 0, 0, 0, (uptr)arch_stub(0x80) };
    check("set_trap_table: null code selector", HC(set_trap_table, t, 1, 0), -PVEMU_EINVAL);
    check("set_trap_table: 257 entries", HC(set_trap_table, t, 257, 0), -PVEMU_E2BIG);
    check("set_trap_table: unmapped table", HC(set_trap_table, UNMAPPED, 1, 0), -PVEMU_EFAULT);
    check("set_callbacks: vector 5", HC(set_callbacks, 5, arch_stub(5), KCODE), -PVEMU_EINVAL);
    check("set_callbacks: vector 256", HC(set_callbacks, 256, arch_stub(5), KCODE), -PVEMU_EINVAL);
    check("set_callbacks: null code selector", HC(set_callbacks, VEC_UPCALL, arch_stub(VEC_UPCALL), 0),
          -PVEMU_EINVAL);

    /* CPU state. */
    check("cpu_op: bad cmd", HC(cpu_op, 99, 0, 0), -PVEMU_EINVAL);
    check("cpu_op write_msr: value pointer unmapped", HC(cpu_op, PVEMU_CPUOP_write_msr, PVEMU_MSR_HYPERCALL_PAGE, UNMAPPED),
          -PVEMU_EFAULT);
    check("vcpu_op: vcpu 5", HC(vcpu_op, PVEMU_VCPUOP_get_runstate_info, 5, scratch), -PVEMU_ENOENT);
    check("vcpu_op: unmapped arg", HC(vcpu_op, PVEMU_VCPUOP_get_runstate_info, 0, UNMAPPED), -PVEMU_EFAULT);
    struct pvemu_physdev_pio pio = { 0x80, 3, 0, 0 };
    check("physdev pio_out: size 3", HC(physdev_op, PVEMU_PHYSDEVOP_pio_out, &pio, 0), -PVEMU_EINVAL);
    check("physdev: bad cmd", HC(physdev_op, 99, &pio, 0), -PVEMU_EINVAL);

    /* Trapped privileged instructions the supervisor must refuse (#GP). */
    check("trap wrmsr: shared info beyond memory", probe_wrmsr(PVEMU_MSR_SHARED_INFO, not_owned), FAULT + 13);
    check("trap wrmsr: hypercall page misaligned", probe_wrmsr(PVEMU_MSR_HYPERCALL_PAGE, (uptr)scratch + 8),
          FAULT + 13);
    check("trap rdmsr: unknown supervisor MSR", probe_rdmsr(0x40000005u), FAULT + 13);
    check("trap mov cr3: root beyond memory", probe_write_cr3(not_owned), FAULT + 13);
    check("trap ltr: selector beyond the GDT", probe_ltr(0x1000), FAULT + 13);

    /* Ring 3. */
    task_create(user_probe, 0, 1);
    while (tasks_live())
        schedule();
    check("ring 3: hypercall", user_results[0], -PVEMU_EPERM);
    check("ring 3: out to port 0xF4", user_results[1], FAULT + 13);
    check("ring 3: cli", user_results[2], FAULT + 13);
    check("ring 3: wrmsr", user_results[3], FAULT + 13);
    check("ring 3: hlt", user_results[4], FAULT + 13);

    /* isa-debug-exit from the kernel: a paravirtualized domain shuts down
     * through sched_op, the port is not its to use. */
    if (cmdline_uint("f4", 1)) {
        struct pvemu_physdev_pio f4 = { 0xF4, 4, 0, 0x33 };
        check("physdev pio_out: isa-debug-exit (port 0xF4)", HC(physdev_op, PVEMU_PHYSDEVOP_pio_out, &f4, 0),
              -PVEMU_EPERM);
    }

    printk("hostile: %d checks refused as expected\n", passed);
    if (failed)
        printk("hostile: %d checks not as expected\n", failed);
    /* Balloon a frame out but leave it mapped, then touch it. */
    uptr victim = frame_alloc();
    frames[0] = victim >> 12;
    r = memory_op(PVEMU_MEMOP_decrease_reservation, frames, 1);
    printk("ballooned out frame %p (left mapped): %ld extent\n", (void *)victim, r);
    printk("touching the ballooned-out frame %p: the domain must die\n", (void *)victim);
    *(volatile u32 *)victim = 0xDEAD;
    printk("FAIL: still alive after touching a frame it does not own\n");
    return 0x70;
}
