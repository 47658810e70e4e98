"""State stores: sessions, challenges, indexes, counters — memory in one process, Redis in a cluster."""

from __future__ import annotations

from ..config import StateSettings
from .base import StateStore, StateUnavailable

__all__ = ["StateStore", "StateUnavailable", "open_state"]


def open_state(settings: StateSettings) -> StateStore:
    if settings.backend == "redis":
        from .redis import RedisStateStore

        return RedisStateStore.from_url(settings.redis_url.get_secret_value())
    from .memory import MemoryStateStore

    return MemoryStateStore()
