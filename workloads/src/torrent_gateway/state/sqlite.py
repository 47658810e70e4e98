"""State store in one SQLite file: the durable default of one-process mode (``serve``).

Sessions, bans, blocked hashes, reports, the audit log, download counts and the indexes all
live in ``<storage.path>/state.sqlite3`` (or ``state.sqlite_path``) and survive a restart, a
SIGKILL included.

Design:

* One connection, used only from the event loop's thread, in autocommit mode with WAL and
  ``synchronous=NORMAL``. Every operation is a handful of statements that run without an
  ``await`` in between, so the loop itself serialises them: each is atomic against every other
  caller without locks, and a read costs microseconds instead of a thread hop.
* A commit under WAL/NORMAL is a ``write()`` into the WAL file (kept by the OS when the process
  is killed) and no fsync. The fsyncs happen at checkpoints, which this connection never runs
  (``wal_autocheckpoint=0``): a daemon thread with a connection of its own checkpoints the WAL
  every few seconds, so the event loop never waits for the disk to flush.
* TTLs are wall-clock deadlines (``time.time()``), so they hold across restarts. An expired key
  reads as absent at once; a periodic sweep deletes the rows nobody reads again.
* Counters without a TTL (download counts: one increment per download) are group-committed: an
  increment updates an in-memory delta at once — every read and every later write sees it — and
  the deltas reach the file in one transaction at most ``COUNTER_COMMIT_DELAY`` later (or before
  any other write, or at close). A commit per download would cost the download path a tenth of
  its speed; a crash may lose the last fraction of a second of counts, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .base import StateStore, StateUnavailable

Clock = Callable[[], float]
log = logging.getLogger(__name__)

KIND_STRING = 0
KIND_ZSET = 1
KIND_HASH = 2

CHECKPOINT_INTERVAL = 5.0
COUNTER_COMMIT_DELAY = 0.05
SWEEP_EVERY_WRITES = 1024
BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    kind INTEGER NOT NULL,
    value BLOB,
    expires REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires ON kv(expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS zset (
    key TEXT NOT NULL,
    member TEXT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (key, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS zset_rank ON zset(key, score, member);
CREATE TABLE IF NOT EXISTS hash (
    key TEXT NOT NULL,
    field TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (key, field)
) WITHOUT ROWID;
"""


# Overwrite a string (or create it); a collection under the key matches no row (slow path).
_SET_STRING = """
INSERT INTO kv(key, kind, value, expires) VALUES (?1, 0, ?2, ?3)
ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires WHERE kv.kind = 0
RETURNING 1
"""

# Counters are kept as decimal TEXT. An expired counter starts again (with the new TTL); an
# existing one keeps its expiry. A collection or a non-integer value matches no row (slow path).
_INCR = """
INSERT INTO kv(key, kind, value, expires) VALUES (:key, 0, CAST(:amount AS TEXT), :deadline)
ON CONFLICT(key) DO UPDATE SET
    value = CASE WHEN kv.expires IS NOT NULL AND kv.expires <= :now THEN CAST(:amount AS TEXT)
                 ELSE CAST(CAST(kv.value AS INTEGER) + :amount AS TEXT) END,
    expires = CASE WHEN kv.expires IS NOT NULL AND kv.expires <= :now THEN :deadline ELSE kv.expires END
WHERE kv.kind = 0 AND CAST(CAST(kv.value AS INTEGER) AS TEXT) = CAST(kv.value AS TEXT)
RETURNING value
"""


def _as_bytes(value: Any) -> bytes:
    # Values are BLOBs, except counters, which the single-statement increment keeps as TEXT.
    return value.encode() if isinstance(value, str) else bytes(value)


def _like_escape(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Checkpointer(threading.Thread):
    """Moves the WAL into the database file (and fsyncs) away from the event loop."""

    def __init__(self, path: Path, interval: float) -> None:
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self._path = path
        self._interval = interval
        self._stopping = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        try:
            while not self._stopping.wait(self._interval):
                with contextlib.suppress(sqlite3.Error):
                    # PASSIVE never waits for readers or the writer; what it cannot copy now waits.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)


class SQLiteStateStore(StateStore):
    name = "sqlite"

    def __init__(
        self, path: str | Path, *, clock: Clock = time.time, checkpoint_interval: float = CHECKPOINT_INTERVAL
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._writes = 0
        # Serve runs everything on one loop, but tests and embedders may call from a second thread;
        # an uncontended lock costs nanoseconds and keeps two threads' transactions apart.
        self._lock = threading.RLock()
        # Group-committed counters: key -> (value in the file when first deferred, delta since).
        self._counters: dict[str, tuple[int, int]] = {}
        self._counter_commit: asyncio.TimerHandle | None = None
        self._counter_loop: asyncio.AbstractEventLoop | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                # Session digests and moderation records: readable by this service only. SQLite
                # gives the -wal and -shm files the database file's mode.
                self.path.touch(mode=0o600)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StateUnavailable(f"sqlite state file {self.path}: {exc}") from exc
        self._checkpointer: _Checkpointer | None = None
        if checkpoint_interval > 0:
            self._checkpointer = _Checkpointer(self.path, checkpoint_interval)
            self._checkpointer.start()

    # -- plumbing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front (another process,
        e.g. ``torrent-gateway reindex`` on the same file, waits instead of deadlocking)."""
        db = self._db
        with self._lock:
            deferred = dict(self._counters)
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    self._apply_counters(db)
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except BaseException as exc:
                # Rolled back: the deferred counts were not written, keep them for the next commit.
                for key, value in deferred.items():
                    self._counters.setdefault(key, value)
                if isinstance(exc, sqlite3.OperationalError):
                    raise StateUnavailable(f"sqlite state store: {exc}") from exc
                raise
            self._writes += 1
            if self._writes % SWEEP_EVERY_WRITES == 0:
                self._sweep()

    def _write_one(self, sql: str, params: Any) -> Any:
        """One self-contained write statement with RETURNING; None when it matched no row."""
        with self._lock:
            if self._counters:
                self._commit_counters()
            try:
                rows = self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StateUnavailable(f"sqlite state store: {exc}") from exc
            self._writes += 1
            if self._writes % SWEEP_EVERY_WRITES == 0:
                self._sweep()
        return rows[0] if rows else None

    def _apply_counters(self, db: sqlite3.Connection) -> None:
        """Write the deferred counter deltas inside the caller's transaction."""
        if not self._counters:
            return
        now = self._clock()
        for key, (_, delta) in self._counters.items():
            db.execute(_INCR, {"key": key, "amount": delta, "deadline": None, "now": now}).fetchall()
        self._counters.clear()

    def _commit_counters(self) -> None:
        with self._lock:
            if not self._counters:
                return
            try:
                with self._tx():
                    pass  # _tx writes the deltas first; on failure it keeps them for the next try
            except StateUnavailable as exc:
                log.warning("download counts not committed yet: %s", exc)

    def _scheduled_commit(self) -> None:
        self._counter_commit = None
        self._commit_counters()
        if self._counters:
            self._schedule_counter_commit()

    def _schedule_counter_commit(self) -> None:
        loop = asyncio.get_running_loop()
        # A commit scheduled on another loop (an embedder that ran one loop per call, now closed)
        # would never run: schedule one here.
        if self._counter_commit is None or self._counter_loop is not loop:
            self._counter_loop = loop
            self._counter_commit = loop.call_later(COUNTER_COMMIT_DELAY, self._scheduled_commit)

    def _deferred_incr(self, key: str, amount: int) -> int | None:
        """The new value of a TTL-less counter, with the write deferred; None when the key is not
        such a counter (absent, or an integer string without expiry) and must be written now."""
        with self._lock:
            entry = self._counters.get(key)
            if entry is None:
                rows = self._query("SELECT kind, value, expires FROM kv WHERE key = ?", (key,))
                if not rows:
                    base = 0
                else:
                    kind, value, expires = rows[0]
                    if kind != KIND_STRING or expires is not None:
                        return None
                    try:
                        base = int(_as_bytes(value))
                    except ValueError:
                        return None
                entry = (base, 0)
            base, delta = entry
            self._counters[key] = (base, delta + amount)
        self._schedule_counter_commit()
        return base + delta + amount

    def _query(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StateUnavailable(f"sqlite state store: {exc}") from exc

    def _sweep(self) -> None:
        # Keys nobody reads again still go away; readers already treat them as absent, so a sweep
        # that cannot run now (the file is busy) is simply tried again 1024 writes later.
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            return
        try:
            now = self._clock()
            expired = [k for (k,) in db.execute("SELECT key FROM kv WHERE expires <= ?", (now,))]
            for key in expired:
                self._drop(db, key)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            log.warning("sweep of expired state keys failed: %s", exc)
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")

    def _kind(self, db: sqlite3.Connection, key: str) -> int | None:
        """The live key's kind, deleting it first when it has expired."""
        row = db.execute("SELECT kind, expires FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        kind, expires = row
        if expires is not None and expires <= self._clock():
            self._drop(db, key)
            return None
        return int(kind)

    def _live_kind(self, key: str) -> int | None:
        """For reads outside a transaction: expired reads as absent without writing."""
        rows = self._query("SELECT kind, expires FROM kv WHERE key = ?", (key,))
        if not rows:
            return None
        kind, expires = rows[0]
        if expires is not None and expires <= self._clock():
            return None
        return int(kind)

    @staticmethod
    def _drop(db: sqlite3.Connection, key: str) -> int:
        removed = db.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount
        db.execute("DELETE FROM zset WHERE key = ?", (key,))
        db.execute("DELETE FROM hash WHERE key = ?", (key,))
        return removed

    def _deadline(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    # -- strings --------------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        counter = self._counters.get(key)
        if counter is not None:
            return str(counter[0] + counter[1]).encode()
        rows = self._query("SELECT kind, value, expires FROM kv WHERE key = ?", (key,))
        if not rows or rows[0][0] != KIND_STRING:
            return None
        _, value, expires = rows[0]
        if expires is not None and expires <= self._clock():
            return None
        return _as_bytes(value)

    async def set(self, key: str, value: bytes, ttl: float | None = None, *, only_new: bool = False) -> bool:
        if (
            not only_new
            and self._write_one(_SET_STRING, (key, bytes(value), self._deadline(ttl))) is not None
        ):
            return True
        with self._tx() as db:
            kind = self._kind(db, key)
            if only_new and kind is not None:
                return False
            if kind not in (None, KIND_STRING):
                self._drop(db, key)
            db.execute(
                "INSERT OR REPLACE INTO kv(key, kind, value, expires) VALUES (?, ?, ?, ?)",
                (key, KIND_STRING, bytes(value), self._deadline(ttl)),
            )
        return True

    async def take(self, key: str) -> bytes | None:
        with self._tx() as db:
            if self._kind(db, key) != KIND_STRING:
                return None
            (value,) = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            self._drop(db, key)
        return _as_bytes(value)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        removed = 0
        with self._tx() as db:
            for key in keys:
                if self._kind(db, key) is not None:
                    removed += 1
                self._drop(db, key)
        return removed

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if ttl is None:
            deferred = self._deferred_incr(key, amount)
            if deferred is not None:
                return deferred
        # The hot path (download counts, windows): one statement, one implicit transaction.
        row = self._write_one(
            _INCR, {"key": key, "amount": amount, "deadline": self._deadline(ttl), "now": self._clock()}
        )
        if row is not None:
            return int(row[0])
        # A collection under the key, or a value that is not an integer: the slow path says which.
        with self._tx() as db:
            kind = self._kind(db, key)
            if kind == KIND_STRING:
                (raw,) = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
                try:
                    value = int(_as_bytes(raw)) + amount
                except ValueError:
                    raise ValueError(f"value of {key!r} is not an integer") from None
                db.execute("UPDATE kv SET value = ? WHERE key = ?", (str(value).encode(), key))
            else:
                if kind is not None:
                    raise ValueError(f"{key!r} holds a collection, not a counter")
                value = amount
                db.execute(
                    "INSERT INTO kv(key, kind, value, expires) VALUES (?, ?, ?, ?)",
                    (key, KIND_STRING, str(value).encode(), self._deadline(ttl)),
                )
        return value

    async def expire(self, key: str, ttl: float) -> bool:
        with self._tx() as db:
            if self._kind(db, key) is None:
                return False
            db.execute("UPDATE kv SET expires = ? WHERE key = ?", (self._deadline(ttl), key))
        return True

    # -- sorted sets ----------------------------------------------------------------------------
    def _ensure(self, db: sqlite3.Connection, key: str, kind: int) -> None:
        current = self._kind(db, key)
        if current == kind:
            return
        if current is not None:
            self._drop(db, key)
        db.execute("INSERT INTO kv(key, kind, value, expires) VALUES (?, ?, NULL, NULL)", (key, kind))

    async def zadd(self, key: str, member: str, score: float) -> None:
        with self._tx() as db:
            self._ensure(db, key, KIND_ZSET)
            db.execute(
                "INSERT OR REPLACE INTO zset(key, member, score) VALUES (?, ?, ?)",
                (key, member, float(score)),
            )

    async def zrem(self, key: str, *members: str) -> int:
        if not members:
            return 0
        with self._tx() as db:
            if self._kind(db, key) != KIND_ZSET:
                return 0
            removed = sum(
                db.execute("DELETE FROM zset WHERE key = ? AND member = ?", (key, m)).rowcount
                for m in members
            )
            if db.execute("SELECT 1 FROM zset WHERE key = ? LIMIT 1", (key,)).fetchone() is None:
                self._drop(db, key)
        return removed

    async def zscore(self, key: str, member: str) -> float | None:
        if self._live_kind(key) != KIND_ZSET:
            return None
        rows = self._query("SELECT score FROM zset WHERE key = ? AND member = ?", (key, member))
        return float(rows[0][0]) if rows else None

    async def zrange(
        self, key: str, start: int = 0, stop: int = -1, *, desc: bool = False
    ) -> list[tuple[str, float]]:
        if self._live_kind(key) != KIND_ZSET:
            return []
        if start < 0 or stop < 0:
            size = await self.zcard(key)
            if start < 0:
                start = max(size + start, 0)
            if stop < 0:
                stop = size + stop
        if start > stop:
            return []
        order = "DESC" if desc else "ASC"
        rows = self._query(
            f"SELECT member, score FROM zset WHERE key = ? ORDER BY score {order}, member {order} "
            "LIMIT ? OFFSET ?",
            (key, stop - start + 1, start),
        )
        return [(str(member), float(score)) for member, score in rows]

    async def zcard(self, key: str) -> int:
        if self._live_kind(key) != KIND_ZSET:
            return 0
        return int(self._query("SELECT COUNT(*) FROM zset WHERE key = ?", (key,))[0][0])

    # -- hashes ---------------------------------------------------------------------------------
    async def hset(self, key: str, field: str, value: bytes) -> None:
        with self._tx() as db:
            self._ensure(db, key, KIND_HASH)
            db.execute(
                "INSERT OR REPLACE INTO hash(key, field, value) VALUES (?, ?, ?)", (key, field, bytes(value))
            )

    async def hget(self, key: str, field: str) -> bytes | None:
        if self._live_kind(key) != KIND_HASH:
            return None
        rows = self._query("SELECT value FROM hash WHERE key = ? AND field = ?", (key, field))
        return bytes(rows[0][0]) if rows else None

    async def hdel(self, key: str, *fields: str) -> int:
        if not fields:
            return 0
        with self._tx() as db:
            if self._kind(db, key) != KIND_HASH:
                return 0
            removed = sum(
                db.execute("DELETE FROM hash WHERE key = ? AND field = ?", (key, f)).rowcount for f in fields
            )
            if db.execute("SELECT 1 FROM hash WHERE key = ? LIMIT 1", (key,)).fetchone() is None:
                self._drop(db, key)
        return removed

    async def hgetall(self, key: str) -> dict[str, bytes]:
        if self._live_kind(key) != KIND_HASH:
            return {}
        rows = self._query("SELECT field, value FROM hash WHERE key = ?", (key,))
        return {str(field): bytes(value) for field, value in rows}

    # -- admin ----------------------------------------------------------------------------------
    async def scan(self, prefix: str) -> list[str]:
        if self._counters:
            self._commit_counters()  # a counter created since the last commit is a key too
        rows = self._query(
            "SELECT key FROM kv WHERE key LIKE ? ESCAPE '\\' AND (expires IS NULL OR expires > ?) ORDER BY key",
            (_like_escape(prefix) + "%", self._clock()),
        )
        # LIKE is case-insensitive for ASCII; the prefix test keeps the match exact.
        return [str(key) for (key,) in rows if str(key).startswith(prefix)]

    async def ping(self) -> None:
        try:
            self._query("SELECT 1", ())
        except sqlite3.Error as exc:
            raise StateUnavailable(f"sqlite state store: {exc}") from exc

    async def close(self) -> None:
        if self._counter_commit is not None:
            self._counter_commit.cancel()
            self._counter_commit = None
        self._commit_counters()
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
