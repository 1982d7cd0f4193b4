"""The host-CPU oracle: run a :class:`~emu.fuzz.case.Case` natively on this
machine's CPU and report the :class:`~emu.fuzz.case.Result` it leaves.

Usage::

    from emu.fuzz.host import HostOracle, available
    ok, why = available()
    with HostOracle(step="auto") as oracle:    # 'auto': honour Case.count
        result = oracle.run(case)              # one case
        results = oracle.run_many(cases)       # batched: thousands per second

    python -m emu.fuzz.host                    # measure cases/second

On this machine (a 2-vCPU x86-64 VM, AMD Zen 4) ``run_many`` does about
30,000 cases/s free-running and 7,000 cases/s single-stepping (cases of 4-12
instructions; one core for the child, one for the parent's Python side).

How it works
------------
The cases run in a sandboxed *child process* (``python -I -S`` that loads the
C extension :mod:`emu.fuzz._hostcpu` and calls its ``serve()``, which never
returns to Python).  The parent streams binary requests to the child's stdin
and reads binary results from its stdout; many cases are in flight at once.

Inside the child the code page is mapped at ``CODE_BASE`` and the scratch area
at ``DATA_BASE`` (RWX, ``MAP_FIXED_NOREPLACE``).  For each case the harness
loads every general register and RFLAGS (the case's CF PF AF ZF SF OF DF) and
enters the code with IRETQ: to CS 0x33 for 64-bit cases, to CS 0x23 -- the
32-bit compatibility-mode user code segment of x86-64 Linux -- for 32-bit
cases (DS/ES are first loaded with 0x2b, since the 64-bit null DS would #GP in
compatibility mode).  The case ends with a signal -- the ``int3`` placed at
``CODE_BASE + len(code)`` (the end), a fault, the hang timer, or in step mode
the single-step trap that finds the end or the count -- caught on an
alternate signal stack; the handler copies the register state out of the
ucontext and rewrites the context to resume the harness at CS 0x33 (which is
how a 32-bit case returns to 64-bit mode).  See the comment at the top of
``_hostcpu.c`` for the details.

Results follow the :class:`Result` conventions:

* ``regs``: the GPRs of ``gpr_names(mode)``, ``rip``/``eip``, and ``eflags``
  (CF PF AF ZF SF OF, DF, TF, NT, AC, ID and bit 1; IF and RF are not
  reported);
* ``vector``: ``None`` when the end was reached (or, in step mode, ``count``
  instructions retired); otherwise the x86 vector from the kernel's trap
  number (0 #DE, 1 #DB, 3 #BP, 4 #OF, 5 #BR, 6 #UD, 12 #SS, 13 #GP, 16 #MF,
  17 #AC, 19 #XM) or -1 for a page fault outside the two mapped areas (the
  'outside mapped memory' convention).  ``rip`` is the address of the faulting
  instruction; for the traps #BP (int3) and #OF (into) the next instruction,
  as the architecture reports them (SDM Vol. 3A 6.5) and pvemu and Unicorn
  do; for a #DB single-step trap that the case raised itself (TF via popf)
  it is where the CPU stopped.
* ``data``: the final DATA_SIZE bytes of the scratch area (the child only
  sends back the 256-byte chunks that changed).
* ``fpu``: for a case with ``Case.fpu`` (an FXSAVE64 image; see
  :mod:`emu.fuzz.fpstate`) the child starts the case from that x87/SSE state
  (XRSTOR, the other components in their init state) and returns the final
  image, copied from the signal frame the kernel saved; else None.

Differences from the emulator that the oracle cannot remove
------------------------------------------------------------
* ``Case.count``: native code cannot be bounded by an instruction count, so by
  default (``step=False``) the sequence runs at full speed until it reaches the
  end or faults; a case still running after ~2 ticks of the child's CPU-time
  timer (``tick_ms``, default 25 ms; the kernel rounds it up to its jiffy) is
  abandoned with ``oracle_error='hang: ...'``.  With ``step=True`` the child
  single-steps the case with TF instead and honours ``count`` exactly: one trap
  per instruction (a REP string instruction counts once however many
  iterations it makes), the TF that PUSHF would leak into memory is removed,
  POPF cannot switch stepping off, and the reported eflags never show TF.  It
  costs a signal per instruction (~10 us on this VM).  ``step='auto'`` steps
  only the cases that need it (:func:`needs_step`: the code may loop, has an
  indirect or outside control transfer, has more instructions than ``count``,
  or runs past its end) and free-runs the straight-line rest -- the same
  results as ``step=True`` for nearly the price of ``step=False``.  (Only
  self-modifying code could fool 'auto'.)  A stepped case whose ``count`` is
  so large that it outlives the timer is a hang too.
* Without step mode the byte at the end is ``0xCC``, so a last instruction
  that runs past the end would decode differently; such cases are refused
  (``excluded: ...``).
* The data area and code page are the only mapped memory of the emulator's
  world; the child process itself has more (its Python, libc, heap -- all
  above 4 GiB).  A 64-bit access to one of those addresses succeeds natively.
  Random 64-bit pointers practically never hit them; 32-bit cases cannot.

Refused ("excluded") instructions
---------------------------------
Before a case is sent, its code is decoded (prefixes, REX/VEX/EVEX, opcode,
ModRM/SIB, displacement, immediate -- a length decoder, not a disassembler)
linearly from offset 0 and again from every in-range target of a relative
jump/call/loop; a case is refused with ``oracle_error='excluded: <what> at
+<offset>'`` when it contains, in either mode:

* system entry and privileged/system instructions: ``syscall``, ``sysenter``,
  ``sysret``, ``sysexit``, ``int n`` (``CD``), ``int1`` (``F1``), ``hlt``,
  ``cli``, ``sti``, ``in``/``out``/``ins``/``outs``, the whole ``0F 01``
  group (lgdt.., swapgs, rdtscp, xgetbv, monitor, clzero, ...), ``0F 00``
  (sldt/str/lldt/ltr/verr/verw), ``lar``, ``lsl``, ``clts``, ``invd``,
  ``wbinvd``, ``mov cr``/``mov dr``, ``rdmsr``/``wrmsr``, ``rdpmc``,
  ``getsec``, ``rsm``;
* non-deterministic or CPU-specific results: ``rdtsc``, ``rdtscp``, ``rdrand``,
  ``rdseed``, ``rdpid``, ``cpuid``, ``xsave``/``xrstor`` and friends,
  ``fxsave``/``fxrstor``, ``fnstenv``/``fnsave`` (hold selectors/pointers),
  ``umonitor``/``umwait``/``tpause``; 66-prefixed ENTER; 66-prefixed near branches in 64-bit mode
  (Intel ignores the prefix, AMD truncates rip to 16 bits);
* segment registers: ``mov Sreg,..``/``mov ..,Sreg``, ``push``/``pop`` of a
  segment register (32-bit; they are #UD in 64-bit mode), ``lds/les/lfs/lgs/
  lss``, the FS/GS segment-override prefixes (the host's FS base is its TLS),
  ``rd/wrfsbase``/``rd/wrgsbase``, far ``call``/``jmp``/``ret``, ``iret``.

The decode is a light scan: code reached only through computed jumps is not
checked.  An instruction cut by the end of the code is decoded as step mode
runs it, over the zeros that fill the rest of the code page.  Safety does
not depend on it: in the child a seccomp filter traps every system call
issued from below 4 GiB (the case's memory) or through the i386 ABI, which
ends the case with ``oracle_error='excluded: system call ...'``, and FS/GS are restored after every case.
"""
from __future__ import annotations

import collections
import functools
import os
import platform
import random
import select
import struct
import subprocess
import sys
import tempfile
import time

from emu.isa import layout

from .case import (CODE_BASE, CODE_SIZE, DATA_BASE, DATA_SIZE, FLAGS_MASK, Case,
                   Result, gpr_names)
from .fpstate import IMAGE_SIZE, sanitize_image

try:
    from . import _hostcpu
    _IMPORT_ERROR = None
except ImportError as exc:  # not built, or not x86-64 Linux
    _hostcpu = None
    _IMPORT_ERROR = exc

__all__ = ["HostOracle", "HostOracleError", "available", "excluded_reason", "needs_step",
           "measure_rate"]


class HostOracleError(RuntimeError):
    """The host oracle cannot be used at all (unsupported platform, the
    extension is missing, the child cannot start or fails its self-test)."""


# --------------------------------------------------------------------------
# availability

_available_cache: dict = {}


def available(probe: bool = False):
    """``(True, '')`` when the host oracle can run here, else ``(False, reason)``.

    Without `probe` this checks the platform and that the extension imports;
    with ``probe=True`` it also starts a child and runs the self-test (the
    answer is cached)."""
    if sys.platform != "linux":
        return False, f"the host oracle needs Linux (this is {sys.platform})"
    if platform.machine() not in ("x86_64", "AMD64"):
        return False, f"the host oracle needs an x86-64 CPU (this is {platform.machine()})"
    if _hostcpu is None:
        return False, (f"emu.fuzz._hostcpu is not built ({_IMPORT_ERROR}); "
                       "run: python setup.py build_ext --inplace")
    if _hostcpu.PROTOCOL_VERSION != _PROTOCOL_VERSION:
        return False, "emu.fuzz._hostcpu is stale (protocol version differs); rebuild it"
    layout = (_hostcpu.CODE_BASE, _hostcpu.CODE_SIZE, _hostcpu.DATA_BASE, _hostcpu.DATA_SIZE)
    if layout != (CODE_BASE, CODE_SIZE, DATA_BASE, DATA_SIZE):
        return False, "emu.fuzz._hostcpu was built for another memory layout; rebuild it"
    if probe:
        if "probe" not in _available_cache:
            try:
                with HostOracle():
                    pass
                _available_cache["probe"] = (True, "")
            except HostOracleError as exc:
                _available_cache["probe"] = (False, str(exc))
        return _available_cache["probe"]
    return True, ""


# --------------------------------------------------------------------------
# the instruction scan (length decoder + exclusion rules)

# Operand shapes of the one-byte and 0F opcode maps, from the opcode table's
# layout of the whole opcode space (emu/isa/layout.py: '.' nothing, 'm' ModRM,
# 'M' ModRM+imm8, ... 'x' 0F escape, '3'/'A' 0F 38/0F 3A escapes).
_MAP1 = layout.MAP0
_MAP2 = layout.MAP1

_LEGACY_PREFIXES = frozenset((0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65))


class _Insn:
    __slots__ = ("length", "prefixes", "rex", "vex", "map", "op", "modrm", "target")

    def __init__(self):
        self.prefixes = ()
        self.rex = 0
        self.vex = False
        self.map = 1
        self.modrm = None
        self.target = None


_TOO_LONG = "too long"


def _decode(code: bytes, off: int, mode64: bool):
    """Decode the instruction at `off`: an _Insn, None when it is truncated
    by the end of `code`, or _TOO_LONG beyond 15 bytes (#GP)."""
    n = len(code)
    i = off
    prefixes = []
    rex = 0
    while i < n:
        b = code[i]
        if b in _LEGACY_PREFIXES:
            prefixes.append(b)
            rex = 0  # a REX prefix counts only right before the opcode
        elif mode64 and 0x40 <= b <= 0x4F:
            rex = b
        else:
            break
        i += 1
    if i - off > 14:
        return _TOO_LONG
    if i >= n:
        return None
    ins = _Insn()
    ins.prefixes = prefixes
    ins.rex = rex
    opsize16 = 0x66 in prefixes
    if mode64:
        asize = 4 if 0x67 in prefixes else 8
    else:
        asize = 2 if 0x67 in prefixes else 4
    b = code[i]
    i += 1
    shape = _MAP1[b]
    mapno = 1
    if b in (0xC4, 0xC5, 0x62) and (mode64 or (i < n and code[i] >= 0xC0)):
        # VEX (C4 3-byte, C5 2-byte) or EVEX (62, 4-byte)
        ins.vex = True
        if b == 0xC5:
            mapno, i = 2, i + 1
        elif b == 0xC4:
            if i >= n:
                return None
            mapno, i = 1 + (code[i] & 0x1F), i + 2
        else:
            if i >= n:
                return None
            mapno, i = 1 + (code[i] & 0x07), i + 3
        if i >= n:
            return None
        b = code[i]
        i += 1
        if mapno == 2:  # 0F: all ModRM (imm8 where the legacy form has one) but vzeroupper/all
            shape = "." if b == 0x77 else ("M" if _MAP2[b] == "M" else "m")
        elif mapno == 4:  # 0F 3A
            shape = "M"
        else:
            shape = "m"
    elif shape == "x":
        if i >= n:
            return None
        b = code[i]
        i += 1
        shape = _MAP2[b]
        mapno = 2
        if shape == "3":
            if i >= n:
                return None
            b, i, mapno, shape = code[i], i + 1, 3, "m"
        elif shape == "A":
            if i >= n:
                return None
            b, i, mapno, shape = code[i], i + 1, 4, "M"
    ins.map = mapno
    ins.op = b
    imm = 0
    rel = 0
    if shape in "mMZfF":
        if i >= n:
            return None
        modrm = code[i]
        i += 1
        ins.modrm = modrm
        mod, rm = modrm >> 6, modrm & 7
        if mapno == 2 and b in layout.MREG_0F and not ins.vex:
            mod = 3  # mov to/from CRn/DRn: always a register operand
        if mod != 3:
            if asize == 2:
                if mod == 1:
                    i += 1
                elif mod == 2 or (mod == 0 and rm == 6):
                    i += 2
            else:
                if rm == 4:
                    if i >= n:
                        return None
                    sib = code[i]
                    i += 1
                    if mod == 0 and (sib & 7) == 5:
                        i += 4
                if mod == 1:
                    i += 1
                elif mod == 2 or (mod == 0 and rm == 5):
                    i += 4
        reg = (modrm >> 3) & 7
        if shape == "M" or (shape == "f" and reg < 2):
            imm = 1
        elif shape == "Z" or (shape == "F" and reg < 2):
            imm = 2 if opsize16 and not rex & 8 else 4
    elif shape == "b":
        imm = 1
    elif shape == "z":
        imm = 2 if opsize16 and not rex & 8 else 4
    elif shape == "w":
        imm = 2
    elif shape == "e":
        imm = 3
    elif shape == "v":
        imm = 8 if rex & 8 else (2 if opsize16 else 4)
    elif shape == "o":
        imm = asize
    elif shape == "p":
        imm = 4 if opsize16 else 6
    elif shape == "j":
        rel = 1
    elif shape == "J":
        rel = 2 if opsize16 and not mode64 else 4
    i += imm + rel
    if i - off > 15:
        return _TOO_LONG
    if i > n:
        return None
    ins.length = i - off
    if rel:
        disp = int.from_bytes(code[i - rel:i], "little", signed=True)
        ins.target = i + disp
    return ins


_NEAR_BRANCHES1 = frozenset(range(0x70, 0x80)) | {0xE0, 0xE1, 0xE2, 0xE3, 0xE8, 0xE9, 0xEB, 0xC2, 0xC3}


def _excluded_insn(ins: _Insn, mode64: bool):
    """Why the instruction is refused, or None."""
    p = ins.prefixes
    if 0x64 in p or 0x65 in p:
        return "FS/GS segment override"
    op, m = ins.op, ins.modrm
    reg = (m >> 3) & 7 if m is not None else None
    mod3 = m is not None and m >> 6 == 3
    if ins.vex:
        return None
    if ins.map == 1:
        if not mode64 and op in (0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F):
            return "push/pop of a segment register"
        if op in (0x8C, 0x8E):
            return "mov to/from a segment register"
        if not mode64 and op in (0xC4, 0xC5):
            return "lds/les"
        if not mode64 and op in (0x9A, 0xEA):
            return "far call/jmp"
        if op in (0xCA, 0xCB):
            return "far ret"
        if op == 0xCF:
            return "iret"
        if op == 0xCD:
            return "int n"
        if op == 0xF1:
            return "int1"
        if op in (0xE4, 0xE5, 0xE6, 0xE7, 0xEC, 0xED, 0xEE, 0xEF, 0x6C, 0x6D, 0x6E, 0x6F):
            return "port I/O"
        if op == 0xF4:
            return "hlt"
        if op in (0xFA, 0xFB):
            return "cli/sti"
        if op == 0xFF and reg in (3, 5):
            return "far call/jmp"
        if op == 0xD9 and reg == 6 and not mod3:
            return "fnstenv"
        if op == 0xDD and reg == 6 and not mod3:
            return "fnsave"
        if mode64 and 0x66 in p and (op in _NEAR_BRANCHES1 or (op == 0xFF and reg in (2, 4))):
            return "66-prefixed near branch in 64-bit mode (Intel and AMD differ)"
        if op == 0xC8 and 0x66 in p:
            # With a 16-bit operand size AMD keeps the frame in BP (and walks
            # BP for the nesting copies); the Intel SDM, which the emulator
            # follows, uses EBP/RBP for those.  The host may be either.
            return "66-prefixed ENTER (Intel and AMD differ)"
        return None
    if ins.map == 2:
        if op in (0x00, 0x01, 0x02, 0x03):
            return {0: "system instruction (0F 00)", 1: "system instruction (0F 01)",
                    2: "lar", 3: "lsl"}[op]
        if op in (0x05, 0x07, 0x34, 0x35):
            return "syscall/sysenter/sysret/sysexit"
        if op in (0x06, 0x08, 0x09, 0x30, 0x32, 0x33, 0x37, 0xAA):
            return "privileged instruction"
        if 0x20 <= op <= 0x27:
            return "mov to/from a control/debug register"
        if op == 0x31:
            return "rdtsc"
        if op == 0xA2:
            return "cpuid"
        if op in (0xA0, 0xA1, 0xA8, 0xA9):
            return "push/pop fs/gs"
        if op in (0xB2, 0xB4, 0xB5):
            return "lss/lfs/lgs"
        if op == 0xAE:
            if mod3:
                if 0xF3 in p and reg <= 3:
                    return "rd/wrfsbase, rd/wrgsbase"
                if reg == 6 and (0x66 in p or 0xF2 in p or 0xF3 in p):
                    return "umonitor/umwait/tpause"
                return None
            if reg in (0, 1, 4, 5, 6):
                return "fxsave/fxrstor/xsave/xrstor"
            return None
        if op == 0xC7:
            if mod3 and reg in (6, 7):
                return "rdrand/rdseed/rdpid"
            if not mod3 and reg in (3, 4, 5):
                return "xrstors/xsavec/xsaves"
            return None
        if mode64 and 0x66 in p and 0x80 <= op <= 0x8F:
            return "66-prefixed near branch in 64-bit mode (Intel and AMD differ)"
        return None
    return None


class _Analysis(tuple):
    """What the scan found: (excluded, truncated_at, n_insns, may_loop)."""
    __slots__ = ()
    excluded = property(lambda self: self[0])      # 'excluded: ...' or None
    truncated_at = property(lambda self: self[1])  # offset of an insn cut by the end, or None
    n_insns = property(lambda self: self[2])       # distinct instructions decoded
    may_loop = property(lambda self: self[3])      # backward/indirect/outside control transfer


@functools.lru_cache(maxsize=1 << 16)
def _analyse(code: bytes, mode: int) -> _Analysis:
    """Decode `code` from offset 0 and from every in-range relative branch
    target; find excluded instructions and whether the code could execute
    more instructions than it has (a loop, an indirect or outside transfer)."""
    mode64 = mode == 64
    n = len(code)
    seen = set()
    work = [0]
    truncated = None
    may_loop = False
    while work:
        off = work.pop()
        while 0 <= off < n and off not in seen:
            seen.add(off)
            ins = _decode(code, off, mode64)
            if ins is _TOO_LONG:
                break  # raises #GP; nothing after it runs on this path
            if ins is None:
                if truncated is None or off < truncated:
                    truncated = off
                # step mode runs it over the zeros that fill the code page
                ins = _decode(code + bytes(15), off, mode64)
                why = _excluded_insn(ins, mode64) if ins not in (None, _TOO_LONG) else None
                if why:
                    return _Analysis((f"excluded: {why} at +{off}", truncated, len(seen), True))
                break
            why = _excluded_insn(ins, mode64)
            if why:
                return _Analysis((f"excluded: {why} at +{off}", truncated, len(seen), True))
            t = ins.target
            if t is not None:
                if t <= off or t > n:
                    may_loop = True
                elif t < n and t not in seen:
                    work.append(t)
            elif ins.map == 1 and not ins.vex and (
                    ins.op in (0xC2, 0xC3)
                    or (ins.op == 0xFF and ins.modrm is not None and (ins.modrm >> 3) & 7 in (2, 4))):
                may_loop = True  # ret / call / jmp through a register or memory
            off += ins.length
    return _Analysis((None, truncated, len(seen), may_loop))


def _truncation_error(at: int) -> str:
    return (f"excluded: the instruction at +{at} runs past the end of the code (the "
            "host's end trap would be fetched as part of it; step mode has no end trap)")


def excluded_reason(case: Case, step: bool = False):
    """The ``'excluded: ...'`` message for a case the host oracle refuses to
    run (see the module docstring for the rules), or None.  `step` is the
    HostOracle's step setting (False, True or 'auto')."""
    if case.mode not in (32, 64):
        return f"excluded: mode {case.mode} (the host oracle runs 32- and 64-bit cases)"
    a = _analyse(bytes(case.code), case.mode)
    if a.excluded:
        return a.excluded
    if a.truncated_at is not None and step is False:
        return _truncation_error(a.truncated_at)
    return None


def needs_step(case: Case) -> bool:
    """Whether free-running `case` could differ from running it for at most
    ``case.count`` instructions: it may loop or transfer control indirectly
    or outside its code, it has more instructions than ``count``, or its
    last instruction runs past the end.  (What ``step='auto'`` decides by.)"""
    a = _analyse(bytes(case.code), case.mode)
    return a.may_loop or a.truncated_at is not None or a.n_insns > case.count


# --------------------------------------------------------------------------
# the wire protocol (must match _hostcpu.c)

_PROTOCOL_VERSION = 2
_REQ = struct.Struct("<IIBBHIIQ16Q")
_RESP = struct.Struct("<IIBBhIQQQHhIQ16Q")
_HELLO = struct.Struct("<IIIIQQI")
_REQ_MAGIC, _RESP_MAGIC, _HELLO_MAGIC = 0x31514348, 0x31524348, 0x31484348
_CHUNK = 256
_RQ_STEP = 1
_RQ_FPU = 2                   # a 512-byte FXSAVE image follows (Case.fpu); one comes back
ST_END, ST_EXC, ST_HANG, ST_SYSCALL, ST_COUNT, ST_BADREQ = range(6)
_SIGNAMES = {4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL",
             11: "SIGSEGV", 31: "SIGSYS"}

_MAX_INFLIGHT = 1024          # cases sent but not answered
_MAX_PENDING = 1 << 20        # request bytes queued ahead of the child

_CHILD_MAIN = (
    "import sys, importlib.util as u\n"
    "s = u.spec_from_file_location('emu.fuzz._hostcpu', sys.argv[1])\n"
    "m = u.module_from_spec(s)\n"
    "s.loader.exec_module(m)\n"
    "m.serve(0, 1, tick_ms=int(sys.argv[2]), seccomp=sys.argv[3] == '1')\n")


@functools.lru_cache(maxsize=256)
def _padded(data: bytes) -> bytes:
    """The initial scratch image: `data` zero-padded to DATA_SIZE."""
    return data + bytes(DATA_SIZE - len(data))


def _error(msg: str) -> Result:
    return Result(regs={}, data=b"", vector=None, oracle_error=msg)


class HostOracle:
    """Runs cases on the host CPU in a sandboxed child process.

    step      -- False: run at full speed until the end, a fault, or the hang
                 timer (``Case.count`` is ignored); True: single-step with TF
                 and honour ``Case.count`` exactly (slower); 'auto': step only
                 the cases that could run past ``count`` (see needs_step).
    timeout   -- seconds without any answer from the child before it is
                 killed (a backstop: hangs are normally caught in the child
                 within ~2 ticks of CPU time)
    tick_ms   -- the child's hang-detection tick (CPU time)
    check     -- refuse excluded instructions (see the module docstring);
                 turning it off is for testing the sandbox only
    seccomp   -- install the seccomp filter in the child (keep it on)

    The child is restarted whenever it dies or stops answering; the case it
    was running gets an ``oracle_error`` and the other cases are re-sent.
    ``restarts`` counts the restarts.  A HostOracle is not thread-safe: use
    one per thread (each has its own child).
    """

    def __init__(self, *, step=False, timeout: float = 10.0, tick_ms: int = 25,
                 check: bool = True, seccomp: bool = True):
        if step != "auto" and step not in (False, True):
            raise ValueError(f"step must be False, True or 'auto', not {step!r}")
        ok, why = available()
        if not ok:
            raise HostOracleError(why)
        self.step = step if step == "auto" else bool(step)
        self.timeout = float(timeout)
        self.tick_ms = int(tick_ms)
        self.check = bool(check)
        self.seccomp = bool(seccomp)
        self.restarts = 0
        self.info: dict = {}
        self._proc = None
        self._errfile = None
        self._seq = 0
        self._closed = False
        self._start()
        self._self_test()

    # -- public API ---------------------------------------------------------

    def run(self, case: Case) -> Result:
        """Run one case."""
        return self.run_many([case])[0]

    def run_many(self, cases) -> list:
        """Run a batch of cases (streamed to the child; far faster than
        calling :meth:`run` in a loop).  Returns one Result per case, in order."""
        if self._closed:
            raise HostOracleError("the HostOracle is closed")
        cases = list(cases)
        results = [None] * len(cases)
        todo = collections.deque()
        for i, case in enumerate(cases):
            err = self._precheck(case)
            if err:
                results[i] = _error(err)
            else:
                todo.append(i)
        while todo:
            if self._proc is not None and self._proc.poll() is not None:
                self._stop()          # died while idle: not the next case's fault
                self.restarts += 1
            if self._proc is None:
                self._start()
            self._pump(cases, todo, results)
        return results

    def close(self):
        """Stop the child (idempotent)."""
        self._closed = True
        self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self._stop()
        except Exception:
            pass

    @property
    def pid(self):
        """The child's pid (None when no child is running)."""
        return self._proc.pid if self._proc is not None else None

    # -- the child ------------------------------------------------------------

    def _start(self):
        self._errfile = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _CHILD_MAIN, _hostcpu.__file__,
                 str(self.tick_ms), "1" if self.seccomp else "0"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errfile,
                close_fds=True, bufsize=0)
        except OSError as exc:
            raise HostOracleError(f"cannot start the host oracle child: {exc}") from exc
        self._proc = proc
        rfd = proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + max(self.timeout, 30.0)
        while True:
            if len(buf) >= _HELLO.size:
                magic, version, pid, flags, in_addr, rsp_addr, errlen = _HELLO.unpack_from(buf)
                if magic != _HELLO_MAGIC or version != _PROTOCOL_VERSION:
                    self._stop()
                    raise HostOracleError("host oracle child: bad hello (stale extension?)")
                if len(buf) >= _HELLO.size + errlen:
                    err = buf[_HELLO.size:_HELLO.size + errlen].decode(errors="replace")
                    break
            left = deadline - time.monotonic()
            r, _, _ = select.select([rfd], [], [], max(0.0, left))
            if not r:
                self._stop()
                raise HostOracleError("host oracle child did not start in time")
            data = os.read(rfd, 4096)
            if not data:
                why = self._child_death()
                self._stop()
                raise HostOracleError(f"host oracle child failed to start: {why}")
            buf += data
        if err:
            self._stop()
            raise HostOracleError(f"host oracle child: {err}")
        self.info = {"pid": pid, "seccomp": bool(flags & 1), "fsgsbase": bool(flags & 2),
                     "xsave": bool(flags & 4), "hc_in": in_addr, "saved_rsp": rsp_addr}
        os.set_blocking(proc.stdin.fileno(), False)

    def _stop(self):
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            try:
                proc.stdout.close()
            except OSError:
                pass
        if self._errfile is not None:
            self._errfile.close()
            self._errfile = None

    def _kill(self):
        if self._proc is not None:
            try:
                self._proc.kill()
            except OSError:
                pass
        self._stop()

    def _child_death(self) -> str:
        """Describe how the child ended (after EOF on its stdout)."""
        proc = self._proc
        if proc is None:
            return "no child"
        try:
            rc = proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        if rc < 0:
            how = f"killed by {_SIGNAMES.get(-rc, f'signal {-rc}')}"
        else:
            how = f"exit status {rc}"
        msg = ""
        if self._errfile is not None:
            try:
                self._errfile.seek(0)
                msg = self._errfile.read()[-2000:].decode(errors="replace").strip()
            except OSError:
                pass
        return how + (f" ({msg})" if msg else "")

    def _self_test(self):
        """Check that the child really computes: a 64-bit add and a 32-bit
        `inc eax` (0x40 is a REX prefix in 64-bit mode)."""
        r64, r32 = self.run_many([
            Case(mode=64, code=bytes.fromhex("4801d8"), regs={"rax": 1 << 40, "rbx": 5}),
            Case(mode=32, code=bytes.fromhex("4040"), regs={"eax": 0xFFFFFFFF}),
        ])
        if (r64.oracle_error or r64.vector is not None or r64.regs.get("rax") != (1 << 40) + 5
                or r64.regs.get("rip") != CODE_BASE + 3):
            self.close()
            raise HostOracleError(f"host oracle self-test failed (64-bit): {r64}")
        if (r32.oracle_error or r32.vector is not None or r32.regs.get("eax") != 1
                or r32.regs.get("eip") != CODE_BASE + 2):
            self.close()
            raise HostOracleError(f"host oracle self-test failed (32-bit): {r32}")

    # -- encoding -------------------------------------------------------------

    def _precheck(self, case: Case):
        if case.mode not in (32, 64):
            return f"excluded: mode {case.mode} (the host oracle runs 32- and 64-bit cases)"
        if len(case.code) > CODE_SIZE:
            return f"invalid case: {len(case.code)} bytes of code (at most {CODE_SIZE})"
        if len(case.data) > DATA_SIZE:
            return f"invalid case: {len(case.data)} bytes of data (at most {DATA_SIZE})"
        names = gpr_names(case.mode)
        for k in case.regs:
            if k not in names and k != "eflags":
                return f"invalid case: unsupported initial register {k!r} in {case.mode}-bit mode"
        if self.check:
            return excluded_reason(case, self.step)
        return None

    def _step_for(self, case: Case) -> bool:
        if self.step == "auto":
            return needs_step(case)
        return self.step

    def _encode(self, case: Case, seq: int) -> bytes:
        names = gpr_names(case.mode)
        mask = (1 << case.mode) - 1
        get = case.regs.get
        regs = [int(get(n, 0)) & mask for n in names]
        regs += [0] * (16 - len(regs))
        eflags = int(get("eflags", 2)) & FLAGS_MASK
        count = min(max(int(case.count), 0), 0xFFFFFFFF)
        code, data = bytes(case.code), bytes(case.data)
        flags = _RQ_STEP if self._step_for(case) else 0
        fpu = b""
        if case.fpu is not None:
            flags |= _RQ_FPU
            fpu = sanitize_image(case.fpu)
        return _REQ.pack(_REQ_MAGIC, seq, case.mode, flags, len(code),
                         count, len(data), eflags, *regs) + code + data + fpu

    def _result(self, case: Case, hdr, buf: bytearray, off: int) -> Result:
        (_, _, status, signo, vector, nchunks, rip, eflags, addr, trapno, si_code, err,
         steps, *regs) = hdr
        if status == ST_HANG:
            return _error(f"hang: still running after ~2 ticks of {self.tick_ms} ms CPU time "
                          f"(rip={rip:#x})")
        if status == ST_SYSCALL:
            return _error(f"excluded: system call {addr} attempted (rip={rip:#x})")
        if status == ST_BADREQ:
            return _error("invalid case (refused by the child)")
        names = gpr_names(case.mode)
        out = {n: regs[i] for i, n in enumerate(names)}
        out["rip" if case.mode == 64 else "eip"] = rip
        out["eflags"] = eflags
        fpu = None
        if case.fpu is not None:
            fpu = bytes(buf[off:off + IMAGE_SIZE])
            off += IMAGE_SIZE
        initial = _padded(bytes(case.data))
        if nchunks == 0:
            data = initial        # unchanged: share the (cached) initial image
        else:
            pieces = []
            at = 0
            for _ in range(nchunks):
                lo = (buf[off] | (buf[off + 1] << 8)) * _CHUNK
                pieces.append(initial[at:lo])
                pieces.append(buf[off + 2:off + 2 + _CHUNK])
                at = lo + _CHUNK
                off += 2 + _CHUNK
            pieces.append(initial[at:])
            data = b"".join(pieces)
        return Result(regs=out, data=data, vector=vector if status == ST_EXC else None, fpu=fpu)

    # -- the I/O loop ---------------------------------------------------------

    def _pump(self, cases, todo, results):
        """Stream cases from `todo` to the child and collect results until
        `todo` is empty or the child fails (then the case it was running gets
        an oracle error, the unanswered rest go back to `todo`, and the child
        is stopped)."""
        proc = self._proc
        wfd, rfd = proc.stdin.fileno(), proc.stdout.fileno()
        inflight = collections.deque()      # (index, seq)
        out = bytearray()
        out_off = 0
        inbuf = bytearray()
        poller = select.poll()
        poller.register(rfd, select.POLLIN)
        w_registered = False
        last_progress = time.monotonic()
        failure = None
        clean = False
        try:
            while todo or inflight:
                # queue more requests
                if out_off and out_off == len(out):
                    out.clear()
                    out_off = 0
                while todo and len(inflight) < _MAX_INFLIGHT and len(out) - out_off < _MAX_PENDING:
                    i = todo.popleft()
                    seq = (self._seq + 1) & 0xFFFFFFFF
                    try:
                        blob = self._encode(cases[i], seq)
                    except (TypeError, ValueError, OverflowError) as exc:
                        results[i] = _error(f"invalid case: {exc}")
                        continue
                    self._seq = seq
                    out += blob
                    inflight.append((i, seq))
                want_w = out_off < len(out)
                if want_w != w_registered:
                    if want_w:
                        poller.register(wfd, select.POLLOUT)
                    else:
                        poller.unregister(wfd)
                    w_registered = want_w
                wait = self.timeout - (time.monotonic() - last_progress)
                events = poller.poll(max(0, int(wait * 1000)) + 1) if wait > 0 else []
                if not events and time.monotonic() - last_progress >= self.timeout:
                    failure = f"the child stopped answering for {self.timeout:g} s (killed)"
                    self._kill_proc()
                    break
                eof = False
                for fd, ev in events:
                    if fd == wfd:
                        try:
                            n = os.write(wfd, memoryview(out)[out_off:out_off + (1 << 18)])
                            out_off += n
                        except BlockingIOError:
                            pass
                        except (BrokenPipeError, OSError):
                            eof = True
                            if w_registered:
                                poller.unregister(wfd)
                                w_registered = False
                    elif fd == rfd:
                        data = os.read(rfd, 1 << 20)
                        if not data:
                            eof = True
                        else:
                            inbuf += data
                            done = self._parse(cases, inbuf, inflight, results)
                            if done:
                                last_progress = time.monotonic()
                            if done < 0:
                                failure = "protocol error (the child's output is corrupt)"
                                self._kill_proc()
                                eof = True
                if eof:
                    if failure is None:
                        # drain what the child wrote before dying
                        while True:
                            try:
                                data = os.read(rfd, 1 << 20)
                            except OSError:
                                break
                            if not data:
                                break
                            inbuf += data
                        self._parse(cases, inbuf, inflight, results)
                        failure = f"the child died: {self._child_death()}"
                    break
            else:
                clean = True
        finally:
            if not clean:
                if failure is not None and inflight:
                    i, _ = inflight.popleft()
                    results[i] = _error(f"crash: {failure} while running this case")
                # not answered: run again on a fresh child
                for i, _ in reversed(inflight):
                    todo.appendleft(i)
                if failure is not None:
                    self.restarts += 1
                self._kill()

    def _kill_proc(self):
        try:
            self._proc.kill()
        except OSError:
            pass

    def _parse(self, cases, inbuf, inflight, results) -> int:
        """Turn complete responses in `inbuf` into results; returns how many
        (-1 on a protocol error)."""
        pos = 0
        done = 0
        size = _RESP.size
        while len(inbuf) - pos >= size:
            hdr = _RESP.unpack_from(inbuf, pos)
            need = size + hdr[5] * (2 + _CHUNK)
            if inflight and cases[inflight[0][0]].fpu is not None and hdr[2] != ST_BADREQ:
                need += IMAGE_SIZE
            if len(inbuf) - pos < need:
                break
            if hdr[0] != _RESP_MAGIC or not inflight or hdr[1] != inflight[0][1]:
                return -1
            i, _ = inflight.popleft()
            results[i] = self._result(cases[i], hdr, inbuf, pos + size)
            pos += need
            done += 1
        del inbuf[:pos]
        return done


# --------------------------------------------------------------------------
# benchmark

_BENCH_OPS64 = [bytes.fromhex(h) for h in (
    "4801d8", "4829c8", "4821d1", "4809f2", "4831fe", "48f7d8", "48ffc0", "48ffca",
    "48d1e0", "48d3e3", "480fafc3", "4819d8", "4811c8", "480fbcc1", "4885c3", "4839d1")]
_BENCH_OPS32 = [bytes.fromhex(h) for h in (
    "01d8", "29c8", "21d1", "09f2", "31fe", "f7d8", "40", "4a", "d1e0", "d3e3",
    "0fafc3", "19d8", "11c8", "0fbcc1", "85c3", "39d1")]


def bench_cases(n: int, mode: int = 64, seed: int = 1):
    """`n` random straight-line ALU cases of 4-12 instructions (for measure_rate)."""
    rng = random.Random(seed)
    ops = _BENCH_OPS64 if mode == 64 else _BENCH_OPS32
    names = [r for r in gpr_names(mode) if r not in ("rsp", "esp")]
    cases = []
    for _ in range(n):
        k = rng.randint(4, 12)
        code = b"".join(rng.choice(ops) for _ in range(k))
        regs = {r: rng.getrandbits(mode) for r in names}
        regs["rsp" if mode == 64 else "esp"] = DATA_BASE + DATA_SIZE - 0x100
        regs["eflags"] = rng.getrandbits(32) & FLAGS_MASK
        cases.append(Case(mode=mode, code=code, regs=regs, count=k))
    return cases


def measure_rate(n: int = 5000, mode: int = 64, step=False, oracle: HostOracle = None):
    """Cases per second through :meth:`HostOracle.run_many` for `n` fresh
    random ALU cases (see bench_cases): the parent's scan, encoding and
    decoding plus the child's execution.  Returns a float."""
    cases = bench_cases(n, mode, seed=random.getrandbits(32))
    own = oracle is None
    if own:
        oracle = HostOracle(step=step)
    try:
        oracle.run_many(cases[:50])  # warm up
        t0 = time.perf_counter()
        results = oracle.run_many(cases)
        dt = time.perf_counter() - t0
    finally:
        if own:
            oracle.close()
    bad = [r for r in results if r.oracle_error]
    if bad:
        raise HostOracleError(f"{len(bad)} benchmark cases failed, e.g. {bad[0].oracle_error}")
    return n / dt


if __name__ == "__main__":  # python -m emu.fuzz.host
    ok, why = available(probe=True)
    if not ok:
        sys.exit(f"host oracle unavailable: {why}")
    for mode in (64, 32):
        for step in (False, True, "auto"):
            rate = measure_rate(5000, mode, step)
            print(f"{mode}-bit, step={step}: {rate:,.0f} cases/s")
