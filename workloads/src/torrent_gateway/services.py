"""The shared core every component is built on: settings, object store, state store, catalog,
ingest pipeline and content reader, created once per process and closed at shutdown, and the
process's :class:`~torrent_gateway.supervisor.Supervisor`.

Components meet here instead of importing each other's internals. What one component offers
the others is a typed attribute whose type is a small protocol declared here, so the core names
what it needs without importing the component that provides it:

* ``authenticator`` (:class:`Authentication`): sessions and bans of the accounts package; the
  gateway's file routes, Blossom and the monitoring endpoints ask it who is calling;
* ``alert_dm`` (:data:`DirectMessage`): a NIP-17 message to an admin, set by the Nostr package when
  ``monitoring.alert_nostr_dm`` is on; the health monitor's alerts use it;
* ``server_identity`` (:class:`ServerIdentity`): the server's Nostr key, set by the Nostr package;
* ``probes``: health probes by component name (the tracker's swarm store, the DHT node, the
  seeder, HLS, the rate limiter add theirs);
* ``diagnostics``: sections of ``/api/diagnostics`` by name (the tracker's swarm counts, the
  DHT node's details).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .catalog import Catalog
from .config import Settings
from .content import ChunkCache, ContentReader
from .ingest.pipeline import Ingestor
from .state import StateStore, open_state
from .storage import ObjectStore, StoreError, StoreUnavailable, open_store
from .supervisor import Supervisor

if TYPE_CHECKING:
    from starlette.requests import Request

log = logging.getLogger(__name__)

# A health probe: an async callable whose result the health package scores (see health.monitor).
Probe = Callable[[], Awaitable[Any]]
# A section of /api/diagnostics.
DiagnosticsSection = Callable[[], Awaitable[dict[str, Any]]]
# (recipient pubkey hex, text) -> delivered to the recipient's inbox relays.
DirectMessage = Callable[[str, str], Awaitable[None]]


class Authentication(Protocol):
    """Who is calling, and may they administer: what the core asks of the accounts package."""

    async def authenticate(self, request: Request) -> str | None: ...

    async def is_admin(self, pubkey: str) -> bool: ...


class ServerIdentity(Protocol):
    """The server's Nostr identity (its key pair lives in the Nostr package)."""

    @property
    def pubkey(self) -> str: ...


@dataclass
class Services:
    settings: Settings
    store: ObjectStore
    state: StateStore
    catalog: Catalog
    ingestor: Ingestor
    reader: ContentReader
    supervisor: Supervisor = field(default_factory=Supervisor)
    authenticator: Authentication | None = None
    alert_dm: DirectMessage | None = None
    server_identity: ServerIdentity | None = None
    probes: dict[str, Probe] = field(default_factory=dict)
    diagnostics: dict[str, DiagnosticsSection] = field(default_factory=dict)
    _closed: bool = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """One piece of background work owned by the process's supervisor (cancelled at stop)."""
        return self.supervisor.spawn(coro, name)

    @contextlib.asynccontextmanager
    async def running(self, *, owned: bool) -> AsyncIterator[None]:
        """The life of a process's services, for an app's lifespan: clear staging leftovers of a
        crash, start the supervisor (its start steps, then its loops), then at exit stop it (its
        tasks, then its stop steps in reverse) and, when this app built the services, close them."""
        await self._check_store()
        removed = await self.store.cleanup_staging()
        if removed:
            log.info("removed %d leftovers of interrupted uploads", removed)
        await self.supervisor.start()
        try:
            yield
        finally:
            await self.supervisor.stop()
            if owned:
                await self.close()

    async def _check_store(self) -> None:
        # A store that refuses us (wrong credentials) is a configuration error: the process stops at
        # start with the store's message rather than failing the first upload. One that is merely
        # unreachable may come up later (pods start before MinIO): /readyz reports it meanwhile.
        try:
            await self.store.ping()
        except StoreUnavailable as exc:
            log.warning("object store not reachable at start (%s); readiness reports it until it is", exc)
        except StoreError as exc:
            log.error("object store refused at start: %s", exc)
            raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.supervisor.cancel()
        await self.catalog.drain_hooks()
        await self.store.close()
        await self.state.close()


def build_services(
    settings: Settings, *, store: ObjectStore | None = None, state: StateStore | None = None
) -> Services:
    store = store or open_store(settings.storage)
    state = state or open_state(settings.state, data_dir=settings.storage.path, records=store)
    catalog = Catalog(store, state)
    cache = ChunkCache(settings.gateway.chunk_cache_bytes)
    return Services(
        settings=settings,
        store=store,
        state=state,
        catalog=catalog,
        ingestor=Ingestor(settings, store, catalog),
        reader=ContentReader(store, cache),
    )
