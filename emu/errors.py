"""Exceptions raised by the emulator's Python API."""


class EmuError(ValueError):
    """A bad argument to the emulator: an address outside guest memory, an
    unknown register name, an unsupported mode, and the like."""
