"""pvemu: an instruction-level i386/x86-64 emulator with a Cython hot loop.

    from emu import Machine
    m = Machine(mode=64, memory=1 << 20)
    m.mem_write(0x1000, bytes.fromhex("48c7c00700000048ffc0f4"))  # mov rax,7; inc rax; hlt
    ex = m.run(start=0x1000)
    assert ex.reason == "hlt" and m.reg_read("rax") == 8
"""
from emu.errors import EmuError
from emu.exits import Exit

try:
    from emu._core import Machine, REGISTER_NAMES
except ImportError as _e:  # pragma: no cover - only without a built extension
    _import_error = _e

    def __getattr__(name):
        if name in ("Machine", "REGISTER_NAMES"):
            raise ImportError(
                "the emulator core (emu._core) is not built: run `pip install .` "
                f"(or `python setup.py build_ext --inplace`); the import said: {_import_error}")
        raise AttributeError(name)

__all__ = ["Machine", "Exit", "EmuError", "REGISTER_NAMES"]
__version__ = "0.1.0"
