"""Live migration (paravirt/migrate.py) of a 64 MiB domain from this process
to a `pvemu receive` process on the same host: downtime (the domain's stop
to the destination's DONE back here; and to its resumption there, by the
host's one monotonic clock), total time, pre-copy rounds, pages and bytes
sent against the domain's size; for an idle guest (it filled 60 MiB with a
pattern at boot, then spins without writing) and a busy one (the same, then
it writes one page after another of a 4 MiB working set, a few MiB/s).

    python benchmarks/test_bench_migrate.py [--runs 7]
    pytest benchmarks/test_bench_migrate.py
"""
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paravirt import Supervisor  # noqa: E402

MEMORY = 64 << 20
PAGE_SIZE = 4096
FILL = (0x200000, 62 << 20)          # what the guest fills at boot
WORKING_SET = 1024                   # pages the busy guest writes over and over
WRITE_RATE = 4 << 20                 # bytes/s the busy guest dirties (its delay set to match)
LOAD = 0x100000                      # where the kernel is loaded
IDLE, BUSY = 0, 1


def guest(kind: int, delay: int = 60_000) -> tuple:
    """(a Multiboot kernel (a.out kludge, loaded at LOAD), where its delay
    is): fill FILL with a pattern, then spin (IDLE) or add 1 to a dword of
    each page of the working set in turn, `delay` loop iterations between
    two pages (BUSY)."""
    start, end = FILL
    code = (b"\xbf" + struct.pack("<I", start)                   # mov edi, start
            + b"\xb9" + struct.pack("<I", (end - start) // 4)    # mov ecx, dwords
            + b"\xb8\x5a\x5a\x5a\x5a\xfc\xf3\xab")               # mov eax, pattern; cld; rep stosd
    if kind == IDLE:
        code += b"\xeb\xfe"                                       # jmp $
    else:
        outer = len(code)
        code += b"\xbe" + struct.pack("<I", start)               # outer: mov esi, start
        code += b"\xbb" + struct.pack("<I", WORKING_SET)         # mov ebx, pages
        page = len(code)
        code += (b"\xff\x06" b"\x81\xc6\x00\x10\x00\x00"         # page: inc dword [esi]; add esi, 4096
                 + b"\xb9" + struct.pack("<I", delay)            # mov ecx, delay
                 + b"\x49\x75\xfd" b"\x4b")                      # dec ecx; jnz $-1; dec ebx
        code += b"\x75" + bytes([(page - len(code) - 2) & 0xFF])  # jnz page
        code += b"\xeb" + bytes([(outer - len(code) - 2) & 0xFF])  # jmp outer
    magic, flags = 0x1BADB002, 0x00010000
    header = struct.pack("<8I", magic, flags, -(magic + flags) & 0xFFFFFFFF, LOAD, LOAD, 0, 0, LOAD + 32)
    at = LOAD + 32 + code.index(b"\xb9" + struct.pack("<I", delay), 18) + 1 if kind == BUSY else None
    return header + code, at


def receiver():
    proc = subprocess.Popen([sys.executable, "-m", "emu", "receive", "--listen", "0",
                             "--max-instructions", "20000000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    if "listening on" not in line:
        raise RuntimeError(f"pvemu receive did not start: {line}")
    return proc, line.strip().rsplit(" ", 1)[1]


def migrate_once(kind: int) -> dict:
    """One migration of a fresh domain of `kind`, once it has filled its memory."""
    proc, address = receiver()
    try:
        sup = Supervisor(console=None)
        kernel, delay_at = guest(kind)
        dom = sup.create(kernel, name="mig", memory=MEMORY, paravirt=False)
        sup.run(max_instructions=(FILL[1] - FILL[0]) // 4 + 2_000_000)     # the fill, and a little more
        mips = speed(sup, dom)
        rate = 0.0
        if kind == BUSY:                     # a page each 2*delay+5 instructions: WRITE_RATE at this speed
            delay = max(100, int(mips * 1e6 * PAGE_SIZE / WRITE_RATE - 5) // 2)
            dom.machine.mem_write(delay_at, struct.pack("<I", delay))
            mips = speed(sup, dom)
            rate = mips * 1e6 / (2 * delay + 5) * PAGE_SIZE / (1 << 20)
        done = []
        sup.migrate(dom, address, done.append)
        sup.run()
        (mig,) = done
        if mig.error:
            raise RuntimeError(mig.error)
        return {"downtime_ms": mig.downtime * 1e3, "total_ms": mig.total * 1e3, "rounds": mig.rounds,
                "pages": mig.pages_sent, "of": mig.domain_pages, "ratio": mig.bytes_sent / MEMORY,
                "dirty": mig.dirty_history, "mips": mips, "writes_mib_s": rate,
                "steps": {k: (v - mig.t_stop) * 1e3 for k, v in mig.steps.items()},
                # the destination's monotonic clock is this one's (one host): when it resumed
                "resumed_ms": (mig.steps["resumed"] - mig.t_stop) * 1e3}
    finally:
        proc.wait(timeout=60)


def speed(sup, dom) -> float:
    """The domain's speed over 3 M instructions, in MIPS."""
    t, n = time.monotonic(), dom.machine.instructions
    sup.run(max_instructions=3_000_000)
    return (dom.machine.instructions - n) / (time.monotonic() - t) / 1e6


def figures(runs: int = 7) -> dict:
    out = {}
    for name, kind in (("idle", IDLE), ("busy", BUSY)):
        rows = [migrate_once(kind) for _ in range(runs)]
        med = {k: statistics.median(r[k] for r in rows) for k in ("downtime_ms", "resumed_ms", "total_ms", "rounds",
                                                                   "pages", "ratio", "mips", "writes_mib_s")}
        med["of"] = rows[0]["of"]
        med["best_ms"] = min(r["downtime_ms"] for r in rows)
        med["dirty"] = rows[len(rows) // 2]["dirty"]
        med["steps"] = {k: round(v, 2) for k, v in rows[len(rows) // 2]["steps"].items()}
        out[name] = med
    return out


def test_migrate_idle():
    r = migrate_once(IDLE)
    assert r["pages"] >= (FILL[1] - FILL[0]) // 4096


def test_migrate_busy():
    r = migrate_once(BUSY)
    assert r["pages"] >= (FILL[1] - FILL[0]) // 4096


if __name__ == "__main__":
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 7
    for name, m in figures(runs).items():
        print(f"{name}: downtime {m['downtime_ms']:.2f} ms (resumed there after {m['resumed_ms']:.2f} ms; "
              f"best {m['best_ms']:.2f} ms), "
              f"total {m['total_ms']:.0f} ms, "
              f"{m['rounds']:.0f} pre-copy rounds (dirty pages of one run: {m['dirty']}), "
              f"{m['pages']:,.0f} pages sent of {m['of']:,} ({m['ratio']:.3f}x its memory in bytes), "
              f"guest at {m['mips']:.0f} MIPS"
              + (f", writing {m['writes_mib_s']:.1f} MiB/s" if m["writes_mib_s"] else "")
              + f"; one run's stop-and-copy sent/received/resumed at {m['steps']} ms")
