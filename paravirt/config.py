"""Domain descriptions for `pvemu up FILE.toml`:

    [supervisor]            # all optional
    quantum = 200000        # instructions per round at weight 256
    threads = false         # one thread per domain (the core runs without the GIL)
    ips = 100000000         # virtual instructions per second
    max_instructions = 2000000000

    [[domain]]
    name = "web"            # default: the kernel's name
    kernel = "hello"        # a bundled guest (hello, hello32, ...) or a file, relative to this file
    memory = "32M"
    max_memory = "64M"      # the balloon's ceiling (default: memory)
    weight = 256            # CPU share relative to the others
    paravirt = true         # false: unmodified, the supervisor hidden, privileged instructions trap
    cmdline = ""
    initrd = "initrd.img"   # a Linux kernel's initial ramdisk, relative to this file
    budget = 500000000      # instructions before the domain is stopped

    [[action]]              # things to do while the domains run, at a virtual time
    at = "20ms"             # or a number of instructions
    balloon = { domain = "web", target = "24M" }   # or: pause = "web", unpause = "web", destroy = "web"
    # save = { domain = "web", file = "web.sav" }  # save the domain (it runs on)
    # restore = "web.sav"                          # add a saved domain (paths relative to this file)
    # migrate = { domain = "web", to = "10.0.0.2:7000" }  # live-migrate it to `pvemu receive` there
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

from emu.errors import EmuError
from emu.guests import resolve
from emu.system import parse_size
from paravirt.errors import ConfigError

DOMAIN_KEYS = {"name", "kernel", "memory", "max_memory", "weight", "paravirt", "cmdline", "initrd", "budget"}
SUPERVISOR_KEYS = {"quantum", "threads", "ips", "max_instructions"}
ACTIONS = ("balloon", "pause", "unpause", "destroy", "save", "restore", "migrate")


@dataclass
class DomainSpec:
    name: str
    kernel: str                  # a path
    memory: int
    max_memory: Optional[int] = None
    weight: int = 256
    paravirt: bool = True
    cmdline: str = ""
    budget: Optional[int] = None
    initrd: Optional[str] = None  # a path


@dataclass
class ActionSpec:
    at: int                      # virtual time in instructions
    kind: str                    # balloon, pause, unpause, destroy, save, restore
    domain: str                  # (restore: empty)
    target: Optional[int] = None # bytes (balloon)
    file: Optional[str] = None   # save, restore
    to: Optional[str] = None     # migrate: HOST:PORT


@dataclass
class Config:
    domains: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    quantum: int = 200_000
    threads: bool = False
    ips: int = 100_000_000
    max_instructions: Optional[int] = None


def parse_time(value, ips: int, where: str) -> int:
    """'20ms', '1.5s', '300us', '5000' or 5000 (instructions) -> instructions."""
    if isinstance(value, int) and value >= 0:
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|ms|us|ns)?\s*", str(value))
    if not m:
        raise ConfigError(f"{where}: bad time {value!r} (use instructions, or e.g. 20ms, 1.5s)")
    if not m.group(2):
        return int(float(m.group(1)))
    scale = {"s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[m.group(2)]
    return int(float(m.group(1)) * scale * ips)


def _size(value, where: str) -> int:
    try:
        return parse_size(value) if isinstance(value, str) else int(value)
    except (EmuError, ValueError, TypeError):
        raise ConfigError(f"{where}: bad size {value!r} (e.g. 32M)") from None


def _typed(table: dict, key: str, kind, where: str):
    v = table[key]
    if kind is int and isinstance(v, bool) or not isinstance(v, kind):
        raise ConfigError(f"{where}: {key} must be {kind.__name__}, not {v!r}")
    return v


def domain_spec(table: dict, where: str, base_dir: str = ".") -> DomainSpec:
    unknown = set(table) - DOMAIN_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(DOMAIN_KEYS))})")
    if "kernel" not in table:
        raise ConfigError(f"{where}: no kernel (a bundled guest name or a file)")
    kernel = _typed(table, "kernel", str, where)
    candidate = os.path.join(base_dir, kernel)
    try:
        guest, path = resolve(candidate if os.path.exists(candidate) else kernel)
    except EmuError as e:
        raise ConfigError(f"{where}: {e}") from None
    spec = DomainSpec(name=table.get("name") or (guest.name if guest else os.path.basename(kernel)),
                      kernel=path,
                      memory=_size(table.get("memory", guest.memory if guest else "32M"), where),
                      cmdline=guest.args if guest else "")
    if "max_memory" in table or (guest and guest.max_memory):
        spec.max_memory = _size(table.get("max_memory", guest.max_memory if guest else None), where)
    for key, kind in (("weight", int), ("paravirt", bool), ("cmdline", str), ("budget", int)):
        if key in table:
            setattr(spec, key, _typed(table, key, kind, where))
    if "initrd" in table:
        spec.initrd = os.path.join(base_dir, _typed(table, "initrd", str, where))
    if not isinstance(spec.name, str) or not spec.name:
        raise ConfigError(f"{where}: name must be a non-empty string")
    return spec


def load(path: str) -> Config:
    """Read and check a domains file; ConfigError names any problem."""
    import tomllib
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    unknown = set(data) - {"supervisor", "domain", "action"}
    if unknown:
        raise ConfigError(f"{path}: unknown sections {', '.join(sorted(unknown))} "
                          "(known: [supervisor], [[domain]], [[action]])")
    cfg = Config()
    sup = data.get("supervisor", {})
    if set(sup) - SUPERVISOR_KEYS:
        raise ConfigError(f"{path} [supervisor]: unknown keys {', '.join(sorted(set(sup) - SUPERVISOR_KEYS))}")
    for key, kind in (("quantum", int), ("threads", bool), ("ips", int), ("max_instructions", int)):
        if key in sup:
            setattr(cfg, key, _typed(sup, key, kind, f"{path} [supervisor]"))
    domains = data.get("domain", [])
    if not isinstance(domains, list) or not domains:
        raise ConfigError(f"{path}: no [[domain]] entries")
    base = os.path.dirname(os.path.abspath(path))
    cfg.domains = [domain_spec(d, f"{path} domain {k + 1}", base) for k, d in enumerate(domains)]
    names = [d.name for d in cfg.domains]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"{path}: domain names must be unique ({', '.join(sorted(dupes))} repeated)")
    for k, a in enumerate(data.get("action", [])):
        where = f"{path} action {k + 1}"
        kinds = [x for x in ACTIONS if x in a]
        if "at" not in a or len(kinds) != 1 or set(a) - {"at", *ACTIONS}:
            raise ConfigError(f"{where}: give `at` and one of {', '.join(ACTIONS)}")
        kind, body = kinds[0], a[kinds[0]]
        if kind == "balloon":
            if not isinstance(body, dict) or set(body) != {"domain", "target"}:
                raise ConfigError(f"{where}: balloon = {{ domain = \"NAME\", target = \"24M\" }}")
            act = ActionSpec(parse_time(a["at"], cfg.ips, where), kind, body["domain"],
                             _size(body["target"], where))
        elif kind == "save":
            if not isinstance(body, dict) or set(body) != {"domain", "file"}:
                raise ConfigError(f"{where}: save = {{ domain = \"NAME\", file = \"NAME.sav\" }}")
            act = ActionSpec(parse_time(a["at"], cfg.ips, where), kind, body["domain"],
                             file=os.path.join(base, _typed(body, "file", str, where)))
        elif kind == "migrate":
            if not isinstance(body, dict) or set(body) != {"domain", "to"}:
                raise ConfigError(f"{where}: migrate = {{ domain = \"NAME\", to = \"HOST:PORT\" }}")
            act = ActionSpec(parse_time(a["at"], cfg.ips, where), kind, body["domain"],
                             to=_typed(body, "to", str, where))
        elif kind == "restore":
            if not isinstance(body, str):
                raise ConfigError(f"{where}: restore = \"FILE.sav\"")
            cfg.actions.append(ActionSpec(parse_time(a["at"], cfg.ips, where), kind, "",
                                          file=os.path.join(base, body)))
            continue
        else:
            act = ActionSpec(parse_time(a["at"], cfg.ips, where), kind, body)
        if act.domain not in names:
            raise ConfigError(f"{where}: no domain named {act.domain!r} (domains: {', '.join(names)})")
        cfg.actions.append(act)
    return cfg
