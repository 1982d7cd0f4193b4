/* paging32: 32-bit paging with 4 KiB pages (identity map of 0-4 MiB, two
 * remapped pages at 0x80000000) and a 4 MiB PSE page (0xC0000000 ->
 * physical 0x400000).  Takes a #PF on a not-present page and on a write to
 * a read-only page with CR0.WP set, fixes the mapping in the handler and
 * resumes.  Needs at least 8 MiB of RAM. */
#include "cpu32.h"

#define P 0x001
#define W 0x002
#define A 0x020
#define D 0x040
#define PS 0x080

#define REMAP_VA 0x80000000u     /* -> remap_page */
#define RO_VA    0x80001000u     /* -> ro_page, read-only */
#define PSE_VA   0xC0000000u     /* 4 MiB page -> physical 0x400000 */
#define HOLE_VA  0xA0000010u     /* not present until the handler maps it */

static u32 pd[1024] __attribute__((aligned(4096)));
static u32 pt0[1024] __attribute__((aligned(4096)));    /* 0-4 MiB identity */
static u32 pt1[1024] __attribute__((aligned(4096)));    /* 0x80000000 */
static u32 pt2[1024] __attribute__((aligned(4096)));    /* 0xA0000000, filled by the handler */
static u32 remap_page[1024] __attribute__((aligned(4096)));
static u32 ro_page[1024] __attribute__((aligned(4096)));
static u32 fix_page[1024] __attribute__((aligned(4096)));

/* Memory the CPU or another mapping changes behind the compiler's back. */
#define PEEK(x) (*(volatile u32 *)&(x))

static volatile int faults;

static void on_pf(struct frame *f)
{
    u32 cr2 = read_cr2();
    faults++;
    kprintf("#PF: cr2=0x%08x error=0x%x (%s, %s, %s)\n", cr2, f->err,
            f->err & 1 ? "protection" : "not present", f->err & 2 ? "write" : "read",
            f->err & 4 ? "user" : "supervisor");
    if ((cr2 >> 22) == (HOLE_VA >> 22) && !(f->err & 1)) {
        pt2[(cr2 >> 12) & 1023] = (u32)fix_page | P | W;
        pd[cr2 >> 22] = (u32)pt2 | P | W;
        puts_("  mapped the page\n");
    } else if ((cr2 & ~0xFFFu) == RO_VA && (f->err & 3) == 3) {
        pt1[(cr2 >> 12) & 1023] |= W;
        invlpg(cr2);
        puts_("  made the page writable\n");
    } else {
        fail(0x30, "unexpected page fault");
    }
}

int kmain(u32 magic, u32 info)
{
    (void)info;
    puts_("paging32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");
    gdt_init();
    idt_init();
    set_handler(14, on_pf);

    /* Before paging: write through physical addresses. */
    remap_page[0] = 0x11111111;
    ro_page[0] = 0x33333333;
    fix_page[4] = 0xCAFEBABE;
    *(volatile u32 *)0x401234 = 0x44444444;

    for (u32 i = 0; i < 1024; i++)
        pt0[i] = (i << 12) | P | W;
    pd[0] = (u32)pt0 | P | W;
    pt1[0] = (u32)remap_page | P | W;
    pt1[1] = (u32)ro_page | P;                       /* read-only */
    pd[REMAP_VA >> 22] = (u32)pt1 | P | W;
    pd[PSE_VA >> 22] = 0x400000 | PS | P | W;

    write_cr4(read_cr4() | 0x10);                    /* PSE */
    write_cr3((u32)pd);
    write_cr0(read_cr0() | 0x80010000);              /* PG | WP */
    kprintf("paging on: cr0.pg=%u cr0.wp=%u cr4.pse=%u cr3 == pd: %s\n",
            read_cr0() >> 31, (read_cr0() >> 16) & 1, (read_cr4() >> 4) & 1,
            read_cr3() == (u32)pd ? "yes" : "no");

    volatile u32 *remap = (volatile u32 *)REMAP_VA;
    kprintf("read 0x%08x: 0x%08x\n", REMAP_VA, remap[0]);
    remap[1] = 0x22222222;
    kprintf("wrote 0x%08x, physical page now holds 0x%08x\n", REMAP_VA + 4, PEEK(remap_page[1]));
    kprintf("PSE page: read 0x%08x: 0x%08x\n", PSE_VA + 0x1234,
            *(volatile u32 *)(PSE_VA + 0x1234));

    u32 v = *(volatile u32 *)HOLE_VA;
    kprintf("read 0x%08x after the fault: 0x%08x\n", HOLE_VA, v);

    kprintf("read-only page holds 0x%08x\n", *(volatile u32 *)RO_VA);
    *(volatile u32 *)RO_VA = 0x55555555;
    kprintf("after the write fault it holds 0x%08x\n", PEEK(ro_page[0]));

    kprintf("accessed/dirty: pte(0x%08x) A=%u D=%u, pte(0x%08x) A=%u D=%u, "
            "pde(0x%08x) A=%u D=%u\n",
            REMAP_VA, !!(PEEK(pt1[0]) & A), !!(PEEK(pt1[0]) & D),
            RO_VA, !!(PEEK(pt1[1]) & A), !!(PEEK(pt1[1]) & D),
            PSE_VA, !!(PEEK(pd[PSE_VA >> 22]) & A), !!(PEEK(pd[PSE_VA >> 22]) & D));
    kprintf("page faults taken: %d\n", faults);
    if (faults != 2 || v != 0xCAFEBABE || PEEK(ro_page[0]) != 0x55555555
        || PEEK(remap_page[1]) != 0x22222222)
        fail(0x20, "wrong results");
    puts_("done\n");
    return 0;
}
