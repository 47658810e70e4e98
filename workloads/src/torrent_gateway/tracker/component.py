"""The tracker as a component of its own: ``torrent-gateway tracker`` and the uvicorn factory.

The tracker's hot path (``/announce``, ``/scrape``, the WebSocket) is :class:`~.app.Tracker`'s
own ASGI code; everything else falls through to the component shell's app, so the tracker
answers the same ``/healthz``, ``/readyz``, ``/api/health`` and ``/metrics`` as every component.
Its health is its event loop (under ``tracker``), the swarm store (``swarms``) and, with the
catalog, the state store (``state``); it cannot answer announces without them, so they are
required (503 when one is down).
"""

from __future__ import annotations

from typing import Any, cast

from ..config import Settings, load_settings
from ..health.endpoint import HealthSources
from ..health.monitor import REQUIRED
from ..health.probes import process_probe
from ..services import Probe
from ..state import StateStore, open_state
from ..supervisor import Supervisor
from ..web.app import component_app
from .app import Tracker, open_swarm_store
from .logic import KnownCheck


def known_infohash(state: StateStore) -> KnownCheck:
    """The tracker's 'known' policy: an infohash this gateway holds (the catalog's index)."""

    async def is_known(info_hash: bytes) -> bool:
        return await state.hget("idx:infohash", info_hash.hex()) is not None

    return is_known


def build_tracker_app(settings: Settings, *, catalog: bool = True) -> Any:
    """The tracker component on ``tracker.port`` (UDP on the same number when ``tracker.udp``).

    With ``catalog`` the 'known' policy asks the shared state store which infohashes the
    gateways hold; without it (the bare uvicorn factory) every infohash is accepted.
    """
    supervisor = Supervisor()
    swarms = open_swarm_store(settings)
    state = open_state(settings.state, data_dir=settings.storage.path) if catalog else None
    tracker = Tracker(
        settings, swarms, is_known=known_infohash(state) if state is not None else None, supervisor=supervisor
    )

    async def start() -> None:
        await tracker.start()
        if settings.tracker.udp:
            await tracker.start_udp(settings.tracker.host, settings.tracker.port, reuse_port=True)

    supervisor.on_start(start)
    if state is not None:
        supervisor.on_stop(state.close)
    supervisor.on_stop(tracker.close)
    probes: dict[str, Probe] = {"tracker": process_probe(supervisor), "swarms": swarms.ping}
    ready: dict[str, Probe] = {"swarms": swarms.ping}
    if state is not None:
        probes["state"] = ready["state"] = state.ping
    shell = component_app(
        title="Torrent Gateway tracker",
        description="BitTorrent tracker: HTTP, UDP and WebSocket announces and scrapes.",
        settings=settings,
        health=HealthSources(
            settings=settings,
            supervisor=supervisor,
            probes=lambda: probes,
            ready=lambda: ready,
            required=REQUIRED | {"swarms"},
        ),
    )
    app = cast(Any, tracker.asgi(cast(Any, shell)))
    app.app = shell  # lets wrappers and tests walk down to the FastAPI app
    return app


def create_standalone_app(settings: Settings | None = None) -> Any:
    """The tracker alone, for ``uvicorn --factory torrent_gateway.tracker.component:create_standalone_app``.

    Settings come from the usual sources (``TGW_CONFIG``, ``TGW_TRACKER__*`` ...); UDP binds
    ``tracker.host:tracker.port`` with SO_REUSEPORT so several workers can share it (workers
    share swarms only with the Redis store). The HTTP port is uvicorn's. It has no catalog: the
    'known' policy accepts every infohash here.
    """
    return build_tracker_app(settings or load_settings(), catalog=False)
