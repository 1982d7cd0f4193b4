/* pmode_idt32: its own flat GDT and an IDT; takes #DE (div by zero), #UD
 * (ud2), #GP (a selector beyond the GDT limit, with its error code), #BP
 * (int3) and int 0x80, and resumes after each with iret.  Addresses are
 * printed as offsets from labels in pmode_idt32.S. */
#include "cpu32.h"

extern u32 trigger_de(void), trigger_ud(void), trigger_gp(void), trigger_int3(void);
extern u32 trigger_int80(u32 nr, u32 arg);
extern char de_insn[], de_resume[], ud_insn[], ud_resume[], gp_insn[], gp_resume[];
extern char int3_insn[], int80_insn[];

static const struct { const char *name; const char *addr; } labels[] = {
    {"de_insn", de_insn}, {"ud_insn", ud_insn}, {"gp_insn", gp_insn},
    {"int3_insn", int3_insn}, {"int80_insn", int80_insn},
};

static u32 seen;

static void report(const char *what, struct frame *f)
{
    const char *name = "?";
    u32 off = f->eip;
    for (unsigned i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        u32 d = f->eip - (u32)labels[i].addr;
        if (d < 4) {
            name = labels[i].name;
            off = d;
        }
    }
    kprintf("%s: vector=%u error=0x%x eip=%s+%u cs=0x%x if=%u\n", what, f->vector,
            f->err, name, off, f->cs, (f->eflags >> 9) & 1);
    seen |= 1u << (f->vector == 0x80 ? 31 : f->vector);
}

static void on_de(struct frame *f) { report("#DE", f); f->eip = (u32)de_resume; f->eax = 0xDE; }
static void on_ud(struct frame *f) { report("#UD", f); f->eip = (u32)ud_resume; f->eax = 0x6; }
static void on_gp(struct frame *f) { report("#GP", f); f->eip = (u32)gp_resume; }
static void on_bp(struct frame *f) { report("#BP", f); f->eax = 0xBB; }
static void on_int80(struct frame *f)
{
    report("int 0x80", f);
    kprintf("  syscall nr=%u arg=%u\n", f->eax, f->ebx);
    f->eax = f->ebx * 2 + 1;
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    puts_("pmode_idt32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    gdt_init();
    idt_init();
    idt_gate(3, 0xF, 0);        /* int3 through a trap gate */
    idt_gate(0x80, 0xF, 0);
    set_handler(0, on_de);
    set_handler(6, on_ud);
    set_handler(13, on_gp);
    set_handler(3, on_bp);
    set_handler(0x80, on_int80);
    kprintf("gdt and idt loaded, cs=0x%x\n", read_cs());

    u32 r = trigger_de();
    kprintf("resumed after #DE, eax=0x%x\n", r);
    r = trigger_ud();
    kprintf("resumed after #UD, eax=0x%x\n", r);
    r = trigger_gp();
    kprintf("resumed after #GP, eax=0x%x\n", r);
    r = trigger_int3();
    kprintf("resumed after #BP, eax=0x%x\n", r);
    r = trigger_int80(7, 20);
    kprintf("int 0x80 returned %u\n", r);
    if (seen != ((1u << 0) | (1u << 6) | (1u << 13) | (1u << 3) | (1u << 31)) || r != 41)
        fail(0x20, "an interrupt was missed");
    puts_("done\n");
    return 0;
}
