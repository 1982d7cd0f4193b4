/* v86_32: virtual-8086 mode.  A 32-bit TSS with ESP0/SS0 and an I/O
 * permission bitmap (only port 0x3FF allowed); v86 entered with IRET
 * (EFLAGS.VM = 1), first with IOPL 0 and then with IOPL 3.  The v86 code
 * (v86_32.S, copied to 2000:0000) uses segment arithmetic, the
 * IOPL-sensitive instructions CLI, STI, PUSHF, POPF, INT n and IRET (#GP to
 * the monitor at IOPL 0, which emulates them; executed directly at IOPL 3),
 * IN/OUT through the bitmap, INT n through a DPL-0 gate (#GP) and a DPL-3
 * gate to a 32-bit handler (the v86 stack frame with ES/DS/FS/GS, which are
 * zero in the handler), and leaves v86 mode from the monitor. */
#include "cpu32.h"

#define V86_CS   0x2000
#define RES0_SEG 0x2800
#define RES3_SEG 0x2808
#define SEL_TSS  0x18

struct vframe {                 /* an interrupt from v86 mode */
    struct frame f;             /* ... user_esp, user_ss */
    u32 v_es, v_ds, v_fs, v_gs;
};

static u64 gdt[4];
static struct {
    struct tss32 t;
    u8 iomap[8192];
    u8 end;                     /* all ones, as the bitmap must end */
} __attribute__((packed, aligned(16))) vtss;
static u8 ring0_stack[4096] __attribute__((aligned(16)));

extern u32 enter_v86(const u32 *f);
extern void v86_exit(u32 v) __attribute__((noreturn));
extern char v86_blob[], v86_blob_end[];
extern u32 v86_iopl0_off, v86_iopl3_off, v86_off_cli, v86_off_int40, v86_off_int80a,
    v86_off_int80b;

static u32 run_iopl, vif, gp_count, frames_shown;

static u64 descriptor(u32 base, u32 limit, u32 access, u32 flags)
{
    return (u64)(limit & 0xFFFF) | ((u64)(base & 0xFFFFFF) << 16)
         | ((u64)(access & 0xFF) << 40) | ((u64)((limit >> 16) & 0xF) << 48)
         | ((u64)(flags & 0xF) << 52) | ((u64)(base >> 24) << 56);
}

static u8 *lin(u32 seg, u32 off) { return (u8 *)(uptr)((seg << 4) + (off & 0xFFFF)); }
static u16 rd16(u32 seg, u32 off) { u8 *p = lin(seg, off); return p[0] | (p[1] << 8); }
static void wr16(u32 seg, u32 off, u16 v) { u8 *p = lin(seg, off); p[0] = v; p[1] = v >> 8; }

static void show_frame(const char *what, struct vframe *v)
{
    struct frame *f = &v->f;
    kprintf("  %s frame: eip=%04x cs=%04x eflags=0x%x (vm=%u iopl=%u if=%u) esp=%04x ss=%04x\n",
            what, f->eip, f->cs, f->eflags, (f->eflags >> 17) & 1, (f->eflags >> 12) & 3,
            (f->eflags >> 9) & 1, f->user_esp, f->user_ss);
    kprintf("  %s frame: es=%04x ds=%04x fs=%04x gs=%04x; handler saw ds=%x es=%x fs=%x gs=%x\n",
            what, v->v_es, v->v_ds, v->v_fs, v->v_gs, f->ds, f->es, f->fs, f->gs);
}

static void push16(struct frame *f, u16 val)
{
    f->user_esp = (f->user_esp & ~0xFFFFu) | ((f->user_esp - 2) & 0xFFFF);
    wr16(f->user_ss, f->user_esp, val);
}

static u16 pop16(struct frame *f)
{
    u16 val = rd16(f->user_ss, f->user_esp);
    f->user_esp = (f->user_esp & ~0xFFFFu) | ((f->user_esp + 2) & 0xFFFF);
    return val;
}

/* The monitor: #GP from v86 mode. */
static void on_gp(struct frame *f)
{
    struct vframe *v = (struct vframe *)f;
    if (!(f->eflags & (1u << 17))) {
        kprintf("#GP outside v86: error=0x%x eip=0x%x\n", f->err, f->eip);
        qemu_exit(0x30);
    }
    gp_count++;
    u8 *p = lin(f->cs, f->eip);
    if (f->eip == v86_off_cli && frames_shown < 2) {
        frames_shown++;
        show_frame("#GP", v);
    }
    kprintf("#GP error=0x%x at %04x:%04x op=%02x", f->err, f->cs, f->eip, p[0]);
    switch (p[0]) {
    case 0xFA: vif = 0; f->eip += 1; kprintf(" cli: vif=0\n"); break;
    case 0xFB: vif = 1; f->eip += 1; kprintf(" sti: vif=1\n"); break;
    case 0x9C:
        push16(f, (f->eflags & 0x0DD5) | 0x2 | (vif << 9));
        f->eip += 1;
        kprintf(" pushf: pushed 0x%x\n", rd16(f->user_ss, f->user_esp));
        break;
    case 0x9D: {
        u16 val = pop16(f);
        f->eflags = (f->eflags & ~0x0DD5u) | (val & 0x0DD5);
        vif = (val >> 9) & 1;
        f->eip += 1;
        kprintf(" popf: popped 0x%x, vif=%u\n", val, vif);
        break;
    }
    case 0xCF: {
        u16 ip = pop16(f), cs = pop16(f), fl = pop16(f);
        f->eip = ip;
        f->cs = cs;
        f->eflags = (f->eflags & ~0x0DD5u) | (fl & 0x0DD5);
        vif = (fl >> 9) & 1;
        kprintf(" iret: to %04x:%04x flags=0x%x\n", cs, ip, fl);
        break;
    }
    case 0xCD:
        kprintf(" int 0x%x", p[1]);
        if (p[1] == 0x31) {
            kprintf(": leaving v86 mode\n");
            show_frame("#GP", v);
            kprintf("  registers: ax=%04x bx=%04x cx=%04x dx=%04x\n", f->eax & 0xFFFF,
                    f->ebx & 0xFFFF, f->ecx & 0xFFFF, f->edx & 0xFFFF);
            v86_exit(0x31);
        }
        if (p[1] == 0x21) {
            f->eax += 0x101;
            kprintf(": emulated by the monitor, ax=0x%x\n", f->eax & 0xFFFF);
        } else {
            kprintf(": skipped, ax=0x%x\n", f->eax & 0xFFFF);
        }
        f->eip += 2;
        break;
    case 0xE4: case 0xE6:
        kprintf(" %s port 0x%x: denied\n", p[0] == 0xE4 ? "in" : "out", p[1]);
        f->eip += 2;
        break;
    case 0xEC: case 0xEE:
        kprintf(" %s port 0x%x: denied\n", p[0] == 0xEC ? "in" : "out", f->edx & 0xFFFF);
        if (p[0] == 0xEC)
            f->eax = (f->eax & ~0xFFu) | 0xEE;
        f->eip += 1;
        break;
    default:
        kprintf(" unexpected\n");
        qemu_exit(0x31);
    }
}

static void on_int80(struct frame *f)
{
    struct vframe *v = (struct vframe *)f;
    u32 at = f->eip - 2;
    kprintf("int 0x80 in a 32-bit handler: ax=%x si=%x from %s, cs=0x%x\n", f->eax & 0xFFFF,
            f->esi & 0xFFFF, at == v86_off_int80a ? "int80a" : at == v86_off_int80b ? "int80b" : "?",
            read_cs());
    show_frame("int 0x80", v);
    if ((f->eax & 0xFFFF) == 2)
        v86_exit(0x80);
    f->eax = 0x8080;
    f->esi = 0x5151;
    v->v_es = 0x4321;           /* loaded into ES by the iret back to v86 */
}

static void results(u32 seg, int n)
{
    kprintf("results at %04x:0000:", seg);
    for (int i = 0; i < n; i++)
        kprintf(" %04x", rd16(seg, 2 * i));
    kprintf("\n");
}

static u32 run(u32 iopl, u32 entry, u32 res_seg)
{
    const u32 f[9] = {entry, V86_CS, (1u << 17) | (iopl << 12) | 0x2, 0x1000, 0x3000,
                      0x1235, 0x1234, res_seg, 0x2000};
    run_iopl = iopl;
    vif = 0;
    memset(lin(res_seg, 0), 0xCC, 32);
    memset(lin(0x1234, 0x10), 0, 2);
    u32 r = enter_v86(f);
    kprintf("back in protected mode: enter_v86 returned 0x%x, cs=0x%x ds=0x%x ss=0x%x vm=%u\n",
            r, read_cs(), ({ u32 d; __asm__ volatile("mov %%ds, %0" : "=r"(d)); d & 0xFFFF; }),
            ({ u32 s; __asm__ volatile("mov %%ss, %0" : "=r"(s)); s & 0xFFFF; }),
            (read_eflags() >> 17) & 1);
    kprintf("linear 0x12350 = 0x%x\n", *(volatile u16 *)0x12350);
    return r;
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    puts_("v86_32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    outb(0x21, 0xFF);           /* mask the 8259s: v86 code runs STI */
    outb(0xA1, 0xFF);
    memset(&vtss, 0, sizeof(vtss));
    vtss.t.ss0 = KDATA;
    vtss.t.esp0 = (u32)ring0_stack + sizeof(ring0_stack);
    vtss.t.iomap_base = sizeof(vtss.t);
    memset(vtss.iomap, 0xFF, sizeof(vtss.iomap) + 1);
    vtss.iomap[0x3FF / 8] &= ~(1u << (0x3FF % 8));
    gdt[1] = descriptor(0, 0xFFFFF, 0x9A, 0xC);
    gdt[2] = descriptor(0, 0xFFFFF, 0x92, 0xC);
    gdt[3] = descriptor((u32)&vtss, sizeof(vtss) - 1, 0x89, 0);
    struct { u16 limit; u32 base; } __attribute__((packed)) gp = { sizeof(gdt) - 1, (u32)gdt };
    __asm__ volatile("lgdt %0\n\tljmp %1, $1f\n1:\n\t"
                     "mov %2, %%ds\n\tmov %2, %%es\n\tmov %2, %%fs\n\tmov %2, %%gs\n\tmov %2, %%ss"
                     :: "m"(gp), "i"(KCODE), "r"(KDATA) : "memory");
    __asm__ volatile("ltr %w0" :: "r"(SEL_TSS));
    idt_init();
    idt_gate(0x80, 0xE, 3);
    set_handler(13, on_gp);
    set_handler(0x80, on_int80);
    memcpy(lin(V86_CS, 0), v86_blob, v86_blob_end - v86_blob);
    kprintf("tss limit=0x%x iomap_base=0x%x; v86 code at %04x:0000, %u bytes\n",
            (u32)sizeof(vtss) - 1, vtss.t.iomap_base, V86_CS, (u32)(v86_blob_end - v86_blob));

    puts_("-- v86 with IOPL 0\n");
    u32 r0 = run(0, v86_iopl0_off, RES0_SEG);
    results(RES0_SEG, 9);
    u32 g0 = gp_count;
    puts_("-- v86 with IOPL 3\n");
    u32 r3 = run(3, v86_iopl3_off, RES3_SEG);
    results(RES3_SEG, 13);
    kprintf("#GP count: iopl0=%u iopl3=%u\n", g0, gp_count - g0);
    if (r0 != 0x31 || r3 != 0x80)
        fail(0x20, "v86 runs did not end as planned");
    puts_("done\n");
    return 0;
}
