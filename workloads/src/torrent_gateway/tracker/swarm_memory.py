"""In-process swarm store for one-process mode (and the benchmark's fastest path).

Each swarm keeps its members in an insertion-ordered dict refreshed with ``move_to_end``, so the
oldest member is always first and expiry pops from the front in amortised O(1). Seeders and
leechers also sit in two arrays with each member's index, so a random window of ``numwant`` peers
costs O(numwant) whatever the swarm size, and removal is a swap with the last element.

For IP swarms each role also keeps its members' compact endpoints side by side in one bytearray
(the same order as the array), as opentracker does: the compact reply for a window is a copy of
one or two slices, and the peers themselves are only looked at when a reply needs them (ranking,
non-compact replies). In a large store the per-peer objects are spread over the heap, and
visiting fifty of them per announce cost more than the rest of the announce.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from .model import Event, LazyPeers, ScrapeCounts, StoredPeer, SwarmKind, SwarmView
from .swarm import PeerConflict, RelayHandler, SwarmStore

Clock = Callable[[], float]


class _Member:
    __slots__ = ("peer", "key", "seen", "pos")

    def __init__(self, peer: StoredPeer, key: bytes, seen: float, pos: int) -> None:
        self.peer = peer
        self.key = key
        self.seen = seen
        self.pos = pos


_WIDTH = {SwarmKind.IPV4: 6, SwarmKind.IPV6: 18}  # compact endpoint sizes; WebRTC has none


class _Role:
    """The members of one role (seeders or leechers): their peers, and their endpoints packed."""

    __slots__ = ("peers", "packed", "width")

    def __init__(self, width: int) -> None:
        self.peers: list[StoredPeer] = []
        self.packed = bytearray()
        self.width = width

    def __len__(self) -> int:
        return len(self.peers)

    def append(self, peer: StoredPeer) -> int:
        self.peers.append(peer)
        if self.width:
            self.packed += peer.endpoint
        return len(self.peers) - 1

    def remove_at(self, pos: int) -> StoredPeer | None:
        """Remove index ``pos`` by moving the last member there; returns the moved member."""
        last = self.peers.pop()
        width = self.width
        if width:
            tail = self.packed[-width:]
            del self.packed[-width:]
        if pos < len(self.peers):
            self.peers[pos] = last
            if width:
                self.packed[pos * width : (pos + 1) * width] = tail
            return last
        return None


class _Swarm:
    """Members keyed by their identity: the compact endpoint in IP swarms (one ip:port is one
    peer whatever peer ids it announces with, as opentracker keys them), the peer id in WebRTC
    swarms (whose endpoint is the relay node that many peers share)."""

    __slots__ = ("members", "seeders", "leechers")

    def __init__(self, width: int) -> None:
        self.members: OrderedDict[bytes, _Member] = OrderedDict()
        self.seeders = _Role(width)
        self.leechers = _Role(width)

    def ident(self, peer: StoredPeer) -> bytes:
        return peer.endpoint if self.seeders.width else peer.peer_id

    def link(self, member: _Member) -> None:
        member.pos = (self.seeders if member.peer.seeder else self.leechers).append(member.peer)

    def unlink(self, member: _Member) -> None:
        """Take the member out of its role (the role's last member moves into its place)."""
        moved = (self.seeders if member.peer.seeder else self.leechers).remove_at(member.pos)
        if moved is not None:
            self.members[self.ident(moved)].pos = member.pos

    def expire(self, cutoff: float) -> int:
        removed = 0
        members = self.members
        while members:
            ident = next(iter(members))
            member = members[ident]
            if member.seen > cutoff:
                break
            del members[ident]
            self.unlink(member)
            removed += 1
        return removed


Segments = list[tuple[int, int]]


def _window(total: int, count: int, skip: int) -> Segments:
    """Up to ``count`` indices of a role of ``total`` members from a random start, wrapping,
    leaving out index ``skip`` (the requester's own entry, or -1), as (start, stop) ranges;
    O(1) whatever the swarm size."""
    if count <= 0 or total == 0:
        return []
    want = count + (skip >= 0)
    if total <= want:
        start, end = 0, total
    else:
        start = random.randrange(total)
        end = start + want
    segments = [(start, end)] if end <= total else [(start, total), (0, end - total)]
    if skip < 0:
        return segments
    kept: Segments = []
    for a, b in segments:
        if a <= skip < b:
            kept += [r for r in ((a, skip), (skip + 1, b)) if r[0] < r[1]]
            skip = -1
        else:
            kept.append((a, b))
    if skip >= 0 and sum(b - a for a, b in kept) > count:
        a, b = kept.pop()
        if b - 1 > a:
            kept.append((a, b - 1))
    return kept


class _Picked(LazyPeers):
    """The peers of a few index ranges of roles."""

    __slots__ = ("_parts",)

    def __init__(self, parts: list[tuple[_Role, Segments]]) -> None:
        super().__init__(sum(b - a for _, segments in parts for a, b in segments))
        self._parts = parts

    def _load(self) -> list[StoredPeer]:
        return list(
            itertools.chain.from_iterable(
                role.peers[a:b] for role, segments in self._parts for a, b in segments
            )
        )

    def packed(self) -> bytes:
        """The peers' compact endpoints, in the same order (IP swarms)."""
        return b"".join(
            role.packed[a * role.width : b * role.width]
            for role, segments in self._parts
            for a, b in segments
        )


class MemorySwarmStore(SwarmStore):
    name = "memory"
    inline = True

    def __init__(self, peer_ttl: float, clock: Clock = time.time) -> None:
        self._ttl = peer_ttl
        self._clock = clock
        self._swarms: dict[tuple[bytes, SwarmKind], _Swarm] = {}
        self._downloaded: dict[bytes, int] = {}
        self._peers = 0
        self._handlers: dict[bytes, RelayHandler] = {}

    def _live(self, info_hash: bytes, kind: SwarmKind, now: float) -> _Swarm | None:
        swarm = self._swarms.get((info_hash, kind))
        if swarm is not None:
            self._peers -= swarm.expire(now - self._ttl)
        return swarm

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
        swarm = self._live(info_hash, kind, now)
        if swarm is None:
            if event == Event.STOPPED:
                return SwarmView(0, 0, self._downloaded.get(info_hash, 0), [])
            swarm = self._swarms[(info_hash, kind)] = _Swarm(_WIDTH.get(kind, 0))
        ident = endpoint if swarm.seeders.width else peer_id
        member = swarm.members.get(ident)
        if member is not None and member.key and member.key != key and member.peer.endpoint != endpoint:
            raise PeerConflict(peer_id)
        if event == Event.COMPLETED and (member is None or not member.peer.seeder):
            self._downloaded[info_hash] = self._downloaded.get(info_hash, 0) + 1
        if event == Event.STOPPED:
            if member is not None:
                swarm.unlink(swarm.members.pop(ident))
                self._peers -= 1
            if not swarm.members:
                del self._swarms[(info_hash, kind)]
            return SwarmView(len(swarm.seeders), len(swarm.leechers), self._downloaded.get(info_hash, 0), [])
        if member is None:
            member = _Member(StoredPeer(peer_id, endpoint, seeder), key, now, 0)
            swarm.members[ident] = member
            swarm.link(member)
            self._peers += 1
        else:
            old = member.peer
            if old.seeder != seeder or old.endpoint != endpoint or old.peer_id != peer_id:
                swarm.unlink(member)
                member.peer = StoredPeer(peer_id, endpoint, seeder)
                swarm.link(member)
            if key:
                member.key = key
            member.seen = now
            swarm.members.move_to_end(ident)
        seeders, leechers = swarm.seeders, swarm.leechers
        if seeder:
            # Leechers first; when they are short, other seeders too: a client fetching metadata
            # from a magnet announces left=0 and would otherwise be told of nobody (aria2).
            from_leechers = _window(len(leechers), numwant, -1)
            parts = [(leechers, from_leechers)]
            missing = numwant - sum(b - a for a, b in from_leechers)
            if missing > 0:
                parts.append((seeders, _window(len(seeders), missing, member.pos)))
        else:
            from_seeders = _window(len(seeders), numwant, -1)
            parts = [(seeders, from_seeders)]
            missing = numwant - sum(b - a for a, b in from_seeders)
            if missing > 0:
                parts.append((leechers, _window(len(leechers), missing, member.pos)))
        peers = _Picked(parts)
        if not swarm.seeders.width:
            # WebRTC: every reply lists the peers (offers go to them), possibly after an await.
            return SwarmView(len(seeders), len(leechers), self._downloaded.get(info_hash, 0), list(peers))
        return SwarmView(
            len(seeders), len(leechers), self._downloaded.get(info_hash, 0), peers, peers.packed()
        )

    async def scrape(self, info_hashes: Sequence[bytes], kinds: Sequence[SwarmKind]) -> list[ScrapeCounts]:
        now = self._clock()
        result = []
        for info_hash in info_hashes:
            complete = incomplete = 0
            for kind in kinds:
                swarm = self._live(info_hash, kind, now)
                if swarm is not None:
                    complete += len(swarm.seeders)
                    incomplete += len(swarm.leechers)
            result.append(ScrapeCounts(complete, incomplete, self._downloaded.get(info_hash, 0)))
        return result

    async def get_peer(self, info_hash: bytes, kind: SwarmKind, ident: bytes) -> StoredPeer | None:
        swarm = self._live(info_hash, kind, self._clock())
        member = swarm.members.get(ident) if swarm is not None else None
        return member.peer if member is not None else None

    async def gc(self) -> int:
        cutoff = self._clock() - self._ttl
        removed = 0
        for swarm_key, swarm in list(self._swarms.items()):
            self._peers -= swarm.expire(cutoff)
            if not swarm.members:
                del self._swarms[swarm_key]
                removed += 1
        return removed

    async def stats(self) -> tuple[int, int]:
        return len(self._swarms), self._peers

    async def publish(self, node: bytes, message: bytes) -> None:
        handler = self._handlers.get(node)
        if handler is not None:
            handler(message)

    async def subscribe(self, node: bytes, handler: RelayHandler) -> None:
        self._handlers[node] = handler

    async def ping(self) -> None:
        return None  # in-process: always reachable

    async def close(self) -> None:
        self._handlers.clear()
