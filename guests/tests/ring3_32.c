/* ring3_32: a TSS, a drop to ring 3 with iret, system calls through an
 * int 0x80 gate with DPL 3 (the handler runs on the TSS's ring-0 stack),
 * #GP from privileged instructions and a DPL-0 gate in ring 3, and an exit
 * through the system call. */
#include "cpu32.h"

enum { SYS_WRITE = 1, SYS_CALLER_CPL = 2, SYS_ADD = 3, SYS_EXIT = 4 };

static u8 kernel_stack[4096] __attribute__((aligned(16)));
static u8 user_stack[4096] __attribute__((aligned(16)));
static volatile int syscalls, gp_faults;

static inline u32 syscall3(u32 nr, u32 a, u32 b)
{
    u32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b) : "memory");
    return r;
}

static void sys_write(const char *s) { syscall3(SYS_WRITE, (u32)s, 0); }
#define uprintf(...) wprintf(sys_write, __VA_ARGS__)

/* Labels around the instructions that must fault in ring 3. */
extern char user_cli[], user_cli_end[], user_out[], user_out_end[], user_int81[], user_int81_end[];

static void __attribute__((noreturn)) user_main(void)
{
    uprintf("hello from ring 3: cpl=%u\n", read_cs() & 3);
    uprintf("kernel says the caller's cpl is %u\n", syscall3(SYS_CALLER_CPL, 0, 0));
    uprintf("40 + 2 = %u\n", syscall3(SYS_ADD, 40, 2));
    __asm__ volatile("user_cli: cli\nuser_cli_end:");
    __asm__ volatile("user_out: outb %%al, $0x80\nuser_out_end:" ::: "eax");
    __asm__ volatile("user_int81: int $0x81\nuser_int81_end:");
    uprintf("back in ring 3 after %u #GP\n", gp_faults);
    syscall3(SYS_EXIT, gp_faults == 3 ? 0 : 0x21, 0);
    for (;;)
        ;
}

static const char *where(u32 esp)
{
    return esp > (u32)kernel_stack && esp <= (u32)kernel_stack + sizeof(kernel_stack)
           ? "the TSS stack" : "another stack";
}

static void on_syscall(struct frame *f)
{
    syscalls++;
    kprintf("[syscall %u from cs=0x%x ss=0x%x on %s]\n", f->eax, f->cs, f->user_ss,
            where((u32)f));
    switch (f->eax) {
    case SYS_WRITE:
        puts_((const char *)f->ebx);
        break;
    case SYS_CALLER_CPL:
        f->eax = f->cs & 3;
        break;
    case SYS_ADD:
        f->eax = f->ebx + f->ecx;
        break;
    case SYS_EXIT:
        kprintf("exit(%u) after %u system calls, kernel cpl=%u\n", f->ebx, syscalls,
                read_cs() & 3);
        qemu_exit(f->ebx);
    default:
        fail(0x22, "unknown system call");
    }
}

static void on_gp(struct frame *f)
{
    static const struct { const char *name; char *at, *resume; } sites[] = {
        {"cli", user_cli, user_cli_end}, {"out", user_out, user_out_end},
        {"int 0x81", user_int81, user_int81_end},
    };
    for (unsigned i = 0; i < 3; i++) {
        if (f->eip == (u32)sites[i].at) {
            gp_faults++;
            kprintf("[#GP error=0x%x at %s from cs=0x%x]\n", f->err, sites[i].name, f->cs);
            f->eip = (u32)sites[i].resume;
            return;
        }
    }
    kprintf("#GP error=0x%x at 0x%x cs=0x%x\n", f->err, f->eip, f->cs);
    qemu_exit(0x23);
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    puts_("ring3_32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    gdt_init();
    idt_init();
    tss_init((u32)kernel_stack + sizeof(kernel_stack));
    idt_gate(0x80, 0xE, 3);             /* reachable from ring 3 */
    set_handler(0x80, on_syscall);      /* 0x81 stays DPL 0 */
    set_handler(13, on_gp);
    puts_("tss loaded, entering ring 3\n");
    enter_ring3(user_main, (u32)user_stack + sizeof(user_stack), 0x2);  /* IF=0, IOPL=0 */
}
