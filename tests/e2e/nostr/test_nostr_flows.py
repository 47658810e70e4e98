"""Whole flows through a real gateway (uvicorn on loopback) and a real relay: log in with a remote
signer, upload, and find the signed NIP-94 / NIP-35 announcements on the relay; with the relay
down the upload still succeeds and the announcement goes out once the relay is back; at start the
server key publishes its profile, NIP-65 relay list and BUD-03 server list, replaced on restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nostr_sdk
import pytest
from fastapi import FastAPI
from torrent_gateway.accounts import accounts_extension, install_accounts
from torrent_gateway.nostr import install_nostr
from torrent_gateway.nostr.events import tag_value, verify_event
from torrent_gateway.services import Services

from tests.integration.nostr.helpers import (
    NostrRelay,
    RemoteSigner,
    fetch_events,
    nip98_header,
    running_relay,
)
from tests.support.gateway import RunningGateway, running_gateway

CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NostrRelay]:
    with running_relay(tmp_path_factory.mktemp("e2e-relay")) as running:
        yield running


def nostr_extension(app: FastAPI, services: Services) -> None:
    # Short retry backoff so a test sees the retry; loopback relays allowed for NIP-46.
    install_nostr(services, backoff=[0.3] * 300)
    install_accounts(services, allow_private_relays=True, nip46_timeout=10.0)
    accounts_extension(app, services)


@contextlib.contextmanager
def gateway_with_relays(
    data_dir: Path, relays: list[str], admin: str, **nostr: Any
) -> Iterator[RunningGateway]:
    with running_gateway(
        data_dir,
        extensions=[nostr_extension],
        nostr={"relays": relays, "publish": True, **nostr},
        auth={"admin_pubkeys": [admin]},
        storage={"blob_threshold": 4 * CHUNK, "chunk_size": CHUNK},
    ) as gateway:
        yield gateway


@contextlib.asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def wait_for_announcements(
    http: httpx.AsyncClient, url: str, count: int, within: float = 30
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        announcements = (await http.get(url)).json()["announcements"]
        if len(announcements) == count and all(a["published"] for a in announcements):
            return announcements  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, announcements
        await asyncio.sleep(0.1)


async def test_login_with_bunker_upload_and_announce(tmp_path: Path, relay: NostrRelay) -> None:
    admin = nostr_sdk.Keys.generate()
    with gateway_with_relays(tmp_path / "data", [relay.url], admin.public_key().to_hex()) as gateway:
        server_pubkey = gateway.services.server_identity.pubkey
        async with RemoteSigner(relay.url) as signer, client() as http:
            login = await http.post(
                f"{gateway.url}/api/auth/login",
                json={"auth_type": "nip46", "bunker_url": signer.bunker_url()},
            )
            assert login.status_code == 200, login.text
            bearer = {"Authorization": f"Bearer {login.json()['token']}"}

            data = os.urandom(5 * CHUNK + 123)  # above the blob threshold: a chunked torrent
            upload = await http.post(
                f"{gateway.url}/api/upload", files={"file": ("clip.mp4", data, "video/mp4")}, headers=bearer
            )
            assert upload.status_code == 201, upload.text
            info = upload.json()
            assert info["owners"] == [signer.user_pubkey] and info["kind"] == "chunked"

            announcements = await wait_for_announcements(http, f"{gateway.url}/api/files/{info['sha256']}", 2)
            assert sorted(a["kind"] for a in announcements) == [1063, 2003]
            assert all(a["relays"] == {relay.url: "ok"} for a in announcements)

            stats = (await http.get(f"{gateway.url}/api/users/me/stats", headers=bearer)).json()
            assert (stats["files"], stats["bytes"]) == (1, len(data))

        events = await fetch_events(relay.url, {"authors": [server_pubkey], "kinds": [1063, 2003]})
        by_kind = {e["kind"]: e for e in events}
        assert set(by_kind) == {1063, 2003}
        for event in events:
            verify_event(event)
        metadata, torrent = by_kind[1063], by_kind[2003]
        assert {a["event_id"] for a in announcements} == {metadata["id"], torrent["id"]}
        assert tag_value(metadata, "x") == info["sha256"] and tag_value(metadata, "m") == "video/mp4"
        assert tag_value(metadata, "size") == str(len(data)) and tag_value(metadata, "i") == info["infohash"]
        assert tag_value(metadata, "url") == info["urls"]["download"]
        assert str(tag_value(metadata, "magnet")).startswith(f"magnet:?xt=urn:btih:{info['infohash']}")
        assert str(tag_value(metadata, "alt")).startswith("File: clip.mp4")
        assert tag_value(torrent, "x") == info["infohash"] and tag_value(torrent, "title") == "clip.mp4"
        assert ["file", "clip.mp4", str(len(data))] in torrent["tags"]
        assert ["tracker", f"{gateway.url}/announce"] in torrent["tags"]

        # The owner gives the file up: it is deleted and a NIP-09 deletion of both events goes out.
        async with client() as http:
            gone = await http.delete(f"{gateway.url}/api/users/me/files/{info['sha256']}", headers=bearer)
            assert gone.json()["file_deleted"] is True
        deadline = time.monotonic() + 20
        while not (deletions := await fetch_events(relay.url, {"authors": [server_pubkey], "kinds": [5]})):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert {t[1] for t in deletions[0]["tags"] if t[0] == "e"} == {metadata["id"], torrent["id"]}


async def identity_events(
    relay: NostrRelay, author: str, name: str, newer_than: int = 0
) -> dict[int, dict[str, Any]]:
    """The author's kind 0, 10002 and 10063 events once the relay has all three, the profile named
    ``name``, each created after ``newer_than`` (so a restart's events are awaited, not the
    previous run's that the relay still holds)."""
    deadline = time.monotonic() + 20
    while True:
        events = await fetch_events(relay.url, {"authors": [author], "kinds": [0, 10002, 10063]})
        by_kind = {e["kind"]: e for e in events if e["created_at"] > newer_than}
        if len(by_kind) == 3 and json.loads(by_kind[0]["content"])["name"] == name:
            return by_kind
        assert time.monotonic() < deadline, events
        await asyncio.sleep(0.1)


async def test_server_key_publishes_profile_relay_list_and_blossom_servers(
    tmp_path: Path, relay: NostrRelay
) -> None:
    admin = nostr_sdk.Keys.generate().public_key().to_hex()
    with gateway_with_relays(tmp_path / "data", [relay.url], admin) as gateway:
        server_pubkey = gateway.services.server_identity.pubkey
        first = await identity_events(relay, server_pubkey, "Torrent Gateway")
    for event in first.values():
        verify_event(event)
    assert json.loads(first[0]["content"])["website"] == gateway.url
    assert first[10002]["tags"] == [["r", relay.url, "write"]]
    assert first[10063]["tags"] == [["server", gateway.url]]

    # Restarted with a new name (same data, same key): the relay keeps only the newer events.
    await asyncio.sleep(1.1)  # created_at has one-second resolution
    with gateway_with_relays(tmp_path / "data", [relay.url], admin, profile_name="Renamed") as gateway:
        assert gateway.services.server_identity.pubkey == server_pubkey
        newest_first = max(e["created_at"] for e in first.values())
        second = await identity_events(relay, server_pubkey, "Renamed", newer_than=newest_first)
    stored = await fetch_events(relay.url, {"authors": [server_pubkey], "kinds": [0, 10002, 10063]})
    assert sorted(e["id"] for e in stored) == sorted(e["id"] for e in second.values())
    assert not {e["id"] for e in stored} & {e["id"] for e in first.values()}


async def test_relay_down_upload_succeeds_and_retry_publishes_later(
    tmp_path: Path, relay: NostrRelay
) -> None:
    late = NostrRelay(tmp_path / "late-relay")  # configured but not started yet
    admin = nostr_sdk.Keys.generate()
    user = nostr_sdk.Keys.generate()
    try:
        with gateway_with_relays(
            tmp_path / "data", [late.url, relay.url], admin.public_key().to_hex()
        ) as gateway:
            async with client() as http:
                data = os.urandom(1000)
                url = f"{gateway.url}/api/upload?name=note.txt"
                upload = await http.put(url, content=data, headers=nip98_header(user, url, "PUT", data))
                assert upload.status_code == 201, upload.text
                info = upload.json()
                assert info["owners"] == [user.public_key().to_hex()]

                # The live relay gets it at once; the dead one is still being retried.
                file_url = f"{gateway.url}/api/files/{info['sha256']}"
                deadline = time.monotonic() + 20
                while True:
                    announcements = (await http.get(file_url)).json()["announcements"]
                    if announcements and announcements[0]["relays"][relay.url] == "ok":
                        announcement = announcements[0]
                        break
                    assert time.monotonic() < deadline, announcements
                    await asyncio.sleep(0.1)
                assert announcement["kind"] == 1063 and (
                    announcement["relays"][late.url] == "pending"
                    or announcement["relays"][late.url].startswith("retrying after error: connection failed")
                )
                assert announcement["published"] is True

                await asyncio.to_thread(late.start)
                deadline = time.monotonic() + 30
                while (await http.get(file_url)).json()["announcements"][0]["relays"][late.url] != "ok":
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.1)
            stored = await fetch_events(late.url, {"kinds": [1063]})
            assert [e["id"] for e in stored] == [announcement["event_id"]]
            assert tag_value(stored[0], "x") == info["sha256"]
    finally:
        late.stop()
