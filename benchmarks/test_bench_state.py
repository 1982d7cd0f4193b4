"""In-memory state: context save/restore, and restoring a 64 MiB machine
after the guest dirtied 100 pages (target: under 50 us).

    pytest benchmarks/test_bench_state.py --benchmark-columns=median
    python benchmarks/test_bench_state.py
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emu import Machine  # noqa: E402

# rdi = 0x100000; ecx = 100; L: mov [rdi], rax; add rdi, 0x1000; dec ecx; jnz L; hlt
WRITER = bytes.fromhex("bf00001000" "b964000000" "488907" "4881c700100000" "ffc9" "75f2" "f4")


def dirtied_machine():
    m = Machine(mode=64, memory=64 << 20)
    m.mem_write(0x1000, WRITER)
    m.reg_write("rax", 0x1122334455667788)
    m.snapshot()
    return m


def test_restore_after_100_dirty_pages(benchmark):
    m = dirtied_machine()

    def setup():
        assert m.run(start=0x1000).reason == "hlt"
        return (), {}

    benchmark.pedantic(m.restore, setup=setup, rounds=200, iterations=1)
    assert m.mem_read(0x100000, 8) == bytes(8)


def test_context_save(benchmark):
    m = Machine(mode=64)
    benchmark(m.context_save)


def test_context_restore(benchmark):
    m = Machine(mode=64)
    ctx = m.context_save()
    benchmark(m.context_restore, ctx)


def figures(rounds=200):
    """Medians in microseconds."""
    m = dirtied_machine()
    restore = []
    for _ in range(rounds):
        m.run(start=0x1000)
        t = time.perf_counter()
        m.restore()
        restore.append(time.perf_counter() - t)
    ctx = m.context_save()
    n = 10000
    t = time.perf_counter()
    for _ in range(n):
        m.context_save()
    save = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(n):
        m.context_restore(ctx)
    rest = (time.perf_counter() - t) / n
    return {"restore 64 MiB after 100 dirty pages": statistics.median(restore) * 1e6,
            "context_save": save * 1e6, "context_restore": rest * 1e6}


if __name__ == "__main__":
    for name, us in figures().items():
        print(f"{name:40} {us:8.2f} us")
