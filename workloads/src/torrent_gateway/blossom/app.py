"""Wiring: the Blossom router for any app, and the standalone Blossom component.

``create_blossom_router(services)`` is what serve mode mounts into the gateway app (routes at
the root, no clash with the gateway's paths). ``create_blossom_app(settings)`` is the
``torrent-gateway blossom`` process: the same router in the component shell (liveness,
readiness, ``/api/health`` over its event loop, the object store, the state store and the rate
limiter, metrics, limits), whose lifespan owns the shared services when it built them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from ..health.endpoint import service_sources
from ..services import Services, build_services
from ..web.app import component_app
from .routes import Blossom, add_cors, build_router, error_response, preflight_headers


def create_blossom_router(
    services: Services, *, clock: Callable[[], float] = time.time, standalone: bool = False
) -> APIRouter:
    """Every Blossom endpoint over ``services``; mount it with ``app.include_router(...)``.

    ``standalone`` is True only for the Blossom component's own app: descriptor URLs then
    come from ``blossom.public_url`` or the request, never from the gateway's public URL.
    """
    return build_router(Blossom(services, clock=clock, standalone=standalone))


class PreflightMiddleware:
    """Answers every ``OPTIONS`` request with Blossom's CORS preflight headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            await Response(status_code=204, headers=preflight_headers())(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_blossom_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The standalone Blossom component; ``services`` may be given (tests), else built here."""
    owned = services is None
    svc = services or build_services(settings)
    app = component_app(
        title="Torrent Gateway — Blossom",
        description="Blossom blob server (BUD-01/02/04/06/08/09/11/12) on the gateway's shared store.",
        settings=settings,
        services=svc,
        owned=owned,
        # Its own dependencies, and what was registered on the shared services: the rate limiter
        # (``torrent-gateway blossom`` runs behind it) adds ``ratelimit``. Blossom publishes nothing,
        # so it probes no Nostr relay.
        health=service_sources("blossom", svc, relays=False),
        # The component is all Blossom: any path answers a CORS preflight. A middleware rather than
        # an OPTIONS route, which would turn every unknown GET into 405 instead of 404.
        middleware=[Middleware(PreflightMiddleware)],
    )
    app.include_router(create_blossom_router(svc, standalone=True))

    @app.exception_handler(StarletteHTTPException)
    async def blossom_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Unknown paths and methods answer in Blossom's form too (X-Reason, CORS).
        response = error_response(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))
        add_cors(response)
        return response

    return app
