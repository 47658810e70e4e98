"""In-process swarm store for one-process mode (and the benchmark's fastest path).

Each swarm keeps its members in an insertion-ordered dict refreshed with ``move_to_end``, so the
oldest member is always first and expiry pops from the front in amortised O(1). Seeders and
leechers also sit in two arrays with each member's index, so a random window of ``numwant`` peers
costs O(numwant) whatever the swarm size, and removal is a swap with the last element.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from .model import Event, ScrapeCounts, StoredPeer, SwarmKind, SwarmView
from .swarm import PeerConflict, RelayHandler, SwarmStore

Clock = Callable[[], float]


class _Member:
    __slots__ = ("peer", "key", "seen", "pos")

    def __init__(self, peer: StoredPeer, key: bytes, seen: float, pos: int) -> None:
        self.peer = peer
        self.key = key
        self.seen = seen
        self.pos = pos


class _Swarm:
    __slots__ = ("members", "seeders", "leechers")

    def __init__(self) -> None:
        self.members: OrderedDict[bytes, _Member] = OrderedDict()
        # The members' StoredPeer tuples, so a pick is a slice (no per-peer Python work).
        self.seeders: list[StoredPeer] = []
        self.leechers: list[StoredPeer] = []

    def link(self, member: _Member) -> None:
        role = self.seeders if member.peer.seeder else self.leechers
        member.pos = len(role)
        role.append(member.peer)

    def unlink(self, member: _Member) -> None:
        """Take the member out of its role array (swap with the last element)."""
        role = self.seeders if member.peer.seeder else self.leechers
        last = role.pop()
        if member.pos < len(role):
            role[member.pos] = last
            self.members[last.peer_id].pos = member.pos

    def expire(self, cutoff: float) -> int:
        removed = 0
        members = self.members
        while members:
            peer_id = next(iter(members))
            member = members[peer_id]
            if member.seen > cutoff:
                break
            del members[peer_id]
            self.unlink(member)
            removed += 1
        return removed


def _window(role: list[StoredPeer], count: int, skip: int) -> list[StoredPeer]:
    """Up to ``count`` peers of ``role`` from a random start, wrapping, leaving out index ``skip``
    (the requester's own entry, or -1); O(count) whatever the swarm size."""
    total = len(role)
    want = count + (skip >= 0)
    if count <= 0 or total == 0:
        return []
    if total <= want:
        window = role[:]
        start = 0
    else:
        start = random.randrange(total)
        end = start + want
        window = role[start:end] if end <= total else role[start:] + role[: end - total]
    if skip >= 0:
        offset = (skip - start) % total
        if offset < len(window):
            del window[offset]
        elif len(window) > count:
            window.pop()
    return window


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
            swarm = self._swarms[(info_hash, kind)] = _Swarm()
        member = swarm.members.get(peer_id)
        if member is not None and member.key and member.key != key and member.peer.endpoint != endpoint:
            raise PeerConflict(peer_id)
        if event == Event.COMPLETED and (member is None or not member.peer.seeder):
            self._downloaded[info_hash] = self._downloaded.get(info_hash, 0) + 1
        if event == Event.STOPPED:
            if member is not None:
                swarm.unlink(swarm.members.pop(peer_id))
                self._peers -= 1
            if not swarm.members:
                del self._swarms[(info_hash, kind)]
            return SwarmView(len(swarm.seeders), len(swarm.leechers), self._downloaded.get(info_hash, 0), [])
        if member is None:
            member = _Member(StoredPeer(peer_id, endpoint, seeder), key, now, 0)
            swarm.members[peer_id] = member
            swarm.link(member)
            self._peers += 1
        else:
            old = member.peer
            if old.seeder != seeder or old.endpoint != endpoint:
                swarm.unlink(member)
                member.peer = StoredPeer(peer_id, endpoint, seeder)
                swarm.link(member)
            if key:
                member.key = key
            member.seen = now
            swarm.members.move_to_end(peer_id)
        if seeder:
            peers = _window(swarm.leechers, numwant, -1)
        else:
            peers = _window(swarm.seeders, numwant, -1)
            if len(peers) < numwant:
                peers += _window(swarm.leechers, numwant - len(peers), member.pos)
        return SwarmView(len(swarm.seeders), len(swarm.leechers), self._downloaded.get(info_hash, 0), peers)

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

    async def get_peer(self, info_hash: bytes, kind: SwarmKind, peer_id: bytes) -> StoredPeer | None:
        swarm = self._live(info_hash, kind, self._clock())
        member = swarm.members.get(peer_id) if swarm is not None else None
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
