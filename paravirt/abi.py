"""The hypercall ABI's numbers, read from the header guests include
(paravirt/include/pvemu_abi.h), so C and Python cannot disagree.

Every ``#define PVEMU_NAME value`` with an integer value becomes an
attribute ``NAME`` here (``abi.HC_console_io == 18``).  Structure layouts
are given as struct formats next to the code that reads them.
"""
from __future__ import annotations

import re
from pathlib import Path

HEADER = Path(__file__).with_name("include") / "pvemu_abi.h"

_DEFINE = re.compile(r"^#define\s+PVEMU_(\w+)\s+(\(?[0-9xXa-fA-Fu<\s()]+\)?)(?:\s|/\*|$)")


def _parse(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        m = _DEFINE.match(line)
        if not m:
            continue
        expr = m.group(2).strip().replace("u", "")
        if not re.fullmatch(r"[0-9xXa-fA-F<\s()]+", expr):
            continue
        out[m.group(1)] = int(eval(expr, {"__builtins__": {}}))   # digits, <<, () only
    return out


CONSTANTS = _parse(HEADER.read_text())
globals().update(CONSTANTS)
SIGNATURE = b"pvemupvemupv"


def names(prefix: str) -> dict:
    """{value: name} of the constants starting with prefix, e.g. names('HC_')."""
    return {v: k[len(prefix):] for k, v in CONSTANTS.items() if k.startswith(prefix)}
