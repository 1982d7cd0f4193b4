# The machine-check architecture's MSRs (SDM Vol. 3B ch. 16), as a CPU with
# MCE and MCA that never sees a hardware error: IA32_MCG_CAP reports
# MCA_BANKS banks (QEMU's count) and no MCG_CTL; each bank's MCi_CTL takes
# 0 or all ones (Linux writes all ones to enable every error type), MCi_STATUS
# only 0 (software clears it), MCi_ADDR and MCi_MISC any value.  The banks'
# MSRs past the count are #GP, as for any MSR a CPU does not have.

cdef enum:
    MCA_BANKS = 10
    MSR_MCG_CAP = 0x179
    MSR_MCG_STATUS = 0x17A
    MSR_MC0_CTL = 0x400                # bank i: 0x400 + 4 i + (CTL 0, STATUS 1, ADDR 2, MISC 3)

cdef inline bint is_mca_msr(uint32_t n) noexcept nogil:
    return n == MSR_MCG_CAP or n == MSR_MCG_STATUS or MSR_MC0_CTL <= n < MSR_MC0_CTL + 4 * MCA_BANKS

cdef int mca_read(CPU* c, uint32_t n, uint64_t* v) noexcept nogil:
    if n == MSR_MCG_CAP:
        v[0] = MCA_BANKS
    elif n == MSR_MCG_STATUS:
        v[0] = c.mcg_status
    else:
        v[0] = c.mc_bank[n - MSR_MC0_CTL]
    return 0

cdef int mca_write(CPU* c, uint32_t n, uint64_t v) noexcept nogil:
    """0, or 1 (#GP) for a value the MSR does not take."""
    cdef uint32_t k = n - MSR_MC0_CTL
    if n == MSR_MCG_CAP:
        return 1                       # read-only
    if n == MSR_MCG_STATUS:
        if v & ~<uint64_t>7:           # RIPV, EIPV, MCIP
            return 1
        c.mcg_status = v
        return 0
    if (k & 3) == 0 and v != 0 and v != <uint64_t>-1:
        return 1
    if (k & 3) == 1 and v != 0:
        return 1
    c.mc_bank[k] = v
    return 0
