"""Wiring: the Blossom router for any app, and the standalone Blossom component.

``create_blossom_router(services)`` is what serve mode mounts into the gateway app (routes at
the root, no clash with the gateway's paths). ``create_blossom_app(settings)`` is the
``torrent-gateway blossom`` process: the same router plus liveness, readiness, the health
summary (``/api/health``: its event loop, the object store, the state store, the rate limiter)
and metrics, with a
lifespan that owns the shared services when it built them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from ..gateway.guards import LimitRequestBody, RejectControlCharacters
from ..gateway.health import add_component_health, loop_lag
from ..p2p.health import Probe
from ..services import Services, build_services
from .routes import Blossom, add_cors, build_router, error_response, preflight_headers

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 3.0


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

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with svc.running(owned=owned):
            yield

    app = FastAPI(
        title="Torrent Gateway — Blossom",
        version="0.1.0",
        description="Blossom blob server (BUD-01/02/04/06/08/09/11/12) on the gateway's shared store.",
        lifespan=lifespan,
    )
    app.state.services = svc
    app.state.settings = settings
    app.include_router(create_blossom_router(svc, standalone=True))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> PlainTextResponse:
        try:
            await asyncio.wait_for(asyncio.gather(svc.store.ping(), svc.state.ping()), PROBE_TIMEOUT)
        except Exception as exc:  # any failed probe means "not ready", whatever it raised
            return PlainTextResponse(f"not ready: {type(exc).__name__}", status_code=503)
        return PlainTextResponse("ready")

    def health_probes() -> dict[str, Probe]:
        # Its own dependencies, and what was registered on the shared services: the rate limiter
        # (``torrent-gateway blossom`` runs behind it) adds ``ratelimit``.
        probes: dict[str, Probe] = {"blossom": loop_lag, "storage": svc.store.ping, "state": svc.state.ping}
        probes.update(svc.extras.get("health_probes", {}))
        return probes

    add_component_health(app, settings, health_probes)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # The component is all Blossom: any path answers a CORS preflight. A middleware rather than
    # an OPTIONS route, which would turn every unknown GET into 405 instead of 404.
    app.add_middleware(PreflightMiddleware)
    app.add_middleware(LimitRequestBody, limit=settings.gateway.max_request_body)
    app.add_middleware(RejectControlCharacters)

    @app.exception_handler(StarletteHTTPException)
    async def blossom_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Unknown paths and methods answer in Blossom's form too (X-Reason, CORS).
        response = error_response(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))
        add_cors(response)
        return response

    return app
