/* long64 (64-bit part): prints from 64-bit mode, takes #BP (int3), #PF (a
 * not-present PDPT entry, mapped by the handler) and #GP (a non-canonical
 * address) through a 64-bit IDT, and exits. */
#include "cpu64.h"
#include "msr.h"

extern u64 pml4[512], pdpt[512], pd[512], pt[512];
extern char int3_insn[], gp_insn[], gp_resume[];

static u64 pd2[512] __attribute__((aligned(4096)));
static volatile int bp_seen, pf_seen, gp_seen;

#define FAULT_VA 0x40100000ULL          /* pdpt[1]: not present */
#define MARKER_PA 0x300000ULL           /* what FAULT_VA maps to once fixed */

static inline u64 read_cr(int n)
{
    u64 v = 0;
    switch (n) {
    case 0: __asm__ volatile("mov %%cr0, %0" : "=r"(v)); break;
    case 2: __asm__ volatile("mov %%cr2, %0" : "=r"(v)); break;
    case 3: __asm__ volatile("mov %%cr3, %0" : "=r"(v)); break;
    case 4: __asm__ volatile("mov %%cr4, %0" : "=r"(v)); break;
    }
    return v;
}

void isr64_dispatch(struct frame64 *f)
{
    switch (f->vector) {
    case 3:
        bp_seen++;
        kprintf("#BP: vector=%llu rip=int3_insn+%llu cs=0x%llx ss=0x%llx\n", f->vector,
                f->rip - (u64)int3_insn, f->cs, f->ss);
        return;
    case 14: {
        u64 cr2 = read_cr(2);
        pf_seen++;
        kprintf("#PF: cr2=0x%llx error=0x%llx cs=0x%llx\n", cr2, f->err, f->cs);
        if ((cr2 >> 30) != 1 || (f->err & 1))
            break;
        pd2[0] = 0x200000 | 0x83;       /* 2 MiB page: P, W, PS */
        pdpt[1] = (u64)pd2 | 3;
        puts_("  mapped 0x40000000-0x40200000 -> 0x200000\n");
        return;
    }
    case 13:
        gp_seen++;
        kprintf("#GP: error=0x%llx rip=gp_insn+%llu\n", f->err, f->rip - (u64)gp_insn);
        f->rip = (u64)gp_resume;
        return;
    }
    kprintf("unexpected interrupt: vector %llu error 0x%llx at %llx:%llx\n", f->vector, f->err,
            f->cs, f->rip);
    qemu_exit(0x7F);
}

int kmain64(u32 magic, u32 info)
{
    (void)info;
    serial_init();
    puts_("long64\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    u64 efer = rdmsr(0xC0000080);
    u16 cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    kprintf("in 64-bit mode: cs=0x%x efer.lme=%llu efer.lma=%llu cr0.pg=%llu cr4.pae=%llu "
            "cr3 == pml4: %s\n", cs, (efer >> 8) & 1, (efer >> 10) & 1, read_cr(0) >> 31,
            (read_cr(4) >> 5) & 1, read_cr(3) == (u64)pml4 ? "yes" : "no");
    volatile u64 a = 0x0123456789ABCDEFULL, b = 1000000000000000000ULL;
    kprintf("sizeof(long)=%u  0x%llx << 4 = 0x%llx  10^18 / 7 = %llu  -a = %lld\n",
            (u32)sizeof(long), a, a << 4, b / 7, -(long long)a);

    idt64_init(0x18);
    idt64[3].type = 0x8F;               /* int3 through a trap gate */
    *(volatile u64 *)MARKER_PA = 0x1122334455667788ULL;
    __asm__ volatile("int3_insn: int3" ::: "memory");
    u64 v = *(volatile u64 *)FAULT_VA;
    kprintf("read 0x%llx after the fault: 0x%llx\n", FAULT_VA, v);
    u64 r = 0x8000000000000000ULL;
    __asm__ volatile("gp_insn: mov (%0), %0\ngp_resume:" : "+r"(r) :: "memory");
    kprintf("resumed after #GP, faults: bp=%d pf=%d gp=%d\n", bp_seen, pf_seen, gp_seen);
    if (bp_seen != 1 || pf_seen != 1 || gp_seen != 1 || v != 0x1122334455667788ULL)
        fail(0x20, "wrong results");
    puts_("done\n");
    return 0;
}
