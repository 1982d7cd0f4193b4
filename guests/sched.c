/* sched: a preemptive kernel.  Three ring-3 tasks, each in its own address
 * space (its own root table; the same virtual page USER_VA backed by a
 * different frame in each), and one ring-0 task, switched round robin on a
 * one-shot timer re-armed every QUANTUM_NS (the 8254 natively, VIRQ_TIMER
 * under the supervisor).  User tasks talk to the kernel through int 0x80.
 * The "~ " lines (the interleaving) depend on timing: the same for a given
 * instruction rate on pvemu, not on QEMU; the rest is the same everywhere. */
#include "guest.h"

const char guest_name[] = "sched";

#define USER_TASKS  3
#define STEPS       4
#define WORK        20000u
#define QUANTUM_NS  1000000u            /* 1 ms */

struct result { u32 magic, id, hash, steps; };

static volatile u32 ticks;

static void user_write(const char *s) { syscall1(SYS_write, (long)s); }

static u32 crunch(u32 h, u32 n)
{
    for (u32 i = 0; i < n; i++)
        h = h * 1103515245u + 12345u + (h >> 16);
    return h;
}

/* Ring 3.  Its private page holds its result, at the same address in every
 * task: each sees its own. */
static void user_task(long unused)
{
    (void)unused;
    long id = syscall1(SYS_getid, 0);
    volatile struct result *r = (struct result *)USER_VA;
    r->magic = 0x5EED0000u + (u32)id;
    r->id = (u32)id;
    r->hash = (u32)id;
    for (int step = 0; step < STEPS; step++) {
        r->hash = crunch(r->hash, WORK * (u32)id);
        r->steps++;
        wprintf(user_write, "~ task %ld (ring 3) step %d\n", id, step);
    }
    wprintf(user_write, "~ task %ld exits\n", id);
    syscall1(SYS_exit, 0);
}

static u32 kernel_hash;

static void kernel_task(long arg)
{
    u32 h = (u32)arg;
    for (int step = 0; step < STEPS; step++) {
        h = crunch(h, WORK);
        printk("~ task %u (ring 0) step %d\n", current->id, step);
    }
    kernel_hash = h;
}

static void tick(void)
{
    ticks++;
    need_resched = 1;
    if (tasks_live())
        pv_ops.time.set_oneshot(pv_ops.time.clock_read() + QUANTUM_NS);
}

int guest_main(void)
{
    struct task *user[USER_TASKS];
    syscalls_init();
    for (int i = 0; i < USER_TASKS; i++)
        user[i] = task_create(user_task, 0, 1);
    task_create(kernel_task, 0x1234, 0);
    printk("%d ring-3 tasks (own address spaces) and 1 ring-0 task, quantum %u us\n",
           USER_TASKS, QUANTUM_NS / 1000);
    timer_hook = tick;
    pv_ops.irq.disable();
    pv_ops.time.set_oneshot(pv_ops.time.clock_read() + QUANTUM_NS);
    while (tasks_live()) {
        pv_ops.irq.safe_halt();
        pv_ops.irq.disable();
    }
    pv_ops.irq.enable();
    printk("~ timer interrupts: %u\n", ticks);
    int bad = 0;
    for (int i = 0; i < USER_TASKS; i++) {
        const struct result *r = (const struct result *)(uptr)(*pte_lookup(&user[i]->as, USER_VA, 0) & PTE_ADDR);
        int ok = r->magic == 0x5EED0000u + (u32)user[i]->id && r->id == (u32)user[i]->id;
        bad += !ok;
        printk("task %d: %u steps, hash %08x, private page %s\n", user[i]->id, r->steps, r->hash,
               ok ? "ok" : "CLOBBERED");
    }
    printk("task %d (ring 0): hash %08x\n", USER_TASKS + 1, kernel_hash);
    printk("all tasks done\n");
    return bad;
}
