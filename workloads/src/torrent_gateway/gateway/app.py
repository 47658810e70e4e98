"""Builds the gateway FastAPI app; its lifespan owns the shared services of the process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..config import Settings
from ..services import Services, build_services
from ..state import StateUnavailable
from ..storage import StoreUnavailable
from . import download, files, health, upload
from .guards import LimitRequestBody, RejectControlCharacters
from .web import install_api_docs, install_web_ui

log = logging.getLogger(__name__)

# Extensions add routers or start background work once the services exist: (app, services) -> None.
Extension = Callable[[FastAPI, Services], Any]


COMMON_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 429, 451, 503)


def _document_common_errors(app: FastAPI) -> None:
    """Every API route shares one error shape (JSON ``detail``) and the same middleware (rate limits,
    auth, backends): document those statuses on every operation so clients and schema checkers know them."""
    from fastapi.openapi.utils import get_openapi

    from .deps import error_responses

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


def create_app(
    settings: Settings,
    services: Services | None = None,
    *,
    extensions: list[Extension] | None = None,
) -> FastAPI:
    """The gateway app. ``services`` may be given (tests, serve mode); otherwise the lifespan builds them."""
    owned = services is None
    svc = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with svc.running(owned=owned):
            try:
                if await svc.state.zcard("idx:recent") == 0:
                    # In-memory state starts empty (and a Redis may have been flushed): rebuild the indexes.
                    indexed = await svc.catalog.reindex()
                    if indexed:
                        log.info("rebuilt indexes of %d files from the manifests", indexed)
            except (StateUnavailable, StoreUnavailable) as exc:
                log.warning("indexes not checked at start (%s); run `torrent-gateway reindex` later", exc)
            if settings.gc.enabled:
                from ..gc import run_periodically

                svc.spawn(run_periodically(svc), "garbage-collector")
            yield

    app = FastAPI(
        title="Torrent Gateway",
        version="0.1.0",
        description="Upload once; download over HTTP ranges, Blossom, BitTorrent (tracker, WebSeed, DHT) and HLS.",
        lifespan=lifespan,
        # /docs is served from our own origin by install_api_docs; ReDoc would load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = svc
    app.state.settings = settings
    # First, so that no route of a component (a catch-all such as Blossom's /<sha256>) shadows them.
    install_api_docs(app)
    if settings.gateway.web_ui:
        install_web_ui(app)
    app.include_router(upload.router)
    app.include_router(files.router)
    app.include_router(download.router)
    app.include_router(health.router)
    for extension in extensions or []:
        extension(app, svc)
    _document_common_errors(app)
    app.add_middleware(LimitRequestBody, limit=settings.gateway.max_request_body)
    app.add_middleware(RejectControlCharacters)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": "object store unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": "10"},
        )

    @app.get("/api", include_in_schema=False)
    async def api_root() -> dict[str, str]:
        return {"name": "torrent-gateway", "docs": "/docs", "openapi": "/openapi.json"}

    return app
