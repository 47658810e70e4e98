"""Health formulas, probe scoring, the overall status, and alert hysteresis (pure; clock injected)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from torrent_gateway.health.monitor import (
    Alert,
    AlertTracker,
    HealthMonitor,
    dht_score,
    latency_score,
    loop_lag_score,
    relay_score,
    run_probe,
    score_result,
    seeder_score,
    summarise,
)


def test_latency_and_loop_lag_scores() -> None:
    assert latency_score(0.0) == latency_score(0.1) == 100
    assert latency_score(0.2) == 90
    assert latency_score(30.0) == 50  # answering at all is worth half
    assert loop_lag_score(0.05) == 100 and loop_lag_score(0.15) == 90 and loop_lag_score(5) == 0


def test_component_formulas() -> None:
    assert dht_score(running=False, routing_nodes=100, bootstrap_configured=True) == 0
    assert dht_score(running=True, routing_nodes=0, bootstrap_configured=False) == 100
    assert dht_score(running=True, routing_nodes=0, bootstrap_configured=True) == 30
    assert dht_score(running=True, routing_nodes=3, bootstrap_configured=True) == 70
    assert dht_score(running=True, routing_nodes=8, bootstrap_configured=True) == 100
    assert seeder_score({}) == 100
    assert seeder_score({"seeding": 3, "error": 1, "parked": 10, "too_large": 2}) == 75
    assert seeder_score({"checking": 1, "missing": 1}) == 50
    assert relay_score(0, 0) == 100 and relay_score(1, 4) == 25


def test_score_result_forms() -> None:
    assert score_result("x", None, 0.01).score == 100
    assert score_result("x", 42, 0.0).score == 42
    assert score_result("x", 250, 0.0).score == 100
    result = score_result("dht", {"score": 30, "routing_nodes": 0, "error": "isolated"}, 0.0)
    assert (result.score, result.ok, result.error, result.details) == (
        30,
        True,
        "isolated",
        {"routing_nodes": 0},
    )
    off = score_result("relays", {"score": 100, "enabled": False}, 0.0)
    assert not off.enabled
    assert score_result("storage", None, 0.0).required
    with pytest.raises(TypeError):
        score_result("x", "bad", 0.0)


async def test_run_probe_failures_score_zero() -> None:
    async def boom() -> None:
        raise ConnectionError("down")

    async def slow() -> None:
        await asyncio.sleep(10)

    async def odd() -> str:
        return "?"

    failed = await run_probe("state", boom)
    assert (failed.score, failed.ok, failed.error, failed.required) == (0, False, "ConnectionError", True)
    assert (await run_probe("x", slow, limit=0.01)).error == "timeout"
    assert (await run_probe("x", odd)).score == 0


def test_summary_status() -> None:
    ok = [score_result("storage", None, 0), score_result("dht", 80, 0)]
    assert summarise(ok, 50)["status"] == "ok"
    # An optional component that is down lowers the score but does not zero it (mean of 100, 80, 0).
    relays_down = ok + [score_result("relays", {"score": 0}, 0)]
    assert summarise(relays_down, 50)["status"] == "degraded" and summarise(relays_down, 50)["score"] == 60
    degraded = ok + [score_result("seeder", 0, 0), score_result("relays", 0, 0)]
    assert summarise(degraded, 50)["status"] == "degraded" and summarise(degraded, 50)["score"] == 45
    # A required component's score caps the whole.
    slow_state = ok + [score_result("state", 30, 0)]
    assert summarise(slow_state, 50)["score"] == 30
    disabled = ok + [score_result("relays", {"score": 0, "enabled": False}, 0)]
    assert summarise(disabled, 50)["status"] == "ok"
    down = ok + [score_result("state", False, 0)]
    assert summarise(down, 50)["status"] == "down"


def test_alert_tracker_trips_after_consecutive_lows_and_does_not_flap() -> None:
    tracker = AlertTracker(50, margin=10, trip_after=2, clear_after=2)
    assert tracker.update("state", 0, 1.0) is None  # one bad round is not an outage
    fired = tracker.update("state", 0, 2.0, "ConnectionError")
    assert isinstance(fired, Alert) and fired.status == "firing" and "ConnectionError" in fired.message
    # Wobbling inside the band [50, 60) and single highs change nothing.
    for t, score in enumerate([55, 45, 59, 70, 40, 52, 0], start=3):
        assert tracker.update("state", score, float(t)) is None
    assert tracker.firing() == ["state"]
    assert tracker.update("state", 60, 20.0) is None
    resolved = tracker.update("state", 100, 21.0)
    assert resolved is not None and resolved.status == "resolved" and "19 s" in resolved.message
    assert tracker.firing() == []
    # A score that oscillates across the threshold every round never alerts.
    quiet = AlertTracker(50, trip_after=2)
    assert all(quiet.update("dht", s, float(i)) is None for i, s in enumerate([40, 70, 40, 70, 40, 70]))


async def test_monitor_delivers_each_transition_to_every_sink_once() -> None:
    scores: dict[str, Any] = {"storage": None, "seeder": 100}
    delivered: list[Alert] = []
    now = [0.0]

    def probes() -> dict[str, Any]:
        def make(name: str) -> Any:
            async def probe() -> Any:
                value = scores[name]
                if isinstance(value, Exception):
                    raise value
                return value

            return probe

        return {name: make(name) for name in scores}

    async def capture(alert: Alert) -> None:
        delivered.append(alert)

    async def broken(alert: Alert) -> None:
        raise RuntimeError("webhook down")

    monitor = HealthMonitor(probes, 50, [capture, broken], clock=lambda: now[0])
    assert await monitor.tick() == []
    scores["storage"] = ConnectionError("gone")
    for _ in range(4):
        now[0] += 1
        await monitor.tick()
    assert [(a.component, a.status) for a in delivered] == [("storage", "firing")]
    assert monitor.sink_failures == 1  # the broken sink failed; the other still got it
    scores["storage"] = None
    for _ in range(3):
        now[0] += 1
        await monitor.tick()
    assert [(a.component, a.status) for a in delivered] == [("storage", "firing"), ("storage", "resolved")]
    assert monitor.view()["firing"] == [] and len(monitor.view()["recent_alerts"]) == 2
    assert monitor.latest["storage"].ok
