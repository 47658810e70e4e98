"""Plugging HLS into a gateway process: the stream routes, the transcoder, and its catalog hooks."""

from __future__ import annotations

from fastapi import FastAPI

from ..services import Services
from .routes import create_stream_router
from .transcoder import Transcoder


def install_hls(app: FastAPI, services: Services) -> Transcoder:
    """A ``create_app`` extension: ``/api/stream/...`` routes, plus background transcoding of every
    new video (catalog ``on_added``) when ``hls.enabled``, with an ``hls`` health probe (ffmpeg
    installed) and a stop step. The transcoder is also ``app.state.hls`` (tests count its jobs)."""
    transcoder = Transcoder(services)
    app.state.hls = transcoder
    app.include_router(create_stream_router(transcoder))
    if services.settings.hls.enabled:
        services.catalog.on_added.append(transcoder.on_added)
        services.probes["hls"] = transcoder.ping
    services.catalog.on_removed.append(transcoder.on_removed)
    services.supervisor.on_stop(transcoder.close)
    return transcoder
