# Threaded dispatch: a handler that completes normally jumps straight to the
# next instruction's handler (a tail call the C compiler turns into an
# indirect jump), so each handler has its own dispatch branch, which the
# host CPU predicts far better than one shared call site.  Each block ends
# with a marker instruction (h_block_end) that returns to the run loop.

cdef inline int next_insn(CPU* c, Insn* i) noexcept nogil:
    """Retire i and run the next instruction of the block."""
    if c.block_abort:
        return RC_END          # a store invalidated decoded code: stop here
    return next_insn_reg(c, i)

cdef inline int next_insn_reg(CPU* c, Insn* i) noexcept nogil:
    """next_insn after an instruction that accessed no memory (a register
    form): it stored nothing, so no decoded code can have gone stale."""
    cdef handler_t f = i[1].fn   # (read before the store to c.cur, which the C
    i += 1                       # compiler must assume might change it)
    c.cur = i
    return f(c, i)

cdef inline int next_mem(CPU* c, Insn* i, uint32_t kind) noexcept nogil:
    """next_insn after a memory access: a K_MEM(F) variant's was a TLB hit
    (memory.pxi), which leaves decoded code and breakpoints alone."""
    return next_insn_reg(c, i) if kind >= K_MEM else next_insn(c, i)

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

# Block chaining: a near branch at the end of a block (control.pxi) runs the
# next block straight away, a tail call like next_insn, when the run loop
# would have taken its fast path for it anyway: the next block starts before
# next_event (which stays at 0 while anything is pending: an interrupt, a
# shadow, TF, armed breakpoints), no upcall is due, the target is in the
# jump cache, and the block ends by CPU.chain_stop.  The run loop sets
# chain_stop for each block it starts to the icount where its budget runs
# out, or CHAIN_INSNS instructions on, whichever is first (no further than
# that start with `until` set, which may need a cut anywhere, or chaining
# off): one compare stands for the budget and the bound on the chain, and
# chain() only brings icount up to date (vtime reads it); the run loop takes
# what the chain retired from the budget when it gets control back.
# Otherwise chain() returns RC_JUMP and the run loop makes every check.
# Only near branches chain: they never change the mode, so the run loop's
# ipmask stays right for the block it finally sees.  The bound keeps the
# tail calls' stack finite without optimization (with it they keep the
# stack flat), and a stop request (another thread's) is seen by the run
# loop at most CHAIN_INSNS instructions later.

cdef enum:
    CHAIN_INSNS = 4096

cdef inline int chain(CPU* c, Insn* i, uint64_t target) noexcept nogil:
    """i, a near branch ending its block, retired: go on at target."""
    return chain_go(c, i, target, True)

cdef inline int chain_go(CPU* c, Insn* i, uint64_t target, bint branch) noexcept nogil:
    """chain(), or (branch False) falling through past the end of a block,
    where a non-canonical address faults at its fetch instead."""
    cdef Block* b = c.jcache[target & (JC_SIZE - 1)]
    cdef uint64_t n = c.icount + i.idx + 1    # with the block's instructions retired
    if (b.vstart == target and b.key == c.key and n < c.next_event
            and n + b.n <= c.chain_stop and not upcall_due(c)):
        c.icount = n
        c.blocks_chained += 1
        c.block_abort = 0
        c.r[R_BASE] = target
        i = b.insns
        c.cur = i
        return i.fn(c, i)
    if branch and not canonical(target):   # (never in the jump cache: no block is built there)
        return branch_gp(c, i)
    c.r[R_RIP] = target
    return RC_JUMP
