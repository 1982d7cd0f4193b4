"""The unit of differential testing: one instruction sequence, its starting
state, and the state an engine (or the host CPU) leaves behind.

Every oracle takes a :class:`Case` and returns a :class:`Result`; the
comparison in :mod:`emu.fuzz.compare` never needs to know which engine made
a result.  The memory layout is fixed so that the host CPU can reproduce it at
the same virtual addresses inside a sandboxed child process.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

CODE_BASE = 0x100000          #: where the case's code is placed
CODE_SIZE = 0x1000            #: one page of code
DATA_BASE = 0x200000          #: scratch memory that memory operands point into
DATA_SIZE = 0x10000           #: 64 KiB of scratch (the stack lives at its top)
STACK_TOP = DATA_BASE + DATA_SIZE - 0x100

GPR64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
GPR32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")

#: The arithmetic flags that results compare (CF PF AF ZF SF OF) and DF.
FLAGS_MASK = 0x8D5 | 0x400


def gpr_names(mode: int):
    """Register names that make up a case's state in `mode` (32 or 64)."""
    return GPR64 if mode == 64 else GPR32


@dataclass
class Case:
    """One test case.

    mode   -- 32 or 64
    code   -- the instruction bytes, placed at CODE_BASE; execution starts there
              and ends when it reaches CODE_BASE + len(code), after `count`
              instructions, or at the first exception
    regs   -- initial general registers by name (names of `gpr_names(mode)`);
              missing ones are 0.  'eflags' may be given too.
    data   -- initial contents of the scratch area at DATA_BASE (zero-padded)
    count  -- the most instructions to run
    fpu    -- None (the FPU/SSE in their initial state, not compared), or a
              512-byte FXSAVE64 image of the starting x87/SSE state; results
              then carry the final image (see emu.fuzz.fpstate)
    """
    mode: int
    code: bytes
    regs: dict = field(default_factory=dict)
    data: bytes = b""
    count: int = 16
    fpu: bytes | None = None

    @property
    def end(self) -> int:
        return CODE_BASE + len(self.code)

    def to_json(self) -> str:
        d = {"mode": self.mode, "code": self.code.hex(),
             "regs": {k: int(v) for k, v in self.regs.items()},
             "data": self.data.hex(), "count": self.count}
        if self.fpu is not None:
            d["fpu"] = bytes(self.fpu).hex()
        return json.dumps(d, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Case":
        d = json.loads(text)
        return cls(mode=int(d["mode"]), code=bytes.fromhex(d["code"]),
                   regs={k: int(v) for k, v in d.get("regs", {}).items()},
                   data=bytes.fromhex(d.get("data", "")),
                   count=int(d.get("count", 16)),
                   fpu=bytes.fromhex(d["fpu"]) if d.get("fpu") is not None else None)


@dataclass
class Result:
    """What an engine left after running a case.

    regs     -- final general registers (names of `gpr_names(mode)`) plus
                'rip'/'eip' and 'eflags'
    data     -- the final scratch area (DATA_SIZE bytes)
    vector   -- None if execution reached the end; else the exception vector
                (0 #DE, 1 #DB, 3 #BP, 5 #BR, 6 #UD, 13 #GP, 14 #PF, ...) or
                -1 for an access outside mapped memory
    oracle_error -- set (a message) when the oracle itself failed (crash,
                hang, unsupported instruction); such a result is not compared
    fpu      -- the final FXSAVE64 image when the case had one (else None)
    outside_digest -- optional: a digest of the memory below DATA_BASE (code
                page included) for engines with flat RAM there (emu.Machine,
                Unicorn in its default flat layout); compared only when both
                results have one
    """
    regs: dict
    data: bytes
    vector: int | None = None
    oracle_error: str | None = None
    outside_digest: str | None = None
    fpu: bytes | None = None
