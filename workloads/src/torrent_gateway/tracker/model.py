"""Tracker domain types, independent of any wire format.

Frontends (HTTP, UDP, WebSocket) turn bytes into an :class:`AnnounceRequest` or a list of
infohashes, the logic answers with an :class:`AnnounceReply` or :class:`ScrapeCounts`, and the
frontends write those back in their own format. :class:`ClientError` carries a reason the client
may read; every other exception is an internal fault the client only learns "internal error" of.
"""

from __future__ import annotations

import abc
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple, overload


class ClientError(Exception):
    """The request is wrong; the message is safe to send to the client."""


class Event(IntEnum):
    """Announce events, numbered as on the UDP wire (BEP 15)."""

    NONE = 0
    COMPLETED = 1
    STARTED = 2
    STOPPED = 3


class SwarmKind(IntEnum):
    """Swarms are kept apart by how their members can be reached (BEP 7: v4 and v6 never mix)."""

    WEBRTC = 1  # WebTorrent peers, reachable only through the WebSocket relay
    IPV4 = 4
    IPV6 = 6


IP_KINDS = (SwarmKind.IPV4, SwarmKind.IPV6)


class StoredPeer(NamedTuple):
    """A swarm member as the store returns it.

    ``endpoint`` is the compact form for IP swarms (4 or 16 address bytes + 2 port bytes, BEP 23)
    and the relay address of the tracker node holding the WebSocket for WebRTC swarms.
    """

    peer_id: bytes
    endpoint: bytes
    seeder: bool


class LazyPeers(Sequence[StoredPeer]):
    """Peers a store chose, known by count up front and listed only when a reply iterates them
    (ranking, non-compact replies): a compact reply never needs the per-peer objects."""

    __slots__ = ("_count", "_list")

    def __init__(self, count: int) -> None:
        self._count = count
        self._list: list[StoredPeer] | None = None

    @abc.abstractmethod
    def _load(self) -> list[StoredPeer]:
        """The peers, in the store's order (called at most once)."""

    def _peers(self) -> list[StoredPeer]:
        if self._list is None:
            self._list = self._load()
        return self._list

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[StoredPeer]:
        return iter(self._peers())

    @overload
    def __getitem__(self, index: int) -> StoredPeer: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[StoredPeer]: ...
    def __getitem__(self, index: int | slice) -> StoredPeer | Sequence[StoredPeer]:
        return self._peers()[index]

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


class SwarmView(NamedTuple):
    """What the store answers to an announce: exact counts after the update, and chosen peers.

    ``compact`` is the chosen peers' endpoints joined in the same order (BEP 23), when the store
    keeps them side by side and can answer with one copy instead of a pass over the peers.
    ``peers`` may be listed lazily: read them before the next call to the store.
    """

    complete: int
    incomplete: int
    downloaded: int
    peers: Sequence[StoredPeer]
    compact: bytes | None = None


class ScrapeCounts(NamedTuple):
    complete: int
    incomplete: int
    downloaded: int


@dataclass(slots=True)
class AnnounceRequest:
    """One announce, whatever protocol carried it; the frontend has validated every field."""

    info_hash: bytes
    peer_id: bytes
    kind: SwarmKind
    endpoint: bytes  # compact address+port, or the relay address for WebRTC
    left: int
    event: Event = Event.NONE
    numwant: int | None = None  # None: the configured default
    uploaded: int = 0
    downloaded: int = 0
    key: bytes = b""
    protocol: str = "http"


@dataclass(slots=True)
class AnnounceReply:
    interval: int
    min_interval: int
    complete: int
    incomplete: int
    downloaded: int
    peers: Sequence[StoredPeer]
    compact: bytes = b""  # the peers' endpoints joined (BEP 23), for IP swarms


# -- addresses ------------------------------------------------------------------------------------

_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def pack_ip(text: str) -> bytes:
    """The 4 or 16 address bytes of an IP in text form; IPv4-mapped IPv6 addresses become IPv4.

    Raises ValueError for anything that is not an IP address.
    """
    try:
        return socket.inet_pton(socket.AF_INET, text)
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, text.partition("%")[0])
    except OSError:
        raise ValueError(f"not an IP address: {text!r}") from None
    return packed[12:] if packed[:12] == _V4_MAPPED else packed


def endpoint_port(endpoint: bytes) -> int:
    return int.from_bytes(endpoint[-2:], "big")


def endpoint_text(endpoint: bytes) -> str:
    """The address part of a compact endpoint as text (non-compact replies, logs)."""
    ip = endpoint[:-2]
    return socket.inet_ntop(socket.AF_INET if len(ip) == 4 else socket.AF_INET6, ip)
