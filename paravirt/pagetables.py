"""Reading the guest's page tables from the supervisor: which entry maps a
linear address (update_va_mapping), how wide entries are, and which frames a
table names (pinning).  Three formats, as the CPU walks them: 32-bit
two-level, PAE three-level and 4-level long mode."""
from __future__ import annotations

import struct

PRESENT = 1
PS = 0x80
ADDR_MASK = 0x000FFFFFFFFFF000


def entry_size(machine) -> int:
    """8 under PAE (and long mode), 4 with 32-bit paging."""
    return 8 if machine.read_cr(4) & 0x20 else 4


def levels(machine) -> int:
    if not machine.read_cr(4) & 0x20:
        return 2
    return 4 if machine.read_msr(0xC0000080) & 0x400 else 3        # EFER.LMA


def read_entry(machine, address: int, size: int) -> int:
    return int.from_bytes(machine.mem_read(address, size), "little")


def leaf_entry_address(machine, va: int):
    """Guest-physical address of the entry that maps `va` at the lowest
    level present (a 4 KiB PTE, or a large-page directory entry), or None
    when an upper level is not present."""
    n = levels(machine)
    size = entry_size(machine)
    table = machine.read_cr(3) & (0xFFFFF000 if n == 2 else (0xFFFFFFE0 if n == 3 else ADDR_MASK))
    if n == 2:
        shifts, bits = (22, 12), 10
    elif n == 3:
        shifts, bits = (30, 21, 12), 9
    else:
        shifts, bits = (39, 30, 21, 12), 9
    for depth, shift in enumerate(shifts):
        width = 2 if (n == 3 and depth == 0) else bits
        index = (va >> shift) & ((1 << width) - 1)
        addr = table + index * size
        if addr + size > machine.memory_size:
            return None
        if depth == len(shifts) - 1:
            return addr
        e = read_entry(machine, addr, size)
        if not e & PRESENT:
            return None
        if e & PS and depth > 0 or (e & PS and n == 2):
            return addr                                     # a large page
        table = e & (ADDR_MASK if size == 8 else 0xFFFFF000)
    return None


def table_frames(machine, frame: int):
    """Frames named by the present entries of the page table in `frame`."""
    size = entry_size(machine)
    data = machine.mem_read(frame << 12, 4096)
    fmt = "<512Q" if size == 8 else "<1024I"
    mask = ADDR_MASK if size == 8 else 0xFFFFF000
    return [(e & mask) >> 12 for e in struct.unpack(fmt, data) if e & PRESENT]
