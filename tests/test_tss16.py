"""16-bit TSS task switches (Intel SDM vol. 3 7.6-7.7: types 1 and 3)."""
import pytest

from emu import Machine

# A 32-bit guest at 0x1000 (GNU as source in the notes of the change that
# added it): GDT with flat code 0x08 and data 0x10, a 32-bit TSS 0x18 at
# 0x3000 (loaded with LTR), a 16-bit TSS 0x20 at 0x3100 and a 16-bit data
# segment 0x28.  Task A does `lcall $0x20, $0` with EBX = 0xAAAA5555; task B
# logs EAX EBX, its EFLAGS (PUSHF), FS, the busy 16-bit TSS's type byte and
# ESP at 0x6000.., sets AX = 0x2222 and IRETs (NT: a task return).  Back in
# task A: EAX, EBX, the TSS type byte and TR at 0x6020..
GUEST = bytes.fromhex(
    "0f0115b8100000ea0e100000080066b810008ed88ed08ec08ee0bc00f0000066b818000f00d8"
    "bb5555aaaa9a000000002000a320600000891d246000000fb605ad100000a328600000660f00"
    "c8a32c600000f4a300600000891d046000009c58a3086000008ce0a30c6000000fb605ad1000"
    "00a31060000089251460000066b82222cff48d7426000000000000000000ffff0000009acf00"
    "ffff00000092cf0067000030008900002b00003100810000ffff0000009200002f0088100000")
TASK_B = 0x1053
AFTER_IRET = 0x1000 + GUEST.index(bytes.fromhex("66b82222cf")) + 5


def tss16(ip, flags, regs, segs, ldt=0):
    """The 44 bytes of a 16-bit TSS: link, SP0..SS2, IP, FLAGS, AX..DI, ES CS SS DS, LDT."""
    words = [0] * 7 + [ip, flags] + list(regs) + list(segs) + [ldt]
    return b"".join(w.to_bytes(2, "little") for w in words)


def words(m, addr, n):
    raw = m.mem_read(addr, 2 * n)
    return [int.from_bytes(raw[2 * k:2 * k + 2], "little") for k in range(n)]


def dwords(m, addr, n):
    raw = m.mem_read(addr, 4 * n)
    return [int.from_bytes(raw[4 * k:4 * k + 4], "little") for k in range(n)]


@pytest.mark.parametrize("decode_cache", [True, False])
def test_call_and_return_through_a_16bit_tss(decode_cache):
    m = Machine(mode=32, memory=1 << 20, decode_cache=decode_cache)
    m.mem_write(0x1000, GUEST)
    m.mem_write(0x3100, tss16(TASK_B, 0x0002, [0x1111, 0x2222, 0x3333, 0x4444, 0x8000, 0x6666, 0x7777, 0x8888],
                              [0x10, 0x08, 0x28, 0x10]))
    ex = m.run(start=0x1000, count=1000)
    assert ex.reason == "hlt", str(ex)
    eax, ebx, flags, fs, busy, esp = dwords(m, 0x6000, 6)
    # registers from the 16-bit TSS: upper halves all ones; EFLAGS from FLAGS with NT (nested)
    assert (eax, ebx) == (0xFFFF1111, 0xFFFF4444)
    assert flags == 0x4002 and fs == 0 and busy == 0x83 and esp == 0xFFFF8000
    # back in task A: its registers and the 16-bit TSS available again, TR = 0x18
    assert dwords(m, 0x6020, 4) == [0x18, 0xAAAA5555, 0x81, 0x18]
    # task B's state saved in its 16-bit TSS by the IRET: back link, IP, FLAGS (NT cleared), AX..DI, ES CS SS DS
    saved = words(m, 0x3100, 22)
    assert saved[0] == 0x18
    assert saved[7] == AFTER_IRET and saved[8] == 0x0002
    assert saved[9:17] == [0x2222, 0x2222, 0x3333, 0x4444, 0x8000, 0x6666, 0x7777, 0x8888]
    assert saved[17:21] == [0x10, 0x08, 0x28, 0x10]


def test_16bit_tss_below_its_minimum_limit_is_invalid():
    m = Machine(mode=32, memory=1 << 20)
    g = bytearray(GUEST)
    k = g.index(bytes.fromhex("2b00003100810000"))
    g[k] = 0x2A                                           # limit 0x2A < 0x2B: #TS
    m.mem_write(0x1000, bytes(g))
    ex = m.run(start=0x1000, count=1000)
    assert ex.reason == "exception" and ex.vector == 10
