/* x86-64: the GDT and entry of entry64.S, a 256-gate IDT over isr64.S's
 * stubs (0-31) and entry64.S's (the rest), a 64-bit TSS. */
#include "guest.h"

struct tss64 {
    u32 rsv0;
    u64 rsp[3], rsv1, ist[7], rsv2;
    u16 rsv3, iomap;
} __attribute__((packed, aligned(16)));

static struct tss64 tss64;
static u64 idt[256][2] __attribute__((aligned(16)));
static trap_fn handlers[256];
static u8 boot_kstack[4096] __attribute__((aligned(16)));
extern u64 gdt[];                       /* entry64.S */
extern u64 isr64_stubs[32];             /* guests/tests/runtime/isr64.S */
extern u64 xstubs[256];                 /* entry64.S: other vectors, 0 if none */
uptr isr64_common_addr;

/* isr64.S's common path is local to it: find it through stub 0's jmp
 * (after pushq $0; pushq $0, two bytes each) instead of copying it. */
static uptr find_common(void)
{
    const u8 *p = (const u8 *)isr64_stubs[0] + 4;
    if (p[0] == 0xEB)
        return (uptr)(p + 2 + (signed char)p[1]);
    if (p[0] == 0xE9)
        return (uptr)(p + 5 + *(const int *)(p + 1));
    return 0;
}

uptr arch_stub(int vector) { return vector < 32 ? isr64_stubs[vector] : xstubs[vector]; }

void arch_native_gate(int vector, uptr entry, int dpl)
{
    idt[vector][0] = (entry & 0xFFFF) | ((u64)KCODE << 16) | ((u64)(0x8E | dpl << 5) << 40)
                   | ((entry >> 16 & 0xFFFF) << 48);
    idt[vector][1] = entry >> 32;
}

void set_handler(int vector, trap_fn h) { handlers[vector] = h; }

void isr64_dispatch(struct frame64 *f)
{
    if (handlers[f->vector & 255])
        handlers[f->vector & 255](f);
    else
        panic("unexpected interrupt %u at %p", (u32)f->vector, (void *)f->rip);
}

void arch_set_kstack(uptr sp) { tss64.rsp[0] = sp; }

void arch_init(void)
{
    serial_init();
    isr64_common_addr = find_common();
    if (!isr64_common_addr)
        qemu_exit(0x7D);
    uptr base = (uptr)&tss64;
    gdt[6] = (sizeof(tss64) - 1) | (base & 0xFFFFFF) << 16 | 0x89ull << 40 | (base >> 24 & 0xFF) << 56;
    gdt[7] = base >> 32;
    tss64.iomap = sizeof(tss64);
    tss64.rsp[0] = (uptr)boot_kstack + sizeof(boot_kstack);
    __asm__ volatile("ltr %w0" :: "r"(TSS_SEL));
    for (int v = 0; v < 256; v++)
        if (arch_stub(v))
            arch_native_gate(v, arch_stub(v), 0);
    struct { u16 limit; u64 base; } __attribute__((packed)) ptr = { sizeof(idt) - 1, (u64)idt };
    __asm__ volatile("lidt %0" :: "m"(ptr) : "memory");
}

void enter_user(uptr ip, uptr sp)
{
    __asm__ volatile("push %0; push %1; pushq $0x202; push %2; push %3; iretq"
                     :: "r"((u64)UDATA), "r"(sp), "r"((u64)UCODE), "r"(ip) : "memory");
    __builtin_unreachable();
}

long syscall1(long nr, long arg)
{
    __asm__ volatile("int $0x80" : "+a"(nr) : "D"(arg) : "memory");
    return nr;
}

__asm__(".text\n.globl switch_stack\nswitch_stack:\n"
        "  push %rbp\n  push %rbx\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
        "  mov %rsp, (%rdi)\n  mov %rsi, %rsp\n"
        "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbx\n  pop %rbp\n  ret\n");
