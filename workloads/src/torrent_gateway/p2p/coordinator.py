"""The peer coordinator: ``GET /api/peers/{infohash}`` merges, de-duplicates and ranks peers.

Sources, asked concurrently, each with a timeout (a source that fails is reported, not fatal):

* **tracker** — the swarm store the tracker registered as ``swarms`` of :func:`create_peers_router`;
* **dht** — a ``get_peers`` lookup from the seeder's libtorrent session (shared by concurrent
  requests, cached for ``DHT_CACHE_TTL`` seconds, at most ``MAX_LOOKUPS`` at once);
* **webseed** — our own BEP 19 URL, a pseudo-peer that always has every piece.

Ranking (:func:`rank_peers`, pure): seeds first (the WebSeed is a seed; peers whose role is
unknown come after seeds, known leechers last), then by

    score = 0.6 * responsiveness + 0.4 * proximity          (both in 0..1)

* responsiveness = 1 / (1 + rtt_ms / 100) from round-trip times our seeder measured on its own
  connections to that address (:class:`PeerBook`); 0.5 when never measured;
* proximity, with a GeoIP database (``dht.geoip_database``, MaxMind format) and both addresses
  located: 0.6 * category + 0.4 * (1 - distance / half the Earth's circumference), where category
  is 1 for the same autonomous system, 0.8 same country, 0.5 same continent, 0.2 otherwise
  (without coordinates the category alone); otherwise — no database, or an address it does not
  know — the common-prefix length of the two addresses over the address width (0 across families).

Ties go to real peers before the WebSeed (to spare our bandwidth), then by address, so the order
is deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from ..clientaddr import client_address
from ..manifest import INFOHASH_RE
from ..tracker.model import Event, SwarmKind
from ..tracker.swarm import SwarmStore
from ..web.deps import ServicesDep
from ..web.urls import base_url, webseed_url
from . import metrics
from .geo import GeoLocator, Location, distance_km

log = logging.getLogger(__name__)

RESPONSIVENESS_WEIGHT = 0.6
PROXIMITY_WEIGHT = 0.4
UNMEASURED = 0.5
HALF_EARTH_KM = 20037.5
DHT_CACHE_TTL = 30.0
MAX_LOOKUPS = 8
TRACKER_NUMWANT = 200
SOURCE_TIMEOUT = 5.0


# -- the pure core ---------------------------------------------------------------------------------
def normalise_ip(text: str) -> str | None:
    """Canonical text of an IP (IPv4-mapped IPv6 becomes IPv4); None when not an address."""
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


@dataclass
class PeerCandidate:
    sources: set[str] = field(default_factory=set)
    ip: str | None = None
    port: int | None = None
    url: str | None = None
    seed: bool | None = None

    @property
    def key(self) -> tuple[str, ...]:
        if self.url is not None:
            return ("url", self.url)
        return ("peer", self.ip or "", str(self.port))


@dataclass(frozen=True)
class RankedPeer:
    peer: PeerCandidate
    responsiveness: float
    proximity: float
    score: float
    rtt_ms: float | None
    location: Location | None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sources": sorted(self.peer.sources), "seed": self.peer.seed}
        if self.peer.url is not None:
            out["url"] = self.peer.url
        else:
            out["ip"], out["port"] = self.peer.ip, self.peer.port
        out.update(
            responsiveness=round(self.responsiveness, 4),
            proximity=round(self.proximity, 4),
            score=round(self.score, 4),
            rtt_ms=self.rtt_ms,
        )
        if self.location is not None:
            out["location"] = self.location.view()
        return out


def merge_peers(candidates: Iterable[PeerCandidate]) -> list[PeerCandidate]:
    """One entry per address:port (or URL); sources are united; a peer is a seed if any source says so."""
    merged: dict[tuple[str, ...], PeerCandidate] = {}
    for candidate in candidates:
        if candidate.url is None:
            ip = normalise_ip(candidate.ip or "")
            if ip is None or not candidate.port or not 0 < candidate.port < 65536:
                continue
            candidate = PeerCandidate(set(candidate.sources), ip, candidate.port, None, candidate.seed)
        existing = merged.get(candidate.key)
        if existing is None:
            merged[candidate.key] = PeerCandidate(
                set(candidate.sources), candidate.ip, candidate.port, candidate.url, candidate.seed
            )
            continue
        existing.sources |= candidate.sources
        if True in (existing.seed, candidate.seed):
            existing.seed = True
        elif False in (existing.seed, candidate.seed):
            existing.seed = False
    return list(merged.values())


def prefix_proximity(a: str, b: str) -> float:
    """Common leading bits of two addresses over their width; 0 for different families."""
    try:
        x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return 0.0
    if x.version != y.version:
        return 0.0
    width = x.max_prefixlen
    diff = int(x) ^ int(y)
    return (width - diff.bit_length()) / width


def geo_proximity(a: Location, b: Location) -> float | None:
    """Proximity from two locations; None when they share no comparable field."""
    if a.asn is not None and a.asn == b.asn:
        category = 1.0
    elif a.country and b.country:
        category = (
            0.8 if a.country == b.country else (0.5 if a.continent and a.continent == b.continent else 0.2)
        )
    elif a.continent and b.continent:
        category = 0.5 if a.continent == b.continent else 0.2
    elif a.asn is not None and b.asn is not None:
        category = 0.2
    else:
        return None
    km = distance_km(a, b)
    if km is None:
        return category
    return 0.6 * category + 0.4 * max(0.0, 1.0 - km / HALF_EARTH_KM)


def responsiveness_of(rtt_ms: float | None) -> float:
    if rtt_ms is None:
        return UNMEASURED
    return 1.0 / (1.0 + max(0.0, rtt_ms) / 100.0)


Locate = Callable[[str], Location | None]


def rank_peers(
    candidates: Iterable[PeerCandidate],
    requester_ip: str | None,
    *,
    rtt_ms: Callable[[PeerCandidate], float | None] = lambda _: None,
    locate: Locate | None = None,
) -> list[RankedPeer]:
    """Order peers for a requester (see the module docstring for the formula)."""
    requester = normalise_ip(requester_ip or "") if requester_ip else None
    home = locate(requester) if (locate is not None and requester) else None
    ranked: list[tuple[tuple[Any, ...], RankedPeer]] = []
    for peer in candidates:
        rtt = rtt_ms(peer)
        responsiveness = responsiveness_of(rtt)
        location = locate(peer.ip) if (locate is not None and peer.ip) else None
        proximity: float | None = None
        if home is not None and location is not None:
            proximity = geo_proximity(home, location)
        if proximity is None:
            proximity = prefix_proximity(requester, peer.ip) if (requester and peer.ip) else UNMEASURED
        score = RESPONSIVENESS_WEIGHT * responsiveness + PROXIMITY_WEIGHT * proximity
        role = 0 if peer.seed is True else (1 if peer.seed is None else 2)
        key = (role, -score, 1 if peer.url is not None else 0, peer.key)
        ranked.append((key, RankedPeer(peer, responsiveness, proximity, score, rtt, location)))
    ranked.sort(key=lambda item: item[0])
    return [item[1] for item in ranked]


@dataclass
class Observation:
    rtt_ms: float
    seed: bool
    seen: float


class PeerBook:
    """Round-trip times our seeder measured to peer addresses (bounded, expiring)."""

    def __init__(self, max_entries: int = 10_000, ttl: float = 600.0) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._items: OrderedDict[str, Observation] = OrderedDict()

    def observe(self, ip: str, *, rtt_ms: float, seed: bool, now: float | None = None) -> None:
        key = normalise_ip(ip)
        if key is None or rtt_ms <= 0:
            return
        self._items[key] = Observation(rtt_ms, seed, time.time() if now is None else now)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def rtt(self, ip: str | None, now: float | None = None) -> float | None:
        key = normalise_ip(ip) if ip else None
        item = self._items.get(key) if key else None
        if item is None:
            return None
        if (time.time() if now is None else now) - item.seen > self.ttl:
            return None
        return item.rtt_ms

    def __len__(self) -> int:
        return len(self._items)


# -- sources ---------------------------------------------------------------------------------------
def decode_endpoint(endpoint: bytes) -> tuple[str, int] | None:
    """A compact endpoint (BEP 23: 4 or 16 address bytes + 2 port bytes) as (ip, port)."""
    if len(endpoint) == 6:
        return socket.inet_ntop(socket.AF_INET, endpoint[:4]), int.from_bytes(endpoint[4:], "big")
    if len(endpoint) == 18:
        return socket.inet_ntop(socket.AF_INET6, endpoint[:16]), int.from_bytes(endpoint[16:], "big")
    return None


COORDINATOR_PEER_ID = b"-TG0100-coordinator"[:20].ljust(20, b"0")


async def tracker_peers(
    swarms: SwarmStore, infohash: str, numwant: int = TRACKER_NUMWANT
) -> list[PeerCandidate]:
    """Peers the tracker holds for ``infohash`` (IPv4 and IPv6 swarms).

    Uses the store's read-only ``peers(info_hash, kind, limit)`` when it has one. Otherwise it
    asks the way the store's interface allows — an announce as a leecher that wants peers,
    withdrawn at once with ``stopped`` — which briefly counts one leecher in that swarm.
    """
    info_hash = bytes.fromhex(infohash)
    found: list[PeerCandidate] = []
    for kind in (SwarmKind.IPV4, SwarmKind.IPV6):
        reader = getattr(swarms, "peers", None)
        if reader is not None:
            stored = await reader(info_hash, kind, numwant)
        else:
            probe_address = b"\x00" * (4 if kind == SwarmKind.IPV4 else 16) + b"\x00\x00"
            view = await swarms.announce(
                info_hash,
                kind,
                COORDINATOR_PEER_ID,
                probe_address,
                seeder=False,
                event=Event.NONE,
                numwant=numwant,
            )
            stored = list(view.peers)  # before the next store call changes the swarm
            await swarms.announce(
                info_hash,
                kind,
                COORDINATOR_PEER_ID,
                probe_address,
                seeder=False,
                event=Event.STOPPED,
                numwant=0,
            )
        for peer in stored:
            if peer.peer_id == COORDINATOR_PEER_ID:
                continue
            endpoint = decode_endpoint(peer.endpoint)
            if endpoint is not None:
                found.append(PeerCandidate({"tracker"}, endpoint[0], endpoint[1], None, bool(peer.seeder)))
    return found


class DHTLookups:
    """``get_peers`` through a libtorrent session: shared, cached, bounded."""

    def __init__(
        self, session: Any, *, timeout: float, quiet: float = 0.3, cache_ttl: float = DHT_CACHE_TTL
    ) -> None:
        self.session = session
        self.timeout = timeout
        self.quiet = quiet
        self.cache_ttl = cache_ttl
        self.lookups = 0
        self._cache: dict[str, tuple[float, list[tuple[str, int]]]] = {}
        self._pending: dict[str, asyncio.Future[list[tuple[str, int]]]] = {}
        self._slots = asyncio.Semaphore(MAX_LOOKUPS)

    async def get_peers(self, infohash: str) -> list[tuple[str, int]]:
        now = time.monotonic()
        cached = self._cache.get(infohash)
        if cached is not None and now - cached[0] < self.cache_ttl:
            return cached[1]
        pending = self._pending.get(infohash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[list[tuple[str, int]]] = asyncio.get_running_loop().create_future()
        self._pending[infohash] = future
        try:
            async with self._slots:
                peers = await self._lookup(infohash)
            self._cache[infohash] = (time.monotonic(), peers)
            if len(self._cache) > 10_000:
                self._cache.clear()
            future.set_result(peers)
            return peers
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            del self._pending[infohash]

    async def _lookup(self, infohash: str) -> list[tuple[str, int]]:
        import libtorrent as lt

        from .session import sha1_hash

        found: dict[tuple[str, int], None] = {}
        changed = asyncio.Event()

        def handler(alert: Any) -> None:
            if isinstance(alert, lt.dht_get_peers_reply_alert) and str(alert.info_hash) == infohash:
                for ip, port in alert.peers():
                    found[(ip, int(port))] = None
                changed.set()

        self.lookups += 1
        unsubscribe = self.session.subscribe(handler)
        try:
            self.session.session.dht_get_peers(sha1_hash(infohash))
            deadline = time.monotonic() + self.timeout
            # Replies trickle in as the traversal goes; stop at the deadline, or once some peers
            # came and the traversal has been quiet for a moment.
            while (left := deadline - time.monotonic()) > 0:
                changed.clear()
                wait = min(left, self.quiet) if found else left
                try:
                    await asyncio.wait_for(changed.wait(), wait)
                except TimeoutError:
                    if found:
                        break
        finally:
            unsubscribe()
        return list(found)


# -- the HTTP endpoint -----------------------------------------------------------------------------
def create_peers_router(node: Any, swarms: SwarmStore | None) -> APIRouter:
    """The ``/api/peers/{infohash}`` router; ``node`` is the process's ``P2PNode`` and ``swarms``
    its tracker's swarm store (either may be None)."""
    router = APIRouter(tags=["p2p"])

    @router.get("/api/peers/{infohash}")
    async def peers(infohash: str, request: Request, services: ServicesDep) -> dict[str, Any]:
        """Peers for a torrent we hold, merged from our tracker, the DHT and our WebSeed, best first."""
        infohash = infohash.lower()
        if not INFOHASH_RE.match(infohash):
            raise HTTPException(400, "malformed infohash: expected 40 hexadecimal characters")
        manifest = await services.catalog.by_infohash(infohash)
        if manifest is None or manifest.infohash != infohash:
            raise HTTPException(404, "no torrent with this infohash here")
        settings = services.settings
        requester = client_address(
            request.client.host if request.client else None,
            request.headers.raw,
            settings.gateway.trusted_proxies,
            settings.gateway.forwarded_header,
        )
        report: dict[str, Any] = {}
        candidates: list[PeerCandidate] = []

        async def from_tracker() -> list[PeerCandidate]:
            if swarms is None:
                raise LookupError("no tracker in this process")
            return await tracker_peers(swarms, infohash)

        async def from_dht() -> list[PeerCandidate]:
            if node is None or node.lookups is None:
                raise LookupError("no DHT node in this process")
            with contextlib.suppress(Exception):
                await node.seeder.ensure(infohash)  # demand brings a parked torrent back
            found = await node.lookups.get_peers(infohash)
            return [PeerCandidate({"dht"}, ip, port, None, None) for ip, port in found]

        async def gather(name: str, source: Callable[[], Any]) -> None:
            started = time.perf_counter()
            try:
                found = await asyncio.wait_for(
                    source(), SOURCE_TIMEOUT + (node.options.lookup_timeout if node else 0)
                )
            except LookupError as exc:
                report[name] = {"ok": False, "error": str(exc), "count": 0}
                metrics.PEER_LOOKUPS.labels(name, "unavailable").inc()
                return
            except Exception as exc:  # a failing source is reported; the others still answer
                log.info("peer source %s failed for %s: %s", name, infohash, exc)
                report[name] = {"ok": False, "error": type(exc).__name__, "count": 0}
                metrics.PEER_LOOKUPS.labels(name, "error").inc()
                return
            report[name] = {
                "ok": True,
                "count": len(found),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
            metrics.PEER_LOOKUPS.labels(name, "ok").inc()
            candidates.extend(found)

        await asyncio.gather(gather("tracker", from_tracker), gather("dht", from_dht))
        webseed = webseed_url(base_url(request, settings), manifest)
        candidates.append(PeerCandidate({"webseed"}, None, None, webseed, True))
        report["webseed"] = {"ok": True, "count": 1}

        book = node.peer_book if node is not None else None
        locate = node.locator.locate if (node is not None and node.locator is not None) else None
        ranked = rank_peers(
            merge_peers(candidates),
            requester,
            rtt_ms=(lambda p: book.rtt(p.ip)) if book is not None else (lambda _: None),
            locate=locate,
        )
        return {
            "infohash": infohash,
            "sha256": manifest.sha256,
            "requester": requester,
            "geoip": locate is not None,
            "sources": report,
            "peers": [r.view() for r in ranked],
        }

    return router


__all__ = [
    "DHTLookups",
    "GeoLocator",
    "PeerBook",
    "PeerCandidate",
    "RankedPeer",
    "create_peers_router",
    "merge_peers",
    "rank_peers",
]
