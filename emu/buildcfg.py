"""How the core is compiled: shared by setup.py and by the test that checks
the generated C keeps Python out of the instruction handlers."""

import os

# -O2: as fast as -O3 (measured on the workload and the benchmark suite, in
# CPU time and callgrind counts) and compiles 15% quicker.
# PVEMU_DEV_BUILD=1: -O1 for a quicker compile while developing (slower core).
_OPT = "-O1" if os.environ.get("PVEMU_DEV_BUILD") else "-O2"
# No debug information unless PVEMU_DEBUG_INFO=1: Python's own CFLAGS carry
# -g, which makes the core 9 MB instead of 1 MB and its compile a third
# slower (measured); the symbol table stays for perf and gdb backtraces.
_DEBUG = "-g" if os.environ.get("PVEMU_DEBUG_INFO") else "-g0"
# -fno-tree-slp-vectorize: GCC's -O2 packs a lazy-flag record's 8-byte
# stores into SSE moves, two host instructions more each time (measured:
# callgrind suite 64-bit 15.79 -> 15.71, matrix 14.40 -> 14.24; no change
# in 32-bit).
_CODEGEN = [_OPT, _DEBUG, "-fno-tree-slp-vectorize", "-fno-strict-aliasing"]
# -flto: the core is one C file of 15 MB (Cython makes one per module), 70%
# of whose compile time is generating code for its ~2,500 handlers one by
# one.  With link-time optimization the compile only parses it; the link
# splits the functions into partitions that gcc compiles in parallel
# (-flto=auto: one per CPU), with the same flags (measured on 2 cores: 91 s
# -> 42 s of wall time).
CFLAGS = _CODEGEN + ["-flto", "-Wno-unused-function", "-Wno-unreachable-code"]
LDFLAGS = _CODEGEN + ["-flto=auto"] + ([] if os.environ.get("PVEMU_DEBUG_INFO") else ["-Wl,--strip-debug"])

# `cdef inline` must inline: the handler templates rely on it to fold their
# constant size and form arguments.
MACROS = [("CYTHON_INLINE", "inline __attribute__((always_inline))")]
# Dev builds check that every handler returning to the run loop set CPU.cur
# (emu/dispatch.h).
if os.environ.get("PVEMU_DEV_BUILD"):
    MACROS.append(("PV_CUR_CHECK", "1"))

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,          # C division: no ZeroDivisionError check (and no GIL) in handlers
    "embedsignature": True,
}
