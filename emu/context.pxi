# CPU contexts (Machine.context_save/context_restore): the CPU struct as
# bytes, less the software TLBs (a cache, flushed on restore).  What belongs
# to the machine rather than to the CPU's state (host pointers, the decode
# cache, mapped regions, hooks, dirty-page marks, lifetime counters) is kept
# from the live machine when a context is put back.

cdef inline size_t ctx_head(CPU* c) noexcept nogil:
    """Bytes of the struct before the TLBs."""
    return <size_t>(<char*>&c.tlb_r[0] - <char*>c)

cdef inline size_t ctx_after(CPU* c) noexcept nogil:
    """Offset of the first byte after the TLBs."""
    return ctx_head(c) + 3 * 256 * sizeof(TlbEntry)

cdef inline size_t ctx_size(CPU* c) noexcept nogil:
    return sizeof(CPU) - 3 * 256 * sizeof(TlbEntry)

cdef void context_save(CPU* c, uint8_t* blob) noexcept nogil:
    memcpy(blob, c, ctx_head(c))
    memcpy(blob + ctx_head(c), <char*>c + ctx_after(c), sizeof(CPU) - ctx_after(c))

cdef void context_restore(CPU* c, const uint8_t* blob) noexcept nogil:
    cdef CPU* keep = <CPU*>malloc(sizeof(CPU))
    if keep == NULL:
        return
    memcpy(keep, c, sizeof(CPU))
    memcpy(c, blob, ctx_head(c))
    memcpy(<char*>c + ctx_after(c), blob + ctx_head(c), sizeof(CPU) - ctx_after(c))
    c.m = keep.m
    mach_keep(c, keep)
    c.mem, c.mem_size, c.npages = keep.mem, keep.mem_size, keep.npages
    c.io_map, c.absent, c.pv_vcpu = keep.io_map, keep.absent, keep.pv_vcpu
    c.hash, c.jcache, c.page_blocks = keep.hash, keep.jcache, keep.page_blocks
    c.blocks, c.insn_pool, c.m.nblocks, c.m.ninsns = keep.blocks, keep.insn_pool, keep.mach.nblocks, keep.mach.ninsns
    c.use_cache, c.no_chain = keep.use_cache, keep.no_chain
    c.regions, c.nregions, c.frames, c.nframes = keep.regions, keep.nregions, keep.frames, keep.nframes
    memcpy(&c.hk_code_lo[0], &keep.hk_code_lo[0], <size_t>(<char*>&c.hk_pass_addr - <char*>&c.hk_code_lo[0]))
    c.hk_pass_addr = TLB_EMPTY
    c.pv_trap = keep.pv_trap
    c.dirty, c.dirty_log, c.snap_list, c.dirty_frames = keep.dirty, keep.dirty_log, keep.snap_list, keep.dirty_frames
    c.m.ndirty_log, c.m.nsnap, c.snap, c.snap_frames = keep.mach.ndirty_log, keep.mach.nsnap, keep.snap, keep.snap_frames
    c.cov_map, c.cov_mask, c.cov_prev, c.cov_blocks = keep.cov_map, keep.cov_mask, keep.cov_prev, keep.cov_blocks
    c.icount, c.blocks_decoded, c.smc_invalidations = keep.icount, keep.blocks_decoded, keep.smc_invalidations
    c.blocks_chained, c.stop_request = keep.blocks_chained, keep.stop_request
    # a newer jump-cache generation than any the live machine used
    c.key = (keep.key & ~<uint32_t>KEY_DECODE) | (c.key & KEY_DECODE)
    free(keep)
    tlb_flush(c)
    c.next_event = 0
