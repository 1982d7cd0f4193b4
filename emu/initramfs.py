"""Writing an initramfs: a cpio archive in the "newc" format (the one the
Linux kernel unpacks at boot, Documentation/driver-api/early-userspace/
buffer-format.rst), optionally gzip-compressed.

    from emu.initramfs import Initramfs
    fs = Initramfs()
    fs.add_dir("/bin")
    fs.add_file("/bin/busybox", open("busybox", "rb").read(), mode=0o755)
    fs.add_symlink("/bin/sh", "busybox")
    fs.add_file("/init", b"#!/bin/sh\\necho hello\\n", mode=0o755)
    open("initrd.img", "wb").write(fs.build(compress=True))

Entries are written in the order added (a directory before what it holds),
with owner root, a fixed mtime and inode numbers counted from 1, so the same
calls give the same bytes.
"""
from __future__ import annotations

import gzip
import stat

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


class Initramfs:
    """An initramfs being assembled; see the module docstring."""

    def __init__(self):
        self._entries = []          # (path, mode, data)
        self._paths = set()

    def _add(self, path: str, mode: int, data: bytes) -> None:
        if not isinstance(path, str) or not path.startswith("/") or path == "/":
            raise ValueError(f"initramfs path must be absolute and not '/', not {path!r}")
        name = path.strip("/")
        if name in self._paths:
            raise ValueError(f"initramfs path {path!r} added twice")
        parent = name.rpartition("/")[0]
        if parent and parent not in self._paths:
            raise ValueError(f"initramfs path {path!r}: add its directory /{parent} first")
        self._paths.add(name)
        self._entries.append((name, mode, bytes(data)))

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        """A directory."""
        self._add(path, stat.S_IFDIR | (mode & 0o7777), b"")

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """A regular file with the given contents."""
        self._add(path, stat.S_IFREG | (mode & 0o7777), data)

    def add_symlink(self, path: str, target: str) -> None:
        """A symbolic link to `target`."""
        self._add(path, stat.S_IFLNK | 0o777, target.encode())

    def build(self, compress: bool = False) -> bytes:
        """The archive's bytes (gzip-compressed if `compress`)."""
        out = bytearray()
        for ino, (name, mode, data) in enumerate(self._entries, 1):
            _entry(out, ino, name, mode, data)
        _entry(out, 0, TRAILER, 0, b"")
        raw = bytes(out)
        return gzip.compress(raw, mtime=0) if compress else raw


def _entry(out: bytearray, ino: int, name: str, mode: int, data: bytes) -> None:
    raw_name = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(mode) else 1
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(raw_name), 0)
    out += MAGIC + b"".join(b"%08X" % f for f in fields)
    out += raw_name
    out += bytes(-len(out) % 4)
    out += data
    out += bytes(-len(out) % 4)
