# Register access by operand size, and the stack.

cdef inline uint64_t size_mask(uint32_t osz) noexcept nogil:
    return <uint64_t>-1 if osz == 8 else ((<uint64_t>1 << (osz * 8)) - 1)

cdef inline uint64_t get_r(CPU* c, uint32_t r, uint32_t osz) noexcept nogil:
    if osz == 4:
        return c.r[r] & 0xFFFFFFFFULL
    if osz == 8:
        return c.r[r]
    if osz == 2:
        return c.r[r] & 0xFFFF
    if r & 0x20:                      # AH, CH, DH, BH
        return (c.r[r & 3] >> 8) & 0xFF
    return c.r[r] & 0xFF

cdef inline void set_r(CPU* c, uint32_t r, uint32_t osz, uint64_t v) noexcept nogil:
    if osz == 4:
        c.r[r] = v & 0xFFFFFFFFULL        # 32-bit writes zero-extend
    elif osz == 8:
        c.r[r] = v
    elif osz == 2:
        c.r[r] = (c.r[r] & ~<uint64_t>0xFFFF) | (v & 0xFFFF)
    elif r & 0x20:
        c.r[r & 3] = (c.r[r & 3] & ~<uint64_t>0xFF00) | ((v & 0xFF) << 8)
    else:
        c.r[r] = (c.r[r] & ~<uint64_t>0xFF) | (v & 0xFF)

cdef inline uint32_t stack_asz(CPU* c) noexcept nogil:
    """Stack address size: 8 in 64-bit mode, else the SS segment's B bit."""
    return 8 if c.mode == 64 else (4 if c.ss_big else 2)

cdef inline uint64_t sp_mask(CPU* c) noexcept nogil:
    return c.spmask          # size_mask(stack_asz(c)), kept by update_mode

cdef inline uint64_t stack_la(CPU* c, uint64_t sp) noexcept nogil:
    return lin_of(c, S_SS, sp & sp_mask(c))

cdef inline void set_sp(CPU* c, uint64_t sp) noexcept nogil:
    cdef uint64_t m = sp_mask(c)
    c.r[R_SP] = (c.r[R_SP] & ~m) | (sp & m)

cdef inline int push(CPU* c, uint32_t size, uint64_t v) noexcept nogil:
    cdef uint64_t sp = c.r[R_SP] - size
    if wr(c, stack_la(c, sp), size, v):
        return RC_FAULT
    set_sp(c, sp)
    return 0

cdef inline int peek(CPU* c, uint32_t size, uint64_t off, uint64_t* v) noexcept nogil:
    """Read the stack at rSP + off without popping."""
    return rd(c, stack_la(c, c.r[R_SP] + off), size, v)

cdef inline int pop(CPU* c, uint32_t size, uint64_t* v) noexcept nogil:
    if peek(c, size, 0, v):
        return RC_FAULT
    set_sp(c, c.r[R_SP] + size)
    return 0

cdef inline int rm_read(CPU* c, Insn* i, uint32_t size, uint64_t* v) noexcept nogil:
    """Read the ModRM r/m operand of `size` bytes."""
    if i.mod == 3:
        v[0] = get_r(c, i.rm, size)
        return 0
    return rd(c, mem_la(c, i), size, v)

cdef inline int rm_write(CPU* c, Insn* i, uint32_t size, uint64_t v) noexcept nogil:
    if i.mod == 3:
        set_r(c, i.rm, size, v)
        return 0
    return wr(c, mem_la(c, i), size, v)

cdef inline int rmw_read(CPU* c, uint64_t la, uint32_t size, uint64_t* v) noexcept nogil:
    """First half of a read-modify-write: fault now if the store would, so a
    faulting instruction changes nothing."""
    if check_wr(c, la, size):
        return RC_FAULT
    return rd(c, la, size, v)

cdef inline void set_areg(CPU* c, uint32_t r, uint64_t amask, uint64_t v) noexcept nogil:
    """Write an address-sized register (rCX, rSI, rDI of string and loop
    instructions): a 16-bit one merges, a 32-bit one zero-extends."""
    if amask == 0xFFFF:
        c.r[r] = (c.r[r] & ~<uint64_t>0xFFFF) | (v & 0xFFFF)
    else:
        c.r[r] = v & amask
