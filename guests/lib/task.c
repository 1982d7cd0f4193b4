/* Tasks: one kernel stack each, switched by switch_stack; user tasks also
 * get an address space with a private page at USER_VA (their stack).
 * Task 0 is the boot context; it runs only when no other task can. */
#include "guest.h"

#define MAX_TASKS 8
#define KSTACK 8192
#ifdef __x86_64__
#define SAVED_REGS 6                    /* switch_stack pushes rbp rbx r12-r15 */
#else
#define SAVED_REGS 4                    /* ebp ebx esi edi */
#endif

static struct task tasks[MAX_TASKS];
static int ntasks = 1;
static u8 kstacks[MAX_TASKS][KSTACK] __attribute__((aligned(16)));
struct task *current = &tasks[0];

static void task_start(void)
{
    struct task *t = current;
    pv_ops.irq.enable();
    if (t->user)
        enter_user((uptr)t->entry, USER_VA + PAGE_SIZE - 16);
    t->entry(t->arg);
    task_exit();
}

struct task *task_create(void (*entry)(long), long arg, int user)
{
    if (ntasks == MAX_TASKS)
        panic("too many tasks");
    struct task *t = &tasks[ntasks];
    t->id = ntasks++;
    t->entry = entry;
    t->arg = arg;
    t->user = user;
    t->kstack_top = (uptr)kstacks[t->id] + KSTACK;
    if (user) {
        aspace_new(&t->as);
        map_page(&t->as, USER_VA, frame_alloc(), PTE_P | PTE_W | PTE_U);
    }
    uptr *sp = (uptr *)t->kstack_top;
    *--sp = 0;
    *--sp = (uptr)task_start;
    for (int i = 0; i < SAVED_REGS; i++)
        *--sp = 0;
    t->sp = (uptr)sp;
    return t;
}

int tasks_live(void)
{
    int n = 0;
    for (int i = 1; i < ntasks; i++)
        n += !tasks[i].done;
    return n;
}

void schedule(void)
{
    uptr fl = pv_ops.irq.save_fl();
    pv_ops.irq.disable();
    need_resched = 0;
    struct task *prev = current, *next = &tasks[0];
    for (int i = 1; i < ntasks; i++) {
        struct task *t = &tasks[(prev->id + i - 1) % (ntasks - 1) + 1];
        if (!t->done) {
            next = t;
            break;
        }
    }
    if (next != prev) {
        current = next;
        if (next->user || prev->user)
            aspace_activate(next->user ? &next->as : &kernel_as);
        if (next->user)
            pv_ops.cpu.set_kernel_stack(next->kstack_top);
        switch_stack(&prev->sp, next->sp);
    }
    pv_ops.irq.restore_fl(fl);
}

void task_exit(void)
{
    pv_ops.irq.disable();
    current->done = 1;
    schedule();
    panic("a finished task ran again");
}

static void sys_handler(trapframe *f)
{
    long r = 0;
    switch (SYSCALL_NR(f)) {
    case SYS_write: printk("%s", (const char *)SYSCALL_ARG(f)); break;
    case SYS_exit: task_exit();
    case SYS_yield: schedule(); break;
    case SYS_getid: r = current->id; break;
    default: r = -1;
    }
    SYSCALL_NR(f) = (uptr)r;
}

void syscalls_init(void)
{
    trap_install(VEC_SYSCALL, sys_handler, 3);
}
