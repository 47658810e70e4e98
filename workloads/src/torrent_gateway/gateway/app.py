"""Builds the gateway FastAPI app (in the component shell); in serve mode every other component
is added to it as an extension."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from ..config import Settings
from ..gc import run_periodically
from ..health.endpoint import service_sources
from ..services import Services, build_services
from ..state import StateUnavailable
from ..storage import StoreUnavailable
from ..web.app import component_app
from . import download, files, upload
from .ui import install_api_docs, install_web_ui

log = logging.getLogger(__name__)

# Extensions add routers or start background work once the services exist: (app, services) -> None.
Extension = Callable[[FastAPI, Services], Any]


def create_app(
    settings: Settings,
    services: Services | None = None,
    *,
    extensions: list[Extension] | None = None,
    alerts: bool = False,
    owned: bool | None = None,
) -> FastAPI:
    """The gateway app. ``services`` may be given (tests, serve mode); otherwise the app builds
    them. The app closes at exit the services it built, or those it is told it ``owned``.
    ``alerts`` runs the health monitor in the background."""
    owned = services is None if owned is None else owned
    svc = services or build_services(settings)

    async def rebuild_indexes() -> None:
        try:
            if await svc.state.zcard("idx:recent") == 0:
                # In-memory state starts empty (and a Redis may have been flushed): rebuild the indexes.
                indexed = await svc.catalog.reindex()
                if indexed:
                    log.info("rebuilt indexes of %d files from the manifests", indexed)
        except (StateUnavailable, StoreUnavailable) as exc:
            log.warning("indexes not checked at start (%s); run `torrent-gateway reindex` later", exc)

    svc.supervisor.on_start(rebuild_indexes)
    if settings.gc.enabled:
        svc.supervisor.keep_running("garbage-collector", lambda: run_periodically(svc))
    app = component_app(
        title="Torrent Gateway",
        description="Upload once; download over HTTP ranges, Blossom, BitTorrent (tracker, WebSeed, DHT) and HLS.",
        settings=settings,
        services=svc,
        owned=owned,
        health=service_sources("gateway", svc, alerts=alerts),
        # /docs is served from our own origin by install_api_docs; ReDoc would load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    # Before the components' routes, so that no catch-all (Blossom's /<sha256>) shadows them.
    install_api_docs(app)
    if settings.gateway.web_ui:
        s3 = settings.storage.s3
        redirected = settings.storage.backend == "s3" and s3.redirect_downloads
        # The page's player and previews load /api/download, which then answers from the object store.
        install_web_ui(app, file_origins=(s3.public_endpoint.rstrip("/"),) if redirected else ())
    app.include_router(upload.create_upload_router())
    app.include_router(files.create_files_router())
    app.include_router(download.create_download_router())
    for extension in extensions or []:
        extension(app, svc)

    @app.get("/api", include_in_schema=False)
    async def api_root() -> dict[str, str]:
        return {"name": "torrent-gateway", "docs": "/docs", "openapi": "/openapi.json"}

    return app
