"""Dynamic frequency of adjacent instruction pairs across the benchmark suite
(a dev tool: it chose the fused pairs of gen_variants.py PAIRS).

Each program runs on Unicorn with a block hook; every executed basic block
is disassembled with capstone once, and each adjacent pair in it counts the
block's executions.  An instruction is named by its form, as the core's
variants are (`mov r32,r32`, `rol r32,i`, `add r64,m`); a flag writer whose
flags the next flag writer of its basic block overwrites unread gets `/nf`
(an approximation of the core's flag liveness, which also looks past
not-taken Jcc).  Shares are of all guest instructions of the program,
averaged over the programs (each program weighs the same).

    PYTHONPATH=$PWD python benchmarks/pair_freq.py [--top 40] [--core] [PROGRAM...]

--core names them by the handlers the core's decoder, flag liveness and
fusion give them (a fused pair counted as its two halves), exactly.
"""
from __future__ import annotations

import argparse
import collections
import os

from emu import bench

FLAG_BITS = None


def _flag_bits():
    from capstone import x86_const as X
    mod = test = 0
    for name in dir(X):
        v = getattr(X, name)
        if name.startswith("X86_EFLAGS_") and any(f in name for f in ("_CF", "_ZF", "_SF", "_OF", "_PF", "_AF")):
            if name.startswith(("X86_EFLAGS_MODIFY_", "X86_EFLAGS_RESET_", "X86_EFLAGS_SET_",
                                "X86_EFLAGS_UNDEFINED_")):
                mod |= v
            elif name.startswith("X86_EFLAGS_TEST_"):
                test |= v
    return mod, test


def form(insn, mode) -> str:
    """The core's generic handler and the operand forms, e.g. `mov_EG r32,r32`."""
    from capstone import x86_const as X
    from emu._core import decode_info
    name = decode_info(mode, bytes(insn.bytes))[1][2:]
    if name in ("shl", "shr", "sar", "rol", "ror"):
        name += "_%x" % insn.opcode[0]          # C1 (by imm), D1 (by 1), D3 (by CL)
    ops = []
    for op in insn.operands:
        if op.type == X.X86_OP_REG:
            ops.append("r%d" % (op.size * 8))
        elif op.type == X.X86_OP_IMM:
            ops.append("i")
        else:
            ops.append("m")
    return name + (" " + ",".join(ops) if ops else "")


def block_forms(insns, mode) -> list:
    """form() of each instruction, with /nf on flag writers whose flags are dead."""
    mod_bits, test_bits = FLAG_BITS
    names = [form(i, mode) for i in insns]
    for k, i in enumerate(insns):
        if not (i.eflags & mod_bits):
            continue
        for j in insns[k + 1:]:
            if j.eflags & test_bits:
                break
            if (j.eflags & mod_bits) and j.mnemonic not in ("inc", "dec", "rol", "ror", "rcl", "rcr"):
                names[k] += "/nf"
                break
    return names


_SYMBOLS = {}


def symbol(addr) -> str:
    """The name of the core's handler at host address addr (its symbol)."""
    if not _SYMBOLS:
        import subprocess
        from emu import _core
        path = os.path.realpath(_core.__file__)
        with open("/proc/self/maps") as f:
            base = min(int(line.split("-")[0], 16) for line in f if line.rstrip().endswith(path))
        out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and "_5_core_" in parts[2]:
                _SYMBOLS[base + int(parts[0], 16)] = parts[2].split("_5_core_", 1)[1]
    return _SYMBOLS.get(addr, hex(addr))


def core_names(m, addr, k) -> list:
    """The handlers the core gives the first k instructions of the block it
    decodes at addr (flag liveness and fusion as in a real run; a fused
    pair's first named by its own variant), or None."""
    m.run(start=addr, count=1)              # decodes the block (whatever the one instruction does)
    names = m.decoded_handlers(addr)
    if names is None or len(names) <= k:
        return None
    names = [n if isinstance(n, str) else symbol(n) for n in names[:k]]
    return ["v_" + n[2:].split("__")[0] if n.startswith("p_") else n for n in names]


def count(wl, rounds, core=False) -> tuple:
    """(pair counter, instruction count) of one workload run on Unicorn;
    core: name the instructions by the core's handlers (core_names)."""
    import capstone
    import unicorn as U
    uc = bench.prepare_unicorn(wl, rounds)
    hits = collections.Counter()
    sizes = {}

    def on_block(uc, addr, size, _):
        hits[addr] += 1
        sizes[addr] = size
    uc.hook_add(U.UC_HOOK_BLOCK, on_block)
    bench.run_unicorn(wl, rounds, uc=uc)
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if wl.mode == 64 else capstone.CS_MODE_32)
    md.detail = True
    pairs = collections.Counter()
    total = 0
    m = bench.prepare_emu(wl, rounds) if core else None
    for addr, n in hits.items():
        insns = list(md.disasm(bytes(uc.mem_read(addr, sizes[addr])), addr))
        names = (core and core_names(m, addr, len(insns))) or block_forms(insns, wl.mode)
        total += n * len(names)
        for a, b in zip(names, names[1:]):
            pairs[a, b] += n
    return pairs, total


def main():
    global FLAG_BITS
    ap = argparse.ArgumentParser()
    ap.add_argument("programs", nargs="*")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--core", action="store_true", help="name instructions by the core's variants")
    args = ap.parse_args()
    FLAG_BITS = _flag_bits()
    runs = []
    if not args.programs or "workload" in args.programs:
        runs += [("workload-%d" % w, bench.load_workload(w), 2) for w in (32, 64)]
    progs = [p for p in args.programs if p != "workload"]
    if progs or not args.programs:
        runs += [("%s-%d" % (w.name, w.mode), w, w.quick_rounds) for w in bench.load_suite(progs or None)]
    share = collections.Counter()
    per = {}
    for name, wl, rounds in runs:
        pairs, total = count(wl, rounds, args.core)
        per[name] = {p: n / total for p, n in pairs.items()}
        for p, n in pairs.items():
            share[p] += n / total / len(runs)
    print("%-40s %7s %7s  %s" % ("pair", "mean%", "max%", "where max"))
    for p, s in share.most_common(args.top):
        best = max(per, key=lambda k: per[k].get(p, 0))
        print("%-40s %7.2f %7.2f  %s" % (" ; ".join(p), 100 * s, 100 * per[best][p], best))


if __name__ == "__main__":
    main()
