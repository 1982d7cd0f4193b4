#!/usr/bin/env python3
"""Write emu/images/bench/bench.json for the benchmark suite images.

Called by the Makefile.  Image addresses come from the linked ELF files (the
reference workload's mkmeta.py checks the shared header layout), checksums
from running each program built natively, descriptions from the first comment
of each program's source: nothing in the JSON is typed by hand.
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "workload"))
import mkmeta  # noqa: E402  (the reference workload's image checks)

SRC_DIR = os.path.dirname(os.path.abspath(__file__))


def describe(program):
    """The first comment of PROGRAM.c, as one line."""
    return describe_file(os.path.join(SRC_DIR, program + ".c"))


def describe_file(path):
    """The first comment of the C file at PATH, as one line."""
    with open(path) as f:
        m = re.match(r"/\*(.*?)\*/", f.read(), re.S)
    name = os.path.splitext(os.path.basename(path))[0]
    return " ".join(w for w in m.group(1).replace("*", " ").split()) if m else name


def native_checksums(native, rounds):
    out = subprocess.run([native] + [str(r) for r in rounds], check=True,
                         capture_output=True, text=True).stdout
    table = dict(line.split() for line in out.splitlines())
    if sorted(int(r) for r in table) != sorted(rounds):
        sys.exit("%s printed unexpected rounds: %r" % (native, out))
    return {r: int(v, 16) for r, v in table.items()}


def suite_arguments(description, **more):
    """The arguments of a suite's JSON writer: the tools, the directories,
    the programs and their default rounds, the output; `more`: name ->
    add_argument keywords of the suite's own."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--cc", default="gcc")
    ap.add_argument("--cflags", default="")
    ap.add_argument("--build", required=True)
    ap.add_argument("--images", required=True)
    for name, kw in more.items():
        ap.add_argument("--" + name, required=True, **kw)
    ap.add_argument("--program", nargs=2, action="append", required=True,
                    metavar=("NAME", "DEFAULT_ROUNDS"))
    ap.add_argument("-o", "--output", required=True)
    return ap.parse_args()


def main():
    args = suite_arguments(__doc__, opts={}, bits={})

    programs = {}
    for name, default in args.program:
        default = int(default)
        quick = max(1, default // 10)
        images = {}
        for opt in args.opts.split():
            for bits in args.bits.split():
                stem = "%s-%s-%s" % (name, opt, bits)
                elf = os.path.join(args.build, stem + ".elf")
                images["%s-%s" % (opt, bits)] = mkmeta.image_entry(
                    int(bits), elf, os.path.join(args.images, stem + ".bin"),
                    mkmeta.symbols(args.nm, elf), default)
        programs[name] = {
            "description": describe(name),
            "source": name + ".c",
            "default_rounds": default,
            "quick_rounds": quick,
            "checksums": native_checksums(os.path.join(args.build, name + "-native"),
                                          sorted({0, 1, 2, quick, default})),
            "images": images,
        }
    write_meta(args.output, "pvemu benchmark suite: freestanding integer C programs, "
               "one image per program, optimization level and width",
               ["bench.h", "native_main.c"], args, programs=programs)


def write_meta(path, description, native_sources, args, **fields):
    """Write a suite's JSON: the image header layout (mkmeta's), the compiler,
    the flags and `fields` (the programs, ...)."""
    meta = {
        "format": 1,
        "description": description,
        "magic": mkmeta.MAGIC.decode(),
        "header_offset": mkmeta.HEADER_OFFSET,
        "rounds_offset": mkmeta.ROUNDS_OFFSET,
        "result_offset": mkmeta.RESULT_OFFSET,
        "bits_offset": mkmeta.BITS_OFFSET,
        "native_sources": native_sources,
        "compiler": mkmeta.compiler_version(args.cc),
        "cflags": args.cflags,
    }
    meta.update(fields)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    print("wrote %s: %d programs" % (path, len(meta["programs"])))


if __name__ == "__main__":
    main()
