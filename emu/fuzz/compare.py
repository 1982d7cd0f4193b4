"""Compare two :class:`~emu.fuzz.case.Result` of one case, shrink failing
cases, and write reproducer files.

``compare(case, a, b)`` returns human-readable differences (empty = agree):
general registers, rip/eip, EFLAGS (CF PF AF ZF SF OF and DF, minus the flags
the classifier of :mod:`emu.fuzz.flags` says may legitimately differ where
execution stopped), the scratch area, the memory digest outside it (when both
have one) and the exception vector.  A case that reads a possibly-undefined
flag or leaves a destination undefined is *not comparable*
(:func:`comparable` says why) and ``compare`` returns [] for it; so it does
when either result has ``oracle_error`` set.

Known Unicorn deviations from the Intel SDM are listed once, in
``KNOWN_UNICORN_BUGS``, each with what the SDM requires and what Unicorn does.
None of them relaxes the comparison: each makes the Unicorn side produce the
SDM result -- by rewriting the case into an SDM-equivalent encoding that
avoids the bug (done by ``run_unicorn`` before it runs anything, since some of
these bugs abort the process), by correcting the result afterwards (done by
``compare`` for the side named 'unicorn'), or by how ``run_unicorn`` drives
Unicorn (single-stepping...).  Cases Unicorn cannot run faithfully end with
``Result.oracle_error`` and are not compared.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Callable

from .case import CODE_BASE, DATA_BASE, DATA_SIZE, FLAGS_MASK, Case, Result, gpr_names
from .flags import analyze, flag_names
from . import unicorn_fp
from .fpstate import fpu_diffs
from .insn import boundaries, decode, decode_all, first_noncanonical, flat_mapped, memory_accesses

VECTOR_NAMES = {None: "none", -1: "unmapped", 0: "#DE", 1: "#DB", 3: "#BP", 4: "#OF", 5: "#BR",
                6: "#UD", 7: "#NM", 8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP",
                14: "#PF", 16: "#MF", 17: "#AC", 18: "#MC", 19: "#XM"}


def vector_name(v):
    return f"{VECTOR_NAMES.get(v, 'vector')}({v})" if v is not None else "none"


# ---------------------------------------------------------------------------
# Known Unicorn bugs


@dataclass(frozen=True)
class KnownBug:
    """A documented Unicorn deviation from the SDM and how to get the
    SDM-conforming result anyway.  One of:

    rewrite(case) -> an SDM-equivalent case that avoids the bug, or None when
                     the bug does not apply.  Rewrites are applied by
                     run_unicorn itself before it runs anything (some of these
                     bugs abort the whole process), see rewrite_for_unicorn;
    correct(case, unicorn_result, rerun) -> the corrected Result, or None when
                     the bug does not apply; rerun(case, **kw) runs Unicorn
                     again.  Corrections are applied by compare();
    handled_by -> a note: the oracle avoids the bug by how it drives Unicorn.
    """
    name: str
    sdm: str                  #: what the Intel SDM requires
    unicorn: str              #: what Unicorn (QEMU TCG) does instead
    correct: Callable | None = None
    rewrite: Callable | None = None
    handled_by: str | None = None   #: for bugs avoided by how the oracle drives Unicorn


def _correct_noncanonical(case: Case, res: Result, rerun):
    if case.mode != 64 or res.vector != -1:
        return None
    pc = res.regs.get("rip", 0)
    if not CODE_BASE <= pc < case.end:
        return None
    d = decode(case.code, pc - CODE_BASE, 64)
    if d is None:
        return None
    acc = first_noncanonical(memory_accesses(d, dict(res.regs, rip=pc), 64),
                             flat_mapped(DATA_BASE + DATA_SIZE))
    if acc is None:
        return None
    return replace(res, vector=12 if acc[2] else 13)


def _has_rexr_c6c7(case: Case):
    if case.mode != 64:
        return []
    insns, stop = decode_all(case.code, case.mode)
    return [d for d in insns if d.map == 0 and d.op in (0xC6, 0xC7) and d.rex & 4]


def _rewrite_rexr_c6c7(case: Case):
    bad = _has_rexr_c6c7(case)
    if not bad:
        return None
    code = bytearray(case.code)
    for d in bad:
        pos = _opcode_pos(case.code, d) - 1          # the REX byte precedes the opcode
        assert code[pos] == d.rex
        code[pos] &= ~4
    return replace(case, code=bytes(code))


def _opcode_pos(code: bytes, d):
    """Offset of the opcode byte of `d` inside `code`."""
    pos = d.offset
    while pos < d.end and (code[pos] in (0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65,
                                         0x66, 0x67) or 0x40 <= code[pos] <= 0x4F):
        pos += 1
    return pos


def _rewrite_rex_lahf_sahf(case: Case):
    if case.mode != 64:
        return None
    insns, stop = decode_all(case.code, 64)
    bad = [d for d in insns if d.map == 0 and d.op in (0x9E, 0x9F) and d.rex]
    if not bad:
        return None
    code = bytearray(case.code)
    for d in bad:
        pos = _opcode_pos(case.code, d) - 1
        assert code[pos] == d.rex
        code[pos] = 0x3E          # a DS prefix: same length, no effect on LAHF/SAHF
    return replace(case, code=bytes(code))


#: Mnemonics the LOCK prefix is legal with (with a memory destination).
LOCKABLE = frozenset(("ADD", "ADC", "AND", "BTC", "BTR", "BTS", "CMPXCHG", "CMPXCHG8B",
                      "CMPXCHG16B", "DEC", "INC", "NEG", "NOT", "OR", "SBB", "SUB", "XOR",
                      "XADD", "XCHG"))


def lock_is_legal(d) -> bool:
    """Is LOCK legal on the decoded instruction `d` (SDM Vol. 2A, LOCK)?"""
    if d.mnemonic not in LOCKABLE or not d.is_mem:
        return False
    if d.map == 0 and d.op < 0x40:
        return (d.op & 7) in (0, 1)          # ALU r/m, reg: memory is the destination
    return True


def _rewrite_illegal_lock(case: Case):
    insns, stop = decode_all(case.code, case.mode)
    bad = [d for d in insns if d.lock and not lock_is_legal(d)]
    if not bad:
        return None
    code = bytearray(case.code)
    for d in bad:
        code[d.offset:d.offset + 2] = b"\x0f\x0b"          # UD2 faults at the same rip
    return replace(case, code=bytes(code))


def _rewrite_lock_neg(case: Case):
    insns, stop = decode_all(case.code, case.mode)
    bad = [d for d in insns if d.lock and d.mnemonic == "NEG" and lock_is_legal(d)]
    if not bad:
        return None
    code = bytearray(case.code)
    for d in bad:
        segs = [p for p in d.prefixes if p in (0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65)]
        if segs:
            seg = segs[-1]
        elif case.mode == 32 and d.addrsize == 32 and _base_is_stack(d):
            seg = 0x36
        else:
            seg = 0x3E
        pos = d.offset + d.prefixes.index(0xF0) + _stale_rex_count(case.code, d)
        assert code[pos] == 0xF0
        code[pos] = seg
    return replace(case, code=bytes(code))


def _rewrite_riprel_shxd_imm(case: Case):
    if case.mode != 64:
        return None
    insns, stop = decode_all(case.code, 64)
    bad = [d for d in insns if d.map == 1 and d.op in (0xA4, 0xAC) and d.extra.get("riprel")]
    if not bad:
        return None
    code = bytearray(case.code)
    for d in bad:
        pos = d.offset + d.disp_offset
        disp = (int.from_bytes(code[pos:pos + 4], "little") + 1) & 0xFFFFFFFF
        code[pos:pos + 4] = disp.to_bytes(4, "little")
    return replace(case, code=bytes(code))


def _rewrite_popcnt_66_rexw(case: Case):
    if case.mode != 64:
        return None
    insns, stop = decode_all(case.code, 64)
    bad = [d for d in insns if d.mnemonic == "POPCNT" and 0x66 in d.prefixes and d.rex & 8]
    if not bad:
        return None
    code = bytearray(case.code)
    for d in bad:
        segs = [p for p in d.prefixes if p in (0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65)]
        pos = d.offset
        while code[pos] != 0x66:
            pos += 1
        code[pos] = segs[-1] if segs else 0x3E     # same length; REX.W already wins over 66
    return replace(case, code=bytes(code))


def _base_is_stack(d) -> bool:
    if d.sib is not None:
        return not (d.mod == 0 and d.sib & 7 == 5) and (d.sib & 7) in (4, 5)
    return not (d.mod == 0 and d.modrm & 7 == 5) and (d.modrm & 7) in (4, 5)


def _stale_rex_count(code: bytes, d) -> int:
    """Bytes before the LOCK prefix that are not in d.prefixes (REX bytes
    followed by legacy prefixes)."""
    pos, n = d.offset, 0
    while code[pos] != 0xF0:
        if 0x40 <= code[pos] <= 0x4F:
            n += 1
        pos += 1
    return n


KNOWN_UNICORN_BUGS = [
    KnownBug(
        name="illegal LOCK",
        sdm="LOCK is legal only with ADD ADC AND BTC BTR BTS CMPXCHG CMPXCHG8B/16B DEC INC "
            "NEG NOT OR SBB SUB XOR XADD XCHG and a memory destination; anything else "
            "raises #UD (Vol. 2A, LOCK)",
        unicorn="executes many of them (LOCK MOV/TEST/LEA/PUSH/MOVS, LOCK XCHG/XADD with "
                "register operands, LOCK BT [mem]...), and *aborts the process* (a QEMU "
                "assertion) on LOCK BT/BTS/BTR/BTC with a register operand (e.g. "
                "F0 0F BA E8 04).  Rewrite: such an instruction becomes UD2, which faults "
                "at the same rip with the same state",
        rewrite=_rewrite_illegal_lock,
    ),
    KnownBug(
        name="LOCK NEG flags",
        sdm="LOCK has no effect on the result or the flags of NEG (Vol. 2A LOCK, Vol. 2B NEG)",
        unicorn="LOCK NEG m8/m16/m32/m64 stores the right value but sets SF and PF wrongly "
                "(e.g. NEG of 0x12345678 gives EFLAGS 0x17 instead of 0x97).  Rewrite: the "
                "LOCK byte becomes a segment prefix naming the segment already in effect",
        rewrite=_rewrite_lock_neg,
    ),
    KnownBug(
        name="RIP-relative SHLD/SHRD imm8",
        sdm="a RIP-relative operand is relative to the end of the instruction, immediate "
            "included (Vol. 2A 2.2.1.6)",
        unicorn="for SHLD/SHRD r/m, r, imm8 (0F A4 / 0F AC) the address is computed as if "
                "the imm8 were not there: one byte too low.  (Other imm8 forms are right.)  "
                "Rewrite: add 1 to the disp32 so Unicorn accesses the right address",
        rewrite=_rewrite_riprel_shxd_imm,
    ),
    KnownBug(
        name="POPCNT with 66 and REX.W",
        sdm="REX.W takes precedence over the 66 operand-size prefix (Vol. 2A 2.2.1.2): "
            "66 REX.W F3 0F B8 is POPCNT r64, r/m64",
        unicorn="computes a 16-bit POPCNT (writes only the low 16 bits of the destination, "
                "counts only 16 source bits).  Other instructions (LZCNT, TZCNT, ALU...) are "
                "right.  Rewrite: the 66 byte becomes a segment prefix that changes nothing",
        rewrite=_rewrite_popcnt_66_rexw,
    ),
    KnownBug(
        name="lazy flags across instructions of one translation block",
        sdm="every instruction sees the EFLAGS the previous one left; faults are precise "
            "(Vol. 3A 6.5)",
        unicorn="QEMU computes EFLAGS lazily (cc_op) and does not always settle them inside "
                "a translation block: after a fault in mid-block (UC_ERR_*_UNMAPPED, #DE) "
                "the EFLAGS read back are stale (NEG BH; MOV EAX,[unmapped] or NEG BH; "
                "DIV ECX(=0) give OF=1 AF=0 instead of NEG's flags), and CMPXCHG8B right "
                "after SBB clobbers CF/AF/... (SBB AX,-1; CMPXCHG8B [mem] ends with "
                "EFLAGS=0x2 instead of 0x13).  Handled in the oracle: run_unicorn "
                "single-steps (one emu_start per instruction, each its own block).  "
                "Single-stepping in turn breaks self-modifying code (a store into the code "
                "page restarts the instruction), so when the code page is written the "
                "oracle runs the case again in one emu_start, and if that run faults in "
                "mid-block, once more up to the faulting instruction, whose state (faults "
                "are precise) it reports with the fault",
        handled_by="run_unicorn(single_step=True)",
    ),
    KnownBug(
        name="instruction overwriting itself",
        sdm="an instruction that stores over its own bytes completes as fetched; the new "
            "bytes matter only for later fetches (Vol. 3A 11.6, self-modifying code)",
        unicorn="QEMU notices the store into the running translation block, restarts the "
                "instruction and executes the modified bytes.  Handled in the oracle: such "
                "a case ends with Result.oracle_error (not compared)",
        handled_by="run_unicorn (code-page write hook)",
    ),
    KnownBug(
        name="ENTER with a 16-bit operand size",
        sdm="66 ENTER: BP := FrameTemp, a 16-bit write; the upper bits of EBP/RBP are "
            "unchanged (Vol. 2A ENTER, Operation)",
        unicorn="writes the whole (E/R)SP into (E/R)BP (66 C8 04 01 03 with ESP=0x20FF00 "
                "gives EBP=0x20FEFE instead of 0x0000FEFE).  Handled in the oracle: after a "
                "16-bit ENTER the single-step loop restores the upper bits of RBP",
        handled_by="run_unicorn (single-step loop)",
    ),
    KnownBug(
        name="C6/C7 with REX.R",
        sdm="REX.R is ignored when the ModRM reg field is an opcode extension (Vol. 2A "
            "2.2.1.2): C6 /0 and C7 /0 (MOV r/m, imm) with REX.R are plain MOVs",
        unicorn="raises #UD (QEMU checks ((modrm>>3)&7)|REX.R == 0).  Rewrite: run the "
                "same code with REX.R cleared on those instructions (equivalent per the SDM)",
        rewrite=_rewrite_rexr_c6c7,
    ),
    KnownBug(
        name="LAHF/SAHF with REX",
        sdm="LAHF loads AH and SAHF reads AH whatever the prefixes (REX has no effect on "
            "them; Vol. 2A LAHF, Vol. 2B SAHF)",
        unicorn="with any REX prefix they use SPL instead of AH (QEMU decodes register 4 of "
                "a byte operation with REX as SPL).  Rewrite: replace the REX byte by a DS "
                "prefix (same length, no effect)",
        rewrite=_rewrite_rex_lahf_sahf,
    ),
    KnownBug(
        name="non-canonical address",
        sdm="64-bit mode: a memory reference to a non-canonical linear address raises "
            "#GP(0), or #SS(0) when it goes through SS (Vol. 3A 3.3.7.1, Vol. 1 3.3.7.1)",
        unicorn="no canonical check: the address is truncated (0x8000000000000000 reads "
                "address 0) or misses the memory map (UC_ERR_*_UNMAPPED).  The Unicorn oracle "
                "checks the operands of every instruction in 64-bit mode and stops before one "
                "that would touch a non-canonical address, reporting -1 (registers as at the "
                "fault); this correction turns that -1 into #GP(0)/#SS(0)",
        correct=_correct_noncanonical,
    ),
]

# x87/SSE classes: explained by class in the campaign (emu/fuzz/unicorn_fp.py)
KNOWN_UNICORN_BUGS += [
    KnownBug(name=f"x87/SSE: {c.name}", sdm=c.sdm, unicorn=c.unicorn,
             handled_by="campaign: explained by class (emu/fuzz/unicorn_fp.py), "
                        "the host CPU referees floating point")
    for c in unicorn_fp.CLASSES]


def _rerun_unicorn(case, **kw):
    from .unicorn_oracle import run_unicorn
    return run_unicorn(case, **kw)


def rewrite_for_unicorn(case: Case, bugs=None) -> tuple:
    """(the case Unicorn should run, names of the rewrites that applied)."""
    applied = []
    for bug in (KNOWN_UNICORN_BUGS if bugs is None else bugs):
        if bug.rewrite is not None:
            c2 = bug.rewrite(case)
            if c2 is not None:
                case = c2
                applied.append(bug.name)
    return case, applied


def apply_known_bugs(case: Case, res: Result, bugs=None, rerun=None) -> tuple:
    """Return (corrected Unicorn result, names of the corrections that applied)."""
    rerun = rerun or _rerun_unicorn
    ucase, _ = rewrite_for_unicorn(case, bugs)
    applied = []
    for bug in (KNOWN_UNICORN_BUGS if bugs is None else bugs):
        if bug.correct is not None:
            fixed = bug.correct(ucase, res, rerun)
            if fixed is not None:
                res = fixed
                applied.append(bug.name)
    return res, applied


# ---------------------------------------------------------------------------
# Comparison


#: Instructions whose results legitimately depend on the machine: port I/O
#: (the emulator has devices, Unicorn and the host do not), CPUID, RDTSC.
MACHINE_DEPENDENT = frozenset(("IN", "OUT", "INS", "OUTS", "CPUID", "RDTSC"))


def comparable(case: Case, analysis=None):
    """None if the case's results can be compared, else the reason."""
    fa = analysis or analyze(case.code, case.mode, case.regs)
    for d in fa.insns:
        if d.mnemonic in MACHINE_DEPENDENT:
            return f"{d.mnemonic} at +{d.offset:#x} depends on the machine"
    if fa.consumed:
        o, mn, f = fa.consumed[0]
        return f"{mn} at +{o:#x} may read undefined {flag_names(f)}"
    if fa.undefined_dest:
        o, mn = fa.undefined_dest[0]
        return f"{mn} at +{o:#x} may leave its destination undefined"
    return None


def _hex(v):
    return f"{v:#x}" if isinstance(v, int) else repr(v)


def memory_diffs(a: bytes, b: bytes, base: int, limit: int = 4) -> list:
    """Lines describing where two memory images differ (at most `limit`
    runs of up to 16 bytes), found with slice comparisons first so equal
    64 KiB images cost little."""
    out = []
    n = min(len(a), len(b))
    i = 0
    step = 1024
    while i < n and len(out) < limit:
        if a[i:i + step] == b[i:i + step]:
            i += step
            continue
        stop = min(n, i + step)
        while i < stop and len(out) < limit:
            if a[i] != b[i]:
                j = i
                while j < n and j - i < 16 and a[j] != b[j]:
                    j += 1
                out.append(f"mem[{base + i:#x}..{base + j - 1:#x}]: {a[i:j].hex()} != "
                           f"{b[i:j].hex()}")
                i = j
            else:
                i += 1
    if len(a) != len(b):
        out.append(f"memory sizes differ: {len(a)} != {len(b)}")
    return out


def compare(case: Case, a: Result, b: Result, names=("unicorn", "emu"), analysis=None,
            known_bugs=None, rerun=None) -> list:
    """Differences between results `a` and `b` of `case` (named `names`), as
    readable strings; [] when they agree or cannot be compared.

    The side named 'unicorn' is first corrected for KNOWN_UNICORN_BUGS
    (`known_bugs` overrides the list; `rerun(case, **kw)` runs Unicorn again
    with the options that produced its result, default run_unicorn)."""
    if a.oracle_error or b.oracle_error:
        return []
    fa = analysis or analyze(case.code, case.mode, case.regs)
    if comparable(case, fa) is not None:
        return []
    notes = []
    if "unicorn" in names:
        k = names.index("unicorn")
        fixed, applied = apply_known_bugs(case, (a, b)[k], known_bugs, rerun)
        if applied:
            a, b = (fixed, b) if k == 0 else (a, fixed)
            notes = [f"(unicorn corrected for known bug: {', '.join(applied)})"]
    na, nb = names
    diffs = []
    if a.vector != b.vector:
        diffs.append(f"vector: {na}={vector_name(a.vector)} {nb}={vector_name(b.vector)}")
    pc = "rip" if case.mode == 64 else "eip"
    pa, pb = a.regs.get(pc), b.regs.get(pc)
    if pa != pb:
        diffs.append(f"{pc}: {na}={_hex(pa)} {nb}={_hex(pb)}")
    for n in gpr_names(case.mode):
        va, vb = a.regs.get(n), b.regs.get(n)
        if va != vb:
            diffs.append(f"{n}: {na}={_hex(va)} {nb}={_hex(vb)}")
    mask = fa.mask_at(pa) if pa == pb else (fa.mask_at(pa or 0) | fa.mask_at(pb or 0))
    fl_a, fl_b = a.regs.get("eflags", 0), b.regs.get("eflags", 0)
    d = (fl_a ^ fl_b) & FLAGS_MASK & ~mask
    if d:
        diffs.append(f"eflags: {na}={fl_a:#x} {nb}={fl_b:#x} differ in {flag_names(d)}"
                     + (f" (ignoring undefined {flag_names(mask)})" if mask else ""))
    diffs += memory_diffs(a.data, b.data, DATA_BASE)
    diffs += fpu_diffs(case.mode, a.fpu, b.fpu, names)
    if a.outside_digest and b.outside_digest and a.outside_digest != b.outside_digest:
        diffs.append(f"memory below {DATA_BASE:#x} (outside the scratch area) differs")
    if diffs:
        diffs += notes
    return diffs


# ---------------------------------------------------------------------------
# Describing, saving and loading cases


def disassemble(case: Case) -> list:
    """One line per instruction (capstone when installed, else hex)."""
    offs = boundaries(case.code, case.mode) or [0]
    ends = offs[1:] + [len(case.code)]
    try:
        import capstone
        md = capstone.Cs(capstone.CS_ARCH_X86,
                         capstone.CS_MODE_64 if case.mode == 64 else capstone.CS_MODE_32)
    except ImportError:
        md = None
    lines = []
    for s, e in zip(offs, ends):
        chunk = case.code[s:e]
        text = ""
        if md is not None:
            got = next(md.disasm(chunk, CODE_BASE + s, 1), None)
            if got is not None:
                text = f"{got.mnemonic} {got.op_str}".strip()
        lines.append(f"{CODE_BASE + s:#x}: {chunk.hex():<30} {text}")
    return lines


def describe(case: Case) -> str:
    regs = ", ".join(f"{k}={int(v):#x}" for k, v in case.regs.items())
    return "\n".join([f"mode {case.mode}, count {case.count}", *disassemble(case), regs])


def save_reproducer(path, case: Case, diffs=None, note: str | None = None) -> None:
    """Write `case` as JSON (Case.from_json reads it back; the extra keys
    'disasm', 'diffs' and 'note' are for humans)."""
    d = json.loads(case.to_json())
    d["disasm"] = disassemble(case)
    if diffs:
        d["diffs"] = list(diffs)
    if note:
        d["note"] = note
    with open(path, "w") as f:
        json.dump(d, f, indent=1, sort_keys=True)
        f.write("\n")


def load_reproducer(path) -> Case:
    with open(path) as f:
        return Case.from_json(f.read())


# ---------------------------------------------------------------------------
# Shrinking


def _edit_code(code: bytes, mode: int, drop=None, drop_prefix=None):
    """Rebuild `code` without instruction `drop` (an index), or without the
    byte at `drop_prefix` = (instruction index, byte index), fixing up
    relative branches to instructions of the sequence.  None if impossible."""
    insns, stop = decode_all(code, mode)
    if stop != len(code):
        offs = boundaries(code, mode)
        if offs is None or drop is None:
            return None
        ends = offs[1:] + [len(code)]
        return b"".join(code[s:e] for k, (s, e) in enumerate(zip(offs, ends)) if k != drop)
    n = len(insns)
    index = {d.offset: k for k, d in enumerate(insns)}
    index[len(code)] = n
    chunks = []
    keep = []
    for k, d in enumerate(insns):
        if k == drop:
            continue
        c = bytearray(code[d.offset:d.end])
        if drop_prefix is not None and drop_prefix[0] == k:
            j = drop_prefix[1]
            if j >= d.length - 1:
                return None
            del c[j]
        chunks.append(c)
        keep.append(k)
    # new offsets by old index (a dropped instruction maps to the next kept one)
    new_off = {}
    pos = 0
    for k, c in zip(keep, chunks):
        new_off[k] = pos
        pos += len(c)
    end = pos
    nxt = end
    for k in range(n, -1, -1):
        if k in new_off:
            nxt = new_off[k]
        else:
            new_off[k] = nxt
    new_off[n] = end
    out = bytearray()
    for k, c in zip(keep, chunks):
        d_old = insns[k]
        d_new = decode(bytes(c), 0, mode)
        if d_new is None or d_new.length != len(c):
            return None
        if d_old.rel is not None and d_new.rel is not None:
            t_old = d_old.branch_target
            if t_old in index:
                rel = new_off[index[t_old]] - (new_off[k] + len(c))
                lim = 1 << (8 * d_new.rel_size - 1)
                if not -lim <= rel < lim:
                    return None
                c[d_new.imm_offset:d_new.imm_offset + d_new.rel_size] = \
                    (rel & ((1 << (8 * d_new.rel_size)) - 1)).to_bytes(d_new.rel_size, "little")
        out += c
    return bytes(out)


def _candidates(case: Case):
    mode = case.mode
    insns, stop = decode_all(case.code, mode)
    n = len(boundaries(case.code, mode) or insns)
    # 1. drop whole instructions (last first: later ones rarely matter)
    for k in range(n - 1, -1, -1):
        c = _edit_code(case.code, mode, drop=k)
        if c is not None and c != case.code:
            yield replace(case, code=c)
    # 2. drop prefix bytes (legacy prefixes and REX)
    if stop == len(case.code):
        for k, d in enumerate(insns):
            npre = len(d.prefixes) + (1 if d.rex else 0)
            for j in range(npre):
                c = _edit_code(case.code, mode, drop_prefix=(k, j))
                if c is not None:
                    yield replace(case, code=c)
    # 3. registers: drop (zero), then simplify
    for name in list(case.regs):
        regs = dict(case.regs)
        del regs[name]
        yield replace(case, regs=regs)
    for name, v in case.regs.items():
        for simpler in (0, 1, v & 0xFF, v & 0xFFFF, v & 0xFFFFFFFF):
            if simpler < v:
                regs = dict(case.regs)
                regs[name] = simpler
                yield replace(case, regs=regs)
    # 4. data
    if any(case.data):
        yield replace(case, data=b"")
        if len(case.data) > 16:
            yield replace(case, data=case.data[:len(case.data) // 2])
    # 5. count
    if case.count > n:
        yield replace(case, count=max(1, n))


def shrink(case: Case, predicate: Callable[[Case], bool], max_tries: int = 3000) -> Case:
    """Greedily simplify `case` while `predicate(case)` stays true (e.g. "the
    engines still disagree"): drop instructions (fixing branches), drop
    prefixes, zero/simplify registers, clear data, lower count."""
    best = case
    tries = 0
    progress = True
    while progress and tries < max_tries:
        progress = False
        for cand in _candidates(best):
            tries += 1
            if tries > max_tries:
                break
            try:
                ok = predicate(cand)
            except Exception:
                ok = False
            if ok:
                best = cand
                progress = True
                break
    return best


def differs(case: Case, run_a, run_b, names=("unicorn", "emu")) -> list:
    """Run `case` on two oracles and compare."""
    return compare(case, run_a(case), run_b(case), names)
