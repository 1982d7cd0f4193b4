/* hostile: every bad hypercall argument it can think of, and escapes the
 * supervisor must refuse.  Prints each result code with the one expected
 * ("ok" when it matches); the exit status is the number of calls that were
 * not refused.  The last check touches a frame it has ballooned out, which
 * must kill the domain: if it lives on, it exits 0x70.  Natively there is
 * nothing to attack: it says so and exits 0. */
#include "guest.h"

const char guest_name[] = "hostile";

static int accepted;
static u8 scratch[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

/* want: the errno expected, or 0 where the call must do nothing (memory_op
 * returns the count of extents done). */
static void check(const char *what, long r, int want)
{
    int ok = r == -want;
    accepted += want ? r >= 0 : r > 0;
    printk("%-36s %4ld (want %4d) %s\n", what, r, -want, ok ? "ok" : r >= 0 ? "ACCEPTED" : "differs");
}

#define UNMAPPED    ((uptr)0x10)                    /* page 0 is never mapped */
#define OUTSIDE     ((uptr)0xF0000000u)             /* beyond RAM, not mapped */

int guest_main(void)
{
    if (!shared_info) {
        printk("hostile: needs the pvemu supervisor (nothing to attack natively)\n");
        return 0;
    }
    u64 ram_frames = mem_end >> 12;
    check("hypercall 50 (unassigned)", hypercall(50, 0, 0, 0, 0, 0), PVEMU_ENOSYS);
    check("hypercall 64 (past HC_MAX)", hypercall(64, 0, 0, 0, 0, 0), PVEMU_ENOSYS);
    check("hypercall 127 (last stub)", hypercall(127, 0, 0, 0, 0, 0), PVEMU_ENOSYS);
    check("version: bad cmd", HC(version, 99, 0, 0), PVEMU_EINVAL);
    check("version name: unmapped buffer", HC(version, PVEMU_VERSION_name, UNMAPPED, 0), PVEMU_EFAULT);
    check("console_io: unmapped buffer", HC(console_io, PVEMU_CONSOLEIO_write, 16, UNMAPPED), PVEMU_EFAULT);
    check("console_io: buffer outside memory", HC(console_io, PVEMU_CONSOLEIO_write, 16, OUTSIDE), PVEMU_EFAULT);
    check("console_io: 4097 bytes", HC(console_io, PVEMU_CONSOLEIO_write, PVEMU_CONSOLE_MAX + 1, scratch), PVEMU_E2BIG);
    check("console_io: bad cmd", HC(console_io, 7, 1, scratch), PVEMU_EINVAL);
    check("sched_op: bad cmd", HC(sched_op, 99, 0, 0), PVEMU_EINVAL);
    check("sched_op shutdown: unmapped arg", HC(sched_op, PVEMU_SCHEDOP_shutdown, UNMAPPED, 0), PVEMU_EFAULT);

    u64 *frames = (u64 *)scratch;
    frames[0] = ram_frames + 100;
    check("decrease: frame beyond memory", memory_op(PVEMU_MEMOP_decrease_reservation, frames, 1), 0);
    check("decrease: 1025 extents", memory_op(PVEMU_MEMOP_decrease_reservation, frames, 1025), PVEMU_E2BIG);
    check("decrease: unmapped list", memory_op(PVEMU_MEMOP_decrease_reservation, (u64 *)UNMAPPED, 1), PVEMU_EFAULT);
    frames[0] = 1;
    check("increase: frame already owned", memory_op(PVEMU_MEMOP_increase_reservation, frames, 1), 0);
    check("memory_op: bad cmd", HC(memory_op, 99, scratch, 0), PVEMU_EINVAL);

    struct pvemu_mmu_update *u = (struct pvemu_mmu_update *)scratch;
    pte_t *pte = pte_lookup(&kernel_as, (uptr)scratch, 0);
    u32 done;
    u[0].ptr = (uptr)pte;
    u[0].val = (pte_t)((ram_frames + 16) << 12) | PTE_P | PTE_W;
    check("mmu_update: frame not owned", HC(mmu_update, u, 1, &done), PVEMU_EPERM);
    u[0].ptr = OUTSIDE;
    u[0].val = 0;
    check("mmu_update: entry outside memory", HC(mmu_update, u, 1, &done), PVEMU_EPERM);
    u[0].ptr = (uptr)pte + 1;
    check("mmu_update: misaligned entry", HC(mmu_update, u, 1, &done), PVEMU_EINVAL);
    u[0].ptr = (uptr)pte | 3;
    check("mmu_update: bad command bits", HC(mmu_update, u, 1, &done), PVEMU_EINVAL);
    check("mmu_update: 1025 requests", HC(mmu_update, u, PVEMU_MMU_MAX_REQS + 1, &done), PVEMU_E2BIG);
    check("mmu_update: unmapped list", HC(mmu_update, UNMAPPED, 1, &done), PVEMU_EFAULT);

    struct pvemu_mmuext_op *op = (struct pvemu_mmuext_op *)scratch;
    *op = (struct pvemu_mmuext_op){ 99, 0, 0, 0 };
    check("mmuext: bad cmd", HC(mmuext_op, op, 1, &done), PVEMU_EINVAL);
    *op = (struct pvemu_mmuext_op){ PVEMU_MMUEXT_NEW_BASEPTR, 0, ram_frames << 12, 0 };
    check("mmuext: new_baseptr beyond memory", HC(mmuext_op, op, 1, &done), PVEMU_EPERM);
    *op = (struct pvemu_mmuext_op){ PVEMU_MMUEXT_NEW_BASEPTR, 0, (uptr)scratch, 0 };
    check("mmuext: new_baseptr not pinned", HC(mmuext_op, op, 1, &done), PVEMU_EINVAL);
    check("update_va_mapping: frame not owned",
          hypercall(PVEMU_HC_update_va_mapping, (uptr)scratch, (uptr)(((ram_frames + 16) << 12) | 3), 0, 0, 0),
          PVEMU_EPERM);

    struct pvemu_multicall_entry *mc = (struct pvemu_multicall_entry *)scratch;
    mc[0] = (struct pvemu_multicall_entry){ PVEMU_HC_multicall, { (uptr)scratch, 1 }, 0 };
    long r = HC(multicall, mc, 1, 0);
    check("multicall: nested", r < 0 ? r : mc[0].result, PVEMU_EINVAL);
    check("multicall: 65 entries", HC(multicall, mc, PVEMU_MULTICALL_MAX + 1, 0), PVEMU_E2BIG);

    struct pvemu_evtchn_port p = { 0 };
    check("evtchn send: port 0", HC(event_channel_op, PVEMU_EVTCHNOP_send, &p, 0), PVEMU_EINVAL);
    p.port = PVEMU_NR_EVENT_CHANNELS;
    check("evtchn send: port 512", HC(event_channel_op, PVEMU_EVTCHNOP_send, &p, 0), PVEMU_EINVAL);
    struct pvemu_evtchn_bind_virq bv = { PVEMU_NR_VIRQS, 0, 0 };
    check("evtchn bind_virq: virq 16", HC(event_channel_op, PVEMU_EVTCHNOP_bind_virq, &bv, 0), PVEMU_EINVAL);
    struct pvemu_evtchn_bind_interdomain bi = { 999, 0, 1, 0 };
    check("evtchn bind_interdomain: no domain", HC(event_channel_op, PVEMU_EVTCHNOP_bind_interdomain, &bi, 0), PVEMU_ESRCH);
    check("evtchn: bad cmd", HC(event_channel_op, 99, &p, 0), PVEMU_EINVAL);

    struct pvemu_gnttab_grant g = { 999, 0, 0, (uptr)scratch >> 12 };
    check("grant: to no such domain", HC(grant_table_op, PVEMU_GNTTABOP_grant, &g, 0), PVEMU_ESRCH);
    g = (struct pvemu_gnttab_grant){ (u16)pv_domid, 0, 0, ram_frames + 16 };
    check("grant: frame not owned", HC(grant_table_op, PVEMU_GNTTABOP_grant, &g, 0), PVEMU_EPERM);
    struct pvemu_gnttab_map m = { (u16)pv_domid, 0, 4000, (uptr)scratch >> 12 };
    check("grant map: bad ref", HC(grant_table_op, PVEMU_GNTTABOP_map, &m, 0), PVEMU_EINVAL);

    struct pvemu_trap_info t = { 0x90, 3, UCODE, 0, (uptr)0x1000 };
    check("set_trap_table: ring-3 code selector", HC(set_trap_table, &t, 1, 0), PVEMU_EPERM);
    check("set_callbacks: vector 5", HC(set_callbacks, 5, arch_stub(5), KCODE), PVEMU_EINVAL);
    check("stack_switch: ring-3 stack", HC(stack_switch, UDATA, 0x1000, 0), PVEMU_EPERM);
    /* A DPL-3 call gate to the kernel's code segment, offset 0. */
#ifdef __x86_64__
    r = hypercall(PVEMU_HC_update_descriptor, (uptr)scratch, (uptr)KCODE << 16 | 0xEC00ull << 32, 0, 0, 0);
#else
    r = hypercall(PVEMU_HC_update_descriptor, (uptr)scratch, (uptr)KCODE << 16, 0xEC00, 0, 0);
#endif
    check("update_descriptor: call gate", r, PVEMU_EPERM);
    check("set_gdt: 1000 entries", HC(set_gdt, scratch, 1000, 0), PVEMU_EINVAL);
    struct pvemu_physdev_pio pio = { 0xF4, 4, 0, 0 };
    check("physdev pio_out: isa-debug-exit", HC(physdev_op, PVEMU_PHYSDEVOP_pio_out, &pio, 0), PVEMU_EPERM);
    check("cpu_op: bad cmd", HC(cpu_op, 99, 0, 0), PVEMU_EINVAL);
    check("cpu_op write_msr: hypercall page MSR", HC(cpu_op, PVEMU_CPUOP_write_msr, PVEMU_MSR_HYPERCALL_PAGE, UNMAPPED), PVEMU_EFAULT);
    check("vcpu_op: vcpu 5", HC(vcpu_op, PVEMU_VCPUOP_get_runstate_info, 5, scratch), PVEMU_ENOENT);

    printk("%d calls accepted that should not have been\n", accepted);
    /* Balloon a frame out but leave it mapped, then touch it. */
    uptr victim = frame_alloc();
    frames[0] = victim >> 12;
    check("decrease: one frame, left mapped", memory_op(PVEMU_MEMOP_decrease_reservation, frames, 1), -1);   /* want: 1 extent done */
    printk("touching the ballooned-out frame %p: the domain must die\n", (void *)victim);
    *(volatile u32 *)victim = 0xDEAD;
    printk("FAIL: still alive after touching a frame it does not own\n");
    return 0x70;
}
