"""One machine's run from the command line (`pvemu run`, `pvemu restore`):
the instruction budget, a save point (--save-at/--save), serial input typed
while it runs (--input), recording those inputs (--record) and replaying
them (--replay), and the gdb stub (--gdb).

With virtual time a run is a function of its inputs.  The only input of a
single machine that does not come from its command line is serial input
that arrives while it runs: where it lands (the instruction count at which
the run loop was stopped to take it) depends on the host.  The record log
(emu/replay.py) holds exactly those (instruction count, bytes) pairs;
replaying runs to each count and feeds the same bytes there, so the run
ends in the same state, bit for bit."""
from __future__ import annotations

import os
import queue
import sys
import threading

from emu.errors import EmuError


#: Instructions between two hand-overs of the guest's output to stdout or
#: the --serial file (the core buffers it; a run may be cut anywhere).
OUTPUT_SLICE = 1 << 20


def add_arguments(parser) -> None:
    """The options `run` and `restore` share."""
    parser.add_argument("--save-at", type=int, metavar="INSTRUCTIONS",
                        help="with --save: save once the machine has retired this many "
                             "instructions (counted from its boot), then run on")
    parser.add_argument("--save", metavar="FILE",
                        help="save the machine to FILE (at --save-at, else when the run ends); "
                             "`pvemu restore FILE` continues it")
    parser.add_argument("--input", metavar="stdin|FILE",
                        help="serial input for the guest, read while it runs (stdin: as typed)")
    add_record_arguments(parser)
    add_gdb_arguments(parser)


def add_record_arguments(parser) -> None:
    """--record and --replay (run, restore, up)."""
    parser.add_argument("--record", metavar="LOG",
                        help="record the inputs that are not on the command line (serial input, "
                             "--control commands, --realtime pacing) and where they were taken, to LOG")
    parser.add_argument("--replay", metavar="LOG",
                        help="replay the inputs a --record run logged: the run ends in the same state")


def add_gdb_arguments(parser) -> None:
    """--gdb, --gdb-wait and --gdb-arch (run, restore, up)."""
    parser.add_argument("--gdb", metavar="tcp::PORT",
                        help="serve gdb's remote protocol on 127.0.0.1:PORT (as QEMU's -gdb); under "
                             "the supervisor one stub a domain, on PORT, PORT+1, ...")
    parser.add_argument("--gdb-wait", action="store_true",
                        help="with --gdb: wait for gdb before running the first instruction (QEMU's -S)")
    parser.add_argument("--gdb-arch", default="auto", choices=("auto", "i386", "x86-64"),
                        help="the register layout gdb is given: auto (x86-64 in long mode, else "
                             "i386, decided when gdb connects), or always one")


def gdb_port(spec: str) -> int:
    """'tcp::1234', ':1234' or '1234' -> 1234."""
    text = spec[len("tcp:"):] if spec.startswith("tcp:") else spec
    text = text.rsplit(":", 1)[-1]
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise EmuError(f"bad --gdb {spec!r}: use tcp::PORT, e.g. tcp::1234")
    return int(text)


class InputFeed:
    """Serial input arriving from a stream while the machine runs: a reader
    thread queues what it reads and stops the run loop, which takes it at
    an instruction boundary (feed())."""

    def __init__(self, machine, stream):
        self.m = machine
        self.queue = queue.SimpleQueue()
        self.open = True
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True,
                                       name="pvemu-serial-input")
        self.thread.start()

    def _read(self, stream):
        fd = stream.fileno()
        while True:
            data = os.read(fd, 4096)
            self.queue.put(data)
            self.m.stop()
            if not data:
                return

    def take(self, block: bool = False) -> bytes:
        """What arrived so far (waiting for something when block)."""
        out = bytearray()
        while self.open:
            try:
                data = self.queue.get(block=block and not out)
            except queue.Empty:
                break
            if not data:
                self.open = False
            out += data
        return bytes(out)


def run_machine(m, args, prog: str = "pvemu run", start: int = 0, serial=None) -> int:
    """Run m as the command line says, with --max-instructions counted from
    `start` (0: boot); the guest's exit as an exit status (see
    pvemu.run.exit_status).  `serial`: the pvemu.run.serial_to its output
    goes through (its hash is part of what replay compares)."""
    from emu import replay
    from pvemu.run import exit_status
    if args.record and args.replay:
        raise EmuError("--record and --replay do not go together")
    if args.replay and args.input:
        raise EmuError("--replay feeds the recorded input; drop --input")
    from pvemu.run import DEFAULT_BUDGET
    end = start + (args.max_instructions if args.max_instructions is not None else DEFAULT_BUDGET)
    if args.gdb and (args.save_at is not None or args.record or args.replay or args.input):
        raise EmuError("--gdb runs the guest as gdb says: save, record, replay and --input "
                       "do not combine with it")
    if args.gdb:
        from emu.gdbstub import serve_machine
        ex = serve_machine(m, gdb_port(args.gdb), wait=args.gdb_wait, end=end, arch=args.gdb_arch)
        return exit_status(m, ex, args, prog)
    save_at = args.save_at
    if save_at is not None and save_at < m.instructions:
        raise EmuError(f"--save-at {save_at:,}: the machine has run {m.instructions:,} instructions already")
    log = replay.Recorder(args.record, m.instructions) if args.record else None
    script = replay.Script(args.replay, m.instructions) if args.replay else None
    feed = None
    if args.input:
        stream = sys.stdin.buffer if args.input in ("stdin", "-") else open(args.input, "rb")
        feed = InputFeed(m, stream)
    while True:
        stops = [end, m.instructions + OUTPUT_SLICE]
        stops += [s for s in (save_at, script and script.next_at("serial")) if s is not None]
        ex = m.run(count=max(0, min(stops) - m.instructions))
        here = m.instructions
        if save_at == here:
            m.save(args.save)
            save_at = None
        due = script.take("serial", here) if script is not None and script.next_at("serial") == here else []
        for event in due:
            script.align(m, event)
            m.serial_input(replay.serial_bytes(event))
        if due and ex.reason in ("count", "hlt", "stop"):
            continue
        if feed is not None and (ex.reason == "stop" or (ex.reason == "hlt" and feed.open)):
            data = feed.take(block=ex.reason == "hlt")
            if data:
                m.serial_input(data)
                if log is not None:
                    log.serial(here, data, m.reg_read("rip"), m.reg_read("rcx"))
            if data or ex.reason == "stop":
                continue
        if ex.reason == "count" and here < end:
            continue
        break
    if args.save and args.save_at is None:
        m.save(args.save)
    digest = replay.machine_digest(m) + (serial.hash.hexdigest() if serial is not None else "")
    if log is not None:
        log.close(m.instructions, digest)
    if script is not None:
        script.check_end(m.instructions, digest)
    return exit_status(m, ex, args, prog)


def add_restore_arguments(parser) -> None:
    parser.add_argument("file", metavar="FILE", nargs="+",
                        help="a save file (from --save, Machine.save or Supervisor.save); with "
                             "--supervised, several domains saved together")
    from pvemu.run import add_session_arguments
    add_session_arguments(parser)
    from pvemu.supervised import add_supervised_arguments
    add_supervised_arguments(parser, "the file holds a supervised domain: restore it under a new supervisor")


def restore(args) -> int:
    """`pvemu restore FILE [run options]`: continue a saved machine (or,
    with --supervised, a saved domain) where it stopped."""
    from emu import Machine
    from pvemu.run import run_session
    if args.supervised:
        from pvemu.supervised import restore_supervised
        return restore_supervised(args)
    try:
        if len(args.file) > 1:
            raise EmuError("one machine at a time (several files only with --supervised)")
        m = Machine.load(args.file[0])
    except EmuError as e:
        print(f"pvemu restore: {e}", file=sys.stderr)
        return 2
    return run_session(m, args, "pvemu restore", start=m.instructions)
