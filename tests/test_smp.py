"""Several CPUs per machine (emu/smp.pxi, emu/apic.pxi, emu/ioapic.pxi):
INIT/SIPI start-up, IPIs of each delivery mode and destination mode, the
IOAPIC's routing, determinism.  The guest programs are assembled with GNU as
(binutils, beside gcc); each CPU counts the vectors it takes in memory, and
the checks read the counts."""
import shutil
import struct
import subprocess

import pytest

from emu import EmuError, Machine

pytestmark = pytest.mark.skipif(shutil.which("as") is None or shutil.which("objcopy") is None,
                                reason="GNU as and objcopy (binutils) assemble the test programs")

TRAMPOLINE = 0x8000      # the APs start here (SIPI vector 8)
GDTR, GDT = 0x8100, 0x8120
PM_ENTRY = 0x8200        # 32-bit code both the BSP and the APs go through
AP_MAIN = 0x8400         # the APs' program
IDT = 0x9000
HANDLERS = 0xA000        # 16 bytes per vector
BSP_MAIN = 0x10000
COUNTS = 0x20000         # COUNTS + apic_id * 0x400 + vector * 4: interrupts taken
ONLINE = 0x7000          # APs that reached their program
MAILBOX = 0x7100
APIC = 0xFEE00000


def assemble(src: str, bits: int, tmp_path) -> bytes:
    """Position-independent code (absolute addresses only) to bytes."""
    s = tmp_path / "prog.s"
    s.write_text(f".intel_syntax noprefix\n.code{bits}\n{src}\n")
    o, b = tmp_path / "prog.o", tmp_path / "prog.bin"
    subprocess.run(["as", "--32", "-o", str(o), str(s)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(o), str(b)], check=True)
    return b.read_bytes()


# 16-bit: into protected mode through the shared GDT, then PM_ENTRY.
TRAMPOLINE_SRC = f"""
    cli
    xor ax, ax
    mov ds, ax
    lgdt [{GDTR}]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    .byte 0x66, 0xEA
    .long {PM_ENTRY}
    .word 0x08
"""
# 32-bit: data segments, the IDT, the APIC on, a stack per APIC ID.  The
# BSP (IA32_APIC_BASE bit 8) goes on to BSP_MAIN, the APs count themselves
# online and run AP_MAIN.
PM_ENTRY_SRC = f"""
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    lidt [{IDT - 8}]
    mov dword ptr [{APIC + 0xF0}], 0x1FF
    mov eax, [{APIC + 0x20}]
    shr eax, 24
    shl eax, 12
    lea esp, [eax + 0x60000]
    mov ecx, 0x1B
    rdmsr
    test eax, 0x100
    jz 1f
    mov eax, {BSP_MAIN}
    jmp eax
1:  lock inc dword ptr [{ONLINE}]
    mov eax, {AP_MAIN}
    jmp eax
"""
# The APs' default program: take interrupts for ever.
AP_IDLE = """
    sti
1:  hlt
    jmp 1b
"""
# The BSP starts the APs (INIT, SIPI to all but itself) and waits for them.
START_APS = f"""
    mov dword ptr [{APIC + 0x300}], 0x000C4500
    mov dword ptr [{APIC + 0x300}], 0x000C4608
1:  cmp dword ptr [{ONLINE}], NAPS
    jne 1b
"""
DONE = """
    mov al, 0
    out 0xF4, al
"""


HANDLERS_SRC = "\n".join(f"""
    .org {32 * v}
    push eax
    mov eax, [{APIC + 0x20}]
    shr eax, 14
    lock inc dword ptr [eax + {COUNTS + 4 * v}]
    mov dword ptr [{APIC + 0xB0}], 0
    pop eax
    iretd""" for v in range(256))


def build(tmp_path, cpus, bsp_src, ap_src=AP_IDLE):
    """A machine with `cpus` CPUs.  Every CPU goes through the trampoline
    into protected mode (CPU 0 from its reset state, the APs from their
    SIPI); then CPU 0 runs bsp_src (NAPS: the number of APs) and the APs
    ap_src.  Each CPU counts the vectors it takes at COUNTS (each handler:
    count, EOI, IRET)."""
    m = Machine(mode=16, memory=1 << 20, cpus=cpus)
    m.mem_write(TRAMPOLINE, assemble(TRAMPOLINE_SRC, 16, tmp_path))
    gdt = struct.pack("<QQQ", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF)
    m.mem_write(GDT, gdt)
    m.mem_write(GDTR, struct.pack("<HI", len(gdt) - 1, GDT))
    m.mem_write(IDT - 8, struct.pack("<HI", 256 * 8 - 1, IDT))
    m.mem_write(HANDLERS, assemble(HANDLERS_SRC, 32, tmp_path))
    for v in range(256):
        h = HANDLERS + 32 * v
        m.mem_write(IDT + 8 * v, struct.pack("<HHHH", h & 0xFFFF, 0x08, 0x8E00, h >> 16))
    m.mem_write(PM_ENTRY, assemble(PM_ENTRY_SRC, 32, tmp_path))
    m.mem_write(AP_MAIN, assemble(ap_src, 32, tmp_path))
    m.mem_write(BSP_MAIN, assemble(bsp_src.replace("NAPS", str(cpus - 1)), 32, tmp_path))
    m.reg_write("cs", 0)
    m.reg_write("rip", TRAMPOLINE)
    return m


def counts(m, apic_id, vector):
    """How many times the CPU with this APIC ID took `vector`."""
    return struct.unpack("<I", m.mem_read(COUNTS + apic_id * 0x400 + 4 * vector, 4))[0]


def word(m, addr):
    return struct.unpack("<I", m.mem_read(addr, 4))[0]


def test_aps_wait_for_init_and_sipi_then_start_in_real_mode(tmp_path):
    m = build(tmp_path, 3, START_APS + f"""
1:  cmp dword ptr [{MAILBOX + 0x100}], 2
    jne 1b
    mov ecx, 0x1B
    rdmsr
    mov [{MAILBOX}], eax
    mov eax, 1
    cpuid
    mov [{MAILBOX + 4}], ebx
""" + DONE, ap_src=f"""
    mov eax, [{APIC + 0x20}]
    shr eax, 24
    mov esi, eax
    shl esi, 4
    mov [esi + {MAILBOX + 0x10}], eax
    mov eax, 1
    cpuid
    mov [esi + {MAILBOX + 0x14}], ebx
    mov ecx, 0x1B
    rdmsr
    mov [esi + {MAILBOX + 0x18}], eax
    lock inc dword ptr [{MAILBOX + 0x100}]
    cli
    hlt
""")
    assert m.cpus == 3 and m.cpu_waiting_for_sipi(1) and m.cpu_waiting_for_sipi(2)
    assert not m.cpu_waiting_for_sipi(0)
    ex = m.run(count=5_000_000)
    assert ex.reason == "debug-exit" and ex.cpu == 0, ex
    assert word(m, ONLINE) == 2
    assert word(m, MAILBOX) & 0xFFFFF900 == 0xFEE00900          # the BSP flag (bit 8), enabled
    assert word(m, MAILBOX + 4) >> 24 == 0                      # CPUID.1 EBX[31:24]: APIC ID 0
    for k in (1, 2):
        at = MAILBOX + 0x10 * (k + 1)
        assert word(m, at) == k                                 # APIC IDs 1, 2
        assert word(m, at + 4) >> 24 == k                       # ... as CPUID says
        assert word(m, at + 8) & 0x900 == 0x800                 # no BSP flag
        m.select_cpu(k)
        assert m.reg_read("cs") == 0x08 and m.cpu_index == k    # through the trampoline
        m.select_cpu(0)
    assert m.cpu_index == 0


def test_sipi_vector_sets_the_start_address(tmp_path):
    m = build(tmp_path, 2, "")
    m.mem_write(0x5000, bytes.fromhex("b8cdab" "a30003" "faf4"))   # mov ax,0xABCD; mov [0x300],ax; cli; hlt
    bsp = f"""
    mov dword ptr [{APIC + 0x310}], 0x01000000
    mov dword ptr [{APIC + 0x300}], 0x00004500
    mov dword ptr [{APIC + 0x300}], 0x00004605
1:  cmp word ptr [0x300], 0
    je 1b
""" + DONE
    m.mem_write(BSP_MAIN, assemble(bsp, 32, tmp_path))
    ex = m.run(count=1_000_000)
    assert ex.reason == "debug-exit"
    m.select_cpu(1)
    # real mode at vector << 12 (CS = 0x500, IP from 0); DS is 0 after INIT
    assert m.reg_read("cs") == 0x500 and m.reg_read("ip") == 8
    assert m.mem_read(0x300, 2) == bytes.fromhex("cdab")
