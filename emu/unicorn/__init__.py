"""A drop-in for Unicorn's Python API (x86 only), on pvemu's Machine.

    from emu import unicorn            # instead of: import unicorn
    from emu.unicorn import *          # instead of: from unicorn import *
    from emu.unicorn.x86_const import *

Uc(UC_ARCH_X86, mode) starts with no memory: mem_map it, write code, set
registers, emu_start(begin, until, timeout, count).  Hooks take Unicorn's
callbacks and user_data.  Differences from Unicorn are listed in the README
("Moving over from Unicorn"); the main one is that an exception raised in a
hook reaches the caller of emu_start.
"""
from __future__ import annotations

import ctypes
import threading

from emu import EmuError, Machine
from emu._core import DATA_HOOK_KINDS
from emu.unicorn.unicorn_const import *  # noqa: F401,F403  (the public names)
from emu.unicorn.x86_const import *      # noqa: F401,F403
from emu.unicorn import unicorn_const as _c, x86_const as _x

__version__ = "%d.%d.%d" % (_c.UC_VERSION_MAJOR, _c.UC_VERSION_MINOR, _c.UC_VERSION_PATCH)

_MESSAGES = {
    UC_ERR_OK: "OK", UC_ERR_NOMEM: "No memory available or memory not present",
    UC_ERR_ARCH: "Invalid/unsupported architecture", UC_ERR_HANDLE: "Invalid handle",
    UC_ERR_MODE: "Invalid mode", UC_ERR_VERSION: "Different API version between core & binding",
    UC_ERR_READ_UNMAPPED: "Invalid memory read", UC_ERR_WRITE_UNMAPPED: "Invalid memory write",
    UC_ERR_FETCH_UNMAPPED: "Invalid memory fetch", UC_ERR_HOOK: "Invalid hook type",
    UC_ERR_INSN_INVALID: "Invalid instruction", UC_ERR_MAP: "Invalid memory mapping",
    UC_ERR_WRITE_PROT: "Write to write-protected memory",
    UC_ERR_READ_PROT: "Read from non-readable memory",
    UC_ERR_FETCH_PROT: "Fetch from non-executable memory", UC_ERR_ARG: "Invalid argument",
    UC_ERR_READ_UNALIGNED: "Read from unaligned memory",
    UC_ERR_WRITE_UNALIGNED: "Write to unaligned memory",
    UC_ERR_FETCH_UNALIGNED: "Fetch from unaligned memory",
    UC_ERR_RESOURCE: "Insufficient resource", UC_ERR_EXCEPTION: "Unhandled CPU exception",
    UC_ERR_OVERFLOW: "Provided buffer is too small",
}
_ERR_NAMES = {v: k for k, v in vars(_c).items() if k.startswith("UC_ERR_")}


def uc_strerror(errno):
    """Unicorn's message for an error number."""
    if errno not in _MESSAGES:
        return "Unknown error code"
    return f"{_MESSAGES[errno]} ({_ERR_NAMES[errno]})"


class UcError(Exception):
    """An error from the emulator; errno is a UC_ERR_* number."""

    def __init__(self, errno, detail=None):
        super().__init__(errno)
        self.errno = errno
        self.detail = detail

    def __str__(self):
        return uc_strerror(self.errno)


def uc_version():
    """(major, minor, combined) of the API emulated."""
    return UC_API_MAJOR, UC_API_MINOR, (UC_API_MAJOR << 24) | (UC_API_MINOR << 16) | (UC_API_PATCH << 8) | UC_API_EXTRA


def version_bind():
    return UC_API_MAJOR, UC_API_MINOR, (UC_API_MAJOR << 8) + UC_API_MINOR


def uc_arch_supported(arch):
    """Only x86 is emulated."""
    return arch == UC_ARCH_X86


def debug():
    return "python-emu.unicorn-x86"


_MODES = {UC_MODE_16: 16, UC_MODE_32: 32, UC_MODE_64: 64}

# Unicorn register id -> pvemu register name, for the registers reg_read and
# reg_write take by name.
_NAMED = {getattr(_x, "UC_X86_REG_" + n.upper()): n for n in (
    "rax rbx rcx rdx rsi rdi rbp rsp rip eax ebx ecx edx esi edi ebp esp eip "
    "ax bx cx dx si di bp sp ip al bl cl dl ah bh ch dh sil dil bpl spl "
    "es cs ss ds fs gs fs_base gs_base eflags rflags flags").split()}
for _k in range(8, 16):
    for _suffix, _name in (("", "r%d"), ("D", "r%dd"), ("W", "r%dw"), ("B", "r%db")):
        _NAMED[getattr(_x, "UC_X86_REG_R%d%s" % (_k, _suffix))] = _name % _k
_CRS = {getattr(_x, "UC_X86_REG_CR%d" % k): k for k in (0, 2, 3, 4, 8)}
_XMMS = {getattr(_x, "UC_X86_REG_XMM%d" % k): k for k in range(16)}
_TABLES = {UC_X86_REG_GDTR: "gdt", UC_X86_REG_IDTR: "idt"}

# hook bit -> (pvemu hook kind, the UC_MEM_* access it reports)
_MEM_HOOKS = {
    UC_HOOK_MEM_READ: ("mem_read", UC_MEM_READ), UC_HOOK_MEM_WRITE: ("mem_write", UC_MEM_WRITE),
    UC_HOOK_MEM_FETCH: ("mem_fetch", UC_MEM_FETCH),
    UC_HOOK_MEM_READ_AFTER: ("mem_read_after", UC_MEM_READ_AFTER),
    UC_HOOK_MEM_READ_UNMAPPED: ("mem_read_unmapped", UC_MEM_READ_UNMAPPED),
    UC_HOOK_MEM_WRITE_UNMAPPED: ("mem_write_unmapped", UC_MEM_WRITE_UNMAPPED),
    UC_HOOK_MEM_FETCH_UNMAPPED: ("mem_fetch_unmapped", UC_MEM_FETCH_UNMAPPED),
    UC_HOOK_MEM_READ_PROT: ("mem_read_prot", UC_MEM_READ_PROT),
    UC_HOOK_MEM_WRITE_PROT: ("mem_write_prot", UC_MEM_WRITE_PROT),
    UC_HOOK_MEM_FETCH_PROT: ("mem_fetch_prot", UC_MEM_FETCH_PROT),
}
_INSNS = {UC_X86_INS_IN: "in", UC_X86_INS_OUT: "out", UC_X86_INS_SYSCALL: "syscall",
          UC_X86_INS_SYSENTER: "sysenter", UC_X86_INS_CPUID: "cpuid", UC_X86_INS_RDTSC: "rdtsc"}
_SUPPORTED_HOOKS = (UC_HOOK_INTR | UC_HOOK_INSN | UC_HOOK_CODE | UC_HOOK_BLOCK
                    | UC_HOOK_INSN_INVALID | sum(_MEM_HOOKS))

# run exits -> errors
_FAULTS = {("unmapped", "read"): UC_ERR_READ_UNMAPPED, ("unmapped", "write"): UC_ERR_WRITE_UNMAPPED,
           ("unmapped", "fetch"): UC_ERR_FETCH_UNMAPPED, ("protection", "read"): UC_ERR_READ_PROT,
           ("protection", "write"): UC_ERR_WRITE_PROT, ("protection", "fetch"): UC_ERR_FETCH_PROT}


def _signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


class UcContext:
    """A saved CPU context (Uc.context_save): picklable, and its registers
    can be read and written like a Uc's."""

    def __init__(self, mode, blob):
        self._mode = mode
        self._blob = blob

    def _scratch(self):
        uc = Uc(UC_ARCH_X86, self._mode)
        uc._m.context_restore(self._blob)
        return uc

    def reg_read(self, reg_id, opt=None):
        return self._scratch().reg_read(reg_id, opt)

    def reg_write(self, reg_id, value):
        uc = self._scratch()
        uc.reg_write(reg_id, value)
        self._blob = uc._m.context_save()

    @property
    def mode(self):
        return self._mode

    @property
    def arch(self):
        return UC_ARCH_X86


class Uc:
    """An x86 emulator with Unicorn's interface: Uc(UC_ARCH_X86, UC_MODE_32)."""

    def __init__(self, arch, mode, cpu=None):
        if arch != UC_ARCH_X86:
            raise UcError(UC_ERR_ARCH)
        if mode not in _MODES:
            raise UcError(UC_ERR_MODE)
        self._mode = mode
        self._m = Machine(mode=_MODES[mode], memory=0)
        self._hooks = {}          # handle -> [pvemu hook handles]
        self._next = 1
        self._exits = []
        self._timeout = 0
        self._cpu_model = cpu if cpu is not None else UC_CPU_X86_QEMU64
        self._tlb_mode = UC_TLB_CPU
        self._tcg_buffer_size = 0
        self._running = False
        # Unicorn runs SYSCALL and SYSENTER as calls to their hooks only
        for insn in ("syscall", "sysenter"):
            self._m.hook_add("insn", _nothing, arg=insn)

    # ---- running

    def emu_start(self, begin, until, timeout=0, count=0):
        """Run from `begin` until rip reaches `until`, `timeout`
        microseconds pass (0: no limit) or `count` instructions have run
        (0: no limit).  Raises UcError for a fault nothing handled."""
        m = self._m
        if self._exits:
            until = self._exits[0]
        if until >> _MODES[self._mode]:
            until = None                     # beyond the instruction pointer: never reached
        timer = None
        if timeout:
            timer = threading.Timer(timeout / 1e6, m.stop)
            timer.start()
        self._running = True
        try:
            ex = m.run(start=begin, until=until, count=count or None)
        except EmuError as e:
            raise UcError(UC_ERR_ARG, str(e)) from None
        finally:
            self._running = False
            if timer is not None:
                timer.cancel()
        if ex.reason in ("unmapped", "protection"):
            raise UcError(_FAULTS[ex.reason, ex.access], str(ex))
        if ex.reason == "exception":
            raise UcError(UC_ERR_INSN_INVALID if ex.vector == 6 else UC_ERR_EXCEPTION, str(ex))
        if ex.reason == "triple-fault":
            raise UcError(UC_ERR_EXCEPTION, str(ex))

    def emu_stop(self):
        """Stop a running emu_start (from a hook or another thread)."""
        if self._running:
            self._m.stop()

    # ---- registers

    def reg_read(self, reg_id, opt=None):
        """A register's value; UC_X86_REG_MSR takes the MSR number as opt;
        GDTR/IDTR/LDTR/TR read as (selector, base, limit, flags)."""
        m = self._m
        name = _NAMED.get(reg_id)
        if name is not None:
            return m.reg_read(name)
        if reg_id in _CRS:
            return m.read_cr(_CRS[reg_id])
        if reg_id in _XMMS:
            return m.vector_read(_XMMS[reg_id])
        if reg_id == UC_X86_REG_MSR:
            value = m.read_msr(_arg_int(opt))
            if value is None:
                raise UcError(UC_ERR_EXCEPTION, f"MSR {opt:#x} does not exist")
            return value
        if reg_id in (UC_X86_REG_GDTR, UC_X86_REG_IDTR, UC_X86_REG_LDTR, UC_X86_REG_TR):
            s = m.state()
            if reg_id in _TABLES:
                base, limit = s[_TABLES[reg_id] + "r"]
                return (0, base, limit, 0)
            if reg_id == UC_X86_REG_TR:
                return (s["tr"], s["tr_base"], 0, 0)
            return (s["ldtr"], 0, 0, 0)
        raise UcError(UC_ERR_ARG, f"register {reg_id} is not emulated")

    def reg_write(self, reg_id, value):
        """Set a register; UC_X86_REG_MSR takes (msr, value); GDTR/IDTR take
        (selector, base, limit, flags)."""
        m = self._m
        try:
            name = _NAMED.get(reg_id)
            if name in _DATA_SEGS and self._mode != UC_MODE_16:
                if m.load_segment(name, _fit(value, name)) is not None:   # as MOV sreg
                    raise UcError(UC_ERR_EXCEPTION, f"{name} cannot hold selector {value:#x}")
                return None
            if name is not None:
                return m.reg_write(name, _fit(value, name))
            if reg_id in _CRS:
                if not m.write_cr(_CRS[reg_id], _arg_int(value)):
                    raise UcError(UC_ERR_EXCEPTION, f"CR{_CRS[reg_id]} cannot hold {value:#x}")
                return None
            if reg_id in _XMMS:
                return m.vector_write(_XMMS[reg_id], _arg_int(value) & ((1 << 128) - 1))
            if reg_id == UC_X86_REG_MSR:
                msr, v = value
                if not m.write_msr(_arg_int(msr), _arg_int(v)):
                    raise UcError(UC_ERR_EXCEPTION, f"MSR {msr:#x} cannot be written")
                return None
            if reg_id in _TABLES:
                _, base, limit, _ = value
                return m.load_table(_TABLES[reg_id], base, limit)
        except EmuError as e:
            raise UcError(UC_ERR_ARG, str(e)) from None
        raise UcError(UC_ERR_ARG, f"register {reg_id} is not emulated")

    def reg_read_batch(self, reg_ids):
        return tuple(self.reg_read(r) for r in reg_ids)

    def reg_write_batch(self, pairs):
        for reg_id, value in pairs:
            self.reg_write(reg_id, value)

    # ---- memory

    def mem_map(self, address, size, perms=UC_PROT_ALL):
        """Map size bytes of zeroed memory at address (both 4 KiB aligned)."""
        self._mem_call(self._m.mem_map, address, size, perms)

    def mem_map_ptr(self, address, size, perms, ptr):
        """Map host memory at ptr (an address, or a writable buffer) as guest
        memory; the caller keeps an address's memory alive."""
        buf = ptr if not isinstance(ptr, int) else (ctypes.c_char * size).from_address(ptr)
        if memoryview(buf).nbytes != size:
            raise UcError(UC_ERR_ARG, f"buffer of {memoryview(buf).nbytes} bytes for size {size}")
        self._mem_call(self._m.mem_map_ptr, address, buf, perms)

    def mem_unmap(self, address, size):
        self._mem_call(self._m.mem_unmap, address, size)

    def mem_protect(self, address, size, perms=UC_PROT_ALL):
        self._mem_call(self._m.mem_protect, address, size, perms)

    def mem_regions(self):
        """(begin, end inclusive, perms) of each mapped region."""
        yield from self._m.mem_regions()

    def mem_read(self, address, size):
        try:
            return bytearray(self._m.mem_read(address, size))
        except EmuError as e:
            raise UcError(UC_ERR_READ_UNMAPPED, str(e)) from None

    def mem_write(self, address, data):
        try:
            self._m.mem_write(address, data)
        except EmuError as e:
            raise UcError(UC_ERR_WRITE_UNMAPPED, str(e)) from None

    def mmio_map(self, address, size, read_cb, user_data_read, write_cb, user_data_write):
        """Device memory: read_cb(uc, offset, size, user_data) -> value,
        write_cb(uc, offset, size, value, user_data)."""
        read = None if read_cb is None else (
            lambda a, n: read_cb(self, a - address, n, user_data_read))
        write = None if write_cb is None else (
            lambda a, n, v: write_cb(self, a - address, n, v, user_data_write))
        self._mem_call(self._m.add_mmio_handler, address, size, read, write)

    def _mem_call(self, fn, *args):
        try:
            fn(*args)
        except EmuError as e:
            msg = str(e)
            errno = (UC_ERR_MAP if "overlaps" in msg else
                     UC_ERR_NOMEM if "not wholly mapped" in msg or "at most" in msg else UC_ERR_ARG)
            raise UcError(errno, msg) from None

    # ---- hooks

    def hook_add(self, htype, callback, user_data=None, begin=1, end=0, arg1=0, arg2=0):
        """Add a hook of one kind or an OR of memory kinds; returns a handle."""
        if htype & ~_SUPPORTED_HOOKS or not htype:
            raise UcError(UC_ERR_HOOK)
        uc, ud, m = self, user_data, self._m
        made = []

        def add(kind, fn, arg=None, data=None):
            try:
                made.append(m.hook_add(kind, fn, begin, end, arg, data))
            except EmuError as e:
                for h in made:
                    m.hook_del(h)
                raise UcError(UC_ERR_ARG, str(e)) from None

        if htype & UC_HOOK_CODE:
            add("code", callback, data=(uc, ud))
        if htype & UC_HOOK_BLOCK:
            add("block", callback, data=(uc, ud))
        for bit, (kind, access) in _MEM_HOOKS.items():
            if htype & bit and kind in DATA_HOOK_KINDS:     # called as callback(uc, access, ..., ud)
                add(kind, callback, access, (uc, ud))
            elif htype & bit:
                add(kind, _mem_adapter(uc, callback, ud, access))
        if htype & UC_HOOK_INTR:
            add("intr", lambda v: callback(uc, v, ud))
        if htype & UC_HOOK_INSN_INVALID:
            add("insn_invalid", lambda: callback(uc, ud))
        if htype & UC_HOOK_INSN:
            if arg1 not in _INSNS:
                raise UcError(UC_ERR_HOOK)
            insn = _INSNS[arg1]
            if insn == "in":
                add("insn", lambda p, n: callback(uc, p, n, ud), insn)
            elif insn == "out":
                add("insn", lambda p, n, v: callback(uc, p, n, v, ud), insn)
            else:
                add("insn", lambda: callback(uc, ud), insn)
        handle = self._next
        self._next += 1
        self._hooks[handle] = made
        return handle

    def hook_del(self, h):
        """Remove a hook (takes effect at once, also from inside a hook)."""
        for k in self._hooks.pop(h, ()):
            self._m.hook_del(k)

    # ---- contexts

    def context_save(self):
        return UcContext(self._mode, self._m.context_save())

    def context_update(self, context):
        if type(context._blob) is not bytearray:     # from now on saved into, in place
            context._blob = bytearray(len(context._blob))
        self._m.context_save(into=context._blob)

    def context_restore(self, context):
        self._m.context_restore(context._blob)

    # ---- queries and controls

    def query(self, what):
        if what == UC_QUERY_MODE:
            return self._mode
        if what == UC_QUERY_ARCH:
            return UC_ARCH_X86
        if what == UC_QUERY_PAGE_SIZE:
            return 0x1000
        if what == UC_QUERY_TIMEOUT:
            return self._timeout
        raise UcError(UC_ERR_ARG)

    def ctl_get_mode(self):
        return self._mode

    def ctl_get_arch(self):
        return UC_ARCH_X86

    def ctl_get_page_size(self):
        return 0x1000

    def ctl_set_page_size(self, page_size):
        if page_size != 0x1000:
            raise UcError(UC_ERR_ARG, "x86 pages are 4 KiB")

    def ctl_get_timeout(self):
        return self._timeout

    def ctl_exits_enabled(self, value):
        self._exits_on = bool(value)

    def ctl_get_exits_cnt(self):
        return len(self._exits)

    def ctl_get_exits(self):
        return list(self._exits)

    def ctl_set_exits(self, exits):
        if len(exits) > 1:
            raise UcError(UC_ERR_ARG, "one exit address at most")
        self._exits = list(exits)

    def ctl_get_cpu_model(self):
        return self._cpu_model

    def ctl_set_cpu_model(self, model):
        """Recorded for ctl_get_cpu_model; CPUID stays pvemu's own."""
        if not isinstance(model, int) or not 0 <= model < UC_CPU_X86_ENDING:
            raise UcError(UC_ERR_ARG, f"CPU model {model!r}")
        self._cpu_model = model

    def ctl_remove_cache(self, begin, end):
        """Decoded code is dropped when it is written; nothing to do."""

    def ctl_request_cache(self, addr):
        """Blocks are decoded when first run; nothing to do."""

    def ctl_flush_tb(self):
        self._m.flush_tlb()

    def ctl_flush_tlb(self):
        self._m.flush_tlb()

    def ctl_set_tlb_mode(self, mode):
        """UC_TLB_CPU and UC_TLB_VIRTUAL both leave translation to the CPU:
        flat (virtual = physical) until the guest turns paging on."""
        if mode not in (UC_TLB_CPU, UC_TLB_VIRTUAL):
            raise UcError(UC_ERR_ARG, f"TLB mode {mode!r}")
        self._tlb_mode = mode

    ctl_tlb_mode = ctl_set_tlb_mode          # Unicorn's earlier name

    def ctl_get_tcg_buffer_size(self):
        return self._tcg_buffer_size

    def ctl_set_tcg_buffer_size(self, size):
        """Recorded for ctl_get_tcg_buffer_size; pvemu's decode cache has a
        fixed size and flushes itself when full."""
        self._tcg_buffer_size = _arg_int(size)

    def errno(self):
        return UC_ERR_OK

    def release_handle(self):
        """Nothing to release: the machine goes with the object."""


def _nothing():
    return None


_DATA_SEGS = ("ds", "es", "fs", "gs", "ss")


def _mem_adapter(uc, callback, ud, access):
    return lambda _acc, a, n, v: callback(uc, access, a, n, _signed64(v), ud)


def _arg_int(v):
    if isinstance(v, bool) or not isinstance(v, int):
        raise UcError(UC_ERR_ARG, f"{v!r} is not an integer")
    return v


def _fit(value, name):
    """Unicorn keeps the low bits of a value written to a register."""
    v = _arg_int(value)
    return v & ((1 << (8 * _WIDTH.get(name, 8))) - 1)


_WIDTH = {n: w for w, names in (
    (4, "eax ebx ecx edx esi edi ebp esp eip eflags r8d r9d r10d r11d r12d r13d r14d r15d"),
    (2, "ax bx cx dx si di bp sp ip flags es cs ss ds fs gs r8w r9w r10w r11w r12w r13w r14w r15w"),
    (1, "al bl cl dl ah bh ch dh sil dil bpl spl r8b r9b r10b r11b r12b r13b r14b r15b"))
    for n in names.split()}
