"""CPU models, as QEMU's `-cpu`: who CPUID says the processor is (vendor,
family/model/stepping, leaf limits, brand string, address sizes, PMU) and
which vendor's behaviour it follows where Intel and AMD differ (SYSCALL
outside 64-bit mode, SYSENTER in long mode, the performance-counter MSRs).

The feature bits are what the core implements (emu/misc.pxi), minus what a
model hides: a model never reports a feature pvemu does not have.

    Machine(cpu="Nehalem")            pvemu run --cpu Opteron_G1,vendor=AuthenticAMD

A model string is QEMU's: NAME[,vendor=V][,+feature][,-feature][,feature=on|off]...
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from emu.errors import EmuError

VENDOR_PVEMU, VENDOR_INTEL, VENDOR_AMD = 0, 1, 2
VENDORS = {"PvemuVirtCPU": VENDOR_PVEMU, "GenuineIntel": VENDOR_INTEL, "AuthenticAMD": VENDOR_AMD}

#: Feature names (QEMU's) -> (word, bit); words: 0 leaf 1 ECX, 1 leaf 1 EDX,
#: 2 leaf 0x80000001 ECX, 3 leaf 0x80000001 EDX, 4 leaf 7 EBX, 5 leaf 7 ECX.
#: Only these can be hidden (CR4's SMEP, SMAP, PKE and PKS bits follow).
FEATURES = {
    "sse3": (0, 0), "pni": (0, 0), "pclmulqdq": (0, 1), "ssse3": (0, 9), "fma": (0, 12),
    "cx16": (0, 13), "pcid": (0, 17), "sse4.1": (0, 19), "sse4_1": (0, 19), "sse4.2": (0, 20),
    "sse4_2": (0, 20), "x2apic": (0, 21), "movbe": (0, 22), "popcnt": (0, 23),
    "tsc-deadline": (0, 24), "aes": (0, 25), "xsave": (0, 26), "avx": (0, 28), "f16c": (0, 29),
    "rdrand": (0, 30), "hypervisor": (0, 31),
    "fpu": (1, 0), "vme": (1, 1), "de": (1, 2), "pse": (1, 3), "tsc": (1, 4), "msr": (1, 5),
    "pae": (1, 6), "mce": (1, 7), "cx8": (1, 8), "apic": (1, 9), "sep": (1, 11), "mtrr": (1, 12),
    "pge": (1, 13), "mca": (1, 14), "cmov": (1, 15), "pat": (1, 16), "pse36": (1, 17),
    "clflush": (1, 19), "mmx": (1, 23), "fxsr": (1, 24), "sse": (1, 25), "sse2": (1, 26),
    "ss": (1, 27), "ht": (1, 28),
    "lahf-lm": (2, 0), "lahf_lm": (2, 0), "svm": (2, 2), "abm": (2, 5), "sse4a": (2, 6),
    "syscall": (3, 11), "nx": (3, 20), "mmxext": (3, 22), "pdpe1gb": (3, 26), "rdtscp": (3, 27),
    "lm": (3, 29),
    "smep": (4, 7), "smap": (4, 20), "clflushopt": (4, 23),
    "pku": (5, 3), "rdpid": (5, 22), "pks": (5, 31),
}
#: What pvemu has and QEMU's older models below lack: its leaf-7 features
#: and 1 GiB pages.
_NEWER = frozenset({"smep", "smap", "clflushopt", "pku", "rdpid", "pks", "pdpe1gb"})
#: Features QEMU knows in other leaves: accepted, and reported as not
#: available when asked for and not implemented (as QEMU's TCG warns).
OTHER_FEATURES = {
    "umip", "la57", "fsgsbase", "invpcid", "rdseed",
    "adx", "bmi1", "bmi2", "avx2", "avx512f", "erms", "npt", "vmx", "vmx-mbec", "tsc-adjust",
    "arch-capabilities", "xsaveopt", "xsavec", "xsaves", "clwb", "sha-ni",
}


@dataclass(frozen=True)
class CpuModel:
    name: str
    vendor: str
    family: int
    model: int
    stepping: int
    max_basic: int            # 0: the core's own (pvemu's model)
    max_ext: int
    brand: str
    phys_bits: int = 40       # QEMU's default phys-bits
    virt_bits: int = 48
    pmu: int = 0              # leaf 0xA EAX: 0, no architectural PMU
    counters: int = 0         # P6 / K7 performance counters (they count nothing)
    hidden: frozenset = field(default_factory=frozenset)

    @property
    def signature(self) -> int:
        """Leaf 1 EAX: stepping, model, family with their extended fields."""
        fam, ext_fam = (self.family, 0) if self.family < 15 else (15, self.family - 15)
        ext_model = self.model >> 4 if self.family in (6, 15) or self.family > 15 else 0
        return (self.stepping | (self.model & 0xF) << 4 | fam << 8 | ext_model << 16
                | ext_fam << 20)


_NO_POPCNT = frozenset({"movbe", "popcnt", "abm"})
MODELS = {m.name: m for m in (
    CpuModel("pvemu", "PvemuVirtCPU", 6, 1, 0, 0, 0x80000008, "pvemu virtual CPU"),
    # QEMU's default CPU and its TCG "max" (AMD vendor, every feature the emulator has)
    CpuModel("qemu64", "AuthenticAMD", 15, 107, 1, 0xD, 0x8000000A, "QEMU Virtual CPU version 2.5+",
             counters=4, hidden=_NO_POPCNT | _NEWER),
    CpuModel("max", "AuthenticAMD", 6, 6, 3, 0xD, 0x80000008, "QEMU TCG CPU version 7.2.0",
             counters=4),
    CpuModel("Opteron_G1", "AuthenticAMD", 15, 6, 1, 5, 0x80000008,
             "AMD Opteron 240 (Gen 1 Class Opteron)", counters=4,
             hidden=_NO_POPCNT | _NEWER | {"cx16", "lahf_lm"}),
    CpuModel("Nehalem", "GenuineIntel", 6, 26, 3, 0xB, 0x80000008,
             "Intel Core i7 9xx (Nehalem Class Core i7)", counters=2,
             hidden=_NEWER | {"movbe", "abm"}),
)}
DEFAULT = "pvemu"


def parse(spec: str):
    """A QEMU -cpu string -> (CpuModel, hidden feature names, warnings)."""
    parts = [p.strip() for p in str(spec).split(",")]
    name = parts[0]
    if name == "host":
        name = "max"                       # QEMU's TCG has no host model either
    if name not in MODELS:
        raise EmuError(f"unknown CPU model {name!r}; known: {', '.join(MODELS)}")
    model = MODELS[name]
    hidden, warnings = set(model.hidden), []
    for p in parts[1:]:
        if not p:
            continue
        key, on = p, True
        if p[0] in "+-":
            key, on = p[1:], p[0] == "+"
        elif "=" in p:
            key, _, value = p.partition("=")
            if key == "vendor":
                if value not in VENDORS or value == "PvemuVirtCPU" and name != "pvemu":
                    raise EmuError(f"unknown CPU vendor {value!r}: GenuineIntel or AuthenticAMD")
                model = replace(model, vendor=value)
                continue
            if key == "phys-bits":
                model = replace(model, phys_bits=int(value))
                continue
            if key in ("host-phys-bits", "check", "enforce", "migratable", "pmu"):
                continue
            if value not in ("on", "off", "true", "false"):
                raise EmuError(f"bad CPU option {p!r}")
            on = value in ("on", "true")
        if key in ("host-phys-bits", "check", "enforce", "migratable", "pmu"):
            continue                       # QEMU options with no meaning here
        if key in FEATURES:
            (hidden.discard if on else hidden.add)(key)
            # aliases of one bit go together
            for alias, where in FEATURES.items():
                if where == FEATURES[key]:
                    (hidden.discard if on else hidden.add)(alias)
        elif key in OTHER_FEATURES:
            if on:
                warnings.append(f"feature {key!r} is not available (pvemu does not implement it)")
        else:
            raise EmuError(f"unknown CPU feature {key!r} in {spec!r}")
    return model, frozenset(hidden), warnings


def apply(machine, spec: str = DEFAULT) -> list:
    """Make machine's CPU the model `spec`; returns warnings (features asked
    for that pvemu does not implement)."""
    model, hidden, warnings = parse(spec)
    masks = [0] * 6
    for f in hidden:
        word, bit = FEATURES[f]
        masks[word] |= 1 << bit
    ident = model.vendor.encode()
    words = [int.from_bytes(ident[k:k + 4], "little") for k in (0, 4, 8)]
    brand = model.brand.encode()[:47].ljust(48, b"\0")
    machine._set_cpu_model(VENDORS[model.vendor], model.max_basic, model.max_ext,
                           (words[0], words[1], words[2]), model.signature,
                           [int.from_bytes(brand[k:k + 4], "little") for k in range(0, 48, 4)],
                           model.phys_bits | model.virt_bits << 8, model.pmu, masks,
                           model.counters)
    return warnings
