# Cache and memory-ordering instructions.  Caches and store buffers are not
# modelled (every access is coherent and in program order), so what remains
# of them is their faults: LFENCE/MFENCE/SFENCE, CLFLUSH/CLFLUSHOPT (which
# fault as a byte load would), MOVNTI (a plain store); and RDPID.

cdef int h_fence(CPU* c, Insn* i) noexcept nogil:
    """LFENCE, MFENCE, SFENCE (0F AE E8-FF): ordering is already total."""
    c.cur = i
    return next_insn(c, i)

cdef int h_clflush(CPU* c, Insn* i) noexcept nogil:
    """CLFLUSH / CLFLUSHOPT m8: the checks of a byte load at the address."""
    c.cur = i
    cdef uint64_t v
    return ok_next(c, i, rd(c, mem_la(c, i), 1, &v))

cdef int h_movnti(CPU* c, Insn* i) noexcept nogil:
    """MOVNTI m32/m64, r32/r64: a plain store."""
    c.cur = i
    cdef uint32_t n = 8 if i.rex & 8 else 4
    return ok_next(c, i, wr(c, mem_la(c, i), n, get_r(c, i.reg, n)))

cdef int h_rdpid(CPU* c, Insn* i) noexcept nogil:
    """RDPID r32/r64 (F3 0F C7 /7): IA32_TSC_AUX, 64 bits in 64-bit mode."""
    c.cur = i
    c.r[i.rm] = c.msr_tsc_aux if c.mode == 64 else (c.msr_tsc_aux & 0xFFFFFFFFULL)
    return next_insn(c, i)
