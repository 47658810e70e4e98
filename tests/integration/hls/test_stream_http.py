"""HLS through a real gateway (uvicorn on loopback) and real ffmpeg/ffprobe: upload, 202 while the
job runs, a master playlist ffprobe can play, segments with ranges, 415 for non-video, a clean
error state for a file ffmpeg refuses, and a second replica serving what the first one made."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from torrent_gateway.hls import install_hls
from torrent_gateway.hls.playlists import parse_media_playlist

from tests.integration.hls.media import make_audio_only_mp4, make_clip, make_garbage, upload
from tests.support.gateway import RunningGateway, hls_of, running_gateway

HLS = {"renditions": [480, 240, 120], "segment_seconds": 2}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hls-media")
    return {
        "clip": make_clip(folder / "clip.mp4", gop=50),
        "audio": make_audio_only_mp4(folder / "voice.mp4"),
        "garbage": make_garbage(folder / "broken.mp4"),
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hls-data")


class LoopCatcher:
    """An extension that remembers the server's event loop, to run service calls in it from the test."""

    loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, app: Any, services: Any) -> None:
        async def started() -> None:
            self.loop = asyncio.get_running_loop()

        services.supervisor.on_start(started)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=20)


LOOP = LoopCatcher()


@pytest.fixture(scope="module")
def gateway(data_dir: Path) -> Iterator[RunningGateway]:
    with running_gateway(data_dir, extensions=[install_hls, LOOP], hls=HLS) as running:
        yield running


def wait_for_playlist(url: str, within: float = 60) -> httpx.Response:
    """Poll the master playlist as a player would, honouring Retry-After (bounded in time)."""
    deadline = time.monotonic() + within
    while True:
        response = httpx.get(url, timeout=10)
        if response.status_code != 202 and response.headers.get("x-hls-state") != "running":
            return response
        assert time.monotonic() < deadline, f"stream not ready in {within} s: {response.text}"
        assert response.status_code == 200 or "retry-after" in response.headers
        time.sleep(0.2)


def hls_keys(gateway: RunningGateway, sha: str) -> list[str]:
    root = Path(gateway.settings.storage.path) / "hls" / sha
    return (
        sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        if root.exists()
        else []
    )


def test_video_stream_is_made_served_and_plays_in_ffprobe(
    gateway: RunningGateway, media: dict[str, Path]
) -> None:
    info = upload(gateway, media["clip"], "video/mp4")
    sha = info["sha256"]
    base = f"{gateway.url}/api/stream/{sha}"

    first = httpx.get(f"{base}/playlist.m3u8")
    if first.status_code == 202:  # still being made: JSON state + a retry hint
        assert first.headers["retry-after"].isdigit()
        assert first.json()["state"] in ("pending", "running")

    response = wait_for_playlist(f"{base}/playlist.m3u8")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["x-hls-state"] == "ready"
    assert response.headers["access-control-allow-origin"] == "*"
    master = response.text
    assert master.startswith("#EXTM3U")
    # 480p would be an upscale of a 240-line source: never made.
    assert "240p/index.m3u8" in master and "120p/index.m3u8" in master and "480p" not in master
    assert "RESOLUTION=320x240" in master and "RESOLUTION=160x120" in master
    assert 'CODECS="avc1.64000d,mp4a.40.2"' in master  # the copied source: High@1.3 + AAC-LC
    assert 'CODECS="avc1.4d401e,mp4a.40.2"' in master  # the encode: Main@3.0 + AAC-LC

    status = httpx.get(f"{base}/status").json()
    assert status["state"] == "ready" and status["playable"] and status["progress"] == 1.0
    modes = {r["name"]: (r["video"], r["audio"]) for r in status["renditions"]}
    assert modes == {"240p": ("copy", "copy"), "120p": ("encode", "encode")}
    assert status["playlist"] == f"{base}/playlist.m3u8"

    # The media playlists are finished VOD playlists whose every segment is served.
    for name in ("240p", "120p"):
        media_playlist = httpx.get(f"{base}/{name}/index.m3u8")
        assert media_playlist.status_code == 200
        assert media_playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
        parsed = parse_media_playlist(media_playlist.text)
        assert parsed.ended and "#EXT-X-PLAYLIST-TYPE:VOD" in media_playlist.text
        assert sum(s.duration for s in parsed.segments) == pytest.approx(6.0, abs=0.2)
        for segment in parsed.segments:
            got = httpx.get(f"{base}/{name}/{segment.uri}")
            assert got.status_code == 200 and got.headers["content-type"] == "video/mp2t"
            assert got.content[:1] == b"\x47"  # MPEG-TS sync byte

    # ffprobe, a real HLS client, reads the master over HTTP and finds both renditions.
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_programs", f"{base}/playlist.m3u8"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    programs = json.loads(probe.stdout)["programs"]
    sizes = sorted(
        (s["width"], s["height"]) for p in programs for s in p["streams"] if s["codec_type"] == "video"
    )
    assert sizes == [(160, 120), (320, 240)]
    audio = [s["codec_name"] for p in programs for s in p["streams"] if s["codec_type"] == "audio"]
    assert audio == ["aac", "aac"]

    # What the master announces is what the encoded segments hold.
    encoded = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_entries",
            "stream=profile,level",
            "-select_streams",
            "v",
            f"{base}/120p/seg_00000.ts",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(encoded.stdout)["streams"][0] == {"profile": "Main", "level": 30}

    # The object store holds the whole stream, state.json included (any replica can serve it).
    keys = hls_keys(gateway, sha)
    assert {"playlist.m3u8", "state.json", "240p/index.m3u8", "120p/index.m3u8"} <= set(keys)
    assert not [
        p for p in (Path(gateway.settings.storage.path) / ".staging").iterdir() if p.name.startswith("hls-")
    ]


def test_segments_honour_ranges_and_head(gateway: RunningGateway, media: dict[str, Path]) -> None:
    sha = upload(gateway, media["clip"], "video/mp4")["sha256"]
    base = f"{gateway.url}/api/stream/{sha}"
    assert wait_for_playlist(f"{base}/playlist.m3u8").status_code == 200
    url = f"{base}/240p/seg_00000.ts"
    whole = httpx.get(url).content
    assert len(whole) > 1000

    part = httpx.get(url, headers={"range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
    assert part.content == whole[100:1100]
    tail = httpx.get(url, headers={"range": "bytes=-188"})
    assert tail.status_code == 206 and tail.content == whole[-188:]
    refused = httpx.get(url, headers={"range": f"bytes={len(whole)}-"})
    assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{len(whole)}"

    head = httpx.head(url)
    assert (
        head.status_code == 200 and head.headers["content-length"] == str(len(whole)) and head.content == b""
    )
    head_master = httpx.head(f"{base}/playlist.m3u8")
    assert head_master.status_code == 200 and int(head_master.headers["content-length"]) > 0

    playlist_range = httpx.get(f"{base}/240p/index.m3u8", headers={"range": "bytes=0-6"})
    assert playlist_range.status_code == 206 and playlist_range.content == b"#EXTM3U"

    # Only our own names are served: no traversal, no state.json, no guessing.
    for path in ("state.json", "240p/../../../manifests/x.json", "240p/seg_99999.ts", "9999p/index.m3u8"):
        assert httpx.get(f"{base}/{path}").status_code == 404, path
    assert httpx.get(f"{gateway.url}/api/stream/{'z' * 64}/240p/index.m3u8").status_code == 400


def test_non_video_is_415(gateway: RunningGateway, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n")
    sha = upload(gateway, notes, "text/plain")["sha256"]
    response = httpx.get(f"{gateway.url}/api/stream/{sha}/playlist.m3u8")
    assert response.status_code == 415
    assert "not a video" in response.json()["detail"]
    assert httpx.get(f"{gateway.url}/api/stream/{sha}/status").json()["state"] == "unsupported"
    assert hls_keys(gateway, sha) == []
    assert httpx.get(f"{gateway.url}/api/stream/{'0' * 64}/playlist.m3u8").status_code == 404


def test_video_file_without_a_video_stream_is_415(gateway: RunningGateway, media: dict[str, Path]) -> None:
    sha = upload(gateway, media["audio"], "video/mp4")["sha256"]  # .mp4, but only a sine tone inside
    response = wait_for_playlist(f"{gateway.url}/api/stream/{sha}/playlist.m3u8")
    assert response.status_code == 415, response.text
    body = response.json()
    assert body["state"] == "failed" and "no video stream" in body["detail"]
    assert hls_keys(gateway, sha) == ["state.json"]


def test_ffmpeg_failure_is_a_clear_error_never_a_broken_playlist(
    gateway: RunningGateway, media: dict[str, Path]
) -> None:
    sha = upload(gateway, media["garbage"], "video/mp4")["sha256"]
    response = wait_for_playlist(f"{gateway.url}/api/stream/{sha}/playlist.m3u8")
    assert response.status_code == 422
    body = response.json()
    assert body["state"] == "failed" and body["permanent"] is True
    assert "Invalid data found when processing input" in body["error"]
    assert "broken.mp4" in body["error"] and ".staging" not in body["error"]  # our paths stay private
    assert body["detail"].startswith("this video cannot be streamed")
    # Only the recorded state: no playlist, no segment, and the failure is remembered (no retry storm).
    assert hls_keys(gateway, sha) == ["state.json"]
    assert httpx.get(f"{gateway.url}/api/stream/{sha}/240p/index.m3u8").status_code == 404
    assert httpx.get(f"{gateway.url}/api/stream/{sha}/playlist.m3u8").status_code == 422
    assert httpx.get(f"{gateway.url}/api/stream/{sha}/status").json()["state"] == "failed"
    assert hls_of(gateway).jobs_started >= 1


def test_deleting_the_file_deletes_its_stream(gateway: RunningGateway, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "short.mp4", seconds=2, width=160, height=120)
    sha = upload(gateway, clip, "video/mp4")["sha256"]
    assert wait_for_playlist(f"{gateway.url}/api/stream/{sha}/playlist.m3u8").status_code == 200
    assert hls_keys(gateway, sha)
    LOOP.run(gateway.services.catalog.delete_file(sha))
    assert hls_keys(gateway, sha) == []
    assert httpx.get(f"{gateway.url}/api/stream/{sha}/playlist.m3u8").status_code == 404
    assert httpx.get(f"{gateway.url}/api/stream/{sha}/120p/index.m3u8").status_code == 404


def test_health_reports_the_hls_component(gateway: RunningGateway) -> None:
    health = httpx.get(f"{gateway.url}/api/health").json()
    assert health["components"]["hls"]["ok"] is True


def test_a_second_replica_serves_the_stream_without_transcoding(
    gateway: RunningGateway, media: dict[str, Path], data_dir: Path
) -> None:
    sha = upload(gateway, media["clip"], "video/mp4")["sha256"]
    assert wait_for_playlist(f"{gateway.url}/api/stream/{sha}/playlist.m3u8").status_code == 200
    # Same object store, its own (empty) state store: everything it needs is in the store.
    with running_gateway(data_dir, extensions=[install_hls], hls=HLS) as replica:
        response = httpx.get(f"{replica.url}/api/stream/{sha}/playlist.m3u8")
        assert response.status_code == 200 and response.headers["x-hls-state"] == "ready"
        assert httpx.get(f"{replica.url}/api/stream/{sha}/240p/seg_00000.ts").status_code == 200
        assert hls_of(replica).jobs_started == 0
