/* The paravirtualized backend: hypercalls through the hypercall page,
 * virtual interrupts in the shared info page, events through the upcall
 * (pvemu_abi.h). */
#include "guest.h"
#include "msr.h"

static u8 hypercall_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static u8 shared_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
struct pvemu_shared_info *shared_info;
u32 pv_domid;
static evtchn_fn evtchn_handlers[PVEMU_NR_EVENT_CHANNELS];

/* Arguments in the registers of pvemu_abi.h section 2; the stubs may
 * clobber what a C call may. */
long hypercall(int nr, uptr a1, uptr a2, uptr a3, uptr a4, uptr a5)
{
    uptr fn = (uptr)hypercall_page + (uptr)nr * PVEMU_HYPERCALL_STUB_SIZE;
    long ret;
#ifdef __x86_64__
    register uptr r10 __asm__("r10") = a4;
    register uptr r8 __asm__("r8") = a5;
    __asm__ volatile("call *%%rax"
                     : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8)
                     : "0"(fn) : "rcx", "r9", "r11", "memory");
#else
    __asm__ volatile("call *%%eax"
                     : "=a"(ret), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4), "+D"(a5)
                     : "0"(fn) : "memory");
#endif
    return ret;
}

static long cpu_op(int cmd, uptr a, void *b) { return HC(cpu_op, cmd, a, b); }

static void p_cpuid(u32 leaf, u32 sub, struct pvemu_cpu_regs *r)
{
    r->eax = leaf;
    r->ecx = sub;
    cpu_op(PVEMU_CPUOP_cpuid, 0, r);
}
static uptr p_read_cr0(void) { return (uptr)cpu_op(PVEMU_CPUOP_read_cr0, 0, 0); }
static uptr p_read_cr2(void) { return (uptr)cpu_op(PVEMU_CPUOP_read_cr2, 0, 0); }
static uptr p_read_cr3(void) { return (uptr)cpu_op(PVEMU_CPUOP_read_cr3, 0, 0); }
static uptr p_read_cr4(void) { return (uptr)cpu_op(PVEMU_CPUOP_read_cr4, 0, 0); }
static void p_write_cr0(uptr v) { cpu_op(PVEMU_CPUOP_write_cr0, v, 0); }
static void p_write_cr4(uptr v) { cpu_op(PVEMU_CPUOP_write_cr4, v, 0); }
static u64 p_read_msr(u32 msr) { u64 v = 0; cpu_op(PVEMU_CPUOP_read_msr, msr, &v); return v; }
static void p_write_msr(u32 msr, u64 v) { cpu_op(PVEMU_CPUOP_write_msr, msr, &v); }
static void p_load_idt(const void *p) { cpu_op(PVEMU_CPUOP_load_idt, (uptr)p, 0); }
static void p_load_tr(u16 sel) { cpu_op(PVEMU_CPUOP_load_tr, sel, 0); }
static void p_wbinvd(void) { cpu_op(PVEMU_CPUOP_wbinvd, 0, 0); }

static void p_set_trap(int vector, uptr entry, int dpl)
{
    struct pvemu_trap_info t = { (u8)vector, (u8)dpl, KCODE, 0, entry };
    long r = HC(set_trap_table, &t, 1, 0);
    if (r < 0)
        panic("set_trap_table(%d): %ld", vector, r);
}

static void p_set_kernel_stack(uptr sp) { HC(stack_switch, KDATA, sp, 0); }

static u32 p_io_in(u16 port, int size)
{
    struct pvemu_physdev_pio p = { port, (u8)size, 0, 0 };
    HC(physdev_op, PVEMU_PHYSDEVOP_pio_in, &p, 0);
    return p.value;
}
static void p_io_out(u16 port, int size, u32 v)
{
    struct pvemu_physdev_pio p = { port, (u8)size, 0, v };
    HC(physdev_op, PVEMU_PHYSDEVOP_pio_out, &p, 0);
}

/* The virtual interrupt flag is a byte: no exit to change it. */
static volatile u8 *mask(void) { return &shared_info->vcpu.upcall_mask; }
static uptr p_save_fl(void) { return *mask() ? 0 : EFLAGS_IF; }
static void p_disable(void) { *mask() = 1; __asm__ volatile("" ::: "memory"); }
static void p_enable(void) { __asm__ volatile("" ::: "memory"); *mask() = 0; }
static void p_restore_fl(uptr f) { if (f & EFLAGS_IF) p_enable(); else p_disable(); }
/* block clears upcall_mask and sleeps unless an event is already pending. */
static void p_safe_halt(void) { HC(sched_op, PVEMU_SCHEDOP_block, 0, 0); }

static long mmuext(u32 cmd, u64 arg1)
{
    struct pvemu_mmuext_op op = { cmd, 0, arg1, 0 };
    u32 done = 0;
    return HC(mmuext_op, &op, 1, &done);
}

static int p_set_pte_batch(const struct pvemu_mmu_update *u, u32 n)
{
    u32 done = 0;
    return (int)HC(mmu_update, u, n, &done);
}
static void p_set_pte(pte_t *p, pte_t v)
{
    struct pvemu_mmu_update u = { (uptr)p | PVEMU_MMU_NORMAL_PT_UPDATE, v };
    long r = p_set_pte_batch(&u, 1);
    if (r < 0)
        panic("mmu_update(%p, 0x%llx): %ld", (void *)p, (u64)v, r);
}
static void p_write_cr3(uptr root)
{
    if (mmuext(PVEMU_MMUEXT_NEW_BASEPTR, root) < 0)
        panic("new_baseptr %p refused", (void *)root);
}
static void p_flush_tlb_all(void) { mmuext(PVEMU_MMUEXT_TLB_FLUSH_LOCAL, 0); }
static void p_flush_tlb_one(uptr va) { mmuext(PVEMU_MMUEXT_INVLPG_LOCAL, va); }
/* Pinning names the table by frame number, as Xen's mfn (NEW_BASEPTR takes
 * the CR3 value). */
static void p_pin(uptr root)
{
    long r = mmuext(PT_LEVELS == 4 ? PVEMU_MMUEXT_PIN_L4_TABLE : PVEMU_MMUEXT_PIN_L2_TABLE, root >> 12);
    if (r < 0)
        panic("pin %p refused: %ld", (void *)root, r);
}
static void p_unpin(uptr root) { mmuext(PVEMU_MMUEXT_UNPIN_TABLE, root >> 12); }

static u64 p_clock_read(void)
{
    volatile struct pvemu_vcpu_time_info *t = &shared_info->vcpu.time;
    u32 v;
    u64 ns;
    do {
        v = t->version;
        __asm__ volatile("" ::: "memory");
        ns = t->system_time + scale_delta(rdtsc() - t->tsc_timestamp, t->tsc_to_system_mul,
                                          t->tsc_shift);
        __asm__ volatile("" ::: "memory");
    } while ((v & 1) || v != t->version);
    return ns;
}

static void p_set_oneshot(u64 deadline)
{
#ifdef __x86_64__
    HC(set_timer_op, deadline, 0, 0);
#else
    HC(set_timer_op, (u32)deadline, (u32)(deadline >> 32), 0);
#endif
}

static void p_console_write(const char *s, u32 n)
{
    HC(console_io, PVEMU_CONSOLEIO_write, n, s);
}

static __attribute__((noreturn)) void p_exit(u32 status)
{
    struct pvemu_sched_shutdown sd = { PVEMU_SHUTDOWN_poweroff, status };
    for (;;)
        HC(sched_op, PVEMU_SCHEDOP_shutdown, &sd, 0);
}

/* The upcall: take the pending ports word by word (an unsigned long at a
 * time, so i386 sees each 64-bit word as two), call their handlers, then
 * switch task if asked, and unmask last (an event arriving meanwhile
 * raises the upcall again at once). */
static void upcall(trapframe *f)
{
    (void)f;
    struct pvemu_vcpu_info *v = &shared_info->vcpu;
    unsigned long *pending = (unsigned long *)shared_info->evtchn_pending;
    unsigned long *masked = (unsigned long *)shared_info->evtchn_mask;
    const int per64 = 64 / BITS;
    while (__atomic_exchange_n(&v->upcall_pending, 0, __ATOMIC_SEQ_CST)) {
        unsigned long sel = __atomic_exchange_n((unsigned long *)&v->pending_sel, 0, __ATOMIC_SEQ_CST);
        for (; sel; sel &= sel - 1) {
            int w = __builtin_ctzl(sel);
            for (int i = w * per64; i < (w + 1) * per64; i++) {
                unsigned long bits = pending[i] & ~masked[i];
                __atomic_fetch_and(&pending[i], ~bits, __ATOMIC_SEQ_CST);
                for (; bits; bits &= bits - 1) {
                    u32 port = (u32)(i * BITS + __builtin_ctzl(bits));
                    if (evtchn_handlers[port])
                        evtchn_handlers[port](port);
                }
            }
        }
    }
    irq_exit();
    p_enable();
}

static long bound(long port, evtchn_fn h)
{
    if (port > 0 && port < PVEMU_NR_EVENT_CHANNELS) {
        evtchn_handlers[port] = h;
        __atomic_fetch_and((unsigned long *)shared_info->evtchn_mask + port / BITS,
                           ~(1ul << (port % BITS)), __ATOMIC_SEQ_CST);
    }
    return port;
}

long evtchn_bind_virq(u32 virq, evtchn_fn h)
{
    struct pvemu_evtchn_bind_virq b = { virq, 0, 0 };
    long r = HC(event_channel_op, PVEMU_EVTCHNOP_bind_virq, &b, 0);
    return r < 0 ? r : bound(b.port, h);
}

long evtchn_alloc_unbound(u16 remote, evtchn_fn h)
{
    struct pvemu_evtchn_alloc_unbound a = { PVEMU_DOMID_SELF, remote, 0 };
    long r = HC(event_channel_op, PVEMU_EVTCHNOP_alloc_unbound, &a, 0);
    return r < 0 ? r : bound(a.port, h);
}

long evtchn_bind_interdomain(u16 remote, u32 remote_port, evtchn_fn h)
{
    struct pvemu_evtchn_bind_interdomain b = { remote, 0, remote_port, 0 };
    long r = HC(event_channel_op, PVEMU_EVTCHNOP_bind_interdomain, &b, 0);
    return r < 0 ? r : bound(b.local_port, h);
}

long evtchn_send(u32 port)
{
    struct pvemu_evtchn_port p = { port };
    return HC(event_channel_op, PVEMU_EVTCHNOP_send, &p, 0);
}

long memory_op(int cmd, u64 *frames, u64 n)
{
    struct pvemu_reservation r = { (uptr)frames, n };
    return HC(memory_op, cmd, &r, 0);
}

void runstate(struct pvemu_runstate_info *r)
{
    memset(r, 0, sizeof(*r));
    if (shared_info)
        HC(vcpu_op, PVEMU_VCPUOP_get_runstate_info, 0, r);
}

static void virq_timer(u32 port)
{
    (void)port;
    if (timer_hook)
        timer_hook();
}

/* The MSR writes are the only privileged instructions left: the supervisor
 * traps and emulates them. */
void paravirt_init(void)
{
    struct pvemu_cpu_regs r;
    cpuid_raw(PVEMU_CPUID_INFO, 0, &r);
    pv_domid = r.edx;
    wrmsr(r.ebx, (uptr)hypercall_page);
    long abi = HC(version, PVEMU_VERSION_abi, 0, 0);
    if (abi >> 16 != PVEMU_ABI_VERSION >> 16)
        panic("supervisor ABI 0x%lx, guest 0x%x", abi, PVEMU_ABI_VERSION);
    wrmsr(r.ecx, (uptr)shared_page);
    shared_info = (struct pvemu_shared_info *)shared_page;
    set_handler(VEC_UPCALL, upcall);
    long cb = HC(set_callbacks, VEC_UPCALL, arch_stub(VEC_UPCALL), KCODE);
    if (cb < 0)
        panic("set_callbacks: %ld", cb);
    if (evtchn_bind_virq(PVEMU_VIRQ_TIMER, virq_timer) < 0)
        panic("bind_virq(VIRQ_TIMER) failed");
}

static void p_halt(void) { p_safe_halt(); }

const struct pv_ops paravirt_ops = {
    .name = "paravirt",
    .cpu = {
        .cpuid = p_cpuid, .read_cr0 = p_read_cr0, .write_cr0 = p_write_cr0,
        .read_cr4 = p_read_cr4, .write_cr4 = p_write_cr4, .read_msr = p_read_msr,
        .write_msr = p_write_msr, .load_idt = p_load_idt, .set_trap = p_set_trap,
        .load_tr = p_load_tr, .set_kernel_stack = p_set_kernel_stack, .io_in = p_io_in,
        .io_out = p_io_out, .wbinvd = p_wbinvd,
    },
    .irq = {
        .save_fl = p_save_fl, .restore_fl = p_restore_fl, .disable = p_disable,
        .enable = p_enable, .safe_halt = p_safe_halt, .halt = p_halt,
    },
    .mmu = {
        .read_cr2 = p_read_cr2, .read_cr3 = p_read_cr3, .write_cr3 = p_write_cr3,
        .set_pte = p_set_pte, .set_pte_batch = p_set_pte_batch, .flush_tlb_all = p_flush_tlb_all,
        .flush_tlb_one = p_flush_tlb_one, .pin = p_pin, .unpin = p_unpin,
    },
    .time = { .clock_read = p_clock_read, .set_oneshot = p_set_oneshot },
    .console_write = p_console_write,
    .exit = p_exit,
};
