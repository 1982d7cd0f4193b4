"""The reference workload images (emu/images/workload*.bin) and emu.bench.

(a) the shipped images compute the native checksum on Unicorn;
(b) ... and on emu.Machine;
(c) rebuilding them from guests/workload (when gcc is present) gives images
    that compute the same checksum;
(d) emu.bench's functions work in a tiny configuration.
"""
import argparse
import hashlib
import json
import struct

import pytest

from emu import bench
from pvemu import bench as bench_cli

META = bench.load_metadata()
MODES = (32, 64)
SMALL_ROUNDS = (0, 1, 3)

needs_unicorn = pytest.mark.skipif(bench.unicorn_available() is not None,
                                   reason=str(bench.unicorn_available()))


def _has_capstone():
    try:
        import capstone  # noqa: F401
    except ImportError:
        return False
    return True


# -- the shipped files -----------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_shipped_image_matches_metadata(mode):
    im = META["images"][str(mode)]
    data = (bench.IMAGES_DIR / im["file"]).read_bytes()
    assert len(data) == im["size"]
    assert hashlib.sha256(data).hexdigest() == im["sha256"]
    assert im["load_address"] == im["entry"] == META["load_address"]
    off = META["header_offset"]
    assert data[off:off + 4] == META["magic"].encode()
    assert struct.unpack_from("<I", data, META["rounds_offset"])[0] == META["default_rounds"]
    assert struct.unpack_from("<I", data, META["bits_offset"])[0] == mode
    assert data[im["hlt_address"] - im["load_address"]] == 0xF4      # HLT
    assert im["mem_end"] >= im["load_address"] + len(data)
    assert META["checksum"] == META["checksums"][str(META["default_rounds"])]


def test_load_workload_patches_rounds():
    wl = bench.load_workload(32)
    img = wl.image_for(7)
    assert len(img) == len(wl.image)
    assert struct.unpack_from("<I", img, wl.rounds_offset)[0] == 7
    assert wl.map_size % 4096 == 0
    assert wl.load_address + wl.map_size >= wl.mem_end
    with pytest.raises(ValueError):
        bench.load_workload(16)


# -- (a) Unicorn -----------------------------------------------------------

@needs_unicorn
@pytest.mark.parametrize("mode", MODES)
def test_unicorn_shipped_image_default_rounds(mode):
    """The image exactly as shipped (rounds slot untouched) -> META checksum."""
    from unicorn import UC_ARCH_X86, UC_MODE_32, UC_MODE_64, Uc
    from unicorn.x86_const import UC_X86_REG_EAX

    im = META["images"][str(mode)]
    data = (bench.IMAGES_DIR / im["file"]).read_bytes()
    uc = Uc(UC_ARCH_X86, UC_MODE_64 if mode == 64 else UC_MODE_32)
    size = (im["mem_end"] - im["load_address"] + 0xFFF) & ~0xFFF
    uc.mem_map(im["load_address"], size)
    uc.mem_write(im["load_address"], data)
    uc.emu_start(im["entry"], im["hlt_address"] + 1)
    assert uc.reg_read(UC_X86_REG_EAX) == META["checksum"]
    result = struct.unpack("<I", uc.mem_read(im["load_address"] + META["result_offset"], 4))
    assert result[0] == META["checksum"]


@needs_unicorn
@pytest.mark.parametrize("rounds", SMALL_ROUNDS)
@pytest.mark.parametrize("mode", MODES)
def test_unicorn_small_rounds(mode, rounds):
    wl = bench.load_workload(mode)
    r = bench.run_unicorn(wl, rounds)
    assert r.checksum == META["checksums"][str(rounds)]
    assert r.seconds > 0


# -- (b) emu.Machine -------------------------------------------------------
# These fail (rather than skip) while the core is missing: the core is the
# point of the project.

@pytest.mark.parametrize("rounds", SMALL_ROUNDS)
@pytest.mark.parametrize("mode", MODES)
def test_emu_small_rounds(mode, rounds):
    from emu import Machine  # noqa: F401  (fails until the core is built)
    wl = bench.load_workload(mode)
    r = bench.run_emu(wl, rounds)
    assert r.checksum == META["checksums"][str(rounds)]
    assert r.instructions > 0


@pytest.mark.parametrize("mode", MODES)
def test_emu_without_decode_cache(mode):
    from emu import Machine  # noqa: F401
    wl = bench.load_workload(mode)
    m = bench.prepare_emu(wl, 1, decode_cache=False)
    r = bench.run_emu(wl, 1, machine=m)
    assert r.checksum == META["checksums"]["1"]
    assert r.instructions == bench.run_emu(wl, 1).instructions


@pytest.mark.parametrize("mode", MODES)
def test_emu_default_rounds(mode):
    """The reference scale: ~148 M instructions.  Quick on a working core
    (~1-3 s); on a slow one this is the test to deselect."""
    from emu import Machine  # noqa: F401
    wl = bench.load_workload(mode)
    r = bench.run_emu(wl, META["default_rounds"])
    assert r.checksum == META["checksum"]
    assert 100_000_000 < r.instructions < 200_000_000


@needs_unicorn
@pytest.mark.skipif(not _has_capstone(), reason="capstone not installed")
@pytest.mark.parametrize("mode", MODES)
def test_emu_instruction_count_matches_unicorn(mode):
    """The bench charges Unicorn with emu's instruction count; check that the
    two count the same stream (up to the final HLT, which Unicorn's block
    count includes and emu may or may not)."""
    from emu import Machine  # noqa: F401
    wl = bench.load_workload(mode)
    emu_count = bench.run_emu(wl, 1).instructions
    uc_count = bench.count_instructions_unicorn(wl, 1)
    assert uc_count - 1 <= emu_count <= uc_count


# -- (c) rebuild from source -----------------------------------------------

@pytest.fixture(scope="module")
def rebuilt(guest_make, tmp_path_factory):
    return guest_make("workload", tmp_path_factory.mktemp("workload"))


def test_rebuild_native_checksums_unchanged(rebuilt):
    meta = json.loads((rebuilt / "workload.json").read_text())
    assert meta["checksums"] == META["checksums"]
    assert meta["checksum"] == META["checksum"]
    for key in ("load_address", "header_offset", "rounds_offset", "result_offset",
                "default_rounds"):
        assert meta[key] == META[key]


@pytest.mark.parametrize("mode", MODES)
def test_rebuilt_image_computes_checksum(rebuilt, mode):
    wl = bench.load_workload(mode, images_dir=rebuilt)
    if bench.unicorn_available() is None:
        runner = bench.run_unicorn
    elif bench.emu_available() is None:
        runner = bench.run_emu
    else:
        pytest.skip("neither unicorn nor the emu core is available")
    for rounds in (2, 10):
        assert runner(wl, rounds).checksum == META["checksums"][str(rounds)]


def test_rebuild_did_not_touch_shipped_files(rebuilt):
    for mode in MODES:
        im = META["images"][str(mode)]
        data = (bench.IMAGES_DIR / im["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == im["sha256"]


# -- (d) emu.bench in a tiny configuration ---------------------------------

@needs_unicorn
def test_benchmark_unicorn_tiny():
    report = bench.benchmark(modes=(32, 64), rounds=2, repeat=2, engines=("unicorn",))
    assert report["ok"], report
    assert report["expected_checksum"] == META["checksums"]["2"]
    rows = report["rows"]
    assert [(r["engine"], r["mode"]) for r in rows] == [("unicorn", "32"), ("unicorn", "64")]
    for r in rows:
        assert r["checksum_ok"] and r["error"] is None
        assert len(r["seconds"]) == 2 and r["median_seconds"] > 0
        if _has_capstone():     # counted on Unicorn when emu is not asked for
            assert r["instructions"] > 1_000_000 and r["mips"] > 0
            assert r["ratio_vs_unicorn"] == pytest.approx(1.0)
    text = bench.format_table(report)
    assert "unicorn" in text and "MIPS" in text and "result: OK" in text


def test_benchmark_emu_tiny():
    from emu import Machine  # noqa: F401
    engines = ("emu", "unicorn") if bench.unicorn_available() is None else ("emu",)
    report = bench.benchmark(modes=(32, 64), rounds=1, repeat=1, engines=engines)
    assert report["ok"], report
    emu_rows = [r for r in report["rows"] if r["engine"] == "emu"]
    assert len(emu_rows) == 2
    for r in emu_rows:
        assert r["checksum"] == META["checksums"]["1"]
        assert r["instructions"] > 0 and r["mips"] > 0
    for r in report["rows"]:
        if r["engine"] == "unicorn":
            emu_row = next(e for e in emu_rows if e["mode"] == r["mode"])
            assert r["instructions"] == emu_row["instructions"]
            assert r["instructions_source"] == "emu"
            assert emu_row["ratio_vs_unicorn"] > 0


def test_benchmark_native_tiny():
    why = bench.native_unavailable()
    if why:
        pytest.skip(why)
    report = bench.benchmark(modes=(64,), rounds=3, repeat=2, engines=("native",))
    assert report["ok"], report
    (row,) = report["rows"]
    assert row["engine"] == "native" and row["checksum"] == META["checksums"]["3"]
    assert len(row["seconds"]) == 2


def test_benchmark_unknown_rounds_compares_engines_only():
    report = bench.benchmark(modes=(32,), rounds=7, repeat=1, engines=())
    assert report["expected_checksum"] is None
    assert not report["ok"]                 # nothing ran
    assert any("no native checksum" in n for n in report["notes"])


def _parse(argv):
    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_arguments():
    args = _parse([])
    assert args.mode == "both" and not args.quick and not args.json
    args = _parse(["--quick", "--mode", "64", "--rounds", "4", "--repeat", "2", "--json"])
    assert (args.quick, args.mode, args.rounds, args.repeat, args.json) == \
        (True, "64", 4, 2, True)
    with pytest.raises(SystemExit):
        _parse(["--mode", "16"])


@needs_unicorn
def test_cli_run_json(capsys):
    rc = bench_cli.run(_parse(["--mode", "32", "--rounds", "1", "--repeat", "1",
                           "--engines", "unicorn", "--json"]))
    out, err = capsys.readouterr()
    assert rc == 0
    report = json.loads(out)
    assert report["ok"] and report["rounds"] == 1
    assert report["rows"][0]["checksum"] == META["checksums"]["1"]
    assert "bench:" in err                  # progress goes to stderr


@needs_unicorn
def test_cli_run_table(capsys):
    rc = bench_cli.run(_parse(["--mode", "64", "--rounds", "1", "--repeat", "1",
                           "--engines", "unicorn"]))
    out, _ = capsys.readouterr()
    assert rc == 0
    assert "engine" in out and "unicorn" in out and "result: OK" in out


def test_cli_bad_engine(capsys):
    rc = bench_cli.run(_parse(["--engines", "qemu", "--rounds", "1", "--repeat", "1"]))
    assert rc == 2
    assert "unknown engine" in capsys.readouterr().err
