"""Segment limit checks on data and stack accesses in protected mode
(Intel SDM vol. 3 5.3): #GP(0), #SS(0) through SS, expand-down segments;
and the type checks the TLB cannot make by itself (5.4.1): a store through
a CS override, a read through an execute-only CS, an access through a null
data segment register.  tests/test_protection_bochs.py checks the same
classes against Bochs."""
import pytest

from emu import Machine
from helpers import seg_desc as desc

CODE = 0x1000
# lgdt [0x1800]; jmp 0x08:next; ds = es = fs = gs = ss = 0x10 (28 bytes)
PROLOGUE = bytes.fromhex("0f011500180000ea0e100000080066b810008ed88ec08ee08ee88ed0")


GDT = b"".join([
    bytes(8),
    desc(0, 0xFFFFF, 0x9A, 0xC),          # 0x08 code, flat
    desc(0, 0xFFFFF, 0x92, 0xC),          # 0x10 data, flat
    desc(0x2000, 0xFF, 0x92, 0x4),        # 0x18 data, base 0x2000, limit 0xFF
    desc(0, 0xFFF, 0x96, 0x4),            # 0x20 data, expand-down above 0xFFF, B = 1
    desc(0x3000, 0x7FF, 0x92, 0x4),       # 0x28 stack, base 0x3000, limit 0x7FF
    desc(0, 0xFFFF, 0x92, 0x0),           # 0x30 data, 16-bit, 64 KiB
    desc(0, 0xFFFFF, 0x98, 0xC),          # 0x38 code, flat, execute-only
])


def run(snippet, **kw):
    m = Machine(mode=32, memory=1 << 20, **kw)
    m.mem_write(0x1800, (len(GDT) - 1).to_bytes(2, "little") + (0x1810).to_bytes(4, "little"))
    m.mem_write(0x1810, GDT)
    m.mem_write(0x2000, bytes(range(256)) * 2)
    m.mem_write(CODE, PROLOGUE + snippet + b"\xf4")
    m.reg_write("esp", 0x9000)
    return m, m.run(start=CODE, count=1000)


def at(off):
    return CODE + len(PROLOGUE) + off


@pytest.mark.parametrize("decode_cache", [True, False])
def test_expand_up_limit_on_loads_and_stores(decode_cache):
    # ds = 0x18; mov eax, [0xFC] (the last 4 bytes: fine); mov ebx, eax; mov eax, [0xFD]: #GP(0)
    m, ex = run(bytes.fromhex("66b818008ed8a1fc00000089c3a1fd000000"), decode_cache=decode_cache)
    assert (ex.reason, ex.vector, ex.error_code, ex.address) == ("exception", 13, 0, at(13))
    assert m.reg_read("ebx") == 0xFFFEFDFC and m.reg_read("eax") == 0xFFFEFDFC
    # mov byte [0xFF], 7 (fine); mov byte [0x100], 8: #GP(0), nothing written
    m, ex = run(bytes.fromhex("66b818008ed8c605ff00000007c6050001000008"), decode_cache=decode_cache)
    assert (ex.vector, ex.address) == (13, at(13))
    assert m.mem_read(0x20FF, 2) == b"\x07\x00"


def test_expand_down_segment():
    # es = 0x20 (valid offsets 0x1000-0xFFFFFFFF): es:[0x1000] fine, es:[0xFFF] #GP(0)
    m, ex = run(bytes.fromhex("66b820008ec026a10010000089c326a0ff0f0000"))
    assert (ex.reason, ex.vector, ex.address) == ("exception", 13, at(14))


def test_stack_accesses_fault_with_ss():
    # ss = 0x28 (limit 0x7FF): push with esp = 0x800 fine; with esp = 0x804: #SS(0)
    m, ex = run(bytes.fromhex("66b828008ed0bc0008000050bc0408000050"))
    assert (ex.reason, ex.vector, ex.error_code, ex.address) == ("exception", 12, 0, at(17))
    assert m.reg_read("esp") == 0x804
    # an EBP-based operand goes through SS: [ebp + 0xC] fine, [ebp + 0xD] #SS(0)
    m, ex = run(bytes.fromhex("66b828008ed0bdf00700008b450c8b450d"))
    assert (ex.vector, ex.address) == (12, at(14))


def test_rep_movs_stops_at_the_limit():
    # es = 0x18; rep movsb of 0x20 bytes from ds:0x5000 to es:0xF0: 16 are copied, then #GP(0)
    m, ex = run(bytes.fromhex("66b818008ec066b810008ed8fcbe00500000bff0000000b920000000f3a4"))
    assert (ex.vector, ex.address) == (13, at(28))
    assert m.reg_read("ecx") == 0x10 and m.reg_read("edi") == 0x100


def test_tlb_entries_made_while_flat_do_not_outlive_a_segment_load():
    # mov eax, [0x2180] (flat: the page enters the TLB); ds = 0x18; [0x80] fine, [0x180] #GP(0)
    m, ex = run(bytes.fromhex("a18021000066b818008ed88b1d800000008b0d80010000"))
    assert (ex.vector, ex.address) == (13, at(17))
    assert m.reg_read("ebx") == 0x83828180


def test_16bit_segment_word_at_ffff():
    # ds = 0x30 (64 KiB): a word at 0xFFFE is fine, at 0xFFFF it passes the limit
    m, ex = run(bytes.fromhex("66b830008ed86766a1feff6766a1ffff"))
    assert (ex.vector, ex.address) == (13, at(11))


def test_flat_segments_reach_all_of_memory():
    # flat: no checks, a load near the top of RAM and one through a based segment work
    m, ex = run(bytes.fromhex("a1fcff0f00"))
    assert ex.reason == "hlt"


def test_accesses_away_from_the_operand_are_checked_against_its_segment():
    # ds = 0x18; mov eax, 0x800; bt [0], eax: bit 0x800 is in byte 0x100, past the limit
    m, ex = run(bytes.fromhex("66b818008ed8b8000800000fa30500000000"))
    assert (ex.vector, ex.address) == (13, at(11))
    # ds = 0x18; mov ebx, 0xF0; mov al, 0x20; xlat: [ebx + al] = ds:0x110
    m, ex = run(bytes.fromhex("66b818008ed8bbf0000000b020d7"))
    assert (ex.vector, ex.address) == (13, at(13))


STORE_CS = bytes.fromhex("2e890500500000")                # mov cs:[0x5000], eax
LOAD_CS = bytes.fromhex("2e8b0500500000")              # mov eax, cs:[0x5000]


@pytest.mark.parametrize("decode_cache", [True, False])
def test_code_segments_are_never_writable_even_through_a_cs_override(decode_cache):
    m, ex = run(bytes.fromhex("a300500000") + STORE_CS, decode_cache=decode_cache)   # the page is in the TLB first
    assert (ex.reason, ex.vector, ex.error_code, ex.address) == ("exception", 13, 0, at(5))
    m, ex = run(bytes.fromhex("2eff0500500000"))                                   # inc dword cs:[0x5000]
    assert (ex.vector, ex.error_code, ex.address) == (13, 0, at(0))
    m, ex = run(LOAD_CS + bytes.fromhex("89c3"))                                   # a readable CS reads
    assert ex.reason == "hlt"


def test_an_execute_only_cs_is_not_readable():
    far = bytes.fromhex("ea") + at(7).to_bytes(4, "little") + b"\x38\x00"          # jmp 0x38:next
    m, ex = run(far + LOAD_CS)
    assert (ex.reason, ex.vector, ex.error_code, ex.address) == ("exception", 13, 0, at(7))
    m, ex = run(far + bytes.fromhex("90"))                                         # fetches are fine
    assert ex.reason == "hlt"


def test_a_null_data_segment_register_faults_when_used():
    # xor eax, eax; mov ds, eax; lea ebx, [0x5000] (no access: fine); mov eax, [0x5000]: #GP(0)
    m, ex = run(bytes.fromhex("31c08ed88d1d00500000a100500000"))
    assert (ex.reason, ex.vector, ex.error_code, ex.address) == ("exception", 13, 0, at(10))
    # a null FS is harmless until used; es:[edi] of STOSB through a null ES faults
    m, ex = run(bytes.fromhex("31c08ee0a100500000") + bytes.fromhex("8ec0bf00500000aa"))
    assert (ex.vector, ex.error_code, ex.address) == (13, 0, at(16))


def test_real_mode_cs_overrides_write():
    m = Machine(mode=16, memory=1 << 20)
    m.mem_write(CODE, bytes.fromhex("2e89060050") + b"\xf4")       # mov cs:[0x5000], ax
    m.reg_write("eax", 0x1234)
    assert m.run(start=CODE, count=10).reason == "hlt" and m.mem_read(0x5000, 2) == b"\x34\x12"
