# The decode cache: blocks of predecoded instructions, found by physical
# address through a hash table, and by instruction pointer through a
# direct-mapped jump cache in front of it.  A block ends at a branch other
# than a conditional one, at a page boundary or after BLOCK_MAX instructions:
# a Jcc, LOOPcc or JrCXZ not taken goes on in its block (a side exit: a
# superblock, one block transition fewer), a branch to one of the block's
# own instructions (back to its start, or over a few of them) runs it again
# from there without a lookup (self_n: dispatch.pxi chain_self),
# and a JMP or CALL rel whose target is on the block's first page goes on at
# the target (followed: a chain of short blocks joined by JMPs becomes one),
# except while edge coverage or block hooks need the basic blocks.  Each physical page keeps a
# list of the blocks on it, so a store into the page (smc_write) invalidates
# exactly the blocks whose bytes it overlaps: a block with followed JMPs
# covers the hull of its runs of code, from `back` bytes before its start.

cdef enum:
    HASH_SIZE = 16384
    JC_SIZE = 4096
    MAX_BLOCKS = 16384
    MAX_INSNS = 131072
    BLOCK_MAX = 64
    MAX_RUNS = 8           # straight runs of code joined by followed JMPs in one block

cdef inline uint32_t hash_phys(uint64_t pa) noexcept nogil:
    return <uint32_t>((pa ^ (pa >> 13)) & (HASH_SIZE - 1))

cdef enum:
    KEY_DECODE = 0xFF      # the bits of CPU.key that say how code decodes
    KEY_GEN = 0x100        # one jump-cache generation

# An empty jump-cache slot points here rather than to NULL, so a lookup is
# one test fewer: key 0 (an invalidated block's) never equals CPU.key, whose
# low byte holds the code size.
cdef Block NO_ENTRY

cdef void jcache_clear(Block** jc) noexcept nogil:
    cdef uint32_t k
    for k in range(JC_SIZE):
        jc[k] = &NO_ENTRY

cdef inline void jcache_flush(CPU* c) noexcept nogil:
    """Forget which block each rip starts: needed when the CS base or the
    page mapping changes (blocks themselves are keyed by physical address).
    A jump-cache hit needs the block's key to equal CPU.key, generation
    included, and a block only gets the current key when it is built or
    found again by physical address for this rip; so starting a new
    generation forgets every entry at once.  The table is only cleared when
    the 24-bit generation wraps."""
    c.key += KEY_GEN * MAX_CPUS        # (CPU k's generations are k modulo MAX_CPUS: smp.pxi)
    if c.key < KEY_GEN * MAX_CPUS:
        jcache_clear(c.jcache)

cdef void cache_flush(CPU* c) noexcept nogil:
    """Drop every decoded block (the pool is full, or the mode changed)."""
    cdef uint32_t k
    memset(c.hash, 0, HASH_SIZE * sizeof(Block*))
    for k in range(c.m.ncpus):         # every CPU's jump cache points into the pool
        jcache_clear(c.m.cpu[k].jcache)
        jcache_flush(c.m.cpu[k])
    memset(c.page_blocks, 0, c.nframes * sizeof(Block*))
    c.m.nblocks = 0
    c.m.ninsns = 0
    c.block_abort = 1

cdef void block_unhash(CPU* c, Block* b) noexcept nogil:
    cdef Block** pp = &c.hash[hash_phys(b.phys)]
    while pp[0] != NULL:
        if pp[0] == b:
            pp[0] = b.hnext
            return
        pp = &pp[0].hnext

cdef inline uint32_t block_slot(Block* b, uint64_t page) noexcept nogil:
    return 0 if (b.phys >> 12) == page else 1

cdef void smc_write(CPU* c, uint64_t pa, uint32_t size) noexcept nogil:
    """A store to [pa, pa + size) hit a page holding code: invalidate the
    blocks it overlaps, and end the running block (it may be one of them)."""
    cdef uint64_t page = pa >> 12, lo, hi
    cdef Block** pp = &c.page_blocks[page]
    cdef Block* b
    cdef uint32_t slot
    while pp[0] != NULL:
        b = pp[0]
        slot = block_slot(b, page)
        if b.key != 0:
            if slot == 0:
                lo = b.phys - b.back
                hi = b.phys + b.vlen
                if hi > (page + 1) << 12:
                    hi = (page + 1) << 12
            else:
                lo = page << 12
                hi = lo + (b.phys + b.vlen - (((b.phys >> 12) + 1) << 12))
            if pa < hi and pa + size > lo:
                b.key = 0
                block_unhash(c, b)
                c.block_abort = 1
                c.smc_invalidations += 1
        if b.key == 0:
            pp[0] = b.pnext[slot]         # unlink (also blocks invalidated via their other page)
        else:
            pp = &b.pnext[slot]

cdef int fetch_code(CPU* c, uint64_t la, uint8_t* buf, int want, uint64_t* pages) noexcept nogil:
    """Copy up to `want` code bytes at linear la into buf; returns how many
    could be fetched.  pages[0..1] get the physical pages touched."""
    cdef uint64_t pa
    cdef int got = 0, n
    pages[1] = TLB_EMPTY
    while got < want:
        if translate(c, (la + got) & c.lamask, ACC_FETCH, &pa):
            break
        if got == 0:
            pages[0] = pa >> 12
        else:
            pages[1] = pa >> 12
        n = 0x1000 - <int>(pa & 0xFFF)
        if n > want - got:
            n = want - got
        memcpy(buf + got, host_of(c, pa), n)
        got += n
    return got

cdef inline bint in_runs(int32_t* lo, int32_t* hi, uint32_t n, int64_t off) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        if lo[k] <= off < hi[k]:
            return True
    return False

cdef bint target_on_page(CPU* c, Insn* i, uint64_t rip, uint64_t la, int32_t* d) noexcept nogil:
    """(build_block) Is the target of a JMP or CALL rel (set_rel_target done) on the
    linear page of the block's start la, plainly valid (canonical, not
    `until`)?  d = its offset from the block's start: the target is exactly
    rip + d, so every rip in the block is R_BASE + an offset, as before."""
    cdef uint64_t t = (rip + i.imm) & i.imm2
    cdef int64_t delta = <int64_t>(t - rip)
    if not canonical(t) or (c.has_until and t == c.until) or not (-0x1000 < delta < 0x1000):
        return False
    d[0] = <int32_t>delta
    return (((la + <uint64_t>delta) & c.lamask) >> 12) == (la >> 12)

cdef Block* build_block(CPU* c, uint64_t rip, uint64_t pa) noexcept nogil:
    """Decode a block at rip (physical pa).  NULL if its first instruction
    cannot be fetched (c.exc_* / fault_* set)."""
    cdef Block* b
    cdef Insn* i
    cdef Insn* prev = NULL                 # the instruction before i
    cdef uint8_t buf[16]
    cdef uint64_t pages[2]
    cdef uint64_t la = (c.segbase[S_CS] + rip) & c.lamask, page2 = TLB_EMPTY
    cdef uint32_t n = 0, m = 0, k, e, mk, bmk, limit = BLOCK_MAX if c.use_cache else 1
    cdef int32_t off = 0, d, lo = 0, hi = 0    # (lo, hi: the hull of the runs)
    cdef int32_t run_lo[MAX_RUNS]
    cdef int32_t run_hi[MAX_RUNS]
    cdef uint32_t nruns = 0                    # runs ended by a followed JMP
    cdef int32_t start = 0                     # the current run's start
    cdef int got, length
    cdef bint falls = False
    cdef bint ends = False      # branches, exits and anything that may change how what follows decodes
    cdef bint hooked, guarded = False, rel, jmp, call, selfs = False, keep
    cdef bint follow = c.cov_map == NULL and c.hk_nblock == 0
    if not c.use_cache:
        c.m.nblocks = c.m.ninsns = 0
    elif c.m.nblocks >= MAX_BLOCKS or c.m.ninsns + 2 * BLOCK_MAX + 4 > MAX_INSNS:
        cache_flush(c)
    b = &c.blocks[c.m.nblocks]
    b.insns = &c.insn_pool[c.m.ninsns]
    if c.cov_map != NULL:                      # coverage.pxi: the edge counter first
        set_cov_marker(&b.insns[0], rip)
        n = 1
    bmk = n
    if block_hooked(c, rip):                   # hooks.pxi: then the block hook's marker
        set_marker(&b.insns[n], HOOK_BLOCK, 0, 0)
        n += 1
    # n counts entries (instructions and hook markers), m instructions
    while m < limit:
        if nruns and in_runs(run_lo, run_hi, nruns, off):
            break                          # back into a run decoded before
        hooked = code_hooked(c, (rip + off) & c.ipmask)
        mk = n
        if hooked:
            n += 1                             # room for the marker before it
        i = &b.insns[n]
        got = fetch_code(c, la + off, buf, 15, pages)
        length = decode_one(c.mode, i, buf, got, &ends) if got > 0 else -1
        if length < 0:
            n = mk
            if m > 0:
                break                      # let the next block fault on it
            if got == 0:
                unmapped(c, (la + off) & c.lamask, ACC_FETCH)
            else:
                unmapped(c, (la + off + got) & c.lamask, ACC_FETCH)
            return NULL
        if hooked:
            set_marker(&b.insns[mk], HOOK_CODE, off, m)
            b.insns[mk].imm = <uint32_t>length
        if seg_guard_needed(c, i):             # limits.pxi: a guard before it, and the block ends
            memcpy(&b.insns[n + 1], i, sizeof(Insn))
            set_marker(i, 0, off, m)
            i.fn = h_seg_guard
            n += 1
            i = &b.insns[n]
            guarded = True
        if pages[1] != TLB_EMPTY and <uint32_t>length > 0x1000 - ((la + off) & 0xFFF):
            page2 = pages[1]               # the instruction straddles two pages
        if (ends and (i.fn == h_jcc or i.fn == h_loop or i.fn == h_jcxz)
                and c.cov_map == NULL and c.hk_nblock == 0):
            ends = False                   # a superblock: a Jcc not taken goes on in this block
        # (may the last instruction run on into the next block, which its own
        # decoding does not affect?  Then the end marker chains: dispatch.pxi)
        falls = not ends or i.fn == h_jcc or i.fn == h_loop or i.fn == h_jcxz
        jmp = i.fn == h_jmp_rel
        call = i.fn == h_call_rel
        rel = jmp or call or i.fn == h_jcc or i.fn == h_loop or i.fn == h_jcxz
        if i.base == R_BASE:
            i.disp += off + length         # RIP-relative: from the block's start
        i.off = off
        off += length
        i.next = off
        if rel:
            set_rel_target(c, i, rip)      # control.pxi
        i.idx = <uint8_t>m
        n += 1
        m += 1
        if off > hi:
            hi = off
        if ((jmp or call) and follow and nruns < MAX_RUNS and m + 1 < limit and page2 == TLB_EMPTY
                and target_on_page(c, i, rip, la, &d)
                and not (start <= d < off) and not in_runs(run_lo, run_hi, nruns, d)):
            # it retires (a CALL pushes) and goes on at its target, decoded next
            i.fn = h_jmp_on if jmp else h_call_on
            i.disp = d
            run_lo[nruns] = start
            run_hi[nruns] = off
            nruns += 1
            start = off = d
            if d < lo:
                lo = d
            ends = False
        if rel and not call and i.fn != h_jmp_on and i.imm2 >= c.ipmask:
            i.self_n = 1                   # its target may be in this block (below)
            selfs = True
        specialize(c, i)
        sse_specialize(i)                  # the SSE variants (sse_fast.pxi)
        x87_specialize(i)                  # the x87 variants (x87_fast.pxi)
        if call and not canonical((rip + i.imm) & i.imm2):   # (never a followed one)
            i.fn = h_call_rel              # which faults before the push
        if prev != NULL and not hooked:
            fuse_pair(c, prev, i)          # CMP/SUB/TEST + Jcc (control.pxi)
        prev = i
        if (ends or guarded or i.fn == h_ud or i.fn == h_gp0 or page2 != TLB_EMPTY or ((la + off) >> 12) != (la >> 12)
                or rip + off > c.ipmask or (c.has_until and rip + off == c.until)):
            break
    if n == m:
        drop_dead_flags(b.insns, n)        # flag liveness (gen_variants.py); not with markers
        fuse_pairs(b.insns, n)             # then superinstructions (gen_variants.py PAIRS)
    if selfs:
        # A branch to an instruction of its own block runs this very block
        # again from there (dispatch.pxi chain_self): self_n is the block's
        # length, 0 where the target is not one of its entries, there are
        # markers among the instructions, or no block is kept.
        keep = n == m and c.use_cache
        for k in range(n):
            if b.insns[k].self_n:
                e = inner_entry(b.insns, n, &b.insns[k]) if keep else n
                b.insns[k].self_n = <uint8_t>n if e < n else 0
                if e < n:
                    first_of(&b.insns[k])[0] = &b.insns[e]     # instead of its link
                    self_retired(&b.insns[k])[0] = <uint64_t>k + 1 - e   # instead of its target (idx: n == m)
                    self_reach(&b.insns[k])[0] = <uint64_t>k + 1 - e + n
    memset(&b.insns[n], 0, sizeof(Insn))
    b.insns[n].fn = h_guard_end if guarded else (h_block_next if falls else h_block_end)   # the end marker
    b.insns[n].off = b.insns[n].next = off
    b.insns[n].idx = <uint8_t>m
    if b.insns[bmk].fn == h_hook and b.insns[bmk].sub == HOOK_BLOCK:
        b.insns[bmk].imm = off             # the block hook reports the block's size
    b.marks = n != m
    b.phys = pa
    b.vstart = rip
    b.n = n
    b.vlen = <uint32_t>hi
    b.back = <uint32_t>(-lo)
    b.page2 = page2
    b.key = c.key
    c.m.nblocks += 1
    c.m.ninsns += n + 1
    c.blocks_decoded += 1
    if c.use_cache:
        b.hnext = c.hash[hash_phys(pa)]
        c.hash[hash_phys(pa)] = b
        page_add(c, b, pa >> 12, 0)
        if page2 != TLB_EMPTY:
            page_add(c, b, page2, 1)
    return b

cdef uint32_t inner_entry(Insn* insns, uint32_t n, Insn* j) noexcept nogil:
    """The entry of a block (n entries, no markers) that a relative branch j
    in it goes to (set_rel_target done, its target within the IP's range
    wherever the block runs: ip_range_fits), or n if none."""
    cdef uint32_t e
    for e in range(n):
        if ((j.imm - <uint64_t><int64_t>insns[e].off) & j.imm2) == 0:
            return e
    return n

cdef uint32_t entry_at(Block* b, uint64_t rel, uint64_t mask, uint32_t n) noexcept nogil:
    """The first of entries 1..n-1 of block b at the instruction that starts
    rel (modulo mask + 1) from its start, or n if there is none."""
    cdef uint32_t k
    if ((rel + b.back) & mask) < <uint64_t>b.back + b.vlen:
        for k in range(1, n):
            if (<uint64_t>b.insns[k].off & mask) == rel:
                return k
    return n

cdef void page_add(CPU* c, Block* b, uint64_t page, uint32_t slot) noexcept nogil:
    if page >= c.nframes:
        return
    if c.page_blocks[page] == NULL:
        tlb_drop_write_page(c, page)       # stores to it must now see the block
    b.pnext[slot] = c.page_blocks[page]
    c.page_blocks[page] = b

cdef bint second_page_matches(CPU* c, Block* b, uint64_t rip) noexcept nogil:
    """A block whose last instruction straddles into a second page is only
    valid where that page still maps to the same physical page."""
    cdef uint64_t la, pa
    if b.page2 == TLB_EMPTY:
        return True
    la = (c.segbase[S_CS] + rip + b.vlen - 1) & c.lamask
    if translate(c, la, ACC_FETCH, &pa):
        return False                       # the build will report the fault
    return (pa >> 12) == b.page2

cdef inline bint ip_range_fits(CPU* c, Block* b, uint64_t rip) noexcept nogil:
    """A block found by physical address for another rip (another CS base)
    holds the same bytes only if its instruction pointers, rip - back to
    rip + vlen - 1, do not wrap around the IP's size (16-bit code)."""
    return rip >= b.back and c.ipmask - rip >= b.vlen - 1

cdef inline int fetch_translate(CPU* c, uint64_t la, uint64_t* pa) noexcept nogil:
    """translate() for an instruction fetch through the fetch TLB (tlb_x):
    after a jump-cache flush that kept translations (a CR3 load keeps the
    global pages', INVLPG all but one page's), finding the blocks again
    needs no page walks."""
    cdef TlbEntry* e = tlb_slot(c.tlb_x, la)
    cdef int rc
    if e.tag != la >> 12:
        rc = tlb_fill(c, c.tlb_x, la, ACC_FETCH)
        if rc:
            return rc
    pa[0] = ((e.ppage & ~(TLB_GLOBAL | TLB_LARGE)) << 12) | (la & 0xFFF)
    return 0

cdef inline Block* find_block(CPU* c, uint64_t rip) noexcept nogil:
    cdef Block* b = c.jcache[rip & (JC_SIZE - 1)]
    cdef uint64_t pa
    if starts_at(c, b, rip):
        return b
    if fetch_translate(c, (c.segbase[S_CS] + rip) & c.lamask, &pa):
        return NULL                        # (fetches never see devices)
    if c.use_cache:
        b = c.hash[hash_phys(pa)]
        while b != NULL:
            if (b.phys == pa and ((b.key ^ c.key) & KEY_DECODE) == 0
                    and ip_range_fits(c, b, rip) and second_page_matches(c, b, rip)):
                b.vstart = rip
                b.key = c.key                  # current for this generation
                c.jcache[rip & (JC_SIZE - 1)] = b
                return b
            b = b.hnext
    b = build_block(c, rip, pa)
    if b != NULL and c.use_cache:
        c.jcache[rip & (JC_SIZE - 1)] = b
    return b
