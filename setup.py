"""Build the C extensions: the Cython core (emu._core) and, on x86-64 Linux,
the host-CPU fuzzing oracle (emu.fuzz._hostcpu)."""
import os
import platform
import runpy
import threading
import time

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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
               extra_link_args=cfg["LDFLAGS"], define_macros=cfg["MACROS"])],
    compiler_directives=cfg["DIRECTIVES"],
    annotate=bool(os.environ.get("PVEMU_ANNOTATE")),
)

hostcpu = os.path.join("emu", "fuzz", "_hostcpu.c")
if platform.machine() in ("x86_64", "AMD64") and os.path.exists(os.path.join(HERE, hostcpu)):
    extensions.append(Extension("emu.fuzz._hostcpu", [hostcpu], extra_compile_args=["-O2", "-g0"],
                                extra_link_args=cfg["LDFLAGS"]))



class BuildExt(build_ext):
    """build_ext that says what it compiles and, every few seconds, that it
    still is (the core is one large C file: about 40 s of gcc on 2 CPUs,
    its code generated in parallel at link time (buildcfg.py); the lines
    keep pip's spinner turning and show with pip install -v)."""

    def run(self):
        # distutils rebuilds only when a source is newer than the extension:
        # switching between PVEMU_DEV_BUILD (-O1) and a release build (-O2)
        # would keep the other build's objects.  A stamp of the flags forces
        # a rebuild when they change.
        stamp = os.path.join(self.build_temp, "pvemu-cflags")
        flags = " ".join(cfg["CFLAGS"] + cfg["LDFLAGS"])
        try:
            with open(stamp) as f:
                if f.read() != flags:
                    self.force = True
        except OSError:
            self.force = True
        super().run()
        os.makedirs(self.build_temp, exist_ok=True)
        with open(stamp, "w") as f:
            f.write(flags)

    def build_extension(self, ext):
        t0 = time.monotonic()
        size = sum(os.path.getsize(s) for s in ext.sources) >> 10
        print(f"pvemu: compiling {ext.name} ({size} KiB of C) ...", flush=True)
        done = threading.Event()

        def heartbeat():
            while not done.wait(5):
                print(f"pvemu: compiling {ext.name}: {time.monotonic() - t0:.0f} s", flush=True)
        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            super().build_extension(ext)
        finally:
            done.set()
            beat.join()
        print(f"pvemu: {ext.name} built in {time.monotonic() - t0:.0f} s", flush=True)


setup(ext_modules=extensions, cmdclass={"build_ext": BuildExt})
