#include "cpu32.h"

static u64 gdt[6];
static u64 idt[256];
static handler_t handlers[256];
struct tss32 tss __attribute__((aligned(16)));

extern u32 isr_stubs[256];     /* isr32.S: stub address per vector, 0 if none */

static u64 descriptor(u32 base, u32 limit, u32 access, u32 flags)
{
    return (u64)(limit & 0xFFFF) | ((u64)(base & 0xFFFFFF) << 16)
         | ((u64)(access & 0xFF) << 40) | ((u64)((limit >> 16) & 0xF) << 48)
         | ((u64)(flags & 0xF) << 52) | ((u64)(base >> 24) << 56);
}

void gdt_init(void)
{
    gdt[0] = 0;
    gdt[1] = descriptor(0, 0xFFFFF, 0x9A, 0xC);    /* ring-0 code, 4 GiB, 32-bit */
    gdt[2] = descriptor(0, 0xFFFFF, 0x92, 0xC);    /* ring-0 data */
    gdt[3] = descriptor(0, 0xFFFFF, 0xFA, 0xC);    /* ring-3 code */
    gdt[4] = descriptor(0, 0xFFFFF, 0xF2, 0xC);    /* ring-3 data */
    gdt[5] = descriptor((u32)&tss, sizeof(tss) - 1, 0x89, 0x0);   /* available 32-bit TSS */
    struct { u16 limit; u32 base; } __attribute__((packed)) ptr = { sizeof(gdt) - 1, (u32)gdt };
    __asm__ volatile(
        "lgdt %0\n\t"
        "ljmp %1, $1f\n"
        "1:\n\t"
        "mov %2, %%ds\n\t"
        "mov %2, %%es\n\t"
        "mov %2, %%fs\n\t"
        "mov %2, %%gs\n\t"
        "mov %2, %%ss\n\t"
        :: "m"(ptr), "i"(KCODE), "r"(KDATA) : "memory");
}

void idt_gate(int vector, int type, int dpl)
{
    u32 off = isr_stubs[vector];
    if (!off)
        fail(0x70, "no stub for this vector");
    idt[vector] = (u64)(off & 0xFFFF) | ((u64)KCODE << 16)
                | ((u64)(0x80 | (dpl << 5) | type) << 40) | ((u64)(off >> 16) << 48);
}

void idt_init(void)
{
    for (int v = 0; v < 256; v++)
        if (isr_stubs[v])
            idt_gate(v, 0xE, 0);
    struct { u16 limit; u32 base; } __attribute__((packed)) ptr = { sizeof(idt) - 1, (u32)idt };
    __asm__ volatile("lidt %0" :: "m"(ptr) : "memory");
}

void set_handler(int vector, handler_t h)
{
    handlers[vector] = h;
}

void tss_init(u32 esp0)
{
    memset(&tss, 0, sizeof(tss));
    tss.ss0 = KDATA;
    tss.esp0 = esp0;
    tss.iomap_base = sizeof(tss);       /* no I/O permission bitmap */
    __asm__ volatile("ltr %w0" :: "r"(TSS_SEL));
}

void enter_ring3(void (*eip)(void), u32 esp, u32 eflags)
{
    __asm__ volatile(
        "mov %0, %%ds\n\t"
        "mov %0, %%es\n\t"
        "mov %0, %%fs\n\t"
        "mov %0, %%gs\n\t"
        "pushl %0\n\t"          /* ss */
        "pushl %1\n\t"          /* esp */
        "pushl %2\n\t"          /* eflags */
        "pushl %3\n\t"          /* cs */
        "pushl %4\n\t"          /* eip */
        "iret"
        :: "r"(UDATA), "r"(esp), "r"(eflags), "i"(UCODE), "r"((u32)eip) : "memory");
    __builtin_unreachable();
}

void isr_dispatch(struct frame *f)
{
    if (f->vector < 256 && handlers[f->vector]) {
        handlers[f->vector](f);
        return;
    }
    kprintf("unexpected interrupt: vector %u error 0x%x at %04x:%08x\n",
            f->vector, f->err, f->cs, f->eip);
    qemu_exit(0x7F);
}

/* Called by _start in boot32.S. */
int kmain(u32 magic, u32 info);
void rt_start(u32 magic, u32 info)
{
    serial_init();
    qemu_exit((u32)kmain(magic, info));
}
