"""Finding 5 of issue 15 with the real ffprobe/ffmpeg behind a real gateway: an upload that is an
HLS playlist or a concat list (declared ``video/mp4``) naming a local file must not make ffmpeg
open that file. The canary is a FIFO: opening it for reading is what wakes the watcher, so the
test sees any open, whatever ffmpeg does with the bytes afterwards."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from torrent_gateway.hls import install_hls

from tests.integration.hls.media import make_clip
from tests.support.gateway import RunningGateway, running_gateway

HLS = {"renditions": [120], "segment_seconds": 2}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("ffmpeg"), extensions=[install_hls], hls=HLS) as running:
        yield running


class FifoCanary:
    """A named pipe whose opening by any reader is recorded; it then feeds ``payload`` and closes."""

    def __init__(self, path: Path, payload: bytes) -> None:
        self.path = path
        self.payload = payload
        self.opened = threading.Event()
        self.released = False
        os.mkfifo(path)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until someone opens the pipe to read
        if not self.released:
            self.opened.set()
        try:
            os.write(fd, self.payload)
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        """Wake the watcher ourselves (without counting it) so its thread ends."""
        self.released = True
        reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.thread.join(5)
        os.close(reader)


def wait_for_end(
    gateway: RunningGateway, sha: str, within: float = 60, canary: FifoCanary | None = None
) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        assert canary is None or not canary.opened.is_set(), "ffmpeg opened a local file named by the upload"
        status = httpx.get(f"{gateway.url}/api/stream/{sha}/status", timeout=10).json()
        if status["state"] in ("ready", "failed"):
            return status  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


@pytest.mark.parametrize(
    "indirect",
    [
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-VERSION:3\n#EXTINF:2.0,\n{url}\n#EXT-X-ENDLIST\n",
        "ffconcat version 1.0\nfile '{path}'\n",
    ],
    ids=["hls-playlist", "concat-list"],
)
def test_indirect_formats_never_open_local_files(
    gateway: RunningGateway, tmp_path: Path, indirect: str
) -> None:
    clip = make_clip(tmp_path / "real.ts", seconds=2, width=160, height=120)
    canary = FifoCanary(tmp_path / "canary.ts", clip.read_bytes())
    try:
        body = indirect.format(url=f"file://{canary.path}", path=canary.path).encode()
        uploaded = httpx.put(
            f"{gateway.url}/api/upload",
            params={"name": "movie.mp4"},
            content=body,
            headers={"Content-Type": "video/mp4"},
            timeout=30,
        )
        assert uploaded.status_code == 201, uploaded.text
        sha = uploaded.json()["sha256"]
        status = wait_for_end(gateway, sha, canary=canary)
        assert not canary.opened.wait(1), "ffmpeg opened a local file named by the upload"
        assert status["state"] == "failed" and status["permanent"] is True
        playlist = httpx.get(f"{gateway.url}/api/stream/{sha}/playlist.m3u8", timeout=10)
        assert playlist.status_code == 422
        assert playlist.json()["detail"].startswith("this video cannot be streamed")
    finally:
        canary.close()


def test_real_videos_still_stream_with_guard_headers(gateway: RunningGateway, tmp_path: Path) -> None:
    # A non-faststart MP4 (index at the end): the one-file input must stay seekable.
    clip = make_clip(tmp_path / "clip.mp4", seconds=3, width=160, height=120)
    uploaded = httpx.put(
        f"{gateway.url}/api/upload",
        params={"name": "clip.mp4"},
        content=clip.read_bytes(),
        headers={"Content-Type": "video/mp4"},
        timeout=30,
    )
    sha = uploaded.json()["sha256"]
    assert wait_for_end(gateway, sha)["state"] == "ready"
    base = f"{gateway.url}/api/stream/{sha}"
    for path in ("playlist.m3u8", "120p/index.m3u8", "120p/seg_00000.ts"):
        response = httpx.get(f"{base}/{path}", timeout=10)
        assert response.status_code == 200, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"
