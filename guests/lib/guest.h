/* The runtime shared by the bundled guests (guests/NAME.c), i386 and x86-64.
 *
 * Built on guests/tests/runtime (Multiboot entry, serial, printf, GDT/IDT
 * and interrupt stubs) and paravirt/include/pvemu_abi.h.  Everything that
 * needs privilege goes through pv_ops (pvops.h), so one kernel runs on
 * bare hardware (QEMU, `pvemu run`) and paravirtualized under the pvemu
 * supervisor. */
#ifndef GUEST_H
#define GUEST_H
#include "rt.h"
#include "pvemu_abi.h"

#ifdef __x86_64__
#include "cpu64.h"
typedef struct frame64 trapframe;
typedef u64 pte_t;
#define PT_LEVELS   4
#define PT_BITS     9
#define PTE_ADDR    0x000FFFFFFFFFF000ULL
#define USER_VA     0x8000000000ULL     /* PML4 slot 1: per-task, kernel tables stay shared */
#define KCODE       0x18
#define KDATA       0x10
#define UCODE       0x2B
#define UDATA       0x23
#define TSS_SEL     0x30
#define FRAME_IP(f)     ((f)->rip)
#define SYSCALL_NR(f)   ((f)->rax)
#define SYSCALL_ARG(f)  ((f)->rdi)
#else
#include "cpu32.h"
typedef struct frame trapframe;
typedef u32 pte_t;
#define PT_LEVELS   2
#define PT_BITS     10
#define PTE_ADDR    0xFFFFF000u
#define USER_VA     0x40000000u         /* its own page table: kernel tables stay shared */
#define FRAME_IP(f)     ((f)->eip)
#define SYSCALL_NR(f)   ((f)->eax)
#define SYSCALL_ARG(f)  ((f)->ebx)
#endif
#define BITS ((int)sizeof(uptr) * 8)

#define PAGE_SIZE   4096u
#define PTE_P       0x001
#define PTE_W       0x002
#define PTE_U       0x004
#define EFLAGS_IF   0x200

/* Vectors: exceptions 0-31, the 8259's IRQs at 0x20, system calls, the
 * upcall (the 32-bit stubs of guests/tests/runtime have 0-47, 0x80, 0x81). */
#define VEC_TIMER   0x20
#define VEC_SPURIOUS 0x27
#define VEC_SYSCALL 0x80
#define VEC_UPCALL  0x81

#include "pvops.h"

/* --- boot (pvops.c) --- */
struct mb_info { u32 flags, mem_lower, mem_upper, boot_device, cmdline; };
extern const struct mb_info *mbi;
/* Defined by each guest: runs after the runtime is up; returns the exit status. */
int guest_main(void);
extern const char guest_name[];
/* Multiboot command line value of key=N, or def. */
u32 cmdline_uint(const char *key, u32 def);

/* --- console (pvops.c): printk goes through pv_ops.console_write --- */
int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* --- traps and interrupts (arch32.c / arch64.c, pvops.c) --- */
typedef void (*trap_fn)(trapframe *f);
void arch_init(void);                   /* GDT, TSS, native IDT: early boot */
/* Route vector to h, through pv_ops.cpu.set_trap (gate DPL dpl). */
void trap_install(int vector, trap_fn h, int dpl);
void set_handler(int vector, trap_fn h);
uptr arch_stub(int vector);             /* the stub's address */
/* Set by interrupt handlers; irq_exit() then switches task (task.c). */
extern volatile int need_resched;
void irq_exit(void);
/* The timer event (native IRQ 0 or VIRQ_TIMER) calls this, if set. */
extern void (*timer_hook)(void);

/* --- time: ns = base + (((tsc - tsc0) << shift) * mul >> 32) --- */
u64 scale_delta(u64 delta, u32 mul, int shift);
u64 udiv64(u64 n, u64 d);
static inline u64 rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}
static inline void cpuid_raw(u32 leaf, u32 sub, struct pvemu_cpu_regs *r)
{
    __asm__ volatile("cpuid" : "=a"(r->eax), "=b"(r->ebx), "=c"(r->ecx), "=d"(r->edx)
                     : "a"(leaf), "c"(sub));
}

/* --- memory (mm.c) --- */
extern uptr mem_end;                    /* bytes of RAM (identity-mapped) */
void mm_init(void);                     /* frame allocator + kernel page tables */
uptr frame_alloc(void);                 /* a zeroed frame's address, 0 if none */
void frame_free(uptr pa);
void frame_reserve(uptr pa);            /* mark used (ballooned out) */
u32 frames_free(void);
u32 frames_total(void);
/* An address space: root table; live once pinned and loaded, after which
 * its entries change only through pv_ops.mmu.set_pte. */
struct aspace { uptr root; int live; };
extern struct aspace kernel_as;
void aspace_new(struct aspace *as);     /* shares the kernel's identity map */
void aspace_activate(struct aspace *as);
/* The leaf entry for va (intermediate tables allocated when alloc). */
pte_t *pte_lookup(struct aspace *as, uptr va, int alloc);
void map_page(struct aspace *as, uptr va, uptr pa, u32 flags);

/* --- tasks (task.c) --- */
struct task {
    uptr sp;                            /* saved kernel stack pointer */
    struct aspace as;
    uptr kstack_top;
    void (*entry)(long arg);            /* ring 3 when user */
    long arg;
    int user, done, id;
};
extern struct task *current;
/* Create a task running entry(arg): in ring 3 (its stack in the top of a
 * private page at USER_VA) when user, else in ring 0. */
struct task *task_create(void (*entry)(long), long arg, int user);
void schedule(void);                    /* round robin to the next live task */
void task_exit(void) __attribute__((noreturn));
int tasks_live(void);
/* Ring-3 side of int 0x80: SYS_write(str), SYS_exit, SYS_yield. */
enum { SYS_write, SYS_exit, SYS_yield, SYS_getid };
long syscall1(long nr, long arg);
void syscalls_init(void);
void enter_user(uptr ip, uptr sp) __attribute__((noreturn));
void switch_stack(uptr *save_sp, uptr new_sp);

#endif
