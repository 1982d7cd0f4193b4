"""Build the C extensions: the Cython core (emu._core) and, on x86-64 Linux,
the host-CPU fuzzing oracle (emu.fuzz._hostcpu)."""
import os
import platform
import runpy

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
cfg = runpy.run_path(os.path.join(HERE, "emu", "buildcfg.py"))

# The specialized handler variants are generated from one table.
runpy.run_path(os.path.join(HERE, "emu", "gen_variants.py"))["write"](
    os.path.join(HERE, "emu", "variants.pxi"))
# The decode tree and the CPUID feature bits are generated from the opcode
# table (emu/isa/*.py).
runpy.run_path(os.path.join(HERE, "emu", "gen_opmap.py"))["write"]()

extensions = cythonize(
    [Extension("emu._core", ["emu/_core.pyx"], extra_compile_args=cfg["CFLAGS"],
               define_macros=cfg["MACROS"])],
    compiler_directives=cfg["DIRECTIVES"],
    annotate=bool(os.environ.get("PVEMU_ANNOTATE")),
)

hostcpu = os.path.join("emu", "fuzz", "_hostcpu.c")
if platform.machine() in ("x86_64", "AMD64") and os.path.exists(os.path.join(HERE, hostcpu)):
    extensions.append(Extension("emu.fuzz._hostcpu", [hostcpu], extra_compile_args=["-O2"]))

setup(ext_modules=extensions)
