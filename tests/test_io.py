"""Port I/O and the built-in PC devices."""
from helpers import CODE, DATA, run_code


def test_python_port_handler_in_and_out():
    seen = []
    from emu import Machine
    m = Machine(mode=32, memory=1 << 20)
    m.add_io_handler(0x300, 4, read=lambda port, size: 0x12345678 + port,
                     write=lambda port, size, value: seen.append((port, size, value)))
    # mov dx,0x301; in eax,dx; mov dx,0x302; out dx,al; mov dx,0x300; out dx,ax; hlt
    m.mem_write(CODE, bytes.fromhex("66ba0103" "ed" "66ba0203" "ee" "66ba0003" "66ef" "f4"))
    ex = m.run(start=CODE)
    assert ex.reason == "hlt"
    assert m.reg_read("eax") == 0x12345678 + 0x301
    assert seen == [(0x302, 1, 0x79), (0x300, 2, 0x5979)]


def test_serial_output_input_and_rep_outsb():
    msg = b"hello, serial\n"
    # mov esi, DATA; mov ecx, len; mov dx, 0x3f8; rep outsb; in al, dx (reads input)
    code = (b"\xbe" + DATA.to_bytes(4, "little") + b"\xb9" + len(msg).to_bytes(4, "little")
            + b"\x66\xba\xf8\x03" + b"\xf3\x6e" + b"\xec")
    from emu import Machine
    m = Machine(mode=32, memory=1 << 20)
    m.set_serial(input=b"Q")
    m.mem_write(DATA, msg)
    m.mem_write(CODE, code + b"\xf4")
    ex = m.run(start=CODE)
    assert ex.reason == "hlt" and bytes(m.serial_output) == msg and m.reg_read("al") == ord("Q")


def test_serial_output_larger_than_the_buffer_reaches_the_sink():
    chunks = []
    from emu import Machine
    m = Machine(mode=32, memory=1 << 20)
    m.set_serial(chunks.append)
    # mov dx,0x3f8; mov ecx,10000; l: mov al,cl; out dx,al; loop l; hlt
    m.mem_write(CODE, bytes.fromhex("66baf803" "b910270000" "88c8" "ee" "e2fb" "f4"))
    assert m.run(start=CODE).reason == "hlt"
    data = b"".join(chunks)
    assert len(data) == 10000 and data[:3] == bytes([0x10, 0x0F, 0x0E])


def test_uart_divisor_latch_does_not_print():
    # LCR.DLAB=1, write divisor 1 to 0x3f8, LCR=3, write 'A'
    code = bytes.fromhex("66bafb03" "b080" "ee" "66baf803" "b001" "ee" "66bafb03" "b003" "ee"
                         "66baf803" "b041" "ee")
    m, ex = run_code(code)
    assert bytes(m.serial_output) == b"A"


def test_debug_exit_debugcon_and_post_codes():
    # out 0x80, al (0x42); out 0xe9, 'x'; mov eax, 7; out 0xf4, eax
    code = bytes.fromhex("b042" "e680" "b078" "e6e9" "b807000000" "e7f4")
    m, ex = run_code(code, expect="debug-exit")
    assert ex.reason == "debug-exit" and ex.status == 7
    assert bytes(m.debugcon_output) == b"x" and m.post_code == 0x42
    assert m.reg_read("eip") == CODE + len(code)          # the OUT retired


def test_unassigned_ports_read_all_ones():
    m, ex = run_code(bytes.fromhex("66ba3412" "ed"), regs={"eax": 0})
    assert m.reg_read("eax") == 0xFFFFFFFF


def test_python_mmio_reads_writes_and_read_modify_write():
    from emu import EmuError, Machine
    import pytest
    m = Machine(mode=32, memory=1 << 20)
    regs = {0xE0000000: 41}
    log = []

    def read(addr, size):
        log.append(("r", addr, size))
        return regs.get(addr, 0xAB)

    def write(addr, size, value):
        log.append(("w", addr, size, value))
        regs[addr] = value

    m.add_mmio_handler(0xE0000000, 0x1000, read, write)
    # mov eax,[0xE0000004]; mov [0xE0000008],ebx; add dword [0xE0000000],1; hlt
    code = (b"\xa1\x04\x00\x00\xe0" + b"\x89\x1d\x08\x00\x00\xe0" + b"\x83\x05\x00\x00\x00\xe0\x01")
    m.mem_write(CODE, code + b"\xf4")
    m.reg_write("ebx", 0x55)
    ex = m.run(start=CODE)
    assert ex.reason == "hlt" and ex.instructions == 4
    assert m.reg_read("eax") == 0xAB and regs[0xE0000008] == 0x55 and regs[0xE0000000] == 42
    assert log == [("r", 0xE0000004, 4), ("w", 0xE0000008, 4, 0x55),
                   ("r", 0xE0000000, 4), ("w", 0xE0000000, 4, 42)]
    with pytest.raises(EmuError, match="above RAM"):
        m.add_mmio_handler(0x1000, 16)


def test_local_apic_registers_are_memory_mapped():
    # mov eax,[0xFEE00030] (version); mov dword [0xFEE00080], 0x20 (TPR); mov ebx,[0xFEE00080]
    code = (b"\xa1\x30\x00\xe0\xfe" + b"\xc7\x05\x80\x00\xe0\xfe\x20\x00\x00\x00"
            + b"\x8b\x1d\x80\x00\xe0\xfe")
    m, ex = run_code(code, memory=1 << 20)
    assert ex.reason == "hlt"
    assert m.reg_read("eax") == 0x50014 and m.reg_read("ebx") == 0x20


def test_pit_channel2_gate_and_output_through_port_61():
    """Linux calibrates the TSC this way (pit_calibrate_tsc): gate 2 high,
    channel 2 in mode 0 with a count, then poll port 0x61 bit 5 (OUT2)."""
    from emu import Machine
    m = Machine(mode=32, memory=1 << 20)
    m.ips = 1_193_182 * 4                    # four instructions per PIT tick
    code = bytes.fromhex(
        "e461"          # in al, 0x61
        "24fc 0c01"     # and al, ~3; or al, 1: gate 2 high, speaker off
        "e661"          # out 0x61, al
        "b0b0 e643"     # mov al, 0xb0; out 0x43, al: channel 2, lobyte/hibyte, mode 0
        "b0e8 e642"     # count 1000 = 0x3e8
        "b003 e642"
        "31c9"          # xor ecx, ecx
        "41"            # 1: inc ecx
        "e461 a820"     # in al, 0x61; test al, 0x20
        "74f9"          # jz 1b
        "f4")
    m.mem_write(0x1000, code)
    ex = m.run(start=0x1000, count=1_000_000)
    assert ex.reason == "hlt"
    loops = m.reg_read("ecx")
    # 1000 ticks = 4000 instructions at 4 instructions per loop iteration
    assert 990 <= loops <= 1010, loops


def test_pit_channel2_counts_down_and_stops_with_the_gate():
    from emu import Machine
    m = Machine(mode=32, memory=1 << 20)
    m.ips = 1_193_182                        # one tick per instruction
    code = bytes.fromhex(
        "b001 e661"     # gate 2 high
        "b0b4 e643"     # channel 2, lobyte/hibyte, mode 2
        "b0ff e642 e642"  # count 0xffff
        + "90" * 100 +
        "b080 e643"     # latch channel 2
        "e442 88c3 e442 88c7"  # bl = low, bh = high
        "f4")
    m.mem_write(0x1000, code)
    assert m.run(start=0x1000, count=10_000).reason == "hlt"
    assert 0xFFFF - 110 <= m.reg_read("bx") <= 0xFFFF - 100
