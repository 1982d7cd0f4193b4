"""Instruction families with their edge cases, against values computed here
from the architectural definitions (Intel SDM vol. 2)."""
import pytest

from helpers import AF, ARITH, CF, CODE, DATA, DF, OF, SF, ZF, parity, run_code

WIDTHS = {8: (b"", 0x00), 16: (b"\x66", 0x01), 32: (b"", 0x01), 64: (b"\x48", 0x01)}
OPS = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]
VALUES = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
          0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0x0F, 0x10]


def alu_reference(op, a, b, cf_in, w):
    """Result and flags of `op a, b` at width w, straight from the SDM."""
    m, sign = (1 << w) - 1, 1 << (w - 1)
    a, b = a & m, b & m
    flags = 0
    if op in ("add", "adc"):
        r = a + b + (cf_in if op == "adc" else 0)
        flags |= CF if r > m else 0
        flags |= OF if (a ^ r) & (b ^ r) & sign else 0
        flags |= AF if (a ^ b ^ r) & 0x10 else 0
    elif op in ("sub", "sbb", "cmp"):
        r = a - b - (cf_in if op == "sbb" else 0)
        flags |= CF if r < 0 else 0
        flags |= OF if (a ^ b) & (a ^ r) & sign else 0
        flags |= AF if (a ^ b ^ r) & 0x10 else 0
    else:
        r = {"and": a & b, "or": a | b, "xor": a ^ b}[op]
    r &= m
    flags |= (ZF if r == 0 else 0) | (SF if r & sign else 0) | parity(r)
    return (a if op == "cmp" else r), flags


@pytest.mark.parametrize("w", [8, 16, 32, 64])
@pytest.mark.parametrize("op", OPS)
def test_alu_flags_every_width(op, w):
    prefix, low = WIDTHS[w]
    k = OPS.index(op)
    code = prefix + bytes([k * 8 + low, 0xC8])        # op eAX/AL, eCX/CL
    mode = 64 if w == 64 else 32
    undefined = AF if op in ("and", "or", "xor") else 0
    m, _ = run_code(code, mode=mode)
    for a in VALUES:
        for b in VALUES[::3]:
            for cf_in in (0, 1):
                for name, v in (("rax", a), ("rcx", b), ("eflags", cf_in)):
                    m.reg_write(name, v)
                ex = m.run(start=CODE)
                assert ex.reason == "hlt"
                r, flags = alu_reference(op, a, b, cf_in, w)
                got = m.reg_read({8: "al", 16: "ax", 32: "eax", 64: "rax"}[w])
                assert got == r, (op, w, hex(a), hex(b), cf_in)
                assert m.reg_read("eflags") & ARITH & ~undefined == flags & ~undefined, \
                    (op, w, hex(a), hex(b), cf_in)


@pytest.mark.parametrize("w", [8, 16, 32, 64])
def test_inc_dec_neg_keep_or_set_cf(w):
    prefix, low = WIDTHS[w]
    mode = 64 if w == 64 else 32
    m_ = (1 << w) - 1
    for v in (0, 1, (1 << (w - 1)) - 1, 1 << (w - 1), m_):
        for cf in (0, 1):
            m, _ = run_code(prefix + bytes([0xFE | low, 0xC0]), mode=mode, regs={"rax": v, "eflags": cf})
            r = (v + 1) & m_
            assert m.reg_read("rax") & m_ == r
            f = m.reg_read("eflags")
            assert f & CF == cf                                    # INC keeps CF
            assert bool(f & OF) == (v == (1 << (w - 1)) - 1)
            m, _ = run_code(prefix + bytes([0xF6 | low, 0xD8]), mode=mode, regs={"rax": v})   # neg
            assert m.reg_read("rax") & m_ == (-v) & m_
            assert bool(m.reg_read("eflags") & CF) == (v != 0)
            assert bool(m.reg_read("eflags") & OF) == (v == 1 << (w - 1))


def test_shift_by_zero_changes_nothing():
    for code in (b"\xc1\xe0\x00", b"\xd3\xe0", b"\xc1\xf8\x00", b"\xc1\xc0\x00", b"\x0f\xa4\xc8\x00"):
        m, ex = run_code(code, regs={"eax": 0x80000001, "ecx": 0, "eflags": 0x8D5})
        assert m.reg_read("eax") == 0x80000001
        assert m.reg_read("eflags") & ARITH == 0x8D5, code.hex()


def test_shift_counts_are_masked_and_can_exceed_the_width():
    m, _ = run_code(b"\xd2\xe0", regs={"eax": 0xFF, "ecx": 9})      # shl al, 9 -> 0
    assert m.reg_read("al") == 0 and m.reg_read("eflags") & ZF
    m, _ = run_code(b"\xd3\xe0", regs={"eax": 1, "ecx": 33})        # shl eax, 33 = shl eax, 1
    assert m.reg_read("eax") == 2
    m, _ = run_code(b"\x48\xd3\xe0", mode=64, regs={"rax": 1, "rcx": 65})
    assert m.reg_read("rax") == 2
    m, _ = run_code(b"\xd2\xf8", regs={"eax": 0x80, "ecx": 31})     # sar al, 31: sign fill
    assert m.reg_read("al") == 0xFF and m.reg_read("eflags") & CF
    m, _ = run_code(b"\xd2\xc0", regs={"eax": 0x81, "ecx": 8})      # rol al, 8: value kept, CF = bit 0
    assert m.reg_read("al") == 0x81 and m.reg_read("eflags") & CF
    m, _ = run_code(b"\xd2\xd0", regs={"eax": 0x80, "ecx": 9, "eflags": 0})   # rcl al, 9 = identity
    assert m.reg_read("al") == 0x80 and not m.reg_read("eflags") & CF


@pytest.mark.parametrize("code,regs,mode", [
    (b"\xf7\xf1", {"edx": 1, "eax": 0, "ecx": 1}, 32),          # div ecx: quotient overflow
    (b"\xf7\xf1", {"edx": 0, "eax": 5, "ecx": 0}, 32),          # div by zero
    (b"\xf7\xf9", {"edx": 0xFFFFFFFF, "eax": 0x80000000, "ecx": 0xFFFFFFFF}, 32),  # INT_MIN / -1
    (b"\xf6\xf1", {"eax": 0x100, "ecx": 1}, 32),                # div cl: AX/CL overflow
    (b"\x48\xf7\xf9", {"rdx": 0xFFFFFFFFFFFFFFFF, "rax": 1 << 63, "rcx": 0xFFFFFFFFFFFFFFFF}, 64),
    (b"\xd4\x00", {"eax": 5}, 32),                              # aam 0
])
def test_divide_errors(code, regs, mode):
    m, ex = run_code(code, mode=mode, regs=regs, expect="exception")
    assert ex.reason == "exception" and ex.vector == 0 and ex.address == CODE
    for name, v in regs.items():
        assert m.reg_read(name) == v                            # nothing changed


def test_division_results():
    m, _ = run_code(b"\xf7\xf9", regs={"edx": 0xFFFFFFFF, "eax": (-7) & 0xFFFFFFFF, "ecx": 2})
    assert m.reg_read("eax") == (-3) & 0xFFFFFFFF and m.reg_read("edx") == (-1) & 0xFFFFFFFF
    m, _ = run_code(b"\x48\xf7\xf1", mode=64, regs={"rdx": 1, "rax": 0, "rcx": 3})
    assert m.reg_read("rax") == (1 << 64) // 3 and m.reg_read("rdx") == (1 << 64) % 3
    m, _ = run_code(b"\x48\xf7\xe9", mode=64, regs={"rax": -3 & (2**64 - 1), "rcx": 1 << 62})
    assert m.reg_read("rdx") == (-1) & (2**64 - 1) and m.reg_read("eflags") & (CF | OF)


def test_lock_prefix_rules():
    m, ex = run_code(b"\xf0\x01\xc8", expect="exception")  # lock add eax, ecx: register destination
    assert ex.reason == "exception" and ex.vector == 6
    m, ex = run_code(b"\xf0\x89\x05" + DATA.to_bytes(4, "little"), expect="exception")  # lock mov: never lockable
    assert ex.vector == 6
    m, ex = run_code(b"\xf0\x01\x05" + DATA.to_bytes(4, "little"), regs={"eax": 5},
                     data=b"\x01\x00\x00\x00")        # lock add [DATA], eax
    assert ex.reason == "hlt" and m.mem_read(DATA, 4) == b"\x06\x00\x00\x00"


def test_address_size_wraparound():
    # 16-bit addressing: [bx+si+2] with bx=0xFFFF, si=0 wraps to 0x0001.
    m, _ = run_code(b"\x67\x8a\x40\x02", regs={"ebx": 0xFFFF, "esi": 0})
    m.mem_write(1, b"\x5a")
    m.run(start=CODE)
    assert m.reg_read("al") == 0x5A
    # 32-bit addressing: [eax+ecx] wraps at 4 GiB.
    m, _ = run_code(b"\x8a\x14\x08", regs={"eax": 0xFFFFFFF0, "ecx": DATA + 0x10}, data=b"\x77")
    assert m.reg_read("dl") == 0x77
    # 64-bit mode with a 67 prefix: 32-bit addressing, wraps at 4 GiB.
    m, _ = run_code(b"\x67\x8a\x14\x08", mode=64, regs={"rax": 0xFFFFFFF0, "rcx": DATA + 0x10},
                    data=b"\x66")
    assert m.reg_read("dl") == 0x66
    # 64-bit addressing wraps at 2**64: [rax + disp32] with rax = 2**64 - 0x10.
    m, _ = run_code(b"\x8a\x90" + (DATA + 0x10).to_bytes(4, "little"), mode=64,
                    regs={"rax": 2**64 - 0x10}, data=b"\x55")
    assert m.reg_read("dl") == 0x55


@pytest.mark.parametrize("mode", [32, 64])
def test_string_ops_backwards_with_df(mode):
    data = bytes(range(32))
    # std; rep movsb (copy 8 bytes ending at DATA+7 to DATA+0x107 backwards)
    m, ex = run_code(b"\xfd\xf3\xa4", mode=mode,
                     regs={"rsi": DATA + 7, "rdi": DATA + 0x107, "rcx": 8}, data=data)
    assert ex.reason == "hlt"
    assert m.mem_read(DATA + 0x100, 8) == data[:8]
    assert m.reg_read("rsi") == DATA - 1 and m.reg_read("rdi") == DATA + 0xFF
    assert m.reg_read("rcx") == 0 and m.reg_read("eflags") & DF
    # std; repne scasb looking for 3 from DATA+10 downwards
    m, ex = run_code(b"\xfd\xf2\xae", mode=mode, regs={"rdi": DATA + 10, "rcx": 100, "rax": 3},
                     data=data)
    assert m.reg_read("rdi") == DATA + 2 and m.reg_read("rcx") == 100 - 8
    assert m.reg_read("eflags") & ZF


def test_rep_cmps_stops_on_mismatch():
    data = b"abcdefgh" + b"\x00" * 8 + b"abcdXfgh"
    m, _ = run_code(b"\xfc\xf3\xa6", regs={"esi": DATA, "edi": DATA + 16, "ecx": 8}, data=data)
    assert m.reg_read("ecx") == 3 and m.reg_read("esi") == DATA + 5
    assert not m.reg_read("eflags") & ZF and m.reg_read("eflags") & CF == 0   # 'e' > 'X'


def test_bt_memory_offsets_reach_beyond_the_operand():
    data = bytes(16)
    # bts dword [DATA], eax with eax = 35: sets bit 3 of the dword at DATA+4
    m, _ = run_code(b"\x0f\xab\x05" + DATA.to_bytes(4, "little"), regs={"eax": 35}, data=data)
    assert m.mem_read(DATA + 4, 1) == b"\x08" and not m.reg_read("eflags") & CF
    # a negative offset: bt [DATA+8], eax with eax = -1 reads bit 31 of DATA+4
    m, _ = run_code(b"\x0f\xa3\x05" + (DATA + 8).to_bytes(4, "little"), regs={"eax": 0xFFFFFFFF},
                    data=bytes(7) + b"\x80")
    assert m.reg_read("eflags") & CF


def test_bcd_adjustments_sdm_examples():
    m, _ = run_code(b"\x04\x35\x27", regs={"eax": 0x79})          # add al,0x35; daa
    assert m.reg_read("al") == 0x14 and m.reg_read("eflags") & CF
    m, _ = run_code(b"\x2c\x47\x2f", regs={"eax": 0x35})          # sub al,0x47; das
    assert m.reg_read("al") == 0x88 and m.reg_read("eflags") & CF
    m, _ = run_code(b"\xd4\x0a", regs={"eax": 79})                # aam
    assert m.reg_read("ax") == 0x0709
    m, _ = run_code(b"\xd5\x0a", regs={"eax": 0x0709})            # aad
    assert m.reg_read("ax") == 79
    m, ex = run_code(b"\x27", mode=64, expect="exception")  # not in 64-bit mode
    assert ex.vector == 6


def test_cmpxchg_family():
    m, _ = run_code(b"\x0f\xb1\x0d" + DATA.to_bytes(4, "little"),
                    regs={"eax": 5, "ecx": 9}, data=b"\x05\x00\x00\x00")
    assert m.mem_read(DATA, 4) == b"\x09\x00\x00\x00" and m.reg_read("eflags") & ZF
    m, _ = run_code(b"\x0f\xb1\x0d" + DATA.to_bytes(4, "little"),
                    regs={"eax": 4, "ecx": 9}, data=b"\x05\x00\x00\x00")
    assert m.reg_read("eax") == 5 and not m.reg_read("eflags") & ZF
    m, _ = run_code(b"\x0f\xc7\x0d" + DATA.to_bytes(4, "little"),             # cmpxchg8b
                    regs={"eax": 1, "edx": 2, "ebx": 7, "ecx": 8}, data=(1 | 2 << 32).to_bytes(8, "little"))
    assert m.mem_read(DATA, 8) == (7 | 8 << 32).to_bytes(8, "little")
    m, ex = run_code(b"\x48\x0f\xc7\x0c\x25" + (DATA + 8).to_bytes(4, "little"), mode=64, expect="exception")
    assert ex.vector == 13                                          # cmpxchg16b needs 16-byte alignment
    m, _ = run_code(b"\x0f\xc1\xc8", regs={"eax": 3, "ecx": 4})     # xadd eax, ecx
    assert m.reg_read("eax") == 7 and m.reg_read("ecx") == 3


def test_stack_frames():
    m, _ = run_code(b"\x60\xb8\x11\x00\x00\x00\x61", regs={"eax": 1, "ebx": 2, "esi": 3})  # pusha; mov eax,0x11; popa
    assert (m.reg_read("eax"), m.reg_read("ebx"), m.reg_read("esi")) == (1, 2, 3)
    m, _ = run_code(b"\xc8\x10\x00\x02", regs={"ebp": 0xE000})    # enter 16, 2
    esp, ebp = m.reg_read("esp"), m.reg_read("ebp")
    assert ebp == 0xF000 - 4 and esp == ebp - 4 - 4 - 16
    assert int.from_bytes(m.mem_read(ebp, 4), "little") == 0xE000
    assert int.from_bytes(m.mem_read(ebp - 8, 4), "little") == ebp
    m, _ = run_code(b"\x9c\x58", regs={"eflags": 0x8D5})          # pushf; pop eax
    assert m.reg_read("eax") == 0x8D7


def test_bit_scans_and_counts():
    m, _ = run_code(b"\x0f\xbc\xc1", regs={"ecx": 0x50, "eax": 99})         # bsf
    assert m.reg_read("eax") == 4 and not m.reg_read("eflags") & ZF
    m, _ = run_code(b"\x0f\xbc\xc1", regs={"ecx": 0, "eax": 99})
    assert m.reg_read("eax") == 99 and m.reg_read("eflags") & ZF           # source 0: dest kept
    m, _ = run_code(b"\xf3\x0f\xbc\xc1", regs={"ecx": 0})                   # tzcnt
    assert m.reg_read("eax") == 32 and m.reg_read("eflags") & CF
    m, _ = run_code(b"\xf3\x0f\xbd\xc1", regs={"ecx": 1})                   # lzcnt
    assert m.reg_read("eax") == 31
    m, _ = run_code(b"\xf3\x48\x0f\xb8\xc1", mode=64, regs={"rcx": 2**64 - 1})  # popcnt
    assert m.reg_read("rax") == 64
    m, _ = run_code(b"\x0f\xc8", regs={"eax": 0x11223344})                  # bswap
    assert m.reg_read("eax") == 0x44332211
    m, _ = run_code(b"\x0f\x38\xf0\x05" + DATA.to_bytes(4, "little"), data=b"\x11\x22\x33\x44")
    assert m.reg_read("eax") == 0x11223344                                  # movbe


def test_cmov_clears_upper_half_even_when_false():
    m, _ = run_code(b"\x0f\x44\xc1", mode=64, regs={"rax": 2**64 - 1, "rcx": 5, "eflags": 0})
    assert m.reg_read("rax") == 0xFFFFFFFF


def test_cpuid_describes_the_machine():
    m, _ = run_code(b"\x0f\xa2", regs={"eax": 0})
    vendor = b"".join(m.reg_read(r).to_bytes(4, "little") for r in ("ebx", "edx", "ecx"))
    assert vendor == b"PvemuVirtCPU" and m.reg_read("eax") >= 1
    for mode in (32, 64):                       # any machine can enter long mode
        m, _ = run_code(b"\x0f\xa2", regs={"eax": 0x80000001}, mode=mode)
        assert m.reg_read("edx") & (1 << 29) and m.reg_read("edx") & (1 << 11)
    m, _ = run_code(b"\x0f\xa2", regs={"eax": 1})
    assert m.reg_read("edx") & (1 << 6) and m.reg_read("edx") & (1 << 9)   # PAE, APIC


def test_rdtsc_counts_retired_instructions():
    m, _ = run_code(b"\x90\x90\x90\x0f\x31")
    assert m.reg_read("eax") == 3 and m.reg_read("edx") == 0


def test_instruction_length_limit():
    m, ex = run_code(b"\x66" * 14 + b"\x90")          # 15 bytes: fine
    assert ex.reason == "hlt"
    m, ex = run_code(b"\x66" * 15 + b"\x90", expect="exception")  # 16 bytes: #GP(0)
    assert ex.reason == "exception" and ex.vector == 13 and ex.error_code == 0


def test_rex_byte_registers():
    m, _ = run_code(b"\x40\x88\xc6", mode=64, regs={"rax": 0x1234, "rsi": 0})   # mov sil, al
    assert m.reg_read("rsi") == 0x34
    m, _ = run_code(b"\x88\xc6", mode=64, regs={"rax": 0x1234, "rsi": 0})       # mov dh, al
    assert m.reg_read("rdx") == 0x3400 and m.reg_read("rsi") == 0


def test_rip_relative_addressing():
    # mov eax, [rip + 0x10]: the displacement is from the next instruction
    m, _ = run_code(b"\x8b\x05\x10\x00\x00\x00", mode=64)
    m.mem_write(CODE + 6 + 0x10, b"\xef\xbe\xad\xde")
    m.run(start=CODE)
    assert m.reg_read("eax") == 0xDEADBEEF
