# Edge coverage for fuzzers (Machine.coverage_start): AFL's layout, a map of
# 8-bit counters indexed by prev_loc ^ cur_loc for each block transition,
# with prev_loc = cur_loc >> 1 afterwards, and counters of blocks run, all
# in C.  While coverage is on, build_block puts a marker instruction
# (h_cov) at the start of every block, carrying the block's cur_loc; with
# coverage off no block has one, so it costs nothing.

cdef inline uint32_t cov_loc(uint64_t rip) noexcept nogil:
    """A block's location: its address hashed over the map's bits."""
    cdef uint64_t h = (rip ^ (rip >> 17)) * 0x9E3779B97F4A7C15ULL
    return <uint32_t>(h >> 40)

cdef int h_cov(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint32_t cur = <uint32_t>i.imm & c.cov_mask
    c.cov_map[cur ^ c.cov_prev] += 1
    c.cov_prev = cur >> 1
    c.cov_blocks += 1
    return next_insn(c, i)

cdef void set_cov_marker(Insn* m, uint64_t rip) noexcept nogil:
    memset(m, 0, sizeof(Insn))
    m.fn = h_cov
    m.opcode = 0xFFFF           # no real opcode: nothing fuses with it
    m.imm = cov_loc(rip)
