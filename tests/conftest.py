"""Shared fixtures of the tests."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _toolchain_missing():
    for tool in ("gcc", "make", "objcopy", "nm"):
        if shutil.which(tool) is None:
            return "%s not found" % tool
    probe = subprocess.run(["gcc", "-m32", "-ffreestanding", "-nostdlib", "-c", "-x", "c",
                            "-", "-o", "/dev/null"], input="int x;\n",
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return "gcc cannot build -m32 code"
    return None


@pytest.fixture(scope="session")
def guest_make():
    """make(dir, out) builds guests/DIR's images into `out` (IMAGES=out,
    BUILD=out/build) with the host toolchain; skips without one."""
    why = _toolchain_missing()
    if why:
        pytest.skip(why)

    def make(subdir, out):
        src = ROOT / "guests" / subdir
        if not (src / "Makefile").exists():
            pytest.skip("guests/%s not present" % subdir)
        res = subprocess.run(["make", "-C", str(src), "IMAGES=%s" % out,
                              "BUILD=%s" % (Path(out) / "build"), "PYTHON=%s" % sys.executable],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
        return Path(out)
    return make
