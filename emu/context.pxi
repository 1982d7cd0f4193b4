# CPU contexts (Machine.context_save/context_restore): the CPU struct as
# bytes, less the software TLBs (a cache, flushed on restore).  What belongs
# to the machine rather than to the CPU's state (host pointers, the decode
# cache, mapped regions, hooks, dirty-page marks, lifetime counters, console
# output on its way out) is kept from the live machine when a context is put
# back.

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

cdef struct Span:
    size_t off, n

cdef Span KEPT[64]        # the fields a restore leaves alone, in struct order
cdef int NKEPT = 0

cdef void keep(CPU* c, void* field, size_t n) noexcept nogil:
    global NKEPT
    cdef int k = NKEPT
    cdef size_t off = <size_t>(<char*>field - <char*>c)
    while k > 0 and KEPT[k - 1].off > off:      # insertion: the spans stay sorted
        KEPT[k] = KEPT[k - 1]
        k -= 1
    KEPT[k].off, KEPT[k].n = off, n
    NKEPT += 1

cdef void find_kept(CPU* c) noexcept nogil:
    """KEPT: what belongs to the machine rather than to the CPU's state."""
    keep(c, &c.tlb_r[0], 3 * 256 * sizeof(TlbEntry))     # not in a context at all
    keep(c, &c.mem, sizeof(c.mem)); keep(c, &c.mem_size, sizeof(c.mem_size)); keep(c, &c.npages, sizeof(c.npages))
    keep(c, &c.io_map, sizeof(c.io_map)); keep(c, &c.absent, sizeof(c.absent)); keep(c, &c.pv_vcpu, sizeof(c.pv_vcpu))
    keep(c, &c.hash, sizeof(c.hash)); keep(c, &c.jcache, sizeof(c.jcache))
    keep(c, &c.page_blocks, sizeof(c.page_blocks)); keep(c, &c.blocks, sizeof(c.blocks))
    keep(c, &c.insn_pool, sizeof(c.insn_pool)); keep(c, &c.mach.nblocks, sizeof(c.mach.nblocks))
    keep(c, &c.mach.ninsns, sizeof(c.mach.ninsns)); keep(c, &c.use_cache, sizeof(c.use_cache))
    keep(c, &c.no_chain, sizeof(c.no_chain)); keep(c, &c.regions, sizeof(c.regions))
    keep(c, &c.nregions, sizeof(c.nregions)); keep(c, &c.frames, sizeof(c.frames))
    keep(c, &c.nframes, sizeof(c.nframes))
    keep(c, &c.hk_code_lo[0], <size_t>(<char*>&c.hk_pass_addr - <char*>&c.hk_code_lo[0]))   # hooks
    keep(c, &c.pv_trap, sizeof(c.pv_trap))
    keep(c, &c.dirty, sizeof(c.dirty)); keep(c, &c.dirty_log, sizeof(c.dirty_log))
    keep(c, &c.snap_list, sizeof(c.snap_list)); keep(c, &c.dirty_frames, sizeof(c.dirty_frames))
    keep(c, &c.mach.ndirty_log, sizeof(c.mach.ndirty_log)); keep(c, &c.mach.nsnap, sizeof(c.mach.nsnap))
    keep(c, &c.snap, sizeof(c.snap)); keep(c, &c.snap_frames, sizeof(c.snap_frames))
    keep(c, &c.cov_map, sizeof(c.cov_map)); keep(c, &c.cov_mask, sizeof(c.cov_mask))
    keep(c, &c.cov_prev, sizeof(c.cov_prev)); keep(c, &c.cov_blocks, sizeof(c.cov_blocks))
    keep(c, &c.icount, sizeof(c.icount)); keep(c, &c.blocks_decoded, sizeof(c.blocks_decoded))
    keep(c, &c.smc_invalidations, sizeof(c.smc_invalidations))
    keep(c, &c.blocks_chained, sizeof(c.blocks_chained)); keep(c, &c.stop_request, sizeof(c.stop_request))
    # output not yet handed to the host (COM1, port 0xE9): neither dropped nor repeated
    keep(c, &c.mach.uart.out[0], sizeof(c.mach.uart.out)); keep(c, &c.mach.uart.out_len, sizeof(c.mach.uart.out_len))
    keep(c, &c.mach.dbg_out[0], sizeof(c.mach.dbg_out)); keep(c, &c.mach.dbg_len, sizeof(c.mach.dbg_len))
    # the machine's CPUs and their interleaving (smp.pxi), and the way to the shared state
    keep(c, &c.m, sizeof(c.m)); keep(c, &c.mach.cpu[0], sizeof(c.mach.cpu))
    keep(c, &c.mach.ncpus, sizeof(c.mach.ncpus)); keep(c, &c.mach.cur, sizeof(c.mach.cur))
    keep(c, &c.mach.target, sizeof(c.mach.target)); keep(c, &c.mach.quantum, sizeof(c.mach.quantum))
    keep(c, &c.cpu_index, sizeof(c.cpu_index)); keep(c, &c.idle_cap, sizeof(c.idle_cap))

cdef CPU* _layout = <CPU*>calloc(1, sizeof(CPU))    # offsets only: found once, at import
find_kept(_layout)
free(_layout)

cdef void context_restore(CPU* c, const uint8_t* blob) noexcept nogil:
    """Copy the context in around the kept fields (KEPT), in place."""
    cdef uint32_t key = c.key
    cdef size_t pos = 0, end
    cdef int k
    for k in range(NKEPT + 1):
        end = KEPT[k].off if k < NKEPT else sizeof(CPU)
        if end > pos:               # a gap lies wholly before or after the TLBs
            memcpy(<char*>c + pos, blob + (pos if pos < ctx_head(c) else pos - (ctx_after(c) - ctx_head(c))),
                   end - pos)
        if k < NKEPT and KEPT[k].off + KEPT[k].n > pos:
            pos = KEPT[k].off + KEPT[k].n
    c.hk_pass_addr = TLB_EMPTY
    # a newer jump-cache generation than any the live machine used
    c.key = (key & ~<uint32_t>KEY_DECODE) | (c.key & KEY_DECODE)
    tlb_flush(c)
    look_now(c)
