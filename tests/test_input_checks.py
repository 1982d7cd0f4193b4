"""Every public call checks its arguments: a bad value is an EmuError naming
the argument, never a silent truncation or an error from inside."""
import pytest

from emu import EmuError, Machine


@pytest.mark.parametrize("call, match", [
    (lambda m: m.reg_write("rax", 1 << 64), "does not fit rax"),
    (lambda m: m.reg_write("al", 300), "does not fit al"),
    (lambda m: m.reg_write("eax", -(1 << 32)), "does not fit eax"),
    (lambda m: m.reg_write("eax", 1.5), "integer"),
    (lambda m: m.run(start=1 << 64), "start"),
    (lambda m: m.run(start=1 << 32), "start"),              # beyond a 32-bit eip
    (lambda m: m.run(start=-1), "start"),
    (lambda m: m.run(count=1.5), "count"),
    (lambda m: m.run(count=-1), "count"),
    (lambda m: m.run(until="x"), "until"),
    (lambda m: m.mem_write(-1, b"a"), "address"),
    (lambda m: m.mem_read(-1, 1), "address"),
    (lambda m: m.mem_read(0, -1), "size"),
    (lambda m: m.mem_write(0, 5), "bytes"),
    (lambda m: m.add_io_handler(0x10000, 1), "port"),
    (lambda m: m.add_io_handler(0xFFFF, 2), "count"),
    (lambda m: m.add_io_handler(0x100, 0), "count"),
    (lambda m: m.add_mmio_handler(0x1000, 0x100), "above RAM"),
    (lambda m: m.add_mmio_handler(-5, 0x100), "address"),
    (lambda m: setattr(m, "ips", 0), "ips"),
    (lambda m: setattr(m, "ips", 1 << 64), "ips"),              # was an OverflowError
    (lambda m: setattr(m, "ips", 1e8), "ips"),
])
def test_bad_values_name_the_argument(call, match):
    m = Machine(memory=0x10000)
    with pytest.raises(EmuError, match=match):
        call(m)


@pytest.mark.parametrize("memory", [1.5, "16M", -1, 1 << 41, None])
def test_bad_memory_size(memory):
    with pytest.raises(EmuError, match="memory"):
        Machine(memory=memory)


def test_overlapping_mmio_ranges_are_refused():
    m = Machine(memory=0x10000)
    m.add_mmio_handler(0x100000, 0x1000)
    with pytest.raises(EmuError, match="overlaps the MMIO range"):
        m.add_mmio_handler(0x100800, 0x1000)
    m.mem_map(0x200000, 0x1000)
    with pytest.raises(EmuError, match="overlaps the mapped region"):
        m.add_mmio_handler(0x200000, 0x10)


def test_negative_register_values_are_twos_complement():
    m = Machine(mode=64, memory=0x1000)
    m.reg_write("rax", -1)
    assert m.reg_read("rax") == (1 << 64) - 1
    m.reg_write("al", -128)
    assert m.reg_read("al") == 0x80
