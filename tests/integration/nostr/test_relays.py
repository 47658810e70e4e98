"""The relay publisher against a real relay (nostr-relay): accepted, duplicate, refused for good,
unreachable, and unreachable-then-back."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import nostr_sdk
from torrent_gateway.config import load_settings
from torrent_gateway.nostr.events import sign_event, verify_event
from torrent_gateway.nostr.keys import load_server_keys
from torrent_gateway.nostr.relays import RelayPublisher
from websockets.asyncio.server import ServerConnection, serve

from tests.integration.nostr.helpers import NostrRelay, fetch_events, sdk_sign
from tests.support.servers import free_port


def new_event(kind: int = 1063, content: str = "hello") -> dict[str, object]:
    keys = nostr_sdk.Keys.generate()
    return sign_event(keys, kind=kind, content=content, tags=[["x", "0" * 64]], created_at=int(time.time()))


async def test_publish_accepted_then_duplicate(relay: NostrRelay) -> None:
    event = new_event()
    publisher = RelayPublisher([relay.url], timeout=5, backoff=[])
    first = await publisher.publish([event])
    outcome = first[event["id"]][relay.url]
    assert outcome.accepted and outcome.attempts == 1 and outcome.summary == "ok"
    second = await publisher.publish([event])
    again = second[event["id"]][relay.url]
    assert again.accepted and again.message.startswith("duplicate:")
    stored = await fetch_events(relay.url, {"ids": [event["id"]]})
    assert stored and stored[0]["id"] == event["id"]
    verify_event(stored[0], kinds={1063})


async def test_refusal_is_final_and_not_retried(relay: NostrRelay) -> None:
    good = new_event(content="good")
    bad = dict(new_event(content="bad"))
    bad["sig"] = "0" * 128
    publisher = RelayPublisher([relay.url], timeout=5, backoff=[0.05, 0.05])
    # The good one first: nostr-relay slows a connection down after a refusal.
    results = await publisher.publish([good, bad])
    refused = results[bad["id"]][relay.url]
    assert not refused.accepted and refused.message.startswith("invalid:") and refused.attempts == 1
    assert results[good["id"]][relay.url].accepted


async def test_unreachable_relay_is_retried_then_reported(relay: NostrRelay) -> None:
    dead = f"ws://127.0.0.1:{free_port()}"
    event = new_event()
    publisher = RelayPublisher([dead, relay.url], timeout=2, backoff=[0.05, 0.05])
    results = await publisher.publish([event])
    down = results[event["id"]][dead]
    assert not down.accepted and down.attempts == 3
    assert down.summary.startswith("error: connection failed")
    assert results[event["id"]][relay.url].accepted


async def test_retry_publishes_once_the_relay_is_back(tmp_path: Path) -> None:
    relay = NostrRelay(tmp_path / "late-relay")
    event = sdk_sign(nostr_sdk.Keys.generate(), 2003, [["title", "late"]])
    publisher = RelayPublisher([relay.url], timeout=2, backoff=[0.3] * 300)
    publishing = asyncio.create_task(publisher.publish([event]))
    try:
        await asyncio.sleep(0.8)
        assert not publishing.done()
        await asyncio.to_thread(relay.start)
        results = await asyncio.wait_for(publishing, 30)
        outcome = results[event["id"]][relay.url]
        assert outcome.accepted and outcome.attempts > 1
        assert [e["id"] for e in await fetch_events(relay.url, {"kinds": [2003]})] == [event["id"]]
    finally:
        publishing.cancel()
        relay.stop()


async def test_relay_that_requires_nip42_auth(tmp_path: Path) -> None:
    """nostr-relay does not speak ``auth-required:``; this small relay does, strictly (NIP-42)."""
    challenge = "challenge-123"
    stored: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        port = ws.local_address[1]
        authed_as: str | None = None
        await ws.send(json.dumps(["AUTH", challenge]))
        async for raw in ws:
            message = json.loads(raw)
            event = nostr_sdk.Event.from_json(json.dumps(message[1]))
            if message[0] == "AUTH":
                tags = {t.to_vec()[0]: t.to_vec()[1] for t in event.tags()}
                ok = (
                    event.verify()
                    and event.kind().as_u16() == 22242
                    and tags
                    == {
                        "relay": f"ws://127.0.0.1:{port}",
                        "challenge": challenge,
                    }
                )
                authed_as = event.author().to_hex() if ok else None
                await ws.send(json.dumps(["OK", event.id().to_hex(), ok, "" if ok else "invalid: bad auth"]))
            elif authed_as is None:
                await ws.send(json.dumps(["OK", event.id().to_hex(), False, "auth-required: who are you?"]))
            else:
                stored.append(event.id().to_hex())
                await ws.send(json.dumps(["OK", event.id().to_hex(), True, ""]))

    keys = load_server_keys(load_settings(None, storage={"path": str(tmp_path)}))
    event = keys.sign(kind=1063, content="x", tags=[], created_at=int(time.time()))
    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        without = await RelayPublisher([url], timeout=2, backoff=[]).publish([event])
        assert without[event["id"]][url].message == "auth-required: who are you?" and not stored
        with_auth = await RelayPublisher([url], timeout=2, backoff=[], auth_signer=keys.relay_auth).publish(
            [event]
        )
        assert with_auth[event["id"]][url].accepted and stored == [event["id"]]
