"""The save file: one machine (`Machine.save`/`Machine.load`) or one
supervised domain (`Supervisor.save`/`Supervisor.restore`, paravirt/save.py).

Layout: a 64-byte header, then a zlib stream.

    header   magic b"PVEMUSAV", format version (u16), kind (u16: 1 machine,
             2 domain), CPU layout size (u32) and fingerprint (u32),
             payload length (u64), SHA-256 of the payload (32 bytes),
             reserved (4 bytes)
    payload  zlib of sections, each a 4-byte name, a u64 length and data:
             META  the Python-side state as tagged JSON (see encode())
             CPU_  the core's CPU struct, host pointers scrubbed (snapshot.pxi)
             IOMP  the port -> device map (64 KiB)
             ABSN  one byte a frame, 1 = ballooned out (absent if none are)
             PFNS  the saved frames' numbers (u32 each), PAGE their contents

The whole file is read and checked (magic, version, kind, layout, length,
digest) before anything is built, so a bad file raises EmuError and
changes nothing.  Python device objects (emu/devices.py and the like) are
saved generically: their class and their attributes, the machine they
belong to replaced by a marker; loading makes the object again without
calling __init__ and calls its attach()."""
from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import struct
import zlib

from emu.errors import EmuError

MAGIC = b"PVEMUSAV"
VERSION = 1
KIND_MACHINE, KIND_DOMAIN = 1, 2
KIND_NAMES = {KIND_MACHINE: "machine", KIND_DOMAIN: "domain"}
_HEADER = struct.Struct("<8sHHIIQ32s4x")
_SECTION = struct.Struct("<4sQ")
#: Modules whose classes a save file may name as devices (nothing else is
#: imported or instantiated when a file is loaded).
DEVICE_MODULES = ("emu.", "paravirt.")


# ---- tagged JSON: the Python types device and domain state is made of

def encode(v):
    """A JSON-able form of v: None, bool, int, float, str as themselves;
    bytes, bytearray, tuple, list, set and dict (any hashable keys) tagged."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, bytes):
        return {"b": base64.b64encode(v).decode()}
    if isinstance(v, bytearray):
        return {"ba": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, tuple):
        return {"t": [encode(x) for x in v]}
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return {"s": [encode(x) for x in sorted(v, key=repr)]}
    if isinstance(v, dict):
        return {"d": [[encode(k), encode(x)] for k, x in v.items()]}
    raise EmuError(f"cannot save a value of type {type(v).__name__}: {v!r:.80}")


def decode(v):
    """The inverse of encode()."""
    if isinstance(v, list):
        return [decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    (tag, x), = v.items()
    if tag == "b":
        return base64.b64decode(x)
    if tag == "ba":
        return bytearray(base64.b64decode(x))
    if tag == "t":
        return tuple(decode(y) for y in x)
    if tag == "s":
        return {decode(y) for y in x}
    if tag == "d":
        return {decode(k): decode(y) for k, y in x}
    raise EmuError(f"the save file holds an unknown value tag {tag!r}")


# ---- Python devices

def device_state(obj, machine) -> dict:
    """A device object's class and attributes (references to `machine`
    become a marker)."""
    cls = type(obj)
    if not cls.__module__.startswith(DEVICE_MODULES) or not hasattr(obj, "attach"):
        raise EmuError(f"cannot save device {cls.__qualname__}: only devices of pvemu's own "
                       "modules with an attach() method are saved")
    attrs, links = {}, []
    for k, v in vars(obj).items():
        if v is machine:
            links.append(k)
        else:
            try:
                attrs[k] = encode(v)
            except EmuError as e:
                raise EmuError(f"cannot save device {cls.__qualname__}.{k}: {e}") from None
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "attrs": attrs, "machine": links}


def make_device(state: dict, machine):
    """The device object device_state() described, attached to `machine`."""
    modname, _, qualname = state["class"].partition(":")
    if not modname.startswith(DEVICE_MODULES):
        raise EmuError(f"the save file names device class {state['class']!r} outside pvemu")
    cls = importlib.import_module(modname)
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
    if not isinstance(cls, type) or not hasattr(cls, "attach"):
        raise EmuError(f"the save file names device class {state['class']!r}, which this pvemu lacks")
    obj = cls.__new__(cls)
    obj.__dict__.update({k: decode(v) for k, v in state["attrs"].items()})
    for k in state["machine"]:
        setattr(obj, k, machine)
    obj.attach()
    return obj


# ---- the file

def _layout():
    from emu._core import cpu_layout
    return cpu_layout()


def pack(kind: int, meta: dict, blobs: dict) -> bytes:
    """The bytes of a save file of `kind` (meta: JSON-able; blobs: section
    name -> bytes): the file write() writes, and a live migration's final
    message (paravirt/migrate.py)."""
    body = bytearray()
    for name, data in [("META", json.dumps(meta, separators=(",", ":")).encode())] + list(blobs.items()):
        body += _SECTION.pack(name.encode(), len(data)) + data
    payload = zlib.compress(bytes(body), 1)
    size, fingerprint = _layout()
    return _HEADER.pack(MAGIC, VERSION, kind, size, fingerprint, len(payload),
                        hashlib.sha256(payload).digest()) + payload


def write(path, kind: int, meta: dict, blobs: dict) -> int:
    """Write a save file of `kind` (see pack()).  Written to a temporary
    name and renamed, so a failed save leaves no half file.  Returns the
    file's size."""
    raw = pack(kind, meta, blobs)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(raw)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise EmuError(f"cannot write save file {path}: {e}") from None
    return len(raw)


def read(path, kind: int):
    """(meta, blobs) of a save file of `kind`, all of it checked first."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise EmuError(f"cannot read save file {path}: {e}") from None
    return unpack(raw, kind, path)


def unpack(raw: bytes, kind: int, path: str):
    """(meta, blobs) of the bytes pack() made, all of it checked first;
    `path` names them in errors (a file, or a migration stream)."""
    if len(raw) < _HEADER.size or raw[:8] != MAGIC:
        raise EmuError(f"{path} is not a pvemu save file")
    magic, version, got_kind, size, fingerprint, length, digest = _HEADER.unpack_from(raw)
    if version != VERSION:
        raise EmuError(f"{path} is a version {version} save file; this pvemu reads version {VERSION}")
    if got_kind != kind:
        raise EmuError(f"{path} holds a {KIND_NAMES.get(got_kind, f'kind {got_kind}')}, "
                       f"not a {KIND_NAMES[kind]}"
                       + (" (load it with Supervisor.restore / `pvemu restore --supervised`)"
                          if got_kind == KIND_DOMAIN else
                          " (load it with Machine.load / `pvemu restore`)" if got_kind == KIND_MACHINE else ""))
    if (size, fingerprint) != _layout():
        raise EmuError(f"{path} was saved by a pvemu whose CPU state differs from this one's "
                       f"(layout {size}/{fingerprint:#x}, here {_layout()[0]}/{_layout()[1]:#x})")
    payload = raw[_HEADER.size:]
    if len(payload) != length:
        raise EmuError(f"{path} is truncated or has trailing bytes ({len(payload)} payload bytes, "
                       f"the header says {length})")
    if hashlib.sha256(payload).digest() != digest:
        raise EmuError(f"{path} is corrupted (its checksum does not match)")
    try:
        body = zlib.decompress(payload)
    except zlib.error as e:
        raise EmuError(f"{path} is corrupted ({e})") from None
    blobs, pos = {}, 0
    while pos < len(body):
        if pos + _SECTION.size > len(body):
            raise EmuError(f"{path} has a cut section header")
        name, n = _SECTION.unpack_from(body, pos)
        pos += _SECTION.size
        if pos + n > len(body):
            raise EmuError(f"{path} has a cut section {name!r}")
        blobs[name.decode("ascii", "replace")] = body[pos:pos + n]
        pos += n
    if "META" not in blobs:
        raise EmuError(f"{path} has no META section")
    meta = json.loads(blobs.pop("META"))
    return meta, blobs


# ---- machines

def machine_sections(m, frames: bool = True) -> tuple:
    """(meta, blobs) for one machine; domains add their own on top.
    frames=False: PFNS and PAGE empty (a live migration sends RAM apart)."""
    st = m._core_state(frames)
    meta = {"memory": st["memory"], "decode_cache": st["decode_cache"], "shared": st["shared"],
            "ips": m.ips, "pv_vcpu": st["pv_vcpu"],
            "serial_pending": encode(st["serial_pending"]),
            "serial_output": encode(st["serial_output"]),
            "debugcon_output": encode(st["debugcon_output"]),
            "devices": [device_state(d, m) for d in st["devices"]],
            "instructions": m.instructions, "virtual_time": m.virtual_time}
    blobs = {"CPU_": st["cpu"], "IOMP": st["io_map"], "PFNS": st["pfns"], "PAGE": st["pages"]}
    if st["absent"] is not None:
        blobs["ABSN"] = st["absent"]
    return meta, blobs


def machine_from(meta: dict, blobs: dict, m=None):
    """A new Machine from machine_sections()' output, or `m` (a machine
    made as machine_for(meta) makes one, RAM already filled by a live
    migration's pre-copy) brought to that state."""
    for name in ("CPU_", "IOMP", "PFNS", "PAGE"):
        if name not in blobs:
            raise EmuError(f"the save file has no {name} section")
    if m is None:
        m = machine_for(meta)
    m._adopt_core_state({"cpu": blobs["CPU_"], "io_map": blobs["IOMP"], "absent": blobs.get("ABSN"),
                         "pfns": blobs["PFNS"], "pages": blobs["PAGE"], "memory": meta["memory"],
                         "pv_vcpu": meta["pv_vcpu"],
                         "serial_pending": decode(meta["serial_pending"]),
                         "serial_output": decode(meta["serial_output"]),
                         "debugcon_output": decode(meta["debugcon_output"])})
    for d in meta["devices"]:
        make_device(d, m)
    m._devices_attached()
    return m


def machine_for(meta: dict):
    """An empty Machine of the size and kind machine_sections() described."""
    from emu import Machine
    return Machine(memory=meta["memory"], decode_cache=meta["decode_cache"], shared=meta["shared"])


def save_machine(m, path) -> int:
    """Machine.save: write m to path; returns the file's size."""
    meta, blobs = machine_sections(m)
    return write(path, KIND_MACHINE, meta, blobs)


def load_machine(path):
    """Machine.load: the machine a save file holds."""
    meta, blobs = read(path, KIND_MACHINE)
    try:
        return machine_from(meta, blobs)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, EmuError):
            raise
        raise EmuError(f"{path} does not hold a complete machine ({type(e).__name__}: {e})") from None
