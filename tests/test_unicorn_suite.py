"""Unicorn's own Python tests against the drop-in emu.unicorn.

The Unicorn 2.1.4 source distribution (from PyPI, kept in a cache directory:
$PVEMU_CACHE or ~/.cache/pvemu; .ci/run may fetch it beforehand) carries
tests/test_x86.py and src/tests/regress/*.py.  Their imports of `unicorn` are
rewritten to `emu.unicorn` and each script runs in a subprocess:

- test_x86.py is a sample script: each of its functions runs, and its output
  must equal the output of the same function on the real Unicorn when that
  is installed (else it must end without a traceback);
- the regress scripts (the x86 and architecture-neutral ones) are unittest
  programs: they pass when they exit with status 0.

PASSING lists those that pass today: that set must not shrink.  The others
are expected to fail for the reasons in KNOWN (also in the README).
"""
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers import subprocess_env

VERSION = "2.1.4"
ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("PVEMU_CACHE", Path.home() / ".cache" / "pvemu"))

X86_FUNCTIONS = ["test_x86_16", "test_i386", "test_i386_map_ptr", "test_i386_inout",
                 "test_i386_context_save", "test_i386_jump", "test_i386_loop",
                 "test_i386_invalid_mem_read", "test_i386_invalid_mem_write",
                 "test_i386_jump_invalid", "test_x86_64", "test_x86_64_syscall",
                 "test_i386_mmio"]

# Regress scripts that use no architecture but x86.
REGRESS = """bad_ram crash_tb deadlock_1 emu_clear_errors emu_stop_segfault
ensure_typedef_consts_generated fpu_ip fpu_mem_write hang high_mem hook_add_crash
hook_code_add_del hook_code_stop_emu hook_raises_exception hook_readonly_write_local init
invalid_insn invalid_write jmp_ebx_hang jumping leaked_refs memmap memmap_segfault mov_gs_eax
movsd osx_qemu_thread_create_crash potential_memory_leak pshufb reg_write_sign_extension
rep_hook run_across_bb segfault_on_stop test_old_ctl translator_buffer write_before_map
wrong_rip x86_64_conditional_jump x86_64_eflags x86_64_msr x86_eflags x86_fldt_fsqrt x86_gdt
x86_ld_crash x86_self_modifying x86_set_ip""".split()

# Why the others fail (the SDM decides where Unicorn and pvemu differ).
KNOWN = {
    "fpu_ip": "expects FNSTENV's tag word 0x5555 (power-up tags); pvemu's flat machines start "
              "in FNINIT's state (every register empty, 0xFFFF)",
    "fpu_mem_write": "expects FSTCW to store 0 (Unicorn's FCW starts at 0); pvemu's flat machines "
                     "start with FNINIT's 0x37F",
    "bad_ram": "RETF to a null CS is #GP(0) (SDM); Unicorn reports the unmapped read of "
               "its IDT while delivering it",
    "jmp_ebx_hang": "count=1 stops after the JMP, before fetching its target; Unicorn "
                    "fetches the next block first and reports its fetch fault",
    "high_mem": "a non-canonical rip is #GP (SDM); Unicorn reports an unmapped fetch, "
                "or runs it with UC_TLB_VIRTUAL",
    "translator_buffer": "runs code at non-canonical addresses (#GP by the SDM)",
    "x86_gdt": "GS:0x18 is outside its expand-down segment (limit 0x1000): #GP by the "
               "SDM; QEMU does not check segment limits",
}

PASSING = set(["x86:" + f for f in X86_FUNCTIONS if "x86:" + f not in KNOWN]
              + [r for r in REGRESS if r not in KNOWN])


def _sdist():
    archive = CACHE / f"unicorn-{VERSION}.tar.gz"
    if not archive.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                            ":all:", f"unicorn=={VERSION}", "-d", str(CACHE)],
                           capture_output=True, timeout=180, check=True)
        except (subprocess.SubprocessError, OSError) as e:
            pytest.skip(f"cannot fetch the Unicorn {VERSION} source distribution from PyPI: {e}")
    return archive


def _rewrite(text):
    """Point a script's imports of unicorn at the drop-in."""
    text = re.sub(r"^(\s*)from unicorn((?:\.\w+)?) import", r"\1from emu.unicorn\2 import",
                  text, flags=re.M)
    return re.sub(r"^(\s*)import unicorn(?:\.\w+)?\s*$", r"\1import emu.unicorn as unicorn",
                  text, flags=re.M)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    archive = _sdist()
    out = tmp_path_factory.mktemp("unicorn-suite")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.endswith(("tests/test_x86.py",)) or "/src/tests/regress/" in m.name]
        tar.extractall(out, members=members, filter="data")
    base = out / f"unicorn-{VERSION}"
    regress = base / "src" / "tests" / "regress"
    for f in regress.glob("*.py"):
        f.write_text(_rewrite(f.read_text()))
    x86 = base / "tests" / "test_x86.py"
    (base / "tests" / "real_x86.py").write_text(x86.read_text())
    x86.write_text(_rewrite(x86.read_text()))
    return base


def _run(args, cwd, real=False):
    env = dict(os.environ, PYTHONPATH="") if real else subprocess_env()
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _real_unicorn():
    try:
        import unicorn
        return unicorn.__version__ == VERSION
    except ImportError:
        return False


@pytest.mark.parametrize("function", X86_FUNCTIONS)
def test_x86_sample(suite, function):
    name = "x86:" + function
    mine = _run(["-c", f"import test_x86; test_x86.{function}()"], suite / "tests")
    if _real_unicorn():
        real = _run(["-c", f"import real_x86; real_x86.{function}()"], suite / "tests", real=True)
        ok = mine.returncode == 0 and mine.stdout == real.stdout
        detail = f"drop-in:\n{mine.stdout}{mine.stderr}\nUnicorn:\n{real.stdout}"
    else:
        ok = mine.returncode == 0 and "ERROR" not in mine.stdout
        detail = mine.stdout + mine.stderr
    _judge(name, ok, detail)


@pytest.mark.parametrize("script", REGRESS)
def test_regress(suite, script):
    r = _run([f"{script}.py"], suite / "src" / "tests" / "regress")
    _judge(script, r.returncode == 0, r.stdout + r.stderr)


def _judge(name, ok, detail):
    if name in PASSING:
        assert ok, f"{name} passed before and fails now:\n{detail[-3000:]}"
    elif ok:
        pytest.fail(f"{name} passes now: move it from KNOWN into PASSING")
    else:
        pytest.xfail(KNOWN[name])


def test_constants_match_the_real_package():
    """Every UC_* name the drop-in defines has the real package's value."""
    unicorn = pytest.importorskip("unicorn")
    import emu.unicorn.unicorn_const as mine_c
    import emu.unicorn.x86_const as mine_x
    for mine, real in ((mine_c, unicorn.unicorn_const), (mine_x, unicorn.x86_const)):
        names = [k for k in vars(mine) if k.startswith("UC_")]
        assert names
        assert {k: getattr(mine, k) for k in names} == {k: getattr(real, k) for k in names}
        missing = [k for k in vars(real) if k.startswith("UC_") and not k.startswith("UC_X86_INS_")
                   and k not in vars(mine)]
        assert missing == []
