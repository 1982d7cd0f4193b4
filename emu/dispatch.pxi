# Threaded dispatch: a handler that completes normally jumps straight to the
# next instruction's handler (a tail call the C compiler turns into an
# indirect jump), so each handler has its own dispatch branch, which the
# host CPU predicts far better than one shared call site.  Each block ends
# with a marker instruction (h_block_end) that returns to the run loop.

cdef inline int next_insn(CPU* c, Insn* i) noexcept nogil:
    """Retire i and run the next instruction of the block."""
    if c.block_abort:
        return RC_END          # a store invalidated decoded code: stop here
    i += 1
    c.cur = i
    return i.fn(c, i)

cdef inline int ok_next(CPU* c, Insn* i, int rc) noexcept nogil:
    """Chain on if a final step (a store, a push, a segment load) succeeded."""
    if rc:
        return rc
    return next_insn(c, i)

cdef inline uint64_t next_ip(CPU* c, Insn* i) noexcept nogil:
    """The address of the instruction after i."""
    return (c.r[R_BASE] + i.next) & c.ipmask

cdef int h_block_end(CPU* c, Insn* i) noexcept nogil:
    return RC_DONE
