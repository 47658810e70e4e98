"""The swarm store interface: who is in which swarm, with exact counts and expiry.

Every driver (in-process memory, Redis) passes one contract test suite
(``tests/integration/tracker/test_swarm_contract.py``). The contract:

* A swarm is identified by ``(info_hash, kind)``; v4, v6 and WebRTC swarms of one infohash never
  see each other's peers (BEP 7).
* A member of an IP swarm is identified by its compact endpoint (ip:port): one address announcing
  with two peer ids is one member (the latest id wins), counted once and never handed to itself.
  A client whose address changes is a new member; the old one expires. A member of a WebRTC
  swarm is identified by its 20-byte ``peer_id`` (its endpoint is the relay node many share).
  Announcing again refreshes the member (peer id or endpoint, seeder flag, last-seen time). When
  a stored WebRTC member has a non-empty ``key`` and the new announce comes from another endpoint
  with a different key, the store refuses it with :class:`PeerConflict` (the ``key`` lets a
  client prove its identity when it moves).
* ``event=STOPPED`` removes the member and returns no peers.
* A member silent for ``peer_ttl`` seconds (by the injected ``clock``) is gone: it is neither
  counted nor returned, from the first read after its deadline, with no help from :meth:`gc`.
* ``downloaded`` counts ``event=COMPLETED`` announces of members not already stored as seeders;
  it is per infohash (all kinds together) and outlives the swarm's members.
* Counts in every reply are exact after the update: ``complete`` seeders, ``incomplete`` leechers.
* Peer choice: never the requester itself; a seeder gets leechers first, then (when leechers are
  short) other seeders, as a magnet client fetching metadata announces ``left=0``; a leecher gets
  seeders first, then leechers; at most ``numwant``; each from a random position so that requesters see
  different parts of a large swarm.
* :meth:`gc` removes swarms whose members have all expired (the downloaded counter stays) and
  brings :meth:`stats` up to date; it is safe to run from several replicas at once.
* :meth:`publish` delivers an opaque message to the tracker node subscribed under ``node``
  (the WebSocket relay); the memory driver delivers within the process, Redis across replicas.
* A backend that cannot be reached raises :class:`SwarmUnavailable`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

from .model import Event, ScrapeCounts, StoredPeer, SwarmKind, SwarmView

RelayHandler = Callable[[bytes], None]


class SwarmUnavailable(Exception):
    """The swarm backend cannot be reached right now."""


class PeerConflict(Exception):
    """The peer id is held by another endpoint that proved itself with a different key."""


class SwarmStore(abc.ABC):
    name: str = "abstract"
    # True when no method ever suspends (in-process data): frontends may then run a handler
    # without creating a task for it (the UDP hot path).
    inline: bool = False

    @abc.abstractmethod
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
        """Add, refresh or remove one member, then answer with counts and up to ``numwant`` peers."""

    @abc.abstractmethod
    async def scrape(self, info_hashes: Sequence[bytes], kinds: Sequence[SwarmKind]) -> list[ScrapeCounts]:
        """Counts per infohash (summed over ``kinds``), in the order asked; zeros when unknown."""

    @abc.abstractmethod
    async def get_peer(self, info_hash: bytes, kind: SwarmKind, ident: bytes) -> StoredPeer | None:
        """One live member by its identity (peer id for WebRTC, compact endpoint for IP), or None."""

    @abc.abstractmethod
    async def gc(self) -> int:
        """Drop swarms whose members all expired; returns how many went."""

    @abc.abstractmethod
    async def stats(self) -> tuple[int, int]:
        """(swarms, peers) as of the last gc (exact right after it)."""

    @abc.abstractmethod
    async def publish(self, node: bytes, message: bytes) -> None:
        """Hand ``message`` to the node subscribed under ``node`` (dropped if nobody is)."""

    @abc.abstractmethod
    async def subscribe(self, node: bytes, handler: RelayHandler) -> None:
        """Call ``handler(message)`` for each message published to ``node`` until close()."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise SwarmUnavailable when the backend cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and stop owned tasks."""
