# Scanning loops: `add r, imm; cmp byte [.. r ..], imm; jne/je back`, the
# inner loop of strlen and its kin, as one fused pair (gen_variants.py
# LOOPS): the ADD (its flags dead: the CMP overwrites them, and redoes them
# itself if its operand misses, Insn.fixfl) and the CMP fused with its Jcc.
# When the Jcc branches back to the pair (an entry of its block), the next
# pass runs right here, as chain_self would have entered the block there
# (dispatch.pxi: the same may_chain test, icount and counter), but without
# the dispatch, and the CMP's flags, which the next pass overwrites, are
# recorded only when the loop leaves.  Nothing else can happen between two
# passes: no store (so no stale code), no hook or cut (the block has
# markers or is run unfused then).

cdef inline int scan_pair(CPU* c, Insn* i, uint32_t aosz, uint32_t osz, uint32_t kind,
                          uint32_t cc, handler_t cmp_alone) noexcept nogil:
    """i: ADD r, imm (flags dead); i + 1: CMP r/m, imm (form `kind`, its
    own handler cmp_alone, which runs it on a miss); i + 2: its JE/JNE (cc
    4 or 5)."""
    cdef Insn* k = i + 1
    cdef Insn* j = i + 2
    cdef uint64_t m = size_mask(osz), s = k.imm & m, step = i.imm & size_mask(aosz), d
    cdef uint64_t retired = self_retired(j)[0], reach = self_reach(j)[0]
    cdef uint32_t rm = i.rm
    cdef bint again = j.self_n != 0 and first_of(j)[0] == i
    cdef bint t
    cdef Insn at                       # k's address, in a local: the stores to c may alias *k
    at.base = k.base
    at.index = k.index
    at.scale = k.scale
    at.disp = k.disp
    while True:
        set_r(c, rm, aosz, get_r(c, rm, aosz) + step)
        if rd_or_miss(c, addr_of(c, &at, kind), osz, kind, &d):
            return cmp_alone(c, k)
        t = (d == s) ^ (cc & 1)
        if not (t and again):
            break
        if not may_chain(c, c.icount, reach):
            break
        c.icount += retired
        c.blocks_chained += 1
        poison_cur(c, i)
    set_lazy(c, LF_SUB, osz * 8, d, s, d - s)
    if t:
        return branch_rel(c, j)
    return fall_through(c, j)
