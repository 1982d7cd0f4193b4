"""The bundled guest kernels (guests/, built into emu/images/guests): names,
what each shows, and how to run it.  `pvemu guests` lists them and
`pvemu run NAME` boots one (NAME, NAME32 or NAME64; NAME alone is the
x86-64 build)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Optional

from emu.errors import EmuError

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images", "guests")


@dataclass
class Guest:
    name: str
    summary: str
    memory: str = "32M"
    max_memory: Optional[str] = None
    domains: int = 1
    args: str = ""

    def image(self, bits: int = 64) -> str:
        return os.path.join(IMAGES, f"{self.name}{bits}.elf")


def catalog() -> dict:
    """{name: Guest} from the bundled guests.json."""
    path = os.path.join(IMAGES, "guests.json")
    try:
        with open(path) as f:
            entries = json.load(f)
    except OSError:
        return {}
    return {e["name"]: Guest(**{k: e[k] for k in Guest.__dataclass_fields__ if k in e}) for e in entries}


def resolve(target: str):
    """A bundled guest's (Guest, image path) for 'hello', 'hello32' or
    'hello64'; (None, target) for anything that is a file; EmuError else."""
    if os.path.exists(target):
        return None, target
    guests = catalog()
    name, bits = target, 64
    if target[-2:] in ("32", "64") and target[:-2] in guests:
        name, bits = target[:-2], int(target[-2:])
    if name not in guests:
        known = ", ".join(sorted(guests)) or "none (the images are not built)"
        raise EmuError(f"{target!r} is neither a file nor a bundled guest (bundled: {known}; "
                       "`pvemu guests` lists them)")
    path = guests[name].image(bits)
    if not os.path.exists(path):
        raise EmuError(f"bundled guest {name} has no {bits}-bit image at {path}: "
                       "build it with `make -C guests`")
    return guests[name], path


def list_guests(args) -> int:
    guests = catalog()
    if not guests:
        print("pvemu guests: no bundled guests found (build them with `make -C guests`)")
        return 1
    width = max(len(n) for n in guests)
    print("Bundled guests (each for i386 and x86-64: NAME32, NAME64; NAME is NAME64).")
    print("Run one with `pvemu run NAME`, paravirtualized with `pvemu run NAME --supervised`.\n")
    for g in guests.values():
        extra = f" [{g.domains} domains]" if g.domains > 1 else ""
        print(f"  {g.name:<{width}}  {g.summary}{extra}")
    return 0
