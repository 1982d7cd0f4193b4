"""Differential fuzzing campaigns: many generated cases, run on this emulator
and on an oracle, compared; divergences shrunk and written as reproducers.

Oracles (``CampaignConfig.oracle``):

* ``'host'``    -- the host CPU (:class:`emu.fuzz.host.HostOracle`, ``step='auto'``);
* ``'unicorn'`` -- Unicorn / QEMU TCG (:func:`emu.fuzz.run_unicorn`);
* ``'self'``    -- this emulator without its decode cache
  (``run_emu(case, decode_cache=False)``) against the normal build.

Cases and determinism
---------------------
Case number ``i`` of a campaign is a function of ``(seed, i)`` and the
configuration alone (:func:`make_case`, via :mod:`emu.fuzz.generate`): its
mode is ``modes[i % len(modes)]``, its random stream ``case_rng(seed, i)``.
The cases are cut into *batches* of ``batch_size`` consecutive indices
(batch ``b`` = cases ``b*B .. b*B+B-1``).  A batch is the unit of work handed
to a worker -- the same process, a local process pool (``workers``) or a Dask
cluster (``scheduler``) -- and what a worker reports depends on the batch's
cases only.  The coordinator merges batch results in batch order, so one
worker, N processes or a cluster produce the same cases, counts and findings
for the same seed (``CampaignResult.digest`` fingerprints the cases: a sum
over the cases of a keyed hash of (index, case), so it depends neither on the
batch size nor on the order the batches finish in).  Batches are submitted in
order and every submitted batch is waited for, so a time-bounded campaign
(``seconds``) covers a prefix ``0 .. n-1`` of the case sequence too.

Per case
--------
1. the emulator runs it (``run_emu``); a Python exception out of the core
   (``oracle_error`` 'emu raised ...') is an emulator bug and a finding;
2. a case that cannot be compared (:func:`emu.fuzz.compare.comparable`: it
   reads a flag an earlier instruction may leave undefined, ...) is counted
   as *not comparable* and not run on the oracle;
3. the oracle runs it; an ``oracle_error`` (the host refusing a privileged
   instruction, a hang, a Unicorn failure) is an *oracle failure*, counted by
   reason;
4. :func:`emu.fuzz.compare.compare` (undefined flags masked, known Unicorn
   bugs corrected) -- differences make a *divergence*;
5. host oracle only: the two environments differ, and a divergence they
   explain is *skipped* (counted, not reported; :func:`host_environment_mismatch`):
   the host child maps only the code page and the scratch area while
   ``emu.Machine`` has flat RAM from 0, so an access through a small pointer
   faults natively (vector -1) and not in the emulator -- skipped when the
   host's faulting instruction may touch memory only the emulator maps; a
   64-bit emulator fault on an address above 4 GiB that the host child
   happens to map; EFLAGS.IF, always 1 in user mode, seen through PUSHF;
   a 32-bit access wrapping at 4 GiB, which may or may not fault (the SDM
   leaves it to the implementation); and, on an AMD host, CMPXCHG r32 failing
   in 64-bit mode (AMD does not zero-extend the destination the Intel SDM
   writes back); an instruction of an extension pvemu's CPUID does not
   report (SHA, AES, ADX...: #UD in pvemu, :mod:`emu.fuzz.extensions`).

Divergences
-----------
Each divergence is attributed to an instruction: the campaign runs the case
with ``count`` = 1, 2, ... until the engines differ; the instruction executed
last is the culprit (:func:`culprit`).  Its key (:func:`insn_key`) is the
opcode -- map, opcode byte, ModRM /digit for group opcodes -- and the mnemonic
(from :mod:`emu.fuzz.insn`, else capstone, else '?'), e.g. ``11-ADC``,
``f7.6-DIV``, ``0fbc-BSF``.  Divergences are counted by key and mode.  A
batch returns the first ``max_reproducers`` of each key and mode as
candidates; after the merge, the first ``max_reproducers`` per key and mode of
the whole campaign (in case order) are shrunk -- on the same workers, as a
second phase: shrinking costs hundreds of runs, and a bug that hits every
memory operand would otherwise have every batch shrink dozens of cases --
with :func:`emu.fuzz.compare.shrink`, keeping the divergence *and* its
culprit (:func:`shrink_finding`), and written to ``out_dir`` as
``<key>-<mode>bit-<hash>.json`` (:func:`emu.fuzz.compare.save_reproducer`,
plus the keys 'oracle', 'instruction', 'text', 'seed', 'index', 'kind' and
'original_code').

Coverage: every compared case adds its opcodes (decoded statically from the
code) to per-map counters: the one-byte map, 0F, 0F 38 and 0F 3A.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import math
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from .case import CODE_BASE, CODE_SIZE, DATA_BASE, Case, Result, gpr_names
from . import approx, extensions, fpstate, unicorn_fp
from .compare import comparable, compare, memory_diffs, save_reproducer, shrink
from .flags import analyze
from .insn import decode, decode_all, effective_address, memory_accesses

ORACLES = ("host", "unicorn", "self")
#: compare() names of the two sides, per oracle (the oracle first).
NAMES = {"host": ("host", "emu"), "unicorn": ("unicorn", "emu"), "self": ("nocache", "emu")}
MAPS = ("one-byte", "0F", "0F38", "0F3A")
#: Cases per batch by oracle (a batch takes well under a second).
DEFAULT_BATCH = {"host": 250, "unicorn": 20, "self": 100}
#: Seconds to wait for a Dask scheduler to answer.
SCHEDULER_TIMEOUT = 10


class CampaignError(RuntimeError):
    """The campaign cannot run as configured (bad argument, oracle missing,
    scheduler unreachable); the message says why."""


# ---------------------------------------------------------------------------
# Configuration


def parse_opcode_ranges(text: str):
    """Parse ``'00-3f,0f80-0f8f,90'`` into ``((0x00, 0x3f), (0x0f80, 0x0f8f),
    (0x90, 0x90))``.  One-byte opcodes are two hex digits, 0F-map opcodes
    0Fxx, three-byte ones 0F38xx / 0F3Axx (the numbering of
    :data:`emu.fuzz.strategies.FAMILIES`)."""
    out = []
    if text is None or not text.strip():
        raise CampaignError("empty opcode range")
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise CampaignError(f"bad opcode range {text!r}: empty item")
        m = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{1,6})(?:\s*-\s*(?:0x)?([0-9a-fA-F]{1,6}))?", part)
        if not m:
            raise CampaignError(f"bad opcode range {part!r}: expected HEX or HEX-HEX, "
                                "e.g. 00-3f or 0f80-0f8f")
        lo = int(m.group(1), 16)
        hi = int(m.group(2), 16) if m.group(2) else lo
        if lo > hi:
            raise CampaignError(f"bad opcode range {part!r}: {lo:#x} > {hi:#x}")
        out.append((lo, hi))
    return tuple(out)


def format_opcode_ranges(ranges) -> str:
    def h(v):
        return f"{v:02x}" if v < 0x100 else (f"{v:04x}" if v < 0x10000 else f"{v:06x}")
    return ",".join(h(lo) if lo == hi else f"{h(lo)}-{h(hi)}" for lo, hi in ranges)


@dataclass(frozen=True)
class CampaignConfig:
    """What a campaign runs.  Everything a worker needs travels in it."""
    oracle: str = "self"
    modes: tuple = (32, 64)
    seed: int = 0
    opcode_ranges: tuple = ()        #: ((lo, hi), ...): steer the generator (see parse_opcode_ranges)
    raw_percent: int = 0             #: share of cases made of random bytes (raw_cases), in %
    batch_size: int = 0              #: 0: DEFAULT_BATCH[oracle]
    shrink: bool = True
    max_reproducers: int = 3         #: reproducers per instruction key and mode
    digest: bool = False             #: compare memory outside the scratch area too (self/unicorn; slow)
    max_insns: int = 6               #: instructions per generated case (at most)
    families: tuple = ()             #: generator families to draw from (() = the default set)

    def __post_init__(self):
        if self.oracle not in ORACLES:
            raise CampaignError(f"unknown oracle {self.oracle!r} (choose from {', '.join(ORACLES)})")
        if not self.modes or any(m not in (32, 64) for m in self.modes):
            raise CampaignError(f"modes must be 32 and/or 64, not {self.modes!r}")
        if not 0 <= self.raw_percent <= 100:
            raise CampaignError("raw_percent must be within 0..100")
        if self.batch_size < 0 or self.max_reproducers < 0 or self.max_insns < 1:
            raise CampaignError("batch_size, max_reproducers must be >= 0 and max_insns >= 1")
        object.__setattr__(self, "modes", tuple(int(m) for m in self.modes))
        object.__setattr__(self, "opcode_ranges", tuple(tuple(r) for r in self.opcode_ranges))
        object.__setattr__(self, "families", tuple(self.families))

    @property
    def batch(self) -> int:
        return self.batch_size or DEFAULT_BATCH[self.oracle]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["opcode_ranges"] = format_opcode_ranges(self.opcode_ranges) if self.opcode_ranges else ""
        d["batch_size"] = self.batch
        return d


# ---------------------------------------------------------------------------
# Case generation

_STRATEGIES: dict = {}


def _strategy(mode: int, kind: str, opcode_range=None, max_insns: int = 6, families=()):
    key = (mode, kind, opcode_range, max_insns, families)
    s = _STRATEGIES.get(key)
    if s is None:
        from .generate import strategies_module
        S = strategies_module()
        if kind == "raw":
            s = S.raw_cases(mode)
        else:
            s = S.cases(mode, max_insns=max_insns, opcode_range=opcode_range,
                        families=tuple(families) or None)
        _STRATEGIES[key] = s
    return s


def ranges_for_mode(config: CampaignConfig, mode: int):
    """The configured opcode ranges that select at least one instruction
    family in `mode` (all of them when there are none: ``(None,)``)."""
    if not config.opcode_ranges:
        return (None,)
    from .generate import strategies_module
    S = strategies_module()
    out = []
    for r in config.opcode_ranges:
        try:
            S.instruction_groups(mode, families=tuple(config.families) or None, opcode_range=r)
        except ValueError:
            continue
        out.append(r)
    return tuple(out)


def check_config(config: CampaignConfig) -> None:
    """Raise CampaignError when the configuration cannot generate cases."""
    try:
        from .generate import strategies_module
        strategies_module()
    except ImportError as e:
        raise CampaignError(f"case generation needs hypothesis (pip install hypothesis): {e}")
    S = strategies_module()
    unknown = [n for n in config.families if n not in S.FAMILIES]
    if unknown:
        raise CampaignError(f"unknown instruction family {unknown[0]!r} (choose from "
                            f"{', '.join(S.FAMILIES)})")
    for m in config.modes:
        if config.families and not any(m in S.FAMILIES[n].modes for n in config.families):
            raise CampaignError(f"no selected instruction family runs in {m}-bit mode")
    if config.opcode_ranges:
        usable = {m: ranges_for_mode(config, m) for m in config.modes}
        for r in config.opcode_ranges:
            if not any(r in usable[m] for m in config.modes):
                raise CampaignError(
                    f"opcode range {format_opcode_ranges([r])}: no instruction family of the "
                    f"generator has an opcode in it in mode {'/'.join(map(str, config.modes))}")
        for m in config.modes:
            if not usable[m] and not config.raw_percent:
                raise CampaignError(f"no opcode range selects an instruction family in {m}-bit mode")


def make_case(config: CampaignConfig, index: int) -> Optional[Case]:
    """Case number `index` of the campaign (None when the generator gave up)."""
    from .generate import GenerationError, case_rng, draw_case
    mode = config.modes[index % len(config.modes)]
    rng = case_rng(config.seed, index)
    ranges = ranges_for_mode(config, mode)
    if config.raw_percent and (not ranges or rng.randrange(100) < config.raw_percent):
        strategy = _strategy(mode, "raw")
    else:
        r = ranges[rng.randrange(len(ranges))] if len(ranges) > 1 else ranges[0]
        strategy = _strategy(mode, "cases", r, config.max_insns, config.families)
    try:
        case, _, _ = draw_case(strategy, rng)
    except GenerationError:
        return None
    return case


_DIGEST_MOD = 1 << 128


def _indexed_digest(index: int, case: Optional[Case]) -> int:
    h = hashlib.blake2b(case_digest(case), digest_size=16, key=index.to_bytes(8, "little"))
    return int.from_bytes(h.digest(), "little")


def case_digest(case: Optional[Case]) -> bytes:
    if case is None:
        return b"-"
    h = hashlib.blake2b(digest_size=16)
    h.update(bytes([case.mode]))
    h.update(case.code)
    h.update(repr(sorted((k, int(v)) for k, v in case.regs.items())).encode())
    h.update(case.data)
    h.update(case.count.to_bytes(4, "little"))
    return h.digest()


# ---------------------------------------------------------------------------
# Instruction keys and culprits


_GROUP_OPS = {0: frozenset((0x80, 0x81, 0x82, 0x83, 0x8F, 0xC0, 0xC1, 0xC6, 0xC7, 0xD0, 0xD1, 0xD2,
                            0xD3, 0xF6, 0xF7, 0xFE, 0xFF)),
              1: frozenset((0x00, 0x01, 0x18, 0xBA, 0xC7, 0xAE, 0x71, 0x72, 0x73))}
_MAP_PREFIX = ("", "0f", "0f38", "0f3a")
_CS = {}


def _capstone_mnemonic(code: bytes, mode: int) -> Optional[str]:
    try:
        import capstone
    except ImportError:
        return None
    md = _CS.get(mode)
    if md is None:
        md = _CS[mode] = capstone.Cs(capstone.CS_ARCH_X86,
                                     capstone.CS_MODE_64 if mode == 64 else capstone.CS_MODE_32)
    got = next(md.disasm(bytes(code), CODE_BASE, 1), None)
    return got.mnemonic.upper() if got is not None else None


def insn_key(code: bytes, offset: int, mode: int) -> str:
    """``<opcode>[.<digit>]-<MNEMONIC>`` of the instruction at `offset`, e.g.
    '11-ADC', 'f7.6-DIV', '0fbc-BSF'; 'bytes-<hex>' when it cannot be decoded."""
    d = decode(code, offset, mode)
    if d is None:
        mn = _capstone_mnemonic(code[offset:offset + 15], mode)
        head = code[offset:offset + 4].hex() or "end"
        return f"bytes-{head}" + (f"-{mn}" if mn else "")
    op = f"{_MAP_PREFIX[d.map]}{d.op:02x}"
    if d.modrm is not None and d.op in _GROUP_OPS.get(d.map, ()):
        op += f".{(d.modrm >> 3) & 7}"
    mn = d.mnemonic
    if not mn or mn == "?":
        mn = _capstone_mnemonic(code[d.offset:d.end], mode) or "?"
    return f"{op}-{mn.replace('_', '')}"


def insn_text(code: bytes, offset: int, mode: int) -> str:
    """Capstone's text of the instruction at `offset` (hex when unavailable)."""
    d = decode(code, offset, mode)
    chunk = code[offset:(d.end if d is not None else offset + 15)]
    try:
        import capstone
        md = _CS.get(mode)
        if md is None:
            md = _CS[mode] = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64
                                         if mode == 64 else capstone.CS_MODE_32)
        got = next(md.disasm(bytes(chunk), CODE_BASE + offset, 1), None)
        if got is not None:
            return f"{got.mnemonic} {got.op_str}".strip()
    except ImportError:
        pass
    return chunk.hex()


def culprit(case: Case, fails: Callable[[Case], bool], run_emu_fn) -> int:
    """Offset (in the code) of the instruction at which `case` starts to fail:
    the last instruction executed by the shortest prefix run (``count`` = 1,
    2, ...) for which ``fails`` holds.  -1 when it cannot be told (the
    instruction pointer left the code)."""
    pcn = "rip" if case.mode == 64 else "eip"
    prev = CODE_BASE
    for n in range(1, max(1, case.count) + 1):
        if fails(replace(case, count=n)):
            break
        r = run_emu_fn(replace(case, count=n))
        if r.oracle_error or r.vector is not None:
            prev = r.regs.get(pcn, -1)          # it faults here: blame the faulting instruction
            break
        rip = r.regs.get(pcn, -1)
        if rip == case.end or rip == prev and n > 1:
            break
        prev = rip
    off = prev - CODE_BASE
    return off if 0 <= off < len(case.code) else -1


# ---------------------------------------------------------------------------
# The host's memory layout


#: Memory emu.Machine maps (flat RAM 0 .. DATA_BASE+DATA_SIZE, and the local
#: APIC's registers at 0xFEE00000, IA32_APIC_BASE's reset value, as on every
#: x86 machine) and the host child does not (it maps only the code page and
#: the scratch area).
APIC_PAGE = 0xFEE00000
_EMU_ONLY = ((0, CODE_BASE), (CODE_BASE + CODE_SIZE, DATA_BASE), (APIC_PAGE, APIC_PAGE + 0x1000))


def _emu_only(addr: int, size: int, mode: int) -> bool:
    """Does [addr, addr+size) (wrapping at 2**mode) touch memory that only
    the emulator maps?"""
    top = 1 << mode
    lo = addr & (top - 1)
    hi = lo + max(1, size)
    spans = [(lo, min(hi, top))] + ([(0, hi - top)] if hi > top else [])
    return any(a < e_hi and e_lo < b for a, b in spans for e_lo, e_hi in _EMU_ONLY)


def _decode_at(case: Case, pc: int, data: bytes = b""):
    """The instruction at `pc`: in the code page (zero past the code), or in
    the scratch area as `data` (a result's final scratch area) holds it."""
    off = pc - CODE_BASE
    if 0 <= off < CODE_SIZE:
        return decode(case.code.ljust(CODE_SIZE + 16, b"\0"), off, case.mode)
    off = pc - DATA_BASE
    if data and 0 <= off < len(data):
        return decode(data[off:off + 16].ljust(16, b"\0"), 0, case.mode)
    return None


_BT_REG = frozenset((0xA3, 0xAB, 0xB3, 0xBB))


def _accesses(case: Case, regs: dict, pc: int, data: bytes = b""):
    """Memory the instruction at `pc` may touch with `regs`, generously (an
    over-approximation is harmless here: it only decides whether a fault can
    be blamed on the memory layout).  `data`: the scratch area, for code
    that runs there."""
    d = _decode_at(case, pc, data)
    if d is None:
        return None
    mode = case.mode
    names = gpr_names(mode)
    regs = dict(regs, rip=pc)
    out = list(memory_accesses(d, regs, mode))

    def reg(i):
        return int(regs.get(names[i], 0)) if i < len(names) else 0
    if d.mnemonic in ("LEAVE", "ENTER"):
        out.append((reg(5) - 8, 16, True))
    if d.mnemonic in ("PUSHA", "POPA"):
        out.append((reg(4) - 32, 64, True))
    if d.mnemonic in ("MOVS", "STOS", "CMPS", "SCAS", "LODS"):
        # a REP string instruction faults somewhere along its way
        span = 64 * max(1, d.opsize // 8)
        out += [(reg(6) - span, 2 * span, False), (reg(7) - span, 2 * span, False)]
    if d.mnemonic in ("?", "X87") and d.is_mem:
        # an instruction the fuzz decoder does not name (SSE, x87...): its
        # ModRM operand, at most 108 bytes (FRSTOR; FXSAVE and XSAVE are
        # excluded)
        out.append((effective_address(d, regs, mode) or 0, 108, False))
    if d.map == 1 and d.op in _BT_REG and d.is_mem and d.reg is not None:
        # BT* m, r: the bit offset in the register reaches beyond the operand
        bits = d.opsize
        off = reg(d.reg) & ((1 << bits) - 1)
        if off >> (bits - 1):
            off -= 1 << bits
        ea = effective_address(d, regs, mode) or 0
        out.append((ea + (off >> 3) - 8, 16, False))
    if d.map == 1 and d.op == 0xF7 and not d.is_mem:
        out.append((reg(7) & ((1 << d.addrsize) - 1), 16, False))   # MASKMOVQ/MASKMOVDQU: [rDI]
    if d.addrsize == 16:
        # 16-bit addressing: offsets wrap at 64 KiB (memory_accesses does not
        # wrap the implicit SI/DI/BX operands)
        out += [(a & 0xFFFF, sz, ss) for a, sz, ss in out]
    return out


IF = 0x200


def _if_only(case: Case, host: Result, emu: Result) -> bool:
    """Do the results differ only by EFLAGS.IF as pushed by PUSHF (IF is
    always 1 in the host's user mode, and POPF cannot clear it there)?"""
    if host.vector != emu.vector:
        return False
    if not any(d.mnemonic == "PUSHF" for d in decode_all(case.code, case.mode)[0]):
        return False
    pcn = "rip" if case.mode == 64 else "eip"
    for n in gpr_names(case.mode) + (pcn,):
        if (int(host.regs.get(n, 0)) ^ int(emu.regs.get(n, 0))) not in (0, IF):
            return False
    a, b = host.data, emu.data
    if len(a) != len(b):
        return False
    end = _last_difference(a, b)
    return end >= 0 and all((x ^ y) in (0, IF >> 8) for x, y in zip(a[:end + 1], b[:end + 1]))


def host_environment_mismatch(case: Case, host: Result, emu: Result) -> Optional[str]:
    """Why a host/emu difference comes from the two environments -- the host
    child maps only the code page and the scratch area while emu.Machine has
    flat RAM from 0; the host runs in user mode, where IF is 1 -- rather than
    from an instruction (None if it does not)."""
    pcn = "rip" if case.mode == 64 else "eip"
    if host.vector == -1:
        pc = host.regs.get(pcn)
        if pc is None:
            return None
        if _emu_only(pc, 1, case.mode):
            return "host: fetch from memory only the emulator maps"
        acc = _accesses(case, host.regs, pc, host.data)
        if acc and any(_emu_only(a, s, case.mode) for a, s, _ in acc):
            return "host: access to memory only the emulator maps"
    if emu.vector == -1 and host.vector is None and case.mode == 64:
        pc = emu.regs.get(pcn)
        acc = _accesses(case, emu.regs, pc) if pc is not None else None
        if acc and any(a >= 1 << 32 for a, _, _ in acc):
            return "host: access above 4 GiB the host process maps"
    if _if_only(case, host, emu):
        return "host: EFLAGS.IF is 1 in user mode (PUSHF)"
    if case.mode == 32 and host.vector in (12, 13) and emu.vector == -1:
        pc = host.regs.get(pcn)
        acc = _accesses(case, host.regs, pc) if pc is not None else None
        if acc and any((a & 0xFFFFFFFF) + s > 1 << 32 for a, s, _ in acc):
            return ("implementation-specific: access wrapping at 4 GiB (SDM Vol. 3A 5.3: "
                    "with a 4-GiB limit it may or may not fault)")
    if emu.vector == 6 and (host.vector != 6 or host.regs.get(pcn) != emu.regs.get(pcn)):
        off = emu.regs.get(pcn, 0) - CODE_BASE
        name = extensions.unreported_feature(case.code, off, case.mode) if off >= 0 else None
        if name:
            return extensions.describe(name)
    if emu.vector == 1 and host.vector is None and any(
            d.mnemonic == "POPF" for d in decode_all(case.code, case.mode)[0]):
        return ("host: step mode single-steps with TF itself, so the #DB of a TF the case "
                "sets with POPF does not show")
    if host.vector == 6 and emu.regs.get(pcn) != host.regs.get(pcn) and _prefetch_reg_amd(case, host):
        return ("implementation-specific: 0F 0D with a register operand (defined for m8 only: "
                "AMD raises #UD, pvemu runs Intel's NOP Ev)")
    if _loopcc_rep_amd(case):
        return ("implementation-specific: LOOPE/LOOPNE with an F2/F3 prefix (SDM Vol. 2A 2.1.1: "
                "reserved; AMD takes the condition from the prefix)")
    if _cmpxchg_amd(case, host, emu):
        return "host: AMD keeps the upper half of a CMPXCHG r32 destination when it fails"
    if _popa_partial_amd(case, host, emu):
        return ("host: AMD's POPA loads the registers popped before a faulting slot (the SDM "
                "reports a fault with the state before the instruction)")
    why = _x87_amd(case, host, emu) or _fyl2xp1_out_of_range(case, emu)
    if why:
        return why
    if _ldmxcsr_mm_amd(case, host, emu):
        return "host: AMD's MXCSR has bit 17 (MM, the misaligned-SSE mask) that LDMXCSR accepts"
    return None


def _x87_amd(case: Case, host: Result, emu: Result) -> Optional[str]:
    """x87 differences of AMD CPUs from the Intel SDM, which pvemu follows:
    the undocumented alias D9 D8+i (FSTP1) pops without the stack-underflow
    check (as AMD's FSTPNCE), and FCOMI, FCOMIP, FUCOMI, FUCOMIP leave C1
    alone where the SDM clears it (when no later x87 instruction writes C1:
    _c1_left_by_fcomi)."""
    if host.fpu is None or emu.fpu is None or _host_vendor() != "AuthenticAMD":
        return None
    x87 = [(d.op, d.modrm) for d in decode_all(case.code, case.mode)[0]
           if d.map == 0 and 0xD8 <= d.op <= 0xDF and d.modrm is not None and d.modrm >= 0xC0]
    if any(op == 0xD9 and 0xD8 <= m <= 0xDF for op, m in x87):
        return "host: AMD runs the undocumented D9 D8+i (FSTP1) without a stack-underflow check"
    left = _c1_left_by_fcomi(case, emu)
    if not left and not _c1_stored_after_fcomi(case, emu):
        return None
    a, b = fpstate.fields(host.fpu, case.mode), fpstate.fields(emu.fpu, case.mode)
    # (FNSTSW may have copied C1 to AX or memory: bit 9 of a word; a later
    # x87 instruction may have rewritten C1 itself since: then FSW agrees)
    regs_c1 = all((int(host.regs.get(n, 0)) ^ int(emu.regs.get(n, 0))) in (0, 0x200)
                  for n in gpr_names(case.mode))
    mem_c1 = len(host.data) == len(emu.data) and all(
        (x ^ y) in (0, 0x02) for x, y in zip(host.data, emu.data))
    if (a["fsw"] ^ b["fsw"] == (0x200 if left else 0) and host.vector == emu.vector
            and regs_c1 and mem_c1
            and all(fpstate.fields(host.fpu, case.mode)[k] == v
                    for k, v in b.items() if k != "fsw")):
        return AMD_C1
    return None


def _fcomi(d) -> bool:
    return d.map == 0 and d.op in (0xDB, 0xDF) and d.modrm is not None and 0xE8 <= d.modrm <= 0xF7


#: x87 instructions that leave C1 alone (in pvemu and on the host): FNOP,
#: FNENI, FNDISI, FNCLEX, FNSETPM, FNSTSW AX (register forms); FLDCW,
#: FNSTENV, FNSTCW, FNSTSW m16 (memory forms, by ModRM.reg).
_C1_KEPT_REG = frozenset(((0xD9, 0xD0), (0xDB, 0xE0), (0xDB, 0xE1), (0xDB, 0xE2), (0xDB, 0xE4),
                          (0xDF, 0xE0)))
_C1_KEPT_MEM = frozenset(((0xD9, 5), (0xD9, 6), (0xD9, 7), (0xDD, 7)))


def _keeps_c1(d) -> bool:
    """Not an x87 instruction, or one that leaves C1 alone.  FCMOVcc (DA/DB
    C0-DF) counts as one: it writes C1 only on a stack underflow (SDM Vol. 2A
    FCMOVcc, "set to 0 if stack underflow occurred"), and an underflow leaves
    C1 clear in both engines, so no C1 difference is left to explain."""
    if d.map != 0 or not 0xD8 <= d.op <= 0xDF:
        return True
    if d.modrm is None:
        return False
    if d.op in (0xDA, 0xDB) and 0xC0 <= d.modrm <= 0xDF:
        return True
    if d.modrm >= 0xC0:
        return (d.op, d.modrm) in _C1_KEPT_REG
    return (d.op, (d.modrm >> 3) & 7) in _C1_KEPT_MEM


def _ran(case: Case, emu: Result) -> list:
    """The instructions of `case` before where pvemu's run `emu` stopped."""
    stop = int(emu.regs.get("rip" if case.mode == 64 else "eip", case.end)) - CODE_BASE
    return [d for d in decode_all(case.code, case.mode)[0] if d.offset < stop]


def _c1_left_by_fcomi(case: Case, emu: Result) -> bool:
    """On an AMD host: is C1 at the end of `case` the one an FCOMI, FCOMIP,
    FUCOMI or FUCOMIP left (no x87 instruction that ran after it, up to
    where pvemu's run `emu` stopped, writes C1)?"""
    if _host_vendor() != "AuthenticAMD":
        return False
    insns = _ran(case, emu)
    last = [k for k, d in enumerate(insns) if _fcomi(d)]
    return bool(last) and all(_keeps_c1(d) for d in insns[last[-1] + 1:])


def _fnstsw(d) -> bool:
    return d.map == 0 and ((d.op == 0xDF and d.modrm == 0xE0) or (
        d.op == 0xDD and d.modrm is not None and d.modrm < 0xC0 and (d.modrm >> 3) & 7 == 7))


def _c1_stored_after_fcomi(case: Case, emu: Result) -> bool:
    """On an AMD host: did an FNSTSW (AX or m16) store the C1 an FCOMI,
    FCOMIP, FUCOMI or FUCOMIP left, before any x87 instruction wrote C1
    again (up to where pvemu's run `emu` stopped)?"""
    if _host_vendor() != "AuthenticAMD":
        return False
    insns = _ran(case, emu)
    for k, d in enumerate(insns):
        if not _fcomi(d):
            continue
        for e in insns[k + 1:]:
            if _fnstsw(e):
                return True
            if not _keeps_c1(e):
                break
    return False


#: FYL2XP1 is defined for |ST(0)| < 1 - sqrt(2)/2 only (Intel SDM: outside,
#: "the result is undefined and software should not rely on an exception").
_FYL2XP1_LIMIT = 1 - 2 ** 0.5 / 2


def _fyl2xp1_out_of_range(case: Case, emu: Result) -> Optional[str]:
    """Why the case's result is undefined by the SDM: it runs FYL2XP1 on an
    ST(0) outside the instruction's range (ST(0) is read from the emulator
    run up to that instruction)."""
    if emu.fpu is None:
        return None
    from .emu_oracle import run_emu
    insns = decode_all(case.code, case.mode)[0]
    for k, d in enumerate(insns):
        if not (d.map == 0 and d.op == 0xD9 and d.modrm == 0xF9):
            continue
        before = run_emu(replace(case, count=k), digest=False)
        if before.fpu is None or before.vector is not None:
            return None
        st0 = fpstate.fields(before.fpu, case.mode)["st0"]
        sig, exp = st0 & ((1 << 64) - 1), (st0 >> 64) & 0x7FFF
        if exp >= 16383 or math.ldexp(sig, exp - 16383 - 63) >= _FYL2XP1_LIMIT:
            return "SDM: FYL2XP1 with |ST(0)| >= 1 - sqrt(2)/2 has an undefined result"
    return None


def _ldmxcsr_mm_amd(case: Case, host: Result, emu: Result) -> bool:
    """LDMXCSR of a value whose only reserved bit (Intel's MXCSR_MASK is
    0xFFFF) is bit 17: AMD CPUs define it (MM, misaligned SSE exceptions
    masked) and load it, Intel CPUs and pvemu raise #GP.  The host then
    runs on (later instructions may fault there): it must have got past the
    LDMXCSR and end with bit 17 set."""
    if emu.vector != 13 or _host_vendor() != "AuthenticAMD" or host.fpu is None:
        return False
    pcn = "rip" if case.mode == 64 else "eip"
    pc = emu.regs.get(pcn)
    # the host went past the LDMXCSR (and may fault later) with bit 17 loaded
    if host.regs.get(pcn) == pc or not fpstate.fields(host.fpu, case.mode)["mxcsr"] >> 17 & 1:
        return False
    d = _decode_at(case, pc) if pc is not None else None
    if d is None or d.map != 1 or d.op != 0xAE or not d.is_mem or (d.modrm >> 3) & 7 != 2:
        return False
    off = (effective_address(d, dict(emu.regs, rip=pc), case.mode) or 0) - DATA_BASE
    if not 0 <= off <= len(emu.data) - 4:
        return False
    return int.from_bytes(emu.data[off:off + 4], "little") & ~0xFFFF == 1 << 17


def _host_vendor() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _prefetch_reg_amd(case: Case, host: Result) -> bool:
    """Does the AMD host's #UD come from 0F 0D (PREFETCH/PREFETCHW, NOP Ev
    in Intel's opcode map) with a register operand?"""
    d = _decode_at(case, host.regs.get("rip" if case.mode == 64 else "eip", 0))
    return (_host_vendor() == "AuthenticAMD" and d is not None and d.map == 1 and d.op == 0x0D
            and not d.is_mem)


def _loopcc_rep_amd(case: Case) -> bool:
    """Does the case run LOOPNE (E0) with an F3 prefix or LOOPE (E1) with F2
    on an AMD host?  The SDM reserves repeat prefixes on instructions other
    than the string ones; AMD CPUs then test ZF as the prefix says (F3 E0
    runs as LOOPE, F2 E1 as LOOPNE), pvemu as the opcode says."""
    if _host_vendor() != "AuthenticAMD":
        return False
    return any(d.map == 0 and d.op in (0xE0, 0xE1) and d.rep == (0xF3 if d.op == 0xE0 else 0xF2)
               for d in decode_all(case.code, case.mode)[0])


def _cmpxchg_amd(case: Case, host: Result, emu: Result) -> bool:
    """CMPXCHG r/m32, r32 with a register destination, in 64-bit mode, whose
    comparison fails: the Intel SDM writes the destination back (``DEST :=
    TEMP``, zero-extending it as every 32-bit register write), AMD CPUs leave
    it alone.  True when that is the only difference."""
    if case.mode != 64 or host.vector != emu.vector or _host_vendor() != "AuthenticAMD":
        return False
    regs = [d for d in decode_all(case.code, 64)[0]
            if d.mnemonic == "CMPXCHG" and d.op == 0xB1 and d.mod == 3 and d.opsize == 32]
    if not regs or host.data != emu.data:
        return False
    dests = {gpr_names(64)[d.rm] for d in regs if d.rm is not None}
    for n in gpr_names(64) + ("rip",):
        a, b = int(host.regs.get(n, 0)), int(emu.regs.get(n, 0))
        if a == b:
            continue
        if n not in dests or (a & 0xFFFFFFFF) != b:
            return False
    return True


def _popa_partial_amd(case: Case, host: Result, emu: Result) -> bool:
    """POPA/POPAD faulting on a slot past the end of the host's scratch
    area (both engines stop at the POPA with the same fault): AMD has
    already loaded the registers of the slots before it, pvemu, as the SDM
    has faults report the state before the instruction, none.  True when
    the only differences are general registers POPA loads (not rSP)."""
    if case.mode != 32 or host.vector is None or host.vector != emu.vector:
        return False
    if _host_vendor() != "AuthenticAMD" or host.data != emu.data or host.fpu != emu.fpu:
        return False
    pc = emu.regs.get("eip")
    d = _decode_at(case, pc) if pc is not None else None
    if d is None or d.map != 0 or d.op != 0x61 or host.regs.get("eip") != pc:
        return False
    diff = [n for n in gpr_names(32) + ("eflags",)
            if int(host.regs.get(n, 0)) != int(emu.regs.get(n, 0))]
    return bool(diff) and all(n not in ("esp", "eflags") for n in diff)


# ---------------------------------------------------------------------------
# Engines (one set per worker thread)


class Engines:
    """The emulator and the oracle of a campaign, as used by one worker
    thread (the host oracle's child process is per thread)."""

    def __init__(self, oracle: str, digest: bool = True):
        self.oracle = oracle
        self.digest = digest and oracle != "host"     # the host reports no outside digest
        self._host = None

    def emu(self, case: Case) -> Result:
        from . import emu_oracle
        return emu_oracle.run_emu(case, digest=self.digest)

    def _host_oracle(self):
        if self._host is None:
            from .host import HostOracle
            self._host = HostOracle(step="auto")
        return self._host

    def reference(self, case: Case) -> Result:
        return self.reference_many([case])[0]

    def reference_many(self, cases) -> list:
        if self.oracle == "host":
            return self._host_oracle().run_many(cases)
        if self.oracle == "unicorn":
            from . import unicorn_oracle
            return [unicorn_oracle.run_unicorn(c, digest=self.digest) for c in cases]
        from . import emu_oracle
        return [emu_oracle.run_emu(c, decode_cache=False, digest=self.digest) for c in cases]

    def close(self):
        if self._host is not None:
            self._host.close()
            self._host = None


_LOCAL = threading.local()


def engines_for(oracle: str, digest: bool) -> Engines:
    cache = getattr(_LOCAL, "engines", None)
    if cache is None:
        cache = _LOCAL.engines = {}
    e = cache.get((oracle, digest))
    if e is None:
        e = cache[(oracle, digest)] = Engines(oracle, digest)
    return e


def _last_difference(a: bytes, b: bytes) -> int:
    """Index of the last byte where equally long `a` and `b` differ (-1: none)."""
    n = len(a)
    step = 4096
    hi = n
    while hi > 0:
        lo = max(0, hi - step)
        if a[lo:hi] != b[lo:hi]:
            for k in range(hi - 1, lo - 1, -1):
                if a[k] != b[k]:
                    return k
        hi = lo
    return -1


def differences(case: Case, ref: Result, emu: Result, oracle: str, analysis=None) -> list:
    """compare() of an oracle result and an emulator result of `case`.

    compare() walks the 64 KiB scratch areas byte by byte in Python; for the
    host and self oracles the scratch areas are compared here instead (same
    report lines), compare() getting empty ones.  Not for Unicorn: compare()
    may replace its result by a re-run (known bugs)."""
    names = NAMES[oracle]
    if "unicorn" in names:
        return compare(case, ref, emu, names=names, analysis=analysis)
    diffs = compare(case, replace(ref, data=b""), replace(emu, data=b""), names=names,
                    analysis=analysis)
    if ref.oracle_error or emu.oracle_error:
        return diffs
    if analysis is None:
        analysis = analyze(case.code, case.mode, case.regs)
    if comparable(case, analysis) is not None:
        return diffs
    return diffs + memory_diffs(ref.data, emu.data, DATA_BASE)


def evaluate(case: Case, engines: Engines, ref: Result = None, emu: Result = None):
    """Run `case` on both engines (results may be given) and classify it:
    returns (outcome, detail, emu result, oracle result) with outcome one of
    'emu-error', 'not-comparable', 'oracle-failure', 'environment', 'divergence',
    'agree'."""
    if emu is None:
        emu = engines.emu(case)
    if emu.oracle_error:
        return "emu-error", [emu.oracle_error.splitlines()[0]], emu, ref
    fa = analyze(case.code, case.mode, case.regs)
    why = comparable(case, fa)
    if why is not None:
        return "not-comparable", why, emu, ref
    if ref is None:
        ref = engines.reference(case)
    if ref.oracle_error:
        return "oracle-failure", ref.oracle_error, emu, ref
    diffs = differences(case, ref, emu, engines.oracle, analysis=fa)
    if not diffs:
        return "agree", None, emu, ref
    why = explained(case, ref, emu, diffs, engines.oracle)
    if why:
        return "environment", why, emu, ref
    return "divergence", diffs, emu, ref


def explained(case: Case, ref: Result, emu: Result, diffs, oracle: str) -> Optional[str]:
    """Why the differences `diffs` of the oracle's result `ref` and pvemu's
    are no divergence (an approximation or an accuracy the SDM allows, the
    host's environment, a known Unicorn x87/SSE bug class), or None."""
    kind = approx.explain(case, ref.fpu, emu.fpu, diffs)
    if kind:
        return _approx_reason(kind)
    if oracle == "host":
        return host_environment_mismatch(case, ref, emu) or _explained_together(case, ref, emu)
    if oracle == "unicorn":
        bug = unicorn_fp.explain(case, ref, emu, diffs)
        if bug is not None:
            return f"known Unicorn bug: x87/SSE {bug.name}"
    return None


APPROXIMATION = ("SDM: RCP/RSQRT approximations, different bits within the error bound "
                 "1.5 * 2^-12 (emu/fuzz/approx.py)")


TRANSCENDENTAL = ("x87 transcendental 1 ulp apart (pvemu correctly rounded, the host within "
                  "0.61 ulp: README 'Floating point: x87')")


TRANSCENDENTAL_USED = ("x87 transcendental 1 ulp apart, seen through the instructions after it "
                       "(pvemu agrees given the host's rounding: approx.nudged_runs)")


AMD_C1 = "host: AMD keeps C1 in FCOMI/FUCOMI(P), the Intel SDM clears it"


def _approx_reason(kind: str) -> str:
    return {"rcp": APPROXIMATION, "transcendental": TRANSCENDENTAL}.get(
        kind, "SDM: an RCP/RSQRT approximation and an x87 transcendental (see both)")


def _with_c1_of(img: bytes, other: bytes) -> bytes:
    """FP image `img` with FSW.C1 taken from `other`."""
    fsw = (int.from_bytes(img[2:4], "little") & ~0x0200) | (int.from_bytes(other[2:4], "little") & 0x0200)
    return img[:2] + fsw.to_bytes(2, "little") + img[4:]


def _explained_together(case: Case, host: Result, emu: Result) -> Optional[str]:
    """Explained classes that meet in one case, each accounting for its own
    differences (the single-class rules above want all of them):
    - AMD's FCOMI C1 (_c1_left_by_fcomi: no later x87 instruction writes
      C1) next to an RCP/RSQRT approximation or a transcendental's ulp:
      the host's C1 is replaced by pvemu's, then the rest must be explained
      by approx.explain;
    - a transcendental's 1-ulp difference that later instructions use (an
      MMX instruction on the register, an x87 operation): pvemu re-run with
      that result one ulp up or down (approx.nudged_runs) must then agree
      with the host but for C1 (or an RCP approximation, AMD's C1)."""
    if host.fpu is None or emu.fpu is None or host.vector != emu.vector:
        return None
    refs = [(host, None)]
    if _c1_left_by_fcomi(case, emu):
        amd = replace(host, fpu=_with_c1_of(host.fpu, emu.fpu))
        d = differences(case, amd, emu, "host")
        kind = approx.explain(case, amd.fpu, emu.fpu, d)
        if not d or kind:
            return AMD_C1 + ("; " + _approx_reason(kind) if kind else "")
        refs.append((amd, AMD_C1))
    if not approx.has_transcendental(case):
        return None
    for nudged in approx.nudged_runs(case):
        for ref, why in refs:
            d = differences(case, ref, nudged, "host")
            if (not d or approx.c1_only(d, ref.fpu, nudged.fpu, case)
                    or approx.explain(case, ref.fpu, nudged.fpu, d) == "rcp"):
                return TRANSCENDENTAL_USED + ("; " + why if why else "")
    return None


def failure(case: Case, engines: Engines):
    """The differences (a non-empty list) when `case` is a finding -- the
    engines diverge or the emulator raises --, else None."""
    outcome, detail, _, _ = evaluate(case, engines)
    return detail if outcome in ("divergence", "emu-error") else None


def failure_reason(msg: str) -> str:
    """An oracle_error message reduced to its reason (offsets and numbers out)."""
    line = (msg or "?").strip().splitlines()[0]
    line = re.sub(r"\s+at\s+\+?(0x)?[0-9a-fA-F]+\b", "", line)
    line = re.sub(r"0x[0-9a-fA-F]+|\b\d+(\.\d+)?\b", "N", line)
    return line[:100]


# ---------------------------------------------------------------------------
# Batches


@dataclass
class Finding:
    """A divergence (or emulator error), shrunk when the campaign shrinks."""
    key: str                 #: instruction key (insn_key) of the culprit
    text: str                #: the culprit instruction as text
    mode: int
    index: int               #: case number in the campaign
    kind: str                #: 'divergence' or 'emu-error'
    case: Case               #: the (shrunk) case
    diffs: list              #: its differences
    original: Case = None    #: the case as generated
    shrunk: bool = False
    path: str = None         #: reproducer file, once written
    shrink_seconds: float = 0.0


@dataclass
class Tally:
    """The counts a batch produces and a campaign adds up."""
    cases: int = 0
    gen_failures: int = 0
    by_mode: collections.Counter = field(default_factory=collections.Counter)
    compared: int = 0
    agreed: int = 0
    not_comparable: int = 0
    env_skipped: collections.Counter = field(default_factory=collections.Counter)
    oracle_failures: collections.Counter = field(default_factory=collections.Counter)
    divergences: collections.Counter = field(default_factory=collections.Counter)  # (key, mode)
    emu_errors: int = 0
    texts: dict = field(default_factory=dict)          # key -> instruction text
    findings: list = field(default_factory=list)


@dataclass
class BatchResult(Tally):
    batch: int = 0
    first: int = 0
    count: int = 0
    coverage: dict = field(default_factory=dict)       # map name -> [256 counts]
    digest: str = ""
    seconds: float = 0.0
    phases: dict = field(default_factory=dict)         # phase -> seconds
    worker: str = ""


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}" + (
        "" if threading.current_thread() is threading.main_thread()
        else f":{threading.current_thread().name}")


def run_batch(config: CampaignConfig, batch: int, count: int = None) -> BatchResult:
    """Generate and run cases ``batch*B .. batch*B+count-1`` (count defaults
    to the batch size B) and return what they gave."""
    t0 = time.perf_counter()
    B = config.batch
    count = B if count is None else count
    first = batch * B
    res = BatchResult(batch=batch, first=first, count=count, worker=_worker_id())
    cov = {m: [0] * 256 for m in MAPS}
    engines = engines_for(config.oracle, config.digest)
    clock = time.perf_counter
    cases = []
    fingerprint = 0
    for i in range(first, first + count):
        c = make_case(config, i)
        fingerprint += _indexed_digest(i, c)
        if c is None:
            res.gen_failures += 1
            continue
        cases.append((i, c))
    res.digest = f"{fingerprint % _DIGEST_MOD:032x}"
    res.cases = len(cases)
    by_mode = collections.Counter(c.mode for _, c in cases)
    res.by_mode = {str(k): v for k, v in sorted(by_mode.items())}

    t1 = clock()
    # emulator first, then the oracle on what can be compared (batched: the
    # host oracle streams a whole batch to its child)
    prepared = []
    for i, c in cases:
        emu = engines.emu(c)
        if emu.oracle_error:
            prepared.append((i, c, emu, None, "emu-error"))
            continue
        fa = analyze(c.code, c.mode, c.regs)
        if comparable(c, fa) is not None:
            prepared.append((i, c, emu, fa, "not-comparable"))
            continue
        prepared.append((i, c, emu, fa, None))
    todo = [c for i, c, emu, fa, st in prepared if st is None]
    t2 = clock()
    refs = iter(engines.reference_many(todo) if todo else [])
    t3 = clock()

    pending = []
    for i, c, emu, fa, st in prepared:
        if st == "emu-error":
            res.emu_errors += 1
            pending.append((i, c, "emu-error"))
            continue
        if st == "not-comparable":
            res.not_comparable += 1
            continue
        ref = next(refs)
        if ref.oracle_error:
            res.oracle_failures[failure_reason(ref.oracle_error)] += 1
            continue
        diffs = differences(c, ref, emu, config.oracle, analysis=fa)
        if diffs:
            why = explained(c, ref, emu, diffs, config.oracle)
            if why:
                res.env_skipped[why] += 1
                continue
        res.compared += 1
        for d in decode_all(c.code, c.mode)[0]:
            if d.map < len(MAPS):
                cov[MAPS[d.map]][d.op] += 1
        if diffs:
            pending.append((i, c, "divergence"))
        else:
            res.agreed += 1

    t4 = clock()
    # attribute every divergence to an instruction; keep the first few of each
    # instruction and mode as candidates (shrunk after the merge)
    kept = collections.Counter()
    seen = set()
    def fails(x):
        return failure(x, engines) is not None
    for i, c, kind in pending:
        off = culprit(c, fails, engines.emu)
        key = insn_key(c.code, off, c.mode) if off >= 0 else "unknown"
        text = insn_text(c.code, off, c.mode) if off >= 0 else "?"
        res.texts.setdefault(key, text)
        res.divergences[(key, c.mode)] += 1
        if kept[(key, c.mode)] >= config.max_reproducers or case_digest(c) in seen:
            continue
        kept[(key, c.mode)] += 1
        seen.add(case_digest(c))
        diffs = failure(c, engines) or []
        res.findings.append(Finding(key=key, text=text, mode=c.mode, index=i, kind=kind,
                                    case=c, diffs=list(diffs), original=c))
    res.coverage = cov
    t5 = clock()
    res.seconds = t5 - t0
    res.phases = {"generate": t1 - t0, "emu": t2 - t1, "oracle": t3 - t2, "compare": t4 - t3,
                  "findings": t5 - t4}
    return res


def shrink_finding(config: CampaignConfig, finding: Finding) -> Finding:
    """`finding` with its case shrunk (compare.shrink) as long as it still
    fails *at the same instruction* (same insn_key)."""
    engines = engines_for(config.oracle, config.digest)

    def fails(x):
        return failure(x, engines) is not None

    def key_of(x):
        o = culprit(x, fails, engines.emu)
        return insn_key(x.code, o, x.mode) if o >= 0 else "unknown"

    def keeps(x):
        return fails(x) and key_of(x) == finding.key

    t0 = time.perf_counter()
    small = shrink(finding.original, keeps)
    if small.data and not small.data.strip(b"\0"):
        small = replace(small, data=b"")           # all zero: the scratch area's default
    diffs = failure(small, engines) or finding.diffs
    off = culprit(small, fails, engines.emu)
    text = insn_text(small.code, off, small.mode) if off >= 0 else finding.text
    return replace(finding, case=small, diffs=list(diffs), text=text,
                   shrunk=small != finding.original,
                   shrink_seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------
# Merged results


@dataclass
class CampaignResult(Tally):
    config: CampaignConfig = None
    batches: int = 0
    coverage: dict = field(default_factory=lambda: {m: [0] * 256 for m in MAPS})
    digest: str = ""
    wall_seconds: float = 0.0
    workers: int = 1
    scheduler: str = None
    per_worker: dict = field(default_factory=dict)   # worker -> [cases, seconds]
    phases: collections.Counter = field(default_factory=collections.Counter)
    interrupted: bool = False
    out_dir: str = None
    gen_seconds: float = 0.0         #: running the cases
    shrink_seconds: float = 0.0      #: shrinking the findings afterwards

    @property
    def n_divergences(self) -> int:
        return sum(self.divergences.values())

    @property
    def n_oracle_failures(self) -> int:
        return sum(self.oracle_failures.values())

    @property
    def rate(self) -> float:
        """Cases per second of the case phase (shrinking not counted)."""
        t = self.gen_seconds or self.wall_seconds
        return self.cases / t if t else 0.0

    def per_worker_rate(self) -> float:
        """Mean cases per second of one worker while it was busy."""
        busy = sum(s for _, s in self.per_worker.values())
        n = sum(c for c, _ in self.per_worker.values())
        return n / busy if busy else 0.0

    def coverage_counts(self) -> dict:
        return {m: sum(1 for v in self.coverage[m] if v) for m in MAPS}

    def to_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "batches": self.batches, "cases": self.cases, "gen_failures": self.gen_failures,
            "by_mode": dict(self.by_mode), "compared": self.compared, "agreed": self.agreed,
            "not_comparable": self.not_comparable, "host_environment_skipped": dict(self.env_skipped),
            "oracle_failures": dict(self.oracle_failures),
            "divergences": [{"instruction": k, "mode": m, "count": n,
                             "text": self.texts.get(k, "")}
                            for (k, m), n in sorted(self.divergences.items())],
            "emu_errors": self.emu_errors,
            "findings": [{"instruction": f.key, "text": f.text, "mode": f.mode, "index": f.index,
                          "kind": f.kind, "path": f.path, "diffs": f.diffs,
                          "code": f.case.code.hex(), "shrunk": f.shrunk}
                         for f in self.findings],
            "coverage": {m: {"exercised": n, "opcodes": [f"{o:02x}" for o, v in
                                                          enumerate(self.coverage[m]) if v]}
                         for m, n in self.coverage_counts().items()},
            "digest": self.digest, "wall_seconds": round(self.wall_seconds, 3),
            "case_seconds": round(self.gen_seconds, 3),
            "shrink_seconds": round(self.shrink_seconds, 3),
            "workers": self.workers, "scheduler": self.scheduler,
            "per_worker": {w: {"cases": c, "seconds": round(s, 3),
                               "cases_per_second": round(c / s, 1) if s else None}
                           for w, (c, s) in sorted(self.per_worker.items())},
            "phase_seconds": {k: round(v, 3) for k, v in self.phases.items()},
            "cases_per_second": round(self.rate, 1),
            "cases_per_second_per_worker": round(self.per_worker_rate(), 1),
            "interrupted": self.interrupted,
        }


def merge(config: CampaignConfig, results) -> CampaignResult:
    """Combine batch results (any order) into a CampaignResult, in batch
    order, keeping the first ``max_reproducers`` findings per key and mode."""
    out = CampaignResult(config=config)
    fingerprint = 0
    findings = []
    for r in sorted(results, key=lambda r: r.batch):
        out.batches += 1
        out.cases += r.cases
        out.gen_failures += r.gen_failures
        out.by_mode.update({int(k): v for k, v in r.by_mode.items()})
        out.compared += r.compared
        out.agreed += r.agreed
        out.not_comparable += r.not_comparable
        out.env_skipped.update(r.env_skipped)
        out.oracle_failures.update(r.oracle_failures)
        out.divergences.update(r.divergences)
        out.emu_errors += r.emu_errors
        for k, t in r.texts.items():
            out.texts.setdefault(k, t)
        findings += r.findings
        for m in MAPS:
            cm, rm = out.coverage[m], r.coverage.get(m)
            if rm:
                for o in range(256):
                    cm[o] += rm[o]
        fingerprint += int(r.digest, 16)
        out.phases.update(r.phases)
        w = out.per_worker.setdefault(r.worker, [0, 0.0])
        w[0] += r.cases + r.gen_failures
        w[1] += r.seconds
    kept = collections.Counter()
    seen = set()
    for f in sorted(findings, key=lambda f: f.index):
        dig = case_digest(f.case)
        if dig in seen:
            continue
        seen.add(dig)
        if kept[(f.key, f.mode)] < config.max_reproducers:
            kept[(f.key, f.mode)] += 1
            out.findings.append(f)
    out.digest = f"{fingerprint % _DIGEST_MOD:032x}"
    return out


def _slug(key: str) -> str:
    return re.sub(r"[^0-9A-Za-z.]+", "-", key).strip("-").lower() or "unknown"


def write_reproducers(result: CampaignResult, out_dir) -> list:
    """Write every finding of `result` to `out_dir` (created if needed) as
    ``<instruction>-<mode>bit-<hash>.json``; sets Finding.path.  Returns the
    paths."""
    paths = []
    if not result.findings:
        return paths
    os.makedirs(out_dir, exist_ok=True)
    for f in result.findings:
        digest = hashlib.sha1(f.case.to_json().encode()).hexdigest()[:10]
        path = os.path.join(out_dir, f"{_slug(f.key)}-{f.mode}bit-{digest}.json")
        note = (f"pvemu fuzz --oracle {result.config.oracle} --seed {result.config.seed}: "
                f"case {f.index}, {f.kind} at {f.text!r}"
                + (" (shrunk)" if f.shrunk else ""))
        save_reproducer(path, f.case, f.diffs, note=note)
        with open(path) as fh:
            d = json.load(fh)
        d.update({"oracle": result.config.oracle, "instruction": f.key, "text": f.text,
                  "seed": result.config.seed, "index": f.index, "kind": f.kind})
        if f.shrunk and f.original is not None:
            d["original_code"] = f.original.code.hex()
        with open(path, "w") as fh:
            json.dump(d, fh, indent=1, sort_keys=True)
            fh.write("\n")
        f.path = path
        paths.append(path)
    result.out_dir = str(out_dir)
    return paths


# ---------------------------------------------------------------------------
# Running a campaign


def check_oracle(oracle: str) -> None:
    """Raise CampaignError when `oracle` (or the emulator core) cannot run here."""
    from . import emu_oracle
    if not emu_oracle.available():
        raise CampaignError("the emulator core is not built: run "
                            "'python setup.py build_ext --inplace'")
    if oracle == "unicorn":
        from . import unicorn_oracle
        if not unicorn_oracle.available():
            raise CampaignError("--oracle unicorn needs the 'unicorn' Python package "
                                "(pip install 'unicorn>=2.0' or pip install 'pvemu[unicorn]')")
    elif oracle == "host":
        from .host import available
        ok, why = available(probe=True)
        if not ok:
            raise CampaignError(f"the host-CPU oracle is unavailable: {why}")
    elif oracle not in ORACLES:
        raise CampaignError(f"unknown oracle {oracle!r} (choose from {', '.join(ORACLES)})")


def _batches(config: CampaignConfig, cases: Optional[int]):
    """(batch index, count) pairs in order; endless when cases is None."""
    B = config.batch
    b = 0
    while cases is None or b * B < cases:
        n = B if cases is None else min(B, cases - b * B)
        yield b, n
        b += 1


class _Progress:
    def __init__(self, callback, t0):
        self.callback = callback
        self.t0 = t0
        self.cases = self.div = self.fail = 0
        self.shrinking = None

    def add(self, r: BatchResult):
        self.cases += r.cases + r.gen_failures
        self.div += sum(r.divergences.values())
        self.fail += sum(r.oracle_failures.values())
        self.report()

    def report(self):
        if self.callback:
            self.callback({"cases": self.cases, "divergences": self.div,
                           "oracle_failures": self.fail, "shrinking": self.shrinking,
                           "seconds": time.monotonic() - self.t0})


# -- executors: where batches and shrinking jobs run --------------------------


class _Done:
    def __init__(self, value):
        self.value = value


class _InlineExecutor:
    """Runs every job at once, in this process."""
    slots = 1
    name = None

    def submit(self, fn, *args):
        return _Done(fn(*args))

    def wait_any(self, handles):
        return [handles[0]]

    def result(self, h):
        return h.value

    def cancel(self, handles):
        pass

    def close(self):
        pass


def _call(job):
    fn, args = job
    return fn(*args)


class _PoolExecutor:
    """A pool of `n` local worker processes (spawned: safe with threads and
    any platform)."""

    def __init__(self, n):
        import multiprocessing
        self.pool = multiprocessing.get_context("spawn").Pool(n)
        self.slots = 2 * n
        self.name = None

    def submit(self, fn, *args):
        return self.pool.apply_async(_call, ((fn, args),))

    def wait_any(self, handles):
        while True:
            done = [h for h in handles if h.ready()]
            if done:
                return done
            handles[0].wait(0.05)

    def result(self, h):
        return h.get()

    def cancel(self, handles):
        self.pool.terminate()

    def close(self):
        self.pool.close()
        self.pool.join()


class _DaskExecutor:
    """The workers of a Dask cluster (`scheduler`: an address or a Client)."""

    def __init__(self, scheduler):
        try:
            import distributed
        except ImportError:
            raise CampaignError("--scheduler needs dask.distributed (pip install 'pvemu[fuzz]' "
                                "or pip install 'dask[distributed]')") from None
        self.distributed = distributed
        self.own = isinstance(scheduler, str)
        if self.own:
            try:
                self.client = distributed.Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT}s",
                                                 set_as_default=False)
            except (OSError, TimeoutError, ValueError) as e:
                raise CampaignError(f"cannot reach the Dask scheduler at {scheduler}: "
                                    f"{e}") from None
            self.name = scheduler
        else:
            self.client = scheduler
            self.name = str(getattr(getattr(scheduler, "scheduler", None), "address", "dask"))
        workers = self.client.scheduler_info().get("workers", {})
        self.slots = 2 * max(1, sum(w.get("nthreads", 1) for w in workers.values()))
        self.tag = f"pvemu-fuzz-{os.getpid()}-{time.time_ns()}"
        self.n = 0

    def submit(self, fn, *args):
        self.n += 1
        return self.client.submit(fn, *args, pure=False, key=f"{self.tag}-{self.n}")

    def wait_any(self, handles):
        while True:
            done = [h for h in handles if h.done()]
            if done:
                return done
            time.sleep(0.005)

    def result(self, h):
        return h.result()

    def cancel(self, handles):
        for h in handles:
            h.cancel()

    def close(self):
        if self.own:
            self.client.close()


def _drive(ex, jobs, on_result, deadline=None) -> None:
    """Run `jobs` ((fn, args) pairs, consumed lazily, in order) on executor
    `ex`, at most ex.slots at a time; submit no new job after `deadline`;
    wait for everything submitted."""
    inflight = []
    exhausted = False
    try:
        while True:
            while not exhausted and len(inflight) < ex.slots:
                if deadline is not None and time.monotonic() >= deadline:
                    exhausted = True
                    break
                job = next(jobs, None)
                if job is None:
                    exhausted = True
                    break
                inflight.append(ex.submit(job[0], *job[1]))
            if not inflight:
                return
            for h in ex.wait_any(inflight):
                inflight.remove(h)
                on_result(ex.result(h))
    except BaseException:
        ex.cancel(inflight)
        raise


def run_campaign(config: CampaignConfig, *, cases: int = None, seconds: float = None,
                 workers: int = 1, scheduler=None, out_dir=None,
                 progress: Callable[[dict], None] = None) -> CampaignResult:
    """Run a campaign of `cases` cases, or for `seconds` seconds, on
    `workers` local processes (1: in this process) or on the Dask cluster at
    `scheduler` (an address 'tcp://host:port' or a distributed.Client), then
    shrink the findings (the first ``max_reproducers`` per instruction and
    mode, in case order) on the same workers, and write them to `out_dir`
    when given.  `seconds` bounds the generation of cases; shrinking comes
    after.  `progress(stats)` is called after every batch and every shrunk
    finding.  A KeyboardInterrupt ends it early (``interrupted``)."""
    if cases is None and seconds is None:
        raise CampaignError("give a number of cases or of seconds")
    if cases is not None and cases < 0 or seconds is not None and seconds < 0:
        raise CampaignError("cases and seconds must not be negative")
    if workers < 1:
        raise CampaignError("workers must be at least 1")
    check_config(config)
    check_oracle(config.oracle)
    t0 = time.monotonic()
    deadline = None if seconds is None else t0 + seconds
    prog = _Progress(progress, t0)
    results = []
    interrupted = False
    if scheduler is not None:
        ex = _DaskExecutor(scheduler)
    elif workers > 1:
        ex = _PoolExecutor(workers)
    else:
        ex = _InlineExecutor()
    out = None
    try:
        try:
            jobs = ((run_batch, (config, b, n)) for b, n in _batches(config, cases))
            _drive(ex, jobs, lambda r: (results.append(r), prog.add(r)), deadline)
        except KeyboardInterrupt:
            interrupted = True
        out = merge(config, results)
        out.gen_seconds = time.monotonic() - t0
        if config.shrink and out.findings and not interrupted:
            t1 = time.monotonic()
            shrunk = {}
            prog.shrinking = (0, len(out.findings))

            def done(f):
                shrunk[f.index] = f
                prog.shrinking = (len(shrunk), len(out.findings))
                prog.report()
            try:
                _drive(ex, iter([(shrink_finding, (config, f)) for f in out.findings]), done)
            except KeyboardInterrupt:
                interrupted = True
            out.findings = _dedupe([shrunk.get(f.index, f) for f in out.findings])
            out.shrink_seconds = time.monotonic() - t1
    finally:
        try:
            ex.close()
        except Exception:
            pass
    out.wall_seconds = time.monotonic() - t0
    out.workers = workers if scheduler is None else len(out.per_worker)
    out.scheduler = ex.name
    out.interrupted = interrupted
    if out_dir is not None:
        write_reproducers(out, out_dir)
    return out


def _dedupe(findings):
    """Drop findings whose (shrunk) case equals an earlier one's."""
    seen = set()
    out = []
    for f in findings:
        d = case_digest(f.case)
        if d not in seen:
            seen.add(d)
            out.append(f)
    return out


# ---------------------------------------------------------------------------
# Replay


def replay(case: Case, oracle: str, digest: bool = True):
    """Run `case` on the emulator and `oracle`: (outcome, detail, emu result,
    oracle result) as :func:`evaluate`."""
    check_oracle(oracle)
    engines = Engines(oracle, digest)
    try:
        return evaluate(case, engines)
    finally:
        engines.close()


# ---------------------------------------------------------------------------
# The summary


def _table(rows, header, align=None):
    cols = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in cols) for k in range(len(header))]
    align = align or ["<"] * len(header)
    lines = []
    for j, r in enumerate(cols):
        lines.append("  " + "  ".join(f"{c:{a}{w}}" for c, a, w in zip(r, align, widths)).rstrip())
        if j == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def format_summary(res: CampaignResult) -> str:
    c = res.config
    modes = "+".join(str(m) for m in c.modes)
    lines = [
        f"pvemu fuzz: oracle {c.oracle}, mode {modes}, seed {c.seed}"
        + (f", opcodes {format_opcode_ranges(c.opcode_ranges)}" if c.opcode_ranges else "")
        + (f", families {','.join(c.families)}" if c.families else "")
        + (f", {c.raw_percent}% raw" if c.raw_percent else ""),
        f"  {res.cases:,} cases in {(res.gen_seconds or res.wall_seconds):.1f} s"
        + (f" on {res.scheduler}" if res.scheduler else
           f" ({res.workers} worker{'s' if res.workers != 1 else ''})")
        + (f", then {res.shrink_seconds:.1f} s shrinking {len(res.findings)} finding"
           f"{'s' if len(res.findings) != 1 else ''}" if res.shrink_seconds else "")
        + (" -- interrupted" if res.interrupted else "")
        + f"; cases digest {res.digest[:16]}",
        f"  compared {res.compared:,} (agree {res.agreed:,}, diverge "
        f"{res.n_divergences:,}), not comparable {res.not_comparable:,}, oracle failures "
        f"{res.n_oracle_failures:,}"
        + (f", explained {sum(res.env_skipped.values()):,}"
           if res.env_skipped else "")
        + (f", emulator errors {res.emu_errors:,}" if res.emu_errors else "")
        + (f", generator gave up {res.gen_failures:,}" if res.gen_failures else ""),
        "",
    ]
    if res.divergences:
        lines.append(f"Divergences by instruction ({res.n_divergences:,}):")
        paths = collections.defaultdict(list)
        for f in res.findings:
            paths[(f.key, f.mode)].append(f.path or "(not written)")
        rows = []
        for (key, mode), n in sorted(res.divergences.items(), key=lambda kv: (-kv[1], kv[0])):
            ps = paths.get((key, mode), ["-"])
            rows.append([key, res.texts.get(key, "")[:40], f"{mode}", f"{n:,}", ps[0]])
            for p in ps[1:]:
                rows.append(["", "", "", "", p])
        lines += _table(rows, ["instruction", "e.g.", "mode", "count", "reproducer"],
                        ["<", "<", ">", ">", "<"])
    else:
        lines.append("Divergences: none")
    lines.append("")
    if res.oracle_failures:
        lines.append(f"Oracle failures by reason ({res.n_oracle_failures:,}):")
        rows = [[why, f"{n:,}"] for why, n in res.oracle_failures.most_common()]
        lines += _table(rows, ["reason", "cases"], ["<", ">"])
    else:
        lines.append("Oracle failures: none")
    if res.env_skipped:
        lines.append("")
        lines.append("Explained (the SDM allows it, the host's environment, a known Unicorn bug class):")
        lines += _table([[why, f"{n:,}"] for why, n in res.env_skipped.most_common()],
                        ["reason", "cases"], ["<", ">"])
    lines.append("")
    cc = res.coverage_counts()
    lines.append("Opcode-map coverage (opcodes of compared cases):")
    lines.append(f"  one-byte map: {cc['one-byte']}/256 opcodes exercised, 0F map: {cc['0F']}/256"
                 + (f", 0F38: {cc['0F38']}/256" if cc["0F38"] else "")
                 + (f", 0F3A: {cc['0F3A']}/256" if cc["0F3A"] else ""))
    lines.append("")
    lines.append("Throughput:")
    rows = [[w, f"{n:,}", f"{s:.1f}", f"{n / s:,.0f}" if s else "-"]
            for w, (n, s) in sorted(res.per_worker.items())]
    lines += _table(rows, ["worker", "cases", "busy s", "cases/s"], ["<", ">", ">", ">"])
    lines.append(f"  {res.rate:,.0f} cases/s overall, {res.per_worker_rate():,.0f} cases/s per "
                 "worker")
    if res.out_dir and res.findings:
        lines.append("")
        lines.append(f"Reproducers in {res.out_dir}; replay one with: pvemu fuzz replay FILE")
    return "\n".join(lines)
