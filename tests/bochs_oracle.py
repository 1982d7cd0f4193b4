"""Bochs as the oracle of protection tests: build a test ROM (GNU as/ld),
run it as firmware on Bochs and on pvemu (`pvemu run --bios`), and return
the lines each printed on port 0xE9 between "BEGIN" and "END".

Debian's bochs has no headless display library; its `term` library runs
under a pseudo-terminal (`script`), which is where the port 0xE9 output
appears too.  Its built-in debugger stops before the first instruction, so
a command file continues; the ROM ends the run through Bochs's shutdown
port (0x8900), whose panic is made fatal."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

LINKER_SCRIPT = """SECTIONS {
  . = 0xF0000;
  .text : { *(.text) *(.rodata*) }
  . = 0xFFFF0;
  .reset : { *(.reset) . = 0x10; }
  /DISCARD/ : { *(.note*) *(.comment) *(.eh_frame) }
}
"""

BOCHSRC = """megs: 16
romimage: file={rom}
display_library: term
port_e9_hack: enabled=1
log: {log}
panic: action=fatal
error: action=report
clock: sync=none
plugin_ctrl: speaker=0, sb16=0, es1370=0, unmapped=1
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
"""


def bochs_missing() -> str:
    """Why Bochs cannot run here ('' when it can)."""
    for tool in ("bochs-bin", "script"):
        if not shutil.which(tool):
            return f"{tool} not installed (apt-get install bochs bochsbios)"
    return ""


def assembler_missing() -> str:
    for tool in ("gcc", "ld", "objcopy"):
        if not shutil.which(tool):
            return f"{tool} not installed"
    return ""


def build_rom(source: str, out_dir: str) -> str:
    """Assemble tests/SOURCE (32-bit, linked at 0xF0000) into a 64 KiB ROM."""
    obj, elf, rom = (os.path.join(out_dir, "rom" + ext) for ext in (".o", ".elf", ".bin"))
    script = os.path.join(out_dir, "rom.ld")
    with open(script, "w") as f:
        f.write(LINKER_SCRIPT)
    subprocess.run(["gcc", "-m32", "-c", "-o", obj, os.path.join(HERE, source)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-T", script, "-o", elf, obj], check=True)
    subprocess.run(["objcopy", "-O", "binary", elf, rom], check=True)
    assert os.path.getsize(rom) == 0x10000, "the ROM must be 64 KiB ending at the reset vector"
    return rom


def between_markers(text: str) -> list:
    """The lines from after BEGIN to before END (carriage returns dropped)."""
    lines = [ln.rstrip() for ln in text.replace("\r", "").split("\n")]
    try:
        start = lines.index("BEGIN") + 1
    except ValueError:
        return []
    end = lines.index("END", start) if "END" in lines[start:] else len(lines)
    return lines[start:end]


def run_bochs(rom: str, work_dir: str, timeout: float = 120) -> list:
    rc_file = os.path.join(work_dir, "bochsrc")
    cmds = os.path.join(work_dir, "bochs.cmds")
    with open(rc_file, "w") as f:
        f.write(BOCHSRC.format(rom=rom, log=os.path.join(work_dir, "bochs.log")))
    with open(cmds, "w") as f:
        f.write("c\nquit\n")                       # the debugger: run, then leave
    # the term display needs a terminal with a size
    cmd = f"stty rows 25 cols 80; exec bochs-bin -q -f {rc_file} -rc {cmds}"
    env = dict(os.environ, TERM="xterm")
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, env=env, cwd=work_dir)
    text = p.stdout.decode("latin-1")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)      # terminal control sequences
    return between_markers(text)


def run_pvemu(rom: str, env=None, cwd=None, timeout: float = 120) -> list:
    p = subprocess.run([sys.executable, "-m", "emu", "run", "--bios", rom, "--max-instructions",
                        "10000000"], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, env=env, cwd=cwd)
    return between_markers(p.stdout.decode("latin-1"))
