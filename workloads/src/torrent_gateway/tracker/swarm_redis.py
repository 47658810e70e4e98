"""Redis swarm store: one swarm shared by every tracker replica.

Each announce is ONE Lua script call (one round trip, atomic): expire the swarm's silent members,
check the key, update the member and the counters, and choose peers. Layout per swarm
``<sid> = info_hash + kind byte`` under the prefix (default ``tgw:trk:``):

=================  ====================================================================
``m:<sid>``        hash member -> seeder flag (1 byte), key length (1 byte), key, peer id
                   length (1 byte), peer id, endpoint
``t:<sid>``        sorted set member -> last seen (expiry order)
``s:<sid>``        set of seeder members (SRANDMEMBER picks peers)
``l:<sid>``        set of leecher members
``d:<info_hash>``  downloaded counter (all kinds; kept when the swarm goes)
``swarms``         sorted set sid -> last activity (what gc walks)
``peers``          member counter for the metrics gauge
``relay:<node>``   pub/sub channel of one tracker node (the WebSocket relay)
=================  ====================================================================

The scripts touch keys named from their arguments, so this driver wants a standalone Redis
(or a primary behind Sentinel), not Redis Cluster. A member is the compact endpoint in IP swarms
and the peer id in WebRTC swarms (see the contract in ``swarm.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .model import Event, LazyPeers, ScrapeCounts, StoredPeer, SwarmKind, SwarmView
from .swarm import PeerConflict, RelayHandler, SwarmStore, SwarmUnavailable

log = logging.getLogger(__name__)
Clock = Callable[[], float]

_EXPIRE = """
local function expire(m, t, s, l, cutoff)
  local old = redis.call('ZRANGEBYSCORE', t, '-inf', cutoff)
  local n = #old
  for i = 1, n, 1000 do
    local chunk = {unpack(old, i, math.min(i + 999, n))}
    redis.call('HDEL', m, unpack(chunk))
    redis.call('SREM', s, unpack(chunk))
    redis.call('SREM', l, unpack(chunk))
    redis.call('ZREM', t, unpack(chunk))
  end
  return n
end
"""

# KEYS: m t s l d swarms peers
# ARGV: member peer_id endpoint key seeder(0/1) event numwant now cutoff sid
_ANNOUNCE = (
    _EXPIRE
    + """
local m, t, s, l, d, reg, cnt = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local pid, peerid, ep, key, seeder = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local event, numwant, now, cutoff, sid = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[10]
local gone = expire(m, t, s, l, cutoff)
if gone > 0 then redis.call('DECRBY', cnt, gone) end
local cur = redis.call('HGET', m, pid)
local wasseed = false
local ckey = ''
if cur then
  wasseed = string.sub(cur, 1, 1) == '1'
  local klen = string.byte(cur, 2)
  ckey = string.sub(cur, 3, 2 + klen)
  local cep = string.sub(cur, 4 + klen + string.byte(cur, 3 + klen))
  if klen > 0 and ckey ~= key and cep ~= ep then return {-1} end
end
local dl
if event == 1 and not wasseed then
  dl = redis.call('INCR', d)
else
  dl = tonumber(redis.call('GET', d) or '0')
end
if event == 3 then
  if cur then
    redis.call('HDEL', m, pid)
    redis.call('ZREM', t, pid)
    redis.call('SREM', wasseed and s or l, pid)
    redis.call('DECR', cnt)
  end
  local nc, ni = redis.call('SCARD', s), redis.call('SCARD', l)
  if nc + ni == 0 then redis.call('ZREM', reg, sid) end
  return {nc, ni, dl}
end
if key == '' then key = ckey end
redis.call('HSET', m, pid, seeder .. string.char(#key) .. key .. string.char(#peerid) .. peerid .. ep)
redis.call('ZADD', t, now, pid)
redis.call('ZADD', reg, now, sid)
if not cur then redis.call('INCR', cnt) end
local isseed = seeder == '1'
if cur and wasseed ~= isseed then redis.call('SREM', wasseed and s or l, pid) end
redis.call('SADD', isseed and s or l, pid)
local out = {redis.call('SCARD', s), redis.call('SCARD', l), dl}
local ids = {}
if numwant > 0 then
  if isseed then
    -- leechers, then other seeders when leechers are short (a magnet client fetching metadata
    -- announces left=0)
    ids = redis.call('SRANDMEMBER', l, numwant)
    if #ids < numwant then
      local more = redis.call('SRANDMEMBER', s, numwant - #ids + 1)
      for _, id in ipairs(more) do
        if #ids >= numwant then break end
        if id ~= pid then ids[#ids + 1] = id end
      end
    end
  else
    ids = redis.call('SRANDMEMBER', s, numwant)
    if #ids < numwant then
      local more = redis.call('SRANDMEMBER', l, numwant - #ids + 1)
      for _, id in ipairs(more) do
        if #ids >= numwant then break end
        if id ~= pid then ids[#ids + 1] = id end
      end
    end
  end
end
if #ids > 0 then
  local vals = redis.call('HMGET', m, unpack(ids))
  for i, id in ipairs(ids) do
    if vals[i] then
      out[#out + 1] = id
      out[#out + 1] = vals[i]
    end
  end
end
return out
"""
)

# KEYS: peers, then per infohash: d, then per kind: m t s l
# ARGV: cutoff nkinds
_SCRAPE = (
    _EXPIRE
    + """
local cutoff, nkinds = ARGV[1], tonumber(ARGV[2])
local out = {}
local gone = 0
local i = 2
while i <= #KEYS do
  local dl = tonumber(redis.call('GET', KEYS[i]) or '0')
  i = i + 1
  local nc, ni = 0, 0
  for _ = 1, nkinds do
    local m, t, s, l = KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3]
    gone = gone + expire(m, t, s, l, cutoff)
    nc = nc + redis.call('SCARD', s)
    ni = ni + redis.call('SCARD', l)
    i = i + 4
  end
  out[#out + 1] = nc
  out[#out + 1] = ni
  out[#out + 1] = dl
end
if gone > 0 then redis.call('DECRBY', KEYS[1], gone) end
return out
"""
)

# KEYS: swarms peers    ARGV: prefix cutoff limit
_GC = """
local reg, cnt = KEYS[1], KEYS[2]
local prefix, cutoff, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local idle = redis.call('ZRANGEBYSCORE', reg, '-inf', cutoff, 'LIMIT', 0, limit)
local gone = 0
for _, sid in ipairs(idle) do
  local t = prefix .. 't:' .. sid
  gone = gone + redis.call('ZCARD', t)
  redis.call('DEL', prefix .. 'm:' .. sid, t, prefix .. 's:' .. sid, prefix .. 'l:' .. sid)
  redis.call('ZREM', reg, sid)
end
if gone > 0 then redis.call('DECRBY', cnt, gone) end
return #idle
"""

_GC_BATCH = 1000
_GC_MAX_ROUNDS = 1000


def _member(value: bytes) -> StoredPeer:
    """A member from its hash value: seeder flag, key length, key, peer id length, peer id, endpoint."""
    at = 3 + value[1]
    return StoredPeer(value[at : at + value[at - 1]], _value_endpoint(value), value[0] == 0x31)


def _value_endpoint(value: bytes) -> bytes:
    at = 2 + value[1]
    return value[at + 1 + value[at] :]


class _ReplyPeers(LazyPeers):
    """The peers of the announce script's reply ([counts..., id, value, id, value, ...])."""

    __slots__ = ("_reply",)

    def __init__(self, reply: list[Any]) -> None:
        super().__init__((len(reply) - 3) // 2)
        self._reply = reply

    def _load(self) -> list[StoredPeer]:
        reply = self._reply
        return [_member(reply[i]) for i in range(4, len(reply), 2)]


class RedisSwarmStore(SwarmStore):
    name = "redis"

    def __init__(
        self,
        client: aioredis.Redis,
        peer_ttl: float,
        *,
        prefix: str = "tgw:trk:",
        clock: Clock = time.time,
    ) -> None:
        self._redis = client
        self._ttl = peer_ttl
        self._clock = clock
        self._prefix = prefix.encode()
        self._reg = self._prefix + b"swarms"
        self._cnt = self._prefix + b"peers"
        self._announce_sha: str | None = None
        self._pending: list[tuple[tuple[bytes, ...], tuple[Any, ...], asyncio.Future[Any]]] = []
        self._batch: asyncio.Task[None] | None = None
        self._closing = False
        self._scrape = client.register_script(_SCRAPE)
        self._gc = client.register_script(_GC)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pubsubs: list[Any] = []
        # Announces get connections of their own without a per-read socket timeout: redis-py
        # would start one timer per reply in a pipeline, a tenth of an announce's CPU. One
        # deadline per batch bounds them instead (a read cut short closes its connection).
        pool = client.connection_pool
        self._batch_timeout = pool.connection_kwargs.get("socket_timeout") or 5.0
        self._announce_redis = aioredis.Redis(
            connection_pool=aioredis.ConnectionPool(
                connection_class=pool.connection_class,
                **{**pool.connection_kwargs, "socket_timeout": None},
            )
        )

    @classmethod
    def from_url(cls, url: str, peer_ttl: float, **kwargs: Any) -> RedisSwarmStore:
        client = aioredis.Redis.from_url(
            url, socket_timeout=5.0, socket_connect_timeout=5.0, health_check_interval=30
        )
        return cls(client, peer_ttl, **kwargs)

    def _keys(self, sid: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        p = self._prefix
        return p + b"m:" + sid, p + b"t:" + sid, p + b"s:" + sid, p + b"l:" + sid

    async def announce(
        self,
        info_hash: bytes,
        kind: SwarmKind,
        peer_id: bytes,
        endpoint: bytes,
        *,
        seeder: bool,
        event: Event,
        numwant: int,
        key: bytes = b"",
    ) -> SwarmView:
        now = self._clock()
        sid = info_hash + bytes((kind,))
        keys = (*self._keys(sid), self._prefix + b"d:" + info_hash, self._reg, self._cnt)
        args = (
            peer_id if kind == SwarmKind.WEBRTC else endpoint,
            peer_id,
            endpoint,
            key,
            b"1" if seeder else b"0",
            int(event),
            numwant,
            repr(now),
            repr(now - self._ttl),
            sid,
        )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((keys, args, future))
        if self._batch is None:
            self._start_batch()
        out = await future
        if out[0] == -1:
            raise PeerConflict(peer_id)
        peers = _ReplyPeers(out)
        if kind == SwarmKind.WEBRTC:
            return SwarmView(out[0], out[1], out[2], peers)
        # The compact reply straight from the script's values; peer tuples only if a reply asks.
        compact = b"".join([_value_endpoint(value) for value in out[4::2]])
        return SwarmView(out[0], out[1], out[2], peers, compact)

    # -- announce batching ----------------------------------------------------------------------
    # Announces waiting at the same moment go to Redis as one pipeline (one write, one round
    # trip), one batch in flight at a time: under load batches grow, when idle a batch is a
    # single call. The script is loaded once and called by its SHA; after a Redis restart
    # (NOSCRIPT) it is loaded again and the batch retried once.
    def _start_batch(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._run_batch(batch), name="swarm-announce-batch")
        self._batch = task
        self._tasks.add(task)
        task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._batch = None
        if self._pending and not self._closing:
            self._start_batch()

    async def _run_batch(
        self, batch: list[tuple[tuple[bytes, ...], tuple[Any, ...], asyncio.Future[Any]]]
    ) -> None:
        try:
            results = await self._pipeline(batch)
            if any(isinstance(r, NoScriptError) for r in results):
                self._announce_sha = None
                results = await self._pipeline(batch)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            results = [SwarmUnavailable(str(exc))] * len(batch)
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(SwarmUnavailable("announce batch failed"))
            if isinstance(exc, Exception):
                log.exception("announce batch failed")
                return
            raise
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # the caller went away
            if isinstance(result, BaseException):
                future.set_exception(
                    result if isinstance(result, SwarmUnavailable) else SwarmUnavailable(str(result))
                )
            else:
                future.set_result(result)

    async def _pipeline(
        self, batch: list[tuple[tuple[bytes, ...], tuple[Any, ...], asyncio.Future[Any]]]
    ) -> list[Any]:
        async with asyncio.timeout(self._batch_timeout):
            if self._announce_sha is None:
                self._announce_sha = await self._announce_redis.script_load(_ANNOUNCE)
            sha = self._announce_sha
            async with self._announce_redis.pipeline(transaction=False) as pipe:
                for keys, args, _ in batch:
                    pipe.evalsha(sha, len(keys), *keys, *args)
                return await pipe.execute(raise_on_error=False)

    async def scrape(self, info_hashes: Sequence[bytes], kinds: Sequence[SwarmKind]) -> list[ScrapeCounts]:
        if not info_hashes:
            return []
        keys: list[bytes] = [self._cnt]
        for info_hash in info_hashes:
            keys.append(self._prefix + b"d:" + info_hash)
            for kind in kinds:
                keys.extend(self._keys(info_hash + bytes((kind,))))
        try:
            out = await self._scrape(keys=keys, args=(repr(self._clock() - self._ttl), len(kinds)))
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise SwarmUnavailable(str(exc)) from exc
        return [ScrapeCounts(out[i], out[i + 1], out[i + 2]) for i in range(0, len(out), 3)]

    async def get_peer(self, info_hash: bytes, kind: SwarmKind, ident: bytes) -> StoredPeer | None:
        m, t, _, _ = self._keys(info_hash + bytes((kind,)))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hget(m, ident)
                pipe.zscore(t, ident)
                value, seen = await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise SwarmUnavailable(str(exc)) from exc
        if value is None or seen is None or seen <= self._clock() - self._ttl:
            return None
        return _member(value)

    async def gc(self) -> int:
        cutoff = repr(self._clock() - self._ttl)
        removed = 0
        try:
            for _ in range(_GC_MAX_ROUNDS):
                batch = await self._gc(keys=(self._reg, self._cnt), args=(self._prefix, cutoff, _GC_BATCH))
                removed += batch
                if batch < _GC_BATCH:
                    break
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise SwarmUnavailable(str(exc)) from exc
        return removed

    async def stats(self) -> tuple[int, int]:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zcard(self._reg)
                pipe.get(self._cnt)
                swarms, peers = await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise SwarmUnavailable(str(exc)) from exc
        return int(swarms), max(0, int(peers or 0))

    def _channel(self, node: bytes) -> bytes:
        return self._prefix + b"relay:" + node

    async def publish(self, node: bytes, message: bytes) -> None:
        try:
            await self._redis.publish(self._channel(node), message)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise SwarmUnavailable(str(exc)) from exc

    async def subscribe(self, node: bytes, handler: RelayHandler) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel(node))
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise SwarmUnavailable(str(exc)) from exc
        self._pubsubs.append(pubsub)
        task = asyncio.get_running_loop().create_task(self._listen(pubsub, node, handler), name="swarm-relay")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen(self, pubsub: Any, node: bytes, handler: RelayHandler) -> None:
        """Deliver relay messages; on a lost connection, resubscribe after a pause."""
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("relay subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
                    await pubsub.subscribe(self._channel(node))
                continue
            if message is not None and message.get("type") == "message":
                try:
                    handler(message["data"])
                except Exception:
                    log.exception("relay handler failed")

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise SwarmUnavailable(str(exc)) from exc

    async def close(self) -> None:
        self._closing = True
        for _, _, future in self._pending:
            if not future.done():
                future.set_exception(SwarmUnavailable("swarm store closed"))
        self._pending.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pubsub in self._pubsubs:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        self._pubsubs.clear()
        await self._announce_redis.aclose(close_connection_pool=True)  # our own pool
        await self._redis.aclose()
