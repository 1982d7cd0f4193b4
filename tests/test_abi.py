"""The paravirtual ABI is defined once, in paravirt/include/pvemu_abi.h:
paravirt/abi.py's layouts (derived from the header's struct definitions)
against what gcc computes for i386 and x86-64 guests, the header's own
_Static_assert checks against both, and the guests' pv_ops table
(guests/lib/pvops.h) against the supervisor's (paravirt/pvops.py)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from paravirt import abi
from paravirt.pvops import PvOpsTable

ROOT = Path(__file__).resolve().parent.parent
PVOPS_H = ROOT / "guests" / "lib" / "pvops.h"
GCC = shutil.which("gcc")


def gcc(bits, source, tmp_path, *flags):
    """gcc -m<bits> on `source` (freestanding: no libc is needed for
    -m32); skip when this gcc cannot target the width."""
    if GCC is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / "layout.c"
    src.write_text(source)
    p = subprocess.run([GCC, f"-m{bits}", "-std=c11", "-ffreestanding", "-Wall", "-Werror",
                        f"-I{abi.HEADER.parent}", *flags, str(src)], capture_output=True, text=True)
    if p.returncode and re.search(r"unrecognized|not supported|cannot find|bits/", p.stderr):
        pytest.skip(f"gcc cannot build {bits}-bit code here: {p.stderr.strip().splitlines()[0]}")
    return p


def measured(bits, tmp_path):
    """{struct: (size, {field: (offset, size)})} as gcc -m<bits> lays the
    header's structs out: every number is emitted into a table of the
    assembly (plus one, so none is folded into a run of zeros) and read
    back, so nothing has to run on a 32-bit libc."""
    names, values = [], []
    for name, layout in abi.STRUCTS.items():
        names.append((name, None))
        values.append(f"sizeof(struct pvemu_{name})")
        for field in layout.fields:
            names.append((name, field))
            values.append(f"__builtin_offsetof(struct pvemu_{name}, {field})")
            values.append(f"sizeof(((struct pvemu_{name} *)0)->{field})")
    source = ('#include "pvemu_abi.h"\nconst unsigned int pvemu_layout[] = {\n'
              + ",\n".join(f"    {v} + 1" for v in values) + "\n};\n")
    p = gcc(bits, source, tmp_path, "-S", "-o", "-")
    assert p.returncode == 0, p.stderr
    table = p.stdout[p.stdout.index("pvemu_layout:"):]
    numbers = [int(n) - 1 for n in re.findall(r"^\s*\.long\s+(\d+)", table, re.M)][:len(values)]
    assert len(numbers) == len(values)
    out, it = {}, iter(numbers)
    for name, field in names:
        if field is None:
            out[name] = (next(it), {})
        else:
            out[name][1][field] = (next(it), next(it))
    return out


@pytest.mark.parametrize("bits", [32, 64])
def test_layouts_match_gcc(bits, tmp_path):
    gcc_layouts = measured(bits, tmp_path)
    assert set(gcc_layouts) == set(abi.STRUCTS)
    for name, layout in abi.STRUCTS.items():
        size, fields = gcc_layouts[name]
        assert size == layout.size == layout.struct.size, name
        for field, f in layout.fields.items():
            assert fields[field] == (f.offset, f.size), f"pvemu_{name}.{field} ({bits}-bit)"


def test_layouts_cover_every_struct_in_the_header():
    text = abi.HEADER.read_text()
    defined = set(re.findall(r"^struct pvemu_(\w+)\s*\{", text, re.M))
    assert defined == set(abi.STRUCTS) and len(defined) >= 20


def test_static_asserts_state_the_derived_layouts():
    """The header checks each struct's size and every field's offset, with
    the numbers abi.py derives."""
    text = abi.HEADER.read_text()
    sizes = {s: int(n) for s, n in re.findall(r"PVEMU_SIZE\((\w+), (\d+)\);", text)}
    offsets = {(s, f): int(n) for s, f, n in re.findall(r"PVEMU_AT\((\w+), (\w+), (\d+)\);", text)}
    assert sizes == {name: layout.size for name, layout in abi.STRUCTS.items()}
    assert offsets == {(name, field): f.offset for name, layout in abi.STRUCTS.items()
                       for field, f in layout.fields.items() if "." not in field}


@pytest.mark.parametrize("bits", [32, 64])
def test_static_asserts_hold_and_catch_a_wrong_offset(bits, tmp_path):
    p = gcc(bits, '#include "pvemu_abi.h"\n', tmp_path, "-fsyntax-only")
    assert p.returncode == 0, p.stderr
    wrong = abi.HEADER.read_text().replace("PVEMU_AT(mmuext_op, arg1, 8);", "PVEMU_AT(mmuext_op, arg1, 12);")
    assert "arg1, 12" in wrong
    (tmp_path / "pvemu_abi.h").write_text(wrong)
    p = gcc(bits, '#include "pvemu_abi.h"\n', tmp_path, "-fsyntax-only")     # the copy beside it
    assert p.returncode != 0 and "pvemu_mmuext_op.arg1" in p.stderr


def test_layout_use():
    si = abi.struct("shared_info")
    assert si.offset("vcpu.upcall_mask") == 1 and si.offset("vcpu.time.tsc_shift") == 16 + 28
    assert si.offset("evtchn_pending") == 64 and si.fields["evtchn_mask"].count == 8
    op = abi.struct("mmuext_op")
    assert op.unpack(op.pack(abi.MMUEXT_NEW_BASEPTR, 0, 0x1000, 0)) == (abi.MMUEXT_NEW_BASEPTR, 0, 0x1000, 0)
    offset, s = si.span("balloon_target", "max_pages")
    assert (offset, s.size) == (208, 24)
    with pytest.raises(KeyError, match="no struct pvemu_nothing"):
        abi.struct("nothing")


def test_parser_refuses_what_the_abi_cannot_hold():
    with pytest.raises(ValueError, match="laid out differently for i386 and x86-64"):
        abi._structs("struct pvemu_x { uint32_t a; uint64_t b; };", {})
    with pytest.raises(ValueError, match="uintptr_t is not a fixed-width type"):
        abi._structs("struct pvemu_x { uintptr_t a; };", {})
    with pytest.raises(ValueError, match="not defined before it"):
        abi._structs("struct pvemu_x { struct pvemu_y y; };", {})
    (layout,) = abi._structs("struct pvemu_x { uint8_t a[PVEMU_N]; uint16_t b, c; };", {"N": 2}).values()
    assert layout.format == "2sHH" and layout.offset("c") == 4


def guest_pvops():
    """{group.operation} of the guests' struct pv_*_ops."""
    if not PVOPS_H.exists():
        pytest.skip("guests/lib/pvops.h is not here (not a source checkout)")
    names = set()
    for group, body in re.findall(r"struct pv_(\w+)_ops \{(.*?)\};", PVOPS_H.read_text(), re.S):
        names |= {f"{group}.{op}" for op in re.findall(r"\(\s*\*\s*(\w+)\s*\)", body)}
    return names


def test_guest_and_supervisor_pvops_name_the_same_operations():
    guest = guest_pvops()
    assert len(guest) >= 30
    table = PvOpsTable()
    ours = {op.name for op in table if op.in_guests}
    assert guest - ours == set(), "in guests/lib/pvops.h but not in paravirt/pvops.py"
    assert ours - guest == set(), "marked in_guests in paravirt/pvops.py but not in guests/lib/pvops.h"
    for op in table:
        assert not op.in_guests or op.hypercall is not None, f"{op.name}: a guest operation with no PV form"
