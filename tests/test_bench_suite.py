"""The benchmark suite (guests/bench, images in emu/images/bench) and
emu.bench's suite runner.

Every shipped image -- each program at -O2, -O3 and -Os, i386 and x86-64 --
must compute the checksum the same C computes natively (recorded in
bench.json when the images were built; recomputed here with gcc when present)
on emu and on Unicorn; a rebuild gives the same files.
"""
import hashlib
import struct

import pytest

from emu import bench
from pvemu import bench as bench_cli

META = bench.load_suite_metadata()
PROGRAMS = list(META["programs"])
ALL = bench.load_suite(opts=bench.SUITE_OPTS)

needs_unicorn = pytest.mark.skipif(bench.unicorn_available() is not None,
                                   reason=str(bench.unicorn_available()))


def test_suite_has_the_programs_of_the_issue():
    assert len(PROGRAMS) >= 8
    assert {"interp", "sha256", "lz77", "hashtab", "qsort", "tree", "strings",
            "matrix"} <= set(PROGRAMS)
    assert len(ALL) == len(PROGRAMS) * len(bench.SUITE_OPTS) * 2


@pytest.mark.parametrize("wl", ALL, ids=lambda wl: wl.label.replace(" ", ""))
def test_shipped_image_matches_metadata(wl):
    im = META["programs"][wl.name]["images"]["%s-%d" % (wl.opt, wl.mode)]
    assert hashlib.sha256(wl.image).hexdigest() == im["sha256"]
    assert struct.unpack_from("<I", wl.image, META["bits_offset"])[0] == wl.mode
    assert struct.unpack_from("<I", wl.image, META["rounds_offset"])[0] == wl.default_rounds
    assert wl.image[wl.hlt_address - wl.load_address] == 0xF4


@pytest.mark.parametrize("wl", ALL, ids=lambda wl: wl.label.replace(" ", ""))
def test_image_computes_native_checksum_on_emu(wl):
    counts = []
    for rounds in (0, 2):
        r = bench.run_emu(wl, rounds)
        assert r.checksum == wl.expected(rounds), (wl.label, rounds)
        counts.append(r.instructions)
    assert counts[1] > counts[0] + 10000          # the rounds did run


@needs_unicorn
@pytest.mark.parametrize("wl", [wl for wl in ALL if wl.opt == "O2"],
                         ids=lambda wl: wl.label.replace(" ", ""))
def test_image_computes_native_checksum_on_unicorn(wl):
    assert bench.run_unicorn(wl, 1).checksum == wl.expected(1)


def test_unknown_program_or_level_is_an_error():
    with pytest.raises(ValueError, match="unknown benchmark programs"):
        bench.load_suite(["nosuch"])
    with pytest.raises(ValueError, match="no O9-32 image"):
        bench.load_suite(["tree"], opts=("O9",))


@pytest.fixture(scope="module")
def rebuilt(guest_make, tmp_path_factory):
    return guest_make("bench", tmp_path_factory.mktemp("bench"))


def test_rebuild_is_identical(rebuilt):
    """Same images byte for byte, same native checksums (from a fresh native build)."""
    assert bench.load_suite_metadata(rebuilt)["programs"] == META["programs"]
    for wl in ALL:
        name = "%s-%s-%d.bin" % (wl.name, wl.opt, wl.mode)
        assert (rebuilt / name).read_bytes() == (bench.SUITE_DIR / name).read_bytes(), name


def test_suite_report_with_native_row():
    wl = bench.load_suite(["tree"], modes=(64,))[0]
    if bench.native_unavailable(wl):
        pytest.skip(bench.native_unavailable(wl))
    engines = ("emu", "native") + (("unicorn",) if bench.unicorn_available() is None else ())
    report = bench.suite(["tree"], modes=(64,), repeat=1, engines=engines, quick=True)
    assert report["ok"], report
    rows = {r["engine"]: r for r in report["rows"]}
    assert rows["native"]["checksum"] == rows["emu"]["checksum"] == wl.expected(wl.quick_rounds)
    assert rows["emu"]["slowdown_vs_native"] > 1
    g = report["geomeans"]["64"]
    assert g["mips"] == pytest.approx(rows["emu"]["mips"])
    if "unicorn" in rows:
        assert g["ratio_vs_unicorn"] == pytest.approx(rows["emu"]["ratio_vs_unicorn"])
    text = bench.format_suite(report)
    assert "geometric mean 64-bit" in text and "result: OK" in text


def test_wrong_checksum_fails_the_report(monkeypatch):
    wl = bench.load_suite(["matrix"], modes=(32,))[0]
    monkeypatch.setitem(wl.checksums, wl.quick_rounds, 0)
    monkeypatch.setattr(bench, "load_suite", lambda *a, **k: [wl])
    report = bench.suite(["matrix"], modes=(32,), repeat=1, engines=("emu",), quick=True)
    assert not report["ok"]
    assert "wrong checksum" in report["rows"][0]["error"]


def test_busy_note():
    idle = {"load1": 0.1, "others_running": 0, "cpus": 2}
    assert bench_cli.busy_note(idle, idle) is None
    busy = dict(idle, load1=1.5)
    assert "not idle" in bench_cli.busy_note(busy, idle)
    assert "not idle" in bench_cli.busy_note(idle, dict(idle, others_running=1))
