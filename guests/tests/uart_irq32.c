/* uart_irq32: the 16550 UART (COM1) driven by interrupts, IRQ 4 through
 * the 8259 (remapped to vector 0x24; every other IRQ masked).
 *
 * 1. Transmit from the interrupt handler: IER = RDI | THRI; each THRE
 *    interrupt (IIR = 0xC2 with the FIFOs on) sends the next character, and
 *    the one after the last character turns THRI off.  Each character goes
 *    out at once on QEMU, so THRE comes straight back: the UART raises its
 *    line again while the handler runs, the 8259 latches that edge and
 *    delivers it after the EOI: one interrupt per character, plus one.
 * 2. Receive in loopback (MCR bit 4, FIFOs off so that no receive timeout
 *    is involved): with IER = RDI, each character written to THR comes
 *    back as received data: one interrupt each (IIR = 0x04), the handler
 *    reading RBR.  Then, with interrupts off, an overrun: two characters
 *    without reading RBR.
 * The handler never prints (polled output would itself interact with
 * THRI); the results are printed afterwards with THRI off, loopback off. */
#include "cpu32.h"

#define RBR (COM1 + 0)
#define THR (COM1 + 0)
#define IER (COM1 + 1)
#define IIR (COM1 + 2)
#define FCR (COM1 + 2)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)

#define IRQ_VECTOR 0x24

static const char message[] = "hello from the THRE interrupt handler\n";
static const char ping[] = "ping";

static volatile u32 interrupts, thri, rdi, other, sent, done;
static volatile u32 first_iir, iir_changed, first_lsr, lsr_changed;
static volatile char received[8];

static void pic_init(void)
{
    outb(0x20, 0x11);           /* ICW1: edge, cascade, ICW4 follows */
    outb(0xA0, 0x11);
    outb(0x21, 0x20);           /* ICW2: IRQ 0-7 at 0x20, 8-15 at 0x28 */
    outb(0xA1, 0x28);
    outb(0x21, 0x04);           /* ICW3 */
    outb(0xA1, 0x02);
    outb(0x21, 0x01);           /* ICW4: 8086 mode, normal EOI */
    outb(0xA1, 0x01);
    outb(0x21, 0xEF);           /* OCW1: only IRQ 4 */
    outb(0xA1, 0xFF);
}

static void note_iir(u32 iir)
{
    if (interrupts == 1)
        first_iir = iir;
    else if (iir != first_iir)
        iir_changed++;
}

static void on_uart(struct frame *f)
{
    (void)f;
    interrupts++;
    u8 iir = inb(IIR);
    note_iir(iir);
    switch (iir & 0x0F) {
    case 0x02:                  /* THR empty (reading IIR cleared it) */
        thri++;
        if (message[sent]) {
            outb(THR, (u8)message[sent]);
            sent++;
        } else {
            outb(IER, 0x01);    /* THRI off: no more interrupts */
            done = 1;
        }
        break;
    case 0x04: {                /* received data */
        u8 lsr = inb(LSR);
        if (rdi == 0)
            first_lsr = lsr;
        else if (lsr != first_lsr)
            lsr_changed++;
        u8 c = inb(RBR);
        if (rdi < sizeof(received) - 1)
            received[rdi] = (char)c;
        rdi++;
        break;
    }
    default:
        other++;
        break;
    }
    outb(0x20, 0x20);           /* EOI */
}

static void on_spurious(struct frame *f)
{
    (void)f;
    other++;
}

static void wait_for(volatile u32 *v, u32 n)
{
    __asm__ volatile("cli");
    while (*v < n)
        __asm__ volatile("sti; hlt; cli" ::: "memory");
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    int bad = 0;
    puts_("uart_irq32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    gdt_init();
    idt_init();
    set_handler(IRQ_VECTOR, on_uart);
    set_handler(0x27, on_spurious);
    pic_init();
    outb(MCR, 0x0B);            /* DTR RTS OUT2 (OUT2 gates the IRQ on a PC) */
    kprintf("idle: ier=0x%02x iir=0x%02x lsr=0x%02x mcr=0x%02x\n", inb(IER), inb(IIR), inb(LSR),
            inb(MCR));

    /* 1. THRE interrupts */
    puts_("transmitting from the interrupt handler:\n");
    outb(IER, 0x03);            /* RDI | THRI: THRE is set, so an interrupt is due */
    wait_for(&done, 1);
    u32 n1 = interrupts;
    kprintf("thre: %u characters in %u interrupts (thri=%u other=%u), iir=0x%02x every time: %s\n",
            sent, n1, thri, other, first_iir, iir_changed ? "no" : "yes");
    kprintf("after: ier=0x%02x iir=0x%02x lsr=0x%02x\n", inb(IER), inb(IIR), inb(LSR));
    bad |= sent != sizeof(message) - 1 || n1 != sent + 1 || thri != n1 || other
           || first_iir != 0xC2 || iir_changed;

    /* 2. Loopback: received-data interrupts */
    interrupts = 0;
    iir_changed = 0;
    outb(FCR, 0x00);            /* FIFOs off */
    outb(MCR, 0x1B);            /* loopback */
    outb(IER, 0x01);            /* RDI only */
    for (u32 i = 0; ping[i]; i++) {
        while (!(inb(LSR) & 0x20))
            ;
        outb(THR, (u8)ping[i]);
        wait_for(&rdi, i + 1);
    }
    u32 n2 = interrupts;
    u8 iir_idle = inb(IIR);
    /* Overrun, polled: two characters without reading RBR. */
    outb(IER, 0x00);
    outb(THR, 'x');
    while (!(inb(LSR) & 0x20))
        ;
    outb(THR, 'y');
    u8 lsr1 = inb(LSR), lsr2 = inb(LSR), rbr = inb(RBR), lsr3 = inb(LSR);
    u8 msr = inb(COM1 + 6);
    outb(MCR, 0x0B);            /* loopback off: output reaches the port again */
    outb(FCR, 0xC7);            /* FIFOs on, cleared */
    kprintf("loopback: received \"%s\" in %u interrupts (rdi=%u other=%u), iir=0x%02x every time: "
            "%s, lsr in the handler=0x%02x, iir when idle=0x%02x\n", (const char *)received, n2,
            rdi, other, first_iir, iir_changed ? "no" : "yes", first_lsr, iir_idle);
    kprintf("overrun: lsr=0x%02x, then 0x%02x; rbr='%c', then lsr=0x%02x; msr in loopback=0x%02x\n",
            lsr1, lsr2, rbr, lsr3, msr);
    bad |= memcmp((const void *)received, ping, sizeof(ping)) || n2 != 4 || rdi != 4 || other
           || first_iir != 0x04 || iir_changed || lsr_changed;
    bad |= lsr1 != 0x63 || lsr2 != 0x61 || rbr != 'y' || lsr3 != 0x60;
    kprintf("end: ier=0x%02x iir=0x%02x lsr=0x%02x mcr=0x%02x\n", inb(IER), inb(IIR), inb(LSR),
            inb(MCR));
    if (bad)
        fail(0x20, "wrong UART interrupt behaviour");
    puts_("done\n");
    return 0;
}
