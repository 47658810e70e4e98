"""HLS playlists (RFC 8216) as text: reading ffmpeg's media playlists, writing the master playlist,
and the names of everything we publish under ``hls/<sha256>/``.

Pure functions. Published layout (relative URIs, so it is served from any replica or CDN):

* ``playlist.m3u8``                 master playlist: one ``#EXT-X-STREAM-INF`` per rendition
* ``<height>p/index.m3u8``          media playlist of one rendition
* ``<height>p/seg_<nnnnn>.ts``      MPEG-TS segments
* ``poster.jpg``                    one JPEG frame of the video, for players to show before playback
* ``state.json``                    the job's outcome (ready or failed), written last
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MASTER_NAME = "playlist.m3u8"
MEDIA_NAME = "index.m3u8"
STATE_NAME = "state.json"
POSTER_NAME = "poster.jpg"
MAX_PLAYLIST_BYTES = 4 * 1024 * 1024
MAX_SEGMENTS = 200_000

RENDITION_RE = re.compile(r"^[1-9][0-9]{1,4}p$")
SEGMENT_RE = re.compile(r"^seg_[0-9]{5,9}\.ts$")
STREAM_PATH_RE = re.compile(r"^([1-9][0-9]{1,4}p)/(index\.m3u8|seg_[0-9]{5,9}\.ts)$")

MPEGURL = "application/vnd.apple.mpegurl"
MPEG_TS = "video/mp2t"
JPEG = "image/jpeg"


class PlaylistError(Exception):
    """A playlist we cannot use."""


@dataclass(frozen=True, slots=True)
class Segment:
    uri: str
    duration: float


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    segments: tuple[Segment, ...]
    ended: bool
    target_duration: int | None


@dataclass(frozen=True, slots=True)
class Variant:
    uri: str
    bandwidth: int
    width: int
    height: int
    average_bandwidth: int | None = None
    codecs: str | None = None
    frame_rate: float | None = None


def is_stream_path(path: str) -> bool:
    """True for the media playlists and segments a client may ask for (nothing else, no traversal)."""
    return bool(STREAM_PATH_RE.match(path))


def content_type_for(path: str) -> str:
    return MPEGURL if path.endswith(".m3u8") else MPEG_TS


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Segments (URI + duration) of a media playlist, whether it has ended, its target duration."""
    if len(text) > MAX_PLAYLIST_BYTES:
        raise PlaylistError("playlist too large")
    lines = [line.strip() for line in text.splitlines()]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("not an M3U8 playlist (no #EXTM3U)")
    segments: list[Segment] = []
    duration: float | None = None
    ended = False
    target: int | None = None
    for line in lines[1:]:
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            value = line[len("#EXTINF:") :].split(",", 1)[0]
            try:
                duration = float(value)
            except ValueError:
                raise PlaylistError(f"bad #EXTINF duration {value[:20]!r}") from None
            if not 0 <= duration < 86400:
                raise PlaylistError("segment duration out of range")
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            raw = line.split(":", 1)[1]
            target = int(raw) if raw.isdigit() and len(raw) < 7 else None
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line.startswith("#"):
            continue
        else:
            if duration is None:
                raise PlaylistError(f"segment {line[:40]!r} without #EXTINF")
            segments.append(Segment(line, duration))
            duration = None
            if len(segments) > MAX_SEGMENTS:
                raise PlaylistError("too many segments")
    return MediaPlaylist(tuple(segments), ended, target)


def as_vod(text: str) -> str:
    """A finished EVENT playlist re-labelled VOD: players then treat it as a complete file."""
    return text.replace("#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-PLAYLIST-TYPE:VOD", 1)


def avc1_codec(profile: str | None, level: int | None) -> str | None:
    """RFC 6381 ``avc1.PPCCLL`` from ffprobe's profile name and level (e.g. Main, 31 → avc1.4d401f)."""
    prefixes = {
        "constrained baseline": "42e0",
        "baseline": "4200",
        "main": "4d40",
        "extended": "5800",
        "high": "6400",
    }
    prefix = prefixes.get((profile or "").lower())
    if prefix is None or level is None or not 0 < level < 256:
        return None
    return f"avc1.{prefix}{level:02x}"


def aac_codec(profile: str | None) -> str:
    """``mp4a.40.<object type>``: LC is 2, HE-AAC 5, HE-AACv2 29."""
    kinds = {"he-aac": 5, "he-aacv2": 29, "lc": 2}
    return f"mp4a.40.{kinds.get((profile or 'lc').lower(), 2)}"


def measured_bandwidth(segments: list[tuple[int, float]]) -> tuple[int, int]:
    """(peak, average) bits/s from (size in bytes, duration in s) of each segment.

    HLS BANDWIDTH is the peak segment bit rate; very short segments (the tail) are counted as
    lasting at least one second so they do not inflate the peak.
    """
    if not segments:
        return 0, 0
    peak = max(int(size * 8 / max(duration, 1.0)) for size, duration in segments)
    total_bytes = sum(size for size, _ in segments)
    total_seconds = sum(duration for _, duration in segments) or 1.0
    return max(peak, 1), max(int(total_bytes * 8 / total_seconds), 1)


def master_playlist(variants: list[Variant]) -> str:
    """The master playlist, smallest rendition first (players start there and climb)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for variant in sorted(variants, key=lambda v: (v.height, v.bandwidth)):
        attributes = [f"BANDWIDTH={variant.bandwidth}"]
        if variant.average_bandwidth:
            attributes.append(f"AVERAGE-BANDWIDTH={variant.average_bandwidth}")
        attributes.append(f"RESOLUTION={variant.width}x{variant.height}")
        if variant.codecs:
            attributes.append(f'CODECS="{variant.codecs}"')
        if variant.frame_rate:
            attributes.append(f"FRAME-RATE={variant.frame_rate:.3f}")
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(variant.uri)
    return "\n".join(lines) + "\n"
