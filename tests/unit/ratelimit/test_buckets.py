"""The pure rate-limit math: token buckets and concurrency leases."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torrent_gateway.ratelimit.buckets import (
    BucketState,
    acquire_slot,
    check_bucket,
    idle_ttl,
    release_slot,
    renew_slot,
    retry_after_header,
)


def test_new_bucket_is_full_and_allows_burst_then_refuses() -> None:
    state = None
    for expected_left in (2.0, 1.0, 0.0):
        decision, state = check_bucket(state, 100.0, rate=1.0, burst=3)
        assert decision.allowed and decision.remaining == expected_left
    decision, state = check_bucket(state, 100.0, rate=1.0, burst=3)
    assert not decision.allowed
    assert decision.retry_after == pytest.approx(1.0)


def test_refill_at_rate_capped_at_burst() -> None:
    _, state = check_bucket(BucketState(0.0, 0.0), 0.0, rate=2.0, burst=4)
    decision, _ = check_bucket(state, 0.25, rate=2.0, burst=4)
    assert not decision.allowed and decision.retry_after == pytest.approx(0.25)
    decision, after = check_bucket(state, 0.5, rate=2.0, burst=4)
    assert decision.allowed and decision.remaining == pytest.approx(0.0)
    decision, _ = check_bucket(after, 1000.0, rate=2.0, burst=4)
    assert decision.remaining == pytest.approx(3.0)  # refilled to the burst, not beyond


def test_refused_check_takes_nothing() -> None:
    _, state = check_bucket(BucketState(0.5, 10.0), 10.0, rate=1.0, burst=2)
    for _ in range(5):
        decision, state = check_bucket(state, 10.0, rate=1.0, burst=2)
        assert not decision.allowed
    assert state.tokens == pytest.approx(0.5)


def test_clock_running_backwards_refills_nothing() -> None:
    decision, _ = check_bucket(BucketState(0.0, 50.0), 40.0, rate=1.0, burst=5)
    assert not decision.allowed


def test_cost_above_burst_or_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        check_bucket(None, 0.0, rate=1.0, burst=2, cost=3)
    with pytest.raises(ValueError):
        check_bucket(None, 0.0, rate=0.0, burst=2)
    with pytest.raises(ValueError):
        check_bucket(None, 0.0, rate=1.0, burst=0)


def test_idle_ttl_is_when_a_bucket_is_full_again() -> None:
    _, drained = check_bucket(BucketState(0.0, 0.0), 0.0, rate=0.5, burst=3)
    ttl = idle_ttl(0.5, 3)
    fresh, _ = check_bucket(None, ttl, rate=0.5, burst=3)
    aged, _ = check_bucket(drained, ttl, rate=0.5, burst=3)
    assert aged == fresh


def test_retry_after_header_is_whole_seconds_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.0) == "1"
    assert retry_after_header(1.2) == "2"


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.1, 50),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_rate_times_elapsed(rate: float, burst: int, gaps: list[float]) -> None:
    state, now, allowed = None, 0.0, 0
    for gap in gaps:
        now += gap
        decision, state = check_bucket(state, now, rate, burst)
        allowed += decision.allowed
    assert allowed <= burst + math.floor(rate * now + 1e-9)


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(0.5, 20), burst=st.integers(1, 10), n=st.integers(1, 100))
def test_a_client_that_waits_retry_after_is_served(rate: float, burst: int, n: int) -> None:
    state, now = None, 0.0
    for _ in range(n):
        decision, state = check_bucket(state, now, rate, burst)
        if not decision.allowed:
            now += decision.retry_after + 1e-9
            decision, state = check_bucket(state, now, rate, burst)
            assert decision.allowed


# -- concurrency leases ----------------------------------------------------------------------------


def test_slots_up_to_the_limit() -> None:
    leases: dict[str, float] = {}
    for lease in ("a", "b"):
        granted, leases = acquire_slot(leases, 0.0, 2, lease, ttl=10)
        assert granted
    granted, leases = acquire_slot(leases, 0.0, 2, "c", ttl=10)
    assert not granted and set(leases) == {"a", "b"}
    leases = release_slot(leases, 1.0, "a")
    granted, leases = acquire_slot(leases, 1.0, 2, "c", ttl=10)
    assert granted and set(leases) == {"b", "c"}


def test_reacquire_by_the_holder_renews_instead_of_refusing() -> None:
    granted, leases = acquire_slot({}, 0.0, 1, "a", ttl=10)
    granted, leases = acquire_slot(leases, 5.0, 1, "a", ttl=10)
    assert granted and leases == {"a": 15.0}


def test_lapsed_leases_free_their_slot() -> None:
    _, leases = acquire_slot({}, 0.0, 1, "crashed", ttl=10)
    granted, _ = acquire_slot(leases, 9.9, 1, "b", ttl=10)
    assert not granted
    granted, leases = acquire_slot(leases, 10.0, 1, "b", ttl=10)
    assert granted and set(leases) == {"b"}


def test_renew_extends_and_restores_a_lapsed_lease() -> None:
    _, leases = acquire_slot({}, 0.0, 1, "a", ttl=10)
    assert renew_slot(leases, 8.0, "a", ttl=10) == {"a": 18.0}
    assert renew_slot(leases, 30.0, "a", ttl=10) == {"a": 40.0}


def test_release_of_unknown_lease_is_a_no_op() -> None:
    _, leases = acquire_slot({}, 0.0, 1, "a", ttl=10)
    assert release_slot(leases, 0.0, "zzz") == {"a": 10.0}


def test_slot_parameters_validated() -> None:
    with pytest.raises(ValueError):
        acquire_slot({}, 0.0, 0, "a", ttl=10)
    with pytest.raises(ValueError):
        acquire_slot({}, 0.0, 1, "a", ttl=0)
