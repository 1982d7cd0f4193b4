/* Physical frames (a bitmap over the Multiboot memory size) and page
 * tables, for either paging format (PT_LEVELS levels of PT_BITS each).
 * RAM is identity-mapped, so a table's address is its physical address.
 * Tables are written with plain stores until their address space is live
 * (pinned: validated by the supervisor), through pv_ops.mmu.set_pte after. */
#include "guest.h"

#define MAX_FRAMES (256u << 20 >> 12)   /* 256 MiB */
#define ENTRIES (1u << PT_BITS)

extern char _end[];
uptr mem_end;
struct aspace kernel_as;
static u8 used[MAX_FRAMES / 8];
static u32 nframes, nfree;

static int is_used(u32 f) { return used[f / 8] >> (f % 8) & 1; }
static void set_used(u32 f, int on)
{
    if (on) used[f / 8] |= (u8)(1 << (f % 8));
    else used[f / 8] &= (u8)~(1 << (f % 8));
}

uptr frame_alloc(void)
{
    for (u32 f = 0; f < nframes; f++)
        if (!is_used(f)) {
            set_used(f, 1);
            nfree--;
            memset((void *)((uptr)f << 12), 0, PAGE_SIZE);
            return (uptr)f << 12;
        }
    return 0;
}

void frame_free(uptr pa)
{
    u32 f = (u32)(pa >> 12);
    if (f >= nframes || !is_used(f))
        panic("frame_free(%p): not allocated", (void *)pa);
    set_used(f, 0);
    nfree++;
}

void frame_reserve(uptr pa)
{
    u32 f = (u32)(pa >> 12);
    if (f < nframes && !is_used(f)) {
        set_used(f, 1);
        nfree--;
    }
}

u32 frames_free(void) { return nfree; }
u32 frames_total(void) { return nframes; }

static void pte_write(struct aspace *as, pte_t *e, pte_t v)
{
    if (as->live)
        pv_ops.mmu.set_pte(e, v);
    else
        *e = v;
}

pte_t *pte_lookup(struct aspace *as, uptr va, int alloc)
{
    pte_t *table = (pte_t *)as->root;
    for (int level = PT_LEVELS - 1; level > 0; level--) {
        pte_t *e = &table[(va >> (12 + level * PT_BITS)) & (ENTRIES - 1)];
        if (!(*e & PTE_P)) {
            uptr f = alloc ? frame_alloc() : 0;
            if (!f)
                return 0;
            pte_write(as, e, (pte_t)f | PTE_P | PTE_W | PTE_U);
        }
        table = (pte_t *)(uptr)(*e & PTE_ADDR);
    }
    return &table[(va >> 12) & (ENTRIES - 1)];
}

void map_page(struct aspace *as, uptr va, uptr pa, u32 flags)
{
    pte_t *e = pte_lookup(as, va, 1);
    if (!e)
        panic("map_page(%p): out of memory", (void *)va);
    pte_write(as, e, (pte_t)pa | flags);
}

/* A new root sharing the kernel's lower tables (the whole identity map). */
void aspace_new(struct aspace *as)
{
    as->root = frame_alloc();
    as->live = 0;
    memcpy((void *)as->root, (void *)kernel_as.root, PAGE_SIZE);
}

void aspace_activate(struct aspace *as)
{
    if (!as->live) {
        pv_ops.mmu.pin(as->root);
        as->live = 1;
    }
    pv_ops.mmu.write_cr3(as->root);
}

/* Frames: all RAM (mem_upper) but the first MiB and the image; the kernel
 * address space: RAM identity-mapped with 4 KiB pages, page 0 left out to
 * catch null pointers, user-accessible since ring-3 tasks run code of the
 * image. */
void mm_init(void)
{
    if (!(mbi->flags & 1))
        panic("no Multiboot memory size");
    mem_end = ((uptr)mbi->mem_upper + 1024) << 10;
    nframes = (u32)(mem_end >> 12);
    if (nframes > MAX_FRAMES)
        nframes = MAX_FRAMES;
    mem_end = (uptr)nframes << 12;
    u32 first = (u32)(((uptr)_end + PAGE_SIZE - 1) >> 12);
    for (u32 f = 0; f < first; f++)
        set_used(f, 1);
    nfree = nframes - first;
    kernel_as.root = frame_alloc();
    for (uptr pa = PAGE_SIZE; pa < mem_end; pa += PAGE_SIZE)
        map_page(&kernel_as, pa, pa, PTE_P | PTE_W | PTE_U);
    aspace_activate(&kernel_as);
#ifndef __x86_64__
    pv_ops.cpu.write_cr0(pv_ops.cpu.read_cr0() | 0x80000000u);    /* PG */
#endif
}
