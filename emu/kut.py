"""kvm-unit-tests on pvemu: run the prebuilt x86 kernels of the suite
(`../shared/kvm-unit-tests`, see its README) the way its `unittests.cfg`
says, and compare with QEMU 7.2 TCG's recorded results.

`python -m emu.kut` (or `pvemu kut`) prints the table pvemu vs QEMU.

A kernel passes as under QEMU: `pvemu run --qemu-exit-status` ends with
status 1 (the guest wrote 0 to isa-debug-exit) and no `SUMMARY:` line
counts a failure.  Status 77 is the suite's "every test skipped"."""
from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import subprocess
import tempfile
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

from emu.system import parse_size

ENV_DIR = "PVEMU_KUT_DIR"
DEFAULT_BUDGET = 1_500_000_000     # instructions per kernel (QEMU had 90 s)
DEFAULT_TIMEOUT = 240              # wall-clock seconds per kernel
QEMU_DEFAULT_MEMORY = "128M"       # QEMU's default -m
MAX_MEMORY = 3 << 30               # pvemu's RAM is one range from 0: it must end below the devices

#: pvemu's status for each way a run ends (pvemu/run.py), by name.
STATUS_NAMES = {1: "pass", 77: "skip", 124: "timeout", 125: "guest fault", 126: "halted",
                2: "refused", 3: "fail"}


def find_suite(start: Optional[str] = None) -> Optional[str]:
    """The suite's folder: $PVEMU_KUT_DIR, else `shared/kvm-unit-tests`
    beside the repository root or one of its parents (a git worktree sits
    one level deeper than the main checkout); None when absent."""
    env = os.environ.get(ENV_DIR)
    if env:
        return env if os.path.isdir(env) else None
    d = os.path.abspath(start or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    while True:
        parent = os.path.dirname(d)
        candidate = os.path.join(parent, "shared", "kvm-unit-tests")
        if os.path.isfile(os.path.join(candidate, "unittests.cfg")):
            return candidate
        if parent == d:
            return None
        d = parent


def parse_cfg(path: str) -> dict:
    """unittests.cfg -> {section: {key: value}} (values unquoted)."""
    sections, cur = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.fullmatch(r"\[(.+)\]", line)
            if m:
                cur = sections.setdefault(m.group(1), {})
            elif cur is not None and "=" in line:
                k, _, v = line.partition("=")
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                    v = v[1:-1]
                cur[k.strip()] = v
    return sections


@dataclass
class Case:
    """One kernel run: the file, its unittests.cfg section and how QEMU did."""
    arch: str
    file: str
    section: str
    smp: int = 1
    append: str = ""
    cpu: str = "qemu64"
    memory: str = QEMU_DEFAULT_MEMORY
    other: list = field(default_factory=list)   # QEMU options pvemu has no use for
    qemu_result: str = ""
    qemu_summary: str = ""

    @property
    def name(self) -> str:
        return f"{self.arch}/{self.file}"

    def path(self, suite: str) -> str:
        return os.path.join(suite, self.arch, self.file + ".flat")

    def argv(self, suite: str, budget: int = DEFAULT_BUDGET) -> list:
        """The `pvemu run` command line (after `pvemu`)."""
        args = ["run", self.path(suite), "--qemu-exit-status", "--memory", self.memory,
                "--cpu", self.cpu, "--smp", str(self.smp), "--max-instructions", str(budget),
                "--device", "pc-testdev"]
        if self.append:
            args += ["--append", self.append]
        return args


def _apply_qemu_params(case: Case, params: str) -> None:
    """-cpu and -m from a section's qemu_params; `-cpu host` is `max`, as
    in QEMU TCG; the rest is kept in case.other."""
    words = shlex.split(params)
    k = 0
    while k < len(words):
        w = words[k]
        if w in ("-cpu", "-m", "-append") and k + 1 < len(words):
            v = words[k + 1]
            if w == "-cpu":
                case.cpu = "max" + v[4:] if v.split(",")[0] == "host" else v
            elif w == "-m":
                case.memory = v if v[-1:].isalpha() else v + "M"    # QEMU: plain numbers are MiB
                if parse_size(case.memory) > MAX_MEMORY:             # no PCI hole: RAM stays below the devices
                    case.other.append(f"-m {v} (pvemu: {MAX_MEMORY >> 20}M)")
                    case.memory = f"{MAX_MEMORY >> 20}M"
            else:
                case.append = v
            k += 2
        else:
            case.other.append(w)
            k += 1


def load_cases(suite: str) -> list:
    """The suite's kernels as qemu-tcg-results.tsv lists them (one section
    each), with the run parameters from unittests.cfg."""
    cfg = parse_cfg(os.path.join(suite, "unittests.cfg"))
    cases = []
    with open(os.path.join(suite, "qemu-tcg-results.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            case = Case(arch=row["arch"], file=row["file"], section=row["section"],
                        qemu_result=row["qemu_result"], qemu_summary=row["summary"])
            sec = cfg.get(row["section"], {})
            case.smp = int(sec.get("smp", "1"))
            case.append = sec.get("test_args", "")
            _apply_qemu_params(case, sec.get("qemu_params", "") + " " + sec.get("extra_params", ""))
            cases.append(case)
    return cases


@dataclass
class Result:
    case: Case
    status: int
    result: str          # pass, fail, skip, timeout, ...
    summary: str
    seconds: float
    output: str


def classify(status: int, output: str) -> tuple:
    """(result, summary line) of a run: pass needs status 1 and a SUMMARY
    (if any) with no failure."""
    summary = ""
    for line in output.splitlines():
        if line.startswith("SUMMARY:"):
            summary = line.strip()
    failed = "unexpected failure" in summary
    if "Traceback (most recent call last)" in output:
        return "crash", summary                # pvemu itself failed (status 1 too)
    if status == 1:
        return ("fail" if failed else "pass"), summary
    return STATUS_NAMES.get(status, f"status {status}"), summary


def run_case(case: Case, suite: str, budget: int = DEFAULT_BUDGET,
             timeout: float = DEFAULT_TIMEOUT) -> Result:
    """Run one kernel in a fresh `python -m emu` process."""
    cmd = [sys.executable, "-m", "emu"] + case.argv(suite, budget)
    t0 = time.monotonic()
    try:
        # from a neutral directory: a source checkout in the current one would
        # shadow the installed (built) package
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                           cwd=tempfile.gettempdir())
        status, out = p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        status = 124
        out = ((e.stdout or b"") + (e.stderr or b"")).decode("utf-8", "replace") + "\n(wall-clock timeout)"
    result, summary = classify(status, out)
    return Result(case, status, result, summary, time.monotonic() - t0, out)


def run_all(cases, suite: str, jobs: int = 1, budget: int = DEFAULT_BUDGET,
            timeout: float = DEFAULT_TIMEOUT, progress=None) -> list:
    def one(case):
        r = run_case(case, suite, budget, timeout)
        if progress:
            progress(r)
        return r
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, cases))


def format_table(results) -> str:
    """A Markdown table: kernel, section, QEMU's result, pvemu's."""
    rows = ["| kernel | section | QEMU 7.2 TCG | pvemu | pvemu SUMMARY |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        rows.append(f"| {r.case.name} | {r.case.section} | {r.case.qemu_result} | {r.result} | "
                    f"{r.summary.replace('SUMMARY: ', '')} |")
    both = sum(1 for r in results if r.result == "pass" and r.case.qemu_result == "pass")
    ours = sum(1 for r in results if r.result == "pass")
    qemu = sum(1 for r in results if r.case.qemu_result == "pass")
    rows.append("")
    rows.append(f"pvemu passes {ours} of {len(results)} (QEMU {qemu}; both {both}).")
    return "\n".join(rows)


def add_arguments(parser) -> None:
    parser.add_argument("names", nargs="*", metavar="KERNEL",
                        help="only these kernels (e.g. x86_64/sieve or sieve for both widths)")
    parser.add_argument("--suite", help=f"the suite's folder (default ${ENV_DIR} or ../shared/kvm-unit-tests)")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="kernels run at once (default 1)")
    parser.add_argument("--max-instructions", type=int, default=DEFAULT_BUDGET, metavar="N",
                        help=f"instruction budget per kernel (default {DEFAULT_BUDGET:,})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"wall-clock limit per kernel (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--verbose", "-v", action="store_true", help="print each kernel's output")


def select(cases, names):
    if not names:
        return cases
    return [c for c in cases if c.name in names or c.file in names]


def run(args) -> int:
    suite = args.suite or find_suite()
    if not suite or not os.path.isdir(suite):
        print(f"pvemu kut: no kvm-unit-tests folder (set ${ENV_DIR} or put it at ../shared/kvm-unit-tests)",
              file=sys.stderr)
        return 2
    cases = select(load_cases(suite), args.names)
    if not cases:
        print(f"pvemu kut: no kernel named {' '.join(args.names)}", file=sys.stderr)
        return 2

    def progress(r):
        print(f"{r.case.name:<28} qemu {r.case.qemu_result:<8} pvemu {r.result:<12} "
              f"{r.seconds:6.1f}s  {r.summary}", file=sys.stderr, flush=True)
        if args.verbose:
            print(r.output, file=sys.stderr)
    results = run_all(cases, suite, args.jobs, args.max_instructions, args.timeout, progress)
    print(format_table(results))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emu.kut", description=__doc__.strip().split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
