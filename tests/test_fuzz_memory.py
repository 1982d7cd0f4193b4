"""A long campaign must run in bounded memory: the case generator's
memoized strategies stay memoized when the campaign names families (a list
argument once made every case build a new strategy, and the `lists` cache,
keyed by its id, grew by one entry a case: 3.7 GB in a 10^6-case run)."""
from emu.fuzz import campaign as C
from emu.fuzz import generate as G


def memo_cache_sizes():
    import gc
    out = {}
    for o in gc.get_objects():
        if type(o).__name__ == "function" and o.__closure__ and hasattr(o, "__wrapped__"):
            for cell in o.__closure__:
                try:
                    v = cell.cell_contents
                except ValueError:
                    continue
                if isinstance(v, dict):
                    out[o.__name__] = out.get(o.__name__, 0) + len(v)
    return out


def test_generating_cases_with_families_does_not_grow_the_caches():
    G.strategies_module()
    cfg = C.CampaignConfig(oracle="self", seed=3, families=("x87", "sse_fp", "simd_int"),
                           modes=(32, 64), batch_size=50)
    C.run_batch(cfg, 0)
    before = memo_cache_sizes()
    for b in range(1, 4):
        C.run_batch(cfg, b)
    after = memo_cache_sizes()
    grown = {k: (before.get(k, 0), n) for k, n in after.items() if n > before.get(k, 0)}
    assert not grown, grown
