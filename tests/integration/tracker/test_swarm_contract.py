"""The swarm store contract (see tracker/swarm.py), run on every driver: memory and Redis."""

from __future__ import annotations

import asyncio
import random

import pytest
from torrent_gateway.tracker.model import Event, StoredPeer, SwarmKind
from torrent_gateway.tracker.swarm import PeerConflict, SwarmStore

from .conftest import TTL, FakeClock

IH = b"\x11" * 20
IH2 = b"\x22" * 20
V4, V6, RTC = SwarmKind.IPV4, SwarmKind.IPV6, SwarmKind.WEBRTC


def pid(n: int) -> bytes:
    return b"-TT0001-%012d" % n


def ep4(n: int) -> bytes:
    return bytes([10, 0, n // 256, n % 256]) + (6881).to_bytes(2, "big")


def ep6(n: int) -> bytes:
    return b"\x20\x01\x0d\xb8" + bytes(10) + n.to_bytes(2, "big") + (6881).to_bytes(2, "big")


async def join(
    store: SwarmStore,
    n: int,
    *,
    seeder: bool = False,
    kind: SwarmKind = V4,
    info_hash: bytes = IH,
    numwant: int = 50,
    event: Event = Event.STARTED,
    key: bytes = b"",
):
    endpoint = {V4: ep4, V6: ep6, RTC: lambda _: b"node-a"}[kind](n)
    return await store.announce(
        info_hash, kind, pid(n), endpoint, seeder=seeder, event=event, numwant=numwant, key=key
    )


async def test_families_are_isolated(store: SwarmStore) -> None:
    await join(store, 1, kind=V4)
    await join(store, 2, kind=V6)
    await join(store, 3, kind=RTC)
    view = await join(store, 4, kind=V4)
    assert [p.peer_id for p in view.peers] == [pid(1)]
    assert (view.complete, view.incomplete) == (0, 2)
    view6 = await join(store, 5, kind=V6)
    assert [p.endpoint for p in view6.peers] == [ep6(2)]
    rtc = await join(store, 6, kind=RTC)
    assert [p.peer_id for p in rtc.peers] == [pid(3)]
    both = await store.scrape([IH], [V4, V6])
    assert both[0].incomplete == 4
    assert (await store.scrape([IH], [RTC]))[0].incomplete == 2


async def test_counts_are_exact_through_role_changes(store: SwarmStore) -> None:
    for n in range(5):
        await join(store, n)
    await join(store, 5, seeder=True)
    view = await join(store, 2, seeder=True)  # a leecher finished: moves, is not counted twice
    assert (view.complete, view.incomplete) == (2, 4)
    view = await join(store, 2, seeder=True)  # a refresh changes nothing
    assert (view.complete, view.incomplete) == (2, 4)
    [counts] = await store.scrape([IH], [V4, V6])
    assert (counts.complete, counts.incomplete) == (2, 4)


async def test_peer_choice(store: SwarmStore) -> None:
    for n in range(6):
        await join(store, n)
    for n in range(6, 9):
        await join(store, n, seeder=True)
    leecher = await join(store, 0, numwant=5)
    ids = [p.peer_id for p in leecher.peers]
    assert len(ids) == 5 and len(set(ids)) == 5 and pid(0) not in ids
    assert [p.seeder for p in leecher.peers] == [True, True, True, False, False]  # seeds first
    seeder = await join(store, 6, seeder=True, numwant=5)
    assert {p.peer_id for p in seeder.peers} <= {pid(n) for n in range(6)}  # leechers suffice
    assert len(seeder.peers) == 5
    # leechers first, then the other seeders, never the seeder itself
    seeder = await join(store, 6, seeder=True, numwant=50)
    assert [p.seeder for p in seeder.peers] == [False] * 6 + [True] * 2
    assert {p.peer_id for p in seeder.peers} == {pid(n) for n in range(9)} - {pid(6)}
    assert (await join(store, 1, numwant=0)).peers == []
    everyone = await join(store, 1, numwant=100)
    assert {p.peer_id for p in everyone.peers} == {pid(n) for n in range(9)} - {pid(1)}
    stored = {p.peer_id: p for p in everyone.peers}
    assert stored[pid(7)] == StoredPeer(pid(7), ep4(7), True)


async def test_large_swarm_windows_are_random(store: SwarmStore) -> None:
    for n in range(60):
        await join(store, n, numwant=0)
    seen: set[bytes] = set()
    for _ in range(30):
        view = await join(store, 0, numwant=10)
        assert len(view.peers) == 10 and pid(0) not in {p.peer_id for p in view.peers}
        seen.update(p.peer_id for p in view.peers)
    assert len(seen) > 30  # different requesters see different parts of the swarm


async def test_stopped_removes_and_returns_no_peers(store: SwarmStore) -> None:
    await join(store, 1)
    await join(store, 2, seeder=True)
    view = await join(store, 1, event=Event.STOPPED)
    assert view.peers == [] and (view.complete, view.incomplete) == (1, 0)
    view = await join(store, 9, event=Event.STOPPED)  # never joined: harmless
    assert (view.complete, view.incomplete) == (1, 0)
    await join(store, 2, seeder=True, event=Event.STOPPED)
    await store.gc()
    assert await store.stats() == (0, 0)


async def test_downloaded_counts_completions_once(store: SwarmStore) -> None:
    await join(store, 1)
    view = await join(store, 1, seeder=True, event=Event.COMPLETED)
    assert view.downloaded == 1
    view = await join(store, 1, seeder=True, event=Event.COMPLETED)  # repeated: already a seeder
    assert view.downloaded == 1
    await join(store, 2, seeder=True, event=Event.COMPLETED, kind=V6)  # per infohash, all kinds
    await join(store, 3, seeder=True, event=Event.COMPLETED, info_hash=IH2)
    counts = await store.scrape([IH, IH2, b"\x33" * 20], [V4, V6])
    assert [c.downloaded for c in counts] == [2, 1, 0]
    assert counts[2] == (0, 0, 0)


async def test_silent_peers_expire_without_gc(store: SwarmStore, clock: FakeClock) -> None:
    await join(store, 1)
    await join(store, 2, seeder=True)
    clock.advance(TTL / 2)
    await join(store, 2, seeder=True)  # refreshed, stays
    clock.advance(TTL / 2 + 1)
    view = await join(store, 3)
    assert [p.peer_id for p in view.peers] == [pid(2)]
    assert (view.complete, view.incomplete) == (1, 1)
    assert await store.get_peer(IH, V4, ep4(1)) is None
    assert await store.get_peer(IH, V4, ep4(2)) == StoredPeer(pid(2), ep4(2), True)
    clock.advance(TTL + 1)
    [counts] = await store.scrape([IH], [V4])
    assert (counts.complete, counts.incomplete) == (0, 0)


async def test_gc_drops_idle_swarms_and_keeps_downloaded(store: SwarmStore, clock: FakeClock) -> None:
    for n in range(4):
        await join(store, n, kind=V4)
        await join(store, n, kind=V6, info_hash=IH2)
    await join(store, 9, seeder=True, event=Event.COMPLETED)
    await store.gc()
    assert await store.stats() == (2, 9)
    clock.advance(TTL / 2)
    await join(store, 0, kind=V6, info_hash=IH2)
    clock.advance(TTL / 2 + 1)
    assert await store.gc() >= 1
    swarms, _ = await store.stats()
    assert swarms == 1
    clock.advance(TTL)
    await store.gc()
    assert await store.stats() == (0, 0)
    [counts] = await store.scrape([IH], [V4, V6])
    assert counts == (0, 0, 1)


async def test_seeder_alone_with_seeders_gets_them(store: SwarmStore) -> None:
    """A magnet client fetching metadata announces left=0: with no leechers it still learns of
    the seeders (aria2 otherwise waits a whole interval with no peers), never of itself."""
    await join(store, 1, seeder=True)
    view = await join(store, 2, seeder=True)
    assert [(p.peer_id, p.endpoint, p.seeder) for p in view.peers] == [(pid(1), ep4(1), True)]
    assert (await join(store, 1, seeder=True)).peers == [StoredPeer(pid(2), ep4(2), True)]


async def test_one_endpoint_is_one_peer_whatever_its_ids(store: SwarmStore) -> None:
    """IP swarm members are keyed by ip:port: a second peer id from the same address replaces
    the first, is counted once, and the address is never handed to itself."""
    await join(store, 1, seeder=True)
    first = await store.announce(IH, V4, pid(7), ep4(2), seeder=False, event=Event.STARTED, numwant=50)
    again = await store.announce(IH, V4, pid(8), ep4(2), seeder=False, event=Event.STARTED, numwant=50)
    for view in (first, again):
        assert [p.endpoint for p in view.peers] == [ep4(1)]
    assert (again.complete, again.incomplete) == (1, 1)
    assert await store.get_peer(IH, V4, ep4(2)) == StoredPeer(pid(8), ep4(2), False)
    seen_by_seed = await join(store, 1, seeder=True)
    assert list(seen_by_seed.peers) == [StoredPeer(pid(8), ep4(2), False)]
    await store.announce(IH, V4, pid(8), ep4(2), seeder=False, event=Event.STOPPED, numwant=0)
    [counts] = await store.scrape([IH], [V4])
    assert (counts.complete, counts.incomplete) == (1, 0)


async def test_key_proves_identity(store: SwarmStore) -> None:
    """WebRTC members are keyed by peer id; their endpoint is the relay node holding the socket."""
    await store.announce(IH, RTC, pid(1), b"node-a", seeder=False, event=Event.STARTED, numwant=5, key=b"k1")
    with pytest.raises(PeerConflict):
        await store.announce(IH, RTC, pid(1), b"node-b", seeder=False, event=Event.NONE, numwant=5, key=b"k2")
    with pytest.raises(PeerConflict):
        await store.announce(IH, RTC, pid(1), b"node-b", seeder=False, event=Event.NONE, numwant=5)
    # the right key moves the peer; the same endpoint always may refresh
    await store.announce(IH, RTC, pid(1), b"node-b", seeder=False, event=Event.NONE, numwant=5, key=b"k1")
    assert (await store.get_peer(IH, RTC, pid(1))).endpoint == b"node-b"  # type: ignore[union-attr]
    await store.announce(IH, RTC, pid(1), b"node-b", seeder=False, event=Event.NONE, numwant=5)
    # without a stored key a new endpoint simply replaces the old one
    await store.announce(IH, RTC, pid(2), b"node-a", seeder=False, event=Event.NONE, numwant=5)
    await store.announce(IH, RTC, pid(2), b"node-c", seeder=False, event=Event.NONE, numwant=5)
    assert (await store.get_peer(IH, RTC, pid(2))).endpoint == b"node-c"  # type: ignore[union-attr]
    [counts] = await store.scrape([IH], [RTC])
    assert counts.incomplete == 2


async def test_relay_reaches_the_subscribed_node(store: SwarmStore) -> None:
    received: list[bytes] = []
    await store.subscribe(b"node-a", received.append)
    await store.publish(b"node-b", b"nobody listens")
    await store.publish(b"node-a", b"hello")
    for _ in range(200):
        if received:
            break
        await asyncio.sleep(0.01)
    assert received == [b"hello"]


async def test_random_churn_keeps_views_and_counts_consistent(store: SwarmStore, clock: FakeClock) -> None:
    """Joins, role flips, moves, stops and expiry in random order: every view's peers are
    distinct live members (never the requester), its compact form (when the store gives one)
    is exactly their endpoints, and the counts match a model of the swarm."""
    rng = random.Random(11)
    live: dict[bytes, tuple[bool, bytes]] = {}  # endpoint -> (seeder, peer id)
    for step in range(600):
        n = rng.randrange(60)
        clock.now += rng.choice([0, 0, 0, 1])
        if rng.random() < 0.15:
            view = await join(store, n, event=Event.STOPPED, numwant=0)
            live.pop(ep4(n), None)
            continue
        seeder = rng.random() < 0.3
        moved = rng.random() < 0.1  # a new address is a new member; the old one stays until it expires
        endpoint = ep4(n + 1000) if moved else ep4(n)
        view = await store.announce(
            IH, V4, pid(n), endpoint, seeder=seeder, event=Event.NONE, numwant=rng.choice([0, 1, 5, 200])
        )
        live[endpoint] = (seeder, pid(n))
        seeds = sum(1 for s, _ in live.values() if s)
        assert (view.complete, view.incomplete) == (seeds, len(live) - seeds), step
        endpoints = [p.endpoint for p in view.peers]
        assert len(set(endpoints)) == len(endpoints) and endpoint not in endpoints
        for peer in view.peers:
            assert live[peer.endpoint] == (peer.seeder, peer.peer_id), step
        if view.compact is not None:
            assert view.compact == b"".join(p.endpoint for p in view.peers), step
