"""Shared helpers for the core tests: run a few bytes of code on a fresh
machine and read the result."""
from emu import Machine

CODE = 0x1000
DATA = 0x8000
STACK = 0xF000

def seg_desc(base: int, limit: int, access: int, flags: int) -> bytes:
    """A GDT/LDT segment descriptor: 20-bit limit, access byte, flags nibble (G D/B L AVL)."""
    return ((limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (access << 40) | (((limit >> 16) & 0xF) << 48)
            | (flags << 52) | ((base >> 24) << 56)).to_bytes(8, "little")


CF, PF, AF, ZF, SF, TF, IF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
ARITH = CF | PF | AF | ZF | SF | OF


def set_state(m, values, data: bytes):
    """A fresh run's registers (`values`, the stack pointer at STACK, eflags
    0x2) and `data` at DATA; the code stays as it is."""
    m.mem_write(DATA, data)
    for name, v in values.items():
        m.reg_write(name, v)
    m.reg_write("rsp" if m.mode == 64 else "esp", STACK)
    m.reg_write("eflags", 0x2)


def run_code(code: bytes, mode: int = 32, regs=None, data: bytes = b"", memory=1 << 20,
             count=1000, expect="end", **kw):
    """Place `code` at CODE followed by HLT, set registers, run; return
    (machine, exit).  The run must end as `expect` says: "end" (the default)
    = at the HLT after the code, so a #UD or a fault cannot pass for a
    result; another string = that exit reason, anywhere; None = any way."""
    m = Machine(mode=mode, memory=memory, **kw)
    m.mem_write(CODE, code + b"\xf4")
    if data:
        m.mem_write(DATA, data)
    m.reg_write("rsp" if mode == 64 else "esp", STACK)
    for name, value in (regs or {}).items():
        m.reg_write(name, value)
    ex = m.run(start=CODE, count=count)
    if expect == "end":
        assert (ex.reason, ex.address) == ("hlt", CODE + len(code)), \
            "%s: expected the HLT at %#x, got %s" % (code.hex(), CODE + len(code), ex)
    elif expect is not None:
        assert ex.reason == expect, "%s: expected a %r exit, got %s" % (code.hex(), expect, ex)
    return m, ex


def stops_at(m, address, how, state, times, count=10_000):
    """Stop at `address` by `until` or a breakpoint (how: "until" or
    "breakpoints") and step off it, up to `times` times or until a HLT:
    each stop's (reason, instructions) + state(m), as a tuple."""
    stops = []
    for _ in range(times):
        if how == "until":
            ex = m.run(until=address, count=count)
        else:
            m.set_breakpoints([address])
            ex = m.run(count=count)
            m.set_breakpoints([])
        stops.append((ex.reason, ex.instructions) + state(m))
        if ex.reason == "hlt":
            break
        m.run(count=1)                         # step off it
    return tuple(stops)


def parity(v: int) -> int:
    return PF if bin(v & 0xFF).count("1") % 2 == 0 else 0


def pvemu_cli(*args, timeout=120):
    """Run the `pvemu` command (`python -m pvemu ARGS`) as a user would: from a neutral directory (so
    the source tree does not shadow the installed package), with any
    PYTHONPATH made absolute."""
    import subprocess
    import sys
    import tempfile
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, "-m", "pvemu", *map(str, args)], capture_output=True,
                              timeout=timeout, cwd=cwd, env=subprocess_env())


def subprocess_env():
    """The environment for a child Python that must import the same emu as
    the tests: the installed package (CI), or the source tree named by
    PYTHONPATH while developing; PYTHONPATH made absolute.  Start the child
    in NEUTRAL_CWD, so `python -m emu` does not pick up an unbuilt tree."""
    import os
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep))
    return env


NEUTRAL_CWD = __import__("tempfile").gettempdir()


def domains_ending(sup):
    """How each domain of a supervisor ended, to compare two runs (save and
    restore, migration): state, counters, console and machine digest."""
    from emu.replay import machine_digest
    return {d.name: (d.state, d.reason, d.stats["instructions"], d.machine.virtual_time,
                     bytes(d.console_out), machine_digest(d.machine)) for d in sup.domains.values()}
