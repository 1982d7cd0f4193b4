"""Build the C extensions: the Cython core (emu._core) and, on x86-64 Linux,
the host-CPU fuzzing oracle (emu.fuzz._hostcpu)."""
import os
import platform

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CFLAGS = ["-O3", "-fno-strict-aliasing", "-Wno-unused-function", "-Wno-unreachable-code"]

extensions = cythonize(
    [Extension("emu._core", ["emu/_core.pyx"], extra_compile_args=CFLAGS)],
    compiler_directives={
        "language_level": 3,
        "boundscheck": False,
        "wraparound": False,
        "initializedcheck": False,
        "cdivision": True,
        "embedsignature": True,
    },
    annotate=bool(os.environ.get("PVEMU_ANNOTATE")),
)

hostcpu = os.path.join("emu", "fuzz", "_hostcpu.c")
if platform.machine() in ("x86_64", "AMD64") and os.path.exists(os.path.join(HERE, hostcpu)):
    extensions.append(Extension("emu.fuzz._hostcpu", [hostcpu], extra_compile_args=["-O2"]))

setup(ext_modules=extensions)
