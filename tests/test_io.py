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
    m, ex = run_code(code)
    assert ex.reason == "debug-exit" and ex.status == 7
    assert bytes(m.debugcon_output) == b"x" and m.post_code == 0x42
    assert m.reg_read("eip") == CODE + len(code)          # the OUT retired


def test_unassigned_ports_read_all_ones():
    m, ex = run_code(bytes.fromhex("66ba3412" "ed"), regs={"eax": 0})
    assert m.reg_read("eax") == 0xFFFFFFFF
