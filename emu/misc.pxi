# Flag instructions, CPUID, RDTSC, SALC, WAIT.

cdef int h_clc(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    materialize(c)
    c.eflags &= ~<uint64_t>F_CF
    return next_insn(c, i)

cdef int h_stc(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    materialize(c)
    c.eflags |= F_CF
    return next_insn(c, i)

cdef int h_cmc(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    materialize(c)
    c.eflags ^= F_CF
    return next_insn(c, i)

cdef int h_cld(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    c.eflags &= ~<uint64_t>F_DF
    return next_insn(c, i)

cdef int h_std(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    c.eflags |= F_DF
    return next_insn(c, i)

cdef inline int iopl_check(CPU* c) noexcept nogil:
    """CLI/STI in protected mode need CPL <= IOPL (#GP(0) otherwise)."""
    if (c.cr0 & CR0_PE) and c.cpl > iopl(c):
        return fault(c, EXC_GP, 1, 0)
    return 0

cdef int h_cli(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    if iopl_check(c):
        return RC_FAULT
    if pv_traps(c, i, PV_CLI):
        return pv_trap_exit(c, i, PV_CLI, 0, 0, 0)
    c.eflags &= ~<uint64_t>F_IF
    return next_insn(c, i)

cdef int h_sti(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    if iopl_check(c):
        return RC_FAULT
    if pv_traps(c, i, PV_STI):
        return pv_trap_exit(c, i, PV_STI, 0, 0, 0)
    if not (c.eflags & F_IF):
        c.shadow = 1               # interrupts wait one more instruction
        look_now(c)
    c.eflags |= F_IF
    return RC_END

cdef int h_salc(CPU* c, Insn* i) noexcept nogil:
    """SALC (D6, undocumented, not in 64-bit mode): AL = CF ? 0xFF : 0."""
    c.cur = i
    set_r(c, R_AX, 1, 0xFF if get_cf(c) else 0)
    return next_insn(c, i)

cdef int h_rdtsc(CPU* c, Insn* i) noexcept nogil:
    """RDTSC: deterministic; virtual time (instructions retired before this
    one, plus those a halted CPU skipped) plus an offset."""
    c.cur = i
    cdef uint64_t t = c.icount + c.idle + i.idx + c.tsc_offset
    if pv_traps(c, i, PV_RDTSC):
        return pv_trap_exit(c, i, PV_RDTSC, 0, 0, 0)
    c.r[R_AX] = t & 0xFFFFFFFFULL
    c.r[R_DX] = t >> 32
    return next_insn(c, i)

# CPUID: the feature bits are exactly the implemented features'
# (emu/isa/features.py, generated into cpuid_gen.pxi with CPUID_MAX_BASIC);
# the identity leaves (vendor, signature, limits, brand) come from the CPU
# model (cpumodels.pxi), which may also hide features.

cdef void cpuid_leaf(CPU* c, uint32_t leaf, uint32_t sub, uint32_t* out) noexcept nogil:
    out[0] = out[1] = out[2] = out[3] = 0
    if c.pv_on and (leaf >> 8) == 0x400000:    # the supervisor's leaves
        if leaf <= 0x40000002ULL:
            memcpy(out, c.pv_cpuid[leaf & 3], 16)
        return
    if leaf > c.model.max_ext or (c.model.max_basic < leaf < 0x80000000ULL):
        leaf = c.model.max_basic       # as Intel (and QEMU): the highest basic leaf
    if model_leaf(c, leaf, out):
        return
    if leaf == 1:
        out[0] = c.model.signature
        out[1] = model_leaf1_ebx(c)
        out[2] = CPUID_1_ECX
        if c.pv_on:
            out[2] |= 0x80000000ULL            # a hypervisor is present
        out[3] = CPUID_1_EDX
        if c.cr4 & CR4_OSXSAVE:
            out[2] |= 1 << 27                  # OSXSAVE: CR4.OSXSAVE
    elif leaf == 7 and sub == 0:
        out[1] = CPUID_7_EBX
        out[2] = CPUID_7_ECX
        if c.cr4 & CR4_PKE:
            out[2] |= 1 << 4                   # OSPKE: CR4.PKE
        out[3] = CPUID_7_EDX
    elif leaf == 0xD:
        cpuid_xsave_leaf(c, sub, out)          # fxsave.pxi
    elif leaf == 0x80000001ULL:
        out[2] = CPUID_EXT_ECX
        out[3] = CPUID_EXT_EDX
    model_hide(c, leaf, out)

cdef int h_cpuid(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint32_t out[4]
    if pv_traps(c, i, PV_CPUID):
        return pv_trap_exit(c, i, PV_CPUID, c.r[R_AX] & 0xFFFFFFFFULL, c.r[R_CX] & 0xFFFFFFFFULL, 0)
    cpuid_leaf(c, <uint32_t>c.r[R_AX], <uint32_t>c.r[R_CX], out)
    c.r[R_AX] = out[0]
    c.r[R_BX] = out[1]
    c.r[R_CX] = out[2]
    c.r[R_DX] = out[3]
    return next_insn(c, i)
