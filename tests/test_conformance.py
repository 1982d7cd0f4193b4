"""Conformance fixes found by kvm-unit-tests and protection material: NMIs
and IPIs to self through the local APIC, progress against the budget when
exception delivery loops, pc-testdev, the HPET, and `pvemu run`'s QEMU-like
options."""
import struct

from emu import Machine
from emu.devices import attach_pc
from helpers import CODE, DATA, STACK, pvemu_cli

GDT = 0x2000
IDT = 0x3000
HANDLER = 0x4000
APIC_ICR = 0xFEE00300


def with_idt(m, handlers):
    """A flat GDT (code 0x08, data 0x10) and 32-bit interrupt gates for
    {vector: handler address}."""
    m.mem_write(GDT, struct.pack("<3Q", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF))
    m.load_table("gdt", GDT, 23)
    m.reg_write("cs", 0x08)
    m.reg_write("ss", 0x10)
    for vec, target in handlers.items():
        gate = (target & 0xFFFF) | (0x08 << 16) | (0x8E00 << 32) | ((target >> 16) << 48)
        m.mem_write(IDT + 8 * vec, struct.pack("<Q", gate))
    m.load_table("idt", IDT, 8 * 256 - 1)


def icr_write(value):
    """mov dword [APIC_ICR], value"""
    return b"\xc7\x05" + APIC_ICR.to_bytes(4, "little") + value.to_bytes(4, "little")


def test_self_nmi_through_the_icr_is_taken_once_and_blocked_until_iret():
    m = Machine(mode=32, memory=1 << 20)
    with_idt(m, {2: HANDLER})
    # handler: inc dword [DATA]; the first time, send another NMI to self
    # (blocked until IRET); iret
    m.mem_write(HANDLER, b"\xff\x05" + DATA.to_bytes(4, "little")
                + b"\x83\x3d" + DATA.to_bytes(4, "little") + b"\x01\x75\x0a"   # cmp [DATA], 1; jne +10
                + icr_write(0x44400) + b"\xcf")
    # NMI to self (shorthand self, delivery mode NMI), with IF clear: NMIs ignore IF
    code = b"\xfa" + icr_write(0x44400) + b"\x90" * 4 + b"\xf4"
    m.mem_write(CODE, code)
    m.reg_write("esp", STACK)
    ex = m.run(start=CODE, count=100)
    assert ex.reason == "hlt" and ex.address == CODE + 15
    # the first NMI, then the one sent from inside the handler once IRET unblocked it
    assert struct.unpack("<I", m.mem_read(DATA, 4))[0] == 2


def test_fixed_ipi_to_own_apic_id_and_not_to_others():
    m = Machine(mode=32, memory=1 << 20)
    with_idt(m, {0x40: HANDLER})
    m.mem_write(HANDLER, b"\xff\x05" + DATA.to_bytes(4, "little") + b"\xc7\x05\xb0\x00\xe0\xfe\0\0\0\0\xcf")
    enable = b"\xc7\x05\xf0\x00\xe0\xfe\xff\x01\x00\x00"          # SVR: APIC on
    def hi(dest):
        return b"\xc7\x05\x10\x03\xe0\xfe" + (dest << 24).to_bytes(4, "little")
    code = (enable + hi(1) + icr_write(0x40) + b"\xfb\x90\x90"        # to APIC 1: nobody
            + hi(0) + icr_write(0x40) + b"\x90\x90\xf4")               # to APIC 0: this CPU
    m.mem_write(CODE, code)
    m.reg_write("esp", STACK)
    m.run(start=CODE, count=60)
    assert struct.unpack("<I", m.mem_read(DATA, 4))[0] == 1


def test_a_handler_that_faults_again_still_ends_run_at_the_budget():
    m = Machine(mode=32, memory=1 << 20)
    with_idt(m, {6: HANDLER})
    m.mem_write(HANDLER, b"\x0f\x0b")        # the #UD handler is UD2 itself
    m.mem_write(CODE, b"\x0f\x0b")
    m.reg_write("esp", STACK)
    ex = m.run(start=CODE, count=1000)
    assert ex.reason == "count" and ex.address == HANDLER


def test_pc_testdev_register_irq_lines_and_iomem():
    m = Machine(mode=32, memory=1 << 20)
    attach_pc(m, 1 << 20, devices=["pc-testdev"])
    m.port_out(0xE0, 4, 0x11223344)
    assert m.port_in(0xE2, 1) == 0x22 and m.port_in(0xE8, 4) == 0x11223344
    m.port_out(0xE9, 2, 0xBEEF)
    assert m.port_in(0xE0, 4) == 0x11BEEF44 and m.port_in(0x2003, 1) == 0
    # IRQ 3 raised by a rising line (the 8259 latches the edge in IRR)
    m.port_out(0x20, 1, 0x0A)                # OCW3: read IRR
    m.port_out(0x2003, 1, 1)
    assert m.port_in(0x20, 1) & 0x08
    # iomem behaves as memory
    code = b"\xc7\x05\x10\x00\x00\xff\x78\x56\x34\x12\xa1\x10\x00\x00\xff\xf4"
    m.mem_write(CODE, code)
    m.run(start=CODE, count=10)
    assert m.reg_read("eax") == 0x12345678


def test_hpet_counts_in_virtual_time_when_enabled():
    m = Machine(mode=32, memory=1 << 20)
    attach_pc(m, 1 << 20)
    # eax = caps low; ebx = caps high (period); enable; loop; read the counter twice
    code = bytes.fromhex(
        "a1 0000d0fe 8b1d 0400d0fe"            # mov eax, [caps]; mov ebx, [caps+4]
        "c705 1000d0fe 01000000"               # config = ENABLE
        "b9 e8030000 e2fe"                     # loop 1000
        "8b35 f000d0fe"                        # esi = counter
        "b9 e8030000 e2fe"
        "8b3d f000d0fe f4".replace(" ", ""))   # edi = counter
    m.mem_write(CODE, code)
    ex = m.run(start=CODE, count=5000)
    assert ex.reason == "hlt"
    assert m.reg_read("eax") & 0xFFFF0000 == 0x80860000 and (m.reg_read("eax") >> 8) & 0x1F == 2
    assert m.reg_read("ebx") == 10_000_000            # femtoseconds a tick
    # 1000 instructions at 100 M per second are 10 us: 1000 ticks of 10 ns
    assert 900 <= m.reg_read("edi") - m.reg_read("esi") <= 1100


def test_pvemu_run_options(tmp_path):
    p = pvemu_cli("run", "hello32", "--smp", "2")           # the APs wait for INIT/SIPI; CPU 0 runs it
    assert p.returncode == 0 and b"goodbye" in p.stdout
    p = pvemu_cli("run", "hello32", "--smp", "17")
    assert p.returncode == 2 and b"must be 1 to 16" in p.stderr
    p = pvemu_cli("run", "hello32", "--cpu", "pentium9")
    assert p.returncode == 2 and b"unknown CPU model" in p.stderr
    # --bios shows port 0xE9 output (as QEMU's -debugcon stdio) and POST codes on request
    rom = bytearray(b"\xf4" * 0x1000)
    body = b"\xb0\x48\xe6\xe9\xb0\x69\xe6\xe9\xb0\x42\xe6\x80\xb0\x03\xe6\xf4"
    rom[0:len(body)] = body
    rom[0xFF0:0xFF5] = b"\xea\x00\xf0\x00\xf0"
    path = tmp_path / "rom.bin"
    path.write_bytes(bytes(rom))
    p = pvemu_cli("run", "--bios", path, "--post-codes")
    assert p.returncode == 3 and p.stdout == b"Hi" and b"POST 0x42" in p.stderr


def test_real_mode_access_past_the_64k_limit_faults():
    from helpers import run_code
    # a word at offset 0xFFFF through DS is #GP(0); through SS (BP-based) #SS(0)
    _, ex = run_code(b"\x89\x06\xff\xff", mode=16, expect="exception")
    assert ex.reason == "exception" and ex.vector == 13
    _, ex = run_code(b"\x89\x46\x00", mode=16, regs={"bp": 0xFFFF}, expect="exception")
    assert ex.reason == "exception" and ex.vector == 12
    m, ex = run_code(b"\x89\x06\xfe\xff", mode=16, regs={"ax": 0x1234})   # the last word fits
    assert ex.reason == "hlt" and m.mem_read(0xFFFE, 2) == b"\x34\x12"


def test_store_through_a_read_only_data_segment_faults():
    ro = 0x00CF90000000FFFF                       # present, data, read-only, flat
    for store, vector in ((b"\x89\x05" + DATA.to_bytes(4, "little"), 13),     # mov [DATA], eax
                          (b"\x8b\x05" + DATA.to_bytes(4, "little"), None)):  # a load is fine
        m = Machine(mode=32, memory=1 << 20)
        m.mem_write(GDT, struct.pack("<4Q", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF, ro))
        m.load_table("gdt", GDT, 31)
        m.mem_write(CODE, b"\x66\xb8\x18\x00\x8e\xd8" + store + b"\xf4")     # mov ax, 0x18; mov ds, ax
        ex = m.run(start=CODE, count=10)
        if vector:
            assert ex.reason == "exception" and ex.vector == vector and ex.error_code == 0
            assert ex.address == CODE + 6
        else:
            assert ex.reason == "hlt"


def protected_machine(*extra):
    """Machine(mode=32) with a GDT: 0x08 ring-0 code, 0x10 ring-0 data,
    0x18 ring-3 code, 0x20 ring-3 data, then `extra` descriptors (0x28...)."""
    m = Machine(mode=32, memory=1 << 20)
    gdt = [0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF, 0x00CFFA000000FFFF, 0x00CFF2000000FFFF, *extra]
    m.mem_write(GDT, struct.pack(f"<{len(gdt)}Q", *gdt))
    m.load_table("gdt", GDT, 8 * len(gdt) - 1)
    m.reg_write("cs", 0x08)
    m.reg_write("ss", 0x10)
    return m


def test_far_ret_imm16_to_an_outer_level_releases_the_outer_stack_too():
    m = protected_machine()
    frame = struct.pack("<6I", 0x5000, 0x1B, 0xAAAA, 0xBBBB, 0x9000, 0x23)
    m.mem_write(STACK - len(frame), frame)
    m.reg_write("esp", STACK - len(frame))
    m.mem_write(CODE, b"\xca\x08\x00")       # retf 8
    m.mem_write(0x5000, b"\xf4")             # HLT at CPL 3: #GP, which ends the run
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "exception" and ex.vector == 13 and ex.address == 0x5000
    assert m.cpl == 3 and m.reg_read("esp") == 0x9008 and m.reg_read("ss") == 0x23


def test_pop_ss_moves_the_stack_pointer_by_the_old_ss_width():
    m = protected_machine(0x008F92000000FFFF)         # 0x28: a 16-bit (B=0) flat data segment
    m.mem_write(0xFFFE, b"\x10\x00")                   # the selector POP SS takes
    m.mem_write(CODE, b"\x66\xb8\x28\x00\x8e\xd0"      # mov ax, 0x28; mov ss, ax
                      b"\xbc\xfe\xff\x34\x12"          # mov esp, 0x1234FFFE
                      b"\x17\xf4")                     # pop ss; hlt
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "hlt" and m.reg_read("ss") == 0x10
    assert m.reg_read("esp") == 0x12340002             # SP + 4 wrapped in 16 bits; the high half stays


def test_enter_checks_every_stack_write_before_writing():
    # SS expand-down with limit 0x6000: offsets 0x6001 and up are valid
    m = protected_machine(0x0040960000006000)
    m.mem_write(CODE, b"\x66\xb8\x28\x00\x8e\xd0"      # mov ax, 0x28; mov ss, ax
                      b"\xbc\x08\x60\x00\x00"          # mov esp, 0x6008
                      b"\xbd\x00\x20\x00\x00"          # mov ebp, 0x2000
                      b"\xc8\x00\x00\x03\xf4")         # enter 0, 3 (four dwords down to 0x5FF8)
    m.mem_write(0x6004, b"\x5a" * 4)
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "exception" and ex.vector == 12 and ex.error_code == 0
    assert m.mem_read(0x6004, 4) == b"\x5a" * 4 and m.reg_read("esp") == 0x6008


def test_enter_write_checks_its_final_stack_pointer_after_the_pushes():
    # As the host CPU and Bochs: the pushes are made, then an operand-sized
    # write check at the final rSP faults, with rBP and rSP as they were.
    m = protected_machine(0x0040960000006000)          # SS expand-down: offsets 0x6001 and up
    m.mem_write(CODE, b"\x66\xb8\x28\x00\x8e\xd0"      # mov ax, 0x28; mov ss, ax
                      b"\xbc\x10\x60\x00\x00"          # mov esp, 0x6010
                      b"\xbd\x44\x33\x22\x11"          # mov ebp, 0x11223344
                      b"\xc8\x10\x00\x00\xf4")         # enter 0x10, 0: final esp 0x5FFC
    ex = m.run(start=CODE, count=10)
    assert (ex.reason, ex.vector, ex.error_code) == ("exception", 12, 0)
    assert m.mem_read(0x600C, 4) == bytes.fromhex("44332211")      # the push was made
    assert m.reg_read("esp") == 0x6010 and m.reg_read("ebp") == 0x11223344


def test_int_n_from_virtual_8086_mode_through_a_16_bit_gate():
    tss = 0x7000
    tss_desc = (0x67 | (tss & 0xFFFFFF) << 16 | 0x89 << 40 | (tss >> 24) << 56)
    m = protected_machine(tss_desc)                    # 0x28: a 32-bit TSS
    m.mem_write(tss + 4, struct.pack("<II", 0x9000, 0x10))      # ESP0, SS0
    m.load_segment_register("tr", 0x28)
    gate = 0x5000 | 0x08 << 16 | 0xE6 << 40            # 16-bit interrupt gate, DPL 3
    m.mem_write(IDT + 8 * 0x21, struct.pack("<Q", gate))
    m.load_table("idt", IDT, 8 * 256 - 1)
    m.mem_write(0x5000, b"\xf4")                       # the handler (CPL 0, IF clear): HLT
    m.mem_write(0x100, b"\xcd\x21")                    # v86 code at 0000:0100: int 0x21
    frame = struct.pack("<9I", 0x100, 0, 0x23002, 0x800, 0, 0x11, 0x22, 0x33, 0x44)
    m.mem_write(STACK - len(frame), frame)             # IRETD into v86 (VM, IOPL 3)
    m.reg_write("esp", STACK - len(frame))
    m.mem_write(CODE, b"\xcf")
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "hlt" and ex.address == 0x5000 and m.reg_read("esp") == 0x9000 - 18
    ip, cs, flags, sp, ss, es, ds, fs, gs = struct.unpack("<9H", m.mem_read(0x9000 - 18, 18))
    assert (ip, cs, flags & 0xFFFF, sp, ss) == (0x102, 0, 0x3002, 0x800, 0)
    assert (es, ds, fs, gs) == (0x11, 0x22, 0x33, 0x44)
    assert m.reg_read("ds") == 0 and m.reg_read("cs") == 0x08


READ_DR6_DR7 = b"\x0f\x21\xf0\x0f\x21\xfb\xf4"      # mov eax, dr6; mov ebx, dr7; hlt


def dr6_dr7(m):
    m.mem_write(0x2000, READ_DR6_DR7)
    m.run(start=0x2000, count=5)
    return m.reg_read("eax"), m.reg_read("ebx")


def test_dr7_gd_makes_any_debug_register_access_a_db_fault():
    m = Machine(mode=32, memory=1 << 20)
    m.mem_write(CODE, b"\xb8\x00\x24\x00\x00\x0f\x23\xf8"    # mov eax, 0x2400 (GD); mov dr7, eax
                      b"\x0f\x21\xc0\xf4")                    # mov eax, dr0
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "exception" and ex.vector == 1 and ex.address == CODE + 8
    dr6, dr7 = dr6_dr7(m)
    assert dr6 & 0x2000 and not dr7 & 0x2000                  # BD set; GD cleared for the handler


def test_io_breakpoint_traps_after_the_port_access_with_cr4_de():
    code = (b"\xb8\x80\x00\x00\x00\x0f\x23\xc0"               # mov eax, 0x80; mov dr0, eax
            b"\x0f\x20\xe0\x83\xc8\x08\x0f\x22\xe0"           # CR4.DE
            b"\xb8\x01\x04\x02\x00\x0f\x23\xf8"               # DR7: L0, R/W0 = 10 (I/O), LEN0 1
            b"\xe6\x80\x90\xf4")                              # out 0x80, al; nop; hlt
    m = Machine(mode=32, memory=1 << 20)
    m.mem_write(CODE, code)
    ex = m.run(start=CODE, count=20)
    assert ex.reason == "exception" and ex.vector == 1 and ex.address == CODE + len(code) - 2
    assert dr6_dr7(m)[0] & 1                                  # B0
    m = Machine(mode=32, memory=1 << 20)                      # without CR4.DE nothing is armed
    m.mem_write(CODE, code[:8] + code[17:])
    assert m.run(start=CODE, count=20).reason == "hlt"


def test_task_switch_into_a_task_with_the_t_flag_traps():
    def tss_desc(base):
        return 0x67 | (base & 0xFFFFFF) << 16 | 0x89 << 40 | (base >> 24) << 56
    m = protected_machine(tss_desc(0x6000), tss_desc(0x7000))   # 0x28 current task, 0x30 the new one
    m.load_segment_register("tr", 0x28)
    tss = bytearray(0x68)
    struct.pack_into("<II", tss, 0x20, 0x5000, 2)              # EIP, EFLAGS
    struct.pack_into("<I", tss, 0x38, 0x9000)                  # ESP
    struct.pack_into("<6I", tss, 0x48, 0x10, 0x08, 0x10, 0x10, 0x10, 0x10)   # ES CS SS DS FS GS
    tss[0x64] = 1                                              # T
    m.mem_write(0x7000, bytes(tss))
    m.mem_write(0x5000, b"\xf4")
    m.mem_write(CODE, b"\xea\x00\x00\x00\x00\x30\x00")         # jmp 0x30:0 (a task switch)
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "exception" and ex.vector == 1 and ex.address == 0x5000
    assert m.state()["tr"] == 0x30 and dr6_dr7(m)[0] & 0x8000   # DR6.BT


def test_a_faults_saved_eflags_has_rf():
    m = Machine(mode=32, memory=1 << 20)
    with_idt(m, {6: HANDLER})
    m.mem_write(HANDLER, b"\x8b\x44\x24\x08\xf4")   # mov eax, [esp + 8] (the saved EFLAGS); hlt
    m.mem_write(CODE, b"\x0f\x0b")                   # ud2
    m.reg_write("esp", STACK)
    ex = m.run(start=CODE, count=10)
    assert ex.reason == "hlt" and m.reg_read("eax") & 0x10000
    assert not m.reg_read("eflags") & 0x10000        # the handler runs with RF clear


def hpet_guest(m, timer_cfg, comparator, stop_after):
    """Timer 0 of the HPET in legacy replacement (IRQ 0, vector 0x08 after
    the BIOS's 8259 setup) counted by its handler at DATA; the guest halts
    until `stop_after` interrupts came, then halts with IF clear."""
    from emu.devices import firmware_pic_setup
    attach_pc(m, 1 << 20)
    firmware_pic_setup(m)
    with_idt(m, {0x08: HANDLER})
    # handler: inc dword [DATA]; mov al, 0x20; out 0x20, al (EOI); iret
    m.mem_write(HANDLER, b"\xff\x05" + DATA.to_bytes(4, "little") + b"\xb0\x20\xe6\x20\xcf")
    def mov(addr, v):
        return b"\xc7\x05" + addr.to_bytes(4, "little") + v.to_bytes(4, "little")
    # (the comparator's high half too: a 32-bit write keeps the other half, all ones after reset)
    code = (mov(0xFED00100, timer_cfg) + mov(0xFED00108, comparator) + mov(0xFED0010C, 0)
            + mov(0xFED00010, 3)                                       # ENABLE | LEG_RT
            + b"\xfb"                                                  # sti
            + b"\xf4\x83\x3d" + DATA.to_bytes(4, "little") + bytes([stop_after]) + b"\x72\xf6"   # hlt; cmp; jb
            + b"\xfa\xf4")                                             # cli; hlt
    m.mem_write(CODE, code)
    m.reg_write("esp", STACK)
    return m.run(start=CODE, count=100_000)


def test_hpet_one_shot_comparator_interrupts_through_irq0():
    m = Machine(mode=32, memory=1 << 20)
    ex = hpet_guest(m, 0x4, 5000, 1)                   # Tn_INT_ENB; 5000 ticks of 10 ns = 50 us
    assert ex.reason == "hlt" and struct.unpack("<I", m.mem_read(DATA, 4))[0] == 1
    # 50 us at 100 M instructions a second: the halted CPU skipped to the comparator
    assert 5000 <= m.virtual_time <= 5200


def test_hpet_periodic_comparator_repeats_at_its_period():
    m = Machine(mode=32, memory=1 << 20)
    ex = hpet_guest(m, 0x14C, 1000, 5)                 # ENB | PERIODIC | VAL_SET | 32-bit; period 10 us
    assert ex.reason == "hlt" and struct.unpack("<I", m.mem_read(DATA, 4))[0] == 5
    assert 5000 <= m.virtual_time <= 5300


def test_hpet_timer_without_a_route_to_the_8259s_raises_nothing():
    # legacy replacement off, route 20 (an IOAPIC input): no 8259 line; level mode sets the status bit
    from emu.hpet import Hpet
    m = Machine(mode=32, memory=1 << 20)
    hpet = Hpet(m).attach()
    assert hpet.irq_line(0) is None
    hpet.write(0xFED00100, 4, 0x4 | 0x2 | 20 << 9)      # ENB, level, route 20
    hpet.write(0xFED00108, 8, 100)
    hpet.write(0xFED00010, 4, 1)                       # ENABLE
    m.mem_write(CODE, b"\x90" * 2000 + b"\xf4")
    assert m.run(start=CODE, count=5000).reason == "hlt"
    assert hpet.read(0xFED00020, 4) == 1               # timer 0's status bit
    hpet.write(0xFED00010, 4, 3)                       # LEG_RT: timer 0 is IRQ 0, timer 1 IRQ 8
    assert (hpet.irq_line(0), hpet.irq_line(1), hpet.irq_line(2)) == (0, 8, None)


def device_memory(m, base=0xFF000000, size=0x3000):
    """A Python MMIO device that reads and writes as RAM; returns its bytes."""
    store = bytearray(size)
    def read(addr, n):
        return int.from_bytes(store[addr - base:addr - base + n], "little")
    def write(addr, n, v):
        store[addr - base:addr - base + n] = v.to_bytes(n, "little")
    m.add_mmio_handler(base, size, read, write)
    return store


def test_repe_cmps_compares_device_memory_iteration_by_iteration():
    # kvm-unit-tests' emulator: REPE CMPSB with rSI in device memory (each
    # iteration's device read is its own, not the first iteration's answer again)
    m = Machine(mode=32, memory=1 << 20)
    store = device_memory(m)
    store[:200] = bytes(range(100)) + bytes(k + 1 for k in range(100, 200))
    m.mem_write(DATA, bytes(range(200)))
    m.mem_write(CODE, b"\xfc\xf3\xa6\xf4")                    # cld; repe cmpsb; hlt
    for k, v in {"esi": 0xFF000000, "edi": DATA, "ecx": 130}.items():
        m.reg_write(k, v)
    assert m.run(start=CODE, count=1000).reason == "hlt"
    assert (m.reg_read("ecx"), m.reg_read("esi")) == (29, 0xFF000000 + 101)


def test_an_access_straddling_two_pages_of_one_device_is_one_access():
    m = Machine(mode=32, memory=1 << 20)
    store = device_memory(m)
    store[0xFFF:0x1001] = b"\x34\x12"
    m.mem_write(CODE, b"\x66\xa1\xff\x0f\x00\xff" + b"\x66\xa3\xff\x1f\x00\xff\xf4")   # ax = [..0FFF]; [..1FFF] = ax
    assert m.run(start=CODE, count=10).reason == "hlt"
    assert m.reg_read("eax") & 0xFFFF == 0x1234 and store[0x1FFF:0x2001] == b"\x34\x12"
