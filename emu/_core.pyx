# cython: language_level=3
"""pvemu's core: the x86 CPU model and its run loop, in C via Cython.

One extension module assembled from several .pxi files (one concern each)
so the C compiler can inline across them.  All guest state is the CPU
struct of _core.pxd; every instruction handler is `noexcept nogil` and
reports faults by return code.  The Python-facing class is Machine.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, int32_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset
from cpython.exc cimport PyErr_CheckSignals
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MAP_FAILED

from emu.errors import EmuError
from emu.exits import Exit

include "flags.pxi"
include "memory.pxi"
include "paging.pxi"
include "regs.pxi"
include "icache.pxi"
include "dispatch.pxi"
include "alu.pxi"
include "muldiv.pxi"
include "shift.pxi"
include "bits.pxi"
include "bcd.pxi"
include "datamov.pxi"
include "stack.pxi"
include "strings.pxi"
include "control.pxi"
include "system.pxi"
include "segments.pxi"
include "tasks.pxi"
include "interrupts.pxi"
include "pic.pxi"
include "pit.pxi"
include "apic.pxi"
include "io.pxi"
include "misc.pxi"
include "decode.pxi"
include "opmap.pxi"
include "variants.pxi"

init_parity()
init_opmap()
init_variants()

# ---------------------------------------------------------------- run loop

cdef bint uses_stack(CPU* c, Insn* i) noexcept nogil:
    """Was the non-canonical access at c.fault_la made through SS (an
    rSP/rBP-based operand, or the stack of a push or pop)?  Decides #SS
    against #GP, rarely."""
    cdef uint32_t op = i.opcode
    cdef bint stack_op = (0x50 <= op <= 0x61 or op in (0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F,
                          0x68, 0x6A, 0x8F, 0x9A, 0x9C, 0x9D, 0xC2, 0xC3, 0xC8, 0xC9, 0xCA, 0xCB,
                          0xCF, 0xE8, 0x1A0, 0x1A1, 0x1A8, 0x1A9)
                          or (op == 0xFF and (i.reg & 7) in (2, 3, 6)))
    cdef bint explicit_ss = (i.mod != 3 and (i.base == R_SP or i.base == R_BP)
                             and (i.seg == S_SS or i.seg == 6))
    if i.mod != 3 and (not stack_op or c.fault_la - mem_la(c, i) < 16):
        return explicit_ss                     # the explicit memory operand faulted
    return stack_op

cdef inline int exception_exit(CPU* c) noexcept nogil:
    return EXIT_UNMAPPED if c.exc_vector < 0 else EXIT_EXCEPTION

cdef int cpu_run(CPU* c) noexcept nogil:
    """Run until an exit.  Budget, `until` and stop requests are checked
    once per block; a block is cut short to honour them exactly (its
    instruction at the cut point is swapped for the end marker while the
    block runs)."""
    cdef Block* b
    cdef Insn* i
    cdef Insn* cut
    cdef handler_t saved
    cdef uint64_t rip, ipmask, rel
    cdef int rc
    cdef uint32_t n, k
    cdef bint has_until = c.has_until, one, step
    while True:
        rip = c.r[R_RIP]
        ipmask = c.ipmask
        one = False
        step = False
        if c.icount >= c.next_event:   # timers due, an interrupt pending, a shadow, TF
            if c.shadow:
                c.shadow = 0
                one = True             # one instruction before interrupts again
            else:
                if c.halted:
                    rc = halt_wait(c)
                    if rc:
                        c.exit_rip = c.halt_rip & ipmask
                        return rc
                rc = service_interrupts(c)
                if rc:
                    c.exit_rip = rip
                    return rc
                rip = c.r[R_RIP]
                ipmask = c.ipmask
            if c.eflags & F_TF:        # single-step: #DB after each instruction
                step = True
                one = True
                c.next_event = 0
        if c.budget <= 0 or c.stop_request or (has_until and rip == c.until):
            c.exit_rip = rip
            if c.stop_request:
                c.stop_request = 0
                return EXIT_STOP
            return EXIT_COUNT if c.budget <= 0 else EXIT_UNTIL
        b = c.jcache[rip & (JC_SIZE - 1)]
        if b == NULL or b.vstart != rip or b.key != c.key:
            b = find_block(c, rip)
            if b == NULL:
                c.exit_rip = rip
                return exception_exit(c)
        # Cut the block short for the budget or `until`, or after one
        # instruction in an interrupt shadow (after STI or MOV SS).
        n = b.n
        if n > c.budget:
            n = <uint32_t>c.budget
        if one:
            n = 1
        if has_until:
            rel = c.until - rip
            if rel < b.vlen:
                for k in range(1, n):
                    if b.insns[k].off == rel:
                        n = k
                        break
        i = b.insns
        c.block_abort = 0
        c.r[R_BASE] = rip
        c.cur = i
        if n == b.n:
            rc = i.fn(c, i)            # runs the block, handler to handler
        else:
            cut = &b.insns[n]
            saved = cut.fn
            cut.fn = h_block_end
            rc = i.fn(c, i)
            cut.fn = saved
        i = c.cur
        # A handler that returned RC_OK instead of chaining: go on by hand.
        while rc == RC_OK:
            i += 1
            c.cur = i
            rc = i.fn(c, i) if not c.block_abort else RC_DONE
            i = c.cur
        k = i.idx
        if rc == RC_JUMP:
            k += 1
        elif rc == RC_DONE:            # stopped at the end marker
            c.r[R_RIP] = (rip + i.off) & ipmask
        elif rc == RC_END or rc == RC_EXIT:
            k += 1
            c.r[R_RIP] = (rip + i.next) & ipmask
            if rc == RC_EXIT:
                c.icount += k
                c.budget -= k
                c.exit_rip = (rip + i.off) & ipmask
                return c.exit_reason
        else:                          # RC_AGAIN, RC_FAULT: not retired
            c.r[R_RIP] = (rip + i.off) & ipmask
            if rc == RC_AGAIN:
                c.budget -= 1          # a REP chunk uses budget, so run() ends
            elif rc == RC_EXIT_NR:
                c.icount += k
                c.budget -= k
                c.exit_rip = c.r[R_RIP]
                return c.exit_reason
            else:
                c.icount += k
                c.budget -= k
                c.exit_rip = c.r[R_RIP]
                if c.exc_vector == -2:      # a device in Python must answer first
                    return c.exit_reason
                if c.noncanonical:
                    c.noncanonical = 0
                    if c.exc_vector == 13 and uses_stack(c, i):
                        c.exc_vector = 12       # #SS(0): the stack segment's fault
                if c.exc_vector < 0 or not has_idt(c):
                    return exception_exit(c)
                rc = deliver(c, c.exc_vector, c.exc_has_error, c.exc_error, INT_EXCEPTION, c.r[R_RIP])
                if rc:
                    return rc
                continue
        c.icount += k
        c.budget -= k
        if step and k:
            # the trap after a single-stepped instruction (DR6.BS)
            c.dr[6] |= 0x4000
            if not has_idt(c):
                c.exc_vector = 1
                c.exc_has_error = 0
                c.exit_rip = rip
                return EXIT_EXCEPTION
            rc = deliver(c, 1, 0, 0, INT_EXCEPTION, c.r[R_RIP])
            if rc:
                return rc

cdef void reset_state(CPU* c, int mode) noexcept nogil:
    """The state a Machine starts in.  16: real mode.  32: protected mode
    with flat 4 GiB segments and no descriptor tables (as Multiboot and
    Unicorn leave it).  64: long mode with flat segments, running without
    page tables until the guest loads CR3 (as Unicorn's 64-bit mode)."""
    cdef uint32_t s
    for s in range(6):
        c.seglimit[s] = 0xFFFF if mode == 16 else 0xFFFFFFFF
        c.segattr[s] = 0x93 if mode == 16 else 0xC093      # present writable data
    c.segattr[S_CS] = 0x9B if mode == 16 else (0xA09B if mode == 64 else 0xC09B)
    c.cr0 = 0x10
    if mode != 16:
        c.cr0 |= CR0_PE
    if mode == 64:
        c.cr0 |= CR0_PG
        c.cr4 = CR4_PAE
        c.efer = EFER_LME | EFER_LMA
        c.pg_bypass = 1
    c.msr_pat = 0x0007040600070406ULL
    c.msr_apic_base = 0xFEE00900
    update_mode(c)

cdef int halt_wait(CPU* c) noexcept nogil:
    """HLT with interrupts on: skip virtual time to the next timer interrupt.
    If nothing could ever wake the CPU, the run ends with 'hlt'."""
    cdef uint64_t now = vtime(c)
    cdef uint64_t wake = TLB_EMPTY
    if pic_pending(&c.pic[0]) >= 0 or apic_pending(c) >= 0:
        return 0
    c.next_event = 0
    if c.pit.armed and not (c.pic[0].imr & 1):
        wake = c.pit.next_irq
    if c.apic.next_irq < wake and apic_enabled(c) and not (c.apic.lvt[0] & APIC_MASKED):
        wake = c.apic.next_irq
    if wake != TLB_EMPTY:
        if wake > now:
            c.idle += wake - now
        return 0
    c.halted = 0
    return EXIT_HLT

# ---------------------------------------------------------------- registers

# name -> (kind, index, size): kind 0 GPR, 1 high byte, 2 rip, 3 flags,
# 4 selector, 5 segment base
cdef dict REGS = {}

def _init_reg_names():
    gp64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"]
    for k, name in enumerate(gp64):
        base = name[1:]
        REGS[name] = (0, k, 8)
        REGS["e" + base] = (0, k, 4)
        REGS[base] = (0, k, 2)
    for k, name in enumerate(["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"]):
        REGS[name] = (0, k, 1)
    for k, name in enumerate(["ah", "ch", "dh", "bh"]):
        REGS[name] = (1, k, 1)
    for k in range(8, 16):
        REGS["r%d" % k] = (0, k, 8)
        REGS["r%dd" % k] = (0, k, 4)
        REGS["r%dw" % k] = (0, k, 2)
        REGS["r%db" % k] = (0, k, 1)
        REGS["r%dl" % k] = (0, k, 1)
    REGS.update(rip=(2, 0, 8), eip=(2, 0, 4), ip=(2, 0, 2),
                rflags=(3, 0, 8), eflags=(3, 0, 4), flags=(3, 0, 2))
    for k, name in enumerate(["es", "cs", "ss", "ds", "fs", "gs"]):
        REGS[name] = (4, k, 2)
        REGS[name + "_base"] = (5, k, 8)

_init_reg_names()

#: Every register name reg_read/reg_write accept.
REGISTER_NAMES = tuple(sorted(REGS))

# ---------------------------------------------------------------- Machine

cdef void* zalloc(size_t size) noexcept nogil:
    """Zeroed memory straight from the kernel: pages are only backed once
    touched, and creating a machine costs no memset however large it is."""
    cdef void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    return NULL if p == MAP_FAILED else p

cdef void zfree(void* p, size_t size) noexcept nogil:
    if p != NULL:
        munmap(p, size)

cdef object EXIT_NAMES = {EXIT_HLT: "hlt", EXIT_UNTIL: "until", EXIT_COUNT: "count",
                          EXIT_EXCEPTION: "exception", EXIT_UNMAPPED: "unmapped",
                          EXIT_STOP: "stop", EXIT_DEBUG_EXIT: "debug-exit",
                          EXIT_TRIPLE_FAULT: "triple-fault"}
cdef object ACCESS_NAMES = {ACC_READ: "read", ACC_WRITE: "write", ACC_FETCH: "fetch"}

# A run() is cut into slices of this many instructions so Ctrl-C is seen.
cdef int64_t SLICE = 1 << 26


cdef inline size_t pool_blocks(CPU* c) noexcept nogil:
    return MAX_BLOCKS if c.use_cache else 1

cdef inline size_t pool_insns(CPU* c) noexcept nogil:
    return MAX_INSNS if c.use_cache else BLOCK_MAX


cdef class Machine:
    """An x86 CPU with flat RAM at physical address 0.

    Machine(mode=32, memory=16 MiB, decode_cache=True)

    mode          16 (real-mode addressing: linear = segment * 16 + offset),
                  32 (flat protected mode) or 64 (flat 64-bit mode)
    memory        bytes of RAM, rounded up to 4 KiB
    decode_cache  keep decoded blocks (False decodes every instruction
                  afresh: slower, and a reference for the cache itself)

    The verbs follow Unicorn's: mem_write/mem_read, reg_write/reg_read,
    run(start, until, count) -> Exit.  `regs` is an attribute view of the
    registers (m.regs.eax = 1).
    """
    cdef CPU* c
    cdef bint running
    cdef readonly object regs
    cdef dict io_handlers
    cdef list mmio_handlers
    cdef object serial_sink, debugcon_sink
    cdef readonly bytearray serial_output
    cdef readonly bytearray debugcon_output
    cdef object serial_pending

    def __cinit__(self, int mode=32, memory=16 << 20, bint decode_cache=True):
        if mode not in (16, 32, 64):
            raise EmuError(f"mode must be 16, 32 or 64, not {mode!r}")
        try:
            size = int(memory)
        except (TypeError, ValueError):
            raise EmuError(f"memory must be a size in bytes, not {memory!r}") from None
        if size <= 0 or size > (1 << 40):
            raise EmuError(f"memory size {size} is out of range (1 byte to 1 TiB)")
        size = (size + 0xFFF) & ~0xFFF
        self.c = <CPU*>calloc(1, sizeof(CPU))
        if self.c == NULL:
            raise MemoryError("cannot allocate the CPU state")
        c = self.c
        c.mem_size = size
        c.npages = size >> 12
        c.use_cache = decode_cache
        c.mem = <uint8_t*>zalloc(size)
        c.hash = <Block**>zalloc(HASH_SIZE * sizeof(Block*))
        c.jcache = <Block**>zalloc(JC_SIZE * sizeof(Block*))
        c.page_blocks = <Block**>zalloc(c.npages * sizeof(Block*))
        c.blocks = <Block*>zalloc(pool_blocks(c) * sizeof(Block))
        c.insn_pool = <Insn*>zalloc(pool_insns(c) * sizeof(Insn))
        if (c.mem == NULL or c.hash == NULL or c.jcache == NULL or c.page_blocks == NULL
                or c.blocks == NULL or c.insn_pool == NULL):
            raise MemoryError(f"cannot allocate {size} bytes of guest memory")
        c.io_map = <uint8_t*>zalloc(65536)
        if c.io_map == NULL:
            raise MemoryError("cannot allocate the I/O port map")
        self._attach_pc_devices()
        c.eflags = 2
        reset_state(c, mode)
        tlb_flush(c)

    def __init__(self, int mode=32, memory=16 << 20, bint decode_cache=True):
        self.regs = Registers(self)
        self.io_handlers = {}
        self.mmio_handlers = []
        self.serial_output = bytearray()
        self.debugcon_output = bytearray()
        self.serial_sink = None
        self.debugcon_sink = None
        self.serial_pending = bytearray()

    cdef void _attach_pc_devices(self):
        """The devices at their PC ports, as QEMU's pc machine has them:
        COM1 16550 UART (0x3F8-0x3FF), isa-debug-exit (0xF4-0xF7), the
        debug console (0xE9), POST codes (0x80 and 0x190)."""
        c = self.c
        c.uart.base = 0x3F8
        for port in range(0x3F8, 0x400):
            c.io_map[port] = DEV_UART
        for port in range(0xF4, 0xF8):
            c.io_map[port] = DEV_DEBUG_EXIT
        c.io_map[0xE9] = DEV_DEBUGCON
        c.io_map[0x80] = DEV_POST
        c.io_map[0x190] = DEV_POST
        for port in (0x20, 0x21, 0xA0, 0xA1):
            c.io_map[port] = DEV_PIC
        for port in range(0x40, 0x44):
            c.io_map[port] = DEV_PIT
        c.ips = 100_000_000
        apic_reset(c)
        c.next_event = TLB_EMPTY
        c.pit.next_irq = TLB_EMPTY

    # ---- devices

    def add_io_handler(self, port, count=1, read=None, write=None):
        """Handle ports [port, port + count) in Python: read(port, size) ->
        int for IN, write(port, size, value) for OUT.  Replaces any built-in
        device there.  Each access leaves the C loop, so keep these for
        ports that are not in a guest's hot path."""
        if not 0 <= port and port + count <= 0x10000 and count > 0:
            raise EmuError(f"port range {port:#x}+{count} is outside 0..0xFFFF")
        for p in range(port, port + count):
            self.io_handlers[p] = (read, write)
            self.c.io_map[p] = DEV_PYTHON

    def add_mmio_handler(self, address, size, read=None, write=None):
        """Handle physical addresses [address, address + size) outside RAM in
        Python: read(addr, size) -> int, write(addr, size, value).  Each
        access leaves the C loop (the instruction is then run again with the
        answer), so these suit device registers, not bulk memory."""
        c = self.c
        if size <= 0 or address < c.mem_size:
            raise EmuError(f"MMIO range {address:#x}+{size:#x} must be non-empty and above RAM "
                           f"(which ends at {c.mem_size:#x})")
        if c.nmmio >= MAX_MMIO:
            raise EmuError(f"at most {MAX_MMIO} MMIO ranges")
        c.mmio_start[c.nmmio] = address
        c.mmio_end[c.nmmio] = address + size
        c.nmmio += 1
        self.mmio_handlers.append((address, address + size, read, write))

    cdef void _python_mmio(self) except *:
        c = self.c
        for start, end, read, write in self.mmio_handlers:
            if start <= c.mmio_addr < end:
                break
        if c.mmio_write:
            if write is not None:
                write(c.mmio_addr, c.mmio_size, c.mmio_value)
            value = 0
        else:
            value = int(read(c.mmio_addr, c.mmio_size)) if read is not None else -1
        if c.mmio_log_n >= 8:
            raise EmuError(f"an instruction made more than 8 device accesses at {c.mmio_addr:#x}")
        c.mmio_log[c.mmio_log_n] = value & size_mask(c.mmio_size)
        c.mmio_log_n += 1
        c.mmio_log_pos = 0

    def set_serial(self, sink=None, input=b""):
        """Where COM1's output goes: a callable taking bytes, a binary file
        (anything with .write), or None to collect it in serial_output.
        `input` is queued for the guest to read."""
        self.serial_sink = sink
        self.serial_pending += bytes(input)
        self._feed_serial()

    def set_debugcon(self, sink=None):
        """Where bytes written to port 0xE9 go (as set_serial)."""
        self.debugcon_sink = sink

    @property
    def virtual_time(self):
        """Virtual time in instructions: those retired plus those a halted
        CPU skipped while waiting for a timer."""
        return self.c.icount + self.c.idle

    @property
    def ips(self):
        """Virtual instructions per second: the time base of the timers (and
        of RDTSC).  Time is virtual, so runs are bit-identical."""
        return self.c.ips

    @ips.setter
    def ips(self, value):
        if int(value) <= 0:
            raise EmuError(f"ips must be positive, not {value!r}")
        self.c.ips = int(value)

    @property
    def post_code(self):
        """The last POST code written to port 0x80 or 0x190 (None if none)."""
        return self.c.post_last if self.c.post_count else None

    cdef void _feed_serial(self):
        cdef Uart* u = &self.c.uart
        cdef uint32_t depth = 16 if (u.fcr & 1) else 1
        while self.serial_pending and u.rx_tail - u.rx_head < depth:
            uart_receive(self.c, self.serial_pending[0])
            del self.serial_pending[0]
        uart_update_irq(self.c)

    cdef void _flush_output(self) except *:
        c = self.c
        if c.uart.out_len:
            data = (<char*>c.uart.out)[:c.uart.out_len]
            c.uart.out_len = 0
            _emit(self.serial_sink, self.serial_output, data)
        if c.dbg_len:
            data = (<char*>c.dbg_out)[:c.dbg_len]
            c.dbg_len = 0
            _emit(self.debugcon_sink, self.debugcon_output, data)

    cdef void _python_io(self) except *:
        """Complete a port access that leaves the C loop for Python."""
        c = self.c
        read, write = self.io_handlers[c.io_port]
        if c.io_write:
            if write is not None:
                write(c.io_port, c.io_size, c.io_value)
        else:
            v = read(c.io_port, c.io_size) if read is not None else -1
            c.io_value = int(v) & size_mask(c.io_size)
            c.io_ready = 1

    def __dealloc__(self):
        if self.c != NULL:
            c = self.c
            zfree(c.mem, c.mem_size)
            zfree(c.hash, HASH_SIZE * sizeof(Block*))
            zfree(c.jcache, JC_SIZE * sizeof(Block*))
            zfree(c.page_blocks, c.npages * sizeof(Block*))
            zfree(c.blocks, pool_blocks(c) * sizeof(Block))
            zfree(c.insn_pool, pool_insns(c) * sizeof(Insn))
            zfree(c.io_map, 65536)
            free(c)
            self.c = NULL

    @property
    def mode(self):
        """16, 32 or 64."""
        return self.c.mode

    @property
    def memory_size(self):
        """Bytes of guest RAM."""
        return self.c.mem_size

    @property
    def instructions(self):
        """Instructions retired over the machine's life."""
        return self.c.icount

    @property
    def stats(self):
        """Decode-cache counters: blocks decoded, blocks cached now, and
        blocks invalidated by stores into code (self-modifying code)."""
        return {"blocks_decoded": self.c.blocks_decoded,
                "blocks_cached": self.c.nblocks if self.c.use_cache else 0,
                "smc_invalidations": self.c.smc_invalidations}

    # ---- memory

    cdef void _check_range(self, addr, n) except *:
        if addr < 0 or n < 0 or addr + n > self.c.mem_size:
            raise EmuError(f"guest memory range {addr:#x}..{addr + n:#x} is outside "
                           f"RAM (0..{self.c.mem_size:#x})")

    def mem_write(self, addr, data):
        """Write bytes at a guest physical address."""
        cdef const uint8_t[:] view = memoryview(bytes(data)) if not isinstance(data, (bytes, bytearray)) else data
        cdef uint64_t a = addr, n = len(view), k, chunk
        self._check_range(addr, n)
        if n == 0:
            return
        memcpy(self.c.mem + a, &view[0], n)
        k = a
        while k < a + n:                     # stores into decoded code invalidate it
            chunk = min(0x1000 - (k & 0xFFF), a + n - k)
            if self.c.page_blocks[k >> 12] != NULL:
                smc_write(self.c, k, <uint32_t>chunk)
            k += chunk

    def mem_read(self, addr, n):
        """Read n bytes at a guest physical address."""
        self._check_range(addr, n)
        return (<char*>self.c.mem)[addr:addr + n]

    # ---- registers

    def reg_read(self, name):
        """Read a register by name (see REGISTER_NAMES)."""
        kind, idx, size = _reg_lookup(name)
        c = self.c
        if kind == 0:
            return get_r(c, idx, size) if size > 1 else c.r[idx] & 0xFF
        if kind == 1:
            return (c.r[idx] >> 8) & 0xFF
        if kind == 2:
            return c.r[R_RIP] & size_mask(size)
        if kind == 3:
            return get_eflags(c) & size_mask(size)
        if kind == 4:
            return c.sel[idx]
        return c.segbase[idx]

    def reg_write(self, name, value):
        """Write a register by name.  Segment registers: in a 16-bit machine
        the base follows (selector * 16); otherwise only the selector is set
        (write '<seg>_base' for the base, e.g. 'fs_base')."""
        kind, idx, size = _reg_lookup(name)
        try:
            v = int(value) & ((1 << (8 * size)) - 1)
        except (TypeError, ValueError):
            raise EmuError(f"register value must be an integer, not {value!r}") from None
        c = self.c
        if kind == 0:
            if size == 1:
                c.r[idx] = (c.r[idx] & ~<uint64_t>0xFF) | v
            elif size == 4:
                c.r[idx] = v            # as a 32-bit write: zero-extends
            else:
                set_r(c, idx, size, v)
        elif kind == 1:
            c.r[idx] = (c.r[idx] & ~<uint64_t>0xFF00) | (v << 8)
        elif kind == 2:
            c.r[R_RIP] = v & c.ipmask
        elif kind == 3:
            materialize(c)
            c.eflags = (c.eflags & ~size_mask(size)) | v | 2
            c.lf_op = LF_NONE
            c.next_event = 0          # TF or IF may have changed
        elif kind == 4:
            c.sel[idx] = v
            if c.mode == 16:
                c.segbase[idx] = v << 4
            if idx == S_CS:
                jcache_flush(c)
        else:
            c.segbase[idx] = v if c.mode == 64 else v & 0xFFFFFFFF
            if idx == S_CS:
                jcache_flush(c)

    # ---- running

    def run(self, start=None, until=None, count=None):
        """Run from `start` (default: the current rip) until an exit.

        until  stop when rip reaches this address (reason 'until')
        count  retire at most this many instructions (reason 'count')
        Returns an Exit.  The GIL is released while guest code runs, so
        machines in different threads run in parallel; Ctrl-C is honoured.
        """
        c = self.c
        if self.running:
            raise EmuError("this machine is already running (in another thread)")
        if start is not None:
            self.reg_write("rip", start)
        if count is not None and count < 0:
            raise EmuError(f"count must be >= 0, not {count}")
        c.has_until = until is not None
        c.until = (until & c.ipmask) if until is not None else 0
        cdef int64_t remaining = count if count is not None else -1
        cdef uint64_t first = c.icount
        cdef int reason
        self.running = True
        try:
            while True:
                c.budget = SLICE if remaining < 0 or remaining > SLICE else remaining
                with nogil:
                    reason = cpu_run(c)
                if reason == EXIT_IO or reason == EXIT_FLUSH or reason == EXIT_MMIO:
                    self._flush_output()
                    if reason == EXIT_IO:
                        self._python_io()
                    elif reason == EXIT_MMIO:
                        self._python_mmio()
                    self._feed_serial()
                    continue
                if remaining >= 0:
                    remaining -= SLICE if remaining > SLICE else remaining
                    remaining = max(remaining, 0) if reason != EXIT_COUNT else remaining
                if reason == EXIT_COUNT and (remaining < 0 or remaining > 0):
                    PyErr_CheckSignals()
                    continue
                break
        finally:
            self.running = False
            c.has_until = 0
            self._flush_output()
        return self._exit(reason, c.icount - first)

    def stop(self):
        """Ask a running run() (in another thread) to return with 'stop'."""
        self.c.stop_request = 1

    cdef object _exit(self, int reason, uint64_t retired):
        c = self.c
        ex = Exit(reason=EXIT_NAMES[reason], address=c.exit_rip, instructions=retired)
        if reason in (EXIT_EXCEPTION, EXIT_UNMAPPED, EXIT_TRIPLE_FAULT):
            ex.insn_bytes = self._code_at(c.exit_rip)
        if reason in (EXIT_EXCEPTION, EXIT_TRIPLE_FAULT, EXIT_UNMAPPED):
            ex.registers = self.state()
        if reason == EXIT_EXCEPTION or reason == EXIT_TRIPLE_FAULT:
            ex.vector = c.exc_vector
            ex.error_code = c.exc_error if c.exc_has_error else None
        elif reason == EXIT_UNMAPPED:
            ex.access = ACCESS_NAMES[c.fault_access]
            ex.access_address = c.fault_addr
        elif reason == EXIT_DEBUG_EXIT:
            ex.status = c.exit_status
        return ex

    def state(self):
        """A snapshot of the CPU: general registers, rip, rflags, segment
        selectors and bases, control registers and the descriptor tables."""
        c = self.c
        names = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"]
        if c.mode == 64 or c.efer & EFER_LMA:
            names += ["r%d" % k for k in range(8, 16)]
        s = {n: self.reg_read(n) for n in names}
        s.update(rip=c.r[R_RIP], rflags=get_eflags(c), cpl=c.cpl, mode=c.mode,
                 cr0=c.cr0, cr2=c.cr2, cr3=c.cr3, cr4=c.cr4, efer=c.efer,
                 gdtr=(c.gdt_base, c.gdt_limit), idtr=(c.idt_base, c.idt_limit),
                 tr=c.tr_sel, ldtr=c.ldt_sel)
        for k, n in enumerate(("es", "cs", "ss", "ds", "fs", "gs")):
            s[n] = c.sel[k]
            s[n + "_base"] = c.segbase[k]
        return s

    def insn_bytes(self, ip=None):
        """The bytes of the instruction at ip (default: rip), read as the CPU
        fetches them (CS base, paging); b'' if it cannot be fetched."""
        return self._code_at(self.c.r[R_RIP] if ip is None else ip)

    cdef bytes _code_at(self, uint64_t ip):
        cdef uint8_t buf[16]
        cdef uint64_t pages[2]
        cdef Insn insn
        cdef uint64_t la = (self.c.segbase[S_CS] + ip) & self.c.lamask
        cdef int got = fetch_code(self.c, la, buf, 15, pages)
        cdef int n = decode_one(self.c.mode, &insn, buf, got) if got > 0 else -1
        return (<char*>buf)[:n if n > 0 else got]


def _emit(sink, bytearray collected, bytes data):
    if sink is None:
        collected += data
    elif hasattr(sink, "write"):
        sink.write(data)
        if hasattr(sink, "flush"):
            sink.flush()
    else:
        sink(data)


cdef tuple _reg_lookup(name):
    try:
        return REGS[name.lower()]
    except (KeyError, AttributeError):
        raise EmuError(f"unknown register {name!r}; known: {', '.join(REGISTER_NAMES)}") from None


class Registers:
    """Attribute access to a Machine's registers: m.regs.eax, m.regs.rip = 0."""
    __slots__ = ("_m",)

    def __init__(self, machine):
        object.__setattr__(self, "_m", machine)

    def __getattr__(self, name):
        try:
            return self._m.reg_read(name)
        except EmuError as e:
            raise AttributeError(str(e)) from None

    def __setattr__(self, name, value):
        self._m.reg_write(name, value)

    def __dir__(self):
        return list(REGISTER_NAMES)

    def __repr__(self):
        names = ("rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip rflags"
                 if self._m.mode == 64 else "eax ebx ecx edx esi edi ebp esp eip eflags").split()
        return "Registers(" + ", ".join(f"{n}={self._m.reg_read(n):#x}" for n in names) + ")"
