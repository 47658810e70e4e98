"""The shared core every component is built on: settings, object store, state store, catalog,
ingest pipeline and content reader, created once per process and closed at shutdown.

Components meet here instead of importing each other's internals. A component that offers
something to others (the tracker's swarm view, the DHT node, the Nostr publisher, the rate
limiter) registers it in ``extras`` under a documented name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from .catalog import Catalog
from .config import Settings
from .content import ChunkCache, ContentReader
from .ingest.pipeline import Ingestor
from .state import StateStore, open_state
from .storage import ObjectStore, StoreError, StoreUnavailable, open_store

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: ObjectStore
    state: StateStore
    catalog: Catalog
    ingestor: Ingestor
    reader: ContentReader
    extras: dict[str, Any] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a background task owned by the services; it is cancelled at close()."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    @contextlib.asynccontextmanager
    async def running(self, *, owned: bool) -> AsyncIterator[None]:
        """The life of a process's services, for an app's lifespan: clear staging leftovers of a
        crash, run the registered ``startup`` hooks, then at exit the ``shutdown`` hooks (in
        reverse) and, when this app built the services, close them."""
        await self._check_store()
        removed = await self.store.cleanup_staging()
        if removed:
            log.info("removed %d leftovers of interrupted uploads", removed)
        for starter in self.extras.get("startup", []):
            await starter()
        try:
            yield
        finally:
            for stopper in reversed(self.extras.get("shutdown", [])):
                try:
                    await stopper()
                except Exception:  # one failing stopper must not keep the others from running
                    log.exception("shutdown step %s failed", getattr(stopper, "__qualname__", stopper))
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
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
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
