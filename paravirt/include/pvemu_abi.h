/*
 * pvemu_abi.h: the hypercall ABI between a paravirtualized guest and the
 * pvemu supervisor.  Freestanding C (no libc), for i386 and x86-64 guests.
 * paravirt/abi.py reads its numbers and structure layouts from here for the
 * supervisor; tests/test_abi.py checks them against gcc -m32 and -m64.
 *
 * Numbers and structure shapes follow Xen's public headers where Xen has
 * the operation, so a reader who knows Xen PV knows this; pvemu's own
 * additions are marked "pvemu".
 *
 * 1. Discovery
 *    CPUID.1:ECX bit 31 is set only under the supervisor.  CPUID leaf
 *    0x40000000 then returns EAX = the highest supervisor leaf and
 *    EBX:ECX:EDX = "pvemupvemupv".  Leaf 0x40000001: EAX = ABI version
 *    (major << 16 | minor), EBX = PVEMU_F_* feature bits.  Leaf 0x40000002:
 *    EAX = number of hypercall pages (1), EBX = the hypercall-page MSR,
 *    ECX = the shared-info MSR, EDX = this domain's id.
 *
 * 2. The hypercall page
 *    WRMSR(PVEMU_MSR_HYPERCALL_PAGE, guest-physical address of a page-aligned
 *    page) makes the supervisor fill that page with 32-byte stubs:
 *    hypercall N is a call to page + N * 32.  Each stub loads EAX/RAX with N,
 *    executes VMCALL (0F 01 C1) and returns.  Outside the supervisor VMCALL
 *    is #UD, as on hardware.
 *    Arguments: i386   EBX, ECX, EDX, ESI, EDI
 *               x86-64 RDI, RSI, RDX, R10, R8
 *    Result in EAX/RAX: >= 0 on success, -PVEMU_Exxx on failure (from user
 *    mode always -PVEMU_EPERM, as KVM refuses hypercalls above CPL 0).  Pointer
 *    arguments are guest virtual addresses, read through the guest's current
 *    page tables; one that is not mapped (or not writable when the
 *    supervisor writes back) gives -PVEMU_EFAULT.
 *
 * 3. The shared info page
 *    WRMSR(PVEMU_MSR_SHARED_INFO, guest-physical address of a page-aligned
 *    page) makes the supervisor lay struct pvemu_shared_info over it (it is
 *    zeroed first, with the upcall masked).  From then on interrupts are
 *    virtual: vcpu.upcall_mask is the interrupt flag (1 = disabled), so
 *    disabling and enabling them is a byte store, with no exit.  The
 *    supervisor sets bits in evtchn_pending, pending_sel and upcall_pending;
 *    whenever upcall_pending = 1 and upcall_mask = 0 at an instruction-block
 *    boundary, the CPU delivers the upcall: an interrupt through the guest's
 *    IDT at the vector given to set_callbacks (a normal interrupt frame;
 *    IRET returns), with upcall_mask set to 1 on entry.  The handler clears
 *    upcall_pending, takes and clears pending bits (atomically, e.g. xchg),
 *    handles each port, then clears upcall_mask and returns with IRET.
 */
#ifndef PVEMU_ABI_H
#define PVEMU_ABI_H

#include <stdint.h>

/* Every structure is laid out alike for i386 and x86-64 guests (64-bit
 * fields padded explicitly: i386 would align them to 4).  The compiler of
 * every guest checks each one's size and field offsets here; paravirt/abi.py
 * derives its Python layouts from the definitions, refusing any that would
 * differ between the two, and tests/test_abi.py compares those with what
 * gcc -m32 and -m64 compute. */
#define PVEMU_SIZE(s, n) _Static_assert(sizeof(struct pvemu_##s) == (n), "sizeof(struct pvemu_" #s ")")
#define PVEMU_AT(s, f, off) \
    _Static_assert(__builtin_offsetof(struct pvemu_##s, f) == (off), "offset of pvemu_" #s "." #f)

#define PVEMU_CPUID_BASE            0x40000000u
#define PVEMU_CPUID_FEATURES        0x40000001u
#define PVEMU_CPUID_INFO            0x40000002u
#define PVEMU_CPUID_HV_BIT          (1u << 31)      /* CPUID.1:ECX */
#define PVEMU_SIGNATURE             "pvemupvemupv"
#define PVEMU_SIG_EBX               0x6d657670u     /* "pvem" */
#define PVEMU_SIG_ECX               0x65767075u     /* "upve" */
#define PVEMU_SIG_EDX               0x7670756du     /* "mupv" */
#define PVEMU_ABI_VERSION           0x00010000u     /* 1.0 */

/* Feature bits (leaf 0x40000001 EBX). */
#define PVEMU_F_HYPERCALL_PAGE      (1u << 0)
#define PVEMU_F_SHARED_INFO         (1u << 1)
#define PVEMU_F_EVTCHN              (1u << 2)
#define PVEMU_F_BALLOON             (1u << 3)
#define PVEMU_F_VTIMER              (1u << 4)
#define PVEMU_F_MULTICALL           (1u << 5)
#define PVEMU_F_GRANT               (1u << 6)

#define PVEMU_MSR_HYPERCALL_PAGE    0x40000000u
#define PVEMU_MSR_SHARED_INFO       0x40000001u

#define PVEMU_HYPERCALL_STUB_SIZE   32

/* Hypercall numbers (Xen's where Xen has the call). */
#define PVEMU_HC_set_trap_table      0
#define PVEMU_HC_mmu_update          1
#define PVEMU_HC_set_gdt             2
#define PVEMU_HC_stack_switch        3
#define PVEMU_HC_set_callbacks       4
#define PVEMU_HC_update_descriptor  10
#define PVEMU_HC_memory_op          12
#define PVEMU_HC_multicall          13
#define PVEMU_HC_update_va_mapping  14
#define PVEMU_HC_set_timer_op       15
#define PVEMU_HC_version            17      /* Xen: xen_version */
#define PVEMU_HC_console_io         18
#define PVEMU_HC_grant_table_op     20
#define PVEMU_HC_vcpu_op            24
#define PVEMU_HC_mmuext_op          26
#define PVEMU_HC_sched_op           29
#define PVEMU_HC_event_channel_op   32
#define PVEMU_HC_physdev_op         33
#define PVEMU_HC_cpu_op             40      /* pvemu: privileged CPU state */
#define PVEMU_HC_store_op           41      /* pvemu: a tiny key-value store for rendezvous (Xen: xenstore) */
#define PVEMU_HC_MAX                64      /* the page holds 128 stubs; 64+ are -ENOSYS */

/* Errors (returned negated, Linux errno values as Xen uses). */
#define PVEMU_EPERM      1
#define PVEMU_ENOENT     2
#define PVEMU_ESRCH      3
#define PVEMU_ENOMEM    12
#define PVEMU_EFAULT    14
#define PVEMU_EBUSY     16
#define PVEMU_EEXIST    17
#define PVEMU_EINVAL    22
#define PVEMU_ENOSPC    28
#define PVEMU_E2BIG      7
#define PVEMU_ENOSYS    38
#define PVEMU_EAGAIN    11

#define PVEMU_DOMID_SELF    0x7FF0u

/* version(cmd, arg) */
#define PVEMU_VERSION_abi       0   /* returns PVEMU_ABI_VERSION */
#define PVEMU_VERSION_features  1   /* returns the PVEMU_F_* bits */
#define PVEMU_VERSION_domid     2   /* returns this domain's id */
#define PVEMU_VERSION_name      3   /* arg: char[32] buffer; writes the domain's name, returns its length */

/* console_io(cmd, count, buf) */
#define PVEMU_CONSOLEIO_write   0   /* returns count written */
#define PVEMU_CONSOLEIO_read    1   /* returns bytes read (0 if none waiting) */
#define PVEMU_CONSOLE_MAX    4096   /* larger counts: -E2BIG */

/* sched_op(cmd, arg) */
#define PVEMU_SCHEDOP_yield     0
#define PVEMU_SCHEDOP_block     1   /* sleep until an event is pending (upcall_mask is cleared) */
#define PVEMU_SCHEDOP_shutdown  2   /* arg: struct pvemu_sched_shutdown*  */
#define PVEMU_SCHEDOP_poll      3   /* arg: struct pvemu_sched_poll* */
#define PVEMU_SHUTDOWN_poweroff 0
#define PVEMU_SHUTDOWN_reboot   1
#define PVEMU_SHUTDOWN_suspend  2
#define PVEMU_SHUTDOWN_crash    3

struct pvemu_sched_shutdown {
    uint32_t reason;        /* PVEMU_SHUTDOWN_* */
    uint32_t status;        /* pvemu: the domain's exit status */
};
PVEMU_SIZE(sched_shutdown, 8); PVEMU_AT(sched_shutdown, reason, 0);
PVEMU_AT(sched_shutdown, status, 4);
struct pvemu_sched_poll {
    uint64_t ports;         /* guest pointer to uint32_t ports[nr] */
    uint32_t nr;            /* at most 128 */
    uint32_t pad;
    uint64_t timeout;       /* absolute system time in ns, 0 = none */
};
PVEMU_SIZE(sched_poll, 24); PVEMU_AT(sched_poll, ports, 0); PVEMU_AT(sched_poll, nr, 8);
PVEMU_AT(sched_poll, pad, 12); PVEMU_AT(sched_poll, timeout, 16);

/* set_timer_op(deadline): one-shot timer at an absolute system time in ns
 * (i386: EBX = low 32 bits, ECX = high); 0 cancels.  When it passes, the
 * VIRQ_TIMER event fires.  A deadline in the past fires at once. */

/* Virtual IRQs, bound to ports with EVTCHNOP_bind_virq. */
#define PVEMU_VIRQ_TIMER        0
#define PVEMU_VIRQ_CONSOLE      2   /* console input waiting */
#define PVEMU_VIRQ_BALLOON      9   /* pvemu: shared_info.balloon_target changed */
#define PVEMU_NR_VIRQS         16

/* event_channel_op(cmd, arg*) */
#define PVEMU_EVTCHNOP_bind_interdomain 0
#define PVEMU_EVTCHNOP_bind_virq        1
#define PVEMU_EVTCHNOP_close            3
#define PVEMU_EVTCHNOP_send             4
#define PVEMU_EVTCHNOP_alloc_unbound    6
#define PVEMU_EVTCHNOP_unmask           9
#define PVEMU_NR_EVENT_CHANNELS       512   /* ports 1..511; 0 is never valid */

struct pvemu_evtchn_alloc_unbound { uint16_t dom, remote_dom; uint32_t port; /* out */ };
PVEMU_SIZE(evtchn_alloc_unbound, 8); PVEMU_AT(evtchn_alloc_unbound, dom, 0);
PVEMU_AT(evtchn_alloc_unbound, remote_dom, 2); PVEMU_AT(evtchn_alloc_unbound, port, 4);
struct pvemu_evtchn_bind_interdomain { uint16_t remote_dom, pad; uint32_t remote_port; uint32_t local_port; /* out */ };
PVEMU_SIZE(evtchn_bind_interdomain, 12); PVEMU_AT(evtchn_bind_interdomain, remote_dom, 0);
PVEMU_AT(evtchn_bind_interdomain, pad, 2); PVEMU_AT(evtchn_bind_interdomain, remote_port, 4);
PVEMU_AT(evtchn_bind_interdomain, local_port, 8);
struct pvemu_evtchn_bind_virq { uint32_t virq, vcpu; uint32_t port; /* out */ };
PVEMU_SIZE(evtchn_bind_virq, 12); PVEMU_AT(evtchn_bind_virq, virq, 0);
PVEMU_AT(evtchn_bind_virq, vcpu, 4); PVEMU_AT(evtchn_bind_virq, port, 8);
struct pvemu_evtchn_port { uint32_t port; };   /* close, send, unmask */
PVEMU_SIZE(evtchn_port, 4); PVEMU_AT(evtchn_port, port, 0);

/* memory_op(cmd, arg*).  Frames are guest page frame numbers. */
#define PVEMU_MEMOP_increase_reservation 0   /* returns extents done */
#define PVEMU_MEMOP_decrease_reservation 1   /* returns extents done */
#define PVEMU_MEMOP_current_reservation  3   /* arg ignored: pages owned */
#define PVEMU_MEMOP_maximum_reservation  4   /* arg ignored: pages allowed */
#define PVEMU_MEMOP_populate_physmap     6   /* same as increase here */
#define PVEMU_MEMOP_MAX_EXTENTS       1024   /* per call; more: -E2BIG */

struct pvemu_reservation {
    uint64_t extent_start;  /* guest pointer to uint64_t frames[nr_extents] */
    uint64_t nr_extents;
};
PVEMU_SIZE(reservation, 16); PVEMU_AT(reservation, extent_start, 0);
PVEMU_AT(reservation, nr_extents, 8);

/* mmu_update(reqs*, count, done*): validated page-table writes.  req.ptr is
 * the guest-physical address of the entry (8-byte aligned under PAE and
 * long mode, 4-byte otherwise); its low 2 bits are the command (0 = normal
 * update).  The entry's frame must belong to the domain; a present entry's
 * target frame must too.  Stops at the first bad request (its error is
 * returned; *done says how many succeeded). At most 1024 per call.  The
 * list is read before any request is applied: one that is not mapped is
 * -EFAULT with nothing done. */
struct pvemu_mmu_update { uint64_t ptr, val; };
PVEMU_SIZE(mmu_update, 16); PVEMU_AT(mmu_update, ptr, 0); PVEMU_AT(mmu_update, val, 8);
#define PVEMU_MMU_NORMAL_PT_UPDATE 0
#define PVEMU_MMU_MAX_REQS      1024

/* update_va_mapping(va, val, flags): set the page-table entry that maps va
 * in the current address space (i386: EBX = va, ECX:EDX = val low:high,
 * ESI = flags; x86-64: RDI, RSI, RDX). */
#define PVEMU_UVMF_NONE         0
#define PVEMU_UVMF_INVLPG       1
#define PVEMU_UVMF_TLB_FLUSH    2

/* mmuext_op(ops*, count, done*) */
#define PVEMU_MMUEXT_PIN_L1_TABLE    0   /* arg1 = the table's frame number (as Xen's mfn) */
#define PVEMU_MMUEXT_PIN_L2_TABLE    1
#define PVEMU_MMUEXT_PIN_L3_TABLE    2
#define PVEMU_MMUEXT_PIN_L4_TABLE    3
#define PVEMU_MMUEXT_UNPIN_TABLE     4   /* arg1 = the table's frame number */
#define PVEMU_MMUEXT_NEW_BASEPTR     5   /* arg1 = the new CR3; its root table must be pinned */
#define PVEMU_MMUEXT_TLB_FLUSH_LOCAL 6
#define PVEMU_MMUEXT_INVLPG_LOCAL    7   /* arg1 = the linear address */
struct pvemu_mmuext_op { uint32_t cmd, pad; uint64_t arg1, arg2; };
PVEMU_SIZE(mmuext_op, 24); PVEMU_AT(mmuext_op, cmd, 0); PVEMU_AT(mmuext_op, pad, 4);
PVEMU_AT(mmuext_op, arg1, 8); PVEMU_AT(mmuext_op, arg2, 16);
/* A pinned frame is a page table: it cannot be ballooned out, and stores
 * to it must go through mmu_update (a plain store still works, as the CPU
 * cannot stop it; the supervisor checks pinned tables when they are pinned). */

/* multicall(calls*, count): each entry's result is written back.  Nested
 * multicalls are -EINVAL; at most 64 entries. */
struct pvemu_multicall_entry { uint64_t op; uint64_t args[6]; int64_t result; };
PVEMU_SIZE(multicall_entry, 64); PVEMU_AT(multicall_entry, op, 0);
PVEMU_AT(multicall_entry, args, 8); PVEMU_AT(multicall_entry, result, 56);
#define PVEMU_MULTICALL_MAX 64

/* set_trap_table(table*, count): write IDT gates for the listed vectors into
 * the IDT the guest loaded with cpu_op(load_idt) (or LIDT, trapped); the IDT
 * must be mapped and owned by the domain.  An entry with address 0 ends the
 * table early.  flags: bits 0-1 = the gate's DPL; bit 2 = trap gate (IF
 * kept), else an interrupt gate.  64-bit gates when the CPU is in long mode.
 * Returns the number of gates written. */
struct pvemu_trap_info { uint8_t vector, flags; uint16_t cs; uint32_t pad; uint64_t address; };
PVEMU_SIZE(trap_info, 16); PVEMU_AT(trap_info, vector, 0); PVEMU_AT(trap_info, flags, 1);
PVEMU_AT(trap_info, cs, 2); PVEMU_AT(trap_info, pad, 4); PVEMU_AT(trap_info, address, 8);

/* set_callbacks(vector, entry, cs): the event upcall arrives as an interrupt
 * at `vector` (32-255): the supervisor writes that interrupt gate (to
 * cs:entry) into the loaded IDT, as set_trap_table would. */

/* stack_switch(ss, sp): the kernel stack used when an interrupt or system
 * call arrives from user mode (TSS.SS0:ESP0 / RSP0). */

/* set_gdt(frames*, entries): the GDT is the `entries` 8-byte descriptors at
 * the guest-virtual address frames[0] (pvemu: one contiguous table, at most
 * 512 entries); every descriptor is checked (no call gates to higher
 * privilege, no DPL 0 code reachable from user mode except through this). */
/* update_descriptor(gpa, desc): write one 8-byte descriptor (GDT/LDT) at a
 * guest-physical address, checked as set_gdt checks.  i386: EBX = gpa,
 * ECX = low 32 bits, EDX = high 32 bits; x86-64: RDI = gpa, RSI = desc. */

/* vcpu_op(cmd, vcpu, arg*) */
#define PVEMU_VCPUOP_is_up               3
#define PVEMU_VCPUOP_get_runstate_info   4   /* arg: struct pvemu_runstate_info* */
struct pvemu_runstate_info {
    uint64_t instructions;  /* retired by this domain */
    uint64_t exits;         /* exits to the supervisor (hypercalls, traps) */
    uint64_t hypercalls;
    uint64_t traps;         /* privileged instructions trapped */
    uint64_t system_time;   /* ns of virtual time */
};
PVEMU_SIZE(runstate_info, 40); PVEMU_AT(runstate_info, instructions, 0);
PVEMU_AT(runstate_info, exits, 8); PVEMU_AT(runstate_info, hypercalls, 16);
PVEMU_AT(runstate_info, traps, 24); PVEMU_AT(runstate_info, system_time, 32);

/* grant_table_op(cmd, arg*): sharing a page with another domain. */
#define PVEMU_GNTTABOP_grant   0   /* struct pvemu_gnttab_grant: offer frame gfn to domid */
#define PVEMU_GNTTABOP_map     1   /* struct pvemu_gnttab_map: map domid's gref at my gfn */
#define PVEMU_GNTTABOP_unmap   2   /* struct pvemu_gnttab_map: gfn only */
struct pvemu_gnttab_grant { uint16_t domid, pad; uint32_t ref; /* out */ uint64_t gfn; };
PVEMU_SIZE(gnttab_grant, 16); PVEMU_AT(gnttab_grant, domid, 0); PVEMU_AT(gnttab_grant, pad, 2);
PVEMU_AT(gnttab_grant, ref, 4); PVEMU_AT(gnttab_grant, gfn, 8);
struct pvemu_gnttab_map   { uint16_t domid, pad; uint32_t ref; uint64_t gfn; };
PVEMU_SIZE(gnttab_map, 16); PVEMU_AT(gnttab_map, domid, 0); PVEMU_AT(gnttab_map, pad, 2);
PVEMU_AT(gnttab_map, ref, 4); PVEMU_AT(gnttab_map, gfn, 8);

/* store_op(cmd, arg*): how domains find each other's grant refs and ports
 * (Xen keeps these in xenstore).  Each domain writes keys under its own id;
 * any domain reads any domain's keys.  read of an absent key: -ENOENT (poll
 * with sched_op yield).  At most 64 keys per domain (-ENOSPC). */
#define PVEMU_STOREOP_write    0   /* struct pvemu_store: domid ignored (always the caller) */
#define PVEMU_STOREOP_read     1   /* struct pvemu_store: value written back */
#define PVEMU_STORE_MAX_KEYS  64
struct pvemu_store { uint16_t domid, pad; uint32_t key; uint64_t value; };
PVEMU_SIZE(store, 16); PVEMU_AT(store, domid, 0); PVEMU_AT(store, pad, 2);
PVEMU_AT(store, key, 4); PVEMU_AT(store, value, 8);

/* physdev_op(cmd, arg*): port I/O for a paravirtualized kernel, to the ports
 * the domain may use (COM1 0x3F8-0x3FF, the debug console 0xE9 and POST 0x80
 * by default); -EPERM elsewhere (a PV kernel ends with sched_op shutdown, not
 * the isa-debug-exit port). */
#define PVEMU_PHYSDEVOP_pio_in   0
#define PVEMU_PHYSDEVOP_pio_out  1
struct pvemu_physdev_pio { uint16_t port; uint8_t size, pad; uint32_t value; };
PVEMU_SIZE(physdev_pio, 8); PVEMU_AT(physdev_pio, port, 0); PVEMU_AT(physdev_pio, size, 2);
PVEMU_AT(physdev_pio, pad, 3); PVEMU_AT(physdev_pio, value, 4);

/* cpu_op(cmd, a, b): pvemu's hypercall for the privileged CPU state that
 * Xen keeps from its guests.  Reads of control registers return the value
 * itself (on i386 a CR0 with PG set looks negative: read_cr* cannot fail);
 * the other commands return 0 or -errno.  MSR values go through a uint64_t*
 * (b), CPUID through struct pvemu_cpu_regs* (b). */
#define PVEMU_CPUOP_read_cr0    0
#define PVEMU_CPUOP_write_cr0   1   /* a = value */
#define PVEMU_CPUOP_read_cr2    2
#define PVEMU_CPUOP_read_cr3    3
#define PVEMU_CPUOP_read_cr4    4
#define PVEMU_CPUOP_write_cr4   5   /* a = value */
#define PVEMU_CPUOP_read_msr    6   /* a = msr, b = uint64_t* out */
#define PVEMU_CPUOP_write_msr   7   /* a = msr, b = uint64_t* value */
#define PVEMU_CPUOP_cpuid       8   /* b = struct pvemu_cpu_regs* in: eax, ecx; out: all */
#define PVEMU_CPUOP_load_tr     9   /* a = selector */
#define PVEMU_CPUOP_wbinvd     10
#define PVEMU_CPUOP_load_idt   11   /* a = struct { uint16_t limit; uintptr_t base; }* (as LIDT's operand) */
struct pvemu_cpu_regs { uint32_t eax, ebx, ecx, edx; };
PVEMU_SIZE(cpu_regs, 16); PVEMU_AT(cpu_regs, eax, 0); PVEMU_AT(cpu_regs, ebx, 4);
PVEMU_AT(cpu_regs, ecx, 8); PVEMU_AT(cpu_regs, edx, 12);

/* The shared info page. */
struct pvemu_vcpu_time_info {
    uint32_t version;           /* odd while being updated: read again */
    uint32_t pad0;
    uint64_t tsc_timestamp;     /* TSC value at system_time */
    uint64_t system_time;       /* ns */
    uint32_t tsc_to_system_mul; /* ns = system_time + (((tsc - tsc_timestamp) << shift) * mul >> 32) */
    int8_t   tsc_shift;         /* (a right shift when negative) */
    uint8_t  pad1[3];
};                              /* 32 bytes */
PVEMU_SIZE(vcpu_time_info, 32); PVEMU_AT(vcpu_time_info, version, 0);
PVEMU_AT(vcpu_time_info, pad0, 4); PVEMU_AT(vcpu_time_info, tsc_timestamp, 8);
PVEMU_AT(vcpu_time_info, system_time, 16); PVEMU_AT(vcpu_time_info, tsc_to_system_mul, 24);
PVEMU_AT(vcpu_time_info, tsc_shift, 28); PVEMU_AT(vcpu_time_info, pad1, 29);

struct pvemu_vcpu_info {
    uint8_t  upcall_pending;    /* offset 0 */
    uint8_t  upcall_mask;       /* offset 1: the virtual interrupt flag, 1 = off */
    uint8_t  pad0[6];
    uint64_t pending_sel;       /* offset 8: bit w = evtchn_pending[w] may have bits */
    struct pvemu_vcpu_time_info time;   /* offset 16 */
    uint8_t  pad1[16];
};                              /* 64 bytes */
PVEMU_SIZE(vcpu_info, 64); PVEMU_AT(vcpu_info, upcall_pending, 0);
PVEMU_AT(vcpu_info, upcall_mask, 1); PVEMU_AT(vcpu_info, pad0, 2);
PVEMU_AT(vcpu_info, pending_sel, 8); PVEMU_AT(vcpu_info, time, 16);
PVEMU_AT(vcpu_info, pad1, 48);

struct pvemu_shared_info {
    struct pvemu_vcpu_info vcpu;                /* offset 0 */
    uint64_t evtchn_pending[8];                 /* offset 64: one bit per port */
    uint64_t evtchn_mask[8];                    /* offset 128: 1 = masked */
    uint32_t wc_version, wc_sec, wc_nsec, pad0; /* offset 192: wall clock at system time 0 */
    uint64_t balloon_target;                    /* offset 208: pvemu: pages the supervisor wants the domain to own */
    uint64_t nr_pages;                          /* offset 216: pages owned now */
    uint64_t max_pages;                         /* offset 224: the reservation's ceiling */
};
PVEMU_SIZE(shared_info, 232); PVEMU_AT(shared_info, vcpu, 0);
PVEMU_AT(shared_info, evtchn_pending, 64); PVEMU_AT(shared_info, evtchn_mask, 128);
PVEMU_AT(shared_info, wc_version, 192); PVEMU_AT(shared_info, wc_sec, 196);
PVEMU_AT(shared_info, wc_nsec, 200); PVEMU_AT(shared_info, pad0, 204);
PVEMU_AT(shared_info, balloon_target, 208); PVEMU_AT(shared_info, nr_pages, 216);
PVEMU_AT(shared_info, max_pages, 224);

#endif
