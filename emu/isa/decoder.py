"""The decode tree built from the opcode table's rows, and a Python walk of
it: the same tree ``emu/gen_opmap.py`` flattens into the core's C array, so
the fuzz decoders and the core decide length and validity alike.

For every opcode (map, byte) the tree selects, in this order and only where
the opcode's rows differ: by mode (64-bit or not: ``i64``/``o64`` rows), by
mandatory prefix (the last of F2/F3, else 66, else none), by REX.W, by
ModRM.reg, by ModRM.mod (memory or register form) and by ModRM.rm.  Each
leaf is one row's register or memory form, or None (#UD).
"""
from __future__ import annotations

from emu.isa import layout
from emu.isa.table import RowError

# Selector kinds, in tree order, and their number of children.
SELECTORS = (("mode", 2), ("prefix", 4), ("w", 2), ("reg", 8), ("mod", 2), ("rm", 8))
PREFIX_SLOTS = ("NP", "66", "F3", "F2")
FORMS = ("mem", "reg")              # ModRM.mod != 3, == 3


class Leaf:
    """A decoded form: the row (None: #UD), its handler and flags."""
    __slots__ = ("row", "form", "handler", "has_modrm", "imm")

    def __init__(self, row, form, handler, has_modrm, imm):
        self.row, self.form, self.handler = row, form, handler
        self.has_modrm, self.imm = has_modrm, imm

    def key(self):
        return (id(self.row), self.handler, self.imm)

    @property
    def flags(self):
        return self.row.flags if self.row is not None else frozenset()


def row_imm(r):
    """The row's immediate kind, with moffs counted as one."""
    return "moffs" if "moffs" in r.flags else r.imm


def _candidates(rows, mode, prefix, w, reg, form, rm):
    """The rows that cover one cell, with their specificity."""
    out = []
    for r in rows:
        if r.prefix is not None and prefix is not None and r.prefix != prefix:
            continue
        if r.rexw and w is not None and not w:
            continue
        mr = r.modrm_reg
        if mr is not None and reg is not None and mr != reg:
            continue
        if form is not None and r.has_modrm:
            if form == "mem" and (r.mem_handler is None or isinstance(r.modrm, tuple)):
                continue
            if form == "reg" and r.reg_handler is None:
                continue
        rr = r.modrm_rm
        if rr is not None and rm is not None and rr != rm:
            continue
        mode_score = 0
        if "i64" in r.flags:
            mode_score = -1 if mode == 64 else 1
        elif "o64" in r.flags:
            mode_score = 1 if mode == 64 else -1
        spec = (mode_score, r.prefix is not None, r.rexw, mr is not None, rr is not None)
        out.append((spec, r))
    return out


def _pick(rows, cell):
    cands = _candidates(rows, *cell)
    if not cands:
        return None
    cands.sort(key=lambda c: c[0], reverse=True)
    if len(cands) > 1 and cands[0][0] == cands[1][0]:
        a, b = cands[0][1], cands[1][1]
        raise RowError(f"{a.name}: conflicts with {b.name} (both decode the same encoding)")
    return cands[0][1]


def _used_dims(rows):
    """Which selectors the opcode's rows need."""
    has_modrm = rows[0].has_modrm
    return {
        "mode": any(r.flags & {"i64", "o64"} for r in rows) and len(rows) > 1,
        "prefix": any(r.prefix is not None for r in rows),
        "w": any(r.rexw for r in rows),
        "reg": has_modrm and any(r.modrm_reg is not None for r in rows),
        "mod": has_modrm and "mreg" not in rows[0].flags,
        "rm": any(r.modrm_rm is not None for r in rows),
    }


def _leaf(r, map_, op, form, reg, mode):
    has_modrm, imm = layout.shape(map_, op, reg)
    if r is None:
        return Leaf(None, form, None, has_modrm, imm)
    handler = r.mem_handler if form == "mem" else r.reg_handler
    if handler is None:
        return Leaf(None, form, None, has_modrm, row_imm(r))
    return Leaf(r, form, handler, has_modrm, row_imm(r))


def _build(rows, map_, op, dims, cell, depth):
    if depth == len(SELECTORS):
        r = _pick(rows, cell) if rows else None
        mode, _, _, reg, form, _ = cell
        return _leaf(r, map_, op, form, reg, mode)
    name, n = SELECTORS[depth]
    if not dims.get(name):
        return _build(rows, map_, op, dims, cell, depth + 1)
    values = {"mode": (32, 64), "prefix": PREFIX_SLOTS, "w": (False, True), "reg": range(8),
              "mod": FORMS, "rm": range(8)}[name]
    kids = []
    for v in values:
        c = list(cell)
        c[depth] = v
        kids.append(_build(rows, map_, op, dims, tuple(c), depth + 1))
    if all(_same(k, kids[0]) for k in kids[1:]):
        return kids[0]
    return (name, kids)


def _same(a, b):
    if isinstance(a, Leaf) and isinstance(b, Leaf):
        return a.key() == b.key()
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a[0] == b[0] and len(a[1]) == len(b[1]) and all(map(_same, a[1], b[1]))
    return False


def _check_opcode(rows):
    """Rows of one opcode must agree on ModRM and with the layout."""
    first = rows[0]
    for r in rows:
        if r.has_modrm != first.has_modrm:
            raise RowError(f"{r.name}: has {'a' if r.has_modrm else 'no'} ModRM byte but "
                           f"{first.name} has {'one' if first.has_modrm else 'none'}")
        if ("mreg" in r.flags) != ("mreg" in first.flags):
            raise RowError(f"{r.name}: disagrees with {first.name} on mreg")
        for map_, op in r.opcodes:
            has_modrm, imm = layout.shape(map_, op, r.modrm_reg)
            want = row_imm(r)
            if has_modrm != r.has_modrm or imm != want:
                raise RowError(f"{r.name}: the opcode's layout is "
                               f"{'ModRM' if has_modrm else 'no ModRM'} with immediate {imm}, "
                               f"the row says {'ModRM' if r.has_modrm else 'no ModRM'} "
                               f"with immediate {want}")


def by_opcode(rows):
    """{(map, op): [rows]}"""
    out = {}
    for r in rows:
        for key in r.opcodes:
            out.setdefault(key, []).append(r)
    return out


def check_conflicts(rows):
    """Raise RowError for duplicate or conflicting rows."""
    build_trees(rows)


def build_trees(rows):
    """{(map, op): tree} for every opcode of the four maps; a tree is a Leaf
    or (selector name, [children])."""
    grouped = by_opcode(rows)
    trees = {}
    for map_, m in enumerate(layout.MAPS):
        for op in range(256):
            if m[op] not in layout.SHAPES:
                continue
            rs = grouped.get((map_, op), [])
            if rs:
                _check_opcode(rs)
            dims = _used_dims(rs) if rs else {}
            if not rs and m[op] in "fF":
                dims = {"reg": True}
            trees[(map_, op)] = _build(rs, map_, op, dims, (None,) * 6, 0)
    for key in grouped:
        if key not in trees:
            r = grouped[key][0]
            raise RowError(f"{r.name}: the opcode is a prefix or escape byte")
    return trees


_TREES = None


def trees():
    global _TREES
    if _TREES is None:
        from emu.isa.table import rows
        _TREES = build_trees(rows())
    return _TREES


def walk(tree, mode, prefix_slot, rexw, modrm, mreg=False):
    """The leaf for one encoding (modrm None when the opcode has none)."""
    node = tree
    while not isinstance(node, Leaf):
        name, kids = node
        if name == "mode":
            k = mode == 64
        elif name == "prefix":
            k = PREFIX_SLOTS.index(prefix_slot)
        elif name == "w":
            k = bool(rexw)
        elif name == "reg":
            k = (modrm >> 3) & 7
        elif name == "mod":
            k = 1 if (modrm >> 6) == 3 or mreg else 0
        else:
            k = modrm & 7
        node = kids[int(k)]
    return node


def prefix_slot(prefixes):
    """The mandatory-prefix column selected by legacy prefixes: the last of
    F2/F3, else 66, else none."""
    rep = None
    for p in prefixes:
        if p in (0xF2, 0xF3):
            rep = p
    if rep is not None:
        return "F3" if rep == 0xF3 else "F2"
    return "66" if 0x66 in prefixes else "NP"


def has_modrm(map_, op):
    """Whether the opcode takes a ModRM byte (from the layout)."""
    return layout.shape(map_, op)[0]


def is_mreg(map_, op):
    return map_ == 1 and op in layout.MREG_0F


def lookup(mode, prefixes, rex, map_, op, modrm):
    """The Leaf for an instruction: its row (None if undefined), immediate
    kind and validity in `mode`."""
    return walk(trees()[(map_, op)], mode, prefix_slot(prefixes), rex & 8, modrm,
                is_mreg(map_, op))


def valid(leaf, mode, lock, modrm):
    """Whether the decoded form executes (else #UD): a row, allowed in this
    mode, LOCK only where the row allows it with a memory operand."""
    f = leaf.flags
    if leaf.row is None or ("i64" in f and mode == 64) or ("o64" in f and mode != 64):
        return False
    if lock and not ("lock" in f and modrm is not None and (modrm >> 6) != 3):
        return False
    return True


def imm_size(kind, mode, osz, asz):
    """Bytes of an immediate (or relative, moffs, far pointer) of `kind`;
    osz/asz in bytes (osz after d64/f64 adjustment)."""
    if kind is None:
        return 0
    return {"ib": 1, "cb": 1, "iw": 2, "id": 4, "iw ib": 3,
            "iz": 2 if osz == 2 else 4, "cz": 2 if osz == 2 else 4,
            "iv": osz, "moffs": asz, "cp": (2 if osz == 2 else 4) + 2}[kind]


def iter_leaves(tree, path=()):
    """(path, leaf) for every leaf; path is ((selector, index), ...)."""
    if isinstance(tree, Leaf):
        yield path, tree
        return
    name, kids = tree
    for k, kid in enumerate(kids):
        yield from iter_leaves(kid, path + ((name, k),))


__all__ = ["Leaf", "build_trees", "trees", "walk", "lookup", "prefix_slot", "imm_size",
           "iter_leaves", "row_imm", "valid", "SELECTORS", "PREFIX_SLOTS"]
