# The CPU model's C-level declarations: one struct holds all guest state.
# Everything here is used by the nogil hot loop; nothing is a Python object.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, int32_t

# General register indices.  R_ZERO always reads 0 (an absent base or index
# in an effective address).  R_RIP is the architectural instruction pointer,
# brought up to date at block boundaries and exits; while a block runs,
# R_BASE holds the rip of its first instruction, and a RIP-relative operand
# is decoded as R_BASE + (its displacement + the instruction's end offset).
cdef enum:
    R_AX = 0
    R_CX = 1
    R_DX = 2
    R_BX = 3
    R_SP = 4
    R_BP = 5
    R_SI = 6
    R_DI = 7
    R_ZERO = 16
    R_RIP = 17
    R_BASE = 18
    NREGS = 19

# Segment register indices (the x86 encoding order).
cdef enum:
    S_ES = 0
    S_CS = 1
    S_SS = 2
    S_DS = 3
    S_FS = 4
    S_GS = 5

# What a handler returns when it does not chain to the next instruction
# itself (see dispatch.pxi).  RC_OK: retired, go on.  RC_END: retired, end the
# block (e.g. after a store into this block's code).  RC_FAULT: not retired,
# c.exc_* says which exception.  (RC_END continues at the next instruction.)  RC_EXIT: retired, leave the run loop with
# c.exit_reason.  RC_AGAIN: not retired, run this instruction again (a REP
# string instruction that did one chunk of its iterations).
cdef enum:
    RC_OK = 0
    RC_END = 1
    RC_FAULT = 2
    RC_EXIT = 3
    RC_AGAIN = 4
    RC_DONE = 5      # the block's end marker: every instruction before it retired
    RC_JUMP = 6      # retired, the handler set R_RIP: end the block

# Why the run loop returned.
cdef enum:
    EXIT_NONE = 0
    EXIT_HLT = 1
    EXIT_UNTIL = 2
    EXIT_COUNT = 3
    EXIT_EXCEPTION = 4
    EXIT_UNMAPPED = 5
    EXIT_STOP = 6
    EXIT_IO = 7          # port I/O to a device written in Python
    EXIT_FLUSH = 8       # a device output buffer is full
    EXIT_DEBUG_EXIT = 9  # a write to the isa-debug-exit port
    EXIT_TRIPLE_FAULT = 10
    EXIT_SHUTDOWN = 15   # a device powered the machine off or reset it (Machine.request_shutdown)

cdef enum:
    EXIT_HYPERCALL = 12  # VMCALL under the supervisor (retired: rip is after it)
    EXIT_PRIVOP = 13     # a privileged instruction trapped to the supervisor (not retired)
    EXIT_VTIMER = 14     # the supervisor's one-shot timer (CPU.pv_timer) is due
    EXIT_DEBUG = 16      # a debugger's breakpoint or watchpoint (CPU.breaks, CPU.dr_host)
    EXIT_DEVTIMER = 19   # a Python device's timer (CPU.dev_timer) is due: run() calls it and goes on
    MAX_BREAKS = 64

# Privileged-instruction classes that can trap to the supervisor (one bit
# each in CPU.pv_trap); paravirt/pvops.py names them.
cdef enum:
    PV_CLI = 0
    PV_STI = 1
    PV_HLT = 2
    PV_POPF = 3          # only a POPF that would change IF
    PV_WRITE_CR = 4      # operands: CR number, value
    PV_READ_CR = 5       # operands: CR number, destination register
    PV_RDMSR = 6         # operands: MSR
    PV_WRMSR = 7         # operands: MSR, value
    PV_CPUID = 8         # operands: EAX, ECX
    PV_IN = 9            # operands: port, size
    PV_OUT = 10          # operands: port, size, value
    PV_LGDT = 11         # operands: base, limit
    PV_LIDT = 12         # operands: base, limit
    PV_LTR = 13          # operands: selector
    PV_LLDT = 14         # operands: selector
    PV_INVLPG = 15       # operands: linear address
    PV_WBINVD = 16
    PV_RDTSC = 17
    PV_CLTS = 18
    PV_LMSW = 19         # operands: value
    PV_SYSCALL = 20      # (hook_add 'insn'; not privileged)
    PV_SYSENTER = 21
    PV_NCLASSES = 22

cdef enum:
    RC_EXIT_NR = 7       # leave the run loop with c.exit_reason; not retired
    RC_MMIO = 8          # (translate) the address is a device, not RAM
    EXIT_MMIO = 11       # a memory-mapped access to a device written in Python
    MAX_MMIO = 8

# The local APIC (xAPIC, memory-mapped at IA32_APIC_BASE) and its timer.
cdef struct Apic:
    uint32_t id, tpr, svr, ldr, dfr, esr, icr_lo, icr_hi, divide, initial
    uint32_t lvt[6]          # timer, thermal, performance, LINT0, LINT1, error
    uint32_t irr[8]
    uint32_t isr[8]
    uint64_t start           # virtual time the count started
    uint64_t next_irq        # virtual time of the next timer interrupt, or ~0
    uint64_t pv_eoi          # KVM's PV EOI: guest-physical word | 1 when on, else 0 (apic.pxi)
    uint32_t pv_eoi_pending  # its bit 0 was set by us for the vector in service
    uint64_t pv_eoi_skipped  # EOIs the guest skipped that way
    uint32_t tmr[8]          # trigger mode of the accepted interrupts (1: level; EOI goes to the IOAPIC)

# Device ids in CPU.io_map (one byte per port).
cdef enum:
    DEV_NONE = 0         # open bus: reads all ones, writes go nowhere
    DEV_PYTHON = 1
    DEV_DEBUG_EXIT = 2
    DEV_DEBUGCON = 3
    DEV_POST = 4
    DEV_UART = 5
    DEV_PIC = 6
    DEV_PIT = 7
    DEV_PORT61 = 8
    OUTBUF_SIZE = 4096
    INQ_SIZE = 1024

# One 8259 interrupt controller (the PC has a master and a slave).
cdef struct Pic:
    uint8_t irr, isr, imr, base, icw_step, icw4, read_isr, auto_eoi

# The 8254 timer's channel 0 (IRQ 0), counting in virtual time.
cdef struct PitChannel:
    uint32_t mode, access, reload, latch, latched, write_lo
    uint32_t wflip, rflip
    uint32_t counting       # a count was written (and, for channel 2, the gate is high)
    uint64_t start          # virtual time the count started

# The 8254: channel 0 drives IRQ 0, channel 2 (gated by port 0x61 bit 0)
# shows its output in port 0x61 bit 5 (what Linux calibrates the TSC with).
cdef struct Pit:
    PitChannel ch[3]
    uint64_t next_irq       # virtual time of the next IRQ 0, or ~0
    int armed               # channel 0 will interrupt at next_irq
    uint32_t port61         # system control port B: bit 0 gate 2, bit 1 speaker data

# A 16550 UART (COM1): registers, a receive buffer filled from Python, and
# transmitted bytes collected for Python to write out.
cdef struct Uart:
    uint32_t base
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr
    uint8_t thr_pending, overrun, irq_level
    uint8_t rx[256]
    uint32_t rx_head, rx_tail
    uint8_t out[OUTBUF_SIZE]
    uint32_t out_len
    # input from the host waiting for room in the receive FIFO (uart_pump)
    uint8_t hostq[INQ_SIZE]
    uint32_t hostq_head, hostq_tail

cdef enum:
    ACC_READ = 0
    ACC_WRITE = 1
    ACC_FETCH = 2

# One software-TLB entry: a linear page -> a host pointer (addend + linear).
cdef struct TlbEntry:
    uint64_t tag        # linear page number, or TLB_EMPTY
    uint64_t ppage      # physical page number
    uint8_t* addend     # host address of the page minus its linear address
    uint64_t pad        # (32 bytes an entry: memory.pxi tlb_slot)

cdef struct CPU
cdef struct Mach
cdef struct Insn
ctypedef int (*handler_t)(CPU* c, Insn* i) noexcept nogil

# A predecoded instruction.  Register operands are indices into CPU.r; byte
# registers AH..BH are encoded as 0x20 | (0..3).
cdef struct Insn:
    handler_t fn
    int64_t disp
    uint64_t imm
    uint64_t imm2
    uint64_t amask      # address-size mask for effective addresses
    int32_t off         # start of the instruction, from the block's start (below it
    int32_t next        # ... after a followed JMP backwards: icache.pxi); its end
    uint16_t opcode     # 0x000-0x0FF one-byte, 0x100-0x1FF 0F xx, 0x2xx 0F 38 xx
    uint8_t len
    uint8_t osz         # operand size in bytes: 1, 2, 4 or 8
    uint8_t asz         # address size in bytes: 2, 4 or 8
    uint8_t mod
    uint8_t reg         # ModRM.reg (with REX.R), or the register of +r opcodes
    uint8_t rm          # ModRM.rm register (with REX.B) when mod == 3
    uint8_t base        # effective address: base register (R_ZERO if none)
    uint8_t index       # effective address: index register (R_ZERO if none)
    uint8_t scale       # shift count for the index
    uint8_t seg         # segment register of the memory operand
    uint8_t rep         # 0, 0xF2 or 0xF3
    uint8_t lock
    uint8_t sub         # handler-specific: ALU op, condition code, group /n
    uint8_t rex
    uint8_t idx         # position in its block (for exact counts mid-block)
    uint8_t modrm       # the ModRM byte (x87: FOP and the register forms)
    uint8_t self_n      # a near branch to an entry of its own block: the block's length (icache.pxi), else 0
    uint8_t fixfl       # the flags of the writer before it are dead but where it misses the TLB: how to redo them (alu.pxi)

cdef struct Block:
    uint64_t phys       # physical address of the first byte
    uint64_t vstart     # linear... the rip it was decoded at (jump-cache tag)
    uint64_t pend       # physical address after the last byte
    uint64_t page2      # physical page of a straddling last instruction, or ~0
    Block* hnext        # hash chain
    Block* pnext[2]     # per-page lists (first page, straddled page)
    Insn* insns
    uint32_t n
    uint32_t vlen       # bytes covered from phys on
    uint32_t key        # decode-mode key; 0 = invalidated
    uint32_t marks      # has hook markers (hooks.pxi): insns[k].idx counts instructions
    uint32_t back       # bytes before phys it covers (followed JMPs backwards: icache.pxi)

# An x87 register: an 80-bit extended real, 64-bit significand with an
# explicit integer bit, then sign (bit 15) and biased exponent (bits 0-14).
# MMX register mmN is the significand of physical register N.
cdef struct F80:
    uint64_t sig
    uint16_t se

# One vector register (xmm, with room for ymm's upper half).
cdef union Vec:
    uint8_t b[32]
    uint16_t w[16]
    uint32_t d[8]
    uint64_t q[4]
    float f[8]
    double f64[4]

# The floating-point and SIMD unit.  ST(i) is st[(top + i) & 7].  The tag
# word is kept whole (2 bits per physical register: 00 valid, 01 zero,
# 10 special, 11 empty); FXSAVE derives its abridged form.  fsw holds every
# status bit but TOP, which lives in top.
cdef struct Fpu:
    F80 st[8]
    uint16_t fcw, fsw, ftw, fop
    uint32_t top
    uint64_t fip, fdp           # last x87 instruction and data pointer (offsets)
    uint16_t fcs, fds           # ... and their selectors
    uint32_t mxcsr
    uint64_t xcr0
    Vec xmm[16]
    uint8_t ferr                # FERR# (IRQ 13) asserted since ES was set

# The CPU model (cpumodels.pxi; chosen by emu/cpumodels.py): who CPUID says
# the processor is, and the vendor's behaviour where Intel and AMD differ.
cdef enum:
    VENDOR_PVEMU = 0     # pvemu's own model (behaves as Intel where vendors differ)
    VENDOR_INTEL = 1
    VENDOR_AMD = 2
    MODEL_COUNTERS = 4   # performance counters (they count nothing, as QEMU's TCG)

cdef enum:
    STEP_LATE_NONE = 0
    STEP_LATE_TRAP = 1     # the #DB trap is due before the next instruction
    STEP_LATE_CANCEL = 2   # TF was set as the instruction began but not as it ended: no trap

cdef struct CpuModel:
    uint32_t vendor
    uint32_t max_basic, max_ext  # highest basic and extended CPUID leaves
    uint32_t ident[3]            # leaf 0 EBX, EDX, ECX: the vendor string
    uint32_t signature           # leaf 1 EAX: family, model, stepping
    uint32_t brand[12]           # leaves 0x80000002-0x80000004
    uint32_t addr_sizes          # leaf 0x80000008 EAX
    uint32_t pmu                 # leaf 0xA EAX (0: no architectural PMU)
    uint32_t hidden[6]           # features this model hides: leaf 1 ECX, EDX, 0x80000001 ECX, EDX, 7 EBX, ECX
    uint32_t counters            # performance counters and event selects (P6's 2, K7's 4)
    uint64_t evtsel[MODEL_COUNTERS]
    uint64_t ctr[MODEL_COUNTERS]

# A mapped memory region (regions.pxi): guest-physical [start, end), its
# first page at frame `frame`, with PERM_* bits.
cdef struct Region:
    uint64_t start, end, frame
    uint32_t perms


cdef enum:
    MAX_CPUS = 16
    IOAPIC_PINS = 24

# The IOAPIC (82093AA) at 0xFEC00000: IOREGSEL, IOWIN, 24 redirection entries.
cdef struct Ioapic:
    uint32_t id, sel
    uint64_t redir[IOAPIC_PINS]
    uint32_t level           # the input pins' levels, bit n = pin n

# What the CPUs of one machine share (devices, the decode cache's and the
# dirty log's fill levels): CPU 0's struct holds it (CPU.mach, so a context,
# a snapshot or a save file of CPU 0 has it); every CPU reaches it through
# CPU.m.  The shared arrays themselves (RAM, the decode cache, the port map,
# regions, dirty marks) are pointers each CPU keeps a copy of (smp.pxi).
cdef struct Mach:
    Uart uart
    uint8_t dbg_out[OUTBUF_SIZE]   # bytes written to the debug console (0xE9)
    uint32_t dbg_len
    uint32_t post_last
    uint64_t post_count
    Pic pic[2]
    Pit pit
    uint32_t nblocks      # decode-cache pool fill (icache.pxi)
    uint32_t ninsns
    uint64_t ndirty_log, nsnap    # dirty.pxi
    # several CPUs (smp.pxi): the table (cpu[0] is the holder of this
    # struct), the interleaving's state, and the IOAPIC (ioapic.pxi)
    CPU* cpu[MAX_CPUS]
    uint32_t ncpus
    uint32_t cur                  # the CPU whose turn it is
    uint64_t target               # the virtual time this round runs every CPU to
    uint64_t quantum              # virtual time per round
    Ioapic ioapic
    uint32_t ioapic_on

cdef struct CPU:
    uint64_t r[NREGS]
    # lazy flags: the arithmetic flags are a function of the last operation
    uint64_t lf_res
    uint64_t lf_dst
    uint64_t lf_src
    uint32_t lf_op
    uint32_t lf_bits
    uint64_t eflags     # all flags when lf_op == LF_NONE; else the non-arithmetic ones
    uint16_t sel[6]
    uint64_t segbase[7] # index 6 is an always-zero base
    uint32_t mode       # code size: 16, 32 or 64
    uint32_t key        # decode key: bits 0-7 say how code decodes (KEY_DECODE: the mode),
                        # bits 8-31 count jump-cache generations (jcache_flush)
    uint64_t lamask     # linear address mask (2**32-1 outside long mode)
    uint64_t ipmask     # instruction pointer mask (16, 32 or 64 bits)
    uint64_t tsc_offset
    # system state
    uint64_t cr0, cr2, cr3, cr4, cr8, efer
    uint64_t dr[8]
    uint64_t gdt_base, idt_base, ldt_base, tr_base
    uint32_t gdt_limit, idt_limit, ldt_limit, tr_limit
    uint16_t ldt_sel, tr_sel
    uint32_t tr_attr
    uint32_t seglimit[6]
    uint32_t segattr[6]   # descriptor bits 40-55: type, S, DPL, P, AVL, L, D/B, G
    uint32_t cpl
    uint32_t ss_big       # SS.B: 32-bit stack outside 64-bit mode
    uint32_t pg_bypass    # flat 64-bit machine: no page tables until CR3 is written
    uint64_t msr_star, msr_lstar, msr_cstar, msr_sfmask, msr_kgsbase
    uint64_t msr_sysenter_cs, msr_sysenter_esp, msr_sysenter_eip
    uint64_t msr_pat, msr_apic_base, msr_misc_enable, msr_tsc_aux
    int noncanonical      # the last #GP came from a non-canonical address
    uint64_t fault_la     # ... and that address
    uint32_t shadow       # interrupt shadow after STI / MOV SS (instructions)
    uint32_t shadow_block # the running block is the one instruction in a shadow
    # memory
    uint8_t* mem
    uint64_t mem_size
    uint64_t npages
    TlbEntry tlb_r[256]
    TlbEntry tlb_w[256]
    TlbEntry tlb_x[256]
    # port I/O
    uint8_t* io_map
    uint32_t io_port, io_size, io_write
    uint64_t io_value
    int io_ready                   # a Python IN result waits in io_value
    uint32_t exit_status
    # interrupts and virtual time
    uint64_t idle          # virtual time spent halted (instructions not run)
    uint64_t next_event    # run-loop threshold: check devices when icount + idle reaches it
    uint64_t ips           # virtual instructions per second (the timer's time base)
    int halted
    uint64_t halt_rip      # where the HLT that is waiting was
    Apic apic
    uint64_t mmio_pa       # the device address translate() found
    uint64_t mmio_start[MAX_MMIO]
    uint64_t mmio_end[MAX_MMIO]
    uint32_t nmmio
    # replay log of Python MMIO results for the instruction being run
    uint64_t mmio_rip, mmio_icount
    uint64_t mmio_log[8]
    uint32_t mmio_log_n, mmio_log_pos
    uint64_t mmio_addr, mmio_value
    uint32_t mmio_size, mmio_write
    # counters and limits
    uint64_t icount     # retired instructions, machine lifetime
    int64_t budget      # instructions this run may still retire
    uint64_t until
    int has_until
    volatile int stop_request
    int block_abort     # set when a store invalidates the running block
    uint64_t chain_stop # no block is entered by chaining unless it ends by this icount (dispatch.pxi)
    Insn* cur           # where the run loop stops: set by what returns to it (dispatch.pxi)
    # exit information
    int exit_reason
    int exc_vector
    int exc_has_error
    uint32_t exc_error
    uint64_t fault_addr   # for EXIT_UNMAPPED: the guest physical address
    int fault_access
    uint64_t exit_rip
    # decode cache
    Block** hash
    Block** jcache
    Block** page_blocks
    Block* blocks
    Insn* insn_pool
    int use_cache
    # paravirtualization (hypervisor.pxi)
    int pv_on             # a supervisor runs this machine: VMCALL exits, CPUID shows it
    uint64_t pv_trap      # bit k set: privileged class k (PV_*) exits at CPL 0
    uint64_t pv_pass_rip  # run the instruction at this rip natively once (TLB_EMPTY: none)
    uint32_t pv_class     # the class that trapped ...
    uint32_t pv_len       # ... the trapping instruction's length
    uint64_t pv_arg[3]    # ... and its operands
    uint8_t* pv_vcpu      # the shared info's vcpu_info (pending, mask bytes), or NULL
    uint32_t pv_upcall_vector
    uint64_t pv_timer     # virtual time the supervisor's timer is due, or TLB_EMPTY
    uint32_t pv_cpuid[3][4]   # CPUID leaves 0x40000000-0x40000002
    uint8_t* absent       # one byte per page, 1 = no RAM behind it (ballooned out); or NULL
    uint64_t pv_hypercalls, pv_traps, pv_upcalls
    # statistics
    uint64_t blocks_decoded
    uint64_t smc_invalidations
    # debug registers (debug.pxi), global pages, segment limit checks (limits.pxi);
    # at the end so that the hot fields above keep their places
    uint32_t dr_exec      # enabled (DR7 L/G) instruction breakpoints: bit k for DRk
    uint32_t dr_data      # enabled data breakpoints (R/W = 01 or 11)
    uint32_t dr_hit       # data breakpoints hit by the running instruction (B0-B3)
    uint32_t walk_global  # the last page walk ended at a global page (G with CR4.PGE)
    uint32_t walk_large   # ... at a page larger than 4 KiB (INVLPG: memory.pxi)
    uint32_t segchk       # some segment is not flat: limit checks on (limits.pxi)
    uint64_t seg_lo, seg_hi   # ... linear range inside every segment (pages there stay in the TLB)
    uint32_t no_chain     # Machine.block_chaining off: every block goes through the run loop
    uint64_t blocks_chained   # blocks entered by chaining (dispatch.pxi), for stats
    uint32_t io_idx       # during port I/O: the instruction's place in its block (vtime)
    # x87, MMX, SSE and XSAVE state (x87.pxi, sse*.pxi); at the end, after
    # the hot fields, so their offsets stay small.
    Fpu fpu
    # the CPU model (cpumodels.pxi)
    CpuModel model
    # SYSCALL/SYSRET single-step on TF as they end (system.pxi): STEP_LATE_*
    uint32_t step_late
    # NMI (apic.pxi): one may be pending; delivery blocks more until IRET
    uint32_t nmi_pending, nmi_blocked
    # a data segment register holds a segment that is not writable (limits.pxi):
    # no write goes through the TLB, so each store checks its segment's type
    uint32_t seg_ro
    # debug.pxi: armed I/O breakpoints (DR7 R/W = 10 with CR4.DE), bit k for DRk;
    # DR6 bits of a #DB trap left pending (STEP_LATE_TRAP)
    uint32_t dr_io
    uint32_t dr6_pending
    # MOV SS / POP SS ended the last block: its #DB traps wait one instruction
    uint32_t db_blocked
    # machine-check architecture (mca.pxi): IA32_MCG_STATUS and the banks'
    # CTL, STATUS, ADDR and MISC MSRs (no error is ever logged)
    uint64_t mcg_status
    uint64_t mc_bank[40]

    # A debugger's stops (emu/gdbstub.py): run() also ends ('until') at
    # these rips; with dr_host set, DR0-DR3 hits end it ('debug') instead
    # of raising #DB in the guest.
    uint64_t breaks[MAX_BREAKS]
    uint32_t nbreaks
    uint32_t dr_host
    # mapped memory regions (regions.pxi); at the end, after the hot fields
    Region* regions       # sorted by start, disjoint
    uint32_t nregions
    uint8_t** frames      # host page of frame npages + k
    uint64_t nframes      # frames page_blocks covers: RAM's npages and the mapped ones
    # hooks (hooks.pxi): address ranges (inclusive) compiled into blocks
    uint64_t hk_code_lo[16]
    uint64_t hk_code_hi[16]
    uint64_t hk_block_lo[16]
    uint64_t hk_block_hi[16]
    uint64_t hk_mem_lo[16]
    uint64_t hk_mem_hi[16]
    uint32_t hk_mem_kind[16]  # bit ACC_READ / ACC_WRITE
    uint32_t hk_ncode, hk_nblock, hk_nmem
    uint64_t hk_pass_addr     # the marker(s) at this address let their instruction through
    uint32_t hk_pass_level    # ... up to this level (HOOK_BLOCK, HOOK_CODE)
    uint64_t hk_addr          # the marker that exited: address, instruction/block size, level
    uint32_t hk_size, hk_kind
    uint32_t fault_size       # the last slow-path access: size, and value for a store
    uint64_t fault_value
    # dirty pages and snapshots (snapshot.pxi)
    uint8_t* dirty            # per frame: DIRTY_LOG | DIRTY_SNAP marks
    uint32_t* dirty_log       # frames marked DIRTY_LOG, in order
    uint32_t* snap_list       # frames saved into snap since the snapshot
    uint64_t dirty_frames     # frames the three arrays cover
    uint8_t* snap             # page f as it was at the snapshot: snap + f * 4096
    uint64_t snap_frames
    # edge coverage (coverage.pxi)
    uint8_t* cov_map          # AFL-layout counters, or NULL: coverage off
    uint32_t cov_mask         # map size - 1
    uint32_t cov_prev         # prev_loc
    uint64_t cov_blocks       # blocks run with coverage on
    # supervisor protections and protection keys (paging.pxi, protkeys.pxi)
    uint32_t pkru             # PKRU: AD/WD bits of the 16 keys of user pages
    uint64_t msr_pkrs         # IA32_PKRS: the same for supervisor pages (PKS)
    uint32_t walk_nocache     # the last walk allowed an access only for EFLAGS.AC (SMAP): keep it out of the TLB
    uint32_t cs_limited       # CS's limit is below the IP's range: blocks are cut at it (limits.pxi)
    uint32_t seg_guard        # a guarded instruction runs: its accesses are checked in full (limits.pxi)
    # timers of devices written in Python (Machine.set_device_timer: the HPET's comparators)
    uint64_t dev_timer        # virtual time the earliest is due, or TLB_EMPTY
    # the machine's shared state (Mach above): CPU 0 holds it, m points to it
    Mach mach
    Mach* m
    # several CPUs (smp.pxi): this CPU's place in Mach.cpu; an INIT leaves it
    # waiting for a start-up IPI; halted, it idles up to idle_cap (the end
    # of its turn), TLB_EMPTY on a machine with one CPU
    uint32_t cpu_index
    uint32_t wait_sipi
    uint64_t idle_cap
    # the stack pointer's mask (regs.pxi sp_mask), set with ss_big by update_mode
    uint64_t spmask
