"""What a media file holds, as ffprobe reports it: container, duration, the video and audio streams.

:func:`parse_probe` is pure: it turns ffprobe's JSON (``-print_format json``) into a
:class:`MediaInfo`, refusing anything malformed or absurd (the bytes come from an untrusted
upload, through ffprobe). :func:`run_ffprobe` is the thin I/O edge that runs ffprobe as an
asyncio subprocess with a timeout and a bound on what it may print.

ffprobe and ffmpeg read exactly one file, the upload: :func:`input_options` allows only the
``file`` protocol and only self-contained container demuxers (:data:`CONTAINER_FORMATS`). HLS
playlists, DASH manifests, concat lists, image sequences and every other format that opens
further URLs are refused whatever the upload's declared type, so a stored ``.m3u8`` naming
``file:///etc/...`` makes ffprobe fail instead of reading that file. (A pipe is not enough: an
MP4 keeps its index at the end and needs a seekable input.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ffprobe prints only the entries asked for below, so a real answer is a few KB; anything
# near this bound is not an answer we want to parse.
MAX_PROBE_OUTPUT = 1024 * 1024
MAX_DIMENSION = 16384
MAX_ERROR_CHARS = 2000
PROBE_ENTRIES = (
    "stream=index,codec_type,codec_name,profile,level,width,height,pix_fmt,sample_aspect_ratio,"
    "avg_frame_rate,r_frame_rate,bit_rate,channels,sample_rate"
    ":stream_disposition=attached_pic,still_image"
    ":stream_side_data=rotation"
    ":stream_tags=rotate"
    ":format=format_name,duration,bit_rate"
)


# Self-contained containers a video upload comes in. Each name is an ffmpeg demuxer (as
# ``-format_whitelist`` matches them): none of them opens another file or URL (mov's external data
# references stay off, its default), unlike hls, dash, concat, image2 or the playlist demuxers.
CONTAINER_FORMATS = ("mov", "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "ogg", "asf")


def input_options(input_format: str | None = None) -> list[str]:
    """Options before ``-i`` (ffmpeg) or the path (ffprobe): one local file, a container demuxer."""
    options = ["-protocol_whitelist", "file", "-format_whitelist", ",".join(CONTAINER_FORMATS)]
    if input_format is not None:
        options += ["-f", input_format]
    return options


def input_url(path: str | Path) -> str:
    """The source as an explicit ``file:`` URL: no path can be read as another protocol or option."""
    return f"file:{os.path.abspath(path)}"


def demuxer_for(format_name: str) -> str | None:
    """The allowed demuxer ffprobe named (``"mov,mp4,m4a,3gp,3g2,mj2"`` → ``"mov"``), else None."""
    names = format_name.split(",")
    for name in names:
        if name in CONTAINER_FORMATS:
            return names[0]
    return None


class ProbeError(Exception):
    """ffprobe could not read the file, or answered something we cannot use; ``str()`` is safe to show.

    ``transient`` is set when the tool, not the file, is at fault (not installed, too slow).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class VideoStream:
    index: int
    codec: str
    width: int
    height: int
    pix_fmt: str | None = None
    profile: str | None = None
    level: int | None = None
    frame_rate: float | None = None
    bit_rate: int | None = None
    rotation: int = 0
    sample_aspect: float = 1.0

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown: non-square pixels stretched, quarter turns applied."""
        width = max(1, round(self.width * self.sample_aspect))
        height = self.height
        if self.rotation % 180 == 90:
            width, height = height, width
        return width, height


@dataclass(frozen=True, slots=True)
class AudioStream:
    index: int
    codec: str
    profile: str | None = None
    channels: int | None = None
    sample_rate: int | None = None
    bit_rate: int | None = None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    format_name: str
    duration: float | None
    bit_rate: int | None
    video: VideoStream | None
    audio: AudioStream | None


def ffprobe_for(ffmpeg: str) -> str:
    """The ffprobe that ships next to the configured ffmpeg (same directory, same suffix)."""
    directory, name = os.path.split(ffmpeg)
    probe_name = name.replace("ffmpeg", "ffprobe") if "ffmpeg" in name else "ffprobe"
    return os.path.join(directory, probe_name) if directory else probe_name


def probe_command(ffprobe: str, path: str | Path) -> list[str]:
    return [
        ffprobe,
        "-v",
        "error",
        "-hide_banner",
        "-print_format",
        "json",
        "-show_entries",
        PROBE_ENTRIES,
        *input_options(),
        input_url(path),
    ]


def _int(value: Any, low: int = 0, high: int = 2**53) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.lstrip("-").isdigit() or len(value) > 20:
            return None
        value = int(value)
    if isinstance(value, int) and low <= value <= high:
        return value
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > 40:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and value == value and 0 <= value < 1e12:  # not NaN, not absurd
        return float(value)
    return None


def _str(value: Any, limit: int = 64) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def parse_ratio(value: Any) -> float | None:
    """``"30000/1001"`` → 29.97; ``"0/0"`` or garbage → None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    num, sep, den = value.replace(":", "/").partition("/")
    numerator, denominator = _int(num, 0), _int(den, 0) if sep else 1
    if numerator is None or not denominator:
        return None
    return numerator / denominator if numerator else None


def _rotation(stream: dict[str, Any]) -> int:
    for side_data in stream.get("side_data_list") or []:
        if isinstance(side_data, dict) and "rotation" in side_data:
            turned = _int(side_data["rotation"], -360, 360)
            if turned is not None:
                return turned % 360
    tags = stream.get("tags")
    if isinstance(tags, dict):
        turned = _int(tags.get("rotate"), -360, 360)
        if turned is not None:
            return turned % 360
    return 0


def _flag(stream: dict[str, Any], name: str) -> bool:
    disposition = stream.get("disposition")
    return isinstance(disposition, dict) and _int(disposition.get(name)) == 1


def _video(stream: dict[str, Any]) -> VideoStream | None:
    width = _int(stream.get("width"), 1, MAX_DIMENSION)
    height = _int(stream.get("height"), 1, MAX_DIMENSION)
    codec = _str(stream.get("codec_name"))
    index = _int(stream.get("index"), 0, 65535)
    if width is None or height is None or codec is None or index is None:
        return None
    sample_aspect = parse_ratio(stream.get("sample_aspect_ratio")) or 1.0
    if not 0.1 <= sample_aspect <= 10:
        sample_aspect = 1.0
    frame_rate = parse_ratio(stream.get("avg_frame_rate")) or parse_ratio(stream.get("r_frame_rate"))
    if frame_rate is not None and not 0 < frame_rate <= 1000:
        frame_rate = None
    return VideoStream(
        index=index,
        codec=codec,
        width=width,
        height=height,
        pix_fmt=_str(stream.get("pix_fmt")),
        profile=_str(stream.get("profile")),
        level=_int(stream.get("level"), 0, 1000),
        frame_rate=frame_rate,
        bit_rate=_int(stream.get("bit_rate"), 1),
        rotation=_rotation(stream),
        sample_aspect=sample_aspect,
    )


def _audio(stream: dict[str, Any]) -> AudioStream | None:
    codec = _str(stream.get("codec_name"))
    index = _int(stream.get("index"), 0, 65535)
    if codec is None or index is None:
        return None
    return AudioStream(
        index=index,
        codec=codec,
        profile=_str(stream.get("profile")),
        channels=_int(stream.get("channels"), 1, 64),
        sample_rate=_int(stream.get("sample_rate"), 1, 10_000_000),
        bit_rate=_int(stream.get("bit_rate"), 1),
    )


def parse_probe(raw: bytes | str) -> MediaInfo:
    """ffprobe's JSON → :class:`MediaInfo`. The first real video stream counts (cover art in an
    audio file is an attached picture, not video); the first decodable audio stream likewise."""
    if len(raw) > MAX_PROBE_OUTPUT:
        raise ProbeError("ffprobe output too large")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProbeError("ffprobe did not answer with JSON") from None
    if not isinstance(data, dict):
        raise ProbeError("ffprobe answered with unexpected JSON")
    fmt = data.get("format")
    streams = data.get("streams")
    if not isinstance(fmt, dict) or not isinstance(streams, list):
        raise ProbeError("no media streams found")
    video: VideoStream | None = None
    audio: AudioStream | None = None
    for stream in streams[:256]:
        if not isinstance(stream, dict):
            continue
        kind = stream.get("codec_type")
        if (
            kind == "video"
            and video is None
            and not _flag(stream, "attached_pic")
            and not _flag(stream, "still_image")
        ):
            video = _video(stream)
        elif kind == "audio" and audio is None:
            audio = _audio(stream)
    duration = _float(fmt.get("duration"))
    return MediaInfo(
        format_name=_str(fmt.get("format_name"), 128) or "unknown",
        duration=duration if duration else None,
        bit_rate=_int(fmt.get("bit_rate"), 1),
        video=video,
        audio=audio,
    )


def clean_error(text: str, path: str | Path | None = None, name: str | None = None) -> str:
    """Tool error output fit to show a user: our temp paths replaced by the file's name, bounded."""
    if path is not None:
        text = text.replace(str(path), name or "input")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cleaned = "\n".join(lines)
    if len(cleaned) > MAX_ERROR_CHARS:
        cleaned = "…" + cleaned[-MAX_ERROR_CHARS:]
    return cleaned


async def run_ffprobe(ffprobe: str, path: Path, *, time_limit: float, name: str | None = None) -> MediaInfo:
    """Probe a local file; ProbeError (with ffprobe's own words) when it cannot be read."""
    try:
        process = await asyncio.create_subprocess_exec(
            *probe_command(ffprobe, path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise ProbeError(f"cannot run {ffprobe}: {exc.strerror or exc}", transient=True) from None
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), time_limit)
    except TimeoutError:
        raise ProbeError(f"ffprobe did not finish within {time_limit:g} s", transient=True) from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode != 0:
        message = clean_error(stderr.decode("utf-8", "replace"), path, name)
        raise ProbeError(message or f"ffprobe failed with exit code {process.returncode}")
    return parse_probe(stdout)
