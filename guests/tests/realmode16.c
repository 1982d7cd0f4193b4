/* realmode16: starts in 32-bit protected mode (Multiboot), drops back to
 * real mode (16-bit protected-mode code segment, CR0.PE cleared, far jump),
 * and there installs and uses its own IVT entries (int 0x60, #DE), uses
 * segment:offset addressing (aliases, ffff:0010 above 1 MiB, a far call
 * through another segment) and prints through the UART; then switches to
 * protected mode again, where the IDT works as before, and exits through
 * isa-debug-exit.  The real-mode code is in realmode16.S. */
#include "cpu32.h"

#define RM_BASE 0x8000

extern char rm_start[], rm_end[];
/* Results the real-mode code leaves in its copy at RM_BASE. */
extern char isr60_frame_ok[], isr60_if_tf[], de_ip_ok[], far_cs[];
#define RM_VAR(x) (*(volatile u16 *)(RM_BASE + ((x) - rm_start)))
void rm_gdt_init(void);
void call_real_mode(void);

static volatile u32 int80_calls;

static void on_int80(struct frame *f)
{
    int80_calls++;
    f->eax = f->ebx * 2;
}

static u32 int80(u32 v)
{
    u32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "b"(v) : "memory");
    return r;
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    puts_("realmode16\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    outb(0x21, 0xFF);                   /* mask both 8259s: real mode runs sti for a while */
    outb(0xA1, 0xFF);
    rm_gdt_init();
    idt_init();
    set_handler(0x80, on_int80);
    kprintf("protected mode: cs=0x%x cr0.pe=%u, int 0x80: %u\n", read_cs(), read_cr0() & 1,
            int80(21));
    memcpy((void *)RM_BASE, rm_start, (uptr)(rm_end - rm_start));
    puts_("real-mode code copied to 0x8000, switching\n");
    call_real_mode();
    kprintf("protected mode again: cs=0x%x cr0.pe=%u, int 0x80: %u\n", read_cs(), read_cr0() & 1,
            int80(50));
    if (int80_calls != 2)
        fail(0x20, "int 0x80 went wrong");
    if (RM_VAR(isr60_frame_ok) != 1 || RM_VAR(isr60_if_tf) != 0 || RM_VAR(de_ip_ok) != 1
        || RM_VAR(far_cs) != 0x07F0 || *(volatile u16 *)0x12345 != 0xBEEF)
        fail(0x21, "wrong results in real mode");
    puts_("done\n");
    return 0;
}
