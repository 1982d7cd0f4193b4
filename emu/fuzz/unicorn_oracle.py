"""Run a :class:`~emu.fuzz.case.Case` on Unicorn (QEMU's TCG) and return a
:class:`~emu.fuzz.case.Result`.

Layout: by default (``flat=True``) guest RAM is one mapping from 0 to
DATA_BASE + DATA_SIZE, exactly like ``emu.Machine(memory=DATA_BASE+DATA_SIZE)``,
so that an access through a small register value hits RAM in both engines.
``flat=False`` maps only the code page and the scratch area (the layout a host
CPU oracle sees).

Stopping:
* ``until`` = the end of the code, as ``emu.Machine.run``;
* ``count`` is counted *architecturally* by a code hook: a REP string
  instruction is one instruction however many iterations it makes (Unicorn's
  own ``count`` would count each iteration);
* non-canonical addresses (64-bit mode): Unicorn does not check them (it
  truncates the address), so a code hook checks the operands of every
  instruction and stops before one that would touch such an address,
  reporting vector -1 -- see KNOWN_UNICORN_BUGS in emu.fuzz.compare;
* exceptions: Unicorn reports #UD as UC_ERR_INSN_INVALID (-> vector 6),
  accesses to unmapped memory as UC_ERR_{READ,WRITE,FETCH}_UNMAPPED (-> -1),
  and every other CPU exception (#DE from DIV/IDIV/AAM, #GP, INT3, INT n,
  INTO...) through the interrupt hook (UC_HOOK_INTR), which records the
  vector and stops; without the hook those end as UC_ERR_EXCEPTION.  For
  faults the reported rip is the faulting instruction; for traps (INT3, INT n,
  INTO) the next one, as on hardware.
"""
from __future__ import annotations

import functools
from dataclasses import replace
import hashlib
import time

from .case import CODE_BASE, CODE_SIZE, DATA_BASE, DATA_SIZE, Case, Result, gpr_names
from .fpstate import sanitize_image
from .insn import decode, first_noncanonical, flat_mapped, memory_accesses

try:  # optional dependency
    import unicorn as _uc
    from unicorn import x86_const as _x86
except ImportError:  # pragma: no cover - exercised only without unicorn
    _uc = None
    _x86 = None

_STRING = frozenset(("MOVS", "STOS", "CMPS", "SCAS", "LODS", "INS", "OUTS"))
#: Instructions without ModRM that address memory.
_ADDRESSING = _STRING | frozenset(("PUSH", "POP", "PUSHF", "POPF", "PUSHA", "POPA", "CALL",
                                   "ENTER", "LEAVE", "RET", "MOV_MOFFS", "XLAT"))


def available() -> bool:
    return _uc is not None


def _require():
    if _uc is None:
        raise ImportError("the Unicorn oracle needs the 'unicorn' Python package "
                          "(pip install 'unicorn>=2.0', or pip install pvemu[unicorn])")


def _reg_const(name):
    return getattr(_x86, "UC_X86_REG_" + name.upper())


def case_regs(case: Case) -> dict:
    """The case's initial registers under the canonical names of its mode
    (gpr_names(mode) + 'eflags'); 64-bit names in a 32-bit case are truncated,
    32-bit names in a 64-bit case are zero-extended."""
    names = gpr_names(case.mode)
    out = {n: 0 for n in names}
    r64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi")
    r32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
    for k, v in case.regs.items():
        k = k.lower()
        v = int(v)
        if k in ("eflags", "rflags", "flags"):
            out["eflags"] = v & 0xFFFFFFFF
        elif case.mode == 64 and k in r32:
            out[r64[r32.index(k)]] = v & 0xFFFFFFFF
        elif case.mode == 32 and k in r64:
            out[r32[r64.index(k)]] = v & 0xFFFFFFFF
        elif k in out:
            out[k] = v & ((1 << case.mode) - 1)
        elif case.mode == 64 and k.endswith("d") and k[:-1] in names:   # r8d..r15d
            out[k[:-1]] = v & 0xFFFFFFFF
        else:
            raise ValueError(f"unknown register {k!r} for a {case.mode}-bit case")
    out.setdefault("eflags", 0x2)
    out["eflags"] |= 0x2
    return out


@functools.lru_cache(maxsize=4)
def _zeros(n):
    return memoryview(bytes(n))


def outside_digest(low: bytes, code: bytes) -> str:
    """Digest of the memory below DATA_BASE ('unchanged' when it still is
    zeros with the code at CODE_BASE, the common case, which is cheap to
    check)."""
    n = len(code)
    zeros = _zeros(len(low))
    if (low.startswith(zeros[:CODE_BASE]) and low.startswith(code, CODE_BASE)
            and low.endswith(zeros[:len(low) - CODE_BASE - n])):
        return "unchanged"
    return hashlib.blake2b(low, digest_size=16).hexdigest()


_ERR_VECTOR = {}
if _uc is not None:
    _ERR_VECTOR = {
        _uc.UC_ERR_INSN_INVALID: 6,
        _uc.UC_ERR_READ_UNMAPPED: -1,
        _uc.UC_ERR_WRITE_UNMAPPED: -1,
        _uc.UC_ERR_FETCH_UNMAPPED: -1,
        _uc.UC_ERR_READ_PROT: -1,
        _uc.UC_ERR_WRITE_PROT: -1,
        _uc.UC_ERR_FETCH_PROT: -1,
    }


def run_unicorn(case: Case, *, flat: bool = True, cpu_model: int | None = None,
                max_rep_iterations: int = 1 << 18, timeout: float = 10.0,
                digest: bool = True, until: int | None = None,
                check_canonical: bool = True, rewrite_known_bugs: bool = True,
                single_step: bool = True, _rewritten=()) -> Result:
    """Run `case` on Unicorn; see the module docstring.  `until` overrides
    the stop address (default: the end of the code).  `check_canonical` (64-bit
    mode): stop before an instruction that would access a non-canonical
    address and report vector -1 (Unicorn itself truncates such addresses;
    see KNOWN_UNICORN_BUGS).  `rewrite_known_bugs`: first rewrite the case
    into the SDM-equivalent form the rewrite entries of KNOWN_UNICORN_BUGS give
    (some of those bugs abort the process); the memory digest is then left
    out, since the code page differs.  `single_step`: run one instruction per
    emu_start (the default; avoids Unicorn's lazy-flags bugs)."""
    _require()
    if len(case.code) > CODE_SIZE:
        raise ValueError("code longer than CODE_SIZE")
    rewritten = list(_rewritten)
    if rewrite_known_bugs:
        from .compare import rewrite_for_unicorn
        case, rewritten = rewrite_for_unicorn(case)
    mode = case.mode
    uc = _uc.Uc(_uc.UC_ARCH_X86, _uc.UC_MODE_64 if mode == 64 else _uc.UC_MODE_32)
    if cpu_model is not None:
        uc.ctl_set_cpu_model(cpu_model)
    if flat:
        uc.mem_map(0, DATA_BASE + DATA_SIZE)
    else:
        uc.mem_map(CODE_BASE, CODE_SIZE)
        uc.mem_map(DATA_BASE, DATA_SIZE)
    uc.mem_write(CODE_BASE, bytes(case.code))
    if case.data:
        uc.mem_write(DATA_BASE, bytes(case.data[:DATA_SIZE]))
    if case.fpu is not None:
        image = sanitize_image(case.fpu)
        _fx(uc, mode, 1, image)                         # FXRSTOR the case's image
        # QEMU's FXRSTOR keeps FSW.ES and B as stored; the CPU derives them
        # from the flags and masks (pending unmasked exception)
        fcw, fsw = int.from_bytes(image[0:2], "little"), int.from_bytes(image[2:4], "little")
        fsw = (fsw & ~0x8080) | (0x8080 if fsw & ~fcw & 0x3F else 0)
        uc.reg_write(_x86.UC_X86_REG_FPSW, fsw)
    regs = case_regs(case)
    for name in gpr_names(mode):
        uc.reg_write(_reg_const(name), regs[name])
    uc.reg_write(_x86.UC_X86_REG_EFLAGS, regs["eflags"])
    pc_reg = _x86.UC_X86_REG_RIP if mode == 64 else _x86.UC_X86_REG_EIP
    uc.reg_write(pc_reg, CODE_BASE)

    st = {"n": 0, "last": None, "iters": 0, "intno": None, "error": None, "rep": {},
          "noncanonical": None, "stop": False, "smc": False, "last_size": 0, "leave": None}
    any_decoded = {}
    code_bytes = bytes(case.code)

    def fetch(addr):
        """The bytes at `addr` (from the case's code when inside it; the
        generated cases do not modify their code)."""
        off = addr - CODE_BASE
        if single_step and 0 <= off < len(code_bytes):
            # (while single-stepping the code is never written: see on_code_write)
            return (code_bytes[off:off + 15] + bytes(15))[:15]    # zeros follow the code
        try:
            return bytes(uc.mem_read(addr, 15))
        except _uc.UcError:
            try:
                return bytes(uc.mem_read(addr, 1))
            except _uc.UcError:
                return b""

    def decoded_any(addr):
        if not single_step:
            return decode(fetch(addr), 0, mode)            # the code may change under us
        d = any_decoded.get(addr, False)
        if d is False:
            d = any_decoded[addr] = decode(fetch(addr), 0, mode)
        return d
    check_canonical = mode == 64 and check_canonical

    def is_rep_string(addr):
        d = decoded_any(addr)
        return bool(d is not None and d.mnemonic in _STRING and d.rep is not None)

    names = gpr_names(mode)
    consts = [_reg_const(n) for n in names]
    decoded = {}
    if flat:
        mapped = flat_mapped(DATA_BASE + DATA_SIZE)
    else:
        def mapped(a, size):
            return (CODE_BASE <= a and a + size <= CODE_BASE + CODE_SIZE
                    or DATA_BASE <= a and a + size <= DATA_BASE + DATA_SIZE)

    def noncanonical(addr):
        """Would the instruction at `addr` touch a non-canonical address?"""
        d = decoded.get(addr, False) if single_step else False
        if d is False:
            d = decoded_any(addr)
            if d is not None and not (d.is_mem or d.modrm is None and d.mnemonic in _ADDRESSING):
                d = None
            if single_step:
                decoded[addr] = d
        if d is None:
            return False
        regs = {n: uc.reg_read(c) for n, c in zip(names, consts)}
        regs["rip"] = addr
        acc = memory_accesses(d, regs, mode)
        bad = first_noncanonical(acc, mapped)
        if bad is not None and bad is not acc[0] and d.mnemonic == "ENTER":
            # ENTER pushes before it reads the nested frame pointers; stopping
            # before it would lose that partial write, running it lets Unicorn
            # read a truncated address instead
            st["error"] = (f"unicorn: ENTER at {addr:#x} reads a non-canonical frame pointer "
                           "after its first push; not comparable")
        return bad is not None

    def on_code(uc_, addr, size, _):
        if st["leave"] is not None:
            if addr != st["leave"]:
                st["leave"] = None            # the REP instruction is done: stop before the next
                uc_.emu_stop()
                return
        if check_canonical and noncanonical(addr):
            st["noncanonical"] = addr
            st["stop"] = True
            uc_.emu_stop()
            return
        if addr == st["last"] and is_rep_string(addr):
            st["iters"] += 1
            if st["iters"] > max_rep_iterations:
                st["error"] = f"REP instruction at {addr:#x} ran more than {max_rep_iterations} iterations"
                st["stop"] = True
                uc_.emu_stop()
            return
        st["last"] = addr
        st["last_size"] = size
        st["iters"] = 0
        st["n"] += 1
        if st["n"] > case.count:
            st["stop"] = True
            uc_.emu_stop()

    def on_intr(uc_, intno, _):
        st["intno"] = intno
        st["stop"] = True
        uc_.emu_stop()

    hooks = [uc.hook_add(_uc.UC_HOOK_CODE, on_code), uc.hook_add(_uc.UC_HOOK_INTR, on_intr)]
    def on_code_write(uc_, access, address, size, value, _):
        cur, cur_len = st["last"], st["last_size"]
        if cur is not None and address < cur + cur_len and cur < address + size:
            # An instruction overwriting its own bytes: QEMU restarts it and
            # executes the *new* bytes; the hardware does not refetch.
            st["error"] = (f"unicorn: the instruction at {cur:#x} overwrites itself "
                           "(Unicorn re-executes the modified bytes); not comparable")
            st["stop"] = True
            uc_.emu_stop()
        elif single_step:
            st["smc"] = True
            st["stop"] = True
            uc_.emu_stop()
    hooks.append(uc.hook_add(_uc.UC_HOOK_MEM_WRITE, on_code_write, None, CODE_BASE,
                             CODE_BASE + CODE_SIZE - 1))

    vector = None
    err = None
    t0 = time.monotonic()
    stop_at = case.end if until is None else until
    try:
        if not single_step:
            uc.emu_start(CODE_BASE, stop_at, timeout=int(timeout * 1e6), count=0)
        else:
            # One emu_start per instruction: every instruction is its own
            # translation block, so QEMU's lazy flags are settled between any
            # two instructions (see "lazy flags" in KNOWN_UNICORN_BUGS).
            pc = CODE_BASE
            steps = 0
            rbp_reg = _reg_const(names[5])
            while pc != stop_at and not st["stop"]:
                d = decoded_any(pc)
                enter16 = d is not None and d.mnemonic == "ENTER" and d.opsize == 16
                if enter16:
                    rbp_before = uc.reg_read(rbp_reg)
                if d is not None and d.mnemonic in _STRING and d.rep is not None:
                    # all iterations in one emu_start (count=1 would stop after one)
                    st["leave"] = pc
                    uc.emu_start(pc, stop_at, count=0)
                    st["leave"] = None
                else:
                    uc.emu_start(pc, stop_at, count=1)
                if enter16 and not st["stop"] and uc.reg_read(pc_reg) != pc:
                    # "ENTER with a 16-bit operand size" in KNOWN_UNICORN_BUGS
                    uc.reg_write(rbp_reg, rbp_before & ~0xFFFF | uc.reg_read(rbp_reg) & 0xFFFF)
                steps += 1
                if d is not None and d.mnemonic == "HLT" or st["stop"]:
                    break
                pc = uc.reg_read(pc_reg)
                if steps & 0xFFF == 0 and time.monotonic() - t0 >= timeout:
                    break
    except _uc.UcError as e:
        if e.errno in _ERR_VECTOR:
            vector = _ERR_VECTOR[e.errno]
        elif e.errno == _uc.UC_ERR_EXCEPTION and st["intno"] is not None:
            vector = st["intno"]
        else:
            err = f"unicorn: {e} (errno {e.errno})"
    if st["smc"] and not st["error"]:
        # The code page was written: single-stepping mishandles that (see the
        # "lazy flags" entry of KNOWN_UNICORN_BUGS); run it in one go instead.
        kw = dict(flat=flat, cpu_model=cpu_model, max_rep_iterations=max_rep_iterations,
                  timeout=timeout, digest=digest, check_canonical=check_canonical,
                  rewrite_known_bugs=False, single_step=False, _rewritten=rewritten)
        return _settled_at_fault(case, run_unicorn(case, until=until, **kw), kw)
    if st["intno"] is not None and vector is None and err is None:
        vector = st["intno"]
    if st["noncanonical"] is not None and vector is None and err is None:
        vector = -1
    if st["error"]:
        err = st["error"]
    elif timeout and time.monotonic() - t0 >= timeout:
        err = f"unicorn: timed out after {timeout} s"

    out = {name: uc.reg_read(_reg_const(name)) for name in gpr_names(mode)}
    out["rip" if mode == 64 else "eip"] = uc.reg_read(pc_reg)
    out["eflags"] = uc.reg_read(_x86.UC_X86_REG_EFLAGS)
    data = bytes(uc.mem_read(DATA_BASE, DATA_SIZE))
    dig = None
    if flat and digest and not rewritten:
        dig = outside_digest(bytes(uc.mem_read(0, DATA_BASE)), case.code)
    fpu = None
    if case.fpu is not None:
        for h in hooks:
            uc.hook_del(h)
        fpu = _fx(uc, mode, 0, None)                    # FXSAVE the final state
    return Result(regs=out, data=data, vector=vector, oracle_error=err, outside_digest=dig,
                  fpu=fpu)


def _settled_at_fault(case: Case, res: Result, kw: dict) -> Result:
    """`res`, from a run in one go that faulted in mid-block, with the
    EFLAGS of the state before the faulting instruction: QEMU reads back
    stale lazy flags after such a fault (the "lazy flags" entry of
    KNOWN_UNICORN_BUGS).  Faults are precise (SDM Vol. 3A 6.5), so that state
    is the state at the fault: run again up to the faulting instruction (a
    translation block ends there, which settles the flags) and report the
    fault there.  A trap (rip past its instruction) or a run that goes
    differently keeps `res`."""
    pcn = "rip" if case.mode == 64 else "eip"
    pc = res.regs[pcn]
    if res.vector is None or res.oracle_error or pc == CODE_BASE:
        return res
    before = run_unicorn(case, until=pc, **kw)
    if before.vector is not None or before.oracle_error or before.regs[pcn] != pc:
        return res
    return replace(before, vector=res.vector)


#: Where _fx maps its code and image, only while it runs (above both layouts).
_FX_PAGE = 0x7FFF0000


def _fx(uc, mode: int, reg: int, image):
    """Run FXSAVE (reg 0) or FXRSTOR (reg 1) of an image at a page mapped
    only for this, keeping rip; returns the image FXSAVE stored."""
    code = (b"\x48" if mode == 64 else b"") + bytes((0x0F, 0xAE, 0x04 | (reg << 3), 0x25))
    code += (_FX_PAGE + 0x800).to_bytes(4, "little")
    if mode == 32:
        code = bytes((0x0F, 0xAE, 0x05 | (reg << 3))) + (_FX_PAGE + 0x800).to_bytes(4, "little")
    pc_reg = _x86.UC_X86_REG_RIP if mode == 64 else _x86.UC_X86_REG_EIP
    pc = uc.reg_read(pc_reg)
    uc.mem_map(_FX_PAGE, 0x1000)
    try:
        uc.mem_write(_FX_PAGE, code)
        if image is not None:
            uc.mem_write(_FX_PAGE + 0x800, image)
        uc.emu_start(_FX_PAGE, _FX_PAGE + len(code), count=1)
        out = bytes(uc.mem_read(_FX_PAGE + 0x800, 512))
    finally:
        uc.mem_unmap(_FX_PAGE, 0x1000)
        uc.reg_write(pc_reg, pc)
    return out
