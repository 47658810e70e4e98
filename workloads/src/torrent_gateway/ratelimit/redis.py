"""Redis limiter for cluster mode: every replica checks the same buckets, one Lua script per check.

Each script is atomic on the server, so replicas never race on a read-modify-write. The scripts
read the clock from Redis (``TIME``) so replicas whose clocks disagree still share one timeline;
tests may inject a clock instead, which lets one contract suite drive this backend and the
in-process one through identical timelines. Every key gets a ``PEXPIRE``: a bucket expires when it
would be full again, a lease set when its last lease lapses — so a crashed replica's stream slots
free themselves within one lease TTL.

When Redis cannot be reached, calls raise :class:`LimiterUnavailable` quickly (short socket
timeouts, one immediate reconnect attempt) and then, for ``retry_interval`` seconds, without even
trying; after that a single request at a time probes, so an outage costs no latency per request. ``degraded`` is exposed for health checks; the
first failure and then at most one line per ``warn_interval`` are logged, not one per request.
The redis-py pool reconnects by itself, so service resumes without a restart as soon as Redis is
back; the scripts are re-loaded on ``NOSCRIPT`` by ``register_script``'s wrapper.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from . import metrics
from .base import DEFAULT_LEASE_TTL, Limiter, LimiterUnavailable
from .buckets import Decision, idle_ttl

log = logging.getLogger(__name__)
Clock = Callable[[], float]
T = TypeVar("T")

# ARGV[n] == "" means "use the server's clock"; a number is an injected clock (tests).
_NOW = """
local now
if ARGV[{n}] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[{n}])
end
"""

# KEYS[1] bucket hash; ARGV: rate, burst, cost, ttl_ms, now|''. Mirrors buckets.check_bucket.
BUCKET_SCRIPT = (
    _NOW.format(n=5)
    + """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = burst
else
  local elapsed = now - updated
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tokens + elapsed * rate)
end
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'updated', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {allowed, string.format('%.17g', tokens), string.format('%.17g', retry)}
"""
)

# The lease set is a sorted set: member = lease id, score = expiry. The key expires with its
# longest-lived lease. Mirrors buckets.acquire_slot / renew_slot.
_EXPIRE_WITH_LAST_LEASE = """
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((tonumber(last[2]) - now) * 1000)))
end
"""

# KEYS[1] lease set; ARGV: limit, lease id, ttl_s, now|''.
ACQUIRE_SCRIPT = (
    _NOW.format(n=4)
    + """
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now))
local held = redis.call('ZSCORE', KEYS[1], ARGV[2])
if held or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], string.format('%.17g', now + ttl), ARGV[2])
"""
    + _EXPIRE_WITH_LAST_LEASE
    + """
  return 1
end
return 0
"""
)

# KEYS[1] lease set; ARGV: lease id, ttl_s, now|''.
RENEW_SCRIPT = (
    _NOW.format(n=3)
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now))
redis.call('ZADD', KEYS[1], string.format('%.17g', now + tonumber(ARGV[2])), ARGV[1])
"""
    + _EXPIRE_WITH_LAST_LEASE
    + """
return 1
"""
)


def connect(url: str, *, timeout: float = 0.5) -> Redis:
    """A client that fails fast: short socket timeouts and a single immediate retry on a broken
    connection (which is what turns a connection broken by a Redis restart into a fresh one).
    Timeouts are not retried: the script may have run, and a retry would spend a second token."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        health_check_interval=0,
    )


class RedisLimiter(Limiter):
    name = "redis"

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "tgw:rl:",
        lease_ttl: float = DEFAULT_LEASE_TTL,
        timeout: float = 1.0,
        retry_interval: float = 1.0,
        warn_interval: float = 30.0,
        clock: Clock = time.monotonic,
        script_clock: Clock | None = None,
        owns_client: bool = True,
    ) -> None:
        super().__init__(lease_ttl=lease_ttl)
        self._client = client
        self._owns_client = owns_client
        self._prefix = prefix
        self._timeout = timeout
        self._retry_interval = retry_interval
        self._warn_interval = warn_interval
        self._clock = clock
        self._script_clock = script_clock
        self._bucket = client.register_script(BUCKET_SCRIPT)
        self._acquire = client.register_script(ACQUIRE_SCRIPT)
        self._renew = client.register_script(RENEW_SCRIPT)
        self._degraded_since: float | None = None
        self._skip_until = 0.0
        self._probing = False
        self._next_warning = 0.0
        self._failures_since_warning = 0
        self.instance = secrets.token_hex(4)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisLimiter:
        return cls(connect(url), **kwargs)

    @property
    def degraded(self) -> bool:
        return self._degraded_since is not None

    def _now_arg(self) -> str:
        return "" if self._script_clock is None else repr(float(self._script_clock()))

    # -- failure handling --------------------------------------------------------------------------
    async def _call(self, op: Callable[[], Awaitable[T]]) -> T:
        now = self._clock()
        probing = False
        if self._degraded_since is not None:
            if now < self._skip_until or self._probing:
                # While Redis is away, one request at a time finds out whether it is back.
                self._note_failure(now, None)
                raise LimiterUnavailable("redis unreachable (retrying shortly)")
            self._probing = probing = True
        try:
            async with asyncio.timeout(self._timeout):
                result = await op()
        except (RedisError, OSError, TimeoutError) as exc:
            self._note_failure(self._clock(), exc)
            raise LimiterUnavailable(f"redis unreachable: {exc!r}") from exc
        finally:
            if probing:
                self._probing = False
        if self._degraded_since is not None:
            log.warning(
                "rate limiter: Redis reachable again after %.1f s; shared limits enforced again",
                self._clock() - self._degraded_since,
            )
            self._degraded_since = None
            metrics.set_degraded(False)
        return result

    def _note_failure(self, now: float, exc: BaseException | None) -> None:
        if exc is not None:
            self._skip_until = now + self._retry_interval
        self._failures_since_warning += 1
        if self._degraded_since is None:
            self._degraded_since = now
            metrics.set_degraded(True)
            log.warning(
                "rate limiter: Redis unreachable (%r); applying the fail_open/fail-closed policy per limit",
                exc,
            )
            self._next_warning = now + self._warn_interval
            self._failures_since_warning = 0
        elif now >= self._next_warning:
            log.warning(
                "rate limiter: Redis still unreachable for %.0f s (%d checks without it since the last warning)",
                now - self._degraded_since,
                self._failures_since_warning,
            )
            self._next_warning = now + self._warn_interval
            self._failures_since_warning = 0

    # -- the contract ------------------------------------------------------------------------------
    async def check(self, key: str, rate: float, burst: float, cost: float = 1.0) -> Decision:
        if rate <= 0 or burst <= 0 or cost <= 0 or cost > burst:
            raise ValueError("rate, burst and cost must be positive and cost at most the burst")
        ttl_ms = int(idle_ttl(rate, burst) * 1000)
        args: list[str | int] = [
            repr(float(rate)),
            repr(float(burst)),
            repr(float(cost)),
            ttl_ms,
            self._now_arg(),
        ]
        allowed, remaining, retry = await self._call(
            lambda: self._bucket(keys=[self._prefix + "b:" + key], args=args)
        )
        return Decision(bool(int(allowed)), float(remaining), float(retry))

    async def acquire(self, key: str, limit: int, lease_id: str) -> bool:
        if limit < 1:
            raise ValueError("limit must be positive")
        args: list[str | int] = [limit, lease_id, repr(self.lease_ttl), self._now_arg()]
        granted = await self._call(lambda: self._acquire(keys=[self._prefix + "c:" + key], args=args))
        return bool(int(granted))

    async def renew(self, key: str, lease_id: str) -> None:
        args: list[str | int] = [lease_id, repr(self.lease_ttl), self._now_arg()]
        await self._call(lambda: self._renew(keys=[self._prefix + "c:" + key], args=args))

    async def release(self, key: str, lease_id: str) -> None:
        await self._call(lambda: self._client.zrem(self._prefix + "c:" + key, lease_id))

    async def ping(self) -> None:
        await self._call(self._client.ping)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
