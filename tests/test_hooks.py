"""Machine.hook_add: Unicorn's hook kinds, compiled into the blocks of their
range, taking effect at once, their exceptions reaching run()'s caller."""
import pytest

from emu import EmuError, Machine

CODE, DATA = 0x1000000, 0x200000
# inc ecx; dec edx; mov [DATA+4], ecx; mov eax, [DATA+4]; mov ecx, 3; L: dec ecx; jnz L; hlt
PROGRAM = bytes.fromhex("41" "4a" "890d04002000" "a104002000" "b903000000" "49" "75fd" "f4")
ADDRS = [0, 1, 2, 8, 13, 18, 19, 18, 19, 18, 19, 21]       # offsets of the instructions run


def machine():
    m = Machine(mode=32, memory=0)
    m.mem_map(CODE, 0x1000, 5)
    m.mem_map(DATA, 0x1000, 3)
    m.mem_write(CODE, PROGRAM)
    return m


def test_code_hook_sees_every_instruction_once_with_rip_at_it():
    m = machine()
    seen = []
    m.hook_add("code", lambda a, n: seen.append((a - CODE, n, m.reg_read("eip") - CODE)))
    ex = m.run(start=CODE)
    assert ex.reason == "hlt" and ex.instructions == len(ADDRS)
    assert [s[0] for s in seen] == ADDRS and all(s[0] == s[2] for s in seen)
    assert [s[1] for s in seen][:4] == [1, 1, 6, 5]


def test_code_hook_range_and_block_hook():
    m = machine()
    seen, blocks = [], []
    m.hook_add("code", lambda a, n: seen.append(a - CODE), CODE + 18, CODE + 19)
    m.hook_add("block", lambda a, n: blocks.append(a - CODE))
    m.run(start=CODE)
    assert seen == [18, 19] * 3
    assert blocks == [0, 18, 18, 21]          # the loop re-enters its block twice, then hlt


def test_memory_hooks_report_access_and_value():
    m = machine()
    log = []
    m.hook_add("mem_write", lambda *a: log.append(a))
    m.hook_add("mem_read", lambda *a: log.append(a))
    m.hook_add("mem_read_after", lambda *a: log.append(a + ("after",)))
    m.run(start=CODE)
    assert log == [("write", DATA + 4, 4, 1), ("read", DATA + 4, 4, 0),
                   ("read", DATA + 4, 4, 1, "after")]
    assert m.reg_read("eax") == 1


def test_memory_hooks_with_data_are_called_as_unicorns():
    """data=(first, last): callback(first, access, address, size, value,
    last), access being the hook's arg, the value signed 64-bit."""
    m = Machine(mode=64, memory=0)
    m.mem_map(CODE, 0x1000, 5)
    m.mem_map(DATA, 0x1000, 3)
    # mov rax, -2; mov [DATA], rax; mov rbx, [DATA]; hlt
    m.mem_write(CODE, bytes.fromhex("48c7c0feffffff" "48890425" "00002000" "488b1c25" "00002000" "f4"))
    log = []
    m.hook_add("mem_write", lambda *a: log.append(a), arg=17, data=("uc", "ud"))
    m.hook_add("mem_read", lambda *a: log.append(a), data=("uc", "ud"))
    m.hook_add("mem_write", lambda *a: log.append(a))
    assert m.run(start=CODE).reason == "hlt"
    assert log == [("uc", 17, DATA, 8, -2, "ud"), ("write", DATA, 8, (1 << 64) - 2),
                   ("uc", "read", DATA, 8, 0, "ud")]
    assert m.reg_read("rbx") == (1 << 64) - 2


def test_a_read_hook_sees_and_may_change_memory_before_the_read():
    m = machine()
    m.hook_add("mem_read", lambda acc, a, n, v: m.mem_write(a, (0x55).to_bytes(n, "little")))
    m.run(start=CODE)
    assert m.reg_read("eax") == 0x55


def test_hook_added_and_removed_mid_run_takes_effect_at_once():
    m = machine()
    seen = []

    def first(a, n):
        seen.append(a - CODE)
        if a - CODE == 1:
            m.hook_del(h)

    h = m.hook_add("code", first)
    m.run(start=CODE)
    assert seen == [0, 1]
    m.hook_add("code", lambda a, n: seen.append(a - CODE))
    m.run(start=CODE)                 # the cached blocks were rebuilt with markers
    assert seen[2:] == ADDRS


def test_unmapped_hook_maps_the_page_and_retries():
    m = machine()
    m.mem_unmap(DATA, 0x1000)
    calls = []

    def fix(access, address, size, value):
        calls.append((access, address, size, value))
        m.mem_map(address & ~0xFFF, 0x1000, 3)
        return True

    m.hook_add("mem_write_unmapped", fix)
    assert m.run(start=CODE).reason == "hlt"
    assert calls == [("write", DATA + 4, 4, 1)]


def test_unhandled_fault_and_false_hook_end_the_run():
    m = machine()
    m.mem_protect(DATA, 0x1000, 1)
    m.hook_add("mem_write_prot", lambda *a: False)
    ex = m.run(start=CODE)
    assert (ex.reason, ex.access, ex.access_address) == ("protection", "write", DATA + 4)


def test_exceptions_in_hooks_reach_the_caller():
    m = machine()

    def boom(a, n):
        raise KeyError("from the hook")

    m.hook_add("code", boom)
    with pytest.raises(KeyError, match="from the hook"):
        m.run(start=CODE)


def test_instruction_and_interrupt_hooks():
    m = Machine(mode=32, memory=0)
    m.mem_map(0x1000, 0x1000, 7)
    # in al, 0x3f; out 0x46, al; cpuid; int 0x80; rdtsc; hlt
    m.mem_write(0x1000, bytes.fromhex("e43f" "e646" "0fa2" "cd80" "0f31" "f4"))
    log = []
    m.hook_add("insn", lambda p, s: log.append(("in", p, s)) or 0x77, arg="in")
    m.hook_add("insn", lambda p, s, v: log.append(("out", p, s, v)), arg="out")
    m.hook_add("insn", lambda: log.append("cpuid") or True, arg="cpuid")     # skipped
    m.hook_add("intr", lambda v: log.append(("intr", v)))
    m.hook_add("insn", lambda: log.append("rdtsc") or False, arg="rdtsc")    # runs
    m.reg_write("ebx", 0x1234)
    assert m.run(start=0x1000).reason == "hlt"
    assert log == [("in", 0x3F, 1), ("out", 0x46, 1, 0x77), "cpuid", ("intr", 0x80), "rdtsc"]
    assert m.reg_read("ebx") == 0x1234                   # CPUID did not run


def test_invalid_instruction_hook():
    m = Machine(mode=32, memory=0)
    m.mem_map(0x1000, 0x1000, 7)
    m.mem_write(0x1000, bytes.fromhex("0f0b" "f4"))      # ud2; hlt

    def skip():
        m.reg_write("eip", 0x1002)
        return True

    m.hook_add("insn_invalid", skip)
    assert m.run(start=0x1000).reason == "hlt"


def test_hooks_cost_nothing_outside_their_range():
    m = machine()
    m.hook_add("code", lambda a, n: None, CODE + 0x800, CODE + 0x900)
    m.run(start=CODE)
    assert m.stats["blocks_decoded"] > 0
    decoded = m.stats["blocks_decoded"]
    m.run(start=CODE)
    assert m.stats["blocks_decoded"] == decoded       # no marker exits, no rebuilds


@pytest.mark.parametrize("call, match", [
    (lambda m: m.hook_add("nosuch", print), "hook kind"),
    (lambda m: m.hook_add("code", 5), "callable"),
    (lambda m: m.hook_add("code", print, -1, 5), "begin"),
    (lambda m: m.hook_add("insn", print, arg="hlt"), "arg"),
    (lambda m: m.hook_del(12345), "no hook"),
])
def test_bad_hook_arguments(call, match):
    with pytest.raises(EmuError, match=match):
        call(machine())
