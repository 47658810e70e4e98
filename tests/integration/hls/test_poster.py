"""The video poster through a real gateway (uvicorn on loopback) and real ffmpeg: the HLS job takes
one frame at 10 % of the duration, scaled to the largest rendition, publishes it beside the
renditions and serves it at ``/api/stream/<sha256>/poster.jpg`` (202 while it is made, 404 for
files that are not video), with the headers of every user-bytes response."""

from __future__ import annotations

import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from torrent_gateway.hls import install_hls

from tests.integration.hls.media import FFMPEG, make_audio_only_mp4, make_clip, upload
from tests.support.gateway import RunningGateway, running_gateway

HLS = {"renditions": [240, 120], "segment_seconds": 2}
SECONDS = 10
# Blue for the first half second, red after: a poster taken 10 % in (1 s) is red, the first frame
# (what a player shows without a poster) is blue.
FIRST_COLOUR = (0, 0, 255)
POSTER_COLOUR = (255, 0, 0)


def make_two_colour_clip(path: Path, size: str = "640x360") -> Path:
    subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color=c=red:size={size}:rate=25:duration={SECONDS},"
            "drawbox=color=blue:t=fill:enable='lt(t,0.5)'",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
        timeout=120,
    )
    return path


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG, as ffprobe reads it from stdin (and only as a JPEG)."""
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-f",
            "jpeg_pipe",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            "pipe:0",
        ],
        input=data,
        capture_output=True,
        check=True,
        timeout=30,
    )
    codec, width, height = probe.stdout.decode().strip().split(",")
    assert codec == "mjpeg"
    return int(width), int(height)


def mean_colour(data: bytes, demuxer: str = "jpeg_pipe", crop: str | None = None) -> tuple[int, int, int]:
    """The mean RGB of an image (or its ``crop=w:h:x:y`` part), decoded by ffmpeg from stdin."""
    filters = f"{crop}," if crop else ""
    pixel = subprocess.run(
        [
            FFMPEG,
            "-v",
            "error",
            "-f",
            demuxer,
            "-i",
            "pipe:0",
            "-vf",
            f"{filters}scale=1:1:flags=area",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ],
        input=data,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    assert len(pixel) == 3
    return pixel[0], pixel[1], pixel[2]


def close_to(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path_factory.mktemp("poster-data"), extensions=[install_hls], hls=HLS
    ) as running:
        yield running


def wait_for_poster(url: str, within: float = 90) -> httpx.Response:
    """Poll as the web page does: every 202 carries Retry-After and a JSON state."""
    deadline = time.monotonic() + within
    while True:
        response = httpx.get(url, timeout=10)
        if response.status_code != 202:
            return response
        assert response.headers["retry-after"].isdigit()
        assert response.json()["state"] in ("pending", "running")
        assert time.monotonic() < deadline, f"no poster in {within} s: {response.text}"
        time.sleep(0.2)


def test_poster_is_a_decodable_frame_at_a_tenth_of_the_video_and_the_largest_rendition_size(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    clip = make_two_colour_clip(tmp_path / "colours.mp4")
    sha = upload(gateway, clip, "video/mp4")["sha256"]
    url = f"{gateway.url}/api/stream/{sha}/poster.jpg"
    # The gateway runs one job at a time: while the 640x360 clip is encoded into two renditions,
    # a second video waits, and its poster answers 202 + Retry-After with the job's state.
    small = upload(gateway, make_clip(tmp_path / "small.mp4", seconds=2, width=160, height=120), "video/mp4")
    waiting = httpx.get(f"{gateway.url}/api/stream/{small['sha256']}/poster.jpg")
    assert waiting.status_code == 202, waiting.text
    assert waiting.headers["retry-after"].isdigit()
    assert waiting.json()["state"] == "pending"

    response = wait_for_poster(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox")
    assert response.headers["access-control-allow-origin"] == "*"
    poster = response.content
    assert poster[:3] == b"\xff\xd8\xff" and poster[-2:] == b"\xff\xd9"  # one whole JPEG

    status = httpx.get(f"{gateway.url}/api/stream/{sha}/status").json()
    assert status["poster"] is True
    largest = max(status["renditions"], key=lambda rendition: rendition["height"])
    # The 640x360 source is not a rendition (240 is the tallest configured): the poster is the
    # largest rendition's size, not the source's.
    assert (largest["width"], largest["height"]) == (426, 240)
    assert image_size(poster) == (largest["width"], largest["height"])
    colour = mean_colour(poster)
    assert close_to(colour, POSTER_COLOUR), colour  # 1 s in, not the blue first frame
    assert not close_to(colour, FIRST_COLOUR)

    # Stored beside the renditions, so every replica serves the same bytes.
    stored = Path(gateway.settings.storage.path) / "hls" / sha / "poster.jpg"
    assert stored.read_bytes() == poster

    head = httpx.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(poster))
    part = httpx.get(url, headers={"range": "bytes=0-1"})
    assert part.status_code == 206 and part.content == b"\xff\xd8"

    # The waiting video gets its poster too: its source is smaller than every configured height,
    # so its one rendition (and poster) has the source's own size.
    later = wait_for_poster(f"{gateway.url}/api/stream/{small['sha256']}/poster.jpg")
    assert later.status_code == 200, later.text
    assert image_size(later.content) == (160, 120)


def test_no_poster_for_files_that_are_not_video(gateway: RunningGateway, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n")
    sha = upload(gateway, notes, "text/plain")["sha256"]
    response = httpx.get(f"{gateway.url}/api/stream/{sha}/poster.jpg")
    assert response.status_code == 404
    assert "only videos have a poster" in response.json()["detail"]

    # Declared as video, but only a tone inside: the job finds no video stream, still 404.
    voice = upload(gateway, make_audio_only_mp4(tmp_path / "voice.mp4"), "video/mp4")["sha256"]
    response = wait_for_poster(f"{gateway.url}/api/stream/{voice}/poster.jpg")
    assert response.status_code == 404, response.text
    assert "no video stream" in response.json()["detail"]

    assert httpx.get(f"{gateway.url}/api/stream/{'0' * 64}/poster.jpg").status_code == 404
    assert httpx.get(f"{gateway.url}/api/stream/not-a-hash/poster.jpg").status_code == 400


def ffmpeg_without_jpeg(folder: Path) -> Path:
    """The real ffmpeg and ffprobe, as a build without the mjpeg encoder would be (minimal builds
    leave encoders out): the poster cannot be made, the renditions can."""
    folder.mkdir(parents=True, exist_ok=True)
    real_ffmpeg, real_ffprobe = shutil.which(FFMPEG), shutil.which("ffprobe")
    assert real_ffmpeg and real_ffprobe
    script = folder / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" mjpeg "*) echo "Unknown encoder \'mjpeg\'" >&2; exit 8;; esac\n'
        f'exec {real_ffmpeg} "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    (folder / "ffprobe").symlink_to(real_ffprobe)
    return script


def test_a_poster_that_cannot_be_made_never_fails_the_stream(tmp_path: Path) -> None:
    ffmpeg = ffmpeg_without_jpeg(tmp_path / "bin")
    clip = make_clip(tmp_path / "clip.mp4", seconds=2, width=160, height=120)
    with running_gateway(
        tmp_path / "data", extensions=[install_hls], hls={**HLS, "ffmpeg": str(ffmpeg)}
    ) as gw:
        sha = upload(gw, clip, "video/mp4")["sha256"]
        response = wait_for_poster(f"{gw.url}/api/stream/{sha}/poster.jpg")
        assert response.status_code == 404, response.text
        assert response.json()["detail"] == "this video has no poster"
        status = httpx.get(f"{gw.url}/api/stream/{sha}/status").json()
        assert status["state"] == "ready" and status["poster"] is False
        assert httpx.get(f"{gw.url}/api/stream/{sha}/playlist.m3u8").status_code == 200
        stored = Path(gw.settings.storage.path) / "hls" / sha
        assert not (stored / "poster.jpg").exists() and (stored / "120p" / "index.m3u8").exists()
