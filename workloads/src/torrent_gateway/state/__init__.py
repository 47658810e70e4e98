"""State stores: sessions, challenges, indexes, counters — SQLite (durable) or memory in one
process, Redis in a cluster (with the records that must outlive a cache kept in the object store)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config import StateSettings
from .base import StateStore, StateUnavailable

if TYPE_CHECKING:
    from ..storage.base import ObjectStore

__all__ = ["StateStore", "StateUnavailable", "open_state", "sqlite_file"]


def sqlite_file(settings: StateSettings, data_dir: str | Path) -> Path:
    """Where the sqlite backend keeps its file: ``state.sqlite_path`` or ``<storage.path>/state.sqlite3``."""
    return Path(settings.sqlite_path) if settings.sqlite_path else Path(data_dir) / "state.sqlite3"


def open_state(
    settings: StateSettings, *, data_dir: str | Path = "./data", records: ObjectStore | None = None
) -> StateStore:
    """The configured store. With ``records`` (the object store), a Redis store also writes the
    records that must outlive a cache (bans, blocks, reports, audit, sessions, download counts)
    durably there and falls back to them when Redis has lost them."""
    if settings.backend == "redis":
        from .redis import RedisStateStore

        redis = RedisStateStore.from_url(settings.redis_url.get_secret_value())
        if records is None:
            return redis
        from .durable import DurableStateStore

        return DurableStateStore(redis, records)
    if settings.backend == "sqlite":
        from .sqlite import SQLiteStateStore

        return SQLiteStateStore(sqlite_file(settings, data_dir))
    from .memory import MemoryStateStore

    return MemoryStateStore()
