/* sysenter32: system calls with SYSENTER/SYSEXIT in 32-bit protected mode.
 * The GDT of cpu32.c already has the layout they need (kernel code 0x08,
 * kernel stack 0x10, user code 0x18 | 3, user stack 0x20 | 3).  A ring-3
 * task (entered with iret) calls the kernel with SYSENTER; its first
 * SYSENTER finds SYSENTER_CS = 0 and takes #GP, after which the kernel
 * sets the MSRs (0x174-0x176) and lets it retry; SYSEXIT in ring 3 is #GP
 * as well.  Checks which flags SYSENTER clears, the stack it switches to,
 * and the segments each side ends up with. */
#include "cpu32.h"
#include "msr.h"

#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

enum { SYS_WRITE = 1, SYS_FLAGS = 2, SYS_ADD = 3, SYS_EXIT = 4 };

/* What sysenter_entry pushes, lowest address first. */
struct sysframe { u32 eax, ebx, esi, ecx, edx, eflags; };

extern char sysenter_entry[], sysenter_insn[], sysenter_ret[], flags_sysenter_ret[];
extern char user_sysexit[], user_sysexit_end[];
extern volatile u32 flags_after;
u32 sysenter_call(u32 nr, u32 a, u32 b);
u32 flags_sysenter(u32 eflags);
void user_sysexit_test(void);

static u8 kernel_stack[4096] __attribute__((aligned(16)));   /* TSS.esp0: faults */
static u8 sysenter_stack[4096] __attribute__((aligned(16))); /* SYSENTER_ESP */
static u8 user_stack[4096] __attribute__((aligned(16)));
static volatile u32 calls, gp_faults;

static inline u32 read_ss(void) { u32 v; __asm__ volatile("mov %%ss, %0" : "=r"(v)); return v & 0xFFFF; }

static int on_stack(const void *p, const u8 *stack)
{
    return (const u8 *)p >= stack && (const u8 *)p < stack + 4096;
}

static const char *ret_name(u32 edx)
{
    return edx == (u32)sysenter_ret ? "sysenter_ret"
         : edx == (u32)flags_sysenter_ret ? "flags_sysenter_ret" : "?";
}

void sysenter_dispatch(struct sysframe *f)
{
    calls++;
    kprintf("[sysenter %u: cs=0x%x ss=0x%x on the SYSENTER_ESP stack: %s, if=%u, "
            "returning to %s]\n", f->eax, read_cs(), read_ss(),
            on_stack(f, sysenter_stack) ? "yes" : "no", (f->eflags >> 9) & 1, ret_name(f->edx));
    switch (f->eax) {
    case SYS_WRITE:
        puts_((const char *)f->ebx);
        break;
    case SYS_FLAGS:
        f->eax = f->eflags;
        break;
    case SYS_ADD:
        f->eax = f->ebx + f->esi;
        break;
    case SYS_EXIT:
        kprintf("exit(%u) after %u system calls and %u #GP\n", f->ebx, calls, gp_faults);
        if (!f->ebx && (calls != 6 || gp_faults != 2))
            fail(0x22, "wrong number of system calls or faults");
        if (!f->ebx)
            puts_("done\n");
        qemu_exit(f->ebx);
    default:
        fail(0x23, "unknown system call");
    }

}

static void on_gp(struct frame *f)
{
    if (f->eip == (u32)sysenter_insn && rdmsr(MSR_SYSENTER_CS) == 0) {
        gp_faults++;
        kprintf("[#GP error=0x%x at sysenter from cs=0x%x with SYSENTER_CS=0: setting the MSRs, "
                "retrying]\n", f->err, f->cs);
        wrmsr(MSR_SYSENTER_CS, KCODE);
        wrmsr(MSR_SYSENTER_ESP, (u32)sysenter_stack + sizeof(sysenter_stack));
        wrmsr(MSR_SYSENTER_EIP, (u32)sysenter_entry);
        kprintf("  msr 0x174=0x%llx, 0x175 = top of the sysenter stack: %s, "
                "0x176 = sysenter_entry: %s\n", rdmsr(MSR_SYSENTER_CS),
                rdmsr(MSR_SYSENTER_ESP) == (u32)sysenter_stack + sizeof(sysenter_stack) ? "yes" : "no",
                rdmsr(MSR_SYSENTER_EIP) == (u32)sysenter_entry ? "yes" : "no");
        return;                         /* eip unchanged: sysenter again */
    }
    if (f->eip == (u32)user_sysexit) {
        gp_faults++;
        kprintf("[#GP error=0x%x at sysexit from cs=0x%x, on the TSS stack: %s]\n", f->err, f->cs,
                on_stack(f, kernel_stack) ? "yes" : "no");
        f->eip = (u32)user_sysexit_end;
        return;
    }
    kprintf("#GP error=0x%x at 0x%x cs=0x%x\n", f->err, f->eip, f->cs);
    qemu_exit(0x24);
}

static void sys_write(const char *s) { sysenter_call(SYS_WRITE, (u32)s, 0); }
#define uprintf(...) wprintf(sys_write, __VA_ARGS__)

static void __attribute__((noreturn)) user_main(void)
{
    int bad = 0;
    u32 r = sysenter_call(SYS_ADD, 40, 2);
    uprintf("ring 3: add(40, 2) = %u, cs=0x%x ss=0x%x if=%u\n", r, read_cs(), read_ss(),
            (read_eflags() >> 9) & 1);
    bad |= r != 42 || read_cs() != UCODE || read_ss() != UDATA || !(read_eflags() & 0x200);
    u32 in = 0x6C7;                     /* DF IF SF ZF PF CF, and bit 1 */
    u32 kernel = flags_sysenter(in);
    u32 after = flags_after;
    uprintf("eflags 0x%x -> kernel 0x%x (only IF cleared: %s) -> after sysexit 0x%x "
            "(restored: %s)\n", in, kernel, kernel == (in & ~0x200u) ? "yes" : "no", after,
            after == in ? "yes" : "no");
    bad |= kernel != (in & ~0x200u) || after != in;
    user_sysexit_test();
    uprintf("back in ring 3 after the #GP: cs=0x%x\n", read_cs());
    sysenter_call(SYS_EXIT, bad ? 0x21 : 0, 0);
    for (;;)
        ;
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    puts_("sysenter32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    outb(0x21, 0xFF);                   /* mask both PICs: ring 3 runs with IF=1 */
    outb(0xA1, 0xFF);
    gdt_init();
    idt_init();
    tss_init((u32)kernel_stack + sizeof(kernel_stack));
    set_handler(13, on_gp);
    wrmsr(MSR_SYSENTER_CS, 0);          /* the first sysenter takes #GP */
    wrmsr(MSR_SYSENTER_ESP, 0);
    wrmsr(MSR_SYSENTER_EIP, 0);
    puts_("entering ring 3 with iret (if=1)\n");
    enter_ring3(user_main, (u32)user_stack + sizeof(user_stack), 0x202);  /* IF=1, IOPL=0 */
}
