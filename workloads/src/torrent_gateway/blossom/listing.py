"""Paging through a pubkey's blobs, newest first (BUD-12 ``GET /list/<pubkey>``).

The catalog keeps ``idx:owner:<pubkey>`` (sha256 → time the owner added it). Read highest
score first, the set is ordered by (time, sha256) descending — the same order for the memory
and Redis backends. A page starts after the cursor (the last sha256 the client saw) and
after ``until``; it stops at ``since``. The start is found by binary search over ranks, so a
page costs O(log n) single-entry reads plus the page itself, whatever the owner holds.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..state import StateStore
from .errors import BlossomError

Entry = tuple[str, float]
T = TypeVar("T")


@dataclass(frozen=True)
class PageQuery:
    cursor: str | None = None
    limit: int = 100
    since: float | None = None
    until: float | None = None


async def first_index(
    size: int, entry_at: Callable[[int], Awaitable[Entry | None]], after: Callable[[Entry], bool]
) -> int:
    """The smallest index whose entry satisfies ``after`` (a predicate false then true along the order)."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        entry = await entry_at(mid)
        # A missing entry means the set shrank meanwhile: the tail counts as past the end.
        if entry is None or after(entry):
            hi = mid
        else:
            lo = mid + 1
    return lo


def start_predicate(cursor: Entry | None, until: float | None) -> Callable[[Entry], bool]:
    """True for entries that may be on the page: older than the cursor and not newer than ``until``."""

    def after(entry: Entry) -> bool:
        member, score = entry
        # Clients see whole seconds (``uploaded``); bounds apply to those.
        if until is not None and math.floor(score) > until:
            return False
        return not (cursor is not None and (score, member) >= (cursor[1], cursor[0]))

    return after


async def owner_entries(
    state: StateStore, key: str, query: PageQuery
) -> tuple[int, Callable[[int, int], Awaitable[list[Entry]]]]:
    """(start rank, reader of ranks) for the page described by ``query``."""
    size = await state.zcard(key)
    cursor: Entry | None = None
    if query.cursor is not None:
        score = await state.zscore(key, query.cursor)
        if score is None:
            raise BlossomError(
                400, "cursor is not a blob of this pubkey (pass the last sha256 of the previous page)"
            )
        cursor = (query.cursor, score)

    async def entry_at(index: int) -> Entry | None:
        rows = await state.zrange(key, index, index, desc=True)
        return rows[0] if rows else None

    start = 0
    if cursor is not None or query.until is not None:
        start = await first_index(size, entry_at, start_predicate(cursor, query.until))

    async def read(begin: int, count: int) -> list[Entry]:
        return await state.zrange(key, begin, begin + count - 1, desc=True)

    return start, read


async def collect_page(
    state: StateStore,
    key: str,
    query: PageQuery,
    resolve: Callable[[list[Entry]], Awaitable[list[T | None]]],
    window: int = 100,
) -> list[T]:
    """Up to ``query.limit`` resolved entries from the page start. ``resolve`` maps a batch of
    entries to items, None for those to skip (stale index entries, hidden files), so a short
    page always means the end of the list."""
    start, read = await owner_entries(state, key, query)
    page: list[T] = []
    position = start
    # Bounded: every round consumes at least one entry or ends the loop.
    while len(page) < query.limit:
        rows = await read(position, min(window, query.limit - len(page)))
        if not rows:
            break
        position += len(rows)
        if query.since is not None:
            fresh = [row for row in rows if math.floor(row[1]) >= query.since]
            ended = len(fresh) < len(rows)
            rows = fresh
        else:
            ended = False
        page.extend(item for item in await resolve(rows) if item is not None)
        if ended:
            break
    return page[: query.limit]
