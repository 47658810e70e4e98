"""Login from a signer app (NIP-46 nostrconnect://) through a real relay (nostr-relay): the gateway
hands out its URI, the signer answers on the relay with the URI's secret, signs the challenge, and
the session is collected once by polling; wrong secrets, refusals and silence end as clear errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from torrent_gateway.accounts import accounts_extension, install_accounts
from torrent_gateway.gateway.app import create_app
from torrent_gateway.services import build_services

from tests.integration.nostr.helpers import NostrRelay, RemoteSigner
from tests.support.gateway import gateway_settings

BASE = "http://gateway.test"
WAIT = 4.0  # how long the gateway waits for a signer app in these tests


@dataclass
class Connect:
    client: httpx.AsyncClient


@pytest.fixture
async def gw(tmp_path: Path, relay: NostrRelay) -> AsyncIterator[Connect]:
    settings = gateway_settings(
        tmp_path / "data",
        gateway={"public_url": BASE},
        auth={"nostrconnect_relays": [relay.url]},
        nostr={"relays": [], "profile_name": "Test gateway"},
    )
    services = build_services(settings)
    install_accounts(services, nip46_timeout=5.0, nostrconnect_wait=WAIT)
    app = create_app(settings, services, extensions=[accounts_extension])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield Connect(client)
    await services.close()


async def settled(client: httpx.AsyncClient, attempt: str, within: float = WAIT + 8) -> httpx.Response:
    """Poll a nostrconnect login until it is no longer pending."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"/api/auth/nostrconnect/{attempt}")
        if response.status_code != 202:
            return response
        assert response.json() == {"status": "pending"}
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def test_signer_app_logs_in_and_the_session_is_collected_once(gw: Connect, relay: NostrRelay) -> None:
    started = await gw.client.post("/api/auth/nostrconnect")
    assert started.status_code == 201, started.text
    body = started.json()
    uri = urlsplit(body["uri"])
    query = parse_qs(uri.query)
    assert uri.scheme == "nostrconnect" and len(uri.netloc) == 64
    assert query["relay"] == [relay.url] and query["name"] == ["Test gateway"]
    assert query["url"] == [BASE] and query["perms"] == ["sign_event:22242"]
    assert len(query["secret"][0]) >= 16 and body["expires_at"] > time.time()
    assert (await gw.client.get(f"/api/auth/nostrconnect/{body['id']}")).status_code == 202

    async with RemoteSigner(relay.url) as signer:
        await signer.answer_nostrconnect(body["uri"])
        response = await settled(gw.client, body["id"])
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["pubkey"] == signer.user_pubkey
    assert signer.seen == ["get_public_key", "sign_event"]  # no connect request: the answer was it
    me = await gw.client.get("/api/auth/me", headers={"Authorization": f"Bearer {session['token']}"})
    assert me.status_code == 200 and me.json()["pubkey"] == signer.user_pubkey
    # Handed out once: the id is spent.
    again = await gw.client.get(f"/api/auth/nostrconnect/{body['id']}")
    assert again.status_code == 404 and "unknown or expired" in again.json()["detail"]


async def test_an_answer_without_the_secret_is_ignored_until_the_wait_ends(
    gw: Connect, relay: NostrRelay
) -> None:
    body = (await gw.client.post("/api/auth/nostrconnect")).json()
    async with RemoteSigner(relay.url) as impostor:
        await impostor.answer_nostrconnect(body["uri"], secret="guessed")
        response = await settled(gw.client, body["id"])
    assert response.status_code == 401
    assert response.json()["detail"] == f"remote signer login failed: no signer connected within {WAIT:g} s"
    assert impostor.seen == []  # never asked anything: it did not prove it holds the secret
    assert (await gw.client.get(f"/api/auth/nostrconnect/{body['id']}")).status_code == 404


async def test_a_signer_that_refuses_to_sign_ends_in_a_clear_401(gw: Connect, relay: NostrRelay) -> None:
    body = (await gw.client.post("/api/auth/nostrconnect")).json()
    async with RemoteSigner(relay.url, refuse={"sign_event"}) as signer:
        await signer.answer_nostrconnect(body["uri"])
        response = await settled(gw.client, body["id"])
    assert response.status_code == 401
    assert (
        response.json()["detail"]
        == "remote signer login failed: the signer refused sign_event: user rejected sign_event"
    )
    assert "Bearer" in response.headers["www-authenticate"]


async def test_unknown_ids_and_a_gateway_without_relays(gw: Connect, tmp_path: Path) -> None:
    for attempt in ("not-a-login", "x" * 65):
        response = await gw.client.get(f"/api/auth/nostrconnect/{attempt}")
        assert response.status_code == 404
    settings = gateway_settings(tmp_path / "bare", gateway={"public_url": BASE}, nostr={"relays": []})
    services = build_services(settings)
    app = create_app(settings, services, extensions=[accounts_extension])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        response = await client.post("/api/auth/nostrconnect")
    await services.close()
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "nostrconnect login is not offered here: no relays are configured "
        "(auth.nostrconnect_relays or nostr.relays)"
    )
