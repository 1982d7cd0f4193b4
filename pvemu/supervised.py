"""`pvemu up FILE.toml` and `pvemu run --supervised ...`: guest domains
under the supervisor, their consoles shown line by line with their names."""
from __future__ import annotations

import sys

from emu.errors import EmuError
from emu.guests import resolve
from emu.loader import LoaderError
from emu.linuxboot import DEFAULT_MEMORY as LINUX_MEMORY
from emu.system import parse_size
from paravirt.config import ActionSpec, Config, DomainSpec, load, parse_time
from paravirt.errors import ConfigError
from pvemu.run import DEFAULT_BUDGET, is_linux

STATUS_FAILED = 1          # some domain crashed or ended with a nonzero status


def add_control_arguments(parser) -> None:
    """Options shared by `up` and `run --supervised`."""
    parser.add_argument("--threads", action="store_true",
                        help="run each domain on its own thread (the core runs without the GIL)")
    parser.add_argument("--quantum", type=int, metavar="N",
                        help="instructions per scheduling round at weight 256 (default 200,000)")
    parser.add_argument("--balloon", action="append", default=[], metavar="NAME=SIZE@TIME",
                        help="set a domain's balloon target at a virtual time, e.g. web=24M@20ms")
    parser.add_argument("--pause", action="append", default=[], metavar="NAME@TIME",
                        help="pause a domain at a virtual time")
    parser.add_argument("--unpause", action="append", default=[], metavar="NAME@TIME",
                        help="unpause a domain at a virtual time")
    parser.add_argument("--realtime", action="store_true",
                        help="do not let virtual time run ahead of the wall clock (idle domains "
                             "wait for real), so --control commands arrive mid-run")
    parser.add_argument("--control", action="store_true",
                        help="read commands from stdin while the domains run: list, "
                             "balloon NAME SIZE, pause NAME, unpause NAME, destroy NAME, "
                             "save NAME FILE, restore FILE, migrate NAME HOST:PORT")
    parser.add_argument("--verbose", action="store_true",
                        help="log the supervisor's decisions (refused hypercalls, actions)")


def add_supervised_arguments(parser, help: str) -> None:
    """--supervised (what it does: `help`) and the options that go with it
    (`run`, `restore`)."""
    parser.add_argument("--supervised", action="store_true", help=help)
    add_control_arguments(parser.add_argument_group("under the supervisor (--supervised)"))


def add_up_arguments(parser) -> None:
    parser.add_argument("config", help="a TOML file of [[domain]] entries (see paravirt/config.py)")
    parser.add_argument("--max-instructions", type=int, metavar="N",
                        help="stop after N instructions in all (default: the file's, else 2,000,000,000)")
    from pvemu.session import add_gdb_arguments, add_record_arguments
    add_record_arguments(parser)
    add_gdb_arguments(parser)
    add_control_arguments(parser)


def _control_actions(args, ips: int) -> list:
    out = []
    try:
        for spec in args.balloon:
            name, _, rest = spec.partition("=")
            size, _, when = rest.partition("@")
            out.append(ActionSpec(parse_time(when or 0, ips, "--balloon"), "balloon", name,
                                  parse_size(size)))
        for kind in ("pause", "unpause"):
            for spec in getattr(args, kind):
                name, _, when = spec.partition("@")
                out.append(ActionSpec(parse_time(when or 0, ips, f"--{kind}"), kind, name))
    except EmuError as e:
        raise ConfigError(str(e)) from None
    return out


def _read(name: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(f"domain {name}: cannot read {path}: {e.strerror}") from None


def start(cfg: Config, verbose: bool = False, console=True, realtime: bool = False):
    """A Supervisor with the configuration's domains created and actions
    scheduled."""
    from paravirt.supervisor import Supervisor, print_console
    log = (lambda msg: print(f"supervisor: {msg}", file=sys.stderr)) if verbose else None
    sup = Supervisor(quantum=cfg.quantum, threads=cfg.threads, ips=cfg.ips, log=log,
                     console=print_console if console else None, realtime=realtime)
    for d in cfg.domains:                       # in order: the n-th gets domain id n (peer= relies on it)
        kernel = _read(d.name, d.kernel)
        initrd = _read(d.name, d.initrd) if d.initrd else None
        try:
            sup.create(kernel, name=d.name, memory=d.memory, max_memory=d.max_memory, weight=d.weight,
                       paravirt=d.paravirt, cmdline=d.cmdline, budget=d.budget, initrd=initrd)
        except LoaderError as e:
            raise ConfigError(f"domain {d.name}: {e}") from None
    names = {d.name for d in cfg.domains}
    for a in cfg.actions:
        if a.kind == "restore":
            sup.at(a.at, lambda f=a.file: sup.restore(f), f"restore {a.file}")
            continue
        if a.domain not in names:
            raise ConfigError(f"{a.kind}: no domain named {a.domain!r} (domains: {', '.join(sorted(names))})")
        dom = sup.domain(a.domain)
        if a.kind == "balloon":
            pages = sup.target_pages(dom, a.target)
            fn, what = (lambda d=dom, p=pages: sup.set_target(d, p)), f"balloon {a.domain} to {a.target >> 20} MiB"
        elif a.kind == "save":
            fn, what = (lambda d=dom, f=a.file: sup.save(d, f)), f"save {a.domain} to {a.file}"
        elif a.kind == "migrate":
            from paravirt.migrate import start_reported
            fn, what = (lambda d=dom, to=a.to: start_reported(sup, d, to)), f"migrate {a.domain} to {a.to}"
        else:
            fn, what = (lambda d=dom, k=a.kind: getattr(sup, k)(d)), f"{a.kind} {a.domain}"
        sup.at(a.at, fn, what)
    return sup


def finish(sup) -> int:
    """Print each domain's end (destroyed ones too) and choose the exit
    status: a single domain's own status; several: 0 only if all shut down
    with status 0 (a destroyed domain has none)."""
    doms = sorted(list(sup.domains.values()) + sup.destroyed, key=lambda d: d.domid)
    for d in doms:
        print(f"pvemu: {d.describe()}", file=sys.stderr)
    if len(doms) == 1 and doms[0].state == "shutdown" and doms[0].exit_status is not None:
        return doms[0].exit_status & 0xFF
    ok = all(d.state == "shutdown" and d.exit_status == 0 for d in doms)
    return 0 if ok else STATUS_FAILED


def _run(cfg: Config, args, saved=()) -> int:
    """Start the configuration's domains (and those in the `saved` files)
    with the command line's options and run them."""
    if args.quantum is not None:
        cfg.quantum = args.quantum
    cfg.threads = cfg.threads or args.threads
    if args.realtime and cfg.threads:
        raise ConfigError("--realtime paces domains scheduled in rounds; it does not combine with threads")
    cfg.actions += _control_actions(args, cfg.ips)
    try:
        sup = start(cfg, args.verbose, realtime=args.realtime)
        if saved:
            sup.restore(list(saved))
    except MemoryError as e:            # more than the host can give
        raise ConfigError(f"--memory {args.memory}: {e}" if getattr(args, "memory", None) else
                          f"domain memory: {e}") from None
    return _go(sup, cfg, args)


def _go(sup, cfg: Config, args) -> int:
    """Run the supervisor as the options say; the exit status."""
    if getattr(args, "record", None):
        sup.record(args.record)
    if getattr(args, "replay", None):
        if args.control or args.realtime:
            raise ConfigError("--replay takes the commands and pacing from the log: drop "
                              "--control and --realtime")
        sup.replay(args.replay)
    stubs = []
    if getattr(args, "gdb", None):
        from emu.gdbstub import serve_domains
        from pvemu.session import gdb_port
        stubs = serve_domains(sup, gdb_port(args.gdb), args.gdb_wait, args.gdb_arch)
    if args.control:
        from paravirt.control import serve
        serve(sup)
    sup.run(max_instructions=cfg.max_instructions)
    for stub in stubs:
        stub.close()
    return finish(sup)


def up(args) -> int:
    try:
        cfg = load(args.config)
        if args.max_instructions is not None:
            cfg.max_instructions = args.max_instructions
        return _run(cfg, args)
    except (ConfigError, EmuError) as e:
        print(f"pvemu up: {e}", file=sys.stderr)
        return 2


def restore_supervised(args) -> int:
    """`pvemu restore --supervised FILE...`: domains saved with
    Supervisor.save (a `save` action or command) run on under a new
    supervisor; files saved together restore together."""
    try:
        return _run(Config(max_instructions=args.max_instructions if args.max_instructions is not None
                           else DEFAULT_BUDGET), args, saved=args.file)
    except (ConfigError, EmuError) as e:
        print(f"pvemu restore: {e}", file=sys.stderr)
        return 2


def run_supervised(args) -> int:
    """`pvemu run --supervised TARGET...`: each target one domain (a bundled
    guest made for several domains, e.g. pingpong, gives that many)."""
    try:
        cfg = Config(ips=args.ips, max_instructions=args.max_instructions)
        for target in args.kernel:
            guest, path = resolve(target)
            copies = guest.domains if guest else 1
            first = len(cfg.domains) + 1            # start() creates them in order: domain ids 1, 2, ...
            for k in range(copies):
                base = guest.name if guest else target.rsplit("/", 1)[-1]
                name = base if copies == 1 else f"{base}{k + 1}"
                while any(d.name == name for d in cfg.domains):
                    name += "'"
                cmdline = args.cmdline if args.cmdline is not None else (guest.args if guest else "")
                if copies > 1:                      # each copy's peer: the next one, round the group
                    cmdline = f"{cmdline} peer={first + (k + 1) % copies}".strip()
                cfg.domains.append(DomainSpec(
                    name=name, kernel=path,
                    memory=parse_size(args.memory or (guest.memory if guest else
                                                      LINUX_MEMORY if is_linux(path) else "64M")),
                    max_memory=parse_size(guest.max_memory) if guest and guest.max_memory else None,
                    paravirt=not args.unmodified, initrd=getattr(args, "initrd", None), cmdline=cmdline))
        return _run(cfg, args)
    except (ConfigError, EmuError) as e:
        print(f"pvemu run: {e}", file=sys.stderr)
        return 2
