# The core's side of paravirtualization: what a supervisor written in Python
# needs from the CPU model, and nothing more.
#   - VMCALL exits with EXIT_HYPERCALL (it is #UD without a supervisor);
#   - privileged instructions of the classes set in CPU.pv_trap exit with
#     EXIT_PRIVOP before they act, their operands decoded (as KVM's exits);
#     the supervisor completes them (pv_complete) or lets them run here once
#     (pv_pass_rip);
#   - the event upcall: when the shared info page says an event is pending and
#     not masked, the CPU takes an interrupt at pv_upcall_vector, checked at
#     every block boundary so that unmasking is a plain store;
#   - the supervisor's one-shot timer in virtual time (EXIT_VTIMER);
#   - frames with no RAM behind them (ballooned out): any access is 'unmapped'.

cdef inline bint pv_traps(CPU* c, Insn* i, uint32_t cls) noexcept nogil:
    """Does this privileged instruction (its privilege checks passed) exit to
    the supervisor instead of running?"""
    if not ((c.pv_trap >> cls) & 1):
        return False
    if c.pv_pass_rip == ((c.r[R_BASE] + i.off) & c.ipmask):
        c.pv_pass_rip = TLB_EMPTY              # the supervisor said: run it here
        return False
    return True

cdef int pv_trap_exit(CPU* c, Insn* i, uint32_t cls, uint64_t a0, uint64_t a1,
                      uint64_t a2) noexcept nogil:
    c.pv_class = cls
    c.pv_len = i.len
    c.pv_arg[0] = a0
    c.pv_arg[1] = a1
    c.pv_arg[2] = a2
    c.pv_traps += 1
    if c.shadow_block:                         # not retired: still in the STI/MOV SS shadow
        c.shadow_block = 0
        c.shadow = 1
        look_now(c)
    c.exit_reason = EXIT_PRIVOP
    return RC_EXIT_NR

cdef inline bint pv_msr(CPU* c, uint32_t msr) noexcept nogil:
    """The supervisor's MSRs exist only under it: its own (0x40000000-0x400000FF)
    and KVM's paravirtual ones (0x4B564D00-0x4B564DFF, paravirt/kvm.py)."""
    return c.pv_on and ((msr >> 8) == 0x400000 or (msr >> 8) == 0x4B564D)

cdef int h_vmcall(CPU* c, Insn* i) noexcept nogil:
    """VMCALL (0F 01 C1): a hypercall under the supervisor, #UD elsewhere (as
    on a CPU outside VMX non-root operation).  From user mode it fails with
    -EPERM without an exit, as KVM refuses hypercalls above CPL 0."""
    c.cur = i
    if not c.pv_on:
        return fault(c, EXC_UD, 0, 0)
    c.pv_hypercalls += 1
    if c.cpl != 0:
        set_r(c, R_AX, 8 if c.mode == 64 else 4, <uint64_t>-1)    # -EPERM
        return next_insn(c, i)
    c.exit_reason = EXIT_HYPERCALL
    return RC_EXIT

# The hypercall ABI's registers: the number, then five arguments.
cdef uint32_t HC_REGS64[6]
cdef uint32_t HC_REGS32[6]
HC_REGS64[:] = [R_AX, R_DI, R_SI, R_DX, 10, 8]
HC_REGS32[:] = [R_AX, R_BX, R_CX, R_DX, R_SI, R_DI]

cdef inline uint64_t hc_arg(CPU* c, int k) noexcept nogil:
    """Hypercall register k (0 = the number) of the mode's convention."""
    if c.mode == 64:
        return c.r[HC_REGS64[k]]
    return c.r[HC_REGS32[k]] & 0xFFFFFFFFULL

cdef inline bint upcall_due(CPU* c) noexcept nogil:
    """vcpu_info.upcall_pending = 1 and upcall_mask = 0 (bytes 0 and 1)."""
    return c.pv_vcpu != NULL and c.pv_vcpu[0] != 0 and c.pv_vcpu[1] == 0 and c.pv_upcall_vector != 0

cdef int pv_upcall(CPU* c) noexcept nogil:
    """Deliver the event upcall as an external interrupt (whatever EFLAGS.IF
    says: the mask byte is the interrupt flag), masking further upcalls."""
    c.pv_vcpu[1] = 1
    c.pv_upcalls += 1
    c.halted = 0
    return deliver(c, c.pv_upcall_vector, 0, 0, INT_EXTERNAL, c.r[R_RIP])

cdef inline bint absent_page(CPU* c, uint64_t pa) noexcept nogil:
    return c.absent != NULL and c.absent[pa >> 12] != 0
