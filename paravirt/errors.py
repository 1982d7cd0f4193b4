"""Hypercall failures: a handler raises HypercallError(errno) and the guest
gets -errno in rAX.  The supervisor itself never fails because of a guest."""
from __future__ import annotations

from paravirt import abi


class HypercallError(Exception):
    """Refuse a hypercall with -errno (an abi.E* value); `why` is logged."""

    def __init__(self, errno: int, why: str = ""):
        super().__init__(why or f"errno {errno}")
        self.errno = errno
        self.why = why


def fault(why: str) -> HypercallError:
    return HypercallError(abi.EFAULT, why)


def inval(why: str) -> HypercallError:
    return HypercallError(abi.EINVAL, why)


class ConfigError(ValueError):
    """A bad domain description (TOML file or arguments), with a clear message."""
