"""Test media made on the spot with ffmpeg's lavfi sources (no binary fixtures in the repository)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway import RunningGateway

FFMPEG = "ffmpeg"


def make_clip(
    path: Path,
    *,
    seconds: float = 6,
    width: int = 320,
    height: int = 240,
    rate: int = 25,
    audio: bool = True,
    video_codec: str = "libx264",
    faststart: bool = False,
    gop: int | None = None,
) -> Path:
    """An H.264/AAC test clip (testsrc + sine). Without ``faststart`` the MP4 index sits at the end,
    which is what needs a seekable input when transcoding."""
    args = [
        FFMPEG,
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={width}x{height}:rate={rate}:duration={seconds}",
    ]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-c:v", video_codec, "-pix_fmt", "yuv420p"]
    if video_codec == "libx264":
        args += ["-preset", "veryfast", "-profile:v", "high"]
    if gop:
        args += ["-g", str(gop)]
    if audio:
        args += ["-c:a", "aac", "-b:a", "96k", "-shortest"]
    if faststart:
        args += ["-movflags", "+faststart"]
    args.append(str(path))
    subprocess.run(args, check=True, timeout=120)
    return path


def make_audio_only_mp4(path: Path, seconds: float = 2) -> Path:
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
            f"sine=duration={seconds}",
            "-c:a",
            "aac",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


def make_garbage(path: Path, size: int = 64 * 1024) -> Path:
    """Random bytes under a video name: ffmpeg must refuse them."""
    path.write_bytes(os.urandom(size))
    return path


def upload(gateway: RunningGateway, path: Path, content_type: str) -> dict[str, Any]:
    """Upload a media file through the gateway's raw upload, as a client would."""
    response = httpx.put(
        f"{gateway.url}/api/upload",
        params={"name": path.name},
        content=path.read_bytes(),
        headers={"content-type": content_type},
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]
