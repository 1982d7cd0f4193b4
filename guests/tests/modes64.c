/* modes64: one image through every mode a PC boots through.  Multiboot
 * starts it in 32-bit protected mode; it drops to real mode (as realmode16
 * does) and from there goes the way a boot loader does after reset: real
 * mode -> 32-bit protected mode (its own GDT, loaded in real mode) -> long
 * mode (PAE page tables, EFER.LME, CR0.PG, a far jump to a 64-bit code
 * segment), printing on COM1 in each and exiting through isa-debug-exit
 * from 64-bit mode.  Everything after the drop to real mode is in
 * modes64.S, copied to MODES_BASE and run from there. */
#include "cpu32.h"

#define MODES_BASE 0x8000

extern char m_start[], m_end[];
void m_gdt_init(void);
void m_go(void);

int kmain(u32 magic, u32 info)
{
    (void)info;
    puts_("modes64\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    outb(0x21, 0xFF);                   /* mask both 8259s: nothing interrupts */
    outb(0xA1, 0xFF);
    m_gdt_init();
    kprintf("multiboot: protected mode, cs=0x%x cr0.pe=%u; %u bytes of code to 0x%x\n",
            read_cs(), read_cr0() & 1, (u32)(m_end - m_start), MODES_BASE);
    memcpy((void *)MODES_BASE, m_start, (uptr)(m_end - m_start));
    m_go();                             /* does not return */
    fail(0x20, "m_go returned");
    return 1;
}
