# Hooks (Machine.hook_add): Python callbacks at chosen instructions, blocks
# and memory accesses, paid for only where they are installed.
#
# Code and block hooks are compiled into the blocks of their address ranges:
# build_block puts a marker instruction (h_hook) before each hooked
# instruction (and at the start of a hooked block), and nothing anywhere
# else.  A marker leaves the run loop (EXIT_HOOK, not retired) with the
# address; Python calls the hooks and resumes at that address, where the
# marker lets the instruction through once (hk_pass_*).  Installing or
# removing a hook drops every decoded block so the change takes effect at
# once.  Memory hooks make the pages of their range act as a device
# (regions.pxi returns RC_MMIO for them), so hooked accesses leave through
# the Python MMIO path and other pages keep the TLB fast path.
# Instruction hooks reuse the privileged-instruction traps (pv_trap).

cdef enum:
    EXIT_HOOK = 18          # a code or block hook marker
    HOOK_BLOCK = 1          # marker levels (Insn.sub): a block's comes first
    HOOK_CODE = 2
    MAX_HOOK_RANGES = 16    # per kind; more are merged into one covering range

cdef inline bint in_ranges(uint64_t* lo, uint64_t* hi, uint32_t n, uint64_t a) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        if lo[k] <= a <= hi[k]:
            return True
    return False

cdef inline bint code_hooked(CPU* c, uint64_t rip) noexcept nogil:
    return c.hk_ncode != 0 and in_ranges(c.hk_code_lo, c.hk_code_hi, c.hk_ncode, rip)

cdef inline bint block_hooked(CPU* c, uint64_t rip) noexcept nogil:
    return c.hk_nblock != 0 and in_ranges(c.hk_block_lo, c.hk_block_hi, c.hk_nblock, rip)

cdef inline bint mem_hooked(CPU* c, uint64_t gpa, int acc) noexcept nogil:
    """Is gpa's page in a memory hook's range for this access?"""
    cdef uint32_t k
    cdef uint64_t page = gpa & ~<uint64_t>0xFFF
    for k in range(c.hk_nmem):
        if ((c.hk_mem_kind[k] >> acc) & 1) and c.hk_mem_lo[k] <= page + 0xFFF and page <= c.hk_mem_hi[k]:
            return True
    return False

cdef void set_marker(Insn* m, uint32_t level, int32_t off, uint32_t idx) noexcept nogil:
    memset(m, 0, sizeof(Insn))
    m.fn = h_hook
    m.opcode = 0xFFFF           # no real opcode: nothing fuses with it
    m.sub = <uint8_t>level
    m.off = m.next = off
    m.idx = <uint8_t>idx

cdef int h_hook(CPU* c, Insn* i) noexcept nogil:
    """A hook marker: exit to Python, or let its instruction through once."""
    c.cur = i
    cdef uint64_t addr = (c.r[R_BASE] + i.off) & c.ipmask
    if c.hk_pass_addr == addr and i.sub <= c.hk_pass_level:
        if i.sub == c.hk_pass_level:
            c.hk_pass_addr = TLB_EMPTY
        return next_insn(c, i)
    c.hk_addr = addr
    c.hk_size = <uint32_t>i.imm
    c.hk_kind = i.sub
    c.exit_reason = EXIT_HOOK
    return RC_EXIT_NR

cdef uint32_t entry_of(Block* b, uint32_t count) noexcept nogil:
    """Index of the entry where `count` instructions of a block with markers
    have run (the first marker or instruction after them)."""
    cdef uint32_t k = 0
    while k < b.n and b.insns[k].idx < count:
        k += 1
    return k
