"""Instruction traces (emu/trace.py, Machine.trace_steps): the fast tracer
writes what stepping with run(count=1) and formatting each instruction
afresh writes -- the oracle below, which is how `pvemu run --trace` worked
before -- and leaves the machine in the same state."""
import io
import os

import pytest

from emu import Machine
from emu.system import boot
from emu.trace import Tracer, trace
from helpers import CODE, STACK

IMAGES = os.path.join(os.path.dirname(__file__), "..", "emu", "images", "guests")


def reference_trace(m, count, address_range=None):
    """One run(count=1) per instruction, each line formatted from scratch."""
    out = []
    fmt = Tracer()
    while len(out) < count:
        rip = m.reg_read("rip")
        if address_range is None or address_range[0] <= rip < address_range[1]:
            code = m.insn_bytes(rip)
            cs = m.reg_read("cs") if m.mode == 16 else 0
            record = (rip.to_bytes(8, "little") + cs.to_bytes(2, "little") + bytes([m.mode, len(code)])
                      + code.ljust(20, b"\0"))
            out.append(fmt.line(record))
        ex = m.run(count=1)
        if ex.reason != "count":
            return "".join(out), ex
    return "".join(out), None


def booted(name):
    with open(os.path.join(IMAGES, name), "rb") as f:
        m, _ = boot(f.read(), 32 << 20, "")
    serial = io.BytesIO()
    m.set_serial(serial)
    return m, serial


def state(m, ex):
    return (m.reg_read("rip"), m.instructions, m.state()["rflags"],
            None if ex is None else (ex.reason, ex.address, ex.instructions))


@pytest.mark.parametrize("guest", ["hello32.elf", "hello64.elf"])
@pytest.mark.parametrize("address_range", [None, (0x100000, 0x100400)])
def test_trace_matches_stepping(guest, address_range):
    a, serial_a = booted(guest)
    b, serial_b = booted(guest)
    out = io.StringIO()
    ex_a = trace(a, 20000, address_range, out)
    text_b, ex_b = reference_trace(b, 20000, address_range)
    assert out.getvalue() == text_b
    assert len(text_b.splitlines()) == 20000 or ex_b is not None
    assert state(a, ex_a) == state(b, ex_b)
    assert serial_a.getvalue() == serial_b.getvalue()


@pytest.mark.parametrize("mode", [32, 64])
def test_trace_stops_as_a_step_would(mode):
    code = b"\xff\xc0\xff\xc0\xe6\x80\xff\xc0\x0f\x0b"    # inc; inc; out 0x80, al (Python); inc; ud2
    machines = []
    for _ in range(2):
        m = Machine(mode=mode, memory=1 << 20)
        m.mem_write(CODE, code)
        m.reg_write("rsp", STACK)
        m.reg_write("rip", CODE)
        seen = []
        m.add_io_handler(0x80, write=lambda port, size, value, seen=seen: seen.append(value))
        machines.append((m, seen))
    (a, seen_a), (b, seen_b) = machines
    out = io.StringIO()
    ex_a = trace(a, 100, out=out)
    text_b, ex_b = reference_trace(b, 100)
    assert ex_a.reason == "exception" and ex_a.vector == 6 and ex_a.address == CODE + 8
    assert out.getvalue() == text_b and len(text_b.splitlines()) == 5
    assert state(a, ex_a) == state(b, ex_b)
    assert seen_a == seen_b == [2]


def test_trace_of_an_unfetchable_address():
    m = Machine(mode=32, memory=1 << 20)
    m.reg_write("rip", 0x7FF00000)
    out = io.StringIO()
    ex = trace(m, 5, out=out)
    assert ex.reason == "unmapped" and ex.access == "fetch"
    assert out.getvalue() == "0x7ff00000                                 \n"


def test_trace_cache_is_per_record():
    t = Tracer()
    rec = (0x1000).to_bytes(8, "little") + b"\0\0" + bytes([32, 1]) + b"\x90".ljust(20, b"\0")
    assert t.text(rec * 3) == t.line(rec) * 3
    assert len(t.lines) == 1
