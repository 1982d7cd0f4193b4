/* pvbench: microbenchmarks of the privileged operations, through each
 * backend that can run here: native always (under the supervisor its
 * instructions trap), paravirt under the supervisor.  One line each:
 *   bench NAME backend=native|pv iters=N insns=N exits=N
 * insns: retired instructions (the supervisor's runstate count; natively
 * the RDTSC difference, which pvemu makes virtual time in instructions),
 * exits: exits to the supervisor (0 natively).  iters=N on the command line
 * (default 1000). */
#include "guest.h"

const char guest_name[] = "pvbench";

#define BENCH_VA    (USER_VA + 0x200000)  /* a table of its own */
#define BATCH       64

static const struct pv_ops *ops;
static u32 iters;
static pte_t *ptes;                     /* BATCH entries mapping BENCH_VA.. */
static uptr data_frame;
static struct aspace other;

static void b_null(void)
{
    if (ops == &paravirt_ops) {
        for (u32 i = 0; i < iters; i++)
            HC(version, PVEMU_VERSION_abi, 0, 0);
    } else {
        struct pvemu_cpu_regs r;
        for (u32 i = 0; i < iters; i++)
            ops->cpu.cpuid(0, 0, &r);
    }
}

static void b_irq(void)
{
    for (u32 i = 0; i < iters; i++) {
        ops->irq.disable();
        ops->irq.enable();
    }
}

static void b_pte(void)
{
    for (u32 i = 0; i < iters; i++)
        ops->mmu.set_pte(&ptes[i % BATCH], (pte_t)data_frame | PTE_P | (i & 1 ? 0 : PTE_W));
}

static void b_pte_batch(void)
{
    struct pvemu_mmu_update u[BATCH];
    for (u32 i = 0; i < iters; i += BATCH) {
        u32 n = iters - i < BATCH ? iters - i : BATCH;
        for (u32 j = 0; j < n; j++) {
            u[j].ptr = (uptr)&ptes[j];
            u[j].val = (pte_t)data_frame | PTE_P | ((i / BATCH) & 1 ? 0 : PTE_W);
        }
        if (ops->mmu.set_pte_batch(u, n) < 0)
            panic("batched update refused");
    }
}

static void b_cr3(void)
{
    for (u32 i = 0; i < iters; i++)
        ops->mmu.write_cr3(i & 1 ? kernel_as.root : other.root);
    ops->mmu.write_cr3(kernel_as.root);
}

static void run(const char *name, void (*fn)(void))
{
    struct pvemu_runstate_info a, b;
    uptr fl = pv_ops.irq.save_fl();
    pv_ops.irq.disable();               /* no timer events in the counts */
    runstate(&a);
    u64 t0 = rdtsc();
    fn();
    u64 t1 = rdtsc();
    runstate(&b);
    pv_ops.irq.restore_fl(fl);
    u64 insns = shared_info ? b.instructions - a.instructions : t1 - t0;
    printk("bench %s backend=%s iters=%u insns=%llu exits=%llu\n", name,
           ops == &paravirt_ops ? "pv" : "native", iters, insns, (u64)(b.exits - a.exits));
}

int guest_main(void)
{
    iters = cmdline_uint("iters", 1000);
    data_frame = frame_alloc();
    for (u32 i = 0; i < BATCH; i++)
        map_page(&kernel_as, BENCH_VA + i * PAGE_SIZE, data_frame, PTE_P | PTE_W);
    ptes = pte_lookup(&kernel_as, BENCH_VA, 0);
    aspace_new(&other);
    pv_ops.mmu.pin(other.root);
    other.live = 1;
    const struct pv_ops *backends[] = { &native_ops, &paravirt_ops };
    for (int k = 0; k < (shared_info ? 2 : 1); k++) {
        ops = backends[k];
        run("null", b_null);
        run("irq", b_irq);
        run("pte", b_pte);
        run("pte_batch", b_pte_batch);
        run("cr3", b_cr3);
    }
    return 0;
}
