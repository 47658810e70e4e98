"""The limiter contract every backend honours (one contract test suite runs against each).

* ``check(key, rate, burst, cost)`` is one atomic token-bucket check with the rules of
  :mod:`.buckets`; buckets of different keys are independent.
* ``acquire``/``renew``/``release`` manage concurrency leases of ``lease_ttl`` seconds per key;
  ``release`` of an unknown lease is a no-op, so it is safe to call twice.
* Every stored key expires once it carries no information (a full bucket, no live lease).
* A backend that cannot reach its store raises :class:`LimiterUnavailable` — never blocks longer
  than its own timeout — and reports ``degraded`` until a call succeeds again. What to do about an
  unavailable limiter (let the request through or refuse it) is the caller's policy, not ours.
"""

from __future__ import annotations

import abc

from .buckets import Decision

DEFAULT_LEASE_TTL = 60.0


class LimiterUnavailable(Exception):
    """The shared limiter store cannot be reached right now."""


class Limiter(abc.ABC):
    name: str = "abstract"

    def __init__(self, *, lease_ttl: float = DEFAULT_LEASE_TTL) -> None:
        if lease_ttl <= 0:
            raise ValueError("lease_ttl must be positive")
        self.lease_ttl = lease_ttl

    @property
    def degraded(self) -> bool:
        """True while the backing store is unreachable (for health reports)."""
        return False

    @abc.abstractmethod
    async def check(self, key: str, rate: float, burst: float, cost: float = 1.0) -> Decision: ...

    @abc.abstractmethod
    async def acquire(self, key: str, limit: int, lease_id: str) -> bool:
        """Take a slot of ``key`` (at most ``limit`` live leases); True when granted."""

    @abc.abstractmethod
    async def renew(self, key: str, lease_id: str) -> None:
        """Push a held lease's expiry to now + ``lease_ttl``."""

    @abc.abstractmethod
    async def release(self, key: str, lease_id: str) -> None: ...

    async def ping(self) -> None:
        """Raise LimiterUnavailable when the store cannot be reached."""
        return None

    async def aclose(self) -> None:
        """Release connections; the limiter is unusable afterwards."""
        return None
