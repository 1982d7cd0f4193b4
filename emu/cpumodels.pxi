# CPU models (QEMU's -cpu): the identity CPUID leaves (vendor, signature,
# leaf limits, brand string, address sizes, PMU), the model's performance-
# counter MSRs, and the power-up state.  emu/cpumodels.py defines the models
# and fills CPU.model; the feature leaves stay in misc.pxi (what is
# implemented), masked here by what the model hides.

cdef inline bint vendor_amd(CPU* c) noexcept nogil:
    return c.model.vendor == VENDOR_AMD

cdef bint model_leaf(CPU* c, uint32_t leaf, uint32_t* out) noexcept nogil:
    """The model's identity leaves into out; False for any other leaf."""
    if leaf == 0 or (leaf == 0x80000000ULL and vendor_amd(c)):
        out[0] = c.model.max_basic if leaf == 0 else c.model.max_ext
        out[1] = c.model.ident[0]           # AMD repeats the vendor in 0x80000000
        out[3] = c.model.ident[1]
        out[2] = c.model.ident[2]
    elif leaf == 0x80000000ULL:
        out[0] = c.model.max_ext
    elif leaf == 0xA:
        out[0] = c.model.pmu
    elif 0x80000002ULL <= leaf <= 0x80000004ULL:
        memcpy(out, &c.model.brand[(leaf - 0x80000002ULL) * 4], 16)
    elif leaf == 0x80000008ULL:
        out[0] = c.model.addr_sizes
    else:
        return False
    return True

cdef inline uint32_t model_leaf1_ebx(CPU* c) noexcept nogil:
    """Leaf 1 EBX: the initial APIC ID, one logical processor, a 64-byte
    CLFLUSH line."""
    return ((c.apic.id & 0xFF) << 24) | (1 << 16) | (8 << 8)

cdef inline void model_hide(CPU* c, uint32_t leaf, uint32_t* out) noexcept nogil:
    """Clear the feature bits the model does not have."""
    if leaf == 1:
        out[2] &= ~c.model.hidden[0]
        out[3] &= ~c.model.hidden[1]
    elif leaf == 0x80000001ULL:
        out[2] &= ~c.model.hidden[2]
        out[3] &= ~c.model.hidden[3]
    elif leaf == 7:
        out[1] &= ~c.model.hidden[4]
        out[2] &= ~c.model.hidden[5]

# ---- performance counters: as QEMU's TCG, they exist and never count

cdef int model_counter(CPU* c, uint32_t n) noexcept nogil:
    """Index into evtsel (0..) or ctr (MODEL_COUNTERS..) of a counter MSR,
    or -1: Intel P6 IA32_PERFEVTSELx (0x186) and IA32_PMCx (0xC1); AMD K7
    PerfEvtSelx (0xC0010000) and PerfCtrx (0xC0010004)."""
    cdef uint32_t k = c.model.counters
    if c.model.vendor == VENDOR_AMD:
        if 0xC0010000ULL <= n < 0xC0010000ULL + k:
            return n - 0xC0010000ULL
        if 0xC0010004ULL <= n < 0xC0010004ULL + k:
            return MODEL_COUNTERS + n - 0xC0010004ULL
    elif c.model.vendor == VENDOR_INTEL:
        if 0x186 <= n < 0x186 + k:
            return n - 0x186
        if 0xC1 <= n < 0xC1 + k:
            return MODEL_COUNTERS + n - 0xC1
    return -1

cdef int model_msr_read(CPU* c, uint32_t n, uint64_t* v) noexcept nogil:
    """The model's own MSRs; 1 (#GP) for any MSR it does not have."""
    cdef int k = model_counter(c, n)
    if k < 0:
        return 1
    v[0] = c.model.evtsel[k] if k < MODEL_COUNTERS else c.model.ctr[k - MODEL_COUNTERS]
    return 0

cdef int model_msr_write(CPU* c, uint32_t n, uint64_t v) noexcept nogil:
    cdef int k = model_counter(c, n)
    if k < 0:
        return 1
    if k < MODEL_COUNTERS:
        if v >> 32:                             # reserved high half of an event select
            return 1
        c.model.evtsel[k] = v
    else:                                       # 48-bit counters (Intel writes sign-extend EAX)
        c.model.ctr[k - MODEL_COUNTERS] = (v if vendor_amd(c) else
                                           <uint64_t>(<int64_t>(<int32_t>(v & 0xFFFFFFFFULL)))) & 0xFFFFFFFFFFFFULL
    return 0

# ---- the power-up state

cdef void power_on_state(CPU* c) noexcept nogil:
    """The SDM's "Processor States Following Power-up, Reset, or INIT"
    (Vol. 3A, table 10-1) for what the model keeps: real mode at
    F000:FFF0, segments limit 0xFFFF present R/W,
    GDTR and IDTR base 0 limit 0xFFFF, LDTR and TR limit 0xFFFF, EDX the
    processor signature, CR0 0x60000010, debug registers cleared."""
    cdef uint32_t s
    for s in range(6):
        c.sel[s] = 0
        c.segbase[s] = 0
        c.seglimit[s] = 0xFFFF
        c.segattr[s] = 0x93
    c.sel[S_CS] = 0xF000
    # Hardware starts with CS base 0xFFFF0000 (the ROM's top alias) until the
    # first far jump; code is fetched from RAM only, so the base is the same
    # ROM's copy below 1 MiB (boot_bios places it at both).
    c.segbase[S_CS] = 0xF0000
    c.segattr[S_CS] = 0x9B
    for s in range(16):
        c.r[s] = 0
    c.r[R_DX] = c.model.signature
    c.r[R_RIP] = 0xFFF0
    c.eflags = 2
    c.lf_op = LF_NONE
    c.cr0 = 0x60000010ULL
    c.cr2 = c.cr3 = c.cr4 = c.cr8 = c.efer = 0
    c.gdt_base = c.idt_base = c.ldt_base = c.tr_base = 0
    c.gdt_limit = c.idt_limit = c.ldt_limit = c.tr_limit = 0xFFFF
    c.ldt_sel = c.tr_sel = 0
    c.tr_attr = 0x8B                            # a busy 32-bit TSS, as after reset
    for s in range(4):
        c.dr[s] = 0
    c.dr[6] = DR6_FIXED
    c.dr[7] = DR7_FIXED
    c.cpl = 0
    c.pg_bypass = 0
    fpu_power_on(c, False)                      # x87/SSE power-up state, turned off (fxsave.pxi)
    update_mode(c)
    tlb_flush(c)
