"""Composition: which components run in this process and how they are wired together.

``serve`` puts every component into one ASGI app and one event loop; the component commands
build just one. This is the only module that knows every component.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI, Request

from .config import Settings
from .gateway.app import create_app
from .services import Services, build_services


def build_serve_app(settings: Settings) -> Any:
    """Gateway + web UI + every enabled component in one ASGI app."""
    services = build_services(settings)
    tracker = _build_tracker(services) if settings.tracker.enabled else None
    app = create_app(settings, services, extensions=_serve_extensions(settings))
    _own_services(app, services)
    asgi: Any = app
    if tracker is not None:
        asgi = tracker.asgi(cast(Any, app))
        asgi.app = app  # lets wrappers and tests walk down to the FastAPI app
    return _with_rate_limits(asgi, services)


def build_gateway_app(settings: Settings) -> Any:
    """The gateway component of a cluster: API, web UI, WebSeed, auth, peer coordinator.

    The tracker, Blossom and the DHT node run as their own workloads there, so they are not mounted.
    """
    from .hls import install_hls
    from .nostr import gateway_extension as nostr_extension
    from .p2p.app import install_coordinator

    services = build_services(settings)
    extensions: list[Any] = [nostr_extension, install_hls, install_coordinator]
    app = create_app(settings, services, extensions=extensions)
    _own_services(app, services)
    return _with_rate_limits(app, services)


def _known_infohash(state: Any) -> Any:
    """The tracker's 'known' policy: an infohash this gateway holds (the catalog's index)."""

    async def is_known(info_hash: bytes) -> bool:
        return await state.hget("idx:infohash", info_hash.hex()) is not None

    return is_known


def _build_tracker(services: Services) -> Any:
    """The tracker in serve mode: HTTP and WebSocket on the gateway's port, UDP on the same number."""
    from .tracker import Tracker, open_swarm_store

    settings = services.settings
    swarms = open_swarm_store(settings)
    tracker = Tracker(settings, swarms, is_known=_known_infohash(services.state))
    services.extras["swarms"] = swarms
    services.extras["tracker"] = tracker

    async def start() -> None:
        await tracker.start()
        if settings.tracker.udp:
            await tracker.start_udp(settings.gateway.host, settings.gateway.port)

    async def accept_new_torrent(manifest: Any) -> None:
        tracker.forget(bytes.fromhex(manifest.infohash))

    services.extras.setdefault("startup", []).append(start)
    services.extras.setdefault("shutdown", []).append(tracker.close)
    services.catalog.on_added.append(accept_new_torrent)
    return tracker


def build_tracker_app(settings: Settings) -> Any:
    """The tracker component: announce/scrape/WebSocket plus health and metrics on tracker.port.

    ``/api/health`` reports the event loop, the swarm store (``swarms``) and the state store
    (known infohashes); the tracker cannot answer announces without either store, so both are
    required (503 when one is down).
    """
    import contextlib
    from collections.abc import AsyncIterator

    from fastapi.responses import JSONResponse, PlainTextResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from .gateway.health import add_component_health, direct_from_monitoring_network, loop_lag
    from .p2p.health import REQUIRED
    from .state import open_state
    from .tracker import Tracker, open_swarm_store

    state = open_state(settings.state, data_dir=settings.storage.path)
    swarms = open_swarm_store(settings)
    tracker = Tracker(settings, swarms, is_known=_known_infohash(state))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await tracker.start()
        if settings.tracker.udp:
            await tracker.start_udp(settings.tracker.host, settings.tracker.port, reuse_port=True)
        try:
            yield
        finally:
            await tracker.close()
            await state.close()

    health = FastAPI(title="Torrent Gateway tracker", lifespan=lifespan)

    @health.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @health.get("/readyz", include_in_schema=False)
    async def readyz() -> PlainTextResponse:
        try:
            await state.ping()
            await swarms.ping()
        except Exception:  # any failure means not ready
            return PlainTextResponse("not ready", status_code=503)
        return PlainTextResponse("ready")

    add_component_health(
        health,
        settings,
        lambda: {"tracker": loop_lag, "swarms": swarms.ping, "state": state.ping},
        required=REQUIRED | {"swarms"},
    )

    @health.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # The tracker port is public and has no logins: metrics go to the scrape networks only.
        if not direct_from_monitoring_network(request, settings):
            return JSONResponse(
                {"detail": "metrics are served to monitoring.metrics_networks only"}, status_code=403
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app = tracker.asgi(cast(Any, health))
    app.app = health  # type: ignore[attr-defined]
    return app


def _with_rate_limits(app: Any, services: Services) -> Any:
    """Wrap the whole ASGI app (gateway, Blossom, tracker) in the shared rate limiter."""
    from .ratelimit import open_limiter, wrap_with_rate_limits

    settings = services.settings
    if not settings.rate_limiting.enabled:
        return app
    limiter = open_limiter(settings)
    services.extras["ratelimiter"] = limiter
    services.extras.setdefault("health_probes", {})["ratelimit"] = limiter.ping
    services.extras.setdefault("shutdown", []).append(limiter.aclose)
    return wrap_with_rate_limits(app, settings, limiter)


def _serve_extensions(settings: Settings) -> list[Any]:
    from .hls import install_hls
    from .nostr import gateway_extension as nostr_extension
    from .p2p.app import install_p2p

    extensions: list[Any] = [nostr_extension, install_hls, install_p2p]
    if settings.blossom.enabled:
        from .blossom import create_blossom_router

        # Blossom's endpoints live at the domain root; its blob path only matches a 64-hex hash.
        extensions.append(lambda app, services: app.include_router(create_blossom_router(services)))
    return extensions


def _own_services(app: FastAPI, services: Services) -> None:
    """The serve app built the services itself, so it closes them at shutdown."""
    services.extras.setdefault("shutdown", []).insert(0, services.close)


def build_component_app(name: str, settings: Settings) -> tuple[Any, str, int]:
    """(ASGI app, host, port) of one component, as the operator starts it."""
    if name == "gateway":
        return build_gateway_app(settings), settings.gateway.host, settings.gateway.port
    if name == "blossom":
        from .blossom import create_blossom_app

        app = create_blossom_app(settings)
        return _with_rate_limits(app, app.state.services), settings.blossom.host, settings.blossom.port
    if name == "tracker":
        return build_tracker_app(settings), settings.tracker.host, settings.tracker.port
    if name == "dht":
        from .p2p.app import build_dht_app

        return build_dht_app(settings), settings.dht.host, settings.dht.http_port
    raise SystemExit(f"component {name!r} is not available in this build")
