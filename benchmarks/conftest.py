"""Benchmarks of pvemu (run with `pytest benchmarks/`; not part of tests/).

Lets `pytest benchmarks/` run from a source checkout where pvemu is not
installed (the core must have been built in place: python setup.py
build_ext --inplace)."""
import sys
from pathlib import Path

try:
    import emu.bench  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pytest_terminal_summary(terminalreporter):
    """The suite's geometric means, when its benchmarks ran."""
    mod = next((m for name, m in list(sys.modules.items())
                if name.endswith("test_bench_suite") and hasattr(m, "geomeans")), None)
    if mod is None:
        return
    for mode, g in mod.geomeans().items():
        terminalreporter.write_line(
            "suite geometric mean %d-bit: " % mode
            + ", ".join("%s %s" % (("%.2f" % v) if v else "-", k) for k, v in g.items()))
