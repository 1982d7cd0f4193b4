/* apic_timer32: the local APIC (xAPIC, MMIO at 0xFEE00000) and its timer.
 * Enables the APIC (IA32_APIC_BASE bit 11, spurious-vector register bit 8),
 * masks the 8259s, then:
 *   - one-shot, masked, huge initial count: the current count decreases
 *     between two reads, and reads 0 once the initial count is set to 0;
 *   - one-shot at vector 0x20 with TPR = 0x20: the interrupt stays pending
 *     in the IRR until TPR is lowered, then arrives once, in service (ISR)
 *     in the handler, cleared by the EOI;
 *   - periodic (divide by 16, initial count 62500): counts TICKS interrupts
 *     with sti; hlt, the handler writing EOI each time and masking the LVT
 *     entry after the last, so the count cannot overshoot.
 * Prints counts and register states only: no timings, no APIC version. */
#include "cpu32.h"
#include "msr.h"

#define APIC_BASE_MSR 0x1B
#define APIC          0xFEE00000u
#define APIC_ID       0x020
#define APIC_TPR      0x080
#define APIC_EOI      0x0B0
#define APIC_SVR      0x0F0
#define APIC_ISR      0x100         /* + 0x10 * (vector / 32) */
#define APIC_IRR      0x200
#define APIC_LVT_TIMER 0x320
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_CUR 0x390
#define APIC_TIMER_DIV 0x3E0

#define LVT_MASKED   0x10000
#define LVT_PERIODIC 0x20000
#define TIMER_VECTOR 0x20
#define SPURIOUS_VECTOR 0x2F
#define TICKS 10

static volatile u32 ticks, first_isr, first_if, spurious;

static inline u32 apic_read(u32 reg) { return *(volatile u32 *)(APIC + reg); }
static inline void apic_write(u32 reg, u32 v) { *(volatile u32 *)(APIC + reg) = v; }


static int vector_bit(u32 base, u32 vector)
{
    return (apic_read(base + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}

static void spin(u32 n)
{
    for (volatile u32 i = 0; i < n; i++)
        __asm__ volatile("pause");
}

/* Wait (IF=0 between the checks, sti; hlt to sleep) until ticks >= n. */
static u32 wait_ticks(u32 n)
{
    u32 halts = 0;
    __asm__ volatile("cli");
    while (ticks < n) {
        __asm__ volatile("sti; hlt; cli" ::: "memory");
        halts++;
    }
    return halts;
}

static void on_timer(struct frame *f)
{
    (void)f;
    if (ticks == 0) {
        first_isr = vector_bit(APIC_ISR, TIMER_VECTOR);
        first_if = (read_eflags() >> 9) & 1;
    }
    if (++ticks == TICKS)
        apic_write(APIC_LVT_TIMER, apic_read(APIC_LVT_TIMER) | LVT_MASKED);
    apic_write(APIC_EOI, 0);
}

static void on_spurious(struct frame *f)
{
    (void)f;
    spurious++;                     /* no EOI for the spurious vector */
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    int bad = 0;
    puts_("apic_timer32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    outb(0x21, 0xFF);               /* mask both 8259s: only the APIC timer interrupts */
    outb(0xA1, 0xFF);
    gdt_init();
    idt_init();
    set_handler(TIMER_VECTOR, on_timer);
    set_handler(SPURIOUS_VECTOR, on_spurious);

    u64 base = rdmsr(APIC_BASE_MSR);
    kprintf("apic base msr: base=0x%llx bsp=%llu\n", base & 0xFFFFF000, (base >> 8) & 1);
    wrmsr(APIC_BASE_MSR, base | 0x800);
    base = rdmsr(APIC_BASE_MSR);
    apic_write(APIC_SVR, 0x100 | SPURIOUS_VECTOR);
    apic_write(APIC_TPR, 0);
    apic_write(APIC_LVT_TIMER, LVT_MASKED | TIMER_VECTOR);
    apic_write(APIC_TIMER_DIV, 0x3);    /* divide by 16 */
    kprintf("enabled: msr bit 11=%llu svr=0x%x id=%u tpr=0x%x divide=0x%x\n", (base >> 11) & 1,
            apic_read(APIC_SVR) & 0x1FF, apic_read(APIC_ID) >> 24, apic_read(APIC_TPR) & 0xFF,
            apic_read(APIC_TIMER_DIV) & 0xB);

    /* 1. The current count runs down. */
    apic_write(APIC_TIMER_INIT, 0xFFFFFFFF);
    u32 c1 = apic_read(APIC_TIMER_CUR);
    spin(20000);
    u32 c2 = apic_read(APIC_TIMER_CUR);
    apic_write(APIC_TIMER_INIT, 0);
    u32 c3 = apic_read(APIC_TIMER_CUR);
    kprintf("one-shot, masked: initial=0x%x, current count decreases between two reads: %s; "
            "after initial count 0: current=%u\n", 0xFFFFFFFFu, c2 < c1 ? "yes" : "no", c3);
    bad |= !(c2 < c1) || c3 != 0;

    /* 2. One-shot, held back by the TPR. */
    apic_write(APIC_TPR, 0x20);
    apic_write(APIC_LVT_TIMER, TIMER_VECTOR);
    apic_write(APIC_TIMER_INIT, 1000);
    __asm__ volatile("sti");
    /* Wait for the IRR bit, not for the current count to reach 0: QEMU
     * computes the count from its clock but sets the IRR bit from a timer
     * callback, which may come a little later. */
    while (!vector_bit(APIC_IRR, TIMER_VECTOR))
        ;
    spin(20000);
    u32 held = ticks, irr = vector_bit(APIC_IRR, TIMER_VECTOR);
    kprintf("one-shot with tpr=0x20: expired (current=%u), interrupts=%u, pending in irr=%u\n",
            apic_read(APIC_TIMER_CUR), held, irr);
    apic_write(APIC_TPR, 0);
    wait_ticks(1);
    spin(20000);
    u32 n1 = ticks;
    kprintf("tpr=0: interrupts=%u (in service in the handler=%u, if=%u), after eoi: isr=%u irr=%u, "
            "current=%u\n", n1, first_isr, first_if, vector_bit(APIC_ISR, TIMER_VECTOR),
            vector_bit(APIC_IRR, TIMER_VECTOR), apic_read(APIC_TIMER_CUR));
    bad |= held != 0 || irr != 1 || n1 != 1 || first_isr != 1 || first_if != 0;

    /* 3. Periodic. */
    ticks = 0;
    apic_write(APIC_LVT_TIMER, LVT_PERIODIC | TIMER_VECTOR);
    apic_write(APIC_TIMER_INIT, 62500);
    u32 halts = wait_ticks(TICKS);
    spin(20000);
    u32 n = ticks, lvt = apic_read(APIC_LVT_TIMER);
    kprintf("periodic: initial=%u, ticks=%u, hlt woke up: %s, lvt timer after the last tick=0x%x\n",
            apic_read(APIC_TIMER_INIT), n, halts ? "yes" : "no", lvt & 0x300FF);
    apic_write(APIC_TIMER_INIT, 0);
    kprintf("stopped: current=%u isr=%u\n", apic_read(APIC_TIMER_CUR),
            vector_bit(APIC_ISR, TIMER_VECTOR));
    bad |= n != TICKS || !halts || (lvt & 0x300FF) != (LVT_MASKED | LVT_PERIODIC | TIMER_VECTOR);
    if (bad)
        fail(0x20, "wrong APIC timer behaviour");
    puts_("done\n");
    return 0;
}
