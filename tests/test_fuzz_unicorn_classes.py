"""Recorded x87/SSE cases on which Unicorn deviates from the SDM (and the
host CPU agrees with pvemu), one per class of emu/fuzz/unicorn_fp.py that
needed a case to be found: each is explained by the class its file names,
and no longer once that class is taken out (the classes are narrow: no
other class covers the case)."""
import glob
import json
import os

import pytest

from emu.fuzz import unicorn_fp
from emu.fuzz.compare import compare, load_reproducer
from emu.fuzz.emu_oracle import run_emu

pytest.importorskip("unicorn")

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = sorted(glob.glob(os.path.join(HERE, "fuzz_unicorn_classes", "*.json")))


def _class_of(path):
    note = json.load(open(path))["note"]
    return note.split("'")[1]


def _run(path):
    from emu.fuzz.unicorn_oracle import run_unicorn
    case = load_reproducer(path)
    uc, emu = run_unicorn(case), run_emu(case)
    return case, uc, emu, compare(case, uc, emu, names=("unicorn", "emu"))


def test_every_new_class_has_a_recorded_case():
    assert len(FILES) >= 11
    assert {_class_of(p) for p in FILES} <= {c.name for c in unicorn_fp.CLASSES}


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_recorded_case_is_explained_by_its_class(path, monkeypatch):
    case, uc, emu, diffs = _run(path)
    assert diffs, "Unicorn and pvemu agree now: the case shows no class"
    name = _class_of(path)
    got = unicorn_fp.explain(case, uc, emu, diffs)
    assert got is not None and name in [c.name for c in got.classes], got
    monkeypatch.setattr(unicorn_fp, "CLASSES",
                        tuple(c for c in unicorn_fp.CLASSES if c.name != name))
    assert unicorn_fp.explain(case, uc, emu, diffs) is None
