# Dirty-page tracking and whole-machine snapshots (Machine.snapshot,
# Machine.restore, Machine.dirty_pages).
#
# Every guest store reaches memory through a write-TLB entry or the slow
# path, and both translate the page first: mark_dirty() sits there (tlb_fill
# for ACC_WRITE, wr_slow, wr_sys, the page walker's A/D bits) and in the
# Machine calls that write memory.  A page is marked once: then its write
# TLB entry makes later stores free.  Clearing the marks drops the write TLB
# so that the next store to each page marks it again.
#
# Two marks per frame (CPU.dirty): DIRTY_LOG for dirty_pages() (live
# migration), DIRTY_SNAP for restore().  After snapshot() the first store to
# a page copies the page as it was into CPU.snap (copy on first write), so
# snapshot() copies nothing and restore() copies back only the pages
# written since.

cdef enum:
    DIRTY_LOG = 1
    DIRTY_SNAP = 2

cdef void mark_dirty(CPU* c, uint64_t pa) noexcept nogil:
    cdef uint64_t f = pa >> 12
    cdef uint8_t d
    if f >= c.dirty_frames:
        return
    d = c.dirty[f]
    if d == DIRTY_LOG | DIRTY_SNAP:
        return
    if not (d & DIRTY_LOG):
        c.dirty_log[c.m.ndirty_log] = <uint32_t>f
        c.m.ndirty_log += 1
        d |= DIRTY_LOG
    if not (d & DIRTY_SNAP) and c.snap != NULL and f < c.snap_frames and frame_present(c, f):
        memcpy(c.snap + (f << 12), host_of(c, f << 12), 0x1000)
        c.snap_list[c.m.nsnap] = <uint32_t>f
        c.m.nsnap += 1
        d |= DIRTY_SNAP
    c.dirty[f] = d

cdef inline bint frame_present(CPU* c, uint64_t f) noexcept nogil:
    """Does frame f have host memory (RAM, or a page still mapped)?"""
    return f < c.npages or c.frames[f - c.npages] != NULL

cdef void drop_write_tlb(CPU* c) noexcept nogil:
    cdef int k
    for k in range(256):
        c.tlb_w[k].tag = TLB_EMPTY

cdef void snap_restore_pages(CPU* c) noexcept nogil:
    """Copy back every page written since the snapshot; stores into
    decoded code there invalidate it."""
    cdef uint64_t k, f
    for k in range(c.m.nsnap):
        f = c.snap_list[k]
        if frame_present(c, f):
            memcpy(host_of(c, f << 12), c.snap + (f << 12), 0x1000)
            if c.page_blocks[f] != NULL:
                smc_write(c, f << 12, 0x1000)
        c.dirty[f] &= ~DIRTY_SNAP
    c.m.nsnap = 0
    drop_write_tlb(c)
