# Save and restore (emu/savefile.py writes the file): the CPU struct is
# saved whole, as one block, so every field a helper adds to it is saved
# without code here.  What must not go into a file is scrubbed: host
# pointers (guest RAM, the decode cache, the TLB's host addends, the shared
# info pointer) and the decode cache's bookkeeping, which a restored machine
# rebuilds.  tests/test_save_restore.py checks that every pointer field of
# struct CPU in _core.pxd is listed in cpu_scrub.

cdef void cpu_scrub(CPU* t) noexcept nogil:
    """Clear the fields of a copy of the CPU that are host addresses or
    decode-cache state, so the block is position-independent and the same
    for the same guest state."""
    t.mem = NULL
    t.io_map = NULL
    t.pv_vcpu = NULL
    t.absent = NULL
    t.cur = NULL
    t.hash = NULL
    t.jcache = NULL
    t.page_blocks = NULL
    t.blocks = NULL
    t.insn_pool = NULL
    t.regions = NULL                 # mapped regions, hooks, dirty pages, coverage:
    t.frames = NULL                  # the API's (regions.pxi, dirty.pxi, coverage.pxi),
    t.dirty = NULL                   # which a loaded machine keeps its own of
    t.dirty_log = NULL
    t.snap_list = NULL
    t.snap = NULL
    t.cov_map = NULL
    t.m = NULL
    memset(t.mach.cpu, 0, sizeof(t.mach.cpu))   # (smp.pxi's CPU table)
    t.mach.nblocks = 0
    t.mach.ninsns = 0
    t.use_cache = 0
    t.stop_request = 0
    memset(t.tlb_r, 0, sizeof(t.tlb_r))
    memset(t.tlb_w, 0, sizeof(t.tlb_w))
    memset(t.tlb_x, 0, sizeof(t.tlb_x))
    t.walk_global = 0                # (the last walk's findings)
    t.walk_large = 0


cdef void cpu_adopt(CPU* c, const uint8_t* saved) noexcept nogil:
    """Load a scrubbed CPU block into c, keeping c's own host pointers and
    decode cache (which is emptied) and the sizes its memory was made with."""
    cdef CPU keep = c[0]
    memcpy(c, saved, sizeof(CPU))
    c.m = keep.m
    mach_keep(c, &keep)
    c.mem, c.io_map, c.absent = keep.mem, keep.io_map, keep.absent
    c.hash, c.jcache, c.page_blocks = keep.hash, keep.jcache, keep.page_blocks
    c.blocks, c.insn_pool, c.use_cache = keep.blocks, keep.insn_pool, keep.use_cache
    c.mem_size, c.npages = keep.mem_size, keep.npages
    # the API's state stays the loading machine's: regions, hooks, dirty pages, coverage
    c.regions, c.nregions, c.frames, c.nframes = keep.regions, keep.nregions, keep.frames, keep.nframes
    memcpy(c.hk_code_lo, keep.hk_code_lo, sizeof(keep.hk_code_lo))
    memcpy(c.hk_code_hi, keep.hk_code_hi, sizeof(keep.hk_code_hi))
    memcpy(c.hk_block_lo, keep.hk_block_lo, sizeof(keep.hk_block_lo))
    memcpy(c.hk_block_hi, keep.hk_block_hi, sizeof(keep.hk_block_hi))
    memcpy(c.hk_mem_lo, keep.hk_mem_lo, sizeof(keep.hk_mem_lo))
    memcpy(c.hk_mem_hi, keep.hk_mem_hi, sizeof(keep.hk_mem_hi))
    memcpy(c.hk_mem_kind, keep.hk_mem_kind, sizeof(keep.hk_mem_kind))
    c.hk_ncode, c.hk_nblock, c.hk_nmem = keep.hk_ncode, keep.hk_nblock, keep.hk_nmem
    c.dirty, c.dirty_log, c.snap_list, c.dirty_frames = keep.dirty, keep.dirty_log, keep.snap_list, keep.dirty_frames
    c.m.ndirty_log, c.m.nsnap, c.snap, c.snap_frames = keep.mach.ndirty_log, keep.mach.nsnap, keep.snap, keep.snap_frames
    c.cov_map, c.cov_mask, c.cov_prev, c.cov_blocks = keep.cov_map, keep.cov_mask, keep.cov_prev, keep.cov_blocks
    c.pv_vcpu = NULL
    c.cur = NULL
    cache_flush(c)
    c.block_abort = 0
    tlb_flush(c)


cdef void cpu_scrub_bookkeeping(CPU* t) noexcept nogil:
    """Also clear what depends on how a run was cut into calls, not on the
    guest: statistics, the jump-cache generation, the run loop's scratch
    state.  What remains must be equal for a run saved and restored midway
    and one that never stopped (tests/test_save_restore.py)."""
    t.key &= KEY_DECODE
    t.blocks_decoded = 0
    t.smc_invalidations = 0
    t.blocks_chained = 0
    t.chain_stop = 0
    t.budget = 0
    t.block_abort = 0
    t.r[R_BASE] = 0
    # the API's scratch state (hooks.pxi, regions.pxi, dirty.pxi, coverage.pxi):
    # the last slow-path access, the hook that exited, the dirty log's fill
    t.fault_size = 0
    t.fault_value = 0
    t.hk_pass_addr = 0
    t.hk_pass_level = 0
    t.hk_addr = 0
    t.hk_size = 0
    t.hk_kind = 0
    t.mach.ndirty_log = 0
    t.mach.nsnap = 0
    t.cov_prev = 0
    t.cov_blocks = 0
    # output already handed to Python (the buffers are flushed at run ends)
    memset(t.mach.uart.out + t.mach.uart.out_len, 0, OUTBUF_SIZE - t.mach.uart.out_len)
    memset(t.mach.dbg_out + t.mach.dbg_len, 0, OUTBUF_SIZE - t.mach.dbg_len)


def cpu_layout():
    """The CPU struct's layout as (size, fingerprint): a save file made by a
    core whose struct differs (a field added, moved or resized) is refused.
    The fingerprint covers the offsets of the struct's landmarks, so two
    layouts of equal size but different order differ too."""
    cdef CPU* z = NULL
    cdef size_t base = <size_t>z
    marks = (sizeof(CPU), sizeof(Fpu), sizeof(Apic), sizeof(Pit), sizeof(Uart), sizeof(Pic),
             <size_t>&z.lf_res - base, <size_t>&z.cr0 - base, <size_t>&z.mem - base,
             <size_t>&z.tlb_r - base, <size_t>&z.io_map - base, <size_t>&z.mach.uart - base,
             <size_t>&z.mach.pic - base, <size_t>&z.apic - base, <size_t>&z.icount - base,
             <size_t>&z.hash - base, <size_t>&z.pv_on - base, <size_t>&z.absent - base,
             <size_t>&z.dr_exec - base, <size_t>&z.fpu - base)
    import zlib
    return sizeof(CPU), zlib.crc32(repr(marks).encode())


cdef extern from "<sys/mman.h>":
    int mincore(void* addr, size_t length, unsigned char* vec) nogil


cdef bint page_is_zero(const uint8_t* p) noexcept nogil:
    cdef const uint64_t* w = <const uint64_t*>p
    cdef int k
    for k in range(512):
        if w[k]:
            return False
    return True


cdef void cpu_copy_scrubbed(CPU* c, CPU* t, bint guest_only) noexcept nogil:
    """t = c with host pointers (and with guest_only, bookkeeping) cleared."""
    t[0] = c[0]
    cpu_scrub(t)
    if guest_only:
        cpu_scrub_bookkeeping(t)


cdef uint64_t list_frames(CPU* c, uint32_t* nums, unsigned char* resident) noexcept nogil:
    """Write the numbers of the frames worth saving (not ballooned out, not
    all zero) to nums; returns how many.  resident: scratch, a byte a frame."""
    cdef uint64_t f, n = 0
    # Pages the guest never touched have no memory behind them yet
    # (mincore says so): they are zero without being read.
    if mincore(c.mem, c.mem_size, resident) != 0:
        memset(resident, 1, c.npages)
    for f in range(c.npages):
        if (c.absent != NULL and c.absent[f]) or not (resident[f] & 1):
            continue
        if not page_is_zero(c.mem + (f << 12)):
            nums[n] = <uint32_t>f
            n += 1
    return n


cdef void copy_frames(CPU* c, const uint32_t* nums, uint64_t n, uint8_t* dst, bint out) noexcept nogil:
    """Frames nums[0..n) to dst one after another (out), or back from it."""
    cdef uint64_t k
    for k in range(n):
        if out:
            memcpy(dst + (k << 12), c.mem + (<uint64_t>nums[k] << 12), 0x1000)
        else:
            memcpy(c.mem + (<uint64_t>nums[k] << 12), dst + (k << 12), 0x1000)
