"""In-process limiter for one-process mode (``serve``): the pure bucket math over two dicts.

Bounded twice over: every entry expires once it carries no information (see
:func:`.buckets.idle_ttl`) and is swept periodically; and past ``max_keys`` the least recently
used bucket is dropped, which only ever makes a limit more lenient for the client that
touched it longest ago — never blocks anyone wrongly.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import DEFAULT_LEASE_TTL, Limiter
from .buckets import (
    BucketState,
    Decision,
    acquire_slot,
    check_bucket,
    idle_ttl,
    live_leases,
    release_slot,
    renew_slot,
)

Clock = Callable[[], float]


class MemoryLimiter(Limiter):
    name = "memory"

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        max_keys: int = 100_000,
        sweep_interval: float = 10.0,
    ) -> None:
        super().__init__(lease_ttl=lease_ttl)
        self._clock = clock
        self._max_keys = max_keys
        self._sweep_interval = sweep_interval
        self._next_sweep = clock() + sweep_interval
        # key -> (state, expiry); insertion order doubles as least-recently-used order.
        self._buckets: dict[str, tuple[BucketState, float]] = {}
        self._slots: dict[str, dict[str, float]] = {}

    def __len__(self) -> int:
        """Stored entries (buckets and lease sets), for tests and diagnostics."""
        return len(self._buckets) + len(self._slots)

    def slots_in_use(self, key: str) -> int:
        """Live leases of ``key`` (tests and diagnostics)."""
        return len(live_leases(self._slots.get(key, {}), self._clock()))

    def _maybe_sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_interval
        for key in [k for k, (_, expiry) in self._buckets.items() if expiry <= now]:
            del self._buckets[key]
        for key in [k for k, leases in self._slots.items() if max(leases.values(), default=now) <= now]:
            del self._slots[key]

    async def check(self, key: str, rate: float, burst: float, cost: float = 1.0) -> Decision:
        now = self._clock()
        self._maybe_sweep(now)
        entry = self._buckets.pop(key, None)
        state = entry[0] if entry is not None and entry[1] > now else None
        decision, new_state = check_bucket(state, now, rate, burst, cost)
        self._buckets[key] = (new_state, now + idle_ttl(rate, burst))
        while len(self._buckets) > self._max_keys:
            del self._buckets[next(iter(self._buckets))]
        return decision

    def _store_leases(self, key: str, leases: dict[str, float]) -> None:
        if leases:
            self._slots[key] = leases
        else:
            self._slots.pop(key, None)

    async def acquire(self, key: str, limit: int, lease_id: str) -> bool:
        now = self._clock()
        self._maybe_sweep(now)
        granted, leases = acquire_slot(self._slots.get(key, {}), now, limit, lease_id, self.lease_ttl)
        self._store_leases(key, leases)
        return granted

    async def renew(self, key: str, lease_id: str) -> None:
        now = self._clock()
        self._store_leases(key, renew_slot(self._slots.get(key, {}), now, lease_id, self.lease_ttl))

    async def release(self, key: str, lease_id: str) -> None:
        now = self._clock()
        self._store_leases(key, release_slot(self._slots.get(key, {}), now, lease_id))
