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
