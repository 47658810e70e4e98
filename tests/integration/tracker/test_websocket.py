"""WebTorrent tracker over a real WebSocket: offers and answers relayed, scrape, bad frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from torrent_gateway.tracker import Tracker
from torrent_gateway.tracker.swarm_memory import MemorySwarmStore
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.servers import UvicornThread

from .conftest import tracker_settings

IH = "".join(chr(c) for c in range(230, 250))  # a "binary string", as WebTorrent sends it
PEER_A = "-WW0001-" + "a" * 12
PEER_B = "-WW0001-" + "b" * 12


@pytest.fixture
def ws_url() -> Iterator[str]:
    tracker = Tracker(tracker_settings(interval=600), MemorySwarmStore(600))
    with UvicornThread(tracker.asgi(None)) as server:
        yield server.url.replace("http://", "ws://") + "/announce"


async def receive(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), within))  # type: ignore[no-any-return]


async def test_offer_and_answer_are_relayed(ws_url: str) -> None:
    async with connect(ws_url) as a, connect(ws_url) as b:
        await b.send(
            json.dumps(
                {
                    "action": "announce",
                    "info_hash": IH,
                    "peer_id": PEER_B,
                    "left": 0,
                    "event": "started",
                    "numwant": 0,
                    "offers": [],
                }
            )
        )
        joined = await receive(b)
        assert joined == {
            "action": "announce",
            "interval": 120,
            "info_hash": IH,
            "complete": 1,
            "incomplete": 0,
        }
        offers = [
            {"offer": {"type": "offer", "sdp": f"v=0 fake sdp {i}"}, "offer_id": f"offer-{i}" + "x" * 12}
            for i in range(3)
        ]
        await a.send(
            json.dumps(
                {
                    "action": "announce",
                    "info_hash": IH,
                    "peer_id": PEER_A,
                    "left": 1000,
                    "event": "started",
                    "numwant": 3,
                    "offers": offers,
                }
            )
        )
        reply = await receive(a)
        assert (reply["complete"], reply["incomplete"], reply["info_hash"]) == (1, 1, IH)
        offered = await receive(b)
        assert offered == {
            "action": "announce",
            "offer": offers[0]["offer"],
            "offer_id": offers[0]["offer_id"],
            "peer_id": PEER_A,
            "info_hash": IH,
        }
        await b.send(
            json.dumps(
                {
                    "action": "announce",
                    "info_hash": IH,
                    "peer_id": PEER_B,
                    "to_peer_id": PEER_A,
                    "answer": {"type": "answer", "sdp": "v=0 answer"},
                    "offer_id": offered["offer_id"],
                }
            )
        )
        answered = await receive(a)
        assert answered == {
            "action": "announce",
            "answer": {"type": "answer", "sdp": "v=0 answer"},
            "offer_id": offers[0]["offer_id"],
            "peer_id": PEER_B,
            "info_hash": IH,
        }
        await a.send(json.dumps({"action": "scrape", "info_hash": [IH]}))
        scraped = await receive(a)
        assert scraped == {
            "action": "scrape",
            "files": {IH: {"complete": 1, "incomplete": 1, "downloaded": 0}},
        }
    # both sockets closed: their peers left the swarm
    async with connect(ws_url) as c:
        for _ in range(50):
            await c.send(json.dumps({"action": "scrape", "info_hash": IH}))
            files = (await receive(c))["files"]
            if files[IH] == {"complete": 0, "incomplete": 0, "downloaded": 0}:
                break
            await asyncio.sleep(0.05)
        assert files[IH] == {"complete": 0, "incomplete": 0, "downloaded": 0}


async def test_bad_frames_get_failure_reasons(ws_url: str) -> None:
    async with connect(ws_url) as ws:
        cases: list[tuple[str | bytes, str]] = [
            ("not json at all {", "invalid JSON"),
            ("[1, 2, 3]", "JSON object"),
            (b"\x00\x01binary", "binary frames"),
            (json.dumps({"action": "dance"}), "action must be"),
            (
                json.dumps({"action": "announce", "info_hash": "short", "peer_id": PEER_A}),
                "invalid info_hash",
            ),
            (
                json.dumps({"action": "announce", "info_hash": "\u1234" * 20, "peer_id": PEER_A}),
                "invalid info_hash",
            ),
            (json.dumps({"action": "announce", "info_hash": IH, "peer_id": 5}), "invalid peer_id"),
            (json.dumps({"action": "announce", "info_hash": IH, "peer_id": PEER_A, "offers": "x"}), "offers"),
            (
                json.dumps(
                    {"action": "announce", "info_hash": IH, "peer_id": PEER_A, "offers": [{"offer": 1}]}
                ),
                "offer",
            ),
            (
                json.dumps({"action": "announce", "info_hash": IH, "peer_id": PEER_A, "answer": {}}),
                "to_peer_id",
            ),
            (
                json.dumps({"action": "announce", "info_hash": IH, "peer_id": PEER_A, "event": "jump"}),
                "event",
            ),
            (json.dumps({"action": "scrape"}), "at least one"),
        ]
        for frame, reason in cases:
            await ws.send(frame)
            reply = await receive(ws)
            assert reason in reply["failure reason"], frame
        await ws.send(json.dumps({"action": "announce", "info_hash": IH, "peer_id": PEER_A, "left": 5}))
        assert (await receive(ws))["incomplete"] == 1  # still serving
        await ws.send(json.dumps({"action": "announce", "info_hash": IH, "peer_id": PEER_B, "left": 5}))
        assert "peer_id changed" in (await receive(ws))["failure reason"]


async def test_oversized_message_closes_the_socket(ws_url: str) -> None:
    async with connect(ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"action": "scrape", "info_hash": IH, "pad": "x" * 70_000}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with connect(ws_url) as ws:  # the tracker still serves others
        await ws.send(json.dumps({"action": "scrape", "info_hash": IH}))
        assert (await receive(ws))["action"] == "scrape"
