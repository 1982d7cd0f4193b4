# Mapped memory regions (Machine.mem_map): guest-physical ranges anywhere
# in the 64-bit space, outside the RAM at 0, backed by host pages and with
# read/write/execute permissions, as Unicorn's uc_mem_map gives them.
#
# The core keeps working with dense "physical" addresses: RAM is frames
# 0..npages-1 as before, and each mapped page gets a frame number above
# those (CPU.frames holds its host page).  translate() turns a guest-physical
# address outside RAM into its frame address here, on a TLB miss only; an
# access its region does not permit is not translated, so the r/w/x TLBs
# only ever hold pages their access kind may use and the TLB-hit path needs
# no permission test.  Page lists of decoded blocks (page_blocks) cover the
# frames too, so stores into mapped code invalidate it as they do in RAM.

cdef enum:
    PERM_READ = 1       # Unicorn's UC_PROT_* values
    PERM_WRITE = 2
    PERM_EXEC = 4
    EXIT_PROT = 17      # an access its region does not permit
    EXC_PROT = -3       # (CPU.exc_vector) ... reported as EXIT_PROT

cdef inline uint8_t* host_of(CPU* c, uint64_t pa) noexcept nogil:
    """The host byte behind physical (frame) address pa."""
    if pa < c.mem_size:
        return c.mem + pa
    return c.frames[(pa >> 12) - c.npages] + (pa & 0xFFF)

cdef Region* region_of(CPU* c, uint64_t gpa) noexcept nogil:
    """The region holding guest-physical gpa, or NULL (binary search over
    the sorted, disjoint table)."""
    cdef uint32_t lo = 0, hi = c.nregions, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if gpa < c.regions[mid].start:
            hi = mid
        elif gpa >= c.regions[mid].end:
            lo = mid + 1
        else:
            return &c.regions[mid]
    return NULL

cdef inline uint32_t perm_needed(int acc) noexcept nogil:
    return PERM_READ if acc == ACC_READ else (PERM_WRITE if acc == ACC_WRITE else PERM_EXEC)

cdef int region_translate(CPU* c, uint64_t* pa, int acc) noexcept nogil:
    """Guest-physical *pa outside RAM -> its frame address, if a region maps
    it and permits `acc`; else the unmapped or protection exit."""
    cdef Region* r = region_of(c, pa[0])
    if r == NULL:
        return unmapped(c, pa[0], acc)
    if not (r.perms & perm_needed(acc)):
        unmapped(c, pa[0], acc)
        c.exc_vector = EXC_PROT
        return RC_FAULT
    if c.hk_nmem and acc != ACC_FETCH and mem_hooked(c, pa[0], acc):
        c.mmio_pa = pa[0]                      # hooked: through Python (hooks.pxi)
        return RC_MMIO
    pa[0] = region_frame(r, pa[0])
    return 0

cdef inline uint64_t region_frame(Region* r, uint64_t gpa) noexcept nogil:
    return ((r.frame + ((gpa - r.start) >> 12)) << 12) | (gpa & 0xFFF)

cdef uint64_t frame_of(CPU* c, uint64_t gpa) noexcept nogil:
    """The frame address of guest-physical gpa (RAM or a mapped region,
    whatever its permissions), or TLB_EMPTY if nothing is there."""
    cdef Region* r
    if gpa < c.mem_size:
        return gpa
    r = region_of(c, gpa)
    return TLB_EMPTY if r == NULL else region_frame(r, gpa)

cdef uint8_t* phys_ptr(CPU* c, uint64_t gpa, uint32_t size) noexcept nogil:
    """Host pointer for `size` bytes at guest-physical gpa within one page,
    or NULL: for the page walker, which reads page tables wherever the guest
    put them."""
    cdef uint64_t f = frame_of(c, gpa)
    if f == TLB_EMPTY or (gpa & 0xFFF) + size > 0x1000:
        return NULL
    return host_of(c, f)

# Host memory of a mem_map region: zeroed pages from the kernel, given back
# when the last region using them is unmapped and the machine lets go.
cdef class _HostPages:
    cdef uint8_t* p
    cdef readonly size_t size

    def __cinit__(self, size_t size):
        self.p = <uint8_t*>zalloc(size)
        if self.p == NULL:
            raise MemoryError(f"cannot allocate {size:#x} bytes of guest memory")
        self.size = size

    @property
    def address(self):
        return <size_t>self.p

    def __dealloc__(self):
        zfree(self.p, self.size)

# Mapped pages at most (the frame table costs 16 bytes a page): 64 GiB.
cdef uint64_t MAX_MAPPED_PAGES = 1 << 24

def _check_perms(perms):
    if not isinstance(perms, int) or isinstance(perms, bool) or not 0 <= perms <= 7:
        raise EmuError(f"perms must be a mask of 1 (read), 2 (write), 4 (execute), not {perms!r}")
