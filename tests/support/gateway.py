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
        # Many tests look a new upload up in the recent list; the security tests turn it off.
        "gateway": {"public_file_list": True},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return load_settings(None, **base)


class RunningGateway:
    def __init__(self, settings: Settings, services: Services, server: UvicornThread, app: Any) -> None:
        self.settings = settings
        self.services = services
        self.server = server
        self.app = app

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.contextmanager
def running_gateway(
    data_dir: Path,
    extensions: list[Any] | None = None,
    *,
    serve: bool = False,
    alerts: bool = False,
    **sections: dict[str, Any],
) -> Iterator[RunningGateway]:
    """A gateway on a free port. ``serve=True`` runs the full one-process composition of the CLI's
    serve; ``alerts`` runs the health monitor in the background as the gateway component does."""
    port = free_port()
    sections.setdefault("gateway", {})
    sections["gateway"].setdefault("public_url", f"http://127.0.0.1:{port}")
    sections["gateway"].setdefault("port", port)
    settings = gateway_settings(data_dir, **sections)
    if serve:
        from torrent_gateway.runtime import build_serve_app

        app = build_serve_app(settings)
        services = find_services(app)
    else:
        services = build_services(settings)
        app = create_app(settings, services, owned=True, extensions=extensions, alerts=alerts)
    with UvicornThread(app, port=port) as server:
        yield RunningGateway(settings, services, server, app)


def find_state(app: Any, name: str) -> Any:
    """``app.state.<name>`` of a (possibly middleware-wrapped) app."""
    current = app
    for _ in range(10):
        state = getattr(current, "state", None)
        if state is not None and hasattr(state, name):
            return getattr(state, name)
        current = getattr(current, "app", None)
    raise LookupError(f"no {name} found on the app")


def find_services(app: Any) -> Services:
    """The Services of a (possibly middleware-wrapped) serve app."""
    return find_state(app, "services")  # type: ignore[no-any-return]


def hls_of(gateway: RunningGateway) -> Any:
    """The HLS transcoder of a running gateway (``install_hls`` leaves it on ``app.state.hls``)."""
    return find_state(gateway.app, "hls")
