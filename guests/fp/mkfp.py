#!/usr/bin/env python3
"""Write emu/images/fp/fp.json for the floating-point and SIMD programs.

Called by the Makefile.  Like the integer suite's bench.json (mksuite.py,
whose helpers this reuses): image addresses from the linked ELF files,
checksums from each program built natively with the variant's flags, and
besides, per variant and a few round counts, the results each program
records in fp_out (printed by the native program's -o, as raw hex bits) and
the guest address of fp_out.  Nothing is typed by hand.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
sys.path.insert(0, os.path.join(HERE, "..", "workload"))
import mkmeta  # noqa: E402  (the reference workload's image checks)
import mksuite  # noqa: E402  (the integer suite's description and checksum helpers)

#: Round counts whose recorded results (fp_out) are kept.
OUTPUT_ROUNDS = (1, 2)


def native_outputs(native, rounds):
    """[checksum, result, ...] as hex strings, from `native -o rounds`."""
    out = subprocess.run([native, "-o", str(rounds)], check=True, capture_output=True,
                         text=True).stdout.split()
    if not out or int(out[0]) != rounds:
        sys.exit("%s -o %d printed %r" % (native, rounds, out))
    return out[1:]


def main():
    args = mksuite.suite_arguments(__doc__, variant=dict(
        nargs=3, action="append", metavar=("NAME", "FLAGS", "PROGRAMS")))

    variants = {name: {"bits": int(name.rsplit("-", 1)[1]), "flags": flags}
                for name, flags, _ in args.variant}
    programs = {}
    for name, default in args.program:
        default = int(default)
        quick = max(1, default // 10)
        images = {}
        for variant, _, members in args.variant:
            if name not in members.split():
                continue
            stem = "%s-%s" % (name, variant)
            elf = os.path.join(args.build, stem + ".elf")
            syms = mkmeta.symbols(args.nm, elf)
            native = os.path.join(args.build, stem + "-native")
            entry = mkmeta.image_entry(variants[variant]["bits"], elf,
                                       os.path.join(args.images, stem + ".bin"), syms, default)
            entry["out_address"] = syms["fp_out"]
            entry["out_count_address"] = syms["fp_out_count"]
            entry["checksums"] = mksuite.native_checksums(native, sorted({0, 1, 2, quick, default}))
            entry["outputs"] = {str(r): native_outputs(native, r) for r in OUTPUT_ROUNDS}
            images[variant] = entry
        programs[name] = {
            "description": mksuite.describe_file(os.path.join(HERE, name + ".c")),
            "source": name + ".c",
            "default_rounds": default,
            "quick_rounds": quick,
            "images": images,
        }
    mksuite.write_meta(args.output, "pvemu floating-point and SIMD programs: freestanding C, "
                       "one image per program and variant (gcc flags and width)",
                       ["fp.h", "fprt.c", "fp_main.c"], args, variants=variants,
                       programs=programs)


if __name__ == "__main__":
    main()
