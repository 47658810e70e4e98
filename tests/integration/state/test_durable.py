"""Cluster mode's durable records: a flushed Redis loses nothing an admin or a user did."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from torrent_gateway.state.durable import MARKER_KEY, DurableStateStore
from torrent_gateway.state.redis import RedisStateStore
from torrent_gateway.storage.filesystem import FilesystemStore

from tests.support.servers import RedisServer

from .conftest import redis_url

DB = 11


@pytest.fixture
async def durable(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[DurableStateStore]:
    redis = RedisStateStore.from_url(redis_url(redis_server, DB))
    await redis.client.flushdb()
    store = DurableStateStore(redis, FilesystemStore(tmp_path / "objects", fsync=False))
    try:
        yield store
    finally:
        await store.close()


async def flush(store: DurableStateStore) -> None:
    assert isinstance(store.inner, RedisStateStore)
    await store.inner.client.flushdb()


async def test_flushed_redis_keeps_bans_blocks_sessions_reports_and_audit(durable: DurableStateStore) -> None:
    await durable.set("ban:alice", b'{"reason":"spam"}')
    await durable.set("block:" + "a" * 64, b'{"reason":"dmca"}')
    await durable.set("auth:session:d1", b'{"pubkey":"p"}', ttl=60)
    await durable.zadd("auth:sessions:p", "d1", 123)
    await durable.zadd("audit", '{"action":"ban"}', 10)
    await durable.zadd("reports", '{"id":"r1"}', 11)
    await durable.set("idx:cache-only", b"rebuilt from manifests")

    await flush(durable)

    # Point lookups fall back to the records; nobody is unbanned, nothing unblocked.
    assert await durable.get("ban:alice") == b'{"reason":"spam"}'
    assert await durable.get("block:" + "a" * 64) == b'{"reason":"dmca"}'
    assert await durable.get("auth:session:d1") == b'{"pubkey":"p"}'
    assert await durable.zrange("auth:sessions:p") == [("d1", 123.0)]
    assert await durable.zrange("audit") == [('{"action":"ban"}', 10.0)]
    assert await durable.zcard("reports") == 1
    assert await durable.scan("ban:") == ["ban:alice"]
    # What only Redis held is gone (the catalog rebuilds it), and the session kept its expiry.
    assert await durable.get("idx:cache-only") is None
    assert await durable.inner.get(MARKER_KEY) == b"1"
    assert 0 < await durable.inner.client.pttl("auth:session:d1") <= 60_000  # type: ignore[attr-defined]


async def test_removals_are_durable_too(durable: DurableStateStore) -> None:
    await durable.set("ban:bob", b"{}")
    await durable.zadd("audit", "one", 1)
    await durable.zadd("audit", "two", 2)
    await durable.set("auth:session:d2", b"{}", ttl=60)
    assert await durable.delete("ban:bob", "auth:session:d2") == 2
    assert await durable.zrem("audit", "one") == 1
    await flush(durable)
    assert await durable.get("ban:bob") is None
    assert await durable.get("auth:session:d2") is None
    assert await durable.zrange("audit") == [("two", 2.0)]
    await durable.delete("audit")
    await flush(durable)
    assert await durable.zcard("audit") == 0


async def test_download_counts_continue_after_a_flush(durable: DurableStateStore) -> None:
    for _ in range(5):
        await durable.incr("stats:downloads:f")
    await asyncio.sleep(0.5)  # the write-behind of the count
    await flush(durable)
    results = await asyncio.gather(*(durable.incr("stats:downloads:f") for _ in range(3)))
    assert sorted(results)[-1] == 8
    assert await durable.get("stats:downloads:f") == b"8"


async def test_expired_sessions_are_not_brought_back(durable: DurableStateStore) -> None:
    await durable.set("auth:session:short", b"{}", ttl=0.2)
    await asyncio.sleep(0.3)
    await flush(durable)
    assert await durable.get("auth:session:short") is None


async def test_hydrate_rebuilds_an_empty_redis(durable: DurableStateStore) -> None:
    await durable.set("ban:carol", b"{}")
    await durable.zadd("reports", "r", 1)
    await flush(durable)
    assert await durable.hydrate() == 2
    assert await durable.inner.get("ban:carol") == b"{}"
    assert await durable.inner.zcard("reports") == 1


async def test_damaged_record_objects_are_skipped_not_fatal(durable: DurableStateStore) -> None:
    await durable.set("ban:kept", b"{}")
    records = durable.records
    await records.put_bytes("state/kv/" + "0" * 64 + ".json", b"\xff not json")
    await records.put_bytes("state/kv/" + "1" * 64 + ".json", b"[1, 2]")
    await records.put_bytes("state/kv/" + "2" * 64 + ".json", b'{"key": "ban:x", "value": "***"}')
    await records.put_bytes("state/kv/" + "3" * 64 + ".json", b'{"key": 5, "value": ""}')
    await records.put_bytes("state/z/" + "4" * 64 + "/m.json", b'{"key": "audit", "member": 1, "score": "x"}')
    await flush(durable)
    assert await durable.get("ban:kept") == b"{}"
    assert await durable.scan("ban:") == ["ban:kept"]
    assert await durable.zcard("audit") == 0


async def test_reindex_command_reloads_the_records_into_redis(
    durable: DurableStateStore, redis_server: RedisServer, tmp_path: Path
) -> None:
    await durable.set("block:" + "b" * 64, b'{"reason":"dmca"}')
    await durable.zadd("audit", "entry", 1)
    await flush(durable)
    env = {
        **os.environ,
        "TGW_STATE__BACKEND": "redis",
        "TGW_STATE__REDIS_URL": redis_url(redis_server, DB),
        "TGW_LOGGING__LEVEL": "WARNING",
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "torrent_gateway.cli", "reindex", "--data", str(tmp_path / "objects")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "reloaded 2 durable records" in result.stdout
    # Straight from Redis, without the wrapper's fallback.
    assert await durable.inner.get("block:" + "b" * 64) == b'{"reason":"dmca"}'
    assert await durable.inner.zcard("audit") == 1
