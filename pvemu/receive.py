"""`pvemu receive --listen [HOST:]PORT`: the receiving side of live
migration (paravirt/migrate.py) as a command."""
from __future__ import annotations

import sys

from paravirt.errors import ConfigError
from paravirt.migrate import Receiver, parse_address, serve


def add_receive_arguments(parser) -> None:
    parser.add_argument("--listen", required=True, metavar="[HOST:]PORT",
                        help="where to listen (127.0.0.1 unless HOST is given; port 0: any free port)")
    parser.add_argument("--max-instructions", type=int, default=None,
                        help="stop after this many instructions in all")
    parser.add_argument("--verbose", action="store_true", help="log the supervisor's decisions")


def receive_main(args) -> int:
    """`pvemu receive --listen [HOST:]PORT`: a supervisor that waits for a
    domain migrated to it (`migrate NAME HOST:PORT` elsewhere) and runs it
    (and any that follow) to the end; the exit status is 0 if every domain
    it received shut down with status 0, else 1."""
    from paravirt.supervisor import Supervisor
    try:
        host, port = parse_address(args.listen, listen=True)
        log = (lambda msg: print(f"supervisor: {msg}", file=sys.stderr, flush=True)) if args.verbose else None
        sup = Supervisor(log=log)
        receiver = Receiver(sup, port, host, report=lambda msg: print(f"pvemu receive: {msg}",
                                                                      file=sys.stderr, flush=True))
    except ConfigError as e:
        print(f"pvemu receive: {e}", file=sys.stderr)
        return 2
    print(f"pvemu receive: listening on {receiver.host}:{receiver.port}", file=sys.stderr, flush=True)
    serve(sup, receiver, args.max_instructions)
    receiver.close()
    for d in sup.domains.values():
        print(f"pvemu: {d.describe()}", file=sys.stderr)
    return 0 if all(d.state == "shutdown" and d.exit_status == 0 for d in sup.domains.values()) else 1
