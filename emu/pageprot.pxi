# Page protections beyond U/S, R/W and NX (SDM Vol. 3A 4.6): SMAP's
# STAC/CLAC, and protection keys: PKRU (RDPKRU/WRPKRU) for user pages with
# CR4.PKE, IA32_PKRS for supervisor pages with CR4.PKS.  paging.pxi applies
# them in the walk; the TLB keeps only translations they allowed, so every
# change of PKRU or IA32_PKRS flushes it.

cdef enum:
    MSR_PKRS = 0x6E1
    PKEY_AD = 1             # access disable (bit 2k of PKRU/PKRS)
    PKEY_WD = 2             # write disable (bit 2k+1)

cdef inline bint pkey_denied(CPU* c, uint64_t leaf, bint usr, bint user, int acc) noexcept nogil:
    """A data access the leaf entry's key (bits 62:59) forbids: AD forbids
    any, WD writes at user level, and supervisor writes when CR0.WP is set."""
    cdef uint64_t rights
    if usr and (c.cr4 & CR4_PKE):
        rights = c.pkru
    elif not usr and (c.cr4 & CR4_PKS):
        rights = c.msr_pkrs
    else:
        return False
    rights = (rights >> (2 * ((leaf >> 59) & 0xF))) & 3
    if rights & PKEY_AD:
        return True
    return acc == ACC_WRITE and (rights & PKEY_WD) != 0 and (user or (c.cr0 & CR0_WP) != 0)

cdef inline bint leaf7_ecx(CPU* c, uint32_t bit) noexcept nogil:
    """A CPUID leaf 7 ECX feature bit, as the model reports it."""
    cdef uint32_t l7[4]
    if c.model.max_basic < 7:
        return False
    cpuid_leaf(c, 7, 0, l7)
    return (l7[2] >> bit) & 1

cdef inline bint has_pks(CPU* c) noexcept nogil:
    return leaf7_ecx(c, 31)

cdef inline bint has_pku(CPU* c) noexcept nogil:
    return leaf7_ecx(c, 3)

cdef inline void set_pkru(CPU* c, uint32_t v) noexcept nogil:
    """PKRU = v (WRPKRU, XRSTOR): the TLB forgets what the old rights allowed."""
    c.pkru = v
    tlb_flush(c)

cdef int set_pkrs(CPU* c, uint64_t v) noexcept nogil:
    """WRMSR IA32_PKRS: bits 63:32 are reserved (1: #GP)."""
    if v >> 32:
        return 1
    c.msr_pkrs = v
    tlb_flush(c)
    return 0

cdef int h_rdpkru(CPU* c, Insn* i) noexcept nogil:
    """RDPKRU (0F 01 EE): EDX:EAX = PKRU; #UD without CR4.PKE, #GP(0) if ECX != 0."""
    c.cur = i
    if not (c.cr4 & CR4_PKE):
        return fault(c, EXC_UD, 0, 0)
    if c.r[R_CX] & 0xFFFFFFFFULL:
        return fault(c, EXC_GP, 1, 0)
    c.r[R_AX] = c.pkru
    c.r[R_DX] = 0
    return next_insn(c, i)

cdef int h_wrpkru(CPU* c, Insn* i) noexcept nogil:
    """WRPKRU (0F 01 EF): PKRU = EAX; #UD without CR4.PKE, #GP(0) unless ECX = EDX = 0."""
    c.cur = i
    if not (c.cr4 & CR4_PKE):
        return fault(c, EXC_UD, 0, 0)
    if (c.r[R_CX] | c.r[R_DX]) & 0xFFFFFFFFULL:
        return fault(c, EXC_GP, 1, 0)
    set_pkru(c, <uint32_t>c.r[R_AX])
    return RC_END                              # the next fetches may see other rights

cdef inline int ac_insn_allowed(CPU* c) noexcept nogil:
    """STAC/CLAC: #UD in virtual-8086 mode and at CPL > 0."""
    if (c.eflags & F_VM) or c.cpl != 0:
        return fault(c, EXC_UD, 0, 0)
    return 0

cdef int h_stac(CPU* c, Insn* i) noexcept nogil:
    """STAC (0F 01 CB): set EFLAGS.AC (SMAP then lets supervisor code at user pages)."""
    c.cur = i
    if ac_insn_allowed(c):
        return RC_FAULT
    c.eflags |= F_AC
    return next_insn(c, i)

cdef int h_clac(CPU* c, Insn* i) noexcept nogil:
    """CLAC (0F 01 CA): clear EFLAGS.AC."""
    c.cur = i
    if ac_insn_allowed(c):
        return RC_FAULT
    c.eflags &= ~<uint64_t>F_AC
    return next_insn(c, i)
