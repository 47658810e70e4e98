"""What only the SQLite backend has: a file that outlives the process, a SIGKILL included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from torrent_gateway.config import StateSettings
from torrent_gateway.state import open_state, sqlite_file
from torrent_gateway.state.base import StateUnavailable
from torrent_gateway.state.sqlite import SQLiteStateStore

from tests.support.clock import FakeClock


async def test_reopened_file_keeps_every_kind_of_record_and_its_ttl(tmp_path: Path) -> None:
    clock = FakeClock(now=1_000_000.0)
    path = tmp_path / "state.sqlite3"
    store = SQLiteStateStore(path, clock=clock)
    await store.set("ban:abc", b'{"reason":"spam"}')
    await store.set("auth:session:d1", b"session", ttl=60)
    await store.incr("stats:downloads:f1", 3)
    await store.zadd("audit", "entry-1", 5.0)
    await store.hset("idx:infohash", "ih", b"sha")
    await store.close()

    clock.advance(30)
    reopened = SQLiteStateStore(path, clock=clock)
    try:
        assert await reopened.get("ban:abc") == b'{"reason":"spam"}'
        assert await reopened.get("auth:session:d1") == b"session"
        assert await reopened.get("stats:downloads:f1") == b"3"
        assert await reopened.zrange("audit") == [("entry-1", 5.0)]
        assert await reopened.hget("idx:infohash", "ih") == b"sha"
        clock.advance(31)  # the session's deadline is wall-clock time, kept across the restart
        assert await reopened.get("auth:session:d1") is None
    finally:
        await reopened.close()


async def test_deferred_counts_are_read_back_and_written_at_close(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SQLiteStateStore(path, checkpoint_interval=0)
    for _ in range(10):
        await store.incr("stats:downloads:f")
    assert await store.get("stats:downloads:f") == b"10"
    assert await store.scan("stats:") == ["stats:downloads:f"]
    assert await store.incr("stats:downloads:g", 5) == 5
    await store.close()
    reopened = SQLiteStateStore(path, checkpoint_interval=0)
    try:
        assert await reopened.get("stats:downloads:f") == b"10"
        assert await reopened.get("stats:downloads:g") == b"5"
    finally:
        await reopened.close()


def test_writes_survive_sigkill_of_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from torrent_gateway.state.sqlite import SQLiteStateStore

        async def main():
            store = SQLiteStateStore({str(path)!r}, checkpoint_interval=3600)
            for i in range(200):
                await store.incr("stats:downloads:f", 1)
                await store.set(f"block:{{i}}", b"x")  # every other write commits pending counts too
            for i in range(100):
                await store.incr("stats:downloads:f", 1)  # a burst of counts alone: group-committed
            await asyncio.sleep(0.3)  # longer than COUNTER_COMMIT_DELAY
            print("written", flush=True)
            time.sleep(60)

        asyncio.run(main())
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ.copy(), text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "written"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # No checkpoint ran and no close: everything is only in the WAL, which recovery replays.
    assert (tmp_path / "state.sqlite3-wal").stat().st_size > 0

    async def check() -> None:
        store = SQLiteStateStore(path)
        try:
            assert await store.get("stats:downloads:f") == b"300"
            assert len(await store.scan("block:")) == 200
        finally:
            await store.close()

    import asyncio

    asyncio.run(check())


async def test_open_state_puts_the_file_under_the_data_directory(tmp_path: Path) -> None:
    settings = StateSettings()
    assert settings.backend == "sqlite"
    assert sqlite_file(settings, tmp_path) == tmp_path / "state.sqlite3"
    store = open_state(settings, data_dir=tmp_path / "data")
    try:
        assert isinstance(store, SQLiteStateStore)
        await store.set("k", b"v")
        assert (tmp_path / "data" / "state.sqlite3").is_file()
        for name in ("state.sqlite3", "state.sqlite3-wal"):
            assert (tmp_path / "data" / name).stat().st_mode & 0o777 == 0o600, name
    finally:
        await store.close()
    explicit = StateSettings(backend="sqlite", sqlite_path=str(tmp_path / "elsewhere" / "s.db"))
    assert sqlite_file(explicit, tmp_path) == tmp_path / "elsewhere" / "s.db"


def test_an_unusable_file_is_state_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("file")
    with pytest.raises(StateUnavailable, match="not-a-dir"):
        SQLiteStateStore(blocker / "state.sqlite3")


def test_counts_are_committed_when_each_call_has_its_own_event_loop(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "state.sqlite3"
    store = SQLiteStateStore(path, checkpoint_interval=0)
    asyncio.run(store.incr("stats:downloads:f"))  # its loop closes before the commit is due

    async def later() -> None:
        await store.incr("stats:downloads:f")
        await asyncio.sleep(0.3)

    asyncio.run(later())
    other = SQLiteStateStore(path, checkpoint_interval=0)
    try:
        assert asyncio.run(other.get("stats:downloads:f")) == b"2"  # committed, seen by another connection
    finally:
        asyncio.run(other.close())
        asyncio.run(store.close())


async def test_expired_rows_are_swept_from_the_file(tmp_path: Path) -> None:
    from torrent_gateway.state.sqlite import SWEEP_EVERY_WRITES

    clock = FakeClock(now=1_000_000.0)
    store = SQLiteStateStore(tmp_path / "state.sqlite3", clock=clock, checkpoint_interval=0)
    try:
        for i in range(50):
            await store.set(f"auth:challenge:{i}", b"1", ttl=10)
        await store.zadd("z-short", "m", 1)
        await store.expire("z-short", 10)
        clock.advance(11)
        for i in range(SWEEP_EVERY_WRITES):
            await store.set("other", str(i).encode())
        rows = store._query("SELECT COUNT(*) FROM kv WHERE key != 'other'", ())
        assert rows[0][0] == 0
        assert store._query("SELECT COUNT(*) FROM zset", ())[0][0] == 0
        assert await store.get("other") == str(SWEEP_EVERY_WRITES - 1).encode()
    finally:
        await store.close()
