"""Composition: which components run in this process and how they are wired together.

``serve`` puts every component into one ASGI app and one event loop; the component commands
build just one. This is the only module that knows every component.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI

from .accounts import accounts_extension
from .blossom import create_blossom_app, create_blossom_router
from .config import Settings
from .gateway.app import Extension, create_app
from .hls import install_hls
from .manifest import Manifest
from .nostr import install_nostr
from .p2p.app import build_dht_app, install_coordinator, install_p2p
from .ratelimit import open_limiter, wrap_with_rate_limits
from .services import Services, build_services
from .tracker import Tracker, build_tracker_app, open_swarm_store
from .tracker.component import known_infohash


def build_serve_app(settings: Settings) -> Any:
    """Gateway + web UI + every enabled component in one ASGI app."""
    services = build_services(settings)
    install_nostr(services)
    tracker = _serve_tracker(services) if settings.tracker.enabled else None
    swarms = tracker.swarms if tracker is not None else None

    def p2p(app: FastAPI, services: Services) -> None:
        install_p2p(app, services, swarms=swarms)

    extensions: list[Extension] = [accounts_extension, install_hls, p2p]
    if settings.blossom.enabled:
        # Blossom's endpoints live at the domain root; its blob path only matches a 64-hex hash.
        extensions.append(lambda app, services: app.include_router(create_blossom_router(services)))
    app = create_app(settings, services, owned=True, extensions=extensions, alerts=True)
    asgi: Any = app
    if tracker is not None:
        asgi = tracker.asgi(cast(Any, app))
        asgi.app = app  # lets wrappers and tests walk down to the FastAPI app
    return _with_rate_limits(asgi, services)


def build_gateway_app(settings: Settings) -> Any:
    """The gateway component of a cluster: API, web UI, WebSeed, auth, peer coordinator.

    The tracker, Blossom and the DHT node run as their own workloads there, so they are not mounted.
    """
    services = build_services(settings)
    install_nostr(services)
    extensions: list[Extension] = [accounts_extension, install_hls, install_coordinator]
    app = create_app(settings, services, owned=True, extensions=extensions, alerts=True)
    return _with_rate_limits(app, services)


def _serve_tracker(services: Services) -> Tracker:
    """The tracker in serve mode: HTTP and WebSocket on the gateway's port, UDP on the same number."""
    settings = services.settings
    swarms = open_swarm_store(settings)
    tracker = Tracker(
        settings, swarms, is_known=known_infohash(services.state), supervisor=services.supervisor
    )

    async def start() -> None:
        await tracker.start()
        if settings.tracker.udp:
            await tracker.start_udp(settings.gateway.host, settings.gateway.port)

    async def swarm_counts() -> dict[str, Any]:
        count, peers = await swarms.stats()
        return {"swarms": count, "peers": peers}

    async def accept_new_torrent(manifest: Manifest) -> None:
        tracker.forget(bytes.fromhex(manifest.infohash))

    services.probes["tracker"] = swarms.ping
    services.diagnostics["tracker"] = swarm_counts
    services.supervisor.on_start(start)
    services.supervisor.on_stop(tracker.close)
    services.catalog.on_added.append(accept_new_torrent)
    return tracker


def _with_rate_limits(app: Any, services: Services) -> Any:
    """Wrap the whole ASGI app (gateway, Blossom, tracker) in the shared rate limiter."""
    settings = services.settings
    if not settings.rate_limiting.enabled:
        return app
    limiter = open_limiter(settings)
    services.probes["ratelimit"] = limiter.ping
    services.supervisor.on_stop(limiter.aclose)
    return wrap_with_rate_limits(app, settings, limiter)


def build_component_app(name: str, settings: Settings) -> tuple[Any, str, int]:
    """(ASGI app, host, port) of one component, as the operator starts it."""
    if name == "gateway":
        return build_gateway_app(settings), settings.gateway.host, settings.gateway.port
    if name == "blossom":
        app = create_blossom_app(settings)
        return _with_rate_limits(app, app.state.services), settings.blossom.host, settings.blossom.port
    if name == "tracker":
        return build_tracker_app(settings), settings.tracker.host, settings.tracker.port
    if name == "dht":
        return build_dht_app(settings), settings.dht.host, settings.dht.http_port
    raise SystemExit(f"component {name!r} is not available in this build")
