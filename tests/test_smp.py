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


def wait(addr, at_least=1):
    """Spin until the dword at addr is at least `at_least`."""
    return f"""
1:  cmp dword ptr [{addr}], {at_least}
    jb 1b
"""


def ipi(dest, lo):
    return f"""
    mov dword ptr [{APIC + 0x310}], {dest << 24}
    mov dword ptr [{APIC + 0x300}], {lo}
"""


def cnt(apic_id, vector):
    return COUNTS + apic_id * 0x400 + 4 * vector


# APs: a logical ID (LDR) of LDR_SRC, DFR = DFR_VALUE, then idle taking interrupts.
AP_LOGICAL = f"""
    mov eax, [{APIC + 0x20}]
    shr eax, 24
    mov ecx, eax
    mov eax, LDR_SRC
    mov [{APIC + 0xD0}], eax
    mov dword ptr [{APIC + 0xE0}], DFR_VALUE
    lock inc dword ptr [{MAILBOX + 0x100}]
""" + AP_IDLE
FLAT_LDR = "1\n    shl eax, cl\n    shl eax, 24"              # bit k for APIC ID k
CLUSTER_LDR = "1\n    shl eax, cl\n    shl eax, 24\n    or eax, 0x10000000"   # cluster 1, bit k


def ipi_machine(tmp_path, cpus, bsp, ldr=FLAT_LDR, dfr=0xFFFFFFFF):
    ap = AP_LOGICAL.replace("LDR_SRC", ldr).replace("DFR_VALUE", str(dfr))
    return build(tmp_path, cpus, START_APS + wait(MAILBOX + 0x100, cpus - 1) + bsp + DONE, ap_src=ap)


def test_ipis_of_each_kind_and_destination_mode(tmp_path):
    m = ipi_machine(tmp_path, 4, (
        ipi(2, 0x4040) + wait(cnt(2, 0x40))                            # fixed, physical: CPU 2
        + ipi(0x06, 0x4841) + wait(cnt(1, 0x41)) + wait(cnt(2, 0x41))  # fixed, logical flat: CPUs 1, 2
        + ipi(0, 0x44042) + "sti\n nop\n cli\n"                        # self
        + ipi(0, 0xC4043) + wait(cnt(1, 0x43)) + wait(cnt(2, 0x43)) + wait(cnt(3, 0x43))  # all but self
        + ipi(0, 0x84044) + "sti\n nop\n cli\n" + wait(cnt(3, 0x44))   # all including self
        + ipi(3, 0x4400) + wait(cnt(3, 2))                             # NMI to CPU 3
        + ipi(0x0E, 0x4945)                                            # lowest priority, logical 1-3: one
        + "mov ecx, 100000\n 2: loop 2b\n"
        + ipi(0xFF, 0x4046) + "sti\n nop\n cli\n"                        # physical broadcast
        + wait(cnt(1, 0x46)) + wait(cnt(2, 0x46)) + wait(cnt(3, 0x46))
        + f"mov eax, [{APIC + 0x300}]\n mov [{MAILBOX}], eax\n"))       # delivery status
    ex = m.run(count=20_000_000)
    assert ex.reason == "debug-exit" and ex.cpu == 0, ex
    got = {(k, v): counts(m, k, v) for k in range(4) for v in (2, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46)}
    lowest = [k for k in range(4) if got[(k, 0x45)]]
    assert lowest in ([1], [2], [3])                        # lowest priority: exactly one of them
    taken = {key: n for key, n in got.items() if n and key[1] != 0x45}
    assert taken == {(2, 0x40): 1, (1, 0x41): 1, (2, 0x41): 1, (0, 0x42): 1,
                     (1, 0x43): 1, (2, 0x43): 1, (3, 0x43): 1,
                     (0, 0x44): 1, (1, 0x44): 1, (2, 0x44): 1, (3, 0x44): 1, (3, 2): 1,
                     (1, 0x46): 1, (2, 0x46): 1, (3, 0x46): 1, (0, 0x46): 1}
    assert word(m, MAILBOX) & 0x1000 == 0                   # delivery status: idle (sent at once)


def test_logical_cluster_destinations(tmp_path):
    m = ipi_machine(tmp_path, 4, (
        ipi(0x16, 0x4850) + wait(cnt(1, 0x50)) + wait(cnt(2, 0x50))   # cluster 1, CPUs 1 and 2
        + ipi(0x26, 0x4851)                                           # cluster 2: nobody
        + ipi(0xF8, 0x4852) + wait(cnt(3, 0x52))                      # every cluster, bit 3
        + "mov ecx, 100000\n 2: loop 2b\n"), ldr=CLUSTER_LDR, dfr=0x0FFFFFFF)
    ex = m.run(count=20_000_000)
    assert ex.reason == "debug-exit", ex
    assert [counts(m, k, 0x50) for k in range(4)] == [0, 1, 1, 0]
    assert [counts(m, k, 0x51) for k in range(4)] == [0, 0, 0, 0]
    assert [counts(m, k, 0x52) for k in range(4)] == [0, 0, 0, 1]


def test_runs_are_reproducible(tmp_path):
    prog = ipi(0, 0xC4043) + wait(cnt(1, 0x43)) + wait(cnt(2, 0x43))
    results = []
    for _ in range(2):
        m = ipi_machine(tmp_path, 3, prog)
        ex = m.run(count=20_000_000)
        per_cpu = []
        for k in range(3):
            m.select_cpu(k)
            per_cpu.append((m.reg_read("eip"), m.virtual_time))
        m.select_cpu(0)
        results.append((ex.reason, ex.instructions, m.instructions, per_cpu))
    assert results[0] == results[1] and results[0][0] == "debug-exit"


IOREGSEL, IOWIN = 0xFEC00000, 0xFEC00010


def redir(pin, value):
    return f"""
    mov dword ptr [{IOREGSEL}], {0x10 + 2 * pin}
    mov dword ptr [{IOWIN}], {value & 0xFFFFFFFF}
    mov dword ptr [{IOREGSEL}], {0x11 + 2 * pin}
    mov dword ptr [{IOWIN}], {value >> 32}
"""


def line(n, level):
    return f"mov dx, {0x2000 + n}\n mov al, {level}\n out dx, al\n"


def test_ioapic_routes_edge_and_level_lines(tmp_path):
    from emu.pctestdev import PcTestdev
    m = ipi_machine(tmp_path, 4, (
        f"mov dword ptr [{IOREGSEL}], 1\n mov eax, [{IOWIN}]\n mov [{MAILBOX}], eax\n"
        + redir(5, (1 << 56) | 0x60)                                   # edge, physical APIC 1
        + line(5, 1) + line(5, 0) + wait(cnt(1, 0x60))
        + redir(6, (0x0C << 56) | 0x8000 | 0x800 | 0x61)               # level, logical CPUs 2 and 3
        + line(6, 1) + wait(cnt(2, 0x61)) + wait(cnt(3, 0x61)) + line(6, 0)
        + redir(7, (1 << 56) | 0x10000 | 0x62)                         # masked
        + line(7, 1) + line(7, 0)
        + "mov ecx, 100000\n 2: loop 2b\n"))
    m.attach_ioapic()
    PcTestdev(m).attach()
    ex = m.run(count=20_000_000)
    assert ex.reason == "debug-exit", ex
    assert word(m, MAILBOX) == 0x170011                      # version 0x11, 24 entries
    assert [counts(m, k, 0x60) for k in range(4)] == [0, 1, 0, 0]
    assert counts(m, 0, 0x61) == counts(m, 1, 0x61) == 0
    assert counts(m, 2, 0x61) >= 1 and counts(m, 3, 0x61) >= 1
    assert not any(counts(m, k, 0x62) for k in range(4))
    entries = m.ioapic_redirection
    assert entries[6] & 0x4000 == 0                          # remote IRR: EOIed, line low
    assert entries[7] & 0x10000


def test_isa_irq0_reaches_ioapic_pin2(tmp_path):
    m = ipi_machine(tmp_path, 2, redir(2, (1 << 56) | 0x70) + wait(cnt(1, 0x70)))
    m.attach_ioapic()
    ex = m.run(count=2_000_000)                              # waits: nothing raised IRQ 0 yet
    assert ex.reason == "count"
    m.raise_irq(0)                                           # the PIT's line
    ex = m.run(count=2_000_000)
    assert ex.reason == "debug-exit" and counts(m, 1, 0x70) == 1


def test_cpu_count_is_checked():
    with pytest.raises(EmuError):
        Machine(cpus=0)
    with pytest.raises(EmuError):
        Machine(cpus=17)
    assert Machine().cpus == 1
