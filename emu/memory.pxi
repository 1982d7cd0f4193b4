# Guest memory: every access goes linear address -> translate() -> physical
# address -> host pointer.  A software TLB (one per access kind) caches the
# last two steps per 4 KiB page so the hot path is a tag compare and a load.
# Pages that hold decoded code get no write-TLB entry: stores to them take
# the slow path, which invalidates the decoded blocks they overlap (smc.pxi).
# Pages watched by a data breakpoint (debug.pxi) and, while some segment is
# not flat, pages outside the range common to all segments (limits.pxi) are
# kept out of the TLB the same way.  Entries of global pages are marked so
# that a CR3 load keeps them.

from libc.string cimport memcpy, memset

cdef uint64_t TLB_EMPTY = <uint64_t>-1
cdef uint64_t TLB_GLOBAL = 0x8000000000000000ULL   # in TlbEntry.ppage: a global page (survives CR3 loads)
cdef uint64_t TLB_LARGE = 0x4000000000000000ULL    # ... a 4 KiB piece of a larger page (INVLPG)

cdef inline uint64_t ea_of(CPU* c, Insn* i) noexcept nogil:
    """Effective address of the ModRM memory operand (RIP-relative included,
    as R_BASE plus an adjusted displacement)."""
    return (c.r[i.base] + (c.r[i.index] << i.scale) + <uint64_t>i.disp) & i.amask

cdef inline uint64_t lin_of(CPU* c, uint32_t seg, uint64_t ea) noexcept nogil:
    return (c.segbase[seg] + ea) & c.lamask

cdef inline uint64_t mem_la(CPU* c, Insn* i) noexcept nogil:
    return lin_of(c, i.seg, ea_of(c, i))

cdef inline uint32_t mem_kind(CPU* c, Insn* i) noexcept nogil:
    """The operand form (alu.pxi K_*) of a memory operand decoded now (in
    c.mode, under c.key), by whether it has an index: K_MEMF or K_MEMX in
    64-bit mode (address size 8) with no FS/GS override (segment 6, the
    always-zero base); K_MEM32 or K_MEM32X for a 32-bit address through ES,
    CS, SS or DS outside 64-bit mode while their bases are 0 (KEY_FLAT,
    limits.pxi); else K_MEM."""
    if c.mode != 64:
        if i.asz != 4 or i.seg > S_DS or not (c.key & KEY_FLAT):
            return K_MEM
        return K_MEM32 if i.index == R_ZERO else K_MEM32X
    if i.asz != 8 or i.seg != 6:
        return K_MEM
    return K_MEMF if i.index == R_ZERO else K_MEMX

cdef inline uint64_t addr_of(CPU* c, Insn* i, uint32_t kind) noexcept nogil:
    """mem_la for an operand form (mem_kind, chosen at decode): the flat
    forms need no segment base and no masks (all ones in 64-bit mode; the
    32-bit forms' truncation stands for both, as c.lamask is 0xFFFFFFFF
    outside 64-bit mode), and the forms without an index skip it."""
    if kind == K_MEMF:
        return c.r[i.base] + <uint64_t>i.disp
    if kind == K_MEMX:
        return c.r[i.base] + (c.r[i.index] << i.scale) + <uint64_t>i.disp
    if kind == K_MEM32:
        return <uint32_t>(c.r[i.base] + <uint64_t>i.disp)
    if kind == K_MEM32X:
        return <uint32_t>(c.r[i.base] + (c.r[i.index] << i.scale) + <uint64_t>i.disp)
    return mem_la(c, i)

cdef inline uint64_t ea_form(CPU* c, Insn* i, uint32_t kind) noexcept nogil:
    """ea_of for an operand form (mem_kind): the flat forms' address is the
    effective address."""
    return addr_of(c, i, kind) if kind >= K_MEMF else ea_of(c, i)

# Exception vectors (SDM Vol. 3A, table 6-1).
cdef enum:
    EXC_DE = 0       # divide error
    EXC_DB = 1       # debug
    EXC_NMI = 2
    EXC_BP = 3       # breakpoint (INT3)
    EXC_OF = 4       # overflow (INTO)
    EXC_BR = 5       # BOUND range exceeded
    EXC_UD = 6       # invalid opcode
    EXC_NM = 7       # device not available
    EXC_DF = 8       # double fault
    EXC_TS = 10      # invalid TSS
    EXC_NP = 11      # segment not present
    EXC_SS = 12      # stack-segment fault
    EXC_GP = 13      # general protection
    EXC_PF = 14      # page fault
    EXC_MF = 16      # x87 floating-point error
    EXC_AC = 17      # alignment check
    EXC_MC = 18      # machine check
    EXC_XM = 19      # SIMD floating-point exception

cdef inline int fault(CPU* c, int vector, int has_error, uint32_t error) noexcept nogil:
    c.exc_vector = vector
    c.exc_has_error = has_error
    c.exc_error = error
    return RC_FAULT

cdef inline int unmapped(CPU* c, uint64_t pa, int acc) noexcept nogil:
    """An access outside guest RAM: not a guest exception but an exit."""
    c.fault_addr = pa
    c.fault_access = acc
    c.exc_vector = -1
    return RC_FAULT

cdef inline int translate_as(CPU* c, uint64_t la, int acc, bint user, uint64_t* pa) noexcept nogil:
    """Linear -> physical (through the page tables when paging is on), for
    an access at user or supervisor privilege.  Only RAM is backed."""
    if (c.efer & EFER_LMA) and not canonical(la):
        c.noncanonical = 1                     # the run loop makes it #SS for stack accesses
        c.fault_la = la
        return fault(c, EXC_GP, 1, 0)
    if (c.cr0 & 0x80000000ULL) and not c.pg_bypass:
        c.walk_global = 0
        c.walk_large = 0
        c.walk_nocache = 0
        if page_walk(c, la, acc, user, pa):
            return RC_FAULT
    else:
        pa[0] = la
    if pa[0] >= c.mem_size or (pa[0] >> 12) == (c.msr_apic_base >> 12):
        return device_or_unmapped(c, pa, acc)
    if absent_page(c, pa[0]):                  # ballooned out: no RAM there
        return unmapped(c, pa[0], acc)
    return 0

cdef inline bint canonical(uint64_t la) noexcept nogil:
    return <uint64_t>((<int64_t>(la << 16)) >> 16) == la

cdef inline int check_span(CPU* c, uint64_t la, uint32_t size) noexcept nogil:
    """An access is canonical only if its last byte is too (checked before
    any page of it is translated, as segmentation comes before paging)."""
    if (c.efer & EFER_LMA) and not canonical(la + size - 1):
        c.noncanonical = 1
        c.fault_la = la
        return fault(c, EXC_GP, 1, 0)
    return 0

cdef int device_or_unmapped(CPU* c, uint64_t* ppa, int acc) noexcept nogil:
    """Outside RAM (or on the APIC page): a memory-mapped device, a mapped
    region (*ppa becomes its frame address), or nothing."""
    cdef uint32_t k
    cdef uint64_t pa = ppa[0]
    if acc != ACC_FETCH:
        if ((pa >> 12) == (c.msr_apic_base >> 12) and (c.msr_apic_base & 0x800)) or on_ioapic_page(c, pa):
            c.mmio_pa = pa
            return RC_MMIO
        for k in range(c.nmmio):
            if c.mmio_start[k] <= pa < c.mmio_end[k]:
                c.mmio_pa = pa
                return RC_MMIO
    if pa >= c.mem_size:
        return region_translate(c, ppa, acc)
    return 0

cdef inline int translate(CPU* c, uint64_t la, int acc, uint64_t* pa) noexcept nogil:
    return translate_as(c, la, acc, c.cpl == 3, pa)

cdef inline int sys_translate(CPU* c, uint64_t la, int acc, uint64_t* pa) noexcept nogil:
    """Supervisor translation for system structures; device memory there is
    not supported (reported as unmapped)."""
    cdef int rc = translate_as(c, la, acc, False, pa)
    if rc == RC_MMIO:
        unmapped(c, c.mmio_pa, acc)
    return RC_FAULT if rc else 0

cdef int rd_sys(CPU* c, uint64_t la, uint32_t size, uint64_t* v) noexcept nogil:
    """A supervisor read of a system structure (descriptor tables, the TSS)
    whatever the CPL; it bypasses the TLB, which caches CPL's view."""
    cdef uint64_t pa, r = 0
    cdef uint32_t k
    for k in range(size):
        if sys_translate(c, (la + k) & c.lamask, ACC_READ, &pa):
            return RC_FAULT
        r |= (<uint64_t>host_of(c, pa)[0]) << (8 * k)
    v[0] = r
    return 0

cdef int wr_sys(CPU* c, uint64_t la, uint32_t size, uint64_t v) noexcept nogil:
    cdef uint64_t pa
    cdef uint32_t k
    for k in range(size):
        if sys_translate(c, (la + k) & c.lamask, ACC_WRITE, &pa):
            return RC_FAULT
    for k in range(size):
        sys_translate(c, (la + k) & c.lamask, ACC_WRITE, &pa)
        mark_dirty(c, pa)
        if c.page_blocks[pa >> 12] != NULL:
            smc_write(c, pa, 1)
        host_of(c, pa)[0] = <uint8_t>(v >> (8 * k))
    return 0

cdef void tlb_flush(CPU* c) noexcept nogil:
    """Forget every cached translation (and the jump cache, which maps
    instruction pointers to blocks by their translation)."""
    cdef int k
    jcache_flush(c)
    for k in range(256):
        c.tlb_r[k].tag = TLB_EMPTY
        c.tlb_w[k].tag = TLB_EMPTY
        c.tlb_x[k].tag = TLB_EMPTY

cdef void tlb_flush_nonglobal(CPU* c) noexcept nogil:
    """A CR3 load: forget every translation but those of global pages
    (PTE.G with CR4.PGE), and the jump cache."""
    cdef int k
    jcache_flush(c)
    for k in range(256):
        if not (c.tlb_r[k].ppage & TLB_GLOBAL):
            c.tlb_r[k].tag = TLB_EMPTY
        if not (c.tlb_w[k].ppage & TLB_GLOBAL):
            c.tlb_w[k].tag = TLB_EMPTY
        if not (c.tlb_x[k].ppage & TLB_GLOBAL):
            c.tlb_x[k].tag = TLB_EMPTY

cdef inline void tlb_drop_page(TlbEntry* tlb, uint64_t tag) noexcept nogil:
    cdef int k
    if tlb[tag & 255].tag == tag:
        tlb[tag & 255].tag = TLB_EMPTY
    for k in range(256):
        if tlb[k].ppage & TLB_LARGE:
            tlb[k].tag = TLB_EMPTY

cdef void tlb_flush_page(CPU* c, uint64_t la) noexcept nogil:
    """INVLPG: forget la's page, global or not, and every piece of a large
    page (an entry does not say how large its page is, so any may hold la),
    and the jump cache.  Other 4 KiB translations stay."""
    tlb_drop_page(c.tlb_r, la >> 12)
    tlb_drop_page(c.tlb_w, la >> 12)
    tlb_drop_page(c.tlb_x, la >> 12)
    jcache_flush(c)

cdef void tlb_drop_write_page(CPU* c, uint64_t ppage) noexcept nogil:
    """Forget write mappings of a physical page that now holds code."""
    cdef int k
    for k in range(256):
        if c.tlb_w[k].tag != TLB_EMPTY and (c.tlb_w[k].ppage & ~(TLB_GLOBAL | TLB_LARGE)) == ppage:
            c.tlb_w[k].tag = TLB_EMPTY

cdef int tlb_fill(CPU* c, TlbEntry* tlb, uint64_t la, int acc) noexcept nogil:
    """Translate la and install its page in `tlb` (not for stores into code)."""
    cdef uint64_t pa
    cdef int rc = translate(c, la, acc, &pa)
    if rc:
        return rc
    pa &= ~<uint64_t>0xFFF
    cdef TlbEntry* e = &tlb[(la >> 12) & 255]
    if acc == ACC_WRITE and c.page_blocks[pa >> 12] != NULL:
        return 0
    if acc == ACC_WRITE:
        mark_dirty(c, pa)                      # dirty.pxi: once, then stores are free
    e.tag = la >> 12
    e.ppage = (pa >> 12) | (TLB_GLOBAL if c.walk_global and paging_on(c) else 0)
    if c.walk_large and paging_on(c):
        e.ppage |= TLB_LARGE
    e.addend = host_of(c, pa) - (la & ~<uint64_t>0xFFF)
    return 0

cdef void slow_access_done(CPU* c, uint64_t la, uint32_t size, bint write) noexcept nogil:
    """After a slow-path access while data breakpoints or segment limit
    checks are on: note breakpoint hits, and keep watched pages and pages
    outside the segments' common range out of the TLB."""
    if c.dr_data:
        dbp_access(c, la, size, write)
    if c.segchk:
        seg_evict(c, la, size, write)

cdef inline uint64_t load_le(uint8_t* p, uint32_t size) noexcept nogil:
    cdef uint8_t v8
    cdef uint16_t v16
    cdef uint32_t v32
    cdef uint64_t v64
    if size == 1:
        return p[0]
    if size == 2:
        memcpy(&v16, p, 2)
        return v16
    if size == 4:
        memcpy(&v32, p, 4)
        return v32
    memcpy(&v64, p, 8)
    return v64

cdef inline void store_le(uint8_t* p, uint32_t size, uint64_t v) noexcept nogil:
    cdef uint16_t v16
    cdef uint32_t v32
    if size == 1:
        p[0] = <uint8_t>v
    elif size == 2:
        v16 = <uint16_t>v
        memcpy(p, &v16, 2)
    elif size == 4:
        v32 = <uint32_t>v
        memcpy(p, &v32, 4)
    else:
        memcpy(p, &v, 8)

cdef bint device_span(CPU* c, uint64_t la, uint32_t size) noexcept nogil:
    """An access crossing a page whose first byte is device memory at
    c.mmio_pa: is the rest of it the same device's next bytes?  (Then the
    device sees one access; c.mmio_pa stays the first byte's.)"""
    cdef uint64_t first = c.mmio_pa, pa, second = (la & ~<uint64_t>0xFFF) + 0x1000
    cdef int rc = translate(c, second & c.lamask, ACC_READ, &pa)
    c.mmio_pa = first
    return rc == RC_MMIO and pa == first + (second - la)

# An access crossing a page is done a page at a time (as the CPU's bus
# does): each part from RAM or from a device, wherever each page maps, even
# both to one device page (kvm-unit-tests' emulator maps its test device
# that way); one access when the device's bytes run on (device_span).

cdef inline uint32_t in_page(uint64_t a, uint32_t n) noexcept nogil:
    """How many of n bytes at a lie in a's page."""
    cdef uint32_t room = 0x1000 - <uint32_t>(a & 0xFFF)
    return n if n < room else room

cdef int rd_slow(CPU* c, uint64_t la, uint32_t size, uint64_t* out) noexcept nogil:
    cdef uint64_t v = 0, a, part
    cdef uint32_t k, j, n
    cdef TlbEntry* e
    cdef int rc
    c.fault_size = size                # for a memory-fault hook (hooks.pxi)
    if check_span(c, la, size) or (c.segchk and seg_check(c, la, size, False)):
        return RC_FAULT
    if (la & 0xFFF) + size <= 0x1000:
        rc = tlb_fill(c, c.tlb_r, la, ACC_READ)
        if rc == RC_MMIO:
            return mmio_read(c, c.mmio_pa, size, out)
        if rc:
            return RC_FAULT
        e = &c.tlb_r[(la >> 12) & 255]
        out[0] = load_le(e.addend + la, size)
        if c.walk_nocache:
            e.tag = TLB_EMPTY                  # allowed by EFLAGS.AC only (SMAP)
        if c.dr_data | c.segchk:
            slow_access_done(c, la, size, False)
        return 0
    k = 0
    while k < size:                   # crosses a page: a part per page (above)
        a = (la + k) & c.lamask
        n = in_page(a, size - k)
        e = &c.tlb_r[(a >> 12) & 255]
        if e.tag != (a >> 12):
            rc = tlb_fill(c, c.tlb_r, a, ACC_READ)
            if rc == RC_MMIO:
                if k == 0 and device_span(c, la, size):
                    return mmio_read(c, c.mmio_pa, size, out)
                if mmio_read(c, c.mmio_pa, n, &part):
                    return RC_FAULT
                v |= part << (8 * k)
                k += n
                continue
            if rc:
                return RC_FAULT
        for j in range(n):
            v |= (<uint64_t>(e.addend + a)[j]) << (8 * (k + j))
        if c.walk_nocache:
            e.tag = TLB_EMPTY
        k += n
    out[0] = v
    if c.dr_data | c.segchk:
        slow_access_done(c, la, size, False)
    return 0

cdef inline TlbEntry* tlb_slot(TlbEntry* tlb, uint64_t la) noexcept nogil:
    """&tlb[(la >> 12) & 255], as one shift and one mask: an entry is 32 bytes."""
    return <TlbEntry*>(<char*>tlb + ((la >> 7) & (255 * 32)))

cdef inline bint tlb_covers(TlbEntry* e, uint64_t la, uint32_t size) noexcept nogil:
    """Does e, la's slot, hold the page of all of [la, la + size)?  The hit
    test of every access: one compare, with the tag of the last byte's page.
    A tag sits in the slot of its low 8 bits, and an access spans at most two
    pages, so the last byte's page can be in la's slot only if it is la's."""
    return e.tag == (la + size - 1) >> 12

cdef inline uint8_t* tlb_host(TlbEntry* tlb, uint64_t la, uint32_t size) noexcept nogil:
    """The host address of [la, la + size) if `tlb` holds its page (and the
    access stays in the page), else NULL."""
    cdef TlbEntry* e = tlb_slot(tlb, la)
    if tlb_covers(e, la, size):
        return e.addend + la
    return NULL

cdef inline int rd(CPU* c, uint64_t la, uint32_t size, uint64_t* out) noexcept nogil:
    cdef TlbEntry* e = tlb_slot(c.tlb_r, la)
    if tlb_covers(e, la, size):
        out[0] = load_le(e.addend + la, size)
        return 0
    return rd_slow(c, la, size, out)

# The specialized memory-form variants (gen_variants.py) take only the TLB
# hit path themselves: on anything else (a miss, a page crossing, a device,
# a fault) rd_or_miss and wr_or_miss return RC_MISS and the variant hands
# the whole instruction to its generic handler (a tail call), so the
# variant needs no stack frame.  A TLB hit never invalidates decoded code
# or hits a data breakpoint (those pages stay out of the TLB), so after one
# the variant goes on without the stale-code check (next_insn_reg).
cdef enum:
    RC_MISS = 100

cdef inline int rd_or_miss(CPU* c, uint64_t la, uint32_t size, uint32_t kind, uint64_t* out) noexcept nogil:
    """rd (kind K_ANY), or its TLB hit path (K_MEM and up: RC_MISS otherwise)."""
    cdef TlbEntry* e
    if kind < K_MEM:
        return rd(c, la, size, out)
    e = tlb_slot(c.tlb_r, la)
    if not tlb_covers(e, la, size):
        return RC_MISS
    out[0] = load_le(e.addend + la, size)
    return 0

cdef inline int wr_or_miss(CPU* c, uint64_t la, uint32_t size, uint32_t kind, uint64_t v) noexcept nogil:
    """wr (kind K_ANY), or its TLB hit path (K_MEM and up: RC_MISS otherwise)."""
    cdef TlbEntry* e
    if kind < K_MEM:
        return wr(c, la, size, v)
    e = tlb_slot(c.tlb_w, la)
    if not tlb_covers(e, la, size):
        return RC_MISS
    store_le(e.addend + la, size, v)
    return 0

cdef inline int rmw_or_miss(CPU* c, uint64_t la, uint32_t size, uint32_t kind, uint64_t* out) noexcept nogil:
    """rmw_read (kind K_ANY), or its TLB hit path (K_MEM and up: the page
    is in both TLBs, so the store that follows hits too; RC_MISS otherwise)."""
    if kind < K_MEM:
        return rmw_read(c, la, size, out)
    if not tlb_covers(tlb_slot(c.tlb_w, la), la, size):
        return RC_MISS
    return rd_or_miss(c, la, size, kind, out)

cdef int wr_slow(CPU* c, uint64_t la, uint32_t size, uint64_t v) noexcept nogil:
    cdef uint64_t pa[8]
    cdef bint dev[8]
    cdef uint64_t a
    cdef uint32_t k, n
    cdef int rc
    c.fault_size = size                # for a memory-fault hook (hooks.pxi)
    c.fault_value = v
    if check_span(c, la, size) or (c.segchk and seg_check(c, la, size, True)):
        return RC_FAULT
    # Translate every byte's page first, so a fault leaves memory unchanged.
    for k in range(size):
        a = (la + k) & c.lamask
        if k == 0 or (a & 0xFFF) == 0:
            rc = translate(c, a, ACC_WRITE, &pa[k])
            if rc == RC_MMIO and k == 0 and ((la & 0xFFF) + size <= 0x1000 or device_span(c, la, size)):
                return mmio_write(c, c.mmio_pa, size, v)
            dev[k] = rc == RC_MMIO             # a part of a crossing store (above)
            if dev[k]:
                pa[k] = c.mmio_pa
            elif rc:
                return RC_FAULT
        else:
            pa[k] = pa[k - 1] + 1
            dev[k] = dev[k - 1]
    k = 0
    while k < size:
        if dev[k]:
            n = in_page(pa[k], size - k)
            rc = mmio_write(c, pa[k], n, (v >> (8 * k)) & size_mask(n))
            if rc:
                return rc                      # (a Python device: the store is replayed, RAM parts again)
            k += n
            continue
        mark_dirty(c, pa[k])
        if c.page_blocks[pa[k] >> 12] != NULL:
            smc_write(c, pa[k], 1)
        host_of(c, pa[k])[0] = <uint8_t>(v >> (8 * k))
        k += 1
    if (la & 0xFFF) + size <= 0x1000 and not c.seg_ro and not c.walk_nocache:
        tlb_fill(c, c.tlb_w, la, ACC_WRITE)
    if c.dr_data | c.segchk:
        slow_access_done(c, la, size, True)
    return 0

cdef inline int wr(CPU* c, uint64_t la, uint32_t size, uint64_t v) noexcept nogil:
    cdef TlbEntry* e = tlb_slot(c.tlb_w, la)
    if tlb_covers(e, la, size):
        store_le(e.addend + la, size, v)
        return 0
    return wr_slow(c, la, size, v)

cdef inline int check_wr(CPU* c, uint64_t la, uint32_t size) noexcept nogil:
    """Fault now if a later store of `size` bytes at la would fault (for
    instructions that must not change state before a faulting store)."""
    cdef uint64_t pa
    if tlb_covers(tlb_slot(c.tlb_w, la), la, size):
        return 0
    if check_span(c, la, size) or (c.segchk and seg_check(c, la, size, True)):
        return RC_FAULT
    cdef int rc = translate(c, la, ACC_WRITE, &pa)
    if rc and rc != RC_MMIO:
        return RC_FAULT
    if ((la + size - 1) & c.lamask) >> 12 != la >> 12:
        rc = translate(c, (la + size - 1) & c.lamask, ACC_WRITE, &pa)
        return RC_FAULT if rc and rc != RC_MMIO else 0
    return 0
