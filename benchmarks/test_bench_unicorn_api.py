"""The same Unicorn scripts on the real Unicorn and on the drop-in
emu.unicorn, side by side (pytest-benchmark groups them per script).

    pytest benchmarks/test_bench_unicorn_api.py --benchmark-columns=median
    python benchmarks/test_bench_unicorn_api.py        # a table of rates

Scripts: a loop of integer code with no hooks (instructions/s), the same
loop with a per-instruction Python code hook and with a block hook (hook
calls/s), a memory-write hook, and a context save + restore pair.  Each
asserts the loop's result, not its time."""
import importlib
import statistics
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENGINES = ("unicorn", "emu.unicorn")
BASE, DATA = 0x1000000, 0x2000000
# mov ecx, N; L: add eax, ecx; xor ebx, eax; mov [DATA], ebx; dec ecx; jnz L (rel8 -13); (end)
LOOP = (b"\xb9%s" b"\x01\xc8" b"\x31\xc3" b"\x89\x1d\x00\x00\x00\x02" b"\x49" b"\x75\xf3")
PER_ITERATION = 5


def _engine(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        pytest.skip(f"{name} is not installed")


def machine(uc_mod, n):
    uc = uc_mod.Uc(uc_mod.UC_ARCH_X86, uc_mod.UC_MODE_32)
    uc.mem_map(BASE, 0x1000)
    uc.mem_map(DATA, 0x1000)
    code = LOOP.replace(b"%s", n.to_bytes(4, "little"))
    uc.mem_write(BASE, code)
    return uc, BASE + len(code)


def expected(n):
    eax = ebx = 0
    for ecx in range(n, 0, -1):
        eax = (eax + ecx) & 0xFFFFFFFF
        ebx ^= eax
    return ebx


def run_plain(uc_mod, n):
    uc, end = machine(uc_mod, n)
    uc.emu_start(BASE, end)
    return uc.reg_read(uc_mod.x86_const.UC_X86_REG_EBX), n * PER_ITERATION + 1


def run_hooked(uc_mod, n, kind):
    uc, end = machine(uc_mod, n)
    calls = [0]

    def hook(uc_, address, size, user_data):
        calls[0] += 1

    def mem_hook(uc_, access, address, size, value, user_data):
        calls[0] += 1

    if kind == "mem":
        uc.hook_add(uc_mod.UC_HOOK_MEM_WRITE, mem_hook)
    else:
        uc.hook_add(uc_mod.UC_HOOK_CODE if kind == "code" else uc_mod.UC_HOOK_BLOCK, hook)
    uc.emu_start(BASE, end)
    return uc.reg_read(uc_mod.x86_const.UC_X86_REG_EBX), calls[0]


def run_context(uc_mod, n):
    uc, _ = machine(uc_mod, 1)
    ctx = uc.context_save()
    for _ in range(n):
        uc.context_update(ctx)
        uc.context_restore(ctx)
    return expected(1) if n else 0, n


SCRIPTS = {
    "plain loop": (lambda m: run_plain(m, 200_000), "instructions"),
    "code hook": (lambda m: run_hooked(m, 20_000, "code"), "hook calls"),
    "block hook": (lambda m: run_hooked(m, 20_000, "block"), "hook calls"),
    "mem write hook": (lambda m: run_hooked(m, 20_000, "mem"), "hook calls"),
    "context save+restore": (lambda m: run_context(m, 20_000), "pairs"),
}
CHECK = {"plain loop": 200_000, "code hook": 20_000, "block hook": 20_000,
         "mem write hook": 20_000}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_unicorn_api(benchmark, engine, script):
    uc_mod = _engine(engine)
    fn, unit = SCRIPTS[script]
    benchmark.group = f"unicorn API: {script}"
    result, events = benchmark.pedantic(fn, args=(uc_mod,), rounds=5, iterations=1)
    if script in CHECK:
        assert result == expected(CHECK[script])
    benchmark.extra_info[unit] = events


def rates(repeat=5):
    """{script: {engine: events per second (median)}}."""
    out = {}
    for script, (fn, unit) in SCRIPTS.items():
        for engine in ENGINES:
            try:
                uc_mod = importlib.import_module(engine)
            except ImportError:
                continue
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                _, events = fn(uc_mod)
                times.append(time.perf_counter() - t)
            out.setdefault(script, {})[engine] = (events / statistics.median(times), unit)
    return out


if __name__ == "__main__":
    print(f"{'script':22} {'unicorn':>14} {'emu.unicorn':>14}  ratio")
    for script, by in rates().items():
        u = by.get("unicorn", (0, ""))[0]
        e, unit = by["emu.unicorn"]
        print(f"{script:22} {u:14,.0f} {e:14,.0f}  {e / u if u else float('nan'):5.2f}x  ({unit}/s)")
