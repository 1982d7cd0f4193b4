# Instruction tracing (pvemu run --trace, emu.trace): the core steps one
# instruction at a time exactly as run(count=1) would, and writes a 32-byte
# record of each traced instruction into a buffer; emu/trace.py turns the
# records into text (each distinct record disassembled once).
#
# Record layout (TRACE_REC bytes, little-endian):
#   0  u64 rip        8  u16 cs (16-bit mode only, else 0)
#  10  u8  mode      11  u8  number of instruction bytes (0: not fetchable)
#  12  u8  bytes[16] 28  4 bytes of zeros

DEF TRACE_REC = 32
# Steps without a record before trace_run returns (so Ctrl-C is seen even
# when the traced range is never reached).
DEF TRACE_MAX_QUIET = 1 << 20


cdef int code_at(CPU* c, uint64_t ip, uint8_t* buf) noexcept nogil:
    """The bytes of the instruction at ip into buf (16 bytes), read as the
    CPU fetches them (CS base, paging); returns their number (what could be
    fetched if it does not decode)."""
    cdef uint64_t pages[2]
    cdef Insn insn
    cdef uint64_t la = (c.segbase[S_CS] + ip) & c.lamask
    cdef int got = fetch_code(c, la, buf, 15, pages)
    cdef int n = decode_one(c.mode, &insn, buf, got) if got > 0 else -1
    return n if n > 0 else got


cdef int trace_run(CPU* c, uint8_t* recs, int cap, int* n, uint64_t lo, uint64_t hi,
                   uint64_t* step_start) noexcept nogil:
    """Step until `cap` records are written (n counts them), recording the
    instructions with lo <= rip < hi; each step is one cpu_run with a budget
    of 1, repeated while it retires nothing.  Returns EXIT_COUNT, or the
    exit reason that ended a step otherwise (step_start = the instruction
    count before that step; c.budget = what is left of its budget)."""
    cdef uint64_t rip
    cdef uint8_t* r
    cdef int reason, quiet = 0
    while n[0] < cap and quiet < TRACE_MAX_QUIET:
        rip = c.r[R_RIP]
        if lo <= rip < hi:
            r = recs + n[0] * TRACE_REC
            memset(r, 0, TRACE_REC)
            (<uint64_t*>r)[0] = rip
            if c.mode == 16:
                (<uint16_t*>(r + 8))[0] = c.sel[S_CS]
            r[10] = <uint8_t>c.mode
            r[11] = <uint8_t>code_at(c, rip, r + 12)
            n[0] += 1
            quiet = 0
        else:
            quiet += 1
        step_start[0] = c.icount
        c.budget = 1
        reason = cpu_run(c)
        while reason == EXIT_COUNT and c.budget != 0:
            reason = cpu_run(c)
        if reason != EXIT_COUNT:
            return reason
    return EXIT_COUNT
