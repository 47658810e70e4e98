"""The one health endpoint of every component: liveness, readiness, the health summary,
diagnostics and Prometheus metrics.

``create_health_router(sources)`` serves, for whichever process ``sources`` describes:

* ``GET /healthz`` — liveness: the process answers;
* ``GET /readyz`` — readiness: every probe of ``sources.ready`` answers (503 otherwise);
* ``GET /api/health`` — every probe's 0-100 score, 503 when a ``required`` one is down;
* ``GET /api/diagnostics`` and ``GET /metrics`` — to the scrape networks or an admin only.

Scores and alerts are :mod:`.monitor`'s. With ``sources.alerts`` the process's monitor also runs
in the background (every ``monitoring.probe_interval`` s, under the supervisor) and raises
alerts to the log, the webhook and the admins' Nostr inboxes; otherwise it probes live on each
request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..clientaddr import parse_networks
from ..config import Settings
from ..services import Authentication, DiagnosticsSection, Probe, Services
from ..supervisor import Supervisor
from .monitor import (
    REQUIRED,
    AlertSink,
    HealthMonitor,
    log_sink,
    nostr_dm_sink,
    run_probe,
    summarise,
    webhook_sink,
)
from .probes import RelayProbe, process_probes, used_relays


@dataclasses.dataclass
class HealthSources:
    """What one process's health endpoint reports on."""

    settings: Settings
    supervisor: Supervisor
    probes: Callable[[], Mapping[str, Probe]]
    ready: Callable[[], Mapping[str, Probe]]
    required: frozenset[str] = REQUIRED
    authenticator: Callable[[], Authentication | None] = lambda: None
    diagnostics: Callable[[], Mapping[str, DiagnosticsSection]] = dict
    alerts: bool = False
    # Called again when the process starts: what delivers alerts (a Nostr DM sender, say) may be
    # installed after the app is built.
    sinks: Callable[[], list[AlertSink]] = lambda: [log_sink]


def service_sources(
    process: str, services: Services, *, alerts: bool = False, relays: bool = True
) -> HealthSources:
    """The sources of a process built on the shared services: itself, the stores, the relays it
    uses, and every probe and diagnostics section the components registered."""
    relay_probe = RelayProbe(used_relays(services.settings)) if relays else None

    async def chunk_cache() -> dict[str, Any]:
        return services.reader.cache.stats()

    return HealthSources(
        settings=services.settings,
        supervisor=services.supervisor,
        probes=lambda: process_probes(process, services, relay_probe),
        ready=lambda: {"storage": services.store.ping, "state": services.state.ping},
        authenticator=lambda: services.authenticator,
        diagnostics=lambda: {"chunk_cache": chunk_cache, **services.diagnostics},
        alerts=alerts,
        sinks=lambda: alert_sinks(services),
    )


def alert_sinks(services: Services) -> list[AlertSink]:
    monitoring = services.settings.monitoring
    sinks: list[AlertSink] = [log_sink]
    if monitoring.alert_webhook.get_secret_value():
        sinks.append(webhook_sink(monitoring.alert_webhook))
    sender = services.alert_dm
    if monitoring.alert_nostr_dm and sender is not None and services.settings.auth.admin_pubkeys:
        sinks.append(nostr_dm_sink(sender, list(services.settings.auth.admin_pubkeys)))
    return sinks


FORWARDING_HEADERS = frozenset({"x-forwarded-for", "forwarded", "x-real-ip"})


def direct_from_monitoring_network(request: Request, settings: Settings) -> bool:
    """An unproxied request from a network in ``monitoring.metrics_networks`` (in-cluster
    Prometheus scraping a pod IP). A request carrying any forwarding header came through a proxy
    (an Ingress) and so, as far as we know, from outside."""
    if any(name in FORWARDING_HEADERS for name in request.headers.keys()):  # noqa: SIM118 - multi-dict
        return False
    peer = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    networks = parse_networks(tuple(settings.monitoring.metrics_networks))
    return any(address in network for network in networks)


async def health_response(monitor: HealthMonitor, required: frozenset[str] = REQUIRED) -> JSONResponse:
    """Probe now and answer the summary: 200 ok/degraded, 503 when a ``required`` component is down."""
    results = [
        dataclasses.replace(result, required=True) if result.name in required else result
        for result in await monitor.probe()
    ]
    summary = summarise(results, monitor.threshold)
    summary["alerts"] = {"firing": monitor.tracker.firing()}
    return JSONResponse(summary, status_code=503 if summary["status"] == "down" else 200)


def create_health_router(sources: HealthSources) -> tuple[APIRouter, HealthMonitor]:
    """The endpoints above over ``sources``, and the monitor they share."""
    settings = sources.settings
    monitor = HealthMonitor(sources.probes, settings.monitoring.alert_threshold, sources.sinks())

    async def resolve_sinks() -> None:
        monitor.sinks = sources.sinks()

    sources.supervisor.on_start(resolve_sinks)
    if sources.alerts:
        sources.supervisor.keep_running(
            "health-monitor", lambda: monitor.run(settings.monitoring.probe_interval)
        )
    router = APIRouter(tags=["health"])

    async def require_monitoring_access(request: Request) -> None:
        """Metrics and diagnostics describe the deployment (addresses, peers, backends): the scrape
        network reads them directly, anyone else needs an admin login (401/403)."""
        if direct_from_monitoring_network(request, settings):
            return
        authenticator = sources.authenticator()
        if authenticator is None:
            raise HTTPException(
                403, detail="metrics and diagnostics are served to monitoring.metrics_networks only"
            )
        pubkey = await authenticator.authenticate(request)
        if pubkey is None:
            raise HTTPException(
                401,
                detail="metrics and diagnostics need an admin login (or a direct request from monitoring.metrics_networks)",
                headers={"WWW-Authenticate": 'Bearer realm="torrent-gateway", Nostr'},
            )
        if not await authenticator.is_admin(pubkey):
            raise HTTPException(403, detail="admin rights required")

    monitoring_access = Depends(require_monitoring_access)

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        """Liveness: the process answers."""
        return PlainTextResponse("ok")

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        """Readiness: every store the process cannot serve without answers."""
        results = await asyncio.gather(*(run_probe(name, probe) for name, probe in sources.ready().items()))
        for result in results:
            monitor.latest[result.name] = result
        failed = [r.name for r in results if not r.ok]
        if failed:
            return PlainTextResponse(f"not ready: {', '.join(failed)}", status_code=503)
        return PlainTextResponse("ready")

    @router.get("/api/health")
    async def health() -> JSONResponse:
        """Every component's 0-100 score; 503 when a required component (storage, state) is down."""
        return await health_response(monitor, sources.required)

    @router.get("/api/diagnostics", dependencies=[monitoring_access])
    async def diagnostics() -> dict[str, Any]:
        """Details behind the scores: DHT, seeder, caches, tracker, relays, rates, recent alerts."""
        results = await monitor.probe()
        out: dict[str, Any] = {
            "health": summarise(results, monitor.threshold),
            "monitor": monitor.view(),
        }
        relays = monitor.latest.get("relays")
        out["relays"] = relays.view() if relays is not None else {"enabled": False}
        for name, section in sources.diagnostics().items():
            try:
                out[name] = await asyncio.wait_for(section(), 3.0)
            except Exception as exc:  # a backend that is down is a finding here
                out[name] = {"error": type(exc).__name__}
        out.setdefault("p2p", {"enabled": False})
        return out

    @router.get("/metrics", include_in_schema=False, dependencies=[monitoring_access])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router, monitor
