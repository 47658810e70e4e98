"""Paging through an owner's index: newest first, cursor, limit, since/until, skipped entries."""

from __future__ import annotations

import pytest
from torrent_gateway.blossom.errors import BlossomError
from torrent_gateway.blossom.listing import Entry, PageQuery, collect_page, first_index
from torrent_gateway.state.memory import MemoryStateStore

KEY = "idx:owner:p"


def sha(i: int) -> str:
    return f"{i:064x}"


@pytest.fixture
async def state() -> MemoryStateStore:
    store = MemoryStateStore()
    # Times 100..109 with a tie at 105 (two members) to pin the (time, sha) order.
    for i in range(10):
        await store.zadd(KEY, sha(i), 100 + i)
    await store.zadd(KEY, sha(50), 105)
    return store


async def keep_all(rows: list[Entry]) -> list[str | None]:
    return [member for member, _ in rows]


async def page(state: MemoryStateStore, **query: object) -> list[str]:
    return await collect_page(state, KEY, PageQuery(**query), keep_all)  # type: ignore[arg-type]


async def test_newest_first_with_ties_by_member(state: MemoryStateStore) -> None:
    everything = await page(state, limit=100)
    assert everything == [
        sha(9),
        sha(8),
        sha(7),
        sha(6),
        sha(50),
        sha(5),
        sha(4),
        sha(3),
        sha(2),
        sha(1),
        sha(0),
    ]


async def test_cursor_walks_every_entry_once(state: MemoryStateStore) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        chunk = await page(state, limit=3, cursor=cursor)
        if not chunk:
            break
        seen += chunk
        cursor = chunk[-1]
    assert seen == await page(state, limit=100)


async def test_since_and_until(state: MemoryStateStore) -> None:
    assert await page(state, limit=100, since=107) == [sha(9), sha(8), sha(7)]
    assert await page(state, limit=100, until=102) == [sha(2), sha(1), sha(0)]
    assert await page(state, limit=100, since=104, until=105) == [sha(50), sha(5), sha(4)]
    assert await page(state, limit=2, cursor=sha(50), until=108) == [sha(5), sha(4)]
    assert await page(state, limit=100, since=200) == []
    assert await page(state, limit=100, until=1) == []


async def test_skipped_entries_do_not_shorten_a_page(state: MemoryStateStore) -> None:
    async def odd_only(rows: list[Entry]) -> list[str | None]:
        return [member if int(member, 16) % 2 else None for member, _ in rows]

    got = await collect_page(state, KEY, PageQuery(limit=3), odd_only, window=2)
    assert got == [sha(9), sha(7), sha(5)]


async def test_unknown_cursor_is_400(state: MemoryStateStore) -> None:
    with pytest.raises(BlossomError) as info:
        await page(state, cursor=sha(77))
    assert info.value.status == 400


async def test_first_index_bounds() -> None:
    values = [5, 4, 3, 2, 1]

    async def at(i: int) -> Entry | None:
        return (str(i), values[i]) if i < len(values) else None

    assert await first_index(5, at, lambda e: e[1] <= 3) == 2
    assert await first_index(5, at, lambda e: True) == 0
    assert await first_index(5, at, lambda e: False) == 5
    assert await first_index(0, at, lambda e: True) == 0
    assert await first_index(8, at, lambda e: e[1] <= 1) == 4
