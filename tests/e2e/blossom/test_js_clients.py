"""Independent clients drive our Blossom server: nostr-tools signs every kind 24242 token, and
either plain fetch or hzrd149's blossom-client-sdk talks HTTP. Results must be byte-identical."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from torrent_gateway.blossom.reports import list_reports
from torrent_gateway.nostr.events import verify_event

from tests.integration.blossom.conftest import blossom_gateway, store_keys
from tests.support.gateway import RunningGateway
from tests.unit.blossom.tokens import Signer

from .conftest import run_js


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    # Default Blossom rules (any type, tokens for upload/delete/mirror), small chunks.
    with blossom_gateway(tmp_path_factory.mktemp("js") / "data", blossom={"allowed_types": []}) as gateway:
        yield gateway


def test_nostr_tools_tokens_with_plain_fetch(
    server: RunningGateway, blossom_js: Path, tmp_path: Path
) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(300_000)
    sha = hashlib.sha256(data).hexdigest()
    path = tmp_path / "picture.png"
    path.write_bytes(data)
    signer = Signer()
    out = run_js(
        blossom_js,
        {
            "action": "tools-flow",
            "server": server.url,
            "secret_key": signer.secret_hex,
            "file": str(path),
            "type": "image/png",
        },
    )
    assert out["pubkey"] == signer.pubkey and out["sha256"] == sha
    assert out["preflight"]["status"] == 200
    assert out["upload"]["status"] == 201 and out["again"]["status"] == 200
    descriptor = out["upload"]["descriptor"]
    assert (
        descriptor["sha256"] == sha and descriptor["size"] == len(data) and descriptor["type"] == "image/png"
    )
    assert descriptor["url"] == f"{server.url}/{sha}.png"

    got = out["get"]
    assert got["status"] == 200 and base64.b64decode(got["body"]) == data and got["sha256"] == sha
    assert (
        got["headers"]["content-type"] == "image/png" and got["headers"]["access-control-allow-origin"] == "*"
    )
    ranged = out["range"]
    assert ranged["status"] == 206 and base64.b64decode(ranged["body"]) == data[100:200]
    assert ranged["headers"]["content-range"] == f"bytes 100-199/{len(data)}"
    multi = out["multi"]
    body = base64.b64decode(multi["body"])
    assert multi["status"] == 206 and multi["headers"]["content-type"].startswith("multipart/byteranges")
    assert data[0:10] in body and data[50:60] in body and b"Content-Range: bytes 50-59/" in body
    assert out["head"]["status"] == 200 and out["head"]["headers"]["content-length"] == str(len(data))

    assert out["list"]["status"] == 200 and [d["sha256"] for d in out["list"]["body"]] == [sha]
    assert out["delete"]["status"] == 200 and out["delete"]["body"]["deleted"] is True
    assert out["after"]["status"] == 404 and out["after"]["headers"]["x-reason"]
    assert not any(sha in key for key in store_keys(server))


def test_blossom_client_sdk_end_to_end(server: RunningGateway, blossom_js: Path, tmp_path: Path) -> None:
    files = []
    for i in range(3):
        data = os.urandom(20_000 + i * 7000)
        path = tmp_path / f"blob{i}.bin"
        path.write_bytes(data)
        files.append((path, data))
    signer = Signer()
    data_dir = tmp_path / "mirror-data"
    with blossom_gateway(data_dir, blossom={"allowed_types": [], "mirror_allow_private": True}) as other:
        out = run_js(
            blossom_js,
            {
                "action": "sdk-flow",
                "server": server.url,
                "secret_key": signer.secret_hex,
                "files": [str(p) for p, _ in files],
                "type": "application/octet-stream",
                "mirror_server": other.url,
            },
            timeout=90,
        )
        shas = [hashlib.sha256(d).hexdigest() for _, d in files]
        assert [d["sha256"] for d in out["uploads"]] == shas
        assert all(d["url"].startswith(server.url) and d["url"].endswith(".bin") for d in out["uploads"])
        # Paged one by one with cursors, newest first, each blob exactly once.
        pages = out["pages"]
        assert all(len(page) == 1 for page in pages) and sorted(p[0] for p in pages) == sorted(shas)
        assert [p[0] for p in pages] == list(reversed(shas))
        assert base64.b64decode(out["download"]["body"]) == files[0][1]
        assert out["download"]["type"] == "application/octet-stream" and out["has"] is True
        # Mirrored onto the second server, which fetched it from the first and checked the hash.
        assert out["mirror"]["sha256"] == shas[0] and out["mirror"]["url"].startswith(other.url)
        assert httpx.get(f"{other.url}/{shas[0]}").content == files[0][1]
    assert out["reported"] is True
    reports = asyncio.run(list_reports(server.services.state))
    mine = [r for r in reports if r["event"]["pubkey"] == signer.pubkey]
    assert len(mine) == 1 and mine[0]["sha256"] == shas[0] and mine[0]["reason"] == "spam"
    verify_event(mine[0]["event"], kinds={1984})
    assert out["has_after"] is False
    assert not any(sha in key for key in store_keys(server) for sha in shas)
