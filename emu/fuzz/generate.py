"""Deterministic case generation from a seed, without hypothesis' test runner.

A fuzzing campaign needs the *same* cases for the same seed, whatever the
number of workers or machines, and it needs them fast (thousands a second).
Hypothesis' own engine gives neither: ``strategy.example()`` is random, a
``ConjectureData`` driven by a seeded ``random.Random`` is deterministic only
within one process (its provider mixes in integer constants collected from the
*local modules currently imported*, so a test process and a CLI process draw
different values) and costs 5-10 ms a case for :func:`emu.fuzz.strategies.cases`.

So this module *interprets* the strategies itself.  The strategies of
:mod:`emu.fuzz.strategies` are compositions of a handful of hypothesis building
blocks -- ``integers``, ``sampled_from``/``just``, ``one_of``, ``lists``,
``tuples``, ``binary``, ``permutations``, ``builds``, ``.map``/``.filter`` and
``@composite`` functions that call ``draw``.  :class:`SeededDraw` is a
``draw`` callable that walks those objects and makes every choice with a
``random.Random``; composite functions are called with it as their ``draw``.
The family code of the strategies module therefore runs unchanged, only the
source of choices differs.  Choices follow the building blocks' meaning (a
uniform integer in [lo, hi] -- with a small bias to the ends of the range,
like hypothesis --, one element of ``sampled_from``, one branch of
``one_of``, ...); the distribution is not byte-for-byte hypothesis'.

A strategy object of a kind it does not know (a future strategies.py might
use another building block) is drawn by hypothesis itself: a
``ConjectureData`` seeded from the same ``random.Random`` with a provider that
ignores the local-module constants, inside a ``BuildContext``
(:func:`hypothesis_draw`) -- deterministic too, only slower.  ``fallbacks``
counts such draws.

``assume(False)`` inside a strategy (the generator gave up on a sequence)
raises ``UnsatisfiedAssumption``; :func:`draw_case` then draws again from the
same random stream, so the outcome is still a function of the seed.

Speed: the strategies build their hypothesis objects while they draw
(``st.integers(0, 99)`` for every coin flip, eight alternatives for every
register value, an ``@st.composite`` function per case), which costs more than
the drawing itself.  :func:`strategies_module` therefore loads a *private
copy* of :mod:`emu.fuzz.strategies` (same source file, its own module object)
whose ``st`` memoizes the constructors of hashable arguments and whose pure
strategy-building helpers (``reg_value``, ``imm_value``, ``instruction_groups``,
...) are memoized too.  Strategies are immutable values, so this changes no
draw: the copy yields exactly the cases the public module yields for the same
random stream (a test checks it); the public module is left untouched.

Case identity: :func:`case_rng` derives the ``random.Random`` of case number
``index`` of a campaign from ``(seed, index)`` alone (SHA-512 of a string, as
``random.seed`` does for strings: no dependence on PYTHONHASHSEED, the process
or the machine).
"""
from __future__ import annotations

import random
import warnings

try:
    from hypothesis.errors import UnsatisfiedAssumption
except ImportError:  # pragma: no cover - hypothesis is a dependency of the strategies
    UnsatisfiedAssumption = None

__all__ = ["SeededDraw", "case_rng", "draw_case", "hypothesis_draw", "GenerationError",
           "strategies_module"]

#: Probability that an integer draw takes one end of its range (or 0 / +-1
#: around it) instead of a uniform value -- hypothesis biases the same way.
EDGE_PROBABILITY = 1 / 16
#: Most draws of a filtered strategy before giving up.
MAX_FILTER_TRIES = 100
#: Most attempts at one case (each rejected by ``assume``) before giving up.
MAX_ATTEMPTS = 50


class GenerationError(RuntimeError):
    """The strategy kept rejecting its own draws (``assume``) for one case."""


def case_rng(seed: int, index: int, salt: str = "") -> random.Random:
    """The random stream of case `index` of a campaign with seed `seed`."""
    return random.Random(f"pvemu-fuzz/{int(seed)}/{int(index)}/{salt}")


def _unsatisfied():
    if UnsatisfiedAssumption is not None:
        return UnsatisfiedAssumption()
    return GenerationError("unsatisfiable draw")


class SeededDraw:
    """A ``draw`` function for hypothesis strategy objects, making its choices
    with `rng` (a ``random.Random``).  Call it like hypothesis' ``draw``:
    ``SeededDraw(rng)(strategy)``."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.fallbacks = 0

    # -- the draw function ------------------------------------------------

    def __call__(self, strategy):
        handler = _HANDLERS.get(type(strategy))
        if handler is None:
            handler = _handler_for(type(strategy))
        return handler(self, strategy)

    # -- building blocks ----------------------------------------------------

    def integer(self, lo, hi):
        rng = self.rng
        if lo is None or hi is None:
            # unbounded: a signed 64-bit-ish value within the given side
            if lo is None and hi is None:
                lo, hi = -(1 << 63), (1 << 63) - 1
            elif lo is None:
                lo = hi - (1 << 64)
            else:
                hi = lo + (1 << 64)
        if hi <= lo:
            return lo
        if rng.random() < EDGE_PROBABILITY:
            v = rng.choice((lo, hi, lo + 1, hi - 1, 0, 1, -1))
            if lo <= v <= hi:
                return v
        return rng.randint(lo, hi)

    def _size(self, lo, hi, average=None):
        if hi is None:
            hi = lo + 2 * int(average or 8)
        return self.integer(lo, hi) if lo < hi else lo

    def _transform(self, value, transformations, redraw):
        # (kind, function) pairs; newer hypothesis adds a third field
        for t in transformations:
            kind, fn = t[0], t[1]
            if kind == "map":
                value = fn(value)
            elif kind == "filter":
                tries = 0
                while not fn(value):
                    tries += 1
                    if tries > MAX_FILTER_TRIES:
                        raise _unsatisfied()
                    value = redraw()
            else:  # pragma: no cover - a transformation kind of a future hypothesis
                raise TypeError(f"unknown strategy transformation {kind!r}")
        return value

    def _fallback(self, strategy):
        self.fallbacks += 1
        return hypothesis_draw(strategy, self.rng.getrandbits(64))


# ---------------------------------------------------------------------------
# Handlers by strategy class.  Looked up by class *name* (along the MRO) so
# that this module does not import hypothesis internals; a class whose
# attributes are not what the handler expects falls back to hypothesis.


def _h_lazy(d, s):
    t = getattr(s, "_transformations", ())
    fn = getattr(s, "function", None)
    if fn is not None and getattr(fn, "__name__", "") == "integers" and \
            getattr(fn, "__module__", "").startswith("hypothesis."):
        # st.integers(lo, hi)[.map(f)...]: read the bounds without building
        # (and validating) the wrapped strategy -- the hot path of reg_value()
        args = s._LazyStrategy__args
        kw = s._LazyStrategy__kwargs
        lo = args[0] if len(args) > 0 else kw.get("min_value")
        hi = args[1] if len(args) > 1 else kw.get("max_value")
        if (lo is None or isinstance(lo, int)) and (hi is None or isinstance(hi, int)):
            if not t:
                return d.integer(lo, hi)
            return d._transform(d.integer(lo, hi), t, lambda: d.integer(lo, hi))
    return d(s.wrapped_strategy)      # transformations included


def _h_integers(d, s):
    return d.integer(s.start, s.end)


def _h_sampled(d, s):
    elements = s.elements
    t = s._transformations
    if not t:
        return elements[d.rng.randrange(len(elements))] if len(elements) > 1 else elements[0]
    pick = lambda: elements[d.rng.randrange(len(elements))]  # noqa: E731
    return d._transform(pick(), t, pick)


def _h_one_of(d, s):
    branches = s.original_strategies
    return d(branches[d.rng.randrange(len(branches))])


def _h_mapped(d, s):
    return s.pack(d(s.mapped_strategy))


def _h_filtered(d, s):
    inner = s.filtered_strategy
    conditions = s.flat_conditions
    for _ in range(MAX_FILTER_TRIES):
        v = d(inner)
        if all(c(v) for c in conditions):
            return v
    raise _unsatisfied()


def _h_list(d, s):
    n = d._size(s.min_size, s.max_size, getattr(s, "average_size", None))
    e = s.element_strategy
    return [d(e) for _ in range(n)]


def _h_tuple(d, s):
    return tuple(d(e) for e in s.element_strategies)


def _h_bytes(d, s):
    n = d._size(s.min_size, s.max_size)
    return d.rng.randbytes(n)


def _h_permutation(d, s):
    out = list(s.values)
    d.rng.shuffle(out)
    return out


def _h_builds(d, s):
    args = [d(a) for a in s.args]
    kwargs = {k: d(v) for k, v in s.kwargs.items()}
    return s.target(*args, **kwargs)


def _h_composite(d, s):
    return s.definition(d, *s.args, **s.kwargs)


def _h_fallback(d, s):
    return d._fallback(s)


_BY_NAME = {
    "LazyStrategy": (_h_lazy, ("function", "_transformations")),
    "IntegersStrategy": (_h_integers, ("start", "end")),
    "SampledFromStrategy": (_h_sampled, ("elements", "_transformations")),   # also JustStrategy
    "OneOfStrategy": (_h_one_of, ("original_strategies",)),
    "MappedStrategy": (_h_mapped, ("mapped_strategy", "pack")),
    "FilteredStrategy": (_h_filtered, ("filtered_strategy", "flat_conditions")),
    "ListStrategy": (_h_list, ("element_strategy", "min_size", "max_size")),
    "TupleStrategy": (_h_tuple, ("element_strategies",)),
    "BytesStrategy": (_h_bytes, ("min_size", "max_size")),
    "PermutationStrategy": (_h_permutation, ("values",)),
    "BuildsStrategy": (_h_builds, ("target", "args", "kwargs")),
    "CompositeStrategy": (_h_composite, ("definition", "args", "kwargs")),
}
#: Subclasses with extra semantics that the base handler would get wrong.
_NOT_INHERITED = frozenset(("UniqueListStrategy", "UniqueSampledListStrategy",
                            "FixedKeysDictStrategy", "FixedAndOptionalKeysDictStrategy"))

_HANDLERS: dict = {}


def _handler_for(cls):
    handler = _h_fallback
    if cls.__name__ not in _NOT_INHERITED:
        for base in cls.__mro__:
            entry = _BY_NAME.get(base.__name__)
            if entry is not None:
                fn, attrs = entry

                def checked(d, s, fn=fn, attrs=attrs):
                    # the first object of the class decides whether its layout
                    # is the one this module knows
                    ok = all(hasattr(s, a) for a in attrs)
                    _HANDLERS[cls] = fn if ok else _h_fallback
                    return (fn if ok else _h_fallback)(d, s)
                handler = checked
                break
    _HANDLERS[cls] = handler
    return handler


# ---------------------------------------------------------------------------
# The hypothesis fallback


def _provider_class():
    """A HypothesisProvider that draws no constants from local modules (they
    depend on what the process happens to have imported)."""
    from hypothesis.internal.conjecture.providers import HypothesisProvider

    class _DeterministicProvider(HypothesisProvider):
        def _maybe_draw_constant(self, *args, **kwargs):
            return None
    return _DeterministicProvider


def hypothesis_draw(strategy, seed: int):
    """Draw one value of `strategy` with hypothesis' own machinery,
    deterministically from `seed` (slow: use for odd strategies only)."""
    from hypothesis.control import BuildContext
    from hypothesis.errors import StopTest
    from hypothesis.internal.conjecture.data import ConjectureData

    rng = random.Random(seed)
    try:
        data = ConjectureData(random=rng, provider=_provider_class())
    except TypeError:  # pragma: no cover - older hypothesis: buffer-driven data
        data = ConjectureData.for_buffer(rng.randbytes(8192))
    try:
        ctx = BuildContext(data, is_final=False, wrapped_test=None)
    except TypeError:  # pragma: no cover - older hypothesis
        ctx = BuildContext(data, is_final=False)
    try:
        with ctx:
            return data.draw(strategy)
    except StopTest:
        raise _unsatisfied() from None


# ---------------------------------------------------------------------------
# Cases


def draw_case(strategy, rng: random.Random, max_attempts: int = MAX_ATTEMPTS):
    """One value of `strategy` drawn with `rng`; strategies that reject their
    own draw (``assume``) are drawn again from the continuing stream.  Returns
    (value, attempts, fallbacks)."""
    d = SeededDraw(rng)
    with warnings.catch_warnings():
        # assume() outside a hypothesis test emits a deprecation note
        warnings.simplefilter("ignore")
        for attempt in range(1, max_attempts + 1):
            try:
                return d(strategy), attempt, d.fallbacks
            except Exception as e:
                if UnsatisfiedAssumption is None or not isinstance(e, UnsatisfiedAssumption):
                    raise
    raise GenerationError(f"no case after {max_attempts} attempts (the strategy kept "
                          "rejecting its draws)")


# ---------------------------------------------------------------------------
# A memoizing private copy of emu.fuzz.strategies

#: Pure helpers of the strategies module (strategy in, strategy out) that the
#: private copy memoizes; names missing from a future version are skipped.
MEMOIZED_HELPERS = ("imm_value", "reg_value", "eflags_value", "address_value",
                    "instruction_groups", "raw_code")
#: hypothesis.strategies constructors memoized in the private copy.
MEMOIZED_CONSTRUCTORS = ("integers", "sampled_from", "just", "one_of", "binary", "tuples",
                         "lists", "permutations", "booleans")

_NOKEY = object()


def _key(x):
    """A hashable key that tells apart values that compare equal but differ
    in type (1 / True / 1.0); _NOKEY for arguments that cannot be keyed."""
    t = type(x)
    if x is None or t in (int, bool, str, bytes, float):
        return (t, x)
    if t is tuple or t is frozenset:
        parts = tuple(_key(e) for e in (x if t is tuple else sorted(x, key=repr)))
        return _NOKEY if _NOKEY in parts else (t, parts)
    if hasattr(x, "do_draw") or hasattr(x, "wrapped_strategy"):   # a strategy object
        return ("strategy", id(x))
    return _NOKEY


def _memoize(fn):
    cache = {}

    def memoized(*args, **kwargs):
        key = _key(args + tuple(sorted(kwargs.items())))
        if key is _NOKEY:
            return fn(*args, **kwargs)
        hit = cache.get(key)
        if hit is None:
            # keep the arguments alive: strategy arguments are keyed by id()
            hit = cache[key] = (fn(*args, **kwargs), args, kwargs)
        return hit[0]
    memoized.__wrapped__ = fn
    memoized.__name__ = getattr(fn, "__name__", "memoized")
    return memoized


class _MemoStrategies:
    """Stands in for ``hypothesis.strategies`` in the private copy."""

    def __init__(self, st):
        self._st = st

    def __getattr__(self, name):
        value = getattr(self._st, name)
        if name in MEMOIZED_CONSTRUCTORS and callable(value):
            value = _memoize(value)
        setattr(self, name, value)
        return value


_PRIVATE = {}


def strategies_module(memoized: bool = True):
    """The strategies module to generate from: the memoizing private copy of
    :mod:`emu.fuzz.strategies` (see the module docstring), or the public
    module itself when `memoized` is false or the copy cannot be made."""
    from . import strategies as public
    if not memoized:
        return public
    mod = _PRIVATE.get("mod")
    if mod is not None:
        return mod
    import importlib.util
    import sys
    name = "emu.fuzz._strategies_memo"
    try:
        spec = importlib.util.spec_from_file_location(name, public.__file__)
        mod = importlib.util.module_from_spec(spec)
        mod.__package__ = public.__package__
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        finally:
            sys.modules.pop(name, None)
        if hasattr(mod, "st"):
            mod.st = _MemoStrategies(mod.st)
        for helper in MEMOIZED_HELPERS:
            fn = getattr(mod, helper, None)
            if callable(fn):
                setattr(mod, helper, _memoize(fn))
    except Exception:  # pragma: no cover - fall back to the (slower) public module
        mod = public
    _PRIVATE["mod"] = mod
    return mod
