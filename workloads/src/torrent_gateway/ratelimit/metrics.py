"""Prometheus metrics of rate limiting: what each limit decided, and whether its store is reachable.

``tgw_ratelimit_decisions_total{limit, outcome}`` counts every governed request once:
``allowed``, ``limited`` (429 or tracker failure), ``too_large`` (413 from the size cap),
``failed_open`` / ``failed_closed`` (the store was unreachable and the limit's policy applied).
``tgw_ratelimit_degraded`` is 1 while the shared store (Redis) is unreachable.
Registered in the default registry, which the gateway's ``/metrics`` exports.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge

LIMITS = ("upload", "download", "stream", "auth", "challenge", "report", "tracker")
OUTCOMES = ("allowed", "limited", "too_large", "failed_open", "failed_closed")

DECISIONS = Counter(
    "tgw_ratelimit_decisions",
    "Governed requests by limit and outcome.",
    ["limit", "outcome"],
)
DEGRADED = Gauge("tgw_ratelimit_degraded", "1 while the shared rate-limit store is unreachable.")

# Resolving label children once keeps the per-request cost to one locked increment.
_children = {(limit, outcome): DECISIONS.labels(limit, outcome) for limit in LIMITS for outcome in OUTCOMES}


def count(limit: str, outcome: str) -> None:
    child = _children.get((limit, outcome))
    if child is None:
        child = _children[(limit, outcome)] = DECISIONS.labels(limit, outcome)
    child.inc()


def value(limit: str, outcome: str) -> float:
    """Current count (tests and diagnostics)."""
    sample = REGISTRY.get_sample_value("tgw_ratelimit_decisions_total", {"limit": limit, "outcome": outcome})
    return sample or 0.0


def set_degraded(flag: bool) -> None:
    DEGRADED.set(1 if flag else 0)
