"""The 32-bit memory-operand forms of the specialized variants (K_MEM32,
K_MEM32X: memory.pxi mem_kind), chosen while the segment bases are 0 (the
flat key): the linear address is the segment base plus the offset, both
modulo 2^32, with a DS base of 0 (the flat forms) and not 0 (the generic
forms), an offset that wraps and a base + offset that wraps; and a base
that changes between two runs of a decoded block.  Each instruction runs
twice, so the second run takes the variant's TLB-hit path."""
import pytest

from emu import Machine
from helpers import CODE, STACK

M32 = 0xFFFFFFFF

# (name, bytes, scale of ecx or None for no index, displacement)
FORMS = [
    ("mov eax,[ebx+d32]", bytes.fromhex("8b83") + (0x2010).to_bytes(4, "little"), None, 0x2010),
    ("mov eax,[ebx+ecx*4+8]", bytes.fromhex("8b448b08"), 2, 8),
    ("add eax,[ebx+ecx*4+8]", bytes.fromhex("03448b08"), 2, 8),
    ("movzx eax,byte [ebx+0x10]", bytes.fromhex("0fb64310"), None, 0x10),
    ("imul eax,[ebx+0x10]", bytes.fromhex("0faf4310"), None, 0x10),
    ("mov [ebx+0x10],edx", bytes.fromhex("895310"), None, 0x10),
    ("lea eax,[ebx+ecx*4+8]", bytes.fromhex("8d448b08"), 2, 8),
]

# (DS base, ebx, ecx): the offset wraps, base + offset wraps, neither.
CASES = [(0, 0xFFFFFFF0, 0x40000400), (0, 0x7F00, 0x4), (0x7000, 0xFFFFFFF8, 0x3FE),
         (0xFFFFF000, 0x9000, 0x10), (0x100, 0x7F00, 0x4)]


def run32(code, regs, la, value, m=None):
    """Run code twice on a 32-bit machine (m, or a new one) with `value` at
    linear address la."""
    m = m or Machine(mode=32, memory=1 << 20)
    m.mem_write(CODE, code + code + b"\xf4")
    m.mem_write(la, value.to_bytes(4, "little"))
    m.reg_write("esp", STACK)
    for r, v in regs.items():
        m.reg_write(r, v)
    ex = m.run(start=CODE, count=100)
    assert (ex.reason, ex.address) == ("hlt", CODE + 2 * len(code)), ex
    return m


@pytest.mark.parametrize("name,code,scale,disp", FORMS, ids=[f[0] for f in FORMS])
@pytest.mark.parametrize("base,ebx,ecx", CASES)
def test_32bit_forms_add_the_segment_base_modulo_4g(name, code, scale, disp, base, ebx, ecx):
    offset = (ebx + (ecx << scale if scale is not None else 0) + disp) & M32
    la = (base + offset) & M32
    value = 0x81234567
    m = run32(code, {"eax": 3, "ebx": ebx, "ecx": ecx, "edx": 0x55AA1234, "ds_base": base}, la, value)
    op = name.split()[0]
    if op == "lea":
        assert m.reg_read("eax") == offset                      # no segment base
    elif name.startswith("mov ["):
        assert int.from_bytes(m.mem_read(la, 4), "little") == 0x55AA1234
    else:
        expect = {"mov": value, "add": 3 + 2 * value, "movzx": value & 0xFF, "imul": 3 * value * value}[op]
        assert m.reg_read("eax") == expect & M32


def test_a_segment_base_change_is_seen_by_decoded_blocks():
    """The same block, decoded while DS was flat, then run with a DS base
    and flat again: each run reads through the base it has then."""
    code = bytes.fromhex("8b4310")                              # mov eax, [ebx+0x10]
    m = None
    for base, value in ((0, 0x11111111), (0x2000, 0x22222222), (0, 0x33333333)):
        m = run32(code, {"ebx": 0x6000 - 0x10, "ds_base": base}, 0x6000 + base, value, m)
        assert m.reg_read("eax") == value, hex(base)
