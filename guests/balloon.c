/* balloon: a balloon driver.  Under the supervisor it gives frames back
 * (decrease_reservation) and takes them again (increase_reservation): first
 * a self-test of 64 frames, then it follows shared_info.balloon_target
 * (VIRQ_BALLOON) for seconds=N of virtual time (default 1), reporting free
 * memory at each change.  A ballooned-out frame is unmapped first: touching
 * it would kill the domain.  Natively there is no balloon: it says so and
 * exits 0 after a self-test of the frame allocator. */
#include "guest.h"

const char guest_name[] = "balloon";

#define MAX_OUT 4096
static u64 out[MAX_OUT];                /* frame numbers given back */
static u32 nout;
static volatile int target_changed;

/* Give n frames back; returns how many went. */
static u32 inflate(u32 n)
{
    u32 first = nout;
    while (nout < MAX_OUT && nout - first < n && nout - first < PVEMU_MEMOP_MAX_EXTENTS) {
        uptr pa = frame_alloc();
        if (!pa)
            break;
        pv_ops.mmu.set_pte(pte_lookup(&kernel_as, pa, 0), 0);
        pv_ops.mmu.flush_tlb_one(pa);
        out[nout++] = pa >> 12;
    }
    long done = memory_op(PVEMU_MEMOP_decrease_reservation, out + first, nout - first);
    if (done != (long)(nout - first))
        panic("decrease_reservation of %u frames: %ld", nout - first, done);
    return nout - first;
}

/* Take up to n frames back (the last given first). */
static u32 deflate(u32 n)
{
    if (n > nout)
        n = nout;
    if (n > PVEMU_MEMOP_MAX_EXTENTS)
        n = PVEMU_MEMOP_MAX_EXTENTS;
    long done = memory_op(PVEMU_MEMOP_increase_reservation, out + nout - n, n);
    if (done < 0)
        panic("increase_reservation of %u frames: %ld", n, done);
    for (long i = 0; i < done; i++) {
        uptr pa = (uptr)out[--nout] << 12;
        pv_ops.mmu.set_pte(pte_lookup(&kernel_as, pa, 0), (pte_t)pa | PTE_P | PTE_W | PTE_U);
        frame_free(pa);
    }
    return (u32)done;
}

static void report(const char *what)
{
    printk("%s: owned %llu pages (target %llu, max %llu), ballooned out %u, free %u KiB\n", what,
           (u64)shared_info->nr_pages, (u64)shared_info->balloon_target, (u64)shared_info->max_pages, nout,
           frames_free() * 4);
}

static void on_balloon(u32 port) { (void)port; target_changed = 1; }
static void wake(void) { }

/* Allocate, check and free frames: no two alike, all zeroed, all aligned. */
static int allocator_selftest(void)
{
    static uptr got[256];
    u32 before = frames_free();
    for (int i = 0; i < 256; i++) {
        got[i] = frame_alloc();
        const u32 *p = (const u32 *)got[i];
        if (!got[i] || (got[i] & (PAGE_SIZE - 1)) || p[0] || p[1023])
            return 1;
        for (int j = 0; j < i; j++)
            if (got[j] == got[i])
                return 2;
        *(volatile u32 *)got[i] = 0xB0000000u + (u32)i;
    }
    for (int i = 0; i < 256; i += 2)
        frame_free(got[i]);
    for (int i = 1; i < 256; i += 2)
        if (*(u32 *)got[i] != 0xB0000000u + (u32)i)
            return 3;
    for (int i = 1; i < 256; i += 2)
        frame_free(got[i]);
    return frames_free() == before ? 0 : 4;
}

int guest_main(void)
{
    int st = allocator_selftest();
    printk("allocator self-test: %s\n", st ? "FAILED" : "ok");
    if (st)
        return st;
    if (!shared_info) {
        printk("no balloon: not running under the pvemu supervisor\n");
        return 0;
    }
    if (evtchn_bind_virq(PVEMU_VIRQ_BALLOON, on_balloon) < 0)
        panic("bind_virq(VIRQ_BALLOON) failed");
    report("boot");
    u64 owned = shared_info->nr_pages;
    printk("self-test: out %u", inflate(64));
    printk(", owned %llu", (u64)(owned - shared_info->nr_pages));
    u32 in = deflate(64);
    printk(", in %u, owned %llu\n", in, (u64)(shared_info->nr_pages - owned));
    if (shared_info->balloon_target == 0)
        printk("no balloon target set\n");
    u64 end = pv_ops.time.clock_read() + (u64)cmdline_uint("seconds", 1) * 1000000000u;
    timer_hook = wake;
    target_changed = shared_info->balloon_target != 0;
    for (;;) {
        pv_ops.irq.disable();
        while (target_changed) {
            target_changed = 0;
            /* At most PVEMU_MEMOP_MAX_EXTENTS frames a call: go on until
             * the target is reached or nothing more moves. */
            for (;;) {
                u64 want = shared_info->balloon_target, have = shared_info->nr_pages;
                u32 moved = 0;
                if (want && want < have)
                    moved = inflate((u32)(have - want));
                else if (want > have)
                    moved = deflate((u32)(want - have));
                if (!moved)
                    break;
            }
            report("target");
        }
        u64 now = pv_ops.time.clock_read();
        if (now >= end)
            break;
        pv_ops.time.set_oneshot(end);
        pv_ops.irq.safe_halt();
    }
    pv_ops.irq.enable();
    while (nout && deflate(nout))
        ;
    report("done");
    return 0;
}
