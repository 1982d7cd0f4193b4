/* tasks32: hardware task switching in 32-bit protected mode.  Six 32-bit
 * TSSs in the GDT (main, A, B, C, and two exception tasks); JMP to a TSS,
 * CALL to a TSS (NT and the back link in the called task, busy bits), IRET
 * back (task return), INT 0x81 through a task gate, #GP through a task gate
 * (a bad selector, and a JMP to the busy current task), and #DF through a
 * task gate (#GP with its gate not present).  Prints the registers each
 * task sees, saved TSS fields, NT, busy bits and CR0.TS. */
#include "cpu32.h"

#define SEL_MAIN 0x18
#define SEL_A    0x20
#define SEL_B    0x28
#define SEL_C    0x30
#define SEL_GP   0x38
#define SEL_DF   0x40
#define NTASKS   6

struct pushad { u32 edi, esi, ebp, esp, ebx, edx, ecx, eax; };

static u64 gdt[9];
static u64 idt[256];
static struct tss32 tsss[NTASKS] __attribute__((aligned(128)));
static u8 stacks[NTASKS][2048] __attribute__((aligned(16)));
static const char *const names[NTASKS] = {"main", "A", "B", "C", "GP", "DF"};

extern u32 isr_stubs[256];
extern u32 regs_after[5];
extern void task_a_entry(void), task_b_entry(void), task_c_entry(void);
extern void task_gp_entry(void), task_df_entry(void);
#define DECL(n) extern u32 n(void); extern char n##_at[], n##_resume[];
DECL(sw_jmp_a) DECL(sw_call_b) DECL(sw_int81) DECL(sw_gp_selector) DECL(sw_gp_busy) DECL(sw_df)

#define T(sel) (&tsss[((sel) >> 3) - 3])
#define TOP(i) ((u32)stacks[i] + sizeof(stacks[i]))

static u64 descriptor(u32 base, u32 limit, u32 access, u32 flags)
{
    return (u64)(limit & 0xFFFF) | ((u64)(base & 0xFFFFFF) << 16)
         | ((u64)(access & 0xFF) << 40) | ((u64)((limit >> 16) & 0xF) << 48)
         | ((u64)(flags & 0xF) << 52) | ((u64)(base >> 24) << 56);
}

static void gate(int v, u32 sel, u32 off, u32 type)
{
    idt[v] = (u64)(off & 0xFFFF) | ((u64)sel << 16) | ((u64)(0x80 | type) << 40)
           | ((u64)(off >> 16) << 48);
}

static u32 type_of(u32 sel) { return (u32)(gdt[sel >> 3] >> 40) & 0xF; }
static u32 read_tr(void) { u32 v = 0; __asm__ volatile("str %w0" : "+r"(v)); return v & 0xFFFF; }
static u32 cr0_ts(void) { return (read_cr0() >> 3) & 1; }
static u32 nt(void) { return (read_eflags() >> 14) & 1; }
static void clts(void) { __asm__ volatile("clts"); }

static void busy_line(void)
{
    kprintf("  busy:");
    for (int i = 0; i < NTASKS; i++)
        kprintf(" %s=%u", names[i], (type_of(0x18 + 8 * i) >> 1) & 1);
    kprintf("\n");
}

/* What a task sees on entry, and where the main task was saved. */
static void task_header(const char *who, int idx, struct pushad *r)
{
    kprintf("task %s: tr=0x%x eax=0x%x ebx=0x%x esp=top-%u nt=%u cr0.ts=%u link=0x%x\n",
            who, read_tr(), r->eax, r->ebx, TOP(idx) - r->esp, nt(), cr0_ts(),
            tsss[idx].link & 0xFFFF);
    busy_line();
    clts();
}

static void saved_main(const char *sw, char *at, char *resume)
{
    struct tss32 *m = &tsss[0];
    u32 eip = m->eip;
    kprintf("  main saved: eip=%s eax=0x%x ebx=0x%x esi=0x%x edi=0x%x ebp=0x%x\n",
            eip == (u32)at ? "at" : eip == (u32)resume ? "resume" : "?",
            m->eax, m->ebx, m->esi, m->edi, m->ebp);
    kprintf("  main saved: eflags=0x%x cs=0x%x ss=0x%x ds=0x%x es=0x%x fs=0x%x gs=0x%x (%s)\n",
            m->eflags, m->cs & 0xFFFF, m->ss & 0xFFFF, m->ds & 0xFFFF, m->es & 0xFFFF,
            m->fs & 0xFFFF, m->gs & 0xFFFF, sw);
}

void task_a_main(struct pushad *r)
{
    task_header("A", 1, r);
    saved_main("ljmp", sw_jmp_a_at, sw_jmp_a_resume);
    for (u32 n = 1;; n++) {
        u32 esi;
        __asm__ volatile("mov $0xA5A50000, %%esi\n\t"
                         "add %1, %%esi\n\t"
                         "ljmp $0x18, $0\n\t"
                         "mov %%esi, %0" : "=a"(esi) : "r"(n) : "esi", "memory", "cc");
        kprintf("task A resumed: esi=0x%x nt=%u cr0.ts=%u link=0x%x\n", esi, nt(), cr0_ts(),
                tsss[1].link & 0xFFFF);
        clts();
    }
}

void task_b_main(struct pushad *r)
{
    task_header("B", 2, r);
    saved_main("lcall", sw_call_b_at, sw_call_b_resume);
    for (u32 n = 1;; n++) {
        tsss[0].eax = 0xB0000000 + n;
        __asm__ volatile("iret" ::: "memory", "cc");
        kprintf("task B resumed after its iret (call %u): nt=%u cr0.ts=%u link=0x%x\n",
                n + 1, nt(), cr0_ts(), tsss[2].link & 0xFFFF);
        busy_line();
        clts();
    }
}

void task_c_main(struct pushad *r)
{
    task_header("C (int 0x81 task gate)", 3, r);
    saved_main("int 0x81", sw_int81_at, sw_int81_resume);
    for (;;) {
        tsss[0].eax = 0xC0FFEE81;
        __asm__ volatile("iret" ::: "memory", "cc");
    }
}

static char *gp_resume_to;

void task_gp_main(u32 err, u32 esp)
{
    kprintf("task GP: error=0x%x tr=0x%x esp=top-%u nt=%u cr0.ts=%u link=0x%x\n", err,
            read_tr(), TOP(4) - esp, nt(), cr0_ts(), tsss[4].link & 0xFFFF);
    busy_line();
    clts();
    u32 eip = tsss[0].eip;
    kprintf("  main saved eip=%s\n", eip == (u32)sw_gp_selector_at ? "gp_selector_at"
            : eip == (u32)sw_gp_busy_at ? "gp_busy_at" : "?");
    tsss[0].eip = (u32)gp_resume_to;
}

void task_df_main(u32 err, u32 esp)
{
    kprintf("task DF: error=0x%x tr=0x%x esp=top-%u nt=%u cr0.ts=%u link=0x%x\n", err,
            read_tr(), TOP(5) - esp, nt(), cr0_ts(), tsss[5].link & 0xFFFF);
    busy_line();
    clts();
    u32 eip = tsss[0].eip;
    kprintf("  main saved eip=%s\n", eip == (u32)sw_df_at ? "df_at" : "?");
    tsss[0].eip = (u32)sw_df_resume;
}

static void after(const char *what, u32 eax)
{
    kprintf("main after %s: eax=0x%x ebx=0x%x esi=0x%x edi=0x%x ebp=0x%x nt=%u cr0.ts=%u tr=0x%x\n",
            what, eax, regs_after[1], regs_after[2], regs_after[3], regs_after[4], nt(),
            cr0_ts(), read_tr());
    if (regs_after[1] != 0x11111111 || regs_after[2] != 0x22222222 ||
        regs_after[3] != 0x33333333 || regs_after[4] != 0x44444444)
        fail(0x21, "registers of the main task not preserved");
    busy_line();
    clts();
}

static void init_task(int i, void (*entry)(void), u32 eax)
{
    struct tss32 *t = &tsss[i];
    memset(t, 0, sizeof(*t));
    t->eip = (u32)entry;
    t->esp = TOP(i);
    t->eflags = 0x2;
    t->cs = KCODE;
    t->ss = t->ds = t->es = t->fs = t->gs = KDATA;
    t->cr3 = read_cr3();
    t->eax = eax;
    t->ebx = 0xB0B00000 + i;
    t->link = 0x7777;          /* must stay unless the task is called */
    t->iomap_base = sizeof(*t);
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    puts_("tasks32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    gdt[0] = 0;
    gdt[1] = descriptor(0, 0xFFFFF, 0x9A, 0xC);
    gdt[2] = descriptor(0, 0xFFFFF, 0x92, 0xC);
    memset(&tsss[0], 0, sizeof(tsss[0]));
    tsss[0].iomap_base = sizeof(tsss[0]);
    tsss[0].link = 0x7777;
    init_task(1, task_a_entry, 0xAAAA0001);
    init_task(2, task_b_entry, 0xBBBB0002);
    init_task(3, task_c_entry, 0xCCCC0003);
    init_task(4, task_gp_entry, 0xD0D00004);
    init_task(5, task_df_entry, 0xDFDF0005);
    for (int i = 0; i < NTASKS; i++)
        gdt[3 + i] = descriptor((u32)&tsss[i], sizeof(struct tss32) - 1, 0x89, 0);
    struct { u16 limit; u32 base; } __attribute__((packed)) gp = { sizeof(gdt) - 1, (u32)gdt },
        ip = { sizeof(idt) - 1, (u32)idt };
    __asm__ volatile("lgdt %0\n\tljmp %1, $1f\n1:\n\t"
                     "mov %2, %%ds\n\tmov %2, %%es\n\tmov %2, %%fs\n\tmov %2, %%gs\n\tmov %2, %%ss"
                     :: "m"(gp), "i"(KCODE), "r"(KDATA) : "memory");
    for (int v = 0; v < 48; v++)
        gate(v, KCODE, isr_stubs[v], 0xE);
    gate(0x81, SEL_C, 0, 0x5);
    gate(13, SEL_GP, 0, 0x5);
    gate(8, SEL_DF, 0, 0x5);
    __asm__ volatile("lidt %0" :: "m"(ip) : "memory");
    kprintf("before ltr: main type=0x%x\n", type_of(SEL_MAIN));
    __asm__ volatile("ltr %w0" :: "r"(SEL_MAIN));
    kprintf("after ltr: tr=0x%x main type=0x%x cr0.ts=%u nt=%u\n", read_tr(), type_of(SEL_MAIN),
            cr0_ts(), nt());

    puts_("-- ljmp to task A\n");
    after("ljmp back from A", sw_jmp_a());
    kprintf("  A saved: eip=%s link=0x%x eflags=0x%x\n",
            tsss[1].eip > (u32)task_a_main ? "in task_a_main" : "?", tsss[1].link & 0xFFFF,
            tsss[1].eflags);
    puts_("-- ljmp to task A again\n");
    after("second ljmp back from A", sw_jmp_a());

    puts_("-- lcall to task B\n");
    after("iret from B", sw_call_b());
    kprintf("  B saved: eflags=0x%x (nt=%u) link=0x%x\n", tsss[2].eflags,
            (tsss[2].eflags >> 14) & 1, tsss[2].link & 0xFFFF);
    puts_("-- lcall to task B again\n");
    after("second iret from B", sw_call_b());

    puts_("-- int 0x81 through a task gate\n");
    after("int 0x81", sw_int81());
    kprintf("  C saved: eflags=0x%x link=0x%x\n", tsss[3].eflags, tsss[3].link & 0xFFFF);

    puts_("-- #GP through a task gate: bad selector\n");
    gp_resume_to = sw_gp_selector_resume;
    after("#GP (selector)", sw_gp_selector());
    puts_("-- #GP through a task gate: ljmp to the busy current task\n");
    gp_resume_to = sw_gp_busy_resume;
    after("#GP (busy)", sw_gp_busy());

    puts_("-- #DF through a task gate: #GP with its gate not present\n");
    idt[13] &= ~(1ull << 47);
    after("#DF", sw_df());
    idt[13] |= 1ull << 47;
    kprintf("  DF saved: link=0x%x; GP link=0x%x\n", tsss[5].link & 0xFFFF,
            tsss[4].link & 0xFFFF);
    puts_("done\n");
    return 0;
}
