# Threaded dispatch: a handler that completes normally jumps straight to the
# next instruction's handler (a tail call the C compiler turns into an
# indirect jump), so each handler has its own dispatch branch, which the
# host CPU predicts far better than one shared call site.  Each block ends
# with a marker instruction (h_block_end) that returns to the run loop.
# CPU.cur, the instruction the run loop stops at, is not stored on that
# tail call (a store per instruction): whatever returns to the run loop, or
# calls code that reads CPU.cur (seg_check, mmio_python), sets it first.
# The generic handlers (h_*) set it on entry (but for those that can only
# go on or branch: h_nop, h_jcc, ...); the specialized variants
# (gen_variants.py) and the branches only on their way out: next_insn's
# RC_END, chain_on's return, and their generic handler on a TLB miss.
# Dev builds check the rule (dispatch.h).

from libc.stdio cimport fprintf, stderr
from libc.stdlib cimport abort

cdef extern from "dispatch.h":
    bint CUR_CHECK "PV_CUR_CHECK"
    void* in_reg "pv_in_reg"(void* p) noexcept nogil

cdef inline void poison_cur(CPU* c, Insn* i) noexcept nogil:
    """(dev builds) Mark CPU.cur as not set by i's handler: i's address + 1."""
    if CUR_CHECK:
        c.cur = <Insn*>(<char*>i + 1)

cdef inline Insn* cur_insn(CPU* c, int rc) noexcept nogil:
    """CPU.cur, where the handler that returned rc (or, with rc -1, the one
    running) set it; a dev build stops with the culprit named instead of
    reading a stale CPU.cur."""
    cdef Insn* i = c.cur
    if CUR_CHECK and (<uintptr_t>i & 1):
        i = <Insn*>(<char*>i - 1)
        fprintf(stderr, b"pvemu internal error: CPU.cur not set by the handler at %p "
                b"(opcode %#x, rip %#llx, rc %d)\n", <void*>i.fn, <unsigned>i.opcode,
                <unsigned long long>(c.r[R_BASE] + i.off), rc)
        abort()
    return i

cdef inline int next_insn(CPU* c, Insn* i) noexcept nogil:
    """Retire i and run the next instruction of the block."""
    if c.block_abort:
        c.cur = i
        return RC_END          # a store invalidated decoded code: stop here
    return next_insn_reg(c, i)

cdef inline int next_insn_reg(CPU* c, Insn* i) noexcept nogil:
    """next_insn after an instruction that accessed no memory (a register
    form): it stored nothing, so no decoded code can have gone stale."""
    i = <Insn*>in_reg(i + 1)
    poison_cur(c, i)
    return i.fn(c, i)

cdef inline int next_reg(CPU* c, Insn* i, uint32_t kind) noexcept nogil:
    """next_insn_reg for a template's register form; for K_PAIR, the first
    instruction of a fused pair (gen_variants.py PAIRS), nothing: the pair's
    handler runs the second itself."""
    if kind == K_PAIR:
        return RC_OK
    return next_insn_reg(c, i)

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
    """A cut the run loop made (a budget, `until`, single-step): back to it."""
    c.cur = i
    return RC_DONE

cdef int h_block_next(CPU* c, Insn* i) noexcept nogil:
    """The end marker of a block that runs on into the next (a Jcc not
    taken, a page boundary, BLOCK_MAX instructions): chain into it (below),
    else back to the run loop as h_block_end does.  i.idx instructions
    retired, and i.off is where the next block starts."""
    return chain_on(c, i, (c.r[R_BASE] + i.off) & c.ipmask, i.idx, False, False)

# Block chaining: a near branch at the end of a block (control.pxi) runs the
# next block straight away, a tail call like next_insn, when the run loop
# would have taken its fast path for it anyway: the target is in the jump
# cache, no upcall is due, and the block ends by CPU.chain_stop.  That one
# limit stands for everything the run loop must look at: the run loop sets
# it for each block it starts to the icount where its budget runs out, or
# CHAIN_INSNS instructions on, or next_event, whichever is first (no
# further than that start with `until` set, which may need a cut anywhere,
# or chaining off), and whatever makes the run loop look sooner (an
# interrupt, a shadow, TF, armed breakpoints, a timer) lowers both
# next_event and chain_stop (look_now, schedule in pit.pxi).  chain() only
# brings icount up to date (vtime reads it); the run loop takes what the
# chain retired from the budget when it gets control back.  Otherwise
# chain() returns RC_JUMP and the run loop makes every check.
# Only near branches chain: they never change the mode, so the run loop's
# ipmask stays right for the block it finally sees.  The bound keeps the
# tail calls' stack finite without optimization (with it they keep the
# stack flat), and a stop request (another thread's) is seen by the run
# loop at most CHAIN_INSNS instructions later.  The upcall stays a test of
# its own: the guest unmasks it with a plain store.

cdef enum:
    CHAIN_INSNS = 4096

cdef extern from "branch_hint.h":
    bint likely "pv_likely"(bint) noexcept nogil
    bint unlikely "pv_unlikely"(bint) noexcept nogil

cdef inline void look_now(CPU* c) noexcept nogil:
    """Something is pending: the run loop looks before the next block, and
    no block is entered by chaining until it has."""
    c.next_event = 0
    c.chain_stop = 0

cdef inline int chain(CPU* c, Insn* i, uint64_t target) noexcept nogil:
    """i, a near branch ending its block, retired: go on at target."""
    return chain_on(c, i, target, i.idx + 1, True, False)

# A relative branch's target is the same each time it is taken from a block
# (at the same start), so the branch remembers the block it chained to (its
# link) and tries that before the jump cache: the same two tests make it
# valid (the rip it starts, the key of this jump-cache generation), one load
# instead of the lookup.  A link is a Block* in the branch's Insn.disp
# (set_rel_target, control.pxi); blocks live as long as the Insns that link
# to them (both go at a cache_flush).

cdef inline bint starts_at(CPU* c, Block* b, uint64_t rip) noexcept nogil:
    """Is b (a jump-cache entry or a link) the block decoded at rip for this
    CPU's current jump-cache generation?"""
    return likely(b.vstart == rip) and likely(b.key == c.key)

cdef inline Block** link_of(Insn* i) noexcept nogil:
    return <Block**>&i.disp

cdef inline int chain_rel(CPU* c, Insn* i, uint64_t target) noexcept nogil:
    """chain() for a relative branch: through its link."""
    return chain_on(c, i, target, i.idx + 1, True, True)

# A relative branch to an instruction of its own block (back to its start,
# or over a few instructions: build_block sets Insn.self_n to the block's
# length) keeps a pointer to that entry where others keep their link: the
# block to run is the one running, and valid still (a store into it would
# have ended it: next_insn).  Its target needs no computing, so its imm and
# imm2 hold constants instead (self_retired, self_reach): what it adds to
# icount, idx + 1 - e for entry e, and that plus the block's length.  So
# icount runs e behind while the block runs from entry e on (e ahead after
# a branch back): whatever reads it mid-block adds the instruction's idx
# (vtime's io_idx, RDTSC, mmio_python), which counts from the block's
# start, and the run loop adds the idx it stops at.

cdef inline Insn** first_of(Insn* i) noexcept nogil:
    return <Insn**>&i.disp

cdef inline uint64_t* self_retired(Insn* i) noexcept nogil:
    return &i.imm

cdef inline uint64_t* self_reach(Insn* i) noexcept nogil:
    return &i.imm2

cdef inline bint may_chain(CPU* c, uint64_t n, uint64_t length) noexcept nogil:
    """May a block of `length` instructions be entered by chaining, n
    instructions retired before it?  (n + length <= chain_stop <= next_event:
    it ends before next_event.)"""
    return n + length <= c.chain_stop and (likely(c.pv_vcpu == NULL) or not upcall_due(c))

cdef inline int enter_chained(CPU* c, uint64_t n, Insn* first) noexcept nogil:
    """Run the block whose first entry is `first`, n instructions retired
    before it (may_chain said yes; R_BASE is its start)."""
    c.icount = n
    c.blocks_chained += 1
    poison_cur(c, first)
    return first.fn(c, first)

cdef inline int chain_self(CPU* c, Insn* i) noexcept nogil:
    """chain() for a branch into its own block (above): no lookup, only
    chain_on's other tests."""
    cdef uint64_t n = c.icount
    if likely(may_chain(c, n, self_reach(i)[0])):
        return enter_chained(c, n + self_retired(i)[0], first_of(i)[0])
    return chain_self_miss(c, i)

cdef int chain_self_miss(CPU* c, Insn* i) noexcept nogil:
    """chain_self when its block may not chain: by the jump cache (it has
    no link), which returns to the run loop.  (Not inline: the hot path
    keeps nothing live for it.)"""
    cdef Insn* e = first_of(i)[0]
    return chain_on(c, i, (c.r[R_BASE] + <uint64_t><int64_t>e.off) & c.ipmask, i.idx + 1, True, False)

cdef inline int chain_on(CPU* c, Insn* i, uint64_t target, uint32_t retired, bint branch,
                         bint linked) noexcept nogil:
    """Run the block at target if it may chain (above), with `retired`
    instructions of this one retired; else back to the run loop (c.cur =
    i, which may be a fused pair's Jcc): RC_JUMP after a branch, RC_DONE at
    an end marker.
    (block_abort needs no reset: it is 0 here unless the branch itself
    stored into code, and then the next block stops after one instruction.)"""
    cdef Block* b
    cdef uint64_t n = c.icount + retired
    cdef bint hit
    if linked:
        b = link_of(i)[0]
        hit = starts_at(c, b, target)
        if unlikely(not hit):
            b = c.jcache[target & (JC_SIZE - 1)]
            link_of(i)[0] = b
            hit = starts_at(c, b, target)
    else:
        b = c.jcache[target & (JC_SIZE - 1)]
        hit = starts_at(c, b, target)
    if likely(hit and may_chain(c, n, b.n)):
        c.r[R_BASE] = target
        return enter_chained(c, n, b.insns)
    c.cur = i
    if not branch:
        return RC_DONE      # (a non-canonical target faults at its fetch)
    if bad_target(c, target):   # (a chain never enters a block there: control.pxi)
        return branch_gp(c, i)
    c.r[R_RIP] = target
    return RC_JUMP
