"""Debian's stock Linux kernels and busybox, fetched from the package
archive, as guests: the kernel image from `linux-image-*-{686,amd64}-unsigned`
and an initramfs built around `busybox-static` whose /init prints marker
lines, exercises the userland and powers off.

    from emu.debian import fetch_kernel, fetch_busybox, make_initramfs
    kernel = fetch_kernel("amd64")             # bytes of the bzImage
    initrd = make_initramfs(fetch_busybox("amd64"))

Packages are downloaded with `apt-get download` (the machine's own package
sources, so an i386 package needs `dpkg --add-architecture i386` and an
`apt-get update`) into a cache directory (PVEMU_CACHE, default
~/.cache/pvemu/debian) and read with this module's own .deb reader (an `ar`
archive holding `data.tar.*`), so dpkg is not needed to unpack them.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Optional

from emu.errors import EmuError
from emu.initramfs import Initramfs

ARCHES = {"amd64": ("amd64", "amd64"), "i386": ("686", "i386")}

#: What /init prints and does; the markers let a test compare runs (here and on QEMU).
INIT_SCRIPT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "PVEMU-MARK: /init started"
echo "PVEMU-MARK: uname $(uname -s -r -m)"
echo "PVEMU-MARK: cpu flags $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)"
echo "The quick brown fox jumps over the lazy dog" > /tmp/fox
echo "PVEMU-MARK: md5 $(md5sum /tmp/fox | cut -d' ' -f1)"
i=0; s=0
while [ $i -lt 200 ]; do s=$((s + i * i)); i=$((i + 1)); done
echo "PVEMU-MARK: sum of squares $s" | tr a-z A-Z
echo "PVEMU-MARK: poweroff"
poweroff -f
"""


def cache_dir() -> Path:
    d = Path(os.environ.get("PVEMU_CACHE", Path.home() / ".cache" / "pvemu")) / "debian"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _apt_download(name: str, dest: Path) -> Path:
    """`apt-get download NAME` into dest (once); returns the .deb."""
    stem = name.split(":")[0]
    found = sorted(dest.glob(f"{stem}_*.deb"))
    arch = name.split(":")[1] if ":" in name else None
    found = [p for p in found if arch is None or p.name.endswith(f"_{arch}.deb")]
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise EmuError(f"cannot fetch {name}: apt-get is not available on this machine")
    r = subprocess.run(["apt-get", "download", "-q", name], cwd=dest, capture_output=True, text=True)
    if r.returncode != 0:
        raise EmuError(f"apt-get download {name} failed: {r.stderr.strip().splitlines()[-1:] or r.returncode}")
    return _apt_download(name, dest)


def _kernel_package(flavour: str, arch: str) -> str:
    """The newest linux-image-*-FLAVOUR-unsigned the package index knows."""
    r = subprocess.run(["apt-cache", "search", "--names-only", f"^linux-image-[0-9.]+-[0-9]+-{flavour}-unsigned$"],
                       capture_output=True, text=True)
    names = sorted({line.split()[0] for line in r.stdout.splitlines() if line.strip()},
                   key=lambda n: [int(x) for x in re.findall(r"\d+", n)])
    if not names:
        raise EmuError(f"no linux-image-*-{flavour}-unsigned package in the package index "
                       f"(for i386: dpkg --add-architecture i386 && apt-get update)")
    return f"{names[-1]}:{arch}"


def deb_members(deb: bytes) -> dict:
    """The members of a .deb (an `ar` archive): {name: bytes}."""
    if not deb.startswith(b"!<arch>\n"):
        raise EmuError("not a Debian package (no ar archive magic)")
    out, pos = {}, 8
    while pos + 60 <= len(deb):
        header = deb[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        out[name] = deb[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
    return out


def deb_file(deb: bytes, path: str) -> bytes:
    """The contents of `path` (e.g. './bin/busybox') in a .deb's data."""
    members = deb_members(deb)
    data = next((v for k, v in members.items() if k.startswith("data.tar")), None)
    if data is None:
        raise EmuError("the package has no data.tar member")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:     # gz, xz, bz2 by magic
        for member in tar:
            if member.name.lstrip("./") == path.lstrip("./"):
                f = tar.extractfile(member)
                if f is None:
                    raise EmuError(f"{path} in the package is not a regular file")
                return f.read()
    raise EmuError(f"{path} is not in the package")


def _deb_glob(deb: bytes, pattern: str) -> str:
    data = next(v for k, v in deb_members(deb).items() if k.startswith("data.tar"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for name in tar.getnames():
            if re.fullmatch(pattern, name.lstrip("./")):
                return name
    raise EmuError(f"nothing matching {pattern} in the package")


def fetch_kernel(arch: str = "amd64", package: Optional[str] = None) -> bytes:
    """The bzImage of Debian's stock kernel for `arch` ('amd64': the amd64
    flavour; 'i386': the 686 flavour)."""
    if arch not in ARCHES:
        raise EmuError(f"arch must be one of {', '.join(ARCHES)}, not {arch!r}")
    flavour, debarch = ARCHES[arch]
    deb = _apt_download(package or _kernel_package(flavour, debarch), cache_dir()).read_bytes()
    return deb_file(deb, _deb_glob(deb, r"boot/vmlinuz-.*"))


def fetch_busybox(arch: str = "amd64") -> bytes:
    """The statically linked busybox of `busybox-static` for `arch`."""
    if arch not in ARCHES:
        raise EmuError(f"arch must be one of {', '.join(ARCHES)}, not {arch!r}")
    deb = _apt_download(f"busybox-static:{ARCHES[arch][1]}", cache_dir()).read_bytes()
    return deb_file(deb, "bin/busybox")


def make_initramfs(busybox: bytes, init: str = INIT_SCRIPT) -> bytes:
    """A gzip-compressed initramfs: busybox as /bin/busybox and /bin/sh,
    /init running `init` (a shell script), and the mount points it uses."""
    fs = Initramfs()
    for d in ("/bin", "/sbin", "/proc", "/sys", "/tmp", "/dev", "/etc"):
        fs.add_dir(d)
    fs.add_file("/bin/busybox", busybox, mode=0o755)
    fs.add_symlink("/bin/sh", "busybox")
    fs.add_file("/init", init.encode(), mode=0o755)
    return fs.build(compress=True)


def markers(serial_text: str) -> list:
    """The PVEMU-MARK lines of a serial log, in order."""
    return [line.strip() for line in serial_text.splitlines() if "PVEMU-MARK:" in line]
