# Paging: 32-bit two-level (with 4 MiB PSE pages), PAE three-level and
# 64-bit four-level walks, with U/S, R/W, NX, CR0.WP, accessed and dirty
# bits written back, and #PF with CR2 and the architectural error code.
# Supervisor accesses to user pages follow SMEP and SMAP, data accesses in
# 4-level paging the protection keys (PKRU for user pages, IA32_PKRS for
# supervisor pages; protkeys.pxi).
# The software TLB in memory.pxi caches the results; every change that
# could make a cached translation wrong flushes it (tlb_flush), except that
# with CR4.PGE a CR3 load keeps the translations of global pages (PTE.G on
# the leaf; tlb_flush_nonglobal).  Any CR4 write drops them too; INVLPG
# drops its page's translations and those from large pages (tlb_flush_page).

cdef enum:
    CR0_PE = 0x1
    CR0_TS = 0x8
    CR0_WP = 0x10000
    CR4_PSE = 0x10
    CR4_PAE = 0x20
    CR4_PGE = 0x80
    EFER_SCE = 0x1
    EFER_LME = 0x100
    EFER_LMA = 0x400
    EFER_NXE = 0x800
    PTE_P = 0x1
    PTE_W = 0x2
    PTE_U = 0x4
    PTE_A = 0x20
    PTE_D = 0x40
    PTE_PS = 0x80
    PTE_G = 0x100
    PF_P = 1
    PF_W = 2
    PF_U = 4
    PF_RSVD = 8
    PF_I = 16
    PF_PK = 32

cdef uint64_t CR0_PG = 0x80000000ULL
cdef uint64_t PTE_NX = 0x8000000000000000ULL
cdef uint64_t PHYS_MASK = 0x000FFFFFFFFFF000ULL

cdef inline uint64_t reserved_bits(CPU* c, bint long_mode) noexcept nogil:
    """Bits that must be 0 in every present 64-bit paging-structure entry
    (SDM Vol. 3A 4.4.2, 4.5.4): those of physical addresses at or above
    MAXPHYADDR (CPUID 0x80000008), and with PAE paging bits 62:52 too."""
    cdef uint64_t r = PHYS_MASK & ~((<uint64_t>1 << (c.model.addr_sizes & 0xFF)) - 1)
    return r if long_mode else r | 0x7FF0000000000000ULL

cdef inline bint has_1g_pages(CPU* c) noexcept nogil:
    """CPUID 0x80000001 EDX.Page1GB, as the model reports it."""
    return ((CPUID_EXT_EDX & ~c.model.hidden[3]) >> 26) & 1

cdef inline bint paging_on(CPU* c) noexcept nogil:
    return (c.cr0 & CR0_PG) != 0 and not c.pg_bypass

cdef inline int page_fault(CPU* c, uint64_t la, uint32_t err) noexcept nogil:
    c.cr2 = la
    return fault(c, EXC_PF, 1, err)

cdef inline int phys_entry(CPU* c, uint64_t addr, uint32_t size, uint64_t* v) noexcept nogil:
    """Read a paging-structure entry; an entry outside RAM reads as 0 (not
    present), as a missing bus would return."""
    cdef uint8_t* p = phys_ptr(c, addr, size)
    v[0] = load_le(p, size) if p != NULL else 0
    return 0

cdef inline void set_bits(CPU* c, uint64_t addr, uint32_t size, uint64_t v, uint64_t bits) noexcept nogil:
    cdef uint8_t* p
    if (v & bits) != bits:
        p = phys_ptr(c, addr, size)
        if p != NULL:
            mark_dirty(c, frame_of(c, addr))
            store_le(p, size, v | bits)

cdef inline bint supervisor_denied(CPU* c, int acc) noexcept nogil:
    """A supervisor access to a user page (SDM Vol. 3A 4.6.1): SMEP forbids
    fetches; SMAP forbids data accesses unless EFLAGS.AC is set at CPL < 3
    (implicit accesses at CPL 3, to descriptor tables or the TSS, never
    pass).  An access AC lets through stays out of the TLB (walk_nocache):
    clearing AC must not leave it cached."""
    if acc == ACC_FETCH:
        return (c.cr4 & CR4_SMEP) != 0
    if not (c.cr4 & CR4_SMAP):
        return False
    if c.cpl == 3 or not (c.eflags & F_AC):
        return True
    c.walk_nocache = 1
    return False

cdef int page_walk(CPU* c, uint64_t la, int acc, bint user, uint64_t* pa) noexcept nogil:
    """Translate la through the page tables; RC_FAULT with #PF on failure."""
    cdef uint64_t e[5]
    cdef uint64_t addr[5]
    cdef uint32_t size, levels, k, shift, idx
    cdef uint64_t table, page_size, nx = 0
    cdef bint writable = True, usr = True, leaf = False, pae = (c.cr4 & CR4_PAE) != 0
    cdef bint long_mode = (c.efer & EFER_LMA) != 0
    cdef uint32_t err = (PF_W if acc == ACC_WRITE else 0) | (PF_U if user else 0)
    cdef uint64_t rsvd = reserved_bits(c, long_mode) if pae else 0
    if acc == ACC_FETCH and (((c.efer & EFER_NXE) and pae) or (c.cr4 & CR4_SMEP)):
        err |= PF_I
    if long_mode:
        levels = 4
        size = 8
        table = c.cr3 & PHYS_MASK
    elif pae:
        levels = 3
        size = 8
        table = c.cr3 & 0xFFFFFFE0ULL
    else:
        levels = 2
        size = 4
        table = c.cr3 & 0xFFFFF000ULL
    for k in range(levels):
        if size == 8:
            shift = 12 + 9 * (levels - 1 - k)
            idx = (la >> shift) & (3 if (levels == 3 and k == 0) else 0x1FF)
        else:
            shift = 22 if k == 0 else 12
            idx = (la >> shift) & 0x3FF
        addr[k] = table + idx * size
        phys_entry(c, addr[k], size, &e[k])
        if not (e[k] & PTE_P):
            return page_fault(c, la, err)
        if (e[k] & rsvd) or (long_mode and k == 0 and (e[k] & PTE_PS)):   # (PS: reserved in a PML4E)
            return page_fault(c, la, err | PF_P | PF_RSVD)
        if levels == 3 and k == 0:
            if e[k] & 0x80000000000001E6ULL:    # PAE PDPTE reserved bits (no XD there)
                return page_fault(c, la, err | PF_P | PF_RSVD)
            table = e[k] & PHYS_MASK
            continue
        writable = writable and (e[k] & PTE_W) != 0
        usr = usr and (e[k] & PTE_U) != 0
        if size == 8 and (c.efer & EFER_NXE):
            nx |= e[k] & PTE_NX
        elif size == 8 and (e[k] & PTE_NX):
            return page_fault(c, la, err | PF_P | PF_RSVD)
        if k == levels - 1:
            leaf = True
            page_size = 0x1000
        elif (e[k] & PTE_PS) and (k >= levels - 3 or not long_mode) and (size == 8 or (c.cr4 & CR4_PSE)):
            if long_mode and k == 1 and not has_1g_pages(c):
                return page_fault(c, la, err | PF_P | PF_RSVD)
            leaf = True
            page_size = <uint64_t>1 << shift
            # the low address bits of a large page are reserved, but for PAT
            # (bit 12) and, in a 4 MiB page, PSE-36's physical bits 39:32
            if e[k] & (page_size - 1) & (0x200000 if size == 4 else ~<uint64_t>0x1FFF):
                return page_fault(c, la, err | PF_P | PF_RSVD)
        if leaf:
            levels = k + 1
            break
        table = e[k] & (PHYS_MASK if size == 8 else 0xFFFFF000ULL)
    # permissions: the combined R/W and U/S of every level, NX, and the
    # protection key, whose PK bit comes with any of the others' faults
    if long_mode and acc != ACC_FETCH and (c.cr4 & (CR4_PKE | CR4_PKS)) and \
            pkey_denied(c, e[levels - 1], usr, user, acc):
        err |= PF_PK
    if user and not usr:
        return page_fault(c, la, err | PF_P)
    if acc == ACC_WRITE and not writable and (user or (c.cr0 & CR0_WP)):
        return page_fault(c, la, err | PF_P)
    if acc == ACC_FETCH and nx:
        return page_fault(c, la, err | PF_P)
    if usr and not user and supervisor_denied(c, acc):
        return page_fault(c, la, err | PF_P)
    if err & PF_PK:
        return page_fault(c, la, err | PF_P)
    # accessed bits on every level used, dirty on the leaf for a write
    for k in range(levels):
        if not (levels == 3 and k == 0 and not long_mode and pae):
            set_bits(c, addr[k], size, e[k], PTE_A | (PTE_D if (k == levels - 1 and acc == ACC_WRITE) else 0))
    if (e[levels - 1] & PTE_G) and (c.cr4 & CR4_PGE):
        c.walk_global = 1
    if page_size != 0x1000:
        c.walk_large = 1
    if page_size == 0x1000:
        pa[0] = (e[levels - 1] & (PHYS_MASK if size == 8 else 0xFFFFF000ULL)) | (la & 0xFFF)
    elif size == 4:                             # 4 MiB page: PSE-36 gives bits 39:32 (as QEMU)
        pa[0] = (e[levels - 1] & 0xFFC00000ULL) | ((e[levels - 1] & 0x1FE000) << 19) | (la & 0x3FFFFF)
    else:
        pa[0] = (e[levels - 1] & PHYS_MASK & ~(page_size - 1)) | (la & (page_size - 1))
    return 0
