"""The probes every process has: itself (event loop and supervised loops), its stores, and the
Nostr relays it uses.

Components add their own (the tracker's swarm store, the DHT node, the seeder, HLS, the rate
limiter) to ``services.probes``; :func:`process_probes` is what ``/api/health`` probes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from websockets.asyncio.client import connect

from ..config import Settings
from ..services import Probe, Services
from ..supervisor import Supervisor
from .monitor import loop_lag_score, relay_score

RELAY_PROBE_TTL = 60.0
RELAY_CONNECT_TIMEOUT = 3.0


async def loop_lag() -> dict[str, Any]:
    started = time.perf_counter()
    await asyncio.sleep(0)
    lag = time.perf_counter() - started
    return {"score": loop_lag_score(lag), "loop_lag_ms": round(lag * 1000, 3)}


def process_probe(supervisor: Supervisor) -> Probe:
    """The process itself: its event loop's lag and its supervised loops (a loop waiting to be
    restarted after a failure lowers the score); the lower of the two scores."""

    async def probe() -> dict[str, Any]:
        lag = await loop_lag()
        loops = supervisor.report()
        return {**lag, "score": min(lag["score"], loops["score"]), "background": loops}

    return probe


class RelayProbe:
    """Reachability of the configured Nostr relays (a WebSocket handshake each), cached a minute."""

    def __init__(self, relays: list[str]) -> None:
        self.relays = relays
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def __call__(self) -> dict[str, Any]:
        if not self.relays:
            return {"score": 100, "enabled": False, "configured": 0}
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < RELAY_PROBE_TTL:
            return self._cached[1]
        results = await asyncio.gather(*(self._reach(url) for url in self.relays))
        status = dict(zip(self.relays, results, strict=True))
        reachable = sum(1 for r in results if r == "ok")
        value = {
            "score": relay_score(reachable, len(self.relays)),
            "configured": len(self.relays),
            "relays": status,
        }
        self._cached = (now, value)
        return value

    @staticmethod
    async def _reach(url: str) -> str:
        try:
            async with asyncio.timeout(RELAY_CONNECT_TIMEOUT):
                async with connect(url, open_timeout=RELAY_CONNECT_TIMEOUT, close_timeout=1):
                    return "ok"
        except Exception as exc:  # unreachable relays are a finding, reported by type
            return type(exc).__name__


def used_relays(settings: Settings) -> list[str]:
    """The relays this configuration talks to on its own (publishing, alert DMs); none in private
    mode. Probing others would contact servers the operator chose not to use."""
    if settings.nostr.publish or settings.monitoring.alert_nostr_dm:
        return list(settings.nostr.relays)
    return []


def process_probes(process: str, services: Services, relays: RelayProbe | None) -> dict[str, Probe]:
    """The process under its own name, the stores, the relays (for a process that uses them), and
    what the components registered in ``services.probes``."""
    probes: dict[str, Probe] = {
        process: process_probe(services.supervisor),
        "storage": services.store.ping,
        "state": services.state.ping,
    }
    if relays is not None:
        probes["relays"] = relays
    probes.update(services.probes)
    return probes
