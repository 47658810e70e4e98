"""Issue 18: the original gateway's API, as its users call it with curl, against the real
``torrent-gateway serve`` process. Each row of README's "Seed compatibility" table is one entry of
``ROWS`` and one test here that runs exactly that line with the real ``curl`` binary (through
bash, so ``$GW``, ``$SHA``, ... expand as in a user's shell) and checks what we answer.

The status code is learnt without touching the line: ``CURL_HOME`` points at a ``.curlrc`` that
only adds ``--silent --show-error --write-out "\\n%{http_code}"``. What a row needs beforehand (a
stored file, a session) is prepared over plain HTTP, never through the line under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nostr_sdk
import pytest
from torrent_gateway.bencode import bdecode

from tests.integration.nostr.helpers import sdk_sign
from tests.support.process import GatewayProcess

README = Path(__file__).parents[2] / "README.md"

# (what the seed user does, the exact curl line); README's table lists the same lines in this order.
ROWS: dict[str, str] = {
    "upload": "curl -F file=@movie.mp4 $GW/api/upload",
    "upload_no_dht": "curl -F file=@movie.mp4 -F announce_dht=false $GW/api/upload",
    "info": "curl $GW/api/files/$SHA",
    "download": "curl -OJ $GW/api/download/$SHA",
    "torrent": "curl -o movie.torrent $GW/api/torrent/$SHA",
    "challenge": "curl $GW/api/auth/challenge",
    "login": "curl -H 'Content-Type: application/json' -d @login.json $GW/api/auth/login",
    "my_files": 'curl -H "Authorization: Bearer $TOKEN" $GW/api/users/me/files',
    "delete": 'curl -X DELETE -H "Authorization: Bearer $TOKEN" $GW/api/users/me/files/$SHA',
    "blossom_upload": 'curl -T cat.png -H "Authorization: Nostr $BLOSSOM_AUTH" $GW/upload',
    "blossom_get": "curl -o cat.png $GW/$SHA",
    "ban": (
        "curl -X POST -H \"Authorization: Bearer $ADMIN_TOKEN\" -H 'Content-Type: application/json' "
        '-d \'{"reason":"spam"}\' $GW/api/admin/users/$PUBKEY/ban'
    ),
}

ADMIN = nostr_sdk.Keys.generate()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(
        tmp_path_factory.mktemp("seed-api"),
        env={"TGW_AUTH__ADMIN_PUBKEYS": json.dumps([ADMIN.public_key().to_hex()])},
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def curl(line: str, cwd: Path, gateway: GatewayProcess, **variables: str) -> tuple[int, bytes]:
    """Run ``line`` as written in ``cwd``; returns (HTTP status, what curl printed before it)."""
    (cwd / ".curlrc").write_text('silent\nshow-error\nwrite-out = "\\n%{http_code}"\n')
    env = {"PATH": os.environ["PATH"], "CURL_HOME": str(cwd), "GW": gateway.url, **variables}
    done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    body, _, status = done.stdout.rpartition(b"\n")
    return int(status), body


def upload(gateway: GatewayProcess, data: bytes, name: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.put(
        f"{gateway.url}/api/upload", params={"name": name}, content=data, headers=headers, timeout=30
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def login_event(gateway: GatewayProcess, keys: nostr_sdk.Keys) -> dict[str, Any]:
    """A kind 22242 login event bound to this gateway (its public URL and a live challenge)."""
    challenge = httpx.get(f"{gateway.url}/api/auth/challenge").json()["challenge"]
    return sdk_sign(
        keys, 22242, [["relay", gateway.url], ["challenge", challenge]], created_at=int(time.time())
    )


def session(gateway: GatewayProcess, keys: nostr_sdk.Keys) -> str:
    body = {"auth_type": "nip07", "auth_event": json.dumps(login_event(gateway, keys))}
    response = httpx.post(f"{gateway.url}/api/auth/login", json=body)
    assert response.status_code == 200, response.text
    return response.json()["token"]  # type: ignore[no-any-return]


def test_upload_multipart(gateway: GatewayProcess, tmp_path: Path) -> None:
    data = os.urandom(30_000)
    (tmp_path / "movie.mp4").write_bytes(data)
    status, body = curl(ROWS["upload"], tmp_path, gateway)
    record = json.loads(body)
    assert status == 201 and record["created_now"] is True
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["name"] == "movie.mp4" and record["size"] == len(data)
    assert record["magnet"].startswith(f"magnet:?xt=urn:btih:{record['infohash']}")
    assert record["announce_dht"] is True
    # The same bytes again: the existing record, 200.
    status, body = curl(ROWS["upload"], tmp_path, gateway)
    assert status == 200 and json.loads(body)["sha256"] == record["sha256"]


def test_upload_with_announce_dht_false(gateway: GatewayProcess, tmp_path: Path) -> None:
    (tmp_path / "movie.mp4").write_bytes(os.urandom(25_000))
    status, body = curl(ROWS["upload_no_dht"], tmp_path, gateway)
    record = json.loads(body)
    assert status == 201 and record["announce_dht"] is False
    # Recorded with the file: its record says so afterwards too.
    assert httpx.get(f"{gateway.url}/api/files/{record['sha256']}").json()["announce_dht"] is False


def test_file_info_with_magnet(gateway: GatewayProcess, tmp_path: Path) -> None:
    stored = upload(gateway, os.urandom(12_000), "notes.txt")
    status, body = curl(ROWS["info"], tmp_path, gateway, SHA=stored["sha256"])
    info = json.loads(body)
    assert status == 200
    assert (info["sha256"], info["name"], info["size"]) == (stored["sha256"], "notes.txt", 12_000)
    assert info["magnet"].startswith(f"magnet:?xt=urn:btih:{stored['infohash']}&dn=notes.txt")
    assert info["urls"]["download"] == f"{gateway.url}/api/download/{stored['sha256']}"
    missing, body = curl(ROWS["info"], tmp_path, gateway, SHA="0" * 64)
    assert missing == 404 and "detail" in json.loads(body)


def test_download_with_original_name(gateway: GatewayProcess, tmp_path: Path) -> None:
    data = os.urandom(40_000)
    stored = upload(gateway, data, "holiday video.mp4")
    status, printed = curl(ROWS["download"], tmp_path, gateway, SHA=stored["sha256"])
    assert status == 200 and printed == b""
    assert (tmp_path / "holiday video.mp4").read_bytes() == data


def test_torrent(gateway: GatewayProcess, tmp_path: Path) -> None:
    stored = upload(gateway, os.urandom(50_000), "movie.mp4")
    status, _ = curl(ROWS["torrent"], tmp_path, gateway, SHA=stored["sha256"])
    assert status == 200
    metainfo = bdecode((tmp_path / "movie.torrent").read_bytes())
    assert metainfo[b"info"][b"name"] == b"movie.mp4" and metainfo[b"info"][b"length"] == 50_000
    assert metainfo[b"announce"] == f"{gateway.url}/announce".encode()
    assert metainfo[b"url-list"] == [f"{gateway.url}/api/webseed/{stored['sha256']}/movie.mp4".encode()]


def test_login_challenge(gateway: GatewayProcess, tmp_path: Path) -> None:
    status, body = curl(ROWS["challenge"], tmp_path, gateway)
    answer = json.loads(body)
    assert status == 200
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", answer["challenge"])  # 32 random bytes, URL-safe base64
    assert answer["expires_at"] > time.time()
    assert answer["kind"] == 22242 and answer["relay"] == gateway.url
    assert answer["login_url"] == f"{gateway.url}/api/auth/login"


@pytest.mark.parametrize("as_string", [True, False], ids=["auth_event-string", "auth_event-object"])
def test_login_with_auth_event(gateway: GatewayProcess, tmp_path: Path, as_string: bool) -> None:
    keys = nostr_sdk.Keys.generate()
    event = login_event(gateway, keys)
    body = {"auth_type": "nip07", "auth_event": json.dumps(event) if as_string else event}
    (tmp_path / "login.json").write_text(json.dumps(body))
    status, answer = curl(ROWS["login"], tmp_path, gateway)
    login = json.loads(answer)
    assert status == 200 and login["pubkey"] == keys.public_key().to_hex() and login["is_admin"] is False
    me = httpx.get(f"{gateway.url}/api/auth/me", headers={"Authorization": f"Bearer {login['token']}"})
    assert me.json()["pubkey"] == keys.public_key().to_hex()
    # The same event again: its challenge is spent.
    status, answer = curl(ROWS["login"], tmp_path, gateway)
    assert status == 401 and "challenge" in json.loads(answer)["detail"]


def test_list_my_files(gateway: GatewayProcess, tmp_path: Path) -> None:
    keys = nostr_sdk.Keys.generate()
    token = session(gateway, keys)
    mine = upload(gateway, os.urandom(9_000), "mine.bin", token)
    upload(gateway, os.urandom(9_000), "someone else's.bin")
    status, body = curl(ROWS["my_files"], tmp_path, gateway, TOKEN=token)
    listing = json.loads(body)
    assert status == 200 and listing["total"] == 1
    assert [(f["sha256"], f["name"], f["downloads"]) for f in listing["files"]] == [
        (mine["sha256"], "mine.bin", 0)
    ]
    status, body = curl(ROWS["my_files"], tmp_path, gateway, TOKEN="not-a-session")
    assert status == 401 and "detail" in json.loads(body)


def test_delete_my_file(gateway: GatewayProcess, tmp_path: Path) -> None:
    token = session(gateway, nostr_sdk.Keys.generate())
    mine = upload(gateway, os.urandom(8_000), "gone.bin", token)
    status, body = curl(ROWS["delete"], tmp_path, gateway, TOKEN=token, SHA=mine["sha256"])
    assert status == 200
    assert json.loads(body) == {"sha256": mine["sha256"], "removed": True, "file_deleted": True}
    assert httpx.get(f"{gateway.url}/api/download/{mine['sha256']}").status_code == 404
    status, body = curl(ROWS["delete"], tmp_path, gateway, TOKEN=token, SHA=mine["sha256"])
    assert status == 404 and json.loads(body)["detail"] == "you own no file with this sha256"


def blossom_token(keys: nostr_sdk.Keys, sha256: str) -> str:
    now = int(time.time())
    event = sdk_sign(
        keys, 24242, [["t", "upload"], ["x", sha256], ["expiration", str(now + 600)]], "Upload cat.png", now
    )
    return base64.b64encode(json.dumps(event).encode()).decode()


def test_blossom_upload_and_get(gateway: GatewayProcess, tmp_path: Path) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(6_000)
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "cat.png").write_bytes(data)
    keys = nostr_sdk.Keys.generate()
    status, body = curl(ROWS["blossom_upload"], tmp_path, gateway, BLOSSOM_AUTH=blossom_token(keys, sha))
    blob = json.loads(body)
    assert status == 201, body
    assert (blob["sha256"], blob["size"], blob["type"]) == (sha, len(data), "image/png")
    assert blob["url"] == f"{gateway.url}/{sha}.png"
    assert blob["infohash"] and blob["magnet"].startswith(f"magnet:?xt=urn:btih:{blob['infohash']}")
    assert ["x", sha] in blob["nip94"] and isinstance(blob["uploaded"], int)
    # A token naming other bytes is refused (403, reason in X-Reason), and nothing is stored.
    (tmp_path / "cat.png").write_bytes(data + b"!")
    status, _ = curl(ROWS["blossom_upload"], tmp_path, gateway, BLOSSOM_AUTH=blossom_token(keys, sha))
    assert status == 403
    other = hashlib.sha256(data + b"!").hexdigest()
    assert httpx.get(f"{gateway.url}/api/files/{other}").status_code == 404

    (tmp_path / "cat.png").unlink()
    status, _ = curl(ROWS["blossom_get"], tmp_path, gateway, SHA=sha)
    assert status == 200 and (tmp_path / "cat.png").read_bytes() == data


def test_admin_ban(gateway: GatewayProcess, tmp_path: Path) -> None:
    user = nostr_sdk.Keys.generate()
    pubkey = user.public_key().to_hex()
    user_token = session(gateway, user)
    admin_token = session(gateway, ADMIN)
    status, body = curl(ROWS["ban"], tmp_path, gateway, ADMIN_TOKEN=admin_token, PUBKEY=pubkey)
    assert status == 200
    assert json.loads(body) == {"pubkey": pubkey, "banned": True, "sessions_revoked": 1}
    # The banned user's session is gone and a new login is refused.
    me = httpx.get(f"{gateway.url}/api/users/me/files", headers={"Authorization": f"Bearer {user_token}"})
    assert me.status_code == 401
    relogin = httpx.post(
        f"{gateway.url}/api/auth/login",
        json={"auth_type": "nip07", "auth_event": json.dumps(login_event(gateway, user))},
    )
    assert relogin.status_code == 403
    # A non-admin's session cannot ban.
    status, _ = curl(
        ROWS["ban"], tmp_path, gateway, ADMIN_TOKEN=session(gateway, nostr_sdk.Keys.generate()), PUBKEY=pubkey
    )
    assert status == 403


def test_readme_table_lists_exactly_these_lines() -> None:
    text = README.read_text()
    section = text.split("## Seed compatibility", 1)[1].split("\n## ", 1)[0]
    lines = re.findall(r"^\|[^|]*\| `([^`]*)` \|", section, flags=re.MULTILINE)
    assert lines == list(ROWS.values())
