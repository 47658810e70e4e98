"""Scores and alerts: a 0-100 score per component from live probes, hysteresis, and alert delivery.

A *probe* is an async callable registered under a component name. What it returns decides the
score (:func:`score_result`):

* it raises, or does not answer within ``PROBE_TIMEOUT`` → **0** (down);
* it returns ``None`` → scored by its latency (:func:`latency_score`): 100 up to 100 ms, then one
  point less per 10 ms, never below 50 while it answers;
* it returns an ``int`` → that score (clamped to 0..100);
* it returns a dict with ``"score"`` → that score, the other keys shown as details (a dict with
  ``"enabled": False`` marks a component that is not configured here: shown, never alerted on,
  not part of the overall score).

Component formulas used by the built-in probes (pure functions below, unit-tested):

* **gateway** (this process) — event-loop lag: 100 up to 50 ms, minus one point per 10 ms beyond.
* **storage**, **state**, **tracker** — latency of the backend's ``ping`` (the tracker's is its
  swarm store's).
* **dht** — :func:`dht_score`: 0 when the node is not running; with bootstrap nodes configured,
  30 while the routing table is empty, 70 with fewer than 8 nodes, 100 from 8 on; a node with no
  bootstrap nodes (standalone by configuration) scores 100 while running.
* **seeder** — :func:`seeder_score`: the share of this pod's torrents that are seeding or still
  being checked (parked and too-large files are the WebSeed's job and do not count), in percent.
* **relays** — :func:`relay_score`: the share of configured Nostr relays that accept a
  WebSocket connection, in percent. Probed only when the settings use them (publishing or
  alert DMs): a private gateway contacts no relay.

The overall score is the lowest required score (storage, state), or the mean of all enabled
scores when that is lower: an optional component (relays, DHT, seeder) that is down lowers the
score but never zeroes it on its own, and each component's own score and alerts still show it.
The status is ``down`` (HTTP 503) when a required component is down, ``degraded`` when any
enabled component's score is below ``monitoring.alert_threshold``, else ``ok``.

Alerts (:class:`AlertTracker`): a component *fires* once its score has been below the threshold
for ``trip_after`` consecutive probe rounds, and *resolves* once it has been at or above
threshold + ``margin`` for ``clear_after`` rounds; scores between the two change nothing, so a
score wobbling around the threshold does not flap. Each transition goes to every sink: a log line
always, a webhook (POST JSON) when ``monitoring.alert_webhook`` is set, and a Nostr DM to each admin
when ``monitoring.alert_nostr_dm`` is on and a sender is set as ``services.alert_dm``
(an async ``(pubkey_hex, text) -> None``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpcore
from pydantic import SecretStr

from ..services import Probe
from . import metrics

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0
SINK_TIMEOUT = 5.0
REQUIRED = frozenset({"storage", "state"})

# ``Probe`` is the core's (services.Probe): an async callable scored by :func:`score_result`.
Clock = Callable[[], float]


# -- formulas (pure) -------------------------------------------------------------------------------
def latency_score(latency_s: float) -> int:
    if latency_s <= 0.1:
        return 100
    return max(50, 100 - round((latency_s - 0.1) * 100))


def loop_lag_score(lag_s: float) -> int:
    if lag_s <= 0.05:
        return 100
    return max(0, 100 - round((lag_s - 0.05) * 100))


def dht_score(*, running: bool, routing_nodes: int, bootstrap_configured: bool) -> int:
    if not running:
        return 0
    if not bootstrap_configured:
        return 100
    if routing_nodes == 0:
        return 30
    return 70 if routing_nodes < 8 else 100


def seeder_score(counts: Mapping[str, int]) -> int:
    serving = counts.get("seeding", 0) + counts.get("checking", 0) + counts.get("adding", 0)
    failing = counts.get("error", 0) + counts.get("missing", 0)
    total = serving + failing
    return 100 if total == 0 else round(100 * serving / total)


def relay_score(reachable: int, configured: int) -> int:
    return 100 if configured == 0 else round(100 * reachable / configured)


def clamp(score: float) -> int:
    return max(0, min(100, int(round(score))))


@dataclass
class ComponentHealth:
    name: str
    score: int
    ok: bool
    enabled: bool = True
    required: bool = False
    latency_ms: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: v for k, v in out.items() if v is not None and v != {}}


def score_result(name: str, result: Any, latency_s: float) -> ComponentHealth:
    """Turn what a probe returned into a component health (see the module docstring)."""
    required = name in REQUIRED
    latency_ms = round(latency_s * 1000, 2)
    if result is None:
        return ComponentHealth(name, latency_score(latency_s), True, required=required, latency_ms=latency_ms)
    if isinstance(result, bool):
        return ComponentHealth(name, 100 if result else 0, result, required=required, latency_ms=latency_ms)
    if isinstance(result, int | float):
        score = clamp(result)
        return ComponentHealth(name, score, score > 0, required=required, latency_ms=latency_ms)
    if isinstance(result, dict) and "score" in result:
        details = {k: v for k, v in result.items() if k not in ("score", "enabled", "error")}
        score = clamp(result["score"])
        return ComponentHealth(
            name,
            score,
            score > 0,
            enabled=bool(result.get("enabled", True)),
            required=required,
            latency_ms=latency_ms,
            error=result.get("error"),
            details=details,
        )
    raise TypeError(f"probe {name} returned {type(result).__name__}")


async def run_probe(name: str, probe: Probe, limit: float = PROBE_TIMEOUT) -> ComponentHealth:
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(probe(), limit)
    except Exception as exc:  # any failure of a probe is a health finding, not a server error
        error = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return ComponentHealth(name, 0, False, required=name in REQUIRED, error=error)
    try:
        return score_result(name, result, time.perf_counter() - started)
    except TypeError as exc:
        return ComponentHealth(name, 0, False, required=name in REQUIRED, error=str(exc))


def summarise(results: list[ComponentHealth], threshold: int) -> dict[str, Any]:
    enabled = [r for r in results if r.enabled]
    required = min((r.score for r in enabled if r.required), default=100)
    mean = round(sum(r.score for r in enabled) / len(enabled)) if enabled else 100
    score = min(required, mean)
    below = any(r.score < threshold for r in enabled)
    status = "degraded" if below or score < threshold else "ok"
    if any(r.required and not r.ok for r in results):
        status = "down"
    return {
        "status": status,
        "score": score,
        "threshold": threshold,
        "components": {r.name: r.view() for r in results},
    }


# -- alerts ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    component: str
    status: Literal["firing", "resolved"]
    score: int
    threshold: int
    at: float
    message: str

    def view(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Track:
    firing: bool = False
    below: int = 0
    above: int = 0
    since: float = 0.0


class AlertTracker:
    """Turns a stream of scores into alert transitions, with hysteresis (pure; clock injected)."""

    def __init__(
        self, threshold: int, *, margin: int = 10, trip_after: int = 2, clear_after: int = 2
    ) -> None:
        self.threshold = threshold
        self.margin = margin
        self.trip_after = max(1, trip_after)
        self.clear_after = max(1, clear_after)
        self.tracks: dict[str, _Track] = {}

    def update(self, component: str, score: int, now: float, detail: str = "") -> Alert | None:
        track = self.tracks.setdefault(component, _Track())
        if score < self.threshold:
            track.below += 1
            track.above = 0
        elif score >= min(100, self.threshold + self.margin):
            track.above += 1
            track.below = 0
        else:  # inside the hysteresis band: hold the current state
            track.below = track.above = 0
        if not track.firing and track.below >= self.trip_after:
            track.firing, track.since = True, now
            why = f" ({detail})" if detail else ""
            return Alert(
                component,
                "firing",
                score,
                self.threshold,
                now,
                f"{component} health {score} is below {self.threshold}{why}",
            )
        if track.firing and track.above >= self.clear_after:
            track.firing = False
            return Alert(
                component,
                "resolved",
                score,
                self.threshold,
                now,
                f"{component} health recovered to {score} after {now - track.since:.0f} s",
            )
        return None

    def firing(self) -> list[str]:
        return sorted(name for name, track in self.tracks.items() if track.firing)


AlertSink = Callable[[Alert], Awaitable[None]]


async def log_sink(alert: Alert) -> None:
    level = logging.WARNING if alert.status == "firing" else logging.INFO
    log.log(level, "health alert %s: %s", alert.status, alert.message)


class WebhookFailed(Exception):
    """A webhook delivery failed; the message never holds the URL (it often embeds a token)."""


def webhook_sink(url: SecretStr, *, timeout: float = SINK_TIMEOUT) -> AlertSink:
    async def send(alert: Alert) -> None:
        # httpcore, not httpx: httpx logs every request's URL at INFO, and a webhook URL usually
        # embeds its token. Failures are reported by kind only, never with the URL.
        body = json.dumps({"source": "torrent-gateway", **alert.view()}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        try:
            async with httpcore.AsyncConnectionPool() as pool:
                response = await pool.request(
                    "POST",
                    url.get_secret_value(),
                    headers=headers,
                    content=body,
                    extensions={"timeout": limits},
                )
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            raise WebhookFailed(f"alert webhook unreachable ({type(exc).__name__})") from None
        except httpcore.UnsupportedProtocol:
            raise WebhookFailed("alert webhook URL is not http(s)") from None
        if response.status >= 400:
            raise WebhookFailed(f"alert webhook answered HTTP {response.status}")

    return send


def nostr_dm_sink(sender: Callable[[str, str], Awaitable[None]], admins: list[str]) -> AlertSink:
    async def send(alert: Alert) -> None:
        text = f"[torrent-gateway] {alert.status}: {alert.message}"
        results = await asyncio.gather(*(sender(admin, text) for admin in admins), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed and len(failed) == len(results):
            raise failed[0]

    return send


class HealthMonitor:
    """Runs the probes, keeps the latest results, and raises alerts through the sinks."""

    def __init__(
        self,
        probes: Callable[[], Mapping[str, Probe]],
        threshold: int,
        sinks: list[AlertSink] | None = None,
        *,
        clock: Clock = time.time,
        trip_after: int = 2,
        clear_after: int = 2,
        margin: int = 10,
    ) -> None:
        self.probes = probes
        self.threshold = threshold
        self.sinks = sinks if sinks is not None else [log_sink]
        self.clock = clock
        self.tracker = AlertTracker(threshold, margin=margin, trip_after=trip_after, clear_after=clear_after)
        self.latest: dict[str, ComponentHealth] = {}
        self.recent_alerts: deque[Alert] = deque(maxlen=50)
        self.sink_failures = 0
        self.rounds = 0

    async def probe(self) -> list[ComponentHealth]:
        """Run every probe now (concurrently); updates the latest results and the gauges."""
        probes = dict(self.probes())
        results = list(await asyncio.gather(*(run_probe(name, probe) for name, probe in probes.items())))
        for result in results:
            self.latest[result.name] = result
            metrics.HEALTH_SCORE.labels(result.name).set(result.score)
        return results

    async def tick(self) -> list[Alert]:
        """One monitoring round: probe, then raise the alerts the scores call for."""
        results = await self.probe()
        self.rounds += 1
        now = self.clock()
        alerts = []
        for result in results:
            if not result.enabled:
                continue
            alert = self.tracker.update(result.name, result.score, now, result.error or "")
            if alert is not None:
                alerts.append(alert)
        for alert in alerts:
            self.recent_alerts.append(alert)
            metrics.ALERTS.labels(alert.component, alert.status).inc()
            await self._deliver(alert)
        return alerts

    async def _deliver(self, alert: Alert) -> None:
        async def one(sink: AlertSink) -> None:
            try:
                await asyncio.wait_for(sink(alert), SINK_TIMEOUT)
            except Exception as exc:
                self.sink_failures += 1
                log.warning("alert sink %s failed: %s", getattr(sink, "__qualname__", sink), exc)

        await asyncio.gather(*(one(sink) for sink in self.sinks))

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("health monitoring round failed")
            await asyncio.sleep(interval)

    def view(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "firing": self.tracker.firing(),
            "recent_alerts": [a.view() for a in self.recent_alerts],
            "sink_failures": self.sink_failures,
        }
