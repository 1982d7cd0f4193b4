"""Unicorn's x86 constants (the public API's names and values, Unicorn
2.1), for the drop-in module emu.unicorn: register ids UC_X86_REG_*, the
ids of the instructions an instruction hook can take UC_X86_INS_*, and the
CPU models UC_CPU_X86_*."""

# Register ids in enum order; "@n" restarts the numbering at n.
_REGISTERS = """
INVALID AH AL AX BH BL BP BPL BX CH CL CS CX DH DI DIL DL DS DX EAX EBP EBX ECX EDI EDX
EFLAGS EIP @28 ES ESI ESP FPSW FS GS IP RAX RBP RBX RCX RDI RDX RIP @43 RSI RSP SI SIL SP
SPL SS CR0 CR1 CR2 CR3 CR4 @58 CR8 @66 DR0 DR1 DR2 DR3 DR4 DR5 DR6 DR7 @82
FP0 FP1 FP2 FP3 FP4 FP5 FP6 FP7 K0 K1 K2 K3 K4 K5 K6 K7 MM0 MM1 MM2 MM3 MM4 MM5 MM6 MM7
R8 R9 R10 R11 R12 R13 R14 R15 ST0 ST1 ST2 ST3 ST4 ST5 ST6 ST7
XMM0:32 YMM0:32 ZMM0:32
R8B R9B R10B R11B R12B R13B R14B R15B R8D R9D R10D R11D R12D R13D R14D R15D
R8W R9W R10W R11W R12W R13W R14W R15W
IDTR GDTR LDTR TR FPCW FPTAG MSR MXCSR FS_BASE GS_BASE FLAGS RFLAGS FIP FCS FDP FDS FOP ENDING
"""


def _define(spec, prefix):
    value = 0
    for word in spec.split():
        if word.startswith("@"):
            value = int(word[1:])
            continue
        name, _, count = word.partition(":")
        names = [name] if not count else [name[:-1] + str(k) for k in range(int(count))]
        for n in names:
            globals()[prefix + n] = value
            value += 1


_define(_REGISTERS, "UC_X86_REG_")

# Instruction ids (Unicorn's x86 instruction enum) of the instructions an
# UC_HOOK_INSN hook can take.
UC_X86_INS_INVALID = 0
UC_X86_INS_CPUID = 113
UC_X86_INS_IN = 218
UC_X86_INS_OUT = 500
UC_X86_INS_RDTSC = 608
UC_X86_INS_RDTSCP = 609
UC_X86_INS_SYSCALL = 699
UC_X86_INS_SYSENTER = 700
UC_X86_INS_ENDING = 1338

# CPU models (UC_CTL_CPU_MODEL), in enum order
_define("""QEMU64 PHENOM CORE2DUO KVM64 QEMU32 KVM32 COREDUO 486 PENTIUM PENTIUM2 PENTIUM3
ATHLON N270 CONROE PENRYN NEHALEM WESTMERE SANDYBRIDGE IVYBRIDGE HASWELL BROADWELL
SKYLAKE_CLIENT SKYLAKE_SERVER CASCADELAKE_SERVER COOPERLAKE ICELAKE_CLIENT ICELAKE_SERVER
DENVERTON SNOWRIDGE KNIGHTSMILL OPTERON_G1 OPTERON_G2 OPTERON_G3 OPTERON_G4 OPTERON_G5
EPYC DHYANA EPYC_ROME ENDING""", "UC_CPU_X86_")

del _define
