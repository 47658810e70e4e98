"""One gateway replica for the multi-process tests, wired the way the CLI wires it.

``uvicorn --factory tests.integration.ratelimit.replica_app:create``; everything comes from
``TGW_*`` environment variables, so two processes given the same Redis URL form a cluster.
"""

from __future__ import annotations

from torrent_gateway.config import load_settings
from torrent_gateway.gateway.app import create_app
from torrent_gateway.ratelimit import ASGIApp, wrap_with_rate_limits


def create() -> ASGIApp:
    settings = load_settings()
    return wrap_with_rate_limits(create_app(settings), settings)
