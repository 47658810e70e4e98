"""Plugging HLS into a gateway process: the stream routes, the transcoder, and its catalog hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .routes import create_stream_router
from .transcoder import Transcoder

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..services import Services


def install_hls(app: FastAPI, services: Services) -> None:
    """A ``create_app`` extension: ``/api/stream/...`` routes, plus background transcoding of every
    new video (catalog ``on_added``) when ``hls.enabled``. Registers ``services.extras["hls"]``
    (the :class:`Transcoder`), an ``hls`` health probe (ffmpeg installed) and a shutdown step."""
    transcoder = services.extras.get("hls")
    if not isinstance(transcoder, Transcoder):
        transcoder = Transcoder(services)
        services.extras["hls"] = transcoder
    app.include_router(create_stream_router())
    if services.settings.hls.enabled:
        services.catalog.on_added.append(transcoder.on_added)
        services.extras.setdefault("health_probes", {})["hls"] = transcoder.ping
    services.catalog.on_removed.append(transcoder.on_removed)
    services.extras.setdefault("shutdown", []).append(transcoder.close)
