"""Run a :class:`~emu.fuzz.case.Case` on ``emu.Machine`` and return a
:class:`~emu.fuzz.case.Result`.

The machine gets flat RAM from 0 to DATA_BASE + DATA_SIZE (so the code page
and the scratch area sit at their fixed addresses), the case's registers and
EFLAGS, and ``run(start=CODE_BASE, until=case.end, count=case.count)``.

Exit reasons map to ``Result.vector``: 'until', 'count', 'hlt', 'stop' and
'debug-exit' -> None (the final rip tells where it stopped), 'exception' ->
the exception vector, 'unmapped' -> -1; any other reason (e.g. 'triple-fault',
which flat mode should never produce) -> ``oracle_error``.  A Python exception out of the core is an emulator
bug: it is reported in ``Result.oracle_error`` (prefixed 'emu raised'), and the
differential tests fail on it.

``decode_cache=False`` gives the self-oracle: the same core decoding every
instruction afresh.
"""
from __future__ import annotations

import traceback

from .case import CODE_BASE, DATA_BASE, DATA_SIZE, Case, Result, gpr_names
from .fpstate import sanitize_image
from .unicorn_oracle import case_regs, outside_digest

MEMORY = DATA_BASE + DATA_SIZE


def available() -> bool:
    try:
        import emu._core  # noqa: F401
        from emu import Machine  # noqa: F401
    except ImportError:
        return False
    return True


def _machine_class():
    try:
        from emu import Machine
    except ImportError as e:
        raise ImportError("the emu oracle needs the built core: run "
                          "'python setup.py build_ext --inplace' (%s)" % e) from e
    return Machine


def run_emu(case: Case, *, decode_cache: bool = True, digest: bool = True, patch=None) -> Result:
    """Run `case` on emu.Machine; see the module docstring.  patch, a
    list of (k, fn) in increasing k: after the first k instructions (if
    the case gets that far), fn(machine) changes the state and the run
    goes on (emu.fuzz.approx: a transcendental's result moved by one ulp)."""
    Machine = _machine_class()
    mode = case.mode
    names = gpr_names(mode)
    pc = "rip" if mode == 64 else "eip"
    regs = case_regs(case)
    m = None
    try:
        m = Machine(mode=mode, memory=MEMORY, decode_cache=decode_cache)
        m.mem_write(CODE_BASE, bytes(case.code))
        if case.data:
            m.mem_write(DATA_BASE, bytes(case.data[:DATA_SIZE]))
        for n in names:
            m.reg_write(n, regs[n])
        m.reg_write("eflags", regs["eflags"])
        if case.fpu is not None:
            m.set_fpu_image(sanitize_image(case.fpu))
        done = 0                  # instructions run so far
        ex = None
        for k, fn in patch or ():
            ex = m.run(start=CODE_BASE if ex is None else None, until=case.end,
                       count=min(k, case.count) - done)
            if ex.reason != "count" or k > case.count:
                break
            done = k
            fn(m)
            if done == case.count:
                break             # (a change after the last instruction)
        else:
            ex = m.run(start=CODE_BASE if ex is None else None, until=case.end,
                       count=case.count - done)
        reason = ex.reason
        err = None
        if reason == "exception":
            vector = ex.vector
            if vector is None:
                err = "emu: exit reason 'exception' without a vector"
        elif reason == "unmapped":
            vector = -1
        elif reason in ("until", "count", "hlt", "stop", "debug-exit"):
            vector = None         # stopped; the final rip says where ('debug-exit': OUT to 0xF4)
        else:
            vector = None
            err = f"emu: unknown exit reason {reason!r}"
        out = {n: m.reg_read(n) for n in names}
        out[pc] = m.reg_read(pc)
        out["eflags"] = m.reg_read("eflags")
        data = bytes(m.mem_read(DATA_BASE, DATA_SIZE))
        dig = None
        if digest:
            dig = outside_digest(bytes(m.mem_read(0, DATA_BASE)), case.code)
        fpu = m.fpu_image() if case.fpu is not None else None
        return Result(regs=out, data=data, vector=vector, oracle_error=err, outside_digest=dig,
                      fpu=fpu)
    except Exception as e:  # an emulator bug: report it, don't crash the campaign
        tb = traceback.format_exc(limit=4)
        return Result(regs={}, data=b"", vector=None,
                      oracle_error=f"emu raised {type(e).__name__}: {e}\n{tb}")
