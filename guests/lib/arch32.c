/* i386: guests/tests/runtime's GDT, TSS and IDT (cpu32.c, isr32.S) behind
 * the runtime's arch interface. */
#include "guest.h"

extern u32 isr_stubs[256];              /* isr32.S */
static u8 boot_kstack[4096] __attribute__((aligned(16)));

void arch_init(void)
{
    gdt_init();
    tss_init((u32)boot_kstack + sizeof(boot_kstack));
    idt_init();
}

uptr arch_stub(int vector) { return isr_stubs[vector]; }
void arch_native_gate(int vector, uptr entry, int dpl) { (void)entry; idt_gate(vector, 0xE, dpl); }
void arch_set_kstack(uptr sp) { tss.esp0 = sp; }
void enter_user(uptr ip, uptr sp) { enter_ring3((void (*)(void))ip, sp, 0x202); }

long syscall1(long nr, long arg)
{
    __asm__ volatile("int $0x80" : "+a"(nr) : "b"(arg) : "memory");
    return nr;
}

/* switch_stack(save_sp, new_sp): callee-saved registers on the old stack. */
__asm__(".text\n.globl switch_stack\nswitch_stack:\n"
        "  mov 4(%esp), %eax\n  mov 8(%esp), %edx\n"
        "  push %ebp\n  push %ebx\n  push %esi\n  push %edi\n"
        "  mov %esp, (%eax)\n  mov %edx, %esp\n"
        "  pop %edi\n  pop %esi\n  pop %ebx\n  pop %ebp\n  ret\n");
