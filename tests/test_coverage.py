"""Edge coverage in AFL's layout, counted in C."""
import pytest

from emu import EmuError, Machine

# ecx = 4; L: dec ecx; jnz L; hlt      (blocks: [mov, dec, jnz], [dec, jnz] x3, [hlt])
LOOP = bytes.fromhex("b904000000" "49" "75fd" "f4")


def run(m):
    assert m.run(start=0x1000).reason == "hlt"


def machine():
    m = Machine(mode=32, memory=0x10000)
    m.mem_write(0x1000, LOOP)
    return m


def test_edges_and_counts():
    m = machine()
    m.coverage_start(size=1 << 16)
    run(m)
    cmap = bytes(m.coverage_map)
    assert m.coverage_counts["blocks"] == 5
    assert sum(cmap) == 5                      # one count per block transition
    assert max(cmap) == 2                      # loop -> loop twice
    assert len([x for x in cmap if x]) == 4    # entry, first->loop, loop->loop, loop->hlt
    m.coverage_reset()
    run(m)
    assert bytes(m.coverage_map) == cmap       # deterministic: same input, same map


def test_shared_buffer_and_stop():
    m = machine()
    shm = bytearray(1 << 12)
    m.coverage_start(map=shm)
    run(m)
    assert sum(shm) == 5
    m.coverage_stop()
    run(m)
    assert sum(shm) == 5 and m.coverage_map is None


def test_coverage_does_not_change_results():
    a, b = machine(), machine()
    b.coverage_start()
    run(a)
    run(b)
    assert a.state() == b.state() and a.instructions == b.instructions


@pytest.mark.parametrize("kw, match", [
    ({"size": 1000}, "power of two"),
    ({"map": bytes(4096)}, "writable"),
    ({"map": 5}, "buffer"),
])
def test_bad_coverage_arguments(kw, match):
    with pytest.raises(EmuError, match=match):
        Machine().coverage_start(**kw)
