"""CPUID features: where each one's bit is, and which ones are implemented.

A row's ``feature=`` must be a name of :data:`FEATURES`.  CPUID reports a
feature's bit exactly when the feature is in :data:`IMPLEMENTED` (the
generator writes the bits into the core, ``emu/gen_opmap.py``).  Every
implemented instruction feature must have rows (checked by the generator);
:data:`MACHINE` features describe the machine rather than instructions
(paging, the APIC, long mode) and have none.

A helper adding an extension writes its rows with the feature's name first
and adds the name to IMPLEMENTED when the extension is complete: rows of a
feature not implemented yet still decode, but CPUID does not advertise them.
"""
from collections import namedtuple

#: Where a feature's bit is: leaf, subleaf, register, bit.
Bit = namedtuple("Bit", "leaf subleaf reg bit")

EXT = 0x80000001

#: Every feature a row or the machine may name (BASE: the 8086-to-x86-64
#: integer instruction set every CPU has, no CPUID bit).
FEATURES = {
    "BASE": None,
    # leaf 1 EDX
    "X87": Bit(1, 0, "edx", 0),
    "VME": Bit(1, 0, "edx", 1),
    "DE": Bit(1, 0, "edx", 2),
    "PSE": Bit(1, 0, "edx", 3),
    "TSC": Bit(1, 0, "edx", 4),
    "MSR": Bit(1, 0, "edx", 5),
    "PAE": Bit(1, 0, "edx", 6),
    "MCE": Bit(1, 0, "edx", 7),
    "CX8": Bit(1, 0, "edx", 8),
    "APIC": Bit(1, 0, "edx", 9),
    "SEP": Bit(1, 0, "edx", 11),
    "PGE": Bit(1, 0, "edx", 13),
    "MCA": Bit(1, 0, "edx", 14),
    "CMOV": Bit(1, 0, "edx", 15),
    "PAT": Bit(1, 0, "edx", 16),
    "PSE36": Bit(1, 0, "edx", 17),
    "CLFLUSH": Bit(1, 0, "edx", 19),
    "MMX": Bit(1, 0, "edx", 23),
    "FXSR": Bit(1, 0, "edx", 24),
    "SSE": Bit(1, 0, "edx", 25),
    "SSE2": Bit(1, 0, "edx", 26),
    # leaf 1 ECX
    "SSE3": Bit(1, 0, "ecx", 0),
    "PCLMULQDQ": Bit(1, 0, "ecx", 1),
    "MONITOR": Bit(1, 0, "ecx", 3),
    "SSSE3": Bit(1, 0, "ecx", 9),
    "CX16": Bit(1, 0, "ecx", 13),
    "SSE4_1": Bit(1, 0, "ecx", 19),
    "SSE4_2": Bit(1, 0, "ecx", 20),
    "MOVBE": Bit(1, 0, "ecx", 22),
    "POPCNT": Bit(1, 0, "ecx", 23),
    "AES": Bit(1, 0, "ecx", 25),
    "XSAVE": Bit(1, 0, "ecx", 26),
    "AVX": Bit(1, 0, "ecx", 28),
    "F16C": Bit(1, 0, "ecx", 29),
    "RDRAND": Bit(1, 0, "ecx", 30),
    "FMA": Bit(1, 0, "ecx", 12),
    # leaf 7 subleaf 0
    "FSGSBASE": Bit(7, 0, "ebx", 0),
    "BMI1": Bit(7, 0, "ebx", 3),
    "AVX2": Bit(7, 0, "ebx", 5),
    "BMI2": Bit(7, 0, "ebx", 8),
    "SMEP": Bit(7, 0, "ebx", 7),
    "SMAP": Bit(7, 0, "ebx", 20),
    "CLFLUSHOPT": Bit(7, 0, "ebx", 23),
    "PKU": Bit(7, 0, "ecx", 3),
    "PKS": Bit(7, 0, "ecx", 31),
    "RDPID": Bit(7, 0, "ecx", 22),
    # (not implemented: named by emu/fuzz/extensions.py, whose #UD the fuzzers explain)
    "INVPCID": Bit(7, 0, "ebx", 10),
    "AVX512F": Bit(7, 0, "ebx", 16),
    "ADX": Bit(7, 0, "ebx", 19),
    "SHA": Bit(7, 0, "ebx", 29),
    "GFNI": Bit(7, 0, "ecx", 8),
    "MOVDIRI": Bit(7, 0, "ecx", 27),
    "MOVDIR64B": Bit(7, 0, "ecx", 28),
    # leaf 0xD subleaf 1
    "XSAVEOPT": Bit(0xD, 1, "eax", 0),
    "XSAVEC": Bit(0xD, 1, "eax", 1),
    # leaf 0x80000001
    "LAHF_LM": Bit(EXT, 0, "ecx", 0),
    "LZCNT": Bit(EXT, 0, "ecx", 5),
    "SSE4A": Bit(EXT, 0, "ecx", 6),
    "PREFETCHW": Bit(EXT, 0, "ecx", 8),
    "SYSCALL": Bit(EXT, 0, "edx", 11),
    "NX": Bit(EXT, 0, "edx", 20),
    "PDPE1GB": Bit(EXT, 0, "edx", 26),
    "RDTSCP": Bit(EXT, 0, "edx", 27),
    "LM": Bit(EXT, 0, "edx", 29),
}

#: Features of the machine rather than of instructions: no rows needed.
MACHINE = frozenset(("DE", "PSE", "PSE36", "PAE", "MCE", "APIC", "PGE", "MCA", "PAT", "NX", "PDPE1GB",
                     "LM", "SMEP", "PKS"))

#: What this emulator implements: exactly these bits are set in CPUID.
IMPLEMENTED = frozenset((
    "BASE", "X87", "DE", "PSE", "TSC", "MSR", "PAE", "CX8", "APIC", "SEP", "PGE", "CMOV", "PAT",
    "CX16", "MOVBE", "POPCNT", "LAHF_LM", "LZCNT", "SYSCALL", "NX", "LM",
    # paging.pxi: PSE-36's physical bits in 4 MiB pages, 1 GiB pages
    "PSE36", "PDPE1GB",
    # mca.pxi: the machine-check MSRs (CR4.MCE follows)
    "MCE", "MCA",
    # simd_fp.py (the SSE/SSE2 integer instructions are simd_int.py's)
    "FXSR", "SSE", "SSE2", "XSAVE", "CLFLUSH", "CLFLUSHOPT", "RDTSCP", "RDPID",
    # simd_int.py with simd_fp.py: all of MMX, SSSE3, SSE4.1 and SSE4.2
    "MMX", "SSSE3", "SSE4_1", "SSE4_2",
    # simd_fp.py's SSE3 rows with x87.py's FISTTP: an x86-64-v2 CPU
    "SSE3",
    # paging.pxi and pageprot.pxi: supervisor protections and protection keys
    "SMEP", "SMAP", "PKU", "PKS",
))


def cpuid_bits(implemented=IMPLEMENTED):
    """{(leaf, subleaf, reg): mask} of the implemented features' bits."""
    out = {}
    for name in sorted(implemented):
        b = FEATURES[name]
        if b is not None:
            key = (b.leaf, b.subleaf, b.reg)
            out[key] = out.get(key, 0) | (1 << b.bit)
    return out


def max_basic_leaf() -> int:
    """The highest basic CPUID leaf pvemu's own model reports: 0xD (the XSAVE
    components) with XSAVE, 7 with a leaf-7 feature, else 1."""
    if "XSAVE" in IMPLEMENTED:
        return 0xD
    return 7 if any(leaf == 7 for leaf, _, _ in cpuid_bits()) else 1
