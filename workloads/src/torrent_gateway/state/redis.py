"""State store on Redis (``redis.asyncio``): the shared state of cluster mode.

Each StateStore operation maps onto one Redis command (or one Lua script where two steps
must be atomic), so every replica sees the same sessions, challenges, counters and indexes.

Failure handling: connects time out after 2 s and replies after 5 s; a dropped connection is
retried once (a fresh connection — this is what lets the store recover by itself after
redis-server restarts), timeouts are not retried (the command may have run: an INCR must not
count twice). Whatever still fails surfaces as :class:`StateUnavailable`, which callers
answer with 503.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import StateStore, StateUnavailable

T = TypeVar("T")

# INCRBY and "set a TTL only if this INCRBY created the key" must be one step, or a key created
# by a concurrent caller between the two could be left without expiry (a counter that never resets).
_INCR_WITH_TTL = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""

_GLOB_SPECIAL = frozenset("*?[]\\")


def _ms(ttl: float) -> int:
    # Redis TTLs are whole milliseconds and must be positive; a tiny TTL still expires at once.
    return max(1, math.ceil(ttl * 1000))


def _glob_escape(prefix: str) -> str:
    return "".join("\\" + ch if ch in _GLOB_SPECIAL else ch for ch in prefix)


def _bytes(raw: Any) -> bytes:
    return raw.encode() if isinstance(raw, str) else bytes(raw)


def _text(raw: Any) -> str:
    # Keys, members and fields are ours (UTF-8); surrogateescape keeps foreign ones round-trippable.
    return raw if isinstance(raw, str) else raw.decode("utf-8", "surrogateescape")


async def _guard(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError) as exc:
        raise StateUnavailable(f"redis unreachable: {type(exc).__name__}: {exc}") from exc
    except ResponseError as exc:
        # LOADING / MASTERDOWN / READONLY (a replica during failover): transient, not the caller's fault.
        message = str(exc)
        if message.startswith(("LOADING", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN")):
            raise StateUnavailable(f"redis not ready: {message}") from exc
        raise


class RedisStateStore(StateStore):
    name = "redis"

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._incr_with_ttl = client.register_script(_INCR_WITH_TTL)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        connect_timeout: float = 2.0,
        socket_timeout: float = 5.0,
        health_check_interval: int = 10,
        **options: Any,
    ) -> RedisStateStore:
        client = aioredis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            # A pooled connection idle for this long is PINGed before use, so one that died with a
            # restarted server is replaced instead of failing the caller's command.
            health_check_interval=health_check_interval,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1, supported_errors=(RedisConnectionError,)),
            decode_responses=False,
            **options,
        )
        return cls(client)

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    # -- strings ---------------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        value = await _guard(self._client.get(key))
        return None if value is None else _bytes(value)

    async def set(self, key: str, value: bytes, ttl: float | None = None, *, only_new: bool = False) -> bool:
        done = await _guard(
            self._client.set(key, bytes(value), px=None if ttl is None else _ms(ttl), nx=only_new)
        )
        return bool(done)

    async def take(self, key: str) -> bytes | None:
        # GETDEL (Redis >= 6.2) is one atomic command: of many concurrent takers exactly one wins.
        value = await _guard(self._client.getdel(key))
        return None if value is None else _bytes(value)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await _guard(self._client.delete(*keys)))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if ttl is None:
            return int(await _guard(self._client.incrby(key, amount)))
        result = await _guard(self._incr_with_ttl(keys=[key], args=[amount, _ms(ttl)]))
        return int(result)

    async def expire(self, key: str, ttl: float) -> bool:
        return bool(await _guard(self._client.pexpire(key, _ms(ttl))))

    # -- sorted sets -----------------------------------------------------------------------------
    async def zadd(self, key: str, member: str, score: float) -> None:
        await _guard(self._client.zadd(key, {member: float(score)}))

    async def zrem(self, key: str, *members: str) -> int:
        if not members:
            return 0
        return int(await _guard(self._client.zrem(key, *members)))

    async def zscore(self, key: str, member: str) -> float | None:
        score = await _guard(self._client.zscore(key, member))
        return None if score is None else float(score)

    async def zrange(
        self, key: str, start: int = 0, stop: int = -1, *, desc: bool = False
    ) -> list[tuple[str, float]]:
        rows: Any = await _guard(self._client.zrange(key, start, stop, desc=desc, withscores=True))
        return [(_text(member), float(score)) for member, score in rows]

    async def zcard(self, key: str) -> int:
        return int(await _guard(self._client.zcard(key)))

    # -- hashes ----------------------------------------------------------------------------------
    async def hset(self, key: str, field: str, value: bytes) -> None:
        await _guard(self._client.hset(key, field, bytes(value)))

    async def hget(self, key: str, field: str) -> bytes | None:
        value = await _guard(self._client.hget(key, field))
        return None if value is None else _bytes(value)

    async def hdel(self, key: str, *fields: str) -> int:
        if not fields:
            return 0
        return int(await _guard(self._client.hdel(key, *fields)))

    async def hgetall(self, key: str) -> dict[str, bytes]:
        table = await _guard(self._client.hgetall(key))
        return {_text(field): _bytes(value) for field, value in table.items()}

    # -- admin -----------------------------------------------------------------------------------
    async def scan(self, prefix: str) -> list[str]:
        pattern = _glob_escape(prefix) + "*"
        found: set[str] = set()
        cursor = 0
        # SCAN may return a key twice across pages; the set removes repeats. Bounded by the keyspace.
        while True:
            reply: Any = await _guard(self._client.scan(cursor=cursor, match=pattern, count=1000))
            cursor = int(reply[0])
            found.update(_text(key) for key in reply[1])
            if cursor == 0:
                break
        return sorted(found)

    async def ping(self) -> None:
        try:
            await _guard(self._client.ping())
        except RedisError as exc:
            raise StateUnavailable(f"redis ping failed: {exc}") from exc

    async def close(self) -> None:
        await self._client.aclose()
