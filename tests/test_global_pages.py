"""Global pages (CR4.PGE, PTE.G) in the software TLB, and the jump cache
forgotten by generation on CR3 loads."""
import pytest

from emu import Machine

# 32-bit paging with 4 MiB pages; PD A (0x100000) maps linear 0x400000 to
# physical 0x400000 with G set, PD B (0x101000) maps it to physical 0.  With
# CR4.PGE the global translation survives a CR3 load until INVLPG; clearing
# CR4.PGE drops it (and G means nothing while PGE is clear).  The guest
# (32-bit, at 0x1000): CR4 = PSE|PGE, CR3 = A, CR0.PG; then logs [0x400000]
# at 0x6000.. after: -; CR3 = B; INVLPG [0x400000]; CR3 = A; CR4.PGE = 0 and
# CR3 = B; CR3 = A, a read, CR3 = B.
GLOBAL_GUEST = bytes.fromhex(
    "0f20e00d900000000f22e0b8000010000f22d80f20c00d000000800f22c0a100004000a3006000"
    "00b8001010000f22d8a100004000a3046000000f013d00004000a100004000a308600000b80000"
    "10000f22d8a100004000a30c6000000f20e0257fffffff0f22e0b8001010000f22d8a10000400"
    "0a310600000b8000010000f22d8a100004000b8001010000f22d8a100004000a314600000f4")


@pytest.mark.parametrize("decode_cache", [True, False])
def test_global_pages_survive_cr3_loads(decode_cache):
    m = Machine(mode=32, memory=8 << 20, decode_cache=decode_cache)
    pd_a = (0x83).to_bytes(4, "little") + (0x400000 | 0x183).to_bytes(4, "little")
    pd_b = (0x83).to_bytes(4, "little") + (0x000000 | 0x83).to_bytes(4, "little")
    m.mem_write(0x100000, pd_a)
    m.mem_write(0x101000, pd_b)
    m.mem_write(0x400000, b"AAAA")
    m.mem_write(0x000000, b"BBBB")
    m.mem_write(0x1000, GLOBAL_GUEST)
    ex = m.run(start=0x1000, count=1000)
    assert ex.reason == "hlt", str(ex)
    log = [m.mem_read(0x6000 + 4 * k, 4) for k in range(6)]
    assert log == [b"AAAA", b"AAAA", b"BBBB", b"AAAA", b"BBBB", b"BBBB"]


# The jump cache is forgotten by generation (CPU.key) on a CR3 load, not
# cleared: code at one linear address in two address spaces must still run
# as each maps it.  PD A maps linear 0x400000 to physical 0x400000 (add ebx,
# 1; ret), PD B to physical 0x800000 (add ebx, 0x100; ret); the loop calls it
# three times under each: `1: mov cr3, A; call 0x400000; mov cr3, B; call
# 0x400000; loop 1b` after CR4.PSE, CR3 = A and CR0.PG.
SWITCH_GUEST = bytes.fromhex(
    "0f20e083c8100f22e0b8000010000f22d80f20c00d000000800f22c0bc0090000031dbb90300"
    "0000b8000010000f22d8e8cbef3f00b8001010000f22d8e8beef3f00e2e4f4")


@pytest.mark.parametrize("glob", [False, True])
def test_same_linear_code_in_two_address_spaces(glob):
    m = Machine(mode=32, memory=16 << 20)
    g = 0x100 if glob else 0                                   # G on the code page: PGE is off, no effect
    m.mem_write(0x100000, (0x83).to_bytes(4, "little") + (0x400083 | g).to_bytes(4, "little"))
    m.mem_write(0x101000, (0x83).to_bytes(4, "little") + (0x800083).to_bytes(4, "little"))
    m.mem_write(0x400000, b"\x83\xc3\x01\xc3")                 # add ebx, 1; ret
    m.mem_write(0x800000, b"\x81\xc3\x00\x01\x00\x00\xc3")     # add ebx, 0x100; ret
    m.mem_write(0x1000, SWITCH_GUEST)
    ex = m.run(start=0x1000, count=1000)
    assert ex.reason == "hlt", str(ex)
    assert m.reg_read("ebx") == 0x303


def test_cr3_written_from_python_keeps_global_pages_too():
    # Machine.write_cr(3) (what the supervisor uses) goes through the same path.
    m = Machine(mode=32, memory=8 << 20)
    m.mem_write(0x100000, (0x83).to_bytes(4, "little") + (0x400183).to_bytes(4, "little"))
    m.mem_write(0x101000, (0x83).to_bytes(4, "little") + (0x000083).to_bytes(4, "little"))
    m.mem_write(0x400000, b"AAAA")
    m.mem_write(0x000000, b"BBBB")
    m.write_cr(4, 0x90)
    m.write_cr(3, 0x100000)
    m.write_cr(0, m.read_cr(0) | 0x80000001)
    m.mem_write(0x1000, b"\xa1\x00\x00\x40\x00\xf4")           # mov eax, [0x400000]; hlt
    m.run(start=0x1000, count=10)
    assert m.reg_read("eax") == 0x41414141
    m.write_cr(3, 0x101000)
    m.run(start=0x1000, count=10)
    assert m.reg_read("eax") == 0x41414141                      # the global translation stayed
    m.write_cr(4, 0x10)                                         # PGE off: everything goes
    m.run(start=0x1000, count=10)
    assert m.reg_read("eax") == 0x42424242
