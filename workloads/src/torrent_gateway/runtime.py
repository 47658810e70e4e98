"""Composition: which components run in this process and how they are wired together.

``serve`` puts every component into one ASGI app and one event loop; the component commands
build just one. This is the only module that knows every component.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .config import Settings
from .gateway.app import create_app
from .services import Services, build_services


def build_serve_app(settings: Settings) -> Any:
    """Gateway + web UI + every enabled component in one ASGI app."""
    services = build_services(settings)
    app = create_app(settings, services, extensions=_serve_extensions(settings))
    _own_services(app, services)
    return _with_rate_limits(app, services)


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
    from .nostr import gateway_extension as nostr_extension

    extensions: list[Any] = [nostr_extension]
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
        return build_serve_app(settings), settings.gateway.host, settings.gateway.port
    if name == "blossom":
        from .blossom import create_blossom_app

        app = create_blossom_app(settings)
        return _with_rate_limits(app, find_services(app)), settings.blossom.host, settings.blossom.port
    raise SystemExit(f"component {name!r} is not available in this build")


def find_services(app: Any) -> Services:
    """The Services attached to an app's state."""
    return app.state.services  # type: ignore[no-any-return]
