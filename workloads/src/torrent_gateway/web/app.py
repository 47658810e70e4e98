"""The shell of every component's ASGI app: ``component_app()``.

Each component (gateway, Blossom, tracker, DHT node) is a FastAPI app built here with the same
parts, so they behave alike and a fix lands in all of them:

* a lifespan that runs the process's services (store check, staging clean-up, the supervisor's
  start steps and loops, and at exit the reverse), closing them when the app built them;
* the one health endpoint (``/healthz``, ``/readyz``, ``/api/health``, ``/api/diagnostics``,
  ``/metrics``) over the component's :class:`~torrent_gateway.health.endpoint.HealthSources`;
* one error shape: JSON ``detail``, with the common statuses documented on every operation, and
  an unreachable object store as 503 with ``Retry-After``;
* limits: a streamed body cap on every non-upload route and the refusal of control characters
  in the request line and headers.

The component then adds its routers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.middleware import Middleware

from ..config import Settings
from ..health.endpoint import HealthSources, create_health_router
from ..services import Services
from ..storage import StoreUnavailable
from .deps import error_responses
from .guards import LimitRequestBody, RejectControlCharacters

COMMON_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 429, 451, 503)
VERSION = "0.1.0"


def component_app(
    *,
    title: str,
    description: str,
    settings: Settings,
    health: HealthSources,
    services: Services | None = None,
    owned: bool = False,
    middleware: Sequence[Middleware] = (),
    **fastapi_options: Any,
) -> FastAPI:
    """A component's app with the parts above; ``services`` are run by its lifespan (and closed
    when ``owned``); a component without them (the tracker) runs ``health.supervisor`` alone.
    ``middleware`` runs inside the shell's limits."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            async with services.running(owned=owned):
                yield
            return
        await health.supervisor.start()
        try:
            yield
        finally:
            await health.supervisor.stop()

    app = FastAPI(
        title=title,
        version=VERSION,
        description=description,
        lifespan=lifespan,
        middleware=[
            Middleware(RejectControlCharacters),
            Middleware(LimitRequestBody, limit=settings.gateway.max_request_body),
            *middleware,
        ],
        **fastapi_options,
    )
    app.state.services = services
    app.state.settings = settings
    router, monitor = create_health_router(health)
    app.state.health_monitor = monitor
    app.include_router(router)
    _document_common_errors(app)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": "object store unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": "10"},
        )

    return app


def _document_common_errors(app: FastAPI) -> None:
    """Every API route shares one error shape (JSON ``detail``) and the same middleware (rate limits,
    auth, backends): document those statuses on every operation so clients and schema checkers know them."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    if isinstance(operation, dict) and "responses" in operation:
                        for code, entry in error_responses(*COMMON_ERRORS).items():
                            operation["responses"].setdefault(str(code), entry)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
