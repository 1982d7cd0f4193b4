"""Save and restore (Machine.save / Machine.load, emu/savefile.py).

The property: for every bundled guest and test kernel, a run that is saved
after N instructions and continued in a fresh process to the end point T
ends in the state a run straight to T reaches: the same serial output,
registers, RAM and the whole guest part of the CPU struct (so a field added
to the struct and forgotten by a device's save code shows up here).  The
points N are spread over the run and include one inside a REP string
instruction, one with an interrupt waiting for delivery and one with a
timer armed, wherever the guest has them.
"""
import hashlib
import json
import os
import re
import struct
import subprocess
import sys

import pytest

from emu import EmuError, Machine
from emu.guests import catalog
from emu.system import boot, parse_size
from test_kernels_pvemu import IMAGES as TEST_IMAGES, KERNELS, kernel_args
from helpers import NEUTRAL_CWD, subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAP = 1_500_000          # instructions of each guest the quick test covers
SLOW_CAP = 30_000_000
PROBE = 4_000            # single steps looking for a REP, a pending interrupt, an armed timer


def images():
    out = []
    for g in catalog().values():
        for bits in (32, 64):
            out.append((f"{g.name}{bits}", g.image(bits), parse_size(g.memory), g.args))
    for k in KERNELS:
        a = kernel_args(k)
        out.append((f"test-{k}", os.path.join(TEST_IMAGES, k + ".elf"), parse_size(a["memory"]), a["cmdline"]))
    return out


IMAGES = images()


# A flat program whose REP STOSD and REP MOVSD run many chunks (the guests'
# C code has no REP strings), printing a byte of the copy at the end.
REP_PROGRAM = bytes.fromhex(
    "b950c30000" "bf00002000" "b8efbeadde" "fc" "f3ab"      # fill 50000 dwords
    "be00002000" "bf00003000" "b950c30000" "f3a5"           # copy them
    "a000003000" "66baf803" "ee"                            # print the first byte
    "b000" "e6f4")                                          # isa-debug-exit 0
FLAT = 0x100000


def booted(path, memory, cmdline):
    with open(path, "rb") as f:
        m, _ = boot(f.read(), memory, cmdline, flat_address=FLAT if path.endswith(".bin") else None)
    return m


def run_to(m, end):
    """Run until `end` instructions have retired (a REP chunk may end a
    run() early) or the guest stops."""
    ex = None
    while m.instructions < end:
        ex = m.run(count=end - m.instructions)
        if ex.reason != "count":
            break
    return ex.reason if ex else "count"


CHILD = r"""
import hashlib, json, sys
from emu import Machine
end = int(sys.argv[1])
out = []
for path in sys.argv[2:]:
    m = Machine.load(path)
    ex = None
    while m.instructions < end:
        ex = m.run(count=end - m.instructions)
        if ex.reason != "count":
            break
    out.append({"exit": ex.reason if ex else "count", "instructions": m.instructions,
                "time": m.virtual_time, "regs": m.state(),
                "cpu": m.guest_state_block().hex(),
                "ram": hashlib.sha256(m.mem_read(0, m.memory_size)).hexdigest(),
                "serial": bytes(m.serial_output).decode("latin-1")})
print(json.dumps(out))
"""


def summary(m, exit_reason):
    return {"exit": exit_reason, "instructions": m.instructions, "time": m.virtual_time,
            "regs": json.loads(json.dumps(m.state())), "cpu": m.guest_state_block().hex(),
            "ram": hashlib.sha256(m.mem_read(0, m.memory_size)).hexdigest(),
            "serial": bytes(m.serial_output).decode("latin-1")}


def is_rep_string(m):
    code = m.insn_bytes()
    k = 0
    while k < len(code) and (code[k] in (0x66, 0x67, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65)
                             or (m.mode == 64 and 0x40 <= code[k] <= 0x4F)):
        k += 1
    rep = any(b in (0xF2, 0xF3) for b in code[:k + 1])
    while k < len(code) and code[k] in (0xF2, 0xF3, 0x66, 0x67):
        k += 1
    return rep and k < len(code) and 0xA4 <= code[k] <= 0xAF and m.reg_read("rcx") > 1


def save_points(m, end, tmp):
    """Run m towards `end`, saving at spread points and at the first REP
    chunk, pending interrupt and armed timer found; returns {label: file}."""
    files, wanted = {}, {"rep", "pending", "timer"}
    for k in range(1, 5):
        if run_to(m, end * k // 5) != "count" or m.instructions >= end:
            break
        for _ in range(PROBE if wanted else 0):
            st = m.device_state()
            found = None
            if "timer" in wanted and (st["pit"]["armed"] or st["apic"]["timer_next"] is not None):
                found = "timer"
            elif "pending" in wanted and st["interrupt_pending"]:
                found = "pending"
            elif "rep" in wanted and is_rep_string(m):
                rip, rcx = m.reg_read("rip"), m.reg_read("rcx")
                m.run(count=1)
                if m.reg_read("rip") == rip and m.reg_read("rcx") not in (rcx, 0):
                    found = "rep"                 # stopped between two chunks of one REP
            if found and m.instructions < end:
                wanted.discard(found)
                files[found] = str(tmp / f"{found}.sav")
                m.save(files[found])
                if found != "timer":
                    break
            if m.instructions >= end or m.run(count=1).reason not in ("count",):
                break
        if m.instructions >= end:
            break
        files[f"at{m.instructions}"] = str(tmp / f"p{k}.sav")
        m.save(files[f"at{m.instructions}"])
    return files


def check_image(name, path, memory, cmdline, cap, tmp):
    m = booted(path, memory, cmdline)
    run_to(m, cap)
    end = m.instructions                     # the guest may finish before the cap
    ref = booted(path, memory, cmdline)
    reference = summary(ref, run_to(ref, end))
    files = save_points(booted(path, memory, cmdline), end, tmp)
    assert files, f"{name}: no save point"
    p = subprocess.run([sys.executable, "-c", CHILD, str(end)] + list(files.values()),
                       capture_output=True, text=True, timeout=120,
                       env=subprocess_env(), cwd=NEUTRAL_CWD)
    assert p.returncode == 0, p.stderr
    for label, got in zip(files, json.loads(p.stdout)):
        for key in reference:
            if got[key] != reference[key]:
                detail = ""
                if key == "cpu":
                    a, b = bytes.fromhex(got["cpu"]), bytes.fromhex(reference["cpu"])
                    first = next(i for i in range(len(a)) if a[i] != b[i])
                    detail = f" (first difference at byte {first} of the CPU struct)"
                pytest.fail(f"{name}: restored at {label}, ran to {end}: {key} differs{detail}")
    return set(files)


def test_every_guest_restores_to_the_same_state(tmp_path):
    """All images, quick: the first CAP instructions of each."""
    seen = set()
    for name, path, memory, cmdline in IMAGES:
        d = tmp_path / name
        d.mkdir()
        seen |= check_image(name, path, memory, cmdline, CAP, d)
    # each special point was found in some guest (REP strings: the next test)
    assert {"pending", "timer"} <= seen, seen


def test_restore_inside_a_rep_string(tmp_path):
    path = tmp_path / "rep.bin"
    path.write_bytes(REP_PROGRAM)
    assert "rep" in check_image("rep", str(path), 4 << 20, "", CAP, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name,path,memory,cmdline", IMAGES, ids=[i[0] for i in IMAGES])
def test_whole_runs_restore_to_the_same_state(name, path, memory, cmdline, tmp_path):
    check_image(name, path, memory, cmdline, SLOW_CAP, tmp_path)


# ---- the file format refuses what it cannot trust

@pytest.fixture
def saved(tmp_path):
    m = booted(os.path.join(TEST_IMAGES, "timer32.elf"), 32 << 20, "")
    m.run(count=50_000)
    path = tmp_path / "m.sav"
    m.save(str(path))
    return m, path


def test_load_gives_the_same_machine(saved):
    m, path = saved
    m2 = Machine.load(str(path))
    assert m2.guest_state_block() == m.guest_state_block()
    assert m2.mem_read(0, m.memory_size) == m.mem_read(0, m.memory_size)
    assert m2.state() == m.state() and m2.virtual_time == m.virtual_time


@pytest.mark.parametrize("damage,message", [
    (lambda raw: raw[:len(raw) // 2], "truncated"),
    (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), "corrupted"),
    (lambda raw: raw[:8] + struct.pack("<H", 99) + raw[10:], "version 99"),
    (lambda raw: raw[:10] + struct.pack("<H", 2) + raw[12:], "holds a domain"),
    (lambda raw: raw[:12] + struct.pack("<I", 1) + raw[16:], "CPU state differs"),
    (lambda raw: b"not a save file at all", "not a pvemu save file"),
    (lambda raw: b"", "not a pvemu save file"),
])
def test_bad_files_are_refused_clearly(saved, tmp_path, damage, message):
    _, path = saved
    bad = tmp_path / "bad.sav"
    bad.write_bytes(damage(path.read_bytes()))
    with pytest.raises(EmuError, match=message):
        Machine.load(str(bad))


def test_missing_file_and_unsaveable_device(tmp_path):
    with pytest.raises(EmuError, match="cannot read"):
        Machine.load(str(tmp_path / "nothing.sav"))
    m = Machine(memory=1 << 20)
    m.add_io_handler(0x300, read=lambda p, s: 0)
    with pytest.raises(EmuError, match="plain function"):
        m.save(str(tmp_path / "x.sav"))
    assert not os.path.exists(tmp_path / "x.sav")


def test_sparse_memory_costs_nothing(tmp_path):
    small, big = Machine(memory=1 << 20), Machine(memory=1 << 30)
    for m in (small, big):
        m.mem_write(0x1000, b"\x90" * 100)
    a, b = small.save(str(tmp_path / "a")), big.save(str(tmp_path / "b"))
    assert abs(a - b) < 2048                      # 1 GiB of zeroes adds almost nothing
    big.mem_write(0x10000, os.urandom(64 << 12))
    b = big.save(str(tmp_path / "b"))
    assert b > 64 << 12
    big.release_frames(16, 64)                    # ballooned out: not saved
    c = big.save(str(tmp_path / "c"))
    assert c < b - (63 << 12)
    assert Machine.load(str(tmp_path / "c")).frame_present(16) is False


def test_every_pointer_field_of_the_cpu_is_scrubbed():
    """A pointer added to struct CPU must be listed in snapshot.pxi, or a
    save file would hold a host address (and a restore would use it)."""
    pxd = open(os.path.join(ROOT, "emu", "_core.pxd")).read()
    body = pxd[pxd.index("cdef struct CPU:"):]
    pointers = set()
    for line in body.splitlines()[1:]:
        line = line.split("#")[0]
        if line.strip() and not line.startswith(" "):
            break
        m = re.match(r"\s+[\w ]+?(\*+)\s*(.+)", line)
        if m:
            pointers |= {n.strip() for n in m.group(2).split(",")}
    pointers |= {"tlb_r", "tlb_w", "tlb_x"}       # TlbEntry holds a host addend
    pxi = open(os.path.join(ROOT, "emu", "snapshot.pxi")).read()
    scrub = pxi[pxi.index("cdef void cpu_scrub("):pxi.index("cdef void cpu_adopt(")]
    listed = set(re.findall(r"t\.(\w+) = NULL", scrub)) | set(re.findall(r"memset\(t\.(\w+)", scrub))
    assert pointers and pointers <= listed, pointers - listed
