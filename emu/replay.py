"""Record and replay logs (`--record LOG`, `--replay LOG`).

A log is JSON lines.  The first line says where the run started:
    {"pvemu_record": 1, "kind": "machine"|"supervisor", "instructions": N, ...}
then one line per input that does not come from the command line, in the
order they were taken, each with the point it was taken at (a machine's
retired instruction count; the supervisor's virtual clock):
    {"at": N, "serial": "<base64>", "rip": R, "rcx": C}   serial input (a machine)
    {"at": T, "control": "balloon web 24M"}      a --control command
    {"at": T, "pace": T2}                        a --realtime pacing decision
and a last line with the end state's digest, which replay checks:
    {"end": N, "digest": "<sha256>"}
"""
from __future__ import annotations

import base64
import hashlib
import json

from emu.errors import EmuError

VERSION = 1


def machine_digest(m) -> str:
    """SHA-256 over what the guest's state is: the CPU block (guest part),
    RAM and the serial output so far."""
    h = hashlib.sha256(m.guest_state_block())
    h.update(m.mem_read(0, m.memory_size))
    h.update(bytes(m.serial_output))
    return h.hexdigest()


class Recorder:
    """Writes a log as the run goes (each line flushed: a run that dies
    still leaves the inputs it took)."""

    def __init__(self, path: str, start: int, kind: str = "machine", **info):
        try:
            self.f = open(path, "w")
        except OSError as e:
            raise EmuError(f"cannot write the record log {path}: {e.strerror}") from None
        self._line({"pvemu_record": VERSION, "kind": kind, "instructions": start, **info})

    def _line(self, obj) -> None:
        self.f.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self.f.flush()

    def serial(self, at: int, data: bytes, rip: int, rcx: int) -> None:
        """Serial input taken at `at` instructions, with rip and rCX there
        (a REP string instruction in progress has the same count at each
        of its chunks: these say which)."""
        self._line({"at": at, "serial": base64.b64encode(data).decode(), "rip": rip, "rcx": rcx})

    def event(self, at: int, **what) -> None:
        self._line({"at": at, **what})

    def close(self, end: int, digest: str) -> None:
        self._line({"end": end, "digest": digest})
        self.f.close()


class Script:
    """A recorded log read back: the events in order, and the end."""

    def __init__(self, path: str, start: int, kind: str = "machine"):
        try:
            with open(path) as f:
                lines = [json.loads(line) for line in f if line.strip()]
        except OSError as e:
            raise EmuError(f"cannot read the replay log {path}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise EmuError(f"{path} is not a pvemu record log ({e})") from None
        if not lines or lines[0].get("pvemu_record") != VERSION:
            raise EmuError(f"{path} is not a version {VERSION} pvemu record log")
        head = lines[0]
        if head.get("kind") != kind:
            raise EmuError(f"{path} records a {head.get('kind')} run, not a {kind} run")
        if head.get("instructions") != start:
            raise EmuError(f"{path} starts at {head.get('instructions'):,} instructions; this run starts "
                           f"at {start:,} (replay with the same command line and save file)")
        self.events = [e for e in lines[1:] if "at" in e]
        ends = [e for e in lines[1:] if "end" in e]
        self.end = ends[-1] if ends else None

    def next_at(self, kind: str = None):
        """The point of the next unused event (of `kind`: 'serial',
        'control', 'pace'), or None."""
        e = next((e for e in self.events if not e.get("_used") and (kind is None or kind in e)), None)
        return e["at"] if e is not None else None

    def take(self, kind: str, at: int, first: bool = False) -> list:
        """The unused events of `kind` due at `at` (or before), consumed
        (only the first of them with `first`)."""
        out = [e for e in self.events if kind in e and e["at"] <= at and not e.get("_used")]
        out = out[:1] if first else out
        for e in out:
            e["_used"] = True
        return out

    def align(self, m, event) -> None:
        """Bring m to the recorded rip and rCX of a serial event: inside a
        REP string instruction, step chunk by chunk (no instruction
        retires, so the count stays)."""
        for _ in range(1 << 16):
            if (m.reg_read("rip"), m.reg_read("rcx")) == (event["rip"], event["rcx"]):
                return
            ex = m.run(count=1)
            if m.instructions != event["at"] or ex.reason != "count":
                break
        raise EmuError(f"replay diverged: at {event['at']:,} instructions the guest is not where "
                       "the recording took input")

    def check_end(self, end: int, digest: str) -> None:
        """EmuError unless the replay ended where and as the recording did."""
        left = [e for e in self.events if not e.get("_used")]
        if left:
            raise EmuError(f"replay ended with {len(left)} recorded inputs not used "
                           f"(next at {left[0]['at']:,})")
        if self.end is None:
            return                       # the recording did not finish: nothing to compare
        if (end, digest) != (self.end["end"], self.end["digest"]):
            raise EmuError(f"replay diverged: ended at {end:,} with state {digest[:16]}, the recording "
                           f"at {self.end['end']:,} with {self.end['digest'][:16]}")


def serial_bytes(event) -> bytes:
    return base64.b64decode(event["serial"])
