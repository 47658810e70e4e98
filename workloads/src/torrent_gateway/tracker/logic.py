"""What the tracker decides, whatever the wire: policy, numwant, intervals, peer ranking.

The frontends hand over validated domain requests; this module applies the configuration,
asks the swarm store, and orders the peers with :func:`rank_peers` (a pure function the P2P
coordinator reuses to order peers from the tracker, the DHT and the WebSeed).
"""

from __future__ import annotations

import operator
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..config import TrackerSettings
from .model import (
    IP_KINDS,
    AnnounceReply,
    AnnounceRequest,
    ClientError,
    Event,
    ScrapeCounts,
    StoredPeer,
    SwarmKind,
)
from .swarm import PeerConflict, SwarmStore

P = TypeVar("P")
KnownCheck = Callable[[bytes], Awaitable[bool]]

# Most infohashes answered in one scrape; the rest are ignored and the reply says so.
MAX_SCRAPE = 100
_MIN_PREFIX_BITS = {4: 16, 16: 32}

# Policy answers are cached so the hot path does not ask the catalog on every announce.
_KNOWN_TTL = 60.0
_UNKNOWN_TTL = 5.0
_POLICY_CACHE_MAX = 100_000


_endpoint = operator.itemgetter(1)  # StoredPeer.endpoint, at C speed


def _stored_ip(peer: StoredPeer) -> bytes:
    return peer.endpoint[:-2]


def _stored_seed(peer: StoredPeer) -> bool:
    return peer.seeder


def rank_peers(
    peers: Iterable[P],
    requester_ip: bytes,
    *,
    requester_is_seed: bool = False,
    address: Callable[[P], bytes] = _stored_ip,  # type: ignore[assignment]
    is_seed: Callable[[P], bool] | None = _stored_seed,  # type: ignore[assignment]
) -> list[P]:
    """Order peers for a requester: useful ones first, then the nearest in the network.

    Useful means seeds for a leecher and leechers for a seed (``is_seed=None`` when unknown).
    Nearness is the common address prefix with the requester (4- or 16-byte packed addresses);
    prefixes shorter than /16 (IPv4) or /32 (IPv6) say nothing about the network and count as
    none. Peers of the other address family come last. The sort is stable, so equal peers keep
    the order they came in (the store's random choice).
    """
    ref = int.from_bytes(requester_ip, "big")
    width = len(requester_ip)
    bits = width * 8
    floor = _MIN_PREFIX_BITS.get(width, bits)

    def score(peer: P) -> tuple[bool, int]:
        ip = address(peer)
        if len(ip) == width:
            shared = bits - (int.from_bytes(ip, "big") ^ ref).bit_length()
            if shared < floor:
                shared = 0
        else:
            shared = -1
        useless = is_seed is not None and is_seed(peer) == requester_is_seed
        return useless, -shared

    return sorted(peers, key=score)


def _order_is_ranked(compact: bytes, requester_ip: bytes, count: int) -> bool:
    """True when ranking cannot reorder a store reply (already useful-first), checked at C speed.

    Either no peer shares the requester's /16 (/32 for IPv6), so nobody is "near"; or every peer
    has the requester's very address (one NAT, or loopback), so everybody is equally near.
    """
    width = len(requester_ip)
    if compact.find(requester_ip[: _MIN_PREFIX_BITS[width] // 8]) < 0:
        return True
    ip = requester_ip
    if width == 4:  # unrolled: the common case
        return (
            compact[0::6] == ip[0:1] * count
            and compact[1::6] == ip[1:2] * count
            and compact[2::6] == ip[2:3] * count
            and compact[3::6] == ip[3:4] * count
        )
    return all(compact[i::18] == ip[i : i + 1] * count for i in range(16))


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    interval: int = 1800
    min_interval: int = 300
    numwant_default: int = 50
    numwant_max: int = 200
    open_policy: bool = False

    @classmethod
    def from_settings(cls, settings: TrackerSettings) -> TrackerConfig:
        return cls(
            interval=settings.interval,
            min_interval=min(settings.min_interval, settings.interval),
            numwant_default=min(settings.numwant_default, settings.numwant_max),
            numwant_max=settings.numwant_max,
            open_policy=settings.policy == "open",
        )


class TrackerLogic:
    def __init__(
        self,
        config: TrackerConfig,
        store: SwarmStore,
        is_known: KnownCheck | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self._is_known = None if config.open_policy else is_known
        self._clock = clock
        self._policy_cache: dict[bytes, tuple[bool, float]] = {}

    # -- policy ---------------------------------------------------------------------------------
    async def allowed(self, info_hash: bytes) -> bool:
        if self._is_known is None:
            return True
        now = self._clock()
        cached = self._policy_cache.get(info_hash)
        if cached is not None and cached[1] > now:
            return cached[0]
        known = bool(await self._is_known(info_hash))
        if len(self._policy_cache) >= _POLICY_CACHE_MAX:
            self._policy_cache.clear()
        self._policy_cache[info_hash] = (known, now + (_KNOWN_TTL if known else _UNKNOWN_TTL))
        return known

    def policy_cached(self, info_hash: bytes) -> bool | None:
        """The policy answer if known without asking the catalog, else None."""
        if self._is_known is None:
            return True
        cached = self._policy_cache.get(info_hash)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        return None

    def forget(self, info_hash: bytes | None = None) -> None:
        """Drop cached policy answers (one infohash, or all) after the catalog changed."""
        if info_hash is None:
            self._policy_cache.clear()
        else:
            self._policy_cache.pop(info_hash, None)

    # -- announce -------------------------------------------------------------------------------
    def numwant(self, asked: int | None, cap: int | None = None) -> int:
        config = self.config
        wanted = config.numwant_default if asked is None or asked < 0 else asked
        limit = config.numwant_max if cap is None else min(cap, config.numwant_max)
        return wanted if wanted < limit else limit

    async def announce(self, request: AnnounceRequest, *, cap: int | None = None) -> AnnounceReply:
        if self._is_known is not None and not await self.allowed(request.info_hash):
            raise ClientError("torrent not registered with this tracker")
        seeder = request.left == 0
        if request.event == Event.STOPPED:
            numwant = 0
        else:
            config = self.config
            numwant = config.numwant_default if request.numwant is None else request.numwant
            limit = config.numwant_max if cap is None or cap > config.numwant_max else cap
            if numwant > limit:
                numwant = limit
        try:
            view = await self.store.announce(
                request.info_hash,
                request.kind,
                request.peer_id,
                request.endpoint,
                seeder=seeder,
                event=request.event,
                numwant=numwant,
                key=request.key,
            )
        except PeerConflict:
            raise ClientError("peer_id is in use from another address with a different key") from None
        peers = view.peers
        compact = b""
        if request.kind != SwarmKind.WEBRTC:
            compact = view.compact if view.compact is not None else b"".join(map(_endpoint, peers))
            ip = request.endpoint[:-2]
            if len(peers) > 1 and not _order_is_ranked(compact, ip, len(peers)):
                peers = rank_peers(peers, ip, requester_is_seed=seeder)
                compact = b"".join(map(_endpoint, peers))
        config = self.config
        return AnnounceReply(
            config.interval,
            config.min_interval,
            view.complete,
            view.incomplete,
            view.downloaded,
            peers,
            compact,
        )

    # -- scrape ---------------------------------------------------------------------------------
    async def scrape(
        self, info_hashes: Sequence[bytes], kinds: Sequence[SwarmKind] = IP_KINDS
    ) -> list[ScrapeCounts | None]:
        """Counts per infohash in order; None for infohashes the policy refuses."""
        allowed = [await self.allowed(ih) for ih in info_hashes]
        wanted = [ih for ih, ok in zip(info_hashes, allowed, strict=True) if ok]
        counts = iter(await self.store.scrape(wanted, kinds)) if wanted else iter(())
        return [next(counts) if ok else None for ok in allowed]
