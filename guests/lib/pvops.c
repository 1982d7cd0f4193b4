/* Boot, backend selection, console, traps, time arithmetic: the parts of
 * the runtime that do not depend on the backend. */
#include "guest.h"

struct pv_ops pv_ops;
const struct mb_info *mbi;
volatile int need_resched;
void (*timer_hook)(void);

int pv_detect(void)
{
    struct pvemu_cpu_regs r;
    cpuid_raw(1, 0, &r);
    if (!(r.ecx & PVEMU_CPUID_HV_BIT))
        return 0;
    cpuid_raw(PVEMU_CPUID_BASE, 0, &r);
    return r.ebx == PVEMU_SIG_EBX && r.ecx == PVEMU_SIG_ECX && r.edx == PVEMU_SIG_EDX;
}

void pv_select(void)
{
    if (pv_detect()) {
        pv_ops = paravirt_ops;
        paravirt_init();
    } else {
        pv_ops = native_ops;
        native_init();
    }
}

int printk(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    uptr fl = pv_ops.irq.save_fl();     /* whole lines, even with preemption */
    pv_ops.irq.disable();
    pv_ops.console_write(buf, n < (int)sizeof(buf) ? (u32)n : sizeof(buf) - 1);
    pv_ops.irq.restore_fl(fl);
    return n;
}

void panic(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    printk("PANIC: %s\n", buf);
    pv_ops.exit(0x7F);
}

static void exception(trapframe *f)
{
    panic("exception %u, error 0x%x, at %p, cr2 %p", (u32)f->vector, (u32)f->err,
          (void *)FRAME_IP(f), (void *)pv_ops.mmu.read_cr2());
}

void trap_install(int vector, trap_fn h, int dpl)
{
    set_handler(vector, h);
    pv_ops.cpu.set_trap(vector, arch_stub(vector), dpl);
}

void irq_exit(void)
{
    if (need_resched)
        schedule();
}

u32 cmdline_uint(const char *key, u32 def)
{
    if (!(mbi->flags & 4) || !mbi->cmdline)
        return def;
    uptr n = strlen(key);
    for (const char *s = (const char *)(uptr)mbi->cmdline; *s; s++) {
        if ((s == (const char *)(uptr)mbi->cmdline || s[-1] == ' ') && !memcmp(s, key, n) && s[n] == '=') {
            u32 v = 0;
            for (s += n + 1; *s >= '0' && *s <= '9'; s++)
                v = v * 10 + (u32)(*s - '0');
            return v;
        }
    }
    return def;
}

u64 udiv64(u64 n, u64 d)
{
    u64 q = 0, bit = 1;
    while (d < n && !(d >> 63)) {
        d <<= 1;
        bit <<= 1;
    }
    for (; bit; d >>= 1, bit >>= 1)
        if (n >= d) {
            n -= d;
            q |= bit;
        }
    return q;
}

/* The 96-bit product of the vcpu_time_info formula without libgcc. */
u64 scale_delta(u64 delta, u32 mul, int shift)
{
    delta = shift >= 0 ? delta << shift : delta >> -shift;
    return (((delta & 0xFFFFFFFFu) * mul) >> 32) + (delta >> 32) * mul;
}

/* Entered from the Multiboot entry of either width. */
static void boot(u32 magic, u32 info)
{
    mbi = (const struct mb_info *)(uptr)info;
    arch_init();
    pv_select();
    for (int v = 0; v < 32; v++)
        trap_install(v, exception, 0);
#ifdef __x86_64__
    printk("%s (x86-64)\n", guest_name);
#else
    printk("%s (i386)\n", guest_name);
#endif
    printk("backend: %s\n", pv_ops.name);
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        panic("not booted by a Multiboot loader (magic 0x%x)", magic);
    mm_init();
    pv_ops.exit((u32)guest_main());
}

/* guests/tests/runtime: boot32.S calls rt_start, which calls kmain;
 * boot64.h calls kmain64. */
int kmain(u32 magic, u32 info);
int kmain64(u32 magic, u32 info);
int kmain(u32 magic, u32 info) { boot(magic, info); return 0x7E; }
int kmain64(u32 magic, u32 info) { boot(magic, info); return 0x7E; }
