"""In-memory machine state: CPU contexts, snapshots restoring only the pages
written since, and the dirty-page log."""
import pytest

from emu import EmuError, Machine

# rdi = 0x100000; ecx = 100; L: mov [rdi], rax; add rdi, 0x1000; dec ecx; jnz L; hlt
WRITER = bytes.fromhex("bf00001000" "b964000000" "488907" "4881c700100000" "ffc9" "75f2" "f4")


def test_context_round_trip_and_isolation():
    m = Machine(mode=64, memory=1 << 20)
    m.reg_write("rax", 5)
    m.reg_write("r15", 9)
    m.write_cr(4, m.read_cr(4))
    ctx = m.context_save()
    m.reg_write("rax", 7)
    m.reg_write("rflags", 0x8D7)
    m.context_restore(ctx)
    assert (m.reg_read("rax"), m.reg_read("r15"), m.reg_read("rflags")) == (5, 9, 2)
    other = Machine(mode=64, memory=1 << 20)
    other.context_restore(ctx)
    assert other.reg_read("r15") == 9


def test_context_restore_keeps_what_belongs_to_the_machine():
    """Hooks, mapped regions, the instruction counter and decoded blocks are
    the machine's, not the context's: a restore leaves them; bytes or any
    buffer of the right size restore the same."""
    m = Machine(mode=64, memory=1 << 20)
    m.mem_write(0x1000, bytes.fromhex("48ffc0f4"))         # inc rax; hlt
    ctx = m.context_save()
    m.mem_map(0x10000000, 0x1000, 3)
    seen = []
    m.hook_add("code", lambda a, n: seen.append(a))
    m.run(start=0x1000)
    count = m.instructions
    m.context_restore(bytearray(ctx))
    assert m.instructions == count and m.reg_read("rax") == 0
    assert [r[:2] for r in m.mem_regions()][-1] == (0x10000000, 0x10000fff)
    m.reg_write("rip", 0x1000)
    m.run()
    assert seen == [0x1000, 0x1003] * 2 and m.reg_read("rax") == 1
    m.context_restore(memoryview(ctx))
    assert m.reg_read("rax") == 0


def test_context_saved_into_a_buffer():
    m = Machine(mode=64, memory=1 << 20)
    m.reg_write("rbx", 0x1234)
    buf = bytearray(len(m.context_save()))
    assert m.context_save(into=buf) is buf and bytes(buf) == m.context_save()
    m.reg_write("rbx", 1)
    m.context_restore(buf)
    assert m.reg_read("rbx") == 0x1234
    for bad in (bytearray(3), bytes(len(buf)), memoryview(buf)):
        with pytest.raises(EmuError, match="into"):
            m.context_save(into=bad)


def test_console_output_is_neither_dropped_nor_repeated_by_a_restore():
    """A context saved in a hook while the guest's COM1 output was still on
    its way out: restoring it later does not send that output again."""
    m = Machine(mode=32, memory=1 << 20)
    # mov dx, 0x3f8; mov al, 'A'; out dx, al; nop; hlt
    m.mem_write(0x1000, bytes.fromhex("66baf803" "b041" "ee" "90" "f4"))
    saved = []
    m.hook_add("code", lambda a, n: saved.append(m.context_save()) if not saved else None, 0x1007, 0x1007)
    assert m.run(start=0x1000).reason == "hlt"
    assert m.serial_output == b"A"
    m.context_restore(saved[0])
    assert m.reg_read("eip") == 0x1007
    assert m.run().reason == "hlt"
    assert m.serial_output == b"A"


def test_context_restore_rejects_other_bytes():
    m = Machine()
    with pytest.raises(EmuError, match="context"):
        m.context_restore(b"nope")
    with pytest.raises(EmuError, match="context"):
        m.context_restore(42)


def test_snapshot_restores_memory_and_cpu():
    m = Machine(mode=64, memory=4 << 20)
    m.mem_write(0x1000, WRITER)
    m.mem_write(0x100000, b"before")
    m.reg_write("rax", 0x1122334455667788)
    m.snapshot()
    assert m.run(start=0x1000).reason == "hlt"
    assert m.mem_read(0x100000, 8) == (0x1122334455667788).to_bytes(8, "little")
    m.mem_write(0x3000, b"host write")
    m.restore()
    assert m.mem_read(0x100000, 6) == b"before"
    assert m.mem_read(0x100000 + 99 * 0x1000, 8) == bytes(8)
    assert m.mem_read(0x3000, 10) == bytes(10)
    assert m.reg_read("rdi") == 0 and m.reg_read("rax") == 0x1122334455667788
    assert m.run(start=0x1000).reason == "hlt"          # and again, from the same snapshot
    m.restore()
    assert m.mem_read(0x100000, 6) == b"before"


def test_restore_drops_code_written_since():
    m = Machine(mode=64, memory=1 << 20)
    m.mem_write(0x1000, bytes.fromhex("b805000000f4"))      # mov eax, 5; hlt
    m.snapshot()
    m.run(start=0x1000)
    m.mem_write(0x1001, b"\x07")
    m.run(start=0x1000)
    assert m.reg_read("eax") == 7
    m.restore()
    m.run(start=0x1000)
    assert m.reg_read("eax") == 5


def test_snapshot_of_mapped_regions():
    m = Machine(mode=64, memory=0)
    m.mem_map(0x7F0000000000, 0x1000, 5)
    m.mem_map(0x100000, 0x100000, 3)
    m.mem_write(0x7F0000000000, WRITER)
    m.reg_write("rax", 3)
    m.snapshot()
    m.run(start=0x7F0000000000)
    assert m.mem_read(0x100000, 1) == b"\x03"
    m.restore()
    assert m.mem_read(0x100000, 1) == b"\x00"


def test_dirty_pages_log():
    m = Machine(mode=64, memory=4 << 20)
    m.mem_write(0x1000, WRITER)
    m.dirty_pages(clear=True)
    m.run(start=0x1000)
    pages = m.dirty_pages()
    assert pages == [0x100000 + k * 0x1000 for k in range(100)]
    assert m.dirty_pages(clear=True) == pages
    m.run(start=0x1000)                 # the write TLB was dropped: marked again
    assert len(m.dirty_pages()) == 100


def test_restore_needs_a_snapshot():
    with pytest.raises(EmuError, match="snapshot"):
        Machine().restore()
