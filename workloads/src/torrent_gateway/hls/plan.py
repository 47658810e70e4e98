"""Which HLS renditions to make from a source, and the ffmpeg command that makes them.

Pure functions of the probed source and the settings, so every decision is unit-tested:

* heights come from ``settings.hls.renditions``; a rendition taller than the source is
  dropped (never upscaled); a source smaller than every configured height still gets one
  rendition at its own size, so every video can be streamed;
* a rendition at the source's own size whose video is already H.264 (8-bit 4:2:0, not rotated)
  copies the video stream instead of re-encoding it; AAC audio is copied likewise;
* everything else is encoded with libx264 (capped CRF) and AAC, with a keyframe forced at every
  segment boundary so segments have the configured length.

The poster (:func:`poster_arguments`) is one JPEG frame at 10 % of the duration, at the size of
the largest rendition, read with the same hardened input options.

One ffmpeg process writes every rendition (the source is decoded once); each rendition is an
EVENT playlist that grows while ffmpeg runs, which lets the transcoder publish segments as
soon as they exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .playlists import aac_codec, avc1_codec
from .probe import MediaInfo, demuxer_for, input_options, input_url

COPYABLE_VIDEO_PROFILES = {"baseline", "constrained baseline", "main", "high"}
COPYABLE_PIX_FMTS = {"yuv420p", "yuvj420p"}
# Capped-CRF encoding: quality from CRF, peaks bounded by a bits-per-pixel budget.
CRF = 23
BITS_PER_PIXEL = 0.1
MIN_VIDEO_BITRATE = 200_000
MAX_VIDEO_BITRATE = 12_000_000
DEFAULT_FRAME_RATE = 30.0
# The poster frame: a tenth into the video skips black lead-ins and title fades; without a known
# duration, one second in. mjpeg's qscale 3 is visually clean at about a tenth of a PNG's size.
POSTER_FRACTION = 0.1
POSTER_FALLBACK_SECONDS = 1.0
POSTER_QUALITY = 3
MAX_FRAME_RATE = 60.0
# H.264 levels (ITU-T H.264 table A-1): level → (max macroblocks/s, max macroblocks/frame, max kbit/s
# for Main; High may use 1.25 times that). Encodes never go below 3.0, which every player takes.
H264_LEVELS = [
    (30, 40_500, 1_620, 10_000),
    (31, 108_000, 3_600, 14_000),
    (32, 216_000, 5_120, 20_000),
    (40, 245_760, 8_192, 20_000),
    (41, 245_760, 8_192, 50_000),
    (42, 522_240, 8_704, 50_000),
    (50, 589_824, 22_080, 135_000),
    (51, 983_040, 36_864, 240_000),
    (52, 2_073_600, 36_864, 240_000),
]


class NotVideo(Exception):
    """The file has no video stream to stream; ``str()`` says what it has instead."""


@dataclass(frozen=True, slots=True)
class Rendition:
    name: str  # also the folder of its playlist and segments, e.g. "720p"
    width: int
    height: int
    video: Literal["copy", "encode"]
    audio: Literal["copy", "encode", "none"]
    video_bitrate: int  # bits/s: the encoder's cap, or the source's rate when copied
    audio_bitrate: int  # bits/s (0 without audio)
    frame_rate: float | None  # of the output (sources above 60 fps are reduced to 60)
    codecs: str | None = None  # RFC 6381 CODECS of the master playlist (None: unknown, left out)
    profile: str = "main"  # H.264 profile and level of an encode (x264 is told both)
    level: int = 30

    @property
    def estimated_bandwidth(self) -> int:
        """Peak bits/s to announce before the segments are measured (HLS BANDWIDTH)."""
        video = self.video_bitrate * (2 if self.video == "copy" else 1)
        return int((video + self.audio_bitrate) * 1.1)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "video": self.video,
            "audio": self.audio,
            "codecs": self.codecs,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    renditions: tuple[Rendition, ...]
    segment_seconds: int
    duration: float | None
    video_index: int
    audio_index: int | None
    source_frame_rate: float | None = None
    # The demuxer ffprobe found: ffmpeg is held to it, so it cannot guess another, indirect one.
    input_format: str | None = None


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _even_floor(value: int) -> int:
    return max(2, value // 2 * 2)


def video_bitrate_cap(width: int, height: int, frame_rate: float | None) -> int:
    fps = min(frame_rate or DEFAULT_FRAME_RATE, MAX_FRAME_RATE)
    rate = int(width * height * fps * BITS_PER_PIXEL)
    return max(MIN_VIDEO_BITRATE, min(MAX_VIDEO_BITRATE, rate))


def audio_bitrate_for(height: int) -> int:
    return 128_000 if height >= 480 else 96_000


def h264_level(width: int, height: int, frame_rate: float | None, bitrate: int, *, high: bool) -> int:
    """The lowest H.264 level (×10, e.g. 31) whose limits hold this frame size, rate and bitrate."""
    macroblocks = ((width + 15) // 16) * ((height + 15) // 16)
    per_second = macroblocks * min(frame_rate or DEFAULT_FRAME_RATE, MAX_FRAME_RATE)
    kbits = bitrate / 1000 / (1.25 if high else 1.0)
    for level, max_rate, max_frame, max_kbits in H264_LEVELS:
        if macroblocks <= max_frame and per_second <= max_rate and kbits <= max_kbits:
            return level
    return H264_LEVELS[-1][0]


def _codecs(video: str | None, audio: str | None, has_audio: bool) -> str | None:
    if video is None or (has_audio and audio is None):
        return None
    return f"{video},{audio}" if has_audio else video


def can_copy_video(info: MediaInfo) -> bool:
    video = info.video
    return bool(
        video is not None
        and video.codec == "h264"
        and (video.pix_fmt or "") in COPYABLE_PIX_FMTS
        and (video.profile or "").lower() in COPYABLE_VIDEO_PROFILES
        and video.rotation == 0
        and abs(video.sample_aspect - 1.0) < 0.01
    )


def can_copy_audio(info: MediaInfo) -> bool:
    return info.audio is not None and info.audio.codec == "aac"


def plan_renditions(info: MediaInfo, heights: list[int], segment_seconds: int) -> Plan:
    """The renditions to make, tallest first. Raises NotVideo when there is no video stream."""
    video = info.video
    if video is None:
        has = f"audio ({info.audio.codec})" if info.audio else "no audio or video stream"
        raise NotVideo(f"no video stream in this file (it has {has})")
    if demuxer_for(info.format_name) is None:
        # ffprobe was held to the container allow-list already; a plan never names another demuxer.
        raise NotVideo(f"container format {info.format_name} is not accepted for streaming")
    source_width, source_height = video.display_size
    wanted = sorted({h for h in heights if h > 0}, reverse=True)
    chosen = [h for h in wanted if h <= source_height] or [source_height]
    copy_video = can_copy_video(info)
    copy_audio = can_copy_audio(info)
    frame_rate = min(video.frame_rate, MAX_FRAME_RATE) if video.frame_rate else None
    renditions: list[Rendition] = []
    for height in chosen:
        same_size = height == source_height
        profile, level = "main", 30
        if same_size and copy_video:
            width, out_height = video.width, video.height
            mode: Literal["copy", "encode"] = "copy"
            rate = video.bit_rate or info.bit_rate or video_bitrate_cap(width, out_height, frame_rate)
            video_codec = avc1_codec(video.profile, video.level)
        else:
            out_height = _even_floor(height)
            width = _even(source_width * out_height / source_height)
            mode = "encode"
            rate = video_bitrate_cap(width, out_height, frame_rate)
            profile = "high" if out_height >= 720 else "main"
            level = h264_level(width, out_height, frame_rate, rate, high=profile == "high")
            video_codec = avc1_codec(profile, level)
        audio_codec: str | None = None
        if info.audio is None:
            audio_mode: Literal["copy", "encode", "none"] = "none"
            audio_rate = 0
        elif copy_audio and mode == "copy":
            audio_mode = "copy"
            audio_rate = info.audio.bit_rate or audio_bitrate_for(out_height)
            audio_codec = aac_codec(info.audio.profile)
        else:
            audio_mode = "encode"
            audio_rate = audio_bitrate_for(out_height)
            audio_codec = aac_codec("LC")
        name = f"{out_height}p"
        if any(r.name == name for r in renditions):
            continue
        renditions.append(
            Rendition(
                name=name,
                width=width,
                height=out_height,
                video=mode,
                audio=audio_mode,
                video_bitrate=rate,
                audio_bitrate=audio_rate,
                frame_rate=frame_rate,
                codecs=_codecs(video_codec, audio_codec, audio_mode != "none"),
                profile=profile,
                level=level,
            )
        )
    return Plan(
        renditions=tuple(renditions),
        segment_seconds=segment_seconds,
        duration=info.duration,
        video_index=video.index,
        audio_index=info.audio.index if info.audio else None,
        source_frame_rate=video.frame_rate,
        input_format=demuxer_for(info.format_name),
    )


def ffmpeg_arguments(plan: Plan, source: Path, workdir: Path, *, preset: str = "veryfast") -> list[str]:
    """Arguments after the ffmpeg binary: one input, one HLS output per rendition.

    Progress goes to stdout (``-progress pipe:1``) and only errors to stderr, so the error text
    of a failed run is exactly what to show.
    """
    seg = plan.segment_seconds
    args = [
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-progress",
        "pipe:1",
        "-nostats",
        "-y",
        *input_options(plan.input_format),
        "-i",
        input_url(source),
    ]
    for rendition in plan.renditions:
        folder = workdir / rendition.name
        args += ["-map", f"0:{plan.video_index}"]
        if plan.audio_index is not None and rendition.audio != "none":
            args += ["-map", f"0:{plan.audio_index}"]
        if rendition.video == "copy":
            args += ["-c:v", "copy"]
        else:
            cap = rendition.video_bitrate
            args += [
                "-c:v",
                "libx264",
                "-preset",
                preset,
                "-profile:v",
                rendition.profile,
                "-level:v",
                f"{rendition.level / 10:.1f}",
                "-crf",
                str(CRF),
                "-maxrate",
                str(cap),
                "-bufsize",
                str(2 * cap),
                "-vf",
                f"scale={rendition.width}:{rendition.height},setsar=1",
                "-pix_fmt",
                "yuv420p",
                "-force_key_frames",
                f"expr:gte(t,n_forced*{seg})",
            ]
            if plan.source_frame_rate and plan.source_frame_rate > MAX_FRAME_RATE:
                args += ["-r", f"{MAX_FRAME_RATE:g}"]
        if rendition.audio == "copy":
            args += ["-c:a", "copy"]
        elif rendition.audio == "encode":
            args += ["-c:a", "aac", "-b:a", str(rendition.audio_bitrate), "-ac", "2", "-ar", "48000"]
        args += [
            "-sn",
            "-dn",
            "-max_muxing_queue_size",
            "4096",
            "-f",
            "hls",
            "-hls_time",
            str(seg),
            "-hls_playlist_type",
            "event",
            "-hls_flags",
            "temp_file+independent_segments",
            "-hls_segment_type",
            "mpegts",
            "-start_number",
            "0",
            "-hls_segment_filename",
            str(folder / "seg_%05d.ts"),
            str(folder / "index.m3u8"),
        ]
    return args


def poster_time(duration: float | None) -> float:
    """Seconds into the video of the poster frame."""
    if duration:
        return round(duration * POSTER_FRACTION, 3)
    return POSTER_FALLBACK_SECONDS


def poster_size(plan: Plan) -> tuple[int, int]:
    """(width, height) of the poster: the largest rendition's, so it fills the player like the video."""
    largest = max(plan.renditions, key=lambda rendition: rendition.width * rendition.height)
    return largest.width, largest.height


def poster_arguments(plan: Plan, source: Path, target: Path, *, at: float) -> list[str]:
    """Arguments after the ffmpeg binary: one JPEG frame of the video stream, ``at`` seconds in.

    ``-ss`` before ``-i`` seeks in the input (to the keyframe before, then decodes up to ``at``), so
    a poster of a long film costs about as much as one of a short clip.
    """
    width, height = poster_size(plan)
    return [
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        *input_options(plan.input_format),
        "-ss",
        f"{at:.3f}",
        "-i",
        input_url(source),
        "-map",
        f"0:{plan.video_index}",
        "-an",
        "-sn",
        "-dn",
        "-frames:v",
        "1",
        "-vf",
        f"scale={width}:{height},setsar=1",
        "-c:v",
        "mjpeg",
        "-q:v",
        str(POSTER_QUALITY),
        "-pix_fmt",
        "yuvj420p",
        "-f",
        "mjpeg",
        str(target),
    ]
