"""Tracker logic: policy (with its cache), numwant, intervals, errors the client may see."""

from __future__ import annotations

import pytest
from torrent_gateway.config import load_settings
from torrent_gateway.tracker.inline import run_inline
from torrent_gateway.tracker.logic import TrackerConfig, TrackerLogic
from torrent_gateway.tracker.model import AnnounceRequest, ClientError, Event, SwarmKind
from torrent_gateway.tracker.swarm_memory import MemorySwarmStore

KNOWN = b"\x01" * 20
UNKNOWN = b"\x02" * 20


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def request(info_hash: bytes = KNOWN, n: int = 1, **kw: object) -> AnnounceRequest:
    fields: dict[str, object] = {
        "info_hash": info_hash,
        "peer_id": b"-TT0001-%012d" % n,
        "kind": SwarmKind.IPV4,
        "endpoint": bytes([10, 0, 0, n]) + b"\x1a\xe1",
        "left": 5,
    }
    fields.update(kw)
    return AnnounceRequest(**fields)  # type: ignore[arg-type]


def test_config_from_settings() -> None:
    settings = load_settings(
        None,
        tracker={
            "interval": 600,
            "min_interval": 900,
            "numwant_default": 500,
            "numwant_max": 80,
            "policy": "open",
        },
    )
    config = TrackerConfig.from_settings(settings.tracker)
    assert config == TrackerConfig(600, 600, 80, 80, True)


async def test_known_policy_asks_once_and_caches() -> None:
    asked: list[bytes] = []

    async def is_known(info_hash: bytes) -> bool:
        asked.append(info_hash)
        return info_hash == KNOWN

    clock = Clock()
    logic = TrackerLogic(TrackerConfig(), MemorySwarmStore(600), is_known, clock=clock)
    assert logic.policy_cached(KNOWN) is None
    await logic.announce(request())
    await logic.announce(request(n=2))
    assert asked == [KNOWN] and logic.policy_cached(KNOWN) is True
    with pytest.raises(ClientError, match="not registered"):
        await logic.announce(request(UNKNOWN))
    assert await logic.scrape([KNOWN, UNKNOWN]) == [(0, 2, 0), None]
    clock.now += 3600
    assert logic.policy_cached(KNOWN) is None  # expired: asked again
    logic.forget(KNOWN)
    await logic.allowed(KNOWN)
    assert asked.count(KNOWN) == 2


async def test_open_policy_never_asks() -> None:
    async def is_known(info_hash: bytes) -> bool:
        raise AssertionError("open trackers do not ask")

    logic = TrackerLogic(TrackerConfig(open_policy=True), MemorySwarmStore(600), is_known)
    assert logic.policy_cached(UNKNOWN) is True
    await logic.announce(request(UNKNOWN))


def test_numwant_defaults_and_caps() -> None:
    logic = TrackerLogic(
        TrackerConfig(numwant_default=20, numwant_max=50, open_policy=True), MemorySwarmStore(600)
    )
    assert [logic.numwant(None), logic.numwant(-1), logic.numwant(7), logic.numwant(10**9)] == [20, 20, 7, 50]
    assert logic.numwant(40, cap=30) == 30
    for n in range(1, 80):
        run_inline(logic.announce(request(n=n, numwant=0)))
    assert len(run_inline(logic.announce(request(n=1, numwant=10**6))).peers) == 50
    assert len(run_inline(logic.announce(request(n=1))).peers) == 20
    assert len(run_inline(logic.announce(request(n=1, numwant=100), cap=10)).peers) == 10
    stopped = run_inline(logic.announce(request(n=1, event=Event.STOPPED, numwant=100)))
    assert stopped.peers == [] and stopped.interval == 1800 and stopped.min_interval == 300


def test_key_conflict_is_a_client_error() -> None:
    logic = TrackerLogic(TrackerConfig(open_policy=True), MemorySwarmStore(600))
    webrtc = {"kind": SwarmKind.WEBRTC, "endpoint": b"node-a"}
    run_inline(logic.announce(request(key=b"one", **webrtc)))
    with pytest.raises(ClientError, match="different key"):
        run_inline(logic.announce(request(key=b"two", kind=SwarmKind.WEBRTC, endpoint=b"node-b")))


def test_compact_follows_the_ranked_order() -> None:
    logic = TrackerLogic(TrackerConfig(open_policy=True), MemorySwarmStore(600))
    run_inline(logic.announce(request(n=1, endpoint=bytes([8, 8, 8, 8]) + b"\x00\x01", left=0)))
    run_inline(logic.announce(request(n=2, endpoint=bytes([10, 0, 0, 1]) + b"\x00\x02", left=0)))
    reply = run_inline(logic.announce(request(n=3, endpoint=bytes([10, 0, 0, 9]) + b"\x00\x03")))
    assert [p.endpoint for p in reply.peers] == [
        bytes([10, 0, 0, 1]) + b"\x00\x02",
        bytes([8, 8, 8, 8]) + b"\x00\x01",
    ]
    assert reply.compact == b"".join(p.endpoint for p in reply.peers)


def test_run_inline_refuses_suspending_coroutines() -> None:
    import asyncio

    async def suspends() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError):
        run_inline(suspends())
