"""Finding 12 (the parts about bytes coming in) of issue 15, over HTTP against a real gateway:

* HLS jobs are admitted: a bounded queue per process (503 + Retry-After) and a per-address budget
  of job starts per minute (429 + Retry-After); a refused upload is transcoded on first request.
* A banned user's session cannot upload "anonymously" through Blossom (403), a revoked one 401.
* ``blossom.allowed_pubkeys`` holds for anonymous and logged-in uploads of the gateway too.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from torrent_gateway.accounts import accounts_extension as nostr_extension
from torrent_gateway.blossom import create_blossom_router
from torrent_gateway.hls import install_hls

from tests.support.gateway import RunningGateway, hls_of, running_gateway

ALICE = "a1" * 32
BOB = "b0" * 32


class LoopCatcher:
    """An extension that remembers the server's event loop, to run service calls in it from the test."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, app: Any, services: Any) -> None:
        async def started() -> None:
            self.loop = asyncio.get_running_loop()

        services.supervisor.on_start(started)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=20)


def blossom_extension(app: Any, services: Any) -> None:
    app.include_router(create_blossom_router(services))


def gated_ffprobe(folder: Path) -> tuple[Path, Path]:
    """The real ffprobe, held back while a gate file exists (bounded to 60 s): jobs stay busy
    exactly as long as the test needs, then run for real."""
    gate = folder / "gate"
    gate.touch()
    script = folder / "ffprobe-gated"
    script.write_text(
        f'#!/bin/sh\nfor i in $(seq 600); do [ -e "{gate}" ] || break; sleep 0.1; done\nexec ffprobe "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, gate


def upload_video(url: str, data: bytes) -> str:
    response = httpx.put(
        f"{url}/api/upload",
        params={"name": "clip.mp4"},
        content=data,
        headers={"Content-Type": "video/mp4"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sha256"])


def wait_for_fresh_minute_window(margin: float = 10) -> None:
    """The per-address budget counts per clock minute: do not start a count just before it rolls."""
    into = time.time() % 60
    if into > 60 - margin:
        time.sleep(60 - into + 0.1)


def test_hls_jobs_are_admitted_per_process_and_per_address(tmp_path: Path) -> None:
    ffprobe, gate = gated_ffprobe(tmp_path)
    hls = {
        "renditions": [120],
        "ffprobe": str(ffprobe),
        "max_concurrent_jobs": 1,
        "max_queued_jobs": 1,
        "job_starts_per_minute": 2,
    }
    with running_gateway(tmp_path / "data", extensions=[install_hls], hls=hls) as gateway:
        try:
            busy = upload_video(gateway.url, b"not really a video 0")
            # The queue holds one job (held at the gate): the next uploads are not transcoded now.
            waiting = [upload_video(gateway.url, f"not really a video {i}".encode()) for i in (1, 2, 3)]
            assert httpx.get(f"{gateway.url}/api/stream/{busy}/status").json()["state"] in (
                "pending",
                "running",
            )
            for sha in waiting:
                assert httpx.get(f"{gateway.url}/api/stream/{sha}/status").json()["state"] == "none"
            wait_for_fresh_minute_window()
            # Asking for one of them starts its job only if the process has room: not now.
            for sha in waiting[:2]:
                refused = httpx.get(f"{gateway.url}/api/stream/{sha}/playlist.m3u8", timeout=10)
                assert refused.status_code == 503, refused.text
                assert refused.headers["retry-after"] == "30"
                assert "retry later" in refused.json()["detail"]
            # This address has used its two starts of the minute.
            limited = httpx.get(f"{gateway.url}/api/stream/{waiting[2]}/playlist.m3u8", timeout=10)
            assert limited.status_code == 429, limited.text
            assert 1 <= int(limited.headers["retry-after"]) <= 60
            assert "too many streams" in limited.json()["detail"]
            # A stream already made or making is never limited: only new jobs are.
            assert httpx.get(f"{gateway.url}/api/stream/{busy}/playlist.m3u8").status_code == 202
        finally:
            gate.unlink()
        # With the gate open the busy job ends (ffprobe refuses the bytes) and the queue has room.
        deadline = time.monotonic() + 60
        while httpx.get(f"{gateway.url}/api/stream/{busy}/status").json()["state"] != "failed":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        transcoder = hls_of(gateway)
        assert transcoder.jobs_started == 1


@pytest.fixture(scope="module")
def auth_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, LoopCatcher]]:
    loop = LoopCatcher()
    with running_gateway(
        tmp_path_factory.mktemp("auth"),
        extensions=[nostr_extension, blossom_extension, loop],
        blossom={"require_auth": []},  # anonymous Blossom uploads allowed
        hls={"enabled": False},
    ) as running:
        yield running, loop


def session_for(gateway: RunningGateway, loop: LoopCatcher, pubkey: str) -> str:
    authenticator = gateway.services.authenticator
    return str(loop.run(authenticator.create_session(pubkey))["token"])


def test_banned_session_cannot_upload_as_anonymous(auth_gateway: tuple[RunningGateway, LoopCatcher]) -> None:
    gateway, loop = auth_gateway
    token = session_for(gateway, loop, ALICE)
    bearer = {"Authorization": f"Bearer {token}"}
    ok = httpx.put(f"{gateway.url}/upload", content=b"before the ban", headers=bearer, timeout=30)
    assert ok.status_code == 201, ok.text  # a good session uploads as before (anonymously on Blossom)
    # Banned while the session is still valid (another replica has not revoked it yet).
    record = json.dumps({"reason": "spam", "by": BOB, "at": time.time()}).encode()
    loop.run(gateway.services.state.set(f"ban:{ALICE}", record))
    for method, path in (("PUT", "/upload"), ("PUT", "/api/upload")):
        refused = httpx.request(method, f"{gateway.url}{path}", content=b"after the ban", headers=bearer)
        assert refused.status_code == 403, (path, refused.text)
    assert (
        httpx.put(f"{gateway.url}/upload", content=b"after the ban", headers=bearer)
        .headers["x-reason"]
        .startswith("this pubkey is banned")
    )
    # Revoked (as the admin's ban does): the stale session is refused too, not taken as anonymous.
    loop.run(gateway.services.authenticator.revoke_all(ALICE))
    stale = httpx.put(f"{gateway.url}/upload", content=b"after the ban", headers=bearer)
    assert stale.status_code == 401 and stale.headers["x-reason"]
    # Nobody stored the refused bytes.
    assert httpx.head(f"{gateway.url}/{_sha(b'after the ban')}").status_code == 404


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_allowed_pubkeys_bind_gateway_uploads_too(tmp_path: Path) -> None:
    loop = LoopCatcher()
    with running_gateway(
        tmp_path / "data",
        extensions=[nostr_extension, blossom_extension, loop],
        blossom={"allowed_pubkeys": [ALICE], "require_auth": []},
        hls={"enabled": False},
    ) as gateway:
        data = os.urandom(1000)
        anonymous = httpx.put(f"{gateway.url}/api/upload?name=a.bin", content=data)
        assert anonymous.status_code == 401
        assert "only listed pubkeys" in anonymous.json()["detail"]
        multipart = httpx.post(f"{gateway.url}/api/upload", files={"file": ("a.bin", data)})
        assert multipart.status_code == 401
        blossom = httpx.put(f"{gateway.url}/upload", content=data)
        assert blossom.status_code == 401 and "only listed pubkeys" in blossom.headers["x-reason"]
        bob = {"Authorization": f"Bearer {session_for(gateway, loop, BOB)}"}
        assert httpx.put(f"{gateway.url}/api/upload?name=a.bin", content=data, headers=bob).status_code == 403
        alice = {"Authorization": f"Bearer {session_for(gateway, loop, ALICE)}"}
        allowed = httpx.put(f"{gateway.url}/api/upload?name=a.bin", content=data, headers=alice)
        assert allowed.status_code == 201, allowed.text
