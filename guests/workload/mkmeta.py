#!/usr/bin/env python3
"""Write emu/images/workload.json for the pvemu workload images.

Called by the Makefile.  Addresses come from the linked ELF files (via nm),
checksums from running the natively built program, so nothing in the JSON is
typed by hand.  The header layout checked here is the one documented in
entry.S.
"""
import argparse
import hashlib
import json
import os
import shlex
import struct
import subprocess
import sys

MAGIC = b"PVWL"
HEADER_OFFSET = 0x08
ROUNDS_OFFSET = 0x10
RESULT_OFFSET = 0x14
BITS_OFFSET = 0x18

# Round counts whose native checksums are recorded (the runner can verify any
# of these against the host CPU; others are only compared between engines).
ROUNDS_TABLE = (0, 1, 2, 3, 4, 5, 10, 20, 25, 50, 100, 200, 500, 1000)


def symbols(nm, elf):
    out = subprocess.run(shlex.split(nm) + [elf], check=True, capture_output=True,
                         text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = int(parts[0], 16)
    return syms


def native_checksums(native, rounds):
    res = subprocess.run([native, "--selftest"], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit("native selftest failed: " + res.stdout + res.stderr)
    out = subprocess.run([native] + [str(r) for r in rounds], check=True,
                         capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        r, value = line.split()
        table[int(r)] = int(value, 16)
    if sorted(table) != sorted(rounds):
        sys.exit("native program printed unexpected rounds: %r" % out)
    return table


def compiler_version(cc):
    try:
        out = subprocess.run(shlex.split(cc) + ["--version"], capture_output=True,
                             text=True, check=True).stdout
        return out.splitlines()[0].strip()
    except (OSError, subprocess.CalledProcessError, IndexError):
        return cc


def image_entry(bits, elf, binfile, syms, default_rounds):
    with open(binfile, "rb") as f:
        data = f.read()
    load = syms["_start"]
    need = {"pv_header": HEADER_OFFSET, "pv_rounds": ROUNDS_OFFSET,
            "pv_result": RESULT_OFFSET}
    for name, off in need.items():
        if syms.get(name) != load + off:
            sys.exit("%s: %s at %#x, expected load+%#x" % (elf, name, syms.get(name, -1), off))
    if data[HEADER_OFFSET:HEADER_OFFSET + 4] != MAGIC:
        sys.exit("%s: no magic at offset %#x" % (binfile, HEADER_OFFSET))
    (rounds,) = struct.unpack_from("<I", data, ROUNDS_OFFSET)
    (hdr_bits,) = struct.unpack_from("<I", data, BITS_OFFSET)
    if rounds != default_rounds or hdr_bits != bits:
        sys.exit("%s: header rounds/bits %d/%d, expected %d/%d"
                 % (binfile, rounds, hdr_bits, default_rounds, bits))
    hlt = syms["pv_hlt"]
    if data[hlt - load] != 0xF4:
        sys.exit("%s: no HLT at pv_hlt" % binfile)
    mem_end = syms["pv_stack_top"]
    return {
        "file": os.path.basename(binfile),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "load_address": load,
        "entry": load,
        "hlt_address": hlt,
        "stack_top": syms["pv_stack_top"],
        "mem_end": mem_end,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--cc", default="gcc")
    ap.add_argument("--cflags", default="")
    ap.add_argument("--native", required=True)
    ap.add_argument("--default-rounds", type=int, required=True)
    ap.add_argument("--image", nargs=3, action="append", required=True,
                    metavar=("BITS", "ELF", "BIN"))
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()

    rounds = sorted(set(ROUNDS_TABLE) | {args.default_rounds})
    table = native_checksums(args.native, rounds)
    images = {}
    for bits, elf, binfile in args.image:
        images[bits] = image_entry(int(bits), elf, binfile, symbols(args.nm, elf),
                                   args.default_rounds)
    loads = {img["load_address"] for img in images.values()}
    if len(loads) != 1 or any(img["entry"] != img["load_address"] for img in images.values()):
        sys.exit("images linked at different addresses")

    meta = {
        "format": 1,
        "description": "pvemu reference integer workload: per round a sieve of "
                       "Eratosthenes over 8 KiB, bitwise CRC-32 over 4 KiB and a "
                       "bubble sort of 256 words, folded into one 32-bit checksum",
        "load_address": loads.pop(),
        "entry": images[next(iter(images))]["entry"],
        "magic": MAGIC.decode(),
        "header_offset": HEADER_OFFSET,
        "rounds_offset": ROUNDS_OFFSET,
        "result_offset": RESULT_OFFSET,
        "bits_offset": BITS_OFFSET,
        "rounds": "little-endian uint32 at load_address + rounds_offset; "
                  "the runner overwrites it before starting",
        "stack": "the image sets ESP/RSP itself (stack_top, inside the image's "
                 ".bss); the runner must map [load_address, mem_end) zero-filled",
        "exit": "HLT at hlt_address with the checksum in EAX (also stored at "
                "load_address + result_offset)",
        "default_rounds": args.default_rounds,
        "checksum": table[args.default_rounds],
        "checksums": {str(r): table[r] for r in rounds},
        "images": images,
        "compiler": compiler_version(args.cc),
        "cflags": args.cflags,
    }
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, args.output)
    print("wrote %s: checksum(%d rounds) = %#010x"
          % (args.output, args.default_rounds, meta["checksum"]))


if __name__ == "__main__":
    main()
