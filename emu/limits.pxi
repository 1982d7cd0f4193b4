# Segment limit checks on data and stack accesses outside 64-bit mode (in
# real and virtual-8086 mode too, where the limit is 0xFFFF unless a
# protected-mode load left another): an offset past an expand-up segment's
# limit, or not above an expand-down segment's (up to 0xFFFF or, with B
# set, 0xFFFFFFFF), is #GP(0), or #SS(0) through SS (SDM vol. 3 5.3,
# 20.1.3).  In protected mode a store through a segment that is not
# writable (read-only data, or code) is #GP(0) as well (5.4.1).
#
# They cost nothing while every segment is flat (limit 4 GiB, expand-up):
# CPU.segchk is 0 and no access looks.  Otherwise the software TLB keeps
# only pages that lie wholly inside every usable segment (the intersection
# of their linear ranges, seg_lo..seg_hi), so an access that hits the TLB
# is within the limit of whatever segment it went through.  Every other
# access takes the slow path (rd_slow, wr_slow, check_wr), which works out
# the segment it went through (the instruction's memory operand, a string
# instruction's rSI or rDI, else the stack) and checks its limit.  Stack
# frames written while delivering an interrupt are checked by the delivery
# (interrupts.pxi) against the stack they go to.
#
# Two cases the shared TLB cannot tell apart, as it is keyed by linear
# address alone: an access through a CS override (code is never writable,
# and an execute-only CS is not readable) and one through a null data
# segment register (#GP(0)), in protected mode.  The decoder puts a guard
# before such an instruction (a CS override always; a null segment's
# instructions while CPU.key says it is null) and ends its block there: the
# guard sends the instruction's accesses down the slow path, where
# seg_check sees its segment, and the block's end marker restores the
# normal state (segs_changed).

cdef void tlb_clear_data(CPU* c) noexcept nogil:
    cdef int k
    for k in range(256):
        c.tlb_r[k].tag = TLB_EMPTY
        c.tlb_w[k].tag = TLB_EMPTY

cdef void segs_changed(CPU* c) noexcept nogil:
    """After a segment register, the mode or a segment base changed:
    recompute segchk and the linear range safe for every segment."""
    cdef uint32_t s, attr
    cdef uint64_t lo = 0, hi = 0xFFFFFFFFULL, a, b
    cdef bint chk = False, ro = False
    if c.mode != 64:
        for s in range(6):
            attr = c.segattr[s]
            if attr == 0:
                continue                       # unusable (null)
            if s != S_CS and (attr & (ATTR_CODE | ATTR_WRITABLE)) != ATTR_WRITABLE \
                    and (c.cr0 & CR0_PE) and not (c.eflags & F_VM):
                ro = True                      # stores through it fault
            if (attr & (ATTR_CODE | ATTR_CONFORMING)) == ATTR_CONFORMING:    # expand-down data
                a = c.segbase[s] + c.seglimit[s] + 1
                b = c.segbase[s] + (0xFFFFFFFFULL if attr & ATTR_DB else 0xFFFF)
            elif c.seglimit[s] == 0xFFFFFFFFULL:
                continue                       # any offset is in it
            else:
                a = c.segbase[s]
                b = c.segbase[s] + c.seglimit[s]
            chk = True
            if b > 0xFFFFFFFFULL or a > b:     # empty, or wrapping: keep nothing
                a = 1
                b = 0
            if a > lo:
                lo = a
            if b < hi:
                hi = b
    chk = chk or ro
    seg_null_key(c)
    seg_flat_key(c)
    c.cs_limited = (c.mode != 64 and (c.cr0 & CR0_PE) and not (c.eflags & F_VM)
                    and c.seglimit[S_CS] < c.ipmask)
    if c.cs_limited:
        look_now(c)                       # every block through the run loop's cut (cs_limit_cut)
    if chk or c.segchk:
        tlb_clear_data(c)                      # entries kept under the old ranges go
    c.seg_ro = ro
    c.segchk = chk
    c.seg_lo = lo
    c.seg_hi = hi

cdef inline bint seg_page_safe(CPU* c, uint64_t la) noexcept nogil:
    cdef uint64_t p = la & ~<uint64_t>0xFFF
    return c.seg_lo <= p and p + 0xFFF <= c.seg_hi

cdef inline bint string_insn(uint32_t op) noexcept nogil:
    return 0xA4 <= op <= 0xA7 or 0xAA <= op <= 0xAF or 0x6C <= op <= 0x6F

cdef bint stack_insn(Insn* i) noexcept nogil:
    """Does the instruction push or pop (besides any memory operand)?"""
    cdef uint32_t op = i.opcode
    return (0x50 <= op <= 0x61 or op in (0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F,
            0x68, 0x6A, 0x8F, 0x9A, 0x9C, 0x9D, 0xC2, 0xC3, 0xC8, 0xC9, 0xCA, 0xCB,
            0xCF, 0xE8, 0x1A0, 0x1A1, 0x1A8, 0x1A9)
            or (op == 0xFF and (i.reg & 7) in (2, 3, 6)))

cdef int seg_check(CPU* c, uint64_t la, uint32_t size, bint write) noexcept nogil:
    """The limit check of an access at linear la (segchk is on), and for a
    store the type check: 0, or RC_FAULT with #GP(0) / #SS(0)."""
    cdef Insn* i = cur_insn(c, -1)
    cdef uint32_t s = S_SS, attr
    cdef uint64_t d
    if string_insn(i.opcode):
        s = S_ES if la == lin_of(c, S_ES, c.r[R_DI] & i.amask) else i.seg
    elif i.opcode == 0xD7:
        s = i.seg                              # XLAT: [rBX + AL]
    elif i.mod != 3 and i.seg < 6:
        # the memory operand (a bit string of BT* may reach far from it),
        # unless the instruction also pushes or pops and la is not near it
        d = (la - mem_la(c, i)) & 0xFFFFFFFFULL
        if not stack_insn(i) or d < 16:
            s = i.seg
    attr = c.segattr[s]
    if attr == 0 and s != S_SS:
        return fault(c, EXC_GP, 1, 0) if c.seg_guard else 0      # a null segment
    if write and (c.seg_ro or c.seg_guard) and (attr & (ATTR_CODE | ATTR_WRITABLE)) != ATTR_WRITABLE:
        return fault(c, EXC_SS if s == S_SS else EXC_GP, 1, 0)
    if not write and c.seg_guard and (attr & (ATTR_CODE | ATTR_WRITABLE)) == ATTR_CODE:
        return fault(c, EXC_GP, 1, 0)          # an execute-only code segment
    if within_limit(attr, c.seglimit[s], (la - c.segbase[s]) & 0xFFFFFFFFULL, size):
        return 0
    return fault(c, EXC_SS if s == S_SS else EXC_GP, 1, 0)

cdef inline bint within_limit(uint32_t attr, uint64_t limit, uint64_t off, uint32_t size) noexcept nogil:
    """Do the bytes off..off+size-1 lie inside a data or stack segment's
    limit: up to it when expand-up; above it, and up to 0xFFFF or (with B)
    0xFFFFFFFF, when expand-down?"""
    cdef uint64_t last = off + size - 1
    if (attr & (ATTR_CODE | ATTR_CONFORMING)) == ATTR_CONFORMING:
        return off > limit and last <= (0xFFFFFFFFULL if attr & ATTR_DB else 0xFFFF)
    return last <= limit

cdef inline void seg_evict(CPU* c, uint64_t la, uint32_t size, bint write) noexcept nogil:
    """After a slow-path access: pages outside the safe range leave the TLB."""
    cdef uint64_t a
    cdef uint32_t k
    for k in range(2):
        a = la if k == 0 else (la + size - 1) & c.lamask
        if not seg_page_safe(c, a):
            if write:
                c.tlb_w[(a >> 12) & 255].tag = TLB_EMPTY
            else:
                c.tlb_r[(a >> 12) & 255].tag = TLB_EMPTY

cdef bint cs_limit_cut(CPU* c, uint64_t rip, Block* b, uint32_t* n) noexcept nogil:
    """Code fetch within CS's limit (when c.cs_limited): cut the block
    before its first instruction that ends past the limit; True, with
    #GP(0), when that is the first one (SDM Vol. 3A 5.3).  If that
    instruction is the target of a JMP or CALL the block followed
    (icache.pxi), the cut is before the branch, which faults itself (SDM
    Vol. 2A JMP, CALL: the target is beyond the limit)."""
    cdef uint32_t k, j
    cdef uint64_t limit = c.seglimit[S_CS]
    for k in range(n[0]):
        if rip + b.insns[k].next > limit + 1 or rip > limit:
            j = k
            while j > 0 and b.insns[j - 1].fn == h_hook:
                j -= 1                     # (the hook markers of k's instruction)
            if j > 0 and b.insns[j - 1].opcode in (0xE8, 0xE9, 0xEB):
                k = j - 1                  # a followed branch: only those go on in their block
                while k > 0 and b.insns[k - 1].fn == h_hook and b.insns[k - 1].off == b.insns[j - 1].off:
                    k -= 1                 # (its own markers)
            if k == 0:
                fault(c, EXC_GP, 1, 0)
                return True
            n[0] = k
            return False
    return False

# ---- guards for CS overrides and null segments (see the top)

cdef inline uint32_t null_key_bit(uint32_t s) noexcept nogil:
    """The CPU.key bit (inside KEY_DECODE, below the mode's) of a null data segment."""
    return 1 if s == S_DS else (2 if s == S_ES else (4 if s == S_FS else (8 if s == S_GS else 0)))

cdef void seg_null_key(CPU* c) noexcept nogil:
    """Record in CPU.key which data segment registers are null in protected
    mode, so blocks decoded under another state are not reused; a change
    ends the running block (its instructions were decoded without guards)."""
    cdef uint32_t s, bits = 0
    if c.mode != 64 and (c.cr0 & CR0_PE) and not (c.eflags & F_VM):
        for s in range(6):
            if c.segattr[s] == 0:
                bits |= null_key_bit(s)
    if (c.key & 0xF) != bits:
        c.key = (c.key & ~<uint32_t>0xF) | bits
        c.block_abort = 1

# The flat key: the specialized variants' 32-bit memory forms (memory.pxi
# mem_kind, K_MEM32) add no segment base, so they are chosen only for ES,
# CS, SS and DS, and only while CPU.key has KEY_FLAT: those four bases are 0
# (limits need nothing: they are kept by the TLB, above).  A base that
# changes the bit ends the running block, as for the null segments.
cdef enum:
    KEY_FLAT = 0x80        # (in KEY_DECODE, above the mode's bits 0x10-0x40)

cdef void seg_flat_key(CPU* c) noexcept nogil:
    cdef uint32_t bit = KEY_FLAT if (c.segbase[S_ES] | c.segbase[S_CS] | c.segbase[S_SS]
                                      | c.segbase[S_DS]) == 0 else 0
    if (c.key & KEY_FLAT) != bit:
        c.key = (c.key & ~<uint32_t>KEY_FLAT) | bit
        c.block_abort = 1

cdef bint seg_guard_needed(CPU* c, Insn* i) noexcept nogil:
    """Does a decoded instruction need the guard: a CS override, or a memory
    operand through a segment register that is null now?"""
    cdef bint mem = i.mod != 3 or string_insn(i.opcode) or i.opcode == 0xD7
    if c.mode == 64 or not mem:
        return False
    if i.seg == S_CS:
        return True
    return (c.key & null_key_bit(i.seg)) != 0 or (string_insn(i.opcode) and (c.key & null_key_bit(S_ES)) != 0)

cdef int h_seg_guard(CPU* c, Insn* i) noexcept nogil:
    """The guard: in protected mode, every access of the next instruction
    takes the slow path and seg_check (no page is safe: seg_lo > seg_hi)."""
    c.cur = i
    if (c.cr0 & CR0_PE) and not (c.eflags & F_VM):
        tlb_clear_data(c)
        c.seg_guard = 1
        c.segchk = 1
        c.seg_lo = 1
        c.seg_hi = 0
    return next_insn(c, i)

cdef int h_guard_end(CPU* c, Insn* i) noexcept nogil:
    """The end marker of a guarded block: back to the normal checks."""
    c.cur = i
    if c.seg_guard:
        c.seg_guard = 0
        segs_changed(c)
    return RC_DONE
