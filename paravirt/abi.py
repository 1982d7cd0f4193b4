"""The hypercall ABI, read from the header guests include
(paravirt/include/pvemu_abi.h), so C and Python cannot disagree.

Every ``#define PVEMU_NAME value`` with an integer value becomes an
attribute ``NAME`` here (``abi.HC_console_io == 18``).  Every
``struct pvemu_NAME`` becomes a Layout (``abi.struct('mmuext_op')``): a
little-endian ``struct.Struct`` over its bytes plus the offset of each
field, derived from the definition as gcc lays it out.  The ABI is the same
for i386 and x86-64 guests, so a struct whose layout would differ between
the two (a uint64_t that i386 aligns to 4) is refused here, as the header's
_Static_assert checks refuse it in C.
"""
from __future__ import annotations

import re
import struct as _struct
from pathlib import Path
from typing import NamedTuple

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


# ---- struct layouts

# The fixed-width types the ABI may use: struct format character, size.
_SCALARS = {"uint8_t": ("B", 1), "int8_t": ("b", 1), "uint16_t": ("H", 2), "int16_t": ("h", 2),
            "uint32_t": ("I", 4), "int32_t": ("i", 4), "uint64_t": ("Q", 8), "int64_t": ("q", 8)}
_STRUCT = re.compile(r"\bstruct\s+pvemu_(\w+)\s*\{(.*?)\}\s*;", re.S)
_MEMBER = re.compile(r"^(struct\s+pvemu_\w+|\w+)\s+(.+)$", re.S)
_DECLARATOR = re.compile(r"^(\w+)\s*(?:\[\s*(\w+)\s*\])?$")


class Field(NamedTuple):
    offset: int     # from the start of the outermost struct
    size: int       # bytes, the whole array for an array
    count: int      # array length, 1 for a scalar or a struct
    type: str       # 'uint32_t', or 'struct pvemu_vcpu_info'
    format: str     # its struct format (no byte order)


class Layout:
    """One struct of the header.  ``unpack_from``, ``pack``, ``pack_into``,
    ``unpack`` and ``size`` are those of a little-endian ``struct.Struct``
    whose values are the fields in order (arrays and nested structs
    flattened; uint8_t arrays as one bytes value; padding skipped).
    ``fields`` maps each field's dotted name ('vcpu.upcall_mask', 'args')
    to its Field; ``offset(name)`` is its offset."""

    def __init__(self, name: str, size: int, align: int, fmt: str, fields: dict):
        self.name = name
        self.align = align
        self.fields = fields
        self.struct = s = _struct.Struct("<" + fmt)
        if s.size != size:
            raise AssertionError(f"struct pvemu_{name}: format {fmt!r} is {s.size} bytes, not {size}")
        self.size = size
        self.format = fmt
        self.pack, self.pack_into = s.pack, s.pack_into
        self.unpack, self.unpack_from = s.unpack, s.unpack_from

    def offset(self, name: str) -> int:
        return self.fields[name].offset

    def span(self, first: str, last: str = ""):
        """(offset, struct.Struct) of the fields first..last of one level
        (e.g. 'balloon_target'..'max_pages'; last defaults to first), to
        read or write them alone."""
        depth, lo, hi = first.count("."), self.offset(first), self.offset(last or first)
        fmt, at = "<", lo
        for name, f in self.fields.items():
            if name.count(".") == depth and lo <= f.offset <= hi:
                fmt += f"{f.offset - at}x" * (f.offset > at) + f.format
                at = f.offset + f.size
        return lo, _struct.Struct(fmt)

    def __repr__(self) -> str:
        return f"<struct pvemu_{self.name}: {self.size} bytes, {self.format!r}>"


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", " ", text, flags=re.S))


def _members(name: str, body: str, constants: dict):
    """(type, field name, count) of each member of a struct body."""
    for decl in filter(None, (d.strip() for d in body.split(";"))):
        m = _MEMBER.match(decl)
        if not m:
            raise ValueError(f"struct pvemu_{name}: cannot read member {decl!r}")
        ctype = re.sub(r"\s+", " ", m.group(1))
        for d in m.group(2).split(","):
            dm = _DECLARATOR.match(d.strip())
            if not dm:
                raise ValueError(f"struct pvemu_{name}: cannot read declarator {d.strip()!r}")
            n = dm.group(2)
            count = 1 if n is None else int(n, 0) if n[0].isdigit() else constants[n.removeprefix("PVEMU_")]
            yield ctype, dm.group(1), count


def _lay_out(name: str, members, done: dict, wide: bool):
    """(size, alignment, format, fields) under i386 rules (wide=False:
    8-byte members aligned to 4) or x86-64's (aligned to 8)."""
    offset, align, fmt, fields = 0, 1, "", {}
    for ctype, fname, count in members:
        if ctype.startswith("struct "):
            inner = ctype.split("_", 1)[1]
            if inner not in done:
                raise ValueError(f"struct pvemu_{name}.{fname}: struct pvemu_{inner} is not defined before it")
            isize, ialign, ifmt, ifields = done[inner][wide]
            code, size, a = ifmt * count, isize, ialign
        elif ctype in _SCALARS:
            code, size = _SCALARS[ctype]
            a = size if wide or size < 8 else 4
            code = f"{count}s" if code == "B" and count > 1 else code * count
            ifields = {}
        else:
            raise ValueError(f"struct pvemu_{name}.{fname}: {ctype} is not a fixed-width type")
        pad = -offset % a
        fmt += f"{pad}x" if pad else ""
        offset += pad
        fields[fname] = Field(offset, size * count, count, ctype, code)
        for sub, f in ifields.items():
            fields[f"{fname}.{sub}"] = f._replace(offset=offset + f.offset)
        fmt += code
        offset += size * count
        align = max(align, a)
    tail = -offset % align
    return offset + tail, align, fmt + (f"{tail}x" if tail else ""), fields


def _structs(text: str, constants: dict) -> dict:
    done, out = {}, {}
    for m in _STRUCT.finditer(_strip_comments(text)):
        name = m.group(1)
        members = list(_members(name, m.group(2), constants))
        i386, x86_64 = (_lay_out(name, members, done, wide) for wide in (False, True))
        if (i386[0], i386[3]) != (x86_64[0], x86_64[3]):
            raise ValueError(f"struct pvemu_{name} is laid out differently for i386 and x86-64 guests "
                             "(give its 64-bit fields explicit padding)")
        done[name] = {False: i386, True: x86_64}
        size, align, fmt, fields = x86_64
        out[name] = Layout(name, size, align, fmt, fields)
    return out


_TEXT = HEADER.read_text()
CONSTANTS = _parse(_TEXT)
globals().update(CONSTANTS)
STRUCTS = _structs(_TEXT, CONSTANTS)
SIGNATURE = b"pvemupvemupv"


def struct(name: str) -> Layout:
    """The Layout of `struct pvemu_<name>`."""
    try:
        return STRUCTS[name]
    except KeyError:
        raise KeyError(f"pvemu_abi.h defines no struct pvemu_{name}; it has {', '.join(STRUCTS)}") from None


def names(prefix: str) -> dict:
    """{value: name} of the constants starting with prefix, e.g. names('HC_')."""
    return {v: k[len(prefix):] for k, v in CONSTANTS.items() if k.startswith(prefix)}
