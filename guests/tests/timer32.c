/* timer32: programs the 8259 PICs (IRQ 0-15 at vectors 0x20-0x2F, all but
 * IRQ 0 masked) and PIT channel 0 as a rate generator (mode 2, ~1 kHz),
 * then counts timer interrupts with sti; hlt until it has seen TICKS.  It
 * prints only counts and register states, never timings.  The handler masks
 * IRQ 0 after the last tick so that the count cannot overshoot. */
#include "cpu32.h"

#define TICKS 20
#define PIT_DIVISOR 1193        /* 1193182 Hz / 1193: about 1 kHz */

static volatile u32 ticks;
static volatile u32 first_isr, first_if, spurious;

static void pic_init(void)
{
    outb(0x20, 0x11);           /* ICW1: edge, cascade, ICW4 follows */
    outb(0xA0, 0x11);
    outb(0x21, 0x20);           /* ICW2: vector base */
    outb(0xA1, 0x28);
    outb(0x21, 0x04);           /* ICW3: slave on IRQ 2 */
    outb(0xA1, 0x02);
    outb(0x21, 0x01);           /* ICW4: 8086 mode, normal EOI */
    outb(0xA1, 0x01);
    outb(0x21, 0xFE);           /* OCW1: only IRQ 0 unmasked */
    outb(0xA1, 0xFF);
}

static void pit_init(void)
{
    outb(0x43, 0x34);           /* channel 0, lobyte/hibyte, mode 2, binary */
    outb(0x40, PIT_DIVISOR & 0xFF);
    outb(0x40, PIT_DIVISOR >> 8);
}

static void on_timer(struct frame *f)
{
    if (ticks == 0) {
        outb(0x20, 0x0B);       /* OCW3: read the in-service register */
        first_isr = inb(0x20);
        first_if = (read_eflags() >> 9) & 1;
        (void)f;
    }
    if (++ticks == TICKS)
        outb(0x21, 0xFF);       /* mask IRQ 0: no tick after the last one */
    outb(0x20, 0x20);           /* EOI */
}

static void on_spurious(struct frame *f)
{
    (void)f;
    spurious++;                 /* IRQ 7: no EOI for a spurious interrupt */
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    puts_("timer32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    gdt_init();
    idt_init();
    set_handler(0x20, on_timer);
    set_handler(0x27, on_spurious);
    pic_init();
    pit_init();
    outb(0x20, 0x0A);           /* OCW3: read IRR from now on */
    kprintf("pic: master mask=0x%02x slave mask=0x%02x\n", inb(0x21), inb(0xA1));
    puts_("pit: channel 0, mode 2, waiting for interrupts\n");

    u32 halts = 0;
    __asm__ volatile("sti");
    while (ticks < TICKS) {
        __asm__ volatile("hlt");
        halts++;
    }
    __asm__ volatile("cli");
    u32 n = ticks;
    kprintf("ticks=%u\n", n);
    kprintf("first interrupt: in-service=0x%02x if=%u\n", first_isr, first_if);
    kprintf("hlt woke up: %s, pic mask after the last tick=0x%02x\n",
            halts ? "yes" : "no", inb(0x21));
    if (n != TICKS || first_isr != 0x01 || first_if != 0 || !halts)
        fail(0x20, "wrong timer behaviour");
    puts_("done\n");
    return 0;
}
