"""Build the C extensions: the Cython core (emu._core) and, on x86-64 Linux,
the host-CPU fuzzing oracle (emu.fuzz._hostcpu)."""
import os
import platform

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))

# The specialized handler variants are generated from one table.
_gen = os.path.join(HERE, "emu", "gen_variants.py")
_ns = {"__name__": "gen_variants", "__file__": _gen}
exec(compile(open(_gen).read(), _gen, "exec"), _ns)
_ns["write"](os.path.join(HERE, "emu", "variants.pxi"))
CFLAGS = ["-O3", "-fno-strict-aliasing", "-Wno-unused-function", "-Wno-unreachable-code"]

extensions = cythonize(
    [Extension("emu._core", ["emu/_core.pyx"], extra_compile_args=CFLAGS,
               # `cdef inline` must inline: the handler templates rely on it
               # to fold their constant size and form arguments.
               define_macros=[("CYTHON_INLINE", "inline __attribute__((always_inline))")])],
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
