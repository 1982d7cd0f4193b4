"""Instruction traces: each instruction a line of address, bytes and (with
capstone) disassembly, written as the guest runs.

The core steps the machine and writes a 32-byte record per traced
instruction (Machine.trace_steps, trace.pxi); here each distinct record --
address, mode, code bytes -- is disassembled and formatted once, and later
executions of it reuse the line, so a trace costs a dictionary lookup per
instruction.  `pvemu run --trace N` uses this.

    from emu.trace import trace
    with open("trace.txt", "w") as f:
        ex = trace(machine, 1_000_000, out=f)     # None if 1e6 lines were written
"""
from __future__ import annotations

import struct
import sys
from typing import Optional, Tuple

RECORD = 32                 #: bytes per record (trace.pxi)
BATCH = 1 << 16             #: records per call into the core
MAX_CACHED = 1 << 20        #: distinct lines kept before the cache starts over

_HEADER = struct.Struct("<QHBB")


class Tracer:
    """Formats trace records; keeps the lines of the records it has seen."""

    def __init__(self):
        self.lines = {}
        try:
            import capstone
        except ImportError:
            self.disasm = {}
        else:
            self.disasm = {mode: capstone.Cs(capstone.CS_ARCH_X86, cs_mode) for mode, cs_mode in
                           ((16, capstone.CS_MODE_16), (32, capstone.CS_MODE_32),
                            (64, capstone.CS_MODE_64))}

    def line(self, record: bytes) -> str:
        """The text of one record: address, bytes, disassembly, newline."""
        rip, cs, mode, n = _HEADER.unpack_from(record)
        code = record[12:12 + n]
        text = ""
        md = self.disasm.get(mode)
        if md is not None and code:
            insn = next(md.disasm(code, rip), None)
            text = f"{insn.mnemonic} {insn.op_str}".strip() if insn else "(not decoded by capstone)"
        where = f"{cs:04x}:{rip:04x}" if mode == 16 else f"{rip:#010x}"
        return f"{where}  {code.hex(' '):<30} {text}\n"

    def text(self, records: bytes) -> str:
        """The lines of a run of records."""
        lines = self.lines
        if len(lines) > MAX_CACHED:
            lines.clear()
        out = []
        append = out.append
        for k in range(0, len(records), RECORD):
            rec = records[k:k + RECORD]
            s = lines.get(rec)
            if s is None:
                s = lines[rec] = self.line(rec)
            append(s)
        return "".join(out)


def trace(m, count: int, address_range: Optional[Tuple[int, int]] = None, out=None,
          tracer: Optional[Tracer] = None):
    """Run `m` instruction by instruction, writing a line for each of the
    first `count` instructions executed, or for those whose address lies in
    address_range (start, end) until `count` lines were written.  Returns
    the Exit that stopped the stepping, or None when `count` lines were
    written (the machine then stands at the next instruction)."""
    out = out if out is not None else sys.stderr
    tracer = tracer or Tracer()
    lo, hi = address_range if address_range is not None else (0, (1 << 64) - 1)
    buf = bytearray(RECORD * min(max(count, 1), BATCH))
    written = 0
    while written < count:
        want = min(count - written, BATCH)
        n, ex = m.trace_steps(buf, want, lo, hi)
        out.write(tracer.text(bytes(buf[:n * RECORD])))
        written += n
        if ex is not None:
            return ex
    return None
