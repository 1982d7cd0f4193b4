"""Differential testing of the emulator.

A :class:`Case` (code + initial registers + scratch data, at the fixed layout
of :mod:`emu.fuzz.case`) runs on several *oracles*, each returning a
:class:`Result`:

* :func:`run_emu` (:mod:`emu.fuzz.emu_oracle`) -- ``emu.Machine``; with
  ``decode_cache=False`` it is the self-oracle;
* :func:`run_unicorn` (:mod:`emu.fuzz.unicorn_oracle`) -- Unicorn / QEMU TCG
  (optional dependency);
* the host CPU (:mod:`emu.fuzz.host`, when built).

:func:`compare` (:mod:`emu.fuzz.compare`) reports their differences, masking
the flags the Intel SDM leaves undefined (the table and classifier in
:mod:`emu.fuzz.flags`) and correcting documented Unicorn bugs
(``KNOWN_UNICORN_BUGS``); :func:`shrink` minimises a failing case and
:func:`save_reproducer` writes it as JSON.  Cases come from the hypothesis
strategies of :mod:`emu.fuzz.strategies` (``cases(mode)``, ``raw_cases(mode)``).

Importing this package needs neither the built core nor Unicorn nor
hypothesis; the strategies module needs hypothesis.
"""
from .case import (CODE_BASE, CODE_SIZE, DATA_BASE, DATA_SIZE, FLAGS_MASK, STACK_TOP, Case,
                   Result, gpr_names)
from .compare import (KNOWN_UNICORN_BUGS, comparable, compare, describe, load_reproducer,
                      save_reproducer, shrink)
from .emu_oracle import run_emu
from .flags import TABLE as FLAGS_TABLE, analyze as analyze_flags, undefined_mask
from .unicorn_oracle import run_unicorn

__all__ = [
    "CODE_BASE", "CODE_SIZE", "DATA_BASE", "DATA_SIZE", "FLAGS_MASK", "STACK_TOP", "Case",
    "Result", "gpr_names", "KNOWN_UNICORN_BUGS", "comparable", "compare", "describe",
    "load_reproducer", "save_reproducer", "shrink", "run_emu", "run_unicorn", "FLAGS_TABLE",
    "analyze_flags", "undefined_mask",
]
