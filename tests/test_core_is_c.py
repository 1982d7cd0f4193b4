"""The hot loop's rule: no instruction handler or run-loop function may touch
the Python C API (no GIL round trip, no exception check per instruction).
Cythonize the core as setup.py does and inspect the generated C."""
import os
import re
import runpy
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "emu")
PY_API = re.compile(r"PyGILState|__Pyx_AddTraceback|__Pyx_Raise|PyObject|__Pyx_ErrOccurred|Py_INCREF")

# Python-facing helpers of the Machine class may use the C API (x87_reg_get/set:
# reg_read/reg_write of the x87 registers).
ALLOWED = re.compile(r"__pyx_f_3emu_5_core_(7Machine_|_reg_lookup|x87_reg_)")


@pytest.fixture(scope="module")
def generated_c(tmp_path_factory):
    pytest.importorskip("Cython")
    if not os.path.exists(os.path.join(SRC, "_core.pyx")):
        pytest.skip("needs the source tree")
    work = tmp_path_factory.mktemp("cy") / "emu"
    shutil.copytree(SRC, work, ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    cfg = runpy.run_path(str(work / "buildcfg.py"))
    runpy.run_path(str(work / "gen_variants.py"))["write"](str(work / "variants.pxi"))
    directives = [f"--directive={k}={v}" for k, v in cfg["DIRECTIVES"].items()]
    subprocess.run([sys.executable, "-m", "cython", *directives, "-o", str(work / "_core.c"),
                    str(work / "_core.pyx")], check=True, capture_output=True)
    return (work / "_core.c").read_text()


def test_handlers_and_run_loop_never_touch_python(generated_c):
    funcs = re.findall(r"\nstatic [^\n;{]*?(__pyx_f_3emu_5_core_\w+)\([^)]*\) \{(.*?)\n\}",
                       generated_c, re.S)
    names = [n for n, _ in funcs]
    assert any("cpu_run" in n for n in names) and sum("_h_" in n for n in names) > 100
    offenders = [n for n, body in funcs if PY_API.search(body) and not ALLOWED.match(n)]
    assert offenders == []


def test_handlers_are_noexcept(generated_c):
    # A handler declared without noexcept would carry an error-indicator check
    # at every call site: look for the pattern Cython emits for that.
    assert not re.search(r"__pyx_f_3emu_5_core_(h|v)_\w+\([^;]*\);\s*if \(unlikely\(PyErr_Occurred",
                         generated_c)
