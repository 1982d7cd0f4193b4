/* syscall64 (64-bit part): SYSCALL/SYSRET.  EFER.SCE, STAR, LSTAR and
 * SFMASK set with WRMSR; a ring-3 task entered with SYSRET makes system
 * calls with SYSCALL; the entry point finds its per-CPU area (and its
 * stack) with SWAPGS and KERNEL_GS_BASE, and returns with SYSRET.  Checks
 * that RFLAGS is masked by SFMASK in the kernel and restored from R11 by
 * SYSRET, that RCX holds the return address, and the faults: SYSCALL with
 * EFER.SCE = 0 (#UD), SWAPGS and SYSRET in ring 3 (#GP on the TSS stack). */
#include "cpu64.h"
#include "msr.h"

#define MSR_EFER           0xC0000080
#define MSR_STAR           0xC0000081
#define MSR_LSTAR          0xC0000082
#define MSR_CSTAR          0xC0000083
#define MSR_SFMASK         0xC0000084
#define MSR_GS_BASE        0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102

#define RFLAGS_CF 0x1
#define RFLAGS_ARITH 0x8D5              /* CF PF AF ZF SF OF */
/* TF IF DF NT AC and CF: what the kernel must not inherit from ring 3 */
#define SFMASK (0x100 | 0x200 | 0x400 | 0x4000 | 0x40000 | RFLAGS_CF)

enum { SYS_WRITE = 1, SYS_FLAGS = 2, SYS_ADD = 3, SYS_WHERE = 4, SYS_EXIT = 5 };
#define ENOSYS 38

/* What syscall_entry pushes, lowest address first. */
struct sysframe {
    u64 r15, r14, r13, r12, rbp, rbx, r10, r9, r8, rdx, rsi, rdi, rax, rcx, r11, user_rsp;
};

/* Found through GS after SWAPGS (offsets used by syscall64.S). */
struct percpu {
    struct percpu *self;
    u64 kernel_rsp, user_rsp, entry_rflags;
    u64 calls;
};

struct user_tls { u64 magic; };

struct tss64 {
    u32 reserved0;
    u64 rsp0, rsp1, rsp2, reserved1, ist[7], reserved2;
    u16 reserved3, iomap_base;
} __attribute__((packed));

extern u64 gdt[];
extern char syscall_entry[], syscall_ret[], flags_syscall_ret[];
extern char syscall_nosce_insn[], syscall_nosce_end[];
extern char user_swapgs[], user_swapgs_end[], user_sysret[], user_sysret_end[];
extern volatile u8 syscall_cf;
extern volatile u64 flags_after;
void enter_user(void (*rip)(void), u64 rsp) __attribute__((noreturn));
long do_syscall(long nr, long a, long b);
u64 flags_syscall(u64 rflags);
void syscall_nosce(void);
void user_swapgs_test(void);
void user_sysret_test(void);

static struct tss64 tss __attribute__((aligned(16)));
static struct percpu percpu;
static struct user_tls user_tls = { 0x5553455254534C53ULL };
static u8 syscall_stack[4096] __attribute__((aligned(16)));
static u8 fault_stack[4096] __attribute__((aligned(16)));
static u8 user_stack[4096] __attribute__((aligned(16)));
static volatile int ud_seen, gp_seen;

static inline u16 read_cs(void) { u16 v; __asm__ volatile("mov %%cs, %0" : "=r"(v)); return v; }
static inline u16 read_ss(void) { u16 v; __asm__ volatile("mov %%ss, %0" : "=r"(v)); return v; }
static inline u64 read_gs0(void) { u64 v; __asm__ volatile("mov %%gs:0, %0" : "=r"(v)); return v; }

static int on_stack(const void *p, const u8 *stack)
{
    return (const u8 *)p >= stack && (const u8 *)p < stack + 4096;
}

void isr64_dispatch(struct frame64 *f)
{
    if (f->vector == 6 && f->rip == (u64)syscall_nosce_insn) {
        ud_seen++;
        kprintf("#UD: syscall with EFER.SCE=0 at cpl %llu\n", f->cs & 3);
        f->rip = (u64)syscall_nosce_end;
        return;
    }
    if (f->vector == 13) {
        const char *what = f->rip == (u64)user_swapgs ? "swapgs"
                         : f->rip == (u64)user_sysret ? "sysretq" : 0;
        if (what) {
            gp_seen++;
            kprintf("[#GP error=0x%llx at %s from cs=0x%llx ss=0x%llx, on the TSS stack: %s]\n",
                    f->err, what, f->cs, f->ss, on_stack(f, fault_stack) ? "yes" : "no");
            f->rip = (u64)(f->rip == (u64)user_swapgs ? user_swapgs_end : user_sysret_end);
            return;
        }
    }
    kprintf("unexpected interrupt: vector %llu error 0x%llx at %llx:%llx\n", f->vector, f->err,
            f->cs, f->rip);
    qemu_exit(0x7F);
}

void syscall_dispatch(struct sysframe *f)
{
    struct percpu *pc = (struct percpu *)read_gs0();
    u64 nr = f->rax;
    pc->calls++;
    kprintf("[syscall %llu: rcx=%s r11.if=%llu cs=0x%x ss=0x%x percpu=%s stack=%s if=%llu]\n",
            nr, f->rcx == (u64)syscall_ret ? "syscall_ret"
                : f->rcx == (u64)flags_syscall_ret ? "flags_syscall_ret" : "?",
            (f->r11 >> 9) & 1, read_cs(), read_ss(), pc == &percpu ? "ok" : "WRONG",
            on_stack(f, syscall_stack) ? "per-cpu" : "other", (pc->entry_rflags >> 9) & 1);
    if (nr == SYS_FLAGS) {
        kprintf("  user rflags (r11)=0x%llx, kernel entry rflags=0x%llx (sfmask=0x%llx)\n",
                f->r11, pc->entry_rflags, rdmsr(MSR_SFMASK));
        f->rax = pc->entry_rflags;      /* r11 untouched: SYSRET restores it all */
        return;
    }
    f->r11 &= ~(u64)RFLAGS_CF;          /* CF: the error flag of the other calls */
    switch (nr) {
    case SYS_WRITE:
        puts_((const char *)f->rdi);
        f->rax = strlen((const char *)f->rdi);
        return;
    case SYS_ADD:
        f->rax = f->rdi + f->rsi;
        return;
    case SYS_WHERE:
        kprintf("  user rsp on the user stack: %s, kernel_gs_base holds the user's gs base: %s\n",
                on_stack((void *)(f->user_rsp - 8), user_stack) ? "yes" : "no",
                rdmsr(MSR_KERNEL_GS_BASE) == (u64)&user_tls ? "yes" : "no");
        f->rax = pc->calls;
        return;
    case SYS_EXIT:
        kprintf("exit(%llu) after %llu system calls, %d #UD, %d #GP\n", f->rdi, pc->calls,
                ud_seen, gp_seen);
        if (!f->rdi && (ud_seen != 1 || gp_seen != 2 || pc->calls != 11))
            fail(0x22, "wrong number of system calls or faults");
        if (!f->rdi)
            puts_("done\n");
        qemu_exit((u32)f->rdi);
    default:
        f->rax = (u64)-ENOSYS;
        f->r11 |= RFLAGS_CF;
        return;
    }
}

static void sys_write(const char *s) { do_syscall(SYS_WRITE, (long)s, 0); }
#define uprintf(...) wprintf(sys_write, __VA_ARGS__)

static void __attribute__((noreturn)) user_main(void)
{
    int bad = 0;
    u64 fl;
    __asm__ volatile("pushfq; pop %0" : "=r"(fl));
    u64 gs0 = read_gs0();
    uprintf("ring 3: cs=0x%x ss=0x%x if=%llu gs:0=0x%llx\n", read_cs(), read_ss(), (fl >> 9) & 1,
            gs0);
    bad |= read_cs() != 0x2B || !(fl & 0x200) || gs0 != user_tls.magic;
    long r = do_syscall(SYS_ADD, 40, 2);
    u8 cf = syscall_cf;
    uprintf("add(40, 2) = %ld cf=%u\n", r, cf);
    bad |= r != 42 || cf;
    r = do_syscall(99, 0, 0);
    cf = syscall_cf;
    uprintf("syscall 99 = %ld cf=%u\n", r, cf);
    bad |= r != -ENOSYS || !cf;
    /* AC DF IF CF and bit 1.  No arithmetic flag outside SFMASK: QEMU's
     * SYSCALL clears them all in the kernel's RFLAGS (a QEMU quirk; the CPU
     * keeps those SFMASK leaves alone), so that one would differ. */
    u64 in = 0x40603;
    u64 kernel = flags_syscall(in);
    u64 after = flags_after;
    uprintf("rflags 0x%llx -> kernel 0x%llx (masked: %s) -> after sysret 0x%llx (restored: %s)\n",
            in, kernel, kernel == ((in & ~(u64)SFMASK) | 2) ? "yes" : "no", after,
            after == in ? "yes" : "no");
    bad |= kernel != ((in & ~(u64)SFMASK) | 2) || after != in;
    r = do_syscall(SYS_WHERE, 0, 0);
    uprintf("calls so far: %ld\n", r);
    user_swapgs_test();
    user_sysret_test();
    uprintf("back in ring 3 after the faults: cs=0x%x\n", read_cs());
    do_syscall(SYS_EXIT, bad ? 0x21 : 0, 0);
    for (;;)
        ;
}

static void tss_init(void)
{
    u64 base = (u64)&tss, limit = sizeof(tss) - 1;
    tss.rsp0 = (u64)fault_stack + sizeof(fault_stack);
    tss.iomap_base = sizeof(tss);
    gdt[7] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ULL << 40)
           | (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
    gdt[8] = base >> 32;
    __asm__ volatile("ltr %w0" :: "r"(0x38));
}

int kmain64(u32 magic, u32 info)
{
    (void)info;
    serial_init();
    puts_("syscall64\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    outb(0x21, 0xFF);                   /* mask both PICs: ring 3 runs with IF=1 */
    outb(0xA1, 0xFF);
    idt64_init(0x08);
    tss_init();

    syscall_nosce();                    /* EFER.SCE is still clear */
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1);
    wrmsr(MSR_STAR, (0x18ULL << 48) | (0x08ULL << 32));
    wrmsr(MSR_LSTAR, (u64)syscall_entry);
    wrmsr(MSR_SFMASK, SFMASK);
    u64 efer = rdmsr(MSR_EFER);
    kprintf("efer: sce=%llu lme=%llu lma=%llu; star=0x%llx lstar=syscall_entry: %s sfmask=0x%llx\n",
            efer & 1, (efer >> 8) & 1, (efer >> 10) & 1, rdmsr(MSR_STAR),
            rdmsr(MSR_LSTAR) == (u64)syscall_entry ? "yes" : "no", rdmsr(MSR_SFMASK));

    percpu.self = &percpu;
    percpu.kernel_rsp = (u64)syscall_stack + sizeof(syscall_stack);
    wrmsr(MSR_GS_BASE, (u64)&percpu);   /* swapped in enter_user */
    wrmsr(MSR_KERNEL_GS_BASE, (u64)&user_tls);
    puts_("entering ring 3 with sysretq\n");
    enter_user(user_main, (u64)user_stack + sizeof(user_stack) - 8);
}
