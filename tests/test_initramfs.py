"""The initramfs writer (emu/initramfs.py) checked against GNU cpio, which
reads the same newc format the kernel unpacks."""
import gzip
import os
import shutil
import subprocess

import pytest

from emu.initramfs import Initramfs


def sample() -> Initramfs:
    fs = Initramfs()
    fs.add_dir("/bin")
    fs.add_file("/bin/tool", b"\x7fELF" + bytes(range(256)) * 3, mode=0o755)
    fs.add_symlink("/bin/sh", "tool")
    fs.add_dir("/etc")
    fs.add_file("/etc/odd", b"abc")                 # a size that needs padding
    fs.add_file("/init", b"#!/bin/sh\necho hi\n", mode=0o700)
    return fs


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio is not installed (apt-get install cpio)")
def test_gnu_cpio_extracts_what_was_added(tmp_path):
    archive = sample().build()
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames"], input=archive,
                   cwd=tmp_path, check=True)
    assert (tmp_path / "bin/tool").read_bytes() == b"\x7fELF" + bytes(range(256)) * 3
    assert os.readlink(tmp_path / "bin/sh") == "tool"
    assert (tmp_path / "etc/odd").read_bytes() == b"abc"
    assert (tmp_path / "init").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "bin/tool").stat().st_mode & 0o777 == 0o755
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=archive, capture_output=True,
                             check=True).stdout.decode().split()
    assert listing == ["bin", "bin/tool", "bin/sh", "etc", "etc/odd", "init"]


def test_layout_and_determinism():
    raw = sample().build()
    assert raw.startswith(b"070701") and len(raw) % 4 == 0
    assert b"TRAILER!!!\0" in raw[-128:]
    assert sample().build() == raw
    assert gzip.decompress(sample().build(compress=True)) == raw


@pytest.mark.parametrize("path", ["relative", "/", "/missing/dir/file"])
def test_bad_paths(path):
    with pytest.raises(ValueError, match="initramfs path"):
        Initramfs().add_file(path, b"")


def test_duplicate_path():
    fs = Initramfs()
    fs.add_file("/a", b"")
    with pytest.raises(ValueError, match="twice"):
        fs.add_file("/a", b"")
