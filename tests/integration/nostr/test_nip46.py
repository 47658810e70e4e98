"""NIP-46 with a remote signer written with nostr-sdk, over a real relay: the client alone, then
login through the API — including signers that refuse, stay silent, or are unreachable."""

from __future__ import annotations

import time

import pytest
from torrent_gateway.nostr.events import verify_event
from torrent_gateway.nostr.nip46 import Nip46Client, Nip46Error, parse_bunker_url

from tests.integration.nostr.conftest import Gateway
from tests.integration.nostr.helpers import NostrRelay, RemoteSigner
from tests.support.servers import free_port


async def test_client_connects_learns_user_key_and_gets_events_signed(relay: NostrRelay) -> None:
    async with RemoteSigner(relay.url) as signer:
        uri = parse_bunker_url(signer.bunker_url())
        async with Nip46Client(uri, timeout=5, allow_private_relays=True) as client:
            await client.connect()
            await client.ping()
            pubkey = await client.get_public_key()
            assert pubkey == signer.user_pubkey != uri.signer_pubkey
            template = {
                "kind": 22242,
                "content": "",
                "tags": [["challenge", "abc"]],
                "created_at": int(time.time()),
            }
            event = await client.sign_event(template)
        verify_event(event, kinds={22242})
        assert event["pubkey"] == signer.user_pubkey
        assert signer.seen == ["connect", "ping", "get_public_key", "sign_event"]


async def test_client_reports_refusals_and_silence(relay: NostrRelay) -> None:
    async with RemoteSigner(relay.url, refuse={"sign_event"}, silent={"get_public_key"}) as signer:
        async with Nip46Client(
            parse_bunker_url(signer.bunker_url("wrong")), timeout=5, allow_private_relays=True
        ) as c:
            with pytest.raises(
                Nip46Error, match="the signer refused connect: invalid or already used secret"
            ):
                await c.connect()
        async with Nip46Client(
            parse_bunker_url(signer.bunker_url()), timeout=10, allow_private_relays=True
        ) as c:
            await c.connect()
            c.timeout = 0.5  # the signer ignores get_public_key: give up quickly
            with pytest.raises(Nip46Error, match=r"did not answer get_public_key within 0.5 s"):
                await c.get_public_key()


async def test_private_relays_are_refused_unless_allowed(relay: NostrRelay) -> None:
    uri = parse_bunker_url(f"bunker://{'a' * 64}?relay={relay.url}")
    with pytest.raises(Nip46Error, match="non-public address"):
        async with Nip46Client(uri, timeout=2):
            pass


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("bunker://nothex?relay=wss://r.example", "hex pubkey"),
        (f"bunker://{'a' * 64}", "names no relay"),
        (f"bunker://{'a' * 64}?relay=https://r.example", "not a ws:// or wss:// URL"),
        ("nostrconnect://x", "expected a bunker:// URL"),
    ],
)
def test_bunker_url_parsing_errors(url: str, message: str) -> None:
    with pytest.raises(Nip46Error, match=message):
        parse_bunker_url(url)


def test_bunker_url_parsing() -> None:
    uri = parse_bunker_url(
        f"bunker://{'A' * 64}?relay=wss%3A%2F%2Fr1.example&relay=ws://r2.example:7000&secret=s"
    )
    assert uri.signer_pubkey == "a" * 64
    assert uri.relays == ["wss://r1.example", "ws://r2.example:7000"] and uri.secret == "s"


# -- through the login API ----------------------------------------------------------------------
async def test_nip46_login_end_to_end(gw: Gateway, relay: NostrRelay) -> None:
    async with RemoteSigner(relay.url) as signer:
        response = await gw.client.post(
            "/api/auth/login", json={"auth_type": "nip46", "bunker_url": signer.bunker_url()}
        )
        assert response.status_code == 200, response.text
        session = response.json()
        assert session["pubkey"] == signer.user_pubkey and session["is_admin"] is False
        me = await gw.client.get("/api/auth/me", headers={"Authorization": f"Bearer {session['token']}"})
        assert me.json()["pubkey"] == signer.user_pubkey
        assert signer.seen == ["connect", "get_public_key", "sign_event"]
        # The bunker secret is single use: the same URL cannot log in twice.
        again = await gw.client.post(
            "/api/auth/login", json={"auth_type": "nip46", "bunker_url": signer.bunker_url()}
        )
        assert again.status_code == 401
        assert again.json()["detail"] == (
            "remote signer login failed: the signer refused connect: invalid or already used secret"
        )
    # Nothing left behind: the internal challenges were spent.
    assert await gw.services.state.scan("auth:challenge:") == []


async def test_nip46_login_with_a_refusing_signer_is_a_clear_401(gw: Gateway, relay: NostrRelay) -> None:
    async with RemoteSigner(relay.url, refuse={"sign_event"}) as signer:
        response = await gw.client.post(
            "/api/auth/login", json={"auth_type": "nip46", "bunker_url": signer.bunker_url()}
        )
    assert response.status_code == 401
    assert response.json() == {
        "detail": "remote signer login failed: the signer refused sign_event: user rejected sign_event"
    }
    assert await gw.services.state.scan("auth:session:") == []
    assert await gw.services.state.scan("auth:challenge:") == []


async def test_nip46_login_with_an_unreachable_relay_is_401(gw: Gateway) -> None:
    url = f"bunker://{'a' * 64}?relay=ws://127.0.0.1:{free_port()}&secret=x"
    response = await gw.client.post("/api/auth/login", json={"auth_type": "nip46", "bunker_url": url})
    assert response.status_code == 401
    assert response.json()["detail"].startswith("remote signer login failed: cannot reach the signer's relay")
