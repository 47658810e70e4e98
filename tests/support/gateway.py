"""A real gateway (our app under uvicorn on 127.0.0.1:<free port>) for integration and e2e tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torrent_gateway.config import Settings, load_settings
from torrent_gateway.gateway.app import create_app
from torrent_gateway.services import Services, build_services

from .servers import UvicornThread, free_port


def gateway_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for a loopback test gateway: no public relays or routers, small limits unless overridden."""
    base: dict[str, dict[str, Any]] = {
        "storage": {"path": str(data_dir)},
        "nostr": {"relays": [], "publish": False},
        "dht": {"enabled": False, "bootstrap_nodes": []},
        "rate_limiting": {"enabled": False},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return load_settings(None, **base)


class RunningGateway:
    def __init__(self, settings: Settings, services: Services, server: UvicornThread) -> None:
        self.settings = settings
        self.services = services
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.contextmanager
def running_gateway(
    data_dir: Path, extensions: list[Any] | None = None, **sections: dict[str, Any]
) -> Iterator[RunningGateway]:
    port = free_port()
    sections.setdefault("gateway", {})
    sections["gateway"].setdefault("public_url", f"http://127.0.0.1:{port}")
    sections["gateway"].setdefault("port", port)
    settings = gateway_settings(data_dir, **sections)
    services = build_services(settings)
    app = create_app(settings, services, extensions=extensions)
    services.extras.setdefault("shutdown", []).insert(0, services.close)
    with UvicornThread(app, port=port) as server:
        yield RunningGateway(settings, services, server)
