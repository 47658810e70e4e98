"""The arithmetic of rate limiting, free of clocks and I/O: token buckets and concurrency leases.

Every backend (in-process and the Redis Lua scripts) implements exactly these rules, and the
contract tests drive both with the same injected clock, so this module is the specification:

* A token bucket holds at most ``burst`` tokens and refills at ``rate`` tokens per second. A
  bucket nobody has touched is full. A check of ``cost`` tokens succeeds when that many are there
  and removes them; otherwise nothing is removed and ``retry_after`` says how long until there
  will be enough. A clock that runs backwards (two replicas whose clocks disagree) refills nothing.
* A bucket left alone for :func:`idle_ttl` seconds is full again, i.e. indistinguishable from a
  missing one — so every stored bucket may carry that expiry and nothing grows without bound.
* A concurrency limiter is a set of leases, each with an expiry. Expired leases do not count (a
  replica that crashed mid-stream cannot leak its slots for longer than one lease TTL). Acquiring
  succeeds while fewer than ``limit`` live leases exist; holders renew while they work and release
  when done.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BucketState:
    tokens: float
    updated: float  # the clock reading at which ``tokens`` was exact


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: float  # tokens left after this check
    retry_after: float  # seconds until ``cost`` tokens will be there; 0.0 when allowed


def check_bucket(
    state: BucketState | None, now: float, rate: float, burst: float, cost: float = 1.0
) -> tuple[Decision, BucketState]:
    """One check against a token bucket: the decision and the state to store afterwards."""
    if rate <= 0 or burst <= 0:
        raise ValueError("rate and burst must be positive")
    if cost <= 0 or cost > burst:
        # A cost above the burst could never be paid; refuse to build a limit that locks forever.
        raise ValueError("cost must be positive and at most the burst")
    if state is None:
        tokens = float(burst)
    else:
        elapsed = max(0.0, now - state.updated)
        tokens = min(float(burst), state.tokens + elapsed * rate)
    if tokens >= cost:
        tokens -= cost
        return Decision(True, tokens, 0.0), BucketState(tokens, now)
    return Decision(False, tokens, (cost - tokens) / rate), BucketState(tokens, now)


def idle_ttl(rate: float, burst: float) -> float:
    """Seconds after which an untouched bucket is full again, so its stored state may expire."""
    return math.ceil(burst / rate) + 1.0


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` as HTTP wants it: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))


# -- concurrency leases ------------------------------------------------------------------------------

Leases = Mapping[str, float]  # lease id -> expiry (clock reading)


def live_leases(leases: Leases, now: float) -> dict[str, float]:
    return {lease: expiry for lease, expiry in leases.items() if expiry > now}


def acquire_slot(
    leases: Leases, now: float, limit: int, lease_id: str, ttl: float
) -> tuple[bool, dict[str, float]]:
    """Take one of ``limit`` slots for ``lease_id`` until ``now + ttl``; re-acquiring renews."""
    if limit < 1 or ttl <= 0:
        raise ValueError("limit and ttl must be positive")
    live = live_leases(leases, now)
    if lease_id in live or len(live) < limit:
        live[lease_id] = now + ttl
        return True, live
    return False, live


def renew_slot(leases: Leases, now: float, lease_id: str, ttl: float) -> dict[str, float]:
    """Extend a held lease. A lease that already lapsed is put back: its holder is still working,
    and briefly exceeding the limit is better than cutting off a stream in the middle."""
    live = live_leases(leases, now)
    live[lease_id] = now + ttl
    return live


def release_slot(leases: Leases, now: float, lease_id: str) -> dict[str, float]:
    live = live_leases(leases, now)
    live.pop(lease_id, None)
    return live
