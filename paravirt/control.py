"""Commands typed while the supervisor runs (`pvemu up --control`, `pvemu
run --supervised --control`): one per line on standard input.

    list                      every domain's state
    balloon NAME SIZE         set the balloon target (e.g. balloon web 24M)
    pause NAME | unpause NAME | destroy NAME
    save NAME FILE            save the domain to FILE (it runs on)
    migrate NAME HOST:PORT    live-migrate the domain to `pvemu receive --listen PORT` there
    restore FILE              add the domain saved in FILE
    help
"""
from __future__ import annotations

import functools
import sys
import threading

from emu.errors import EmuError
from emu.system import parse_size
from paravirt.errors import ConfigError

HELP = __doc__.split("\n\n", 1)[1].rstrip()
END = "(end of commands)"          # in a record log: stdin closed here


def command(sup, line: str):
    """(description, fn) for one command line, fn to run between quanta; or
    (message, None) for one answered at once (list, help, errors)."""
    words = line.split()
    if not words:
        return "", None
    verb, args = words[0], words[1:]
    if verb == "help":
        return HELP, None
    if verb == "list":
        return "\n".join(d.describe() for d in sup.domains.values()), None
    if verb == "restore":
        if len(args) != 1:
            return "restore takes FILE", None
        return f"restore {args[0]}", lambda: _report(sup.restore, args[0])
    if verb not in ("balloon", "pause", "unpause", "destroy", "save", "migrate"):
        return f"unknown command {verb!r}; try help", None
    want = 2 if verb in ("balloon", "save", "migrate") else 1
    if len(args) != want:
        more = {"balloon": " SIZE", "save": " FILE", "migrate": " HOST:PORT"}.get(verb, "")
        return f"{verb} takes NAME{more}", None
    dom = next((d for d in sup.domains.values() if d.name == args[0]), None)
    if dom is None:
        return f"no domain named {args[0]!r} (domains: {', '.join(d.name for d in sup.domains.values())})", None
    if verb == "balloon":
        try:
            pages = sup.target_pages(dom, parse_size(args[1]))
        except (EmuError, ConfigError) as e:
            return str(e), None
        return f"balloon {dom.name} to {args[1]}", lambda: sup.set_target(dom, pages)
    if verb == "save":
        return f"save {dom.name} to {args[1]}", lambda: _report(sup.save, dom, args[1])
    if verb == "migrate":
        from paravirt.migrate import start_reported
        return f"migrate {dom.name} to {args[1]}", lambda: start_reported(sup, dom, args[1])
    return f"{verb} {dom.name}", lambda: getattr(sup, verb)(dom)


def _report(fn, *args) -> None:
    """Run a command that can fail on a file (save, restore): say why
    instead of stopping the supervisor."""
    try:
        fn(*args)
    except (EmuError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)


def serve(sup, stream=None, out=None) -> threading.Thread:
    """Read commands from `stream` (stdin) on a daemon thread, posting them
    to the supervisor; answers and errors go to `out` (stderr)."""
    stream = stream or sys.stdin
    out = out or sys.stderr
    sup.controlled = True

    def loop():
        for line in stream:
            text, fn = command(sup, line)
            if fn is not None:
                sup.post(fn, text, line.strip())
                text = "ok: " + text
            if text:
                print(text, file=out, flush=True)
        sup.post(functools.partial(setattr, sup, "controlled", False), "end of commands", END)

    t = threading.Thread(target=loop, name="pvemu-control", daemon=True)
    t.start()
    return t
