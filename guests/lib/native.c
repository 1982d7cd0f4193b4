/* The native backend: the privileged instructions themselves.  Timer: the
 * 8254 in one-shot mode (mode 0) on IRQ 0 through the 8259; clock: the TSC,
 * calibrated against the 8254 at boot.  Console: COM1; exit: isa-debug-exit. */
#include "guest.h"
#include "msr.h"

#define PIT_HZ 1193182u

static u64 tsc0;
static u32 tsc_mul;
static int tsc_shift;

void arch_native_gate(int vector, uptr entry, int dpl);
void arch_set_kstack(uptr sp);

static void n_cpuid(u32 leaf, u32 sub, struct pvemu_cpu_regs *r) { cpuid_raw(leaf, sub, r); }
static uptr n_read_cr0(void) { uptr v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static uptr n_read_cr2(void) { uptr v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static uptr n_read_cr3(void) { uptr v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static uptr n_read_cr4(void) { uptr v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static void n_write_cr0(uptr v) { __asm__ volatile("mov %0, %%cr0" :: "r"(v) : "memory"); }
static void n_write_cr3(uptr v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }
static void n_write_cr4(uptr v) { __asm__ volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
static void n_load_idt(const void *p) { __asm__ volatile("lidt (%0)" :: "r"(p) : "memory"); }
static void n_load_tr(u16 sel) { __asm__ volatile("ltr %0" :: "r"(sel)); }
static void n_wbinvd(void) { __asm__ volatile("wbinvd" ::: "memory"); }

static u32 n_io_in(u16 port, int size)
{
    u32 v = 0;
    if (size == 1) { u8 b; __asm__ volatile("inb %1, %0" : "=a"(b) : "Nd"(port)); v = b; }
    else if (size == 2) { u16 w; __asm__ volatile("inw %1, %0" : "=a"(w) : "Nd"(port)); v = w; }
    else __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void n_io_out(u16 port, int size, u32 v)
{
    if (size == 1) __asm__ volatile("outb %b0, %1" :: "a"(v), "Nd"(port));
    else if (size == 2) __asm__ volatile("outw %w0, %1" :: "a"(v), "Nd"(port));
    else __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port));
}

static uptr n_save_fl(void)
{
    uptr f;
    __asm__ volatile("pushf; pop %0" : "=r"(f) :: "memory");
    return f & EFLAGS_IF;
}
static void n_disable(void) { __asm__ volatile("cli" ::: "memory"); }
static void n_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static void n_restore_fl(uptr f) { if (f & EFLAGS_IF) n_enable(); else n_disable(); }
static void n_safe_halt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static void n_halt(void) { __asm__ volatile("hlt" ::: "memory"); }

static void n_set_pte(pte_t *p, pte_t v) { *(volatile pte_t *)p = v; }
static int n_set_pte_batch(const struct pvemu_mmu_update *u, u32 n)
{
    for (u32 i = 0; i < n; i++)
        *(volatile pte_t *)(uptr)u[i].ptr = (pte_t)u[i].val;
    return 0;
}
static void n_flush_tlb_all(void) { n_write_cr3(n_read_cr3()); }
static void n_flush_tlb_one(uptr va) { __asm__ volatile("invlpg (%0)" :: "r"(va) : "memory"); }
static void n_pin(uptr root) { (void)root; }     /* hardware checks nothing */

static u64 n_clock_read(void) { return scale_delta(rdtsc() - tsc0, tsc_mul, tsc_shift); }

static u16 pit_count(void)
{
    outb(0x43, 0x00);                   /* latch channel 0 */
    u8 lo = inb(0x40);
    return (u16)(lo | inb(0x40) << 8);
}

static void n_set_oneshot(u64 deadline)
{
    u64 now = n_clock_read();
    u64 ticks = deadline > now ? udiv64((deadline - now) * PIT_HZ, 1000000000u) : 1;
    if (ticks > 0xFFFF)
        ticks = 0xFFFF;
    outb(0x43, 0x30);                   /* channel 0, lo/hi, mode 0: one interrupt */
    outb(0x40, (u8)(ticks ? ticks : 1));
    outb(0x40, (u8)(ticks >> 8));
}

static void n_console_write(const char *s, u32 n)
{
    while (n--)
        serial_putc(*s++);
}

static __attribute__((noreturn)) void n_exit(u32 status) { qemu_exit(status); }

static void pit_irq(trapframe *f)
{
    (void)f;
    outb(0x20, 0x20);                   /* EOI */
    if (timer_hook)
        timer_hook();
    irq_exit();
}

static void spurious(trapframe *f) { (void)f; }

/* TSC ticks in 10 ms of the 8254 (mode 2, counting down from 65536), as a
 * mul/shift pair for scale_delta. */
static void calibrate_tsc(void)
{
    outb(0x43, 0x34);
    outb(0x40, 0);
    outb(0x40, 0);
    u16 last = pit_count();
    u32 elapsed = 0;
    u64 t0 = rdtsc();
    while (elapsed < PIT_HZ / 100) {
        u16 c = pit_count();
        elapsed += (u16)(last - c);
        last = c;
    }
    u64 d = rdtsc() - t0;
    tsc_shift = 0;
    while (d <= 10000000u) {            /* keep mul below 2^32 */
        d <<= 1;
        tsc_shift++;
    }
    tsc_mul = (u32)udiv64(10000000ull << 32, d);
    tsc0 = rdtsc();
    outb(0x43, 0x30);                   /* mode 0 with no count yet: stopped */
}

void native_init(void)
{
    serial_init();
    /* 8259s: IRQ 0-15 at vectors 0x20-0x2F, all masked but IRQ 0. */
    static const u8 icw[] = { 0x11, 0x20, 0x04, 0x01, 0x11, 0x28, 0x02, 0x01 };
    for (int i = 0; i < 4; i++) {
        outb(0x20 + (i ? 1 : 0), icw[i]);
        outb(0xA0 + (i ? 1 : 0), icw[4 + i]);
    }
    outb(0x21, 0xFE);
    outb(0xA1, 0xFF);
    calibrate_tsc();
    trap_install(VEC_TIMER, pit_irq, 0);
    trap_install(VEC_SPURIOUS, spurious, 0);
}

const struct pv_ops native_ops = {
    .name = "native",
    .cpu = {
        .cpuid = n_cpuid, .read_cr0 = n_read_cr0, .write_cr0 = n_write_cr0,
        .read_cr4 = n_read_cr4, .write_cr4 = n_write_cr4, .read_msr = rdmsr, .write_msr = wrmsr,
        .load_idt = n_load_idt, .set_trap = arch_native_gate, .load_tr = n_load_tr,
        .set_kernel_stack = arch_set_kstack, .io_in = n_io_in, .io_out = n_io_out,
        .wbinvd = n_wbinvd,
    },
    .irq = {
        .save_fl = n_save_fl, .restore_fl = n_restore_fl, .disable = n_disable,
        .enable = n_enable, .safe_halt = n_safe_halt, .halt = n_halt,
    },
    .mmu = {
        .read_cr2 = n_read_cr2, .read_cr3 = n_read_cr3, .write_cr3 = n_write_cr3,
        .set_pte = n_set_pte, .set_pte_batch = n_set_pte_batch, .flush_tlb_all = n_flush_tlb_all,
        .flush_tlb_one = n_flush_tlb_one, .pin = n_pin, .unpin = n_pin,
    },
    .time = { .clock_read = n_clock_read, .set_oneshot = n_set_oneshot },
    .console_write = n_console_write,
    .exit = n_exit,
};
