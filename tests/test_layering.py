"""The layers: library (emu) -> supervisor (paravirt) -> command line
(pvemu).  A module imports only from its own layer and those below, read
from the source (an AST walk, so an import inside a function counts too).
The one exception is emu/__main__.py, the shim behind `python -m emu`."""
import ast
import importlib.util
from pathlib import Path

import pytest
from helpers import NEUTRAL_CWD, subprocess_env


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(list(spec.submodule_search_locations)[0])


def _imported(path: Path) -> set:
    """The top-level packages a module imports, anywhere in it."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _modules(package: str):
    root = _package_dir(package)
    return sorted(p for p in root.rglob("*.py") if "images" not in p.relative_to(root).parts)


def _offences(package: str, forbidden: set, skip=()) -> list:
    root = _package_dir(package)
    return [f"{p.relative_to(root.parent)} imports {', '.join(sorted(_imported(p) & forbidden))}"
            for p in _modules(package)
            if p.relative_to(root).as_posix() not in skip and _imported(p) & forbidden]


def test_the_walk_sees_the_modules():
    names = {p.relative_to(_package_dir("emu")).as_posix() for p in _modules("emu")}
    assert {"system.py", "bench.py", "unicorn/__init__.py", "fuzz/cli.py", "__main__.py"} <= names
    assert "paravirt" in _imported(_package_dir("pvemu") / "supervised.py")


def test_the_library_imports_neither_paravirt_nor_the_command_line():
    assert _offences("emu", {"paravirt", "pvemu"}, skip={"__main__.py"}) == []


def test_the_shim_is_only_a_shim():
    shim = _package_dir("emu") / "__main__.py"
    assert _imported(shim) <= {"sys", "pvemu"}


def test_paravirt_does_not_import_the_command_line():
    assert _offences("paravirt", {"pvemu"}) == []


@pytest.mark.parametrize("module", ["emu", "pvemu"])
def test_python_m_runs_the_command(module):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True,
                       cwd=NEUTRAL_CWD, env=subprocess_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("pvemu ")
