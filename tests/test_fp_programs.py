"""The gcc-built floating-point and SIMD programs (guests/fp, emu.fpbench).

Every shipped image -- double matrix product and elimination, n-body, packed
single SAXPY and transforms, the SSE4.2 string library and CRC-32C; x86-64
-msse4.2, i386 -msse4.2 -mfpmath=sse and i386 -mfpmath=387 -- must compute
on emu exactly what the same C computes natively with the same flags: its
checksum (the bit patterns of every floating-point result folded in) and the
raw bits of the results it records, compared as hex strings.  The native
reference is twofold: the values recorded in fp.json when the images were
built, and the same C rebuilt here with the host's gcc (the i386 builds need
a 32-bit C library: gcc-multilib) and run on this CPU.  Unicorn is a second
engine on the same images.
"""
import hashlib
import struct

import pytest

from emu import bench, fpbench

META = fpbench.load_fp_metadata()
ALL = fpbench.load_fp()


def _id(wl):
    return "%s-%s" % (wl.name, wl.opt)


needs_unicorn = pytest.mark.skipif(bench.unicorn_available() is not None,
                                   reason=str(bench.unicorn_available()))


def test_programs_and_variants_of_the_issue():
    assert {"matmul", "nbody", "saxpy", "sse42str", "crc32c"} <= set(META["programs"])
    flags = {v: d["flags"].split() for v, d in META["variants"].items()}
    assert "-msse4.2" in flags["sse4.2-64"] and "-m64" in flags["sse4.2-64"]
    assert "-mfpmath=387" in flags["387-32"] and "-m32" in flags["387-32"]
    assert "-mfpmath=sse" in flags["sse4.2-32"] and "-m32" in flags["sse4.2-32"]
    # The double programs run in all three variants, the SSE4.2 ones in both widths.
    images = {(wl.name, wl.opt) for wl in ALL}
    for prog in ("matmul", "nbody", "saxpy"):
        assert {(prog, v) for v in flags} <= images
    for prog in ("sse42str", "crc32c"):
        assert {(prog, "sse4.2-64"), (prog, "sse4.2-32")} <= images


@pytest.mark.parametrize("wl", ALL, ids=_id)
def test_shipped_image_matches_metadata(wl):
    im = META["programs"][wl.name]["images"][wl.opt]
    assert hashlib.sha256(wl.image).hexdigest() == im["sha256"]
    assert struct.unpack_from("<I", wl.image, META["bits_offset"])[0] == wl.mode
    assert struct.unpack_from("<I", wl.image, META["rounds_offset"])[0] == wl.default_rounds
    assert wl.image[wl.hlt_address - wl.load_address] == 0xF4


@pytest.mark.parametrize("wl", ALL, ids=_id)
def test_emu_computes_the_recorded_native_results(wl):
    for rounds, want in sorted(wl.outputs.items()):
        assert len(want) >= 3               # the checksum and at least two results
        assert fpbench.emu_outputs(wl, rounds) == want, (wl.label, rounds)
    assert fpbench.emu_outputs(wl, 0)[0] == "0x%08x" % wl.expected(0)


@pytest.fixture(scope="module")
def native_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fp-native")


@pytest.mark.parametrize("wl", ALL, ids=_id)
def test_emu_matches_the_same_c_built_natively_now(wl, native_dir):
    """The host CPU as the oracle: the shipped C, built now by the host's gcc
    with the image's flags, gives bit for bit what the image gives on emu."""
    why = bench.native_unavailable(wl)
    if why:
        pytest.skip(why)
    prog = bench.build_native(native_dir, wl=wl)
    rounds = wl.quick_rounds
    assert fpbench.emu_outputs(wl, rounds) == fpbench.native_outputs(prog, rounds), wl.label


@needs_unicorn
@pytest.mark.parametrize("wl", ALL, ids=_id)
def test_unicorn_computes_the_recorded_native_results(wl):
    assert fpbench.unicorn_outputs(wl, 1) == wl.outputs[1], wl.label


def test_unicorn_known_pcmpistri_bug():
    """sse42str's default 30 rounds: emu gives the native checksum, Unicorn
    does not (fpbench.UNICORN_KNOWN_WRONG says why; found with this program
    and checked instruction by instruction against the host CPU).  Should
    Unicorn be fixed, this fails and the entry goes."""
    wl = fpbench.load_fp(["sse42str"], ["sse4.2-64"])[0]
    rounds = wl.default_rounds
    assert bench.run_emu(wl, rounds).checksum == wl.expected(rounds)
    if bench.unicorn_available() is None:
        assert bench.run_unicorn(wl, rounds).checksum != wl.expected(rounds)
        assert "sse42str" in fpbench.UNICORN_KNOWN_WRONG


def test_crc32c_check_value():
    """CRC-32C of "123456789" is 0xE3069283 (the catalogued check value): an
    oracle independent of the host, for both widths."""
    for wl in fpbench.load_fp(["crc32c"]):
        assert fpbench.emu_outputs(wl, 1)[2] == "0x00000000e3069283", wl.label


def test_unknown_program_or_variant_is_an_error():
    with pytest.raises(ValueError, match="unknown floating-point programs"):
        fpbench.load_fp(["nosuch"])
    with pytest.raises(ValueError, match="unknown floating-point variants"):
        fpbench.load_fp(variants=["sse9"])


def test_rebuild_is_identical(guest_make, tmp_path_factory):
    """Same images byte for byte and the same native results, rebuilt."""
    if not fpbench.host_links_m32():
        pytest.skip("gcc -m32 cannot link a C program (Debian: gcc-multilib)")
    rebuilt = guest_make("fp", tmp_path_factory.mktemp("fp"))
    assert fpbench.load_fp_metadata(rebuilt)["programs"] == META["programs"]
    for wl in ALL:
        name = "%s-%s.bin" % (wl.name, wl.opt)
        assert (rebuilt / name).read_bytes() == (fpbench.FP_DIR / name).read_bytes(), name


def test_fp_report():
    engines = ("emu", "native") + (("unicorn",) if bench.unicorn_available() is None else ())
    report = fpbench.fp_suite(["nbody"], ["sse4.2-64"], repeat=1, engines=engines, quick=True)
    assert report["ok"], report
    rows = {r["engine"]: r for r in report["rows"]}
    wl = fpbench.load_fp(["nbody"], ["sse4.2-64"])[0]
    assert rows["emu"]["checksum"] == wl.expected(wl.quick_rounds)
    if "native" in rows:
        assert rows["native"]["checksum"] == rows["emu"]["checksum"]
    assert report["by_kind"]["scalar double"]["mips"] == pytest.approx(rows["emu"]["mips"])
    text = fpbench.format_fp(report)
    assert "geometric mean scalar double" in text and "result: OK" in text


def test_wrong_checksum_fails_the_report(monkeypatch):
    wl = fpbench.load_fp(["saxpy"], ["387-32"])[0]
    monkeypatch.setitem(wl.checksums, wl.quick_rounds, 0)
    monkeypatch.setattr(fpbench, "load_fp", lambda *a, **k: [wl])
    report = fpbench.fp_suite(["saxpy"], ["387-32"], repeat=1, engines=("emu",), quick=True)
    assert not report["ok"]
    assert "wrong checksum" in report["rows"][0]["error"]
