# System state: the processor mode, control registers, MSRs, and the
# instructions that load and store them (MOV CRn, LGDT LIDT SGDT SIDT
# LLDT SLDT LTR STR SMSW LMSW CLTS INVLPG INVD WBINVD RDMSR WRMSR SWAPGS).

cdef enum:
    # segattr bits (descriptor bits 40-55)
    ATTR_ACCESSED = 0x1
    ATTR_WRITABLE = 0x2     # data: writable; code: readable
    ATTR_CONFORMING = 0x4   # code (for data: expand-down)
    ATTR_CODE = 0x8
    ATTR_S = 0x10           # code or data (not a system descriptor)
    ATTR_P = 0x80
    ATTR_L = 0x2000
    ATTR_DB = 0x4000
    ATTR_G = 0x8000
    F_IOPL = 0x3000
    F_NT = 0x4000
    F_RF = 0x10000
    F_VM = 0x20000

# CR4 bits (those paging.pxi does not name)
cdef enum:
    CR4_VME = 0x1
    CR4_PVI = 0x2
    CR4_TSD = 0x4
    CR4_DE = 0x8
    CR4_MCE = 0x40
    CR4_PCE = 0x100
    CR4_UMIP = 0x800
    CR4_LA57 = 0x1000
    CR4_VMXE = 0x2000
    CR4_SMXE = 0x4000
    CR4_FSGSBASE = 0x10000
    CR4_PCIDE = 0x20000
    CR4_SMEP = 0x100000
    CR4_SMAP = 0x200000
    CR4_PKE = 0x400000
    CR4_PKS = 0x1000000

cdef inline uint32_t attr_dpl(uint32_t attr) noexcept nogil:
    return (attr >> 5) & 3

cdef void update_mode(CPU* c) noexcept nogil:
    """Derive the code size and address masks from CR0.PE, EFER.LMA and the
    CS descriptor; the decode cache key follows."""
    cdef uint32_t mode
    if not (c.cr0 & CR0_PE) or (c.eflags & F_VM):
        mode = 16
    elif (c.efer & EFER_LMA) and (c.segattr[S_CS] & ATTR_L):
        mode = 64
    else:
        mode = 32 if (c.segattr[S_CS] & ATTR_DB) else 16
    c.mode = mode
    c.key = (c.key & ~<uint32_t>KEY_DECODE) | mode
    c.lamask = <uint64_t>-1 if mode == 64 else 0xFFFFFFFFULL
    c.ipmask = <uint64_t>-1 if mode == 64 else (0xFFFFFFFFULL if mode == 32 else 0xFFFF)
    c.ss_big = mode == 64 or (c.cr0 & CR0_PE and not (c.eflags & F_VM) and (c.segattr[S_SS] & ATTR_DB) != 0)
    c.spmask = size_mask(stack_asz(c))       # (sp_mask: one load for every push and pop)
    segs_changed(c)

cdef inline bint real_mode(CPU* c) noexcept nogil:
    return not (c.cr0 & CR0_PE) or (c.eflags & F_VM) != 0

cdef inline int need_cpl0(CPU* c) noexcept nogil:
    """#GP(0) unless at CPL 0 (privileged instructions)."""
    if c.cpl != 0:
        return fault(c, EXC_GP, 1, 0)
    return 0

cdef void set_cpl(CPU* c, uint32_t cpl) noexcept nogil:
    if cpl != c.cpl:
        c.cpl = cpl
        tlb_flush(c)              # the TLB caches one privilege's view

cdef inline uint64_t iopl(CPU* c) noexcept nogil:
    return (c.eflags >> 12) & 3

# ---- control registers

cdef int write_cr0(CPU* c, uint64_t v) noexcept nogil:
    cdef uint64_t old = c.cr0
    v |= 0x10                                  # ET is hardwired
    if (v & CR0_PG) and not (v & CR0_PE):
        return fault(c, EXC_GP, 1, 0)
    if (v & CR0_PG) and not (old & CR0_PG) and (c.efer & EFER_LME):
        if not (c.cr4 & CR4_PAE):
            return fault(c, EXC_GP, 1, 0)
        c.efer |= EFER_LMA                     # entering long mode
    if not (v & CR0_PG) and (old & CR0_PG) and (c.efer & EFER_LMA):
        c.efer &= ~<uint64_t>EFER_LMA
    c.cr0 = v & 0xE005003FULL
    tlb_flush(c)
    update_mode(c)
    return 0

cdef int h_mov_cr(CPU* c, Insn* i) noexcept nogil:
    """MOV r, CRn (0F 20) and MOV CRn, r (0F 22); the operand is always a
    register of the mode's width.  CR0 CR2 CR3 CR4 CR8 exist; others #UD."""
    c.cur = i
    cdef uint32_t n = i.reg
    cdef uint32_t size = 8 if c.mode == 64 else 4
    cdef uint64_t v
    if need_cpl0(c):
        return RC_FAULT
    if n == 1 or (n > 4 and n != 8):
        return fault(c, EXC_UD, 0, 0)
    if i.opcode == 0x120:
        if pv_traps(c, i, PV_READ_CR):
            return pv_trap_exit(c, i, PV_READ_CR, n, i.rm, 0)
        set_r(c, i.rm, size, read_cr(c, n))
        return next_insn(c, i)
    v = get_r(c, i.rm, size)
    if pv_traps(c, i, PV_WRITE_CR):
        return pv_trap_exit(c, i, PV_WRITE_CR, n, v, 0)
    if write_cr(c, n, v):
        return RC_FAULT
    return RC_END                              # the mode or the mapping may have changed

cdef uint64_t read_cr(CPU* c, uint32_t n) noexcept nogil:
    return c.cr0 if n == 0 else (c.cr2 if n == 2 else (c.cr3 if n == 3 else (c.cr4 if n == 4 else c.cr8)))

cdef uint64_t cr4_allowed(CPU* c) noexcept nogil:
    """The CR4 bits the CPU has, as CPUID reports them; others #GP."""
    cdef uint32_t l1[4], l7[4]
    cdef uint64_t ok = CR4_PCE
    cpuid_leaf(c, 1, 0, l1)
    l7[0] = l7[1] = l7[2] = l7[3] = 0
    if c.model.max_basic >= 7:
        cpuid_leaf(c, 7, 0, l7)
    # (CR4 bit, CPUID word, bit): leaf 1 EDX/ECX, leaf 7 EBX/ECX
    if l1[3] & (1 << 1):
        ok |= CR4_VME | CR4_PVI
    if l1[3] & (1 << 4):
        ok |= CR4_TSD
    if l1[3] & (1 << 2):
        ok |= CR4_DE
    if l1[3] & (1 << 3):
        ok |= CR4_PSE
    if l1[3] & (1 << 6):
        ok |= CR4_PAE
    if l1[3] & (1 << 7):
        ok |= CR4_MCE
    if l1[3] & (1 << 13):
        ok |= CR4_PGE
    if l1[3] & (1 << 24):
        ok |= 0x200                            # CR4.OSFXSR (named in simd.pxi)
    if l1[3] & (1 << 25):
        ok |= 0x400                            # CR4.OSXMMEXCPT
    if l1[2] & (1 << 5):
        ok |= CR4_VMXE
    if l1[2] & (1 << 6):
        ok |= CR4_SMXE
    if l1[2] & (1 << 17):
        ok |= CR4_PCIDE
    if l1[2] & (1 << 26):
        ok |= 0x40000                          # CR4.OSXSAVE
    if l7[2] & (1 << 2):
        ok |= CR4_UMIP
    if l7[2] & (1 << 16):
        ok |= CR4_LA57
    if l7[1] & (1 << 0):
        ok |= CR4_FSGSBASE
    if l7[1] & (1 << 7):
        ok |= CR4_SMEP
    if l7[1] & (1 << 20):
        ok |= CR4_SMAP
    if l7[2] & (1 << 3):
        ok |= CR4_PKE
    if l7[2] >> 31:
        ok |= CR4_PKS
    return ok

cdef int write_cr(CPU* c, uint32_t n, uint64_t v) noexcept nogil:
    """MOV to CR0, CR2, CR3, CR4 or CR8 (n is valid): 0 or RC_FAULT."""
    if n == 0:
        return write_cr0(c, v)
    if n == 2:
        c.cr2 = v
    elif n == 3:
        c.cr3 = v
        if c.pg_bypass:
            c.pg_bypass = 0                    # a flat 64-bit machine now pages
            tlb_flush(c)
        else:
            tlb_flush_nonglobal(c)             # global pages stay (CR4.PGE)
    elif n == 4:
        if v & ~cr4_allowed(c):
            return fault(c, EXC_GP, 1, 0)          # a bit CPUID does not report
        if (c.efer & EFER_LMA) and (not (v & CR4_PAE) or ((v ^ c.cr4) & CR4_LA57)):
            return fault(c, EXC_GP, 1, 0)          # long mode keeps PAE and its paging depth
        if (v & ~c.cr4 & CR4_PCIDE) and (not (c.efer & EFER_LMA) or (c.cr3 & 0xFFF)):
            return fault(c, EXC_GP, 1, 0)
        if cr4_simd_reserved(v):               # simd.pxi
            return fault(c, EXC_GP, 1, 0)
        if (v ^ c.cr4) & CR4_DE:
            c.cr4 = v
            dr_update(c)                       # DE arms or disarms I/O breakpoints
        c.cr4 = v
        tlb_flush(c)                           # (PGE toggled: global pages go too)
    else:
        c.cr8 = v & 0xF
    return 0

cdef int h_clts(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    if need_cpl0(c):
        return RC_FAULT
    if pv_traps(c, i, PV_CLTS):
        return pv_trap_exit(c, i, PV_CLTS, 0, 0, 0)
    c.cr0 &= ~<uint64_t>CR0_TS
    return next_insn(c, i)

cdef int h_wbinvd(CPU* c, Insn* i) noexcept nogil:
    """INVD / WBINVD: caches are not modelled; privileged."""
    c.cur = i
    if need_cpl0(c):
        return RC_FAULT
    if pv_traps(c, i, PV_WBINVD):
        return pv_trap_exit(c, i, PV_WBINVD, 0, 0, 0)
    return next_insn(c, i)

# ---- MSRs

cdef int msr_read(CPU* c, uint32_t n, uint64_t* v) noexcept nogil:
    if n == 0xC0000080ULL:
        v[0] = c.efer
    elif n == 0xC0000081ULL:
        v[0] = c.msr_star
    elif n == 0xC0000082ULL:
        v[0] = c.msr_lstar
    elif n == 0xC0000083ULL:
        v[0] = c.msr_cstar
    elif n == 0xC0000084ULL:
        v[0] = c.msr_sfmask
    elif n == 0xC0000100ULL:
        v[0] = c.segbase[S_FS]
    elif n == 0xC0000101ULL:
        v[0] = c.segbase[S_GS]
    elif n == 0xC0000102ULL:
        v[0] = c.msr_kgsbase
    elif n == 0x10:
        v[0] = vtime(c) + c.tsc_offset
    elif n == 0x1B:
        v[0] = c.msr_apic_base
    elif n == 0x174:
        v[0] = c.msr_sysenter_cs
    elif n == 0x175:
        v[0] = c.msr_sysenter_esp
    elif n == 0x176:
        v[0] = c.msr_sysenter_eip
    elif n == 0x277:
        v[0] = c.msr_pat
    elif n == 0x1A0:
        v[0] = c.msr_misc_enable
    elif n == 0xC0000103ULL:
        v[0] = c.msr_tsc_aux
    elif n == MSR_PKRS and has_pks(c):
        v[0] = c.msr_pkrs
    elif is_mca_msr(n):
        return mca_read(c, n, v)               # mca.pxi
    else:
        return model_msr_read(c, n, v)         # the CPU model's own, else #GP
    return 0

cdef inline bint msr_holds_address(uint32_t n) noexcept nogil:
    """MSRs that hold a linear address: a non-canonical value is #GP (SDM
    Vol. 4: FS/GS/KERNEL_GS base, LSTAR, CSTAR, SYSENTER_ESP/EIP)."""
    return (0xC0000100ULL <= n <= 0xC0000102ULL or n == 0xC0000082ULL or n == 0xC0000083ULL
            or n == 0x175 or n == 0x176)

cdef int msr_write(CPU* c, uint32_t n, uint64_t v) noexcept nogil:
    if msr_holds_address(n) and not canonical(v):
        return 1
    if n == 0xC0000080ULL:
        if v & ~<uint64_t>(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE):
            return 1
        if ((v ^ c.efer) & EFER_LME) and (c.cr0 & CR0_PG):
            return 1                           # LME changes only with paging off
        c.efer = (v & ~<uint64_t>EFER_LMA) | (c.efer & EFER_LMA)
        tlb_flush(c)
    elif n == 0xC0000081ULL:
        c.msr_star = v
    elif n == 0xC0000082ULL:
        c.msr_lstar = v
    elif n == 0xC0000083ULL:
        c.msr_cstar = v
    elif n == 0xC0000084ULL:
        c.msr_sfmask = v & 0xFFFFFFFFULL
    elif n == 0xC0000100ULL:
        c.segbase[S_FS] = v
        segs_changed(c)
    elif n == 0xC0000101ULL:
        c.segbase[S_GS] = v
        segs_changed(c)
    elif n == 0xC0000102ULL:
        c.msr_kgsbase = v
    elif n == 0x10:
        c.tsc_offset = v - vtime(c)
    elif n == 0x1B:
        c.msr_apic_base = v
    elif n == 0x174:
        c.msr_sysenter_cs = v & 0xFFFF
    elif n == 0x175:
        c.msr_sysenter_esp = v
    elif n == 0x176:
        c.msr_sysenter_eip = v
    elif n == 0x277:
        c.msr_pat = v
    elif n == 0x1A0:
        c.msr_misc_enable = v
    elif n == 0xC0000103ULL:
        c.msr_tsc_aux = v & 0xFFFFFFFFULL
    elif n == MSR_PKRS and has_pks(c):
        return set_pkrs(c, v)
    elif is_mca_msr(n):
        return mca_write(c, n, v)
    else:
        return model_msr_write(c, n, v)
    return 0

cdef int h_rdmsr(CPU* c, Insn* i) noexcept nogil:
    """RDMSR: the MSRs listed in msr_read; any other is #GP(0)."""
    c.cur = i
    cdef uint64_t v
    if need_cpl0(c):
        return RC_FAULT
    if pv_msr(c, <uint32_t>c.r[R_CX]) or pv_traps(c, i, PV_RDMSR):
        return pv_trap_exit(c, i, PV_RDMSR, c.r[R_CX] & 0xFFFFFFFFULL, 0, 0)
    if msr_read(c, <uint32_t>c.r[R_CX], &v):
        return fault(c, EXC_GP, 1, 0)
    c.r[R_AX] = v & 0xFFFFFFFFULL
    c.r[R_DX] = v >> 32
    return next_insn(c, i)

cdef int h_wrmsr(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t v = ((c.r[R_DX] & 0xFFFFFFFFULL) << 32) | (c.r[R_AX] & 0xFFFFFFFFULL)
    if need_cpl0(c):
        return RC_FAULT
    if pv_msr(c, <uint32_t>c.r[R_CX]) or pv_traps(c, i, PV_WRMSR):
        return pv_trap_exit(c, i, PV_WRMSR, c.r[R_CX] & 0xFFFFFFFFULL, v, 0)
    if msr_write(c, <uint32_t>c.r[R_CX], v):
        return fault(c, EXC_GP, 1, 0)
    return RC_END

cdef int h_swapgs(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    cdef uint64_t t
    if c.mode != 64:
        return fault(c, EXC_UD, 0, 0)
    if need_cpl0(c):
        return RC_FAULT
    t = c.segbase[S_GS]
    c.segbase[S_GS] = c.msr_kgsbase
    c.msr_kgsbase = t
    return next_insn(c, i)

cdef int h_rdtscp(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    c.r[R_CX] = c.msr_tsc_aux
    return h_rdtsc(c, i)

# ---- descriptor tables (0F 01 /0-/3, 0F 00)

cdef int h_table_store(CPU* c, Insn* i) noexcept nogil:
    """SGDT (0F 01 /0) and SIDT (/1): limit (16 bits) then base (32 or 64)."""
    c.cur = i
    cdef uint64_t la = mem_la(c, i)
    cdef bint gdt = (i.reg & 7) == 0
    cdef uint64_t base = c.gdt_base if gdt else c.idt_base
    cdef uint32_t limit = c.gdt_limit if gdt else c.idt_limit
    cdef uint32_t n = 8 if c.mode == 64 else 4
    if check_wr(c, la, 2 + n) or wr(c, la, 2, limit) or wr(c, (la + 2) & c.lamask, n, base):
        return RC_FAULT
    return next_insn(c, i)

cdef int h_table_load(CPU* c, Insn* i) noexcept nogil:
    """LGDT (0F 01 /2) and LIDT (/3).  Outside 64-bit mode the base is 24
    bits with a 16-bit operand size, else 32; in 64-bit mode a
    non-canonical one is #GP(0)."""
    c.cur = i
    cdef uint64_t la = mem_la(c, i), limit, base
    if need_cpl0(c):
        return RC_FAULT
    if rd(c, la, 2, &limit) or rd(c, (la + 2) & c.lamask, 8 if c.mode == 64 else 4, &base):
        return RC_FAULT
    if c.mode != 64 and i.osz == 2:
        base &= 0xFFFFFF
    if c.mode == 64 and not canonical(base):
        return fault(c, EXC_GP, 1, 0)
    if pv_traps(c, i, PV_LGDT if (i.reg & 7) == 2 else PV_LIDT):
        return pv_trap_exit(c, i, PV_LGDT if (i.reg & 7) == 2 else PV_LIDT, base, limit, 0)
    if (i.reg & 7) == 2:
        c.gdt_base = base
        c.gdt_limit = <uint32_t>limit
    else:
        c.idt_base = base
        c.idt_limit = <uint32_t>limit
    return next_insn(c, i)

cdef int h_smsw(CPU* c, Insn* i) noexcept nogil:
    """SMSW: the low bits of CR0 (a register gets the operand size)."""
    c.cur = i
    if i.mod == 3:
        set_r(c, i.rm, i.osz, c.cr0 & size_mask(i.osz))
        return next_insn(c, i)
    return ok_next(c, i, wr(c, mem_la(c, i), 2, c.cr0 & 0xFFFF))

cdef int h_lmsw(CPU* c, Insn* i) noexcept nogil:
    """LMSW: loads PE MP EM TS; cannot clear PE."""
    c.cur = i
    cdef uint64_t v
    if need_cpl0(c) or rm_read(c, i, 2, &v):
        return RC_FAULT
    if pv_traps(c, i, PV_LMSW):
        return pv_trap_exit(c, i, PV_LMSW, v & 0xFFFF, 0, 0)
    if write_cr0(c, (c.cr0 & ~<uint64_t>0xE) | (v & 0xF) | (c.cr0 & 1)):
        return RC_FAULT
    return RC_END

cdef int h_invlpg(CPU* c, Insn* i) noexcept nogil:
    c.cur = i
    if need_cpl0(c):
        return RC_FAULT
    if pv_traps(c, i, PV_INVLPG):
        return pv_trap_exit(c, i, PV_INVLPG, mem_la(c, i), 0, 0)
    tlb_flush_page(c, mem_la(c, i))            # (a non-canonical address: nothing cached)
    return RC_END

# ---- fast system calls

cdef void set_flat_seg(CPU* c, uint32_t s, uint32_t sel, uint32_t attr) noexcept nogil:
    """SYSCALL/SYSRET/SYSENTER/SYSEXIT load fixed flat descriptors, not the GDT's."""
    c.sel[s] = sel
    c.segbase[s] = 0
    c.seglimit[s] = 0xFFFFFFFFULL
    c.segattr[s] = attr
    segs_changed(c)

cdef inline void step_at_end(CPU* c, bint tf_before) noexcept nogil:
    """SYSCALL and SYSRET single-step on TF as they end, not as they begin
    (SYSCALL's mask may clear it, SYSRET's R11 may set it)."""
    cdef bint tf_after = (c.eflags & F_TF) != 0
    if tf_before and not tf_after:
        c.step_late = STEP_LATE_CANCEL
    elif tf_after and not tf_before:
        c.step_late = STEP_LATE_TRAP
        c.dr6_pending = DR6_BS
        look_now(c)

cdef int h_syscall(CPU* c, Insn* i) noexcept nogil:
    """SYSCALL (EFER.SCE): RCX = next RIP, R11 = RFLAGS, RFLAGS &= ~SFMASK,
    CS/SS from STAR[47:32], RIP = LSTAR, CPL 0.  Intel has it in 64-bit
    mode only; AMD also in compatibility mode (RIP = CSTAR) and in legacy
    protected mode (ECX = next EIP, EIP = STAR[31:0], flat 32-bit CS)."""
    c.cur = i
    cdef uint32_t sel = <uint32_t>(c.msr_star >> 32) & 0xFFFC
    cdef uint64_t ret = next_ip(c, i)
    cdef bint lm = (c.efer & EFER_LMA) != 0, from64 = c.mode == 64, tf_before
    if pv_traps(c, i, PV_SYSCALL):              # an instruction hook (hooks.pxi)
        return pv_trap_exit(c, i, PV_SYSCALL, 0, 0, 0)
    if not (c.efer & EFER_SCE) or (c.mode != 64 and (not vendor_amd(c) or real_mode(c))):
        return fault(c, EXC_UD, 0, 0)
    tf_before = (c.eflags & F_TF) != 0
    c.r[R_CX] = ret if lm else ret & 0xFFFFFFFFULL
    if lm:
        c.r[11] = get_eflags(c) & ~<uint64_t>F_RF
    materialize(c)
    if lm:
        c.eflags &= ~(c.msr_sfmask | F_RF)
        c.eflags |= 2
    else:
        c.eflags &= ~<uint64_t>(F_VM | F_IF | F_RF)
    set_flat_seg(c, S_CS, sel, 0xA09B if lm else 0xC09B)
    set_flat_seg(c, S_SS, sel + 8, 0xC093)
    set_cpl(c, 0)
    update_mode(c)
    step_at_end(c, tf_before)
    if not lm:
        c.r[R_RIP] = c.msr_star & 0xFFFFFFFFULL
        return RC_JUMP
    return jump(c, c.msr_lstar if from64 else c.msr_cstar, 8)

cdef int h_sysret(CPU* c, Insn* i) noexcept nogil:
    """SYSRET: back to CPL 3, 64-bit code with REX.W (CS = STAR[63:48]+16)
    else compatibility mode (CS = STAR[63:48]); RFLAGS = R11."""
    c.cur = i
    cdef uint32_t base = <uint32_t>(c.msr_star >> 48) & 0xFFFC
    cdef uint64_t target
    cdef bint tf_before
    if c.mode != 64 or not (c.efer & EFER_SCE):
        return fault(c, EXC_UD, 0, 0)
    if need_cpl0(c):
        return RC_FAULT
    if i.rex & 8:
        target = c.r[R_CX]
        if <uint64_t>((<int64_t>(target << 16)) >> 16) != target:
            return fault(c, EXC_GP, 1, 0)
        set_flat_seg(c, S_CS, (base + 16) | 3, 0xA0FB)
    else:
        target = c.r[R_CX] & 0xFFFFFFFFULL
        set_flat_seg(c, S_CS, base | 3, 0xC0FB)
    c.sel[S_SS] = (base + 8) | 3              # SS keeps a flat DPL-3 data descriptor
    c.segattr[S_SS] = 0xC0F3
    tf_before = (c.eflags & F_TF) != 0
    c.eflags = (c.r[11] & 0x3C7FD7) | 2
    step_at_end(c, tf_before)
    c.lf_op = LF_NONE
    look_now(c)
    set_cpl(c, 3)
    update_mode(c)
    c.r[R_RIP] = target
    return RC_JUMP

cdef int h_sysenter(CPU* c, Insn* i) noexcept nogil:
    """SYSENTER: CS = SYSENTER_CS, SS = CS + 8, rSP/rIP from the MSRs, CPL 0."""
    c.cur = i
    cdef uint32_t sel = <uint32_t>c.msr_sysenter_cs & 0xFFFC
    cdef bint lm = (c.efer & EFER_LMA) != 0
    if pv_traps(c, i, PV_SYSENTER):             # an instruction hook (hooks.pxi)
        return pv_trap_exit(c, i, PV_SYSENTER, 0, 0, 0)
    if lm and vendor_amd(c):
        return fault(c, EXC_UD, 0, 0)               # AMD: not in long mode
    if not (c.cr0 & CR0_PE) or sel == 0:
        return fault(c, EXC_GP, 1, 0)
    materialize(c)
    c.eflags &= ~<uint64_t>(F_VM | F_IF | F_RF)
    set_flat_seg(c, S_CS, sel, 0xA09B if lm else 0xC09B)
    set_flat_seg(c, S_SS, sel + 8, 0xC093)
    set_cpl(c, 0)
    update_mode(c)
    c.r[R_SP] = c.msr_sysenter_esp if lm else c.msr_sysenter_esp & 0xFFFFFFFFULL
    c.r[R_RIP] = c.msr_sysenter_eip if lm else c.msr_sysenter_eip & 0xFFFFFFFFULL
    return RC_JUMP

cdef int h_sysexit(CPU* c, Insn* i) noexcept nogil:
    """SYSEXIT: back to CPL 3; CS = SYSENTER_CS + 16 (+32 with REX.W for
    64-bit code), SS follows; rSP = rCX, rIP = rDX."""
    c.cur = i
    cdef uint32_t sel = <uint32_t>c.msr_sysenter_cs & 0xFFFC
    if (c.efer & EFER_LMA) and vendor_amd(c):
        return fault(c, EXC_UD, 0, 0)               # AMD: not in long mode
    if not (c.cr0 & CR0_PE) or sel == 0:
        return fault(c, EXC_GP, 1, 0)
    if need_cpl0(c):
        return RC_FAULT
    if i.rex & 8:
        set_flat_seg(c, S_CS, (sel + 32) | 3, 0xA0FB)
        set_flat_seg(c, S_SS, (sel + 40) | 3, 0xC0F3)
        c.r[R_SP] = c.r[R_CX]
        c.r[R_RIP] = c.r[R_DX]
    else:
        set_flat_seg(c, S_CS, (sel + 16) | 3, 0xC0FB)
        set_flat_seg(c, S_SS, (sel + 24) | 3, 0xC0F3)
        c.r[R_SP] = c.r[R_CX] & 0xFFFFFFFFULL
        c.r[R_RIP] = c.r[R_DX] & 0xFFFFFFFFULL
    set_cpl(c, 3)
    update_mode(c)
    return RC_JUMP
