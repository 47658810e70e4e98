"""Rendition planning and the ffmpeg command: never upscale, copy when the source already fits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from torrent_gateway.hls.plan import (
    MIN_VIDEO_BITRATE,
    NotVideo,
    Plan,
    ffmpeg_arguments,
    h264_level,
    plan_renditions,
    video_bitrate_cap,
)
from torrent_gateway.hls.probe import AudioStream, MediaInfo, VideoStream

VIDEO_720 = VideoStream(
    index=0,
    codec="h264",
    width=1280,
    height=720,
    pix_fmt="yuv420p",
    profile="High",
    level=31,
    frame_rate=30.0,
    bit_rate=2_500_000,
)
AAC = AudioStream(index=1, codec="aac", profile="LC", channels=2, sample_rate=48000, bit_rate=128_000)


def media(video: VideoStream | None = VIDEO_720, audio: AudioStream | None = AAC) -> MediaInfo:
    return MediaInfo(format_name="mov,mp4", duration=60.0, bit_rate=2_700_000, video=video, audio=audio)


def summary(plan: Plan) -> list[tuple[str, int, int, str, str]]:
    return [(r.name, r.width, r.height, r.video, r.audio) for r in plan.renditions]


def test_never_upscales_and_copies_the_matching_size() -> None:
    plan = plan_renditions(media(), [1080, 720, 480], 4)
    assert summary(plan) == [
        ("720p", 1280, 720, "copy", "copy"),
        ("480p", 854, 480, "encode", "encode"),
    ]
    assert plan.segment_seconds == 4 and plan.duration == 60.0
    assert (plan.video_index, plan.audio_index) == (0, 1)


def test_small_source_still_gets_one_rendition_at_its_own_size() -> None:
    small = replace(VIDEO_720, width=320, height=240)
    assert summary(plan_renditions(media(small), [1080, 720, 480], 4)) == [("240p", 320, 240, "copy", "copy")]
    odd = replace(VIDEO_720, codec="mpeg4", width=321, height=241)
    assert summary(plan_renditions(media(odd), [1080], 4)) == [("240p", 320, 240, "encode", "encode")]


@pytest.mark.parametrize(
    "change",
    [
        {"codec": "hevc"},
        {"pix_fmt": "yuv420p10le"},
        {"profile": "High 4:4:4 Predictive"},
        {"rotation": 90},
        {"sample_aspect": 4 / 3},
    ],
)
def test_video_that_browsers_cannot_take_as_is_is_reencoded(change: dict[str, object]) -> None:
    source = replace(VIDEO_720, **change)  # type: ignore[arg-type]
    plan = plan_renditions(media(source), [720], 4)
    assert [r.video for r in plan.renditions] == ["encode"]
    assert [r.audio for r in plan.renditions] == ["encode"]


def test_audio_is_copied_only_when_aac_and_dropped_when_absent() -> None:
    mp3 = AudioStream(index=1, codec="mp3")
    assert summary(plan_renditions(media(audio=mp3), [720], 4)) == [("720p", 1280, 720, "copy", "encode")]
    assert summary(plan_renditions(media(audio=None), [720, 360], 4)) == [
        ("720p", 1280, 720, "copy", "none"),
        ("360p", 640, 360, "encode", "none"),
    ]


def test_rotated_source_is_planned_by_its_displayed_size() -> None:
    portrait = replace(VIDEO_720, rotation=90)  # shown as 720x1280
    plan = plan_renditions(media(portrait), [1080, 720, 480], 4)
    assert summary(plan) == [
        ("1080p", 608, 1080, "encode", "encode"),
        ("720p", 404, 720, "encode", "encode"),
        ("480p", 270, 480, "encode", "encode"),
    ]


def test_heights_are_deduplicated_sorted_and_positive() -> None:
    plan = plan_renditions(media(), [240, 480, 480, 0, -5, 240], 6)
    assert [r.name for r in plan.renditions] == ["480p", "240p"]
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in plan.renditions)


def test_no_video_stream_is_not_video() -> None:
    with pytest.raises(NotVideo, match="audio"):
        plan_renditions(media(video=None), [720], 4)
    with pytest.raises(NotVideo, match="no audio or video"):
        plan_renditions(media(video=None, audio=None), [720], 4)


def test_bitrate_caps_grow_with_pixels_and_stay_bounded() -> None:
    assert video_bitrate_cap(320, 240, 25) == MIN_VIDEO_BITRATE
    assert (
        video_bitrate_cap(854, 480, 30) < video_bitrate_cap(1280, 720, 30) < video_bitrate_cap(1920, 1080, 30)
    )
    assert video_bitrate_cap(7680, 4320, 120) == 12_000_000
    plan = plan_renditions(media(), [720, 480], 4)
    copy, encode = plan.renditions
    assert copy.video_bitrate == 2_500_000  # the source's own rate
    assert encode.estimated_bandwidth > encode.video_bitrate + encode.audio_bitrate


def test_ffmpeg_arguments_one_output_per_rendition(tmp_path: Path) -> None:
    plan = plan_renditions(media(), [720, 480], 4)
    args = ffmpeg_arguments(plan, tmp_path / "source", tmp_path, preset="ultrafast")
    assert args[args.index("-i") + 1] == f"file:{tmp_path / 'source'}"
    # ffmpeg is held to the demuxer ffprobe found, the file protocol and the container allow-list.
    before_input = args[: args.index("-i")]
    assert before_input[before_input.index("-f") + 1] == "mov"
    assert before_input[before_input.index("-protocol_whitelist") + 1] == "file"
    assert args[args.index("-loglevel") + 1] == "error"
    assert args.count("-f") == 3 and args.count("hls") == 2
    assert str(tmp_path / "720p" / "index.m3u8") in args
    assert str(tmp_path / "480p" / "seg_%05d.ts") in args
    first, second = " ".join(args).split("720p/index.m3u8")
    assert "-c:v copy" in first and "-c:a copy" in first and "libx264" not in first
    assert "-c:v libx264" in second and "-preset ultrafast" in second and "scale=854:480" in second
    assert "expr:gte(t,n_forced*4)" in second
    assert "-hls_playlist_type event" in second
    assert "-map 0:0 -map 0:1" in first


def test_ffmpeg_arguments_without_audio_map_only_video(tmp_path: Path) -> None:
    plan = plan_renditions(media(audio=None), [480], 4)
    args = " ".join(ffmpeg_arguments(plan, tmp_path / "s", tmp_path))
    assert "-map 0:0" in args and "-map 0:1" not in args and "-c:a" not in args


def test_high_frame_rates_are_reduced(tmp_path: Path) -> None:
    fast = replace(VIDEO_720, frame_rate=120.0)
    plan = plan_renditions(media(fast), [480], 4)
    assert plan.renditions[0].frame_rate == 60.0
    assert "-r 60" in " ".join(ffmpeg_arguments(plan, tmp_path / "s", tmp_path))
    normal = plan_renditions(media(), [480], 4)
    assert "-r " not in " ".join(ffmpeg_arguments(normal, tmp_path / "s", tmp_path))


@pytest.mark.parametrize(
    ("size", "fps", "bitrate", "high", "level"),
    [
        ((160, 120), 25, 200_000, False, 30),  # never below 3.0
        ((854, 480), 30, 1_230_000, False, 31),  # 1620 macroblocks × 30 fps is past 3.0
        ((1280, 720), 30, 2_760_000, True, 31),
        ((1280, 720), 60, 5_530_000, True, 32),
        ((1920, 1080), 30, 6_220_000, True, 40),
        ((1920, 1080), 60, 12_000_000, True, 42),
        ((3840, 2160), 30, 12_000_000, True, 51),
        ((1920, 1080), 30, 30_000_000, False, 41),  # the bitrate decides
    ],
)
def test_h264_level(size: tuple[int, int], fps: float, bitrate: int, high: bool, level: int) -> None:
    assert h264_level(*size, fps, bitrate, high=high) == level


def test_codecs_come_from_the_plan() -> None:
    copy, encode = plan_renditions(media(), [720, 360], 4).renditions
    assert copy.codecs == "avc1.64001f,mp4a.40.2"  # the source's own High@3.1 and AAC-LC
    assert (encode.profile, encode.level, encode.codecs) == ("main", 30, "avc1.4d401e,mp4a.40.2")
    silent = plan_renditions(media(audio=None), [720], 4).renditions[0]
    assert silent.codecs == "avc1.64001f"
    odd_profile = replace(VIDEO_720, profile="High 4:2:2 Intra", pix_fmt="yuv420p")
    assert plan_renditions(media(odd_profile), [720], 4).renditions[0].codecs == "avc1.64001f,mp4a.40.2"
    unknown_level = replace(VIDEO_720, level=None)
    assert plan_renditions(media(unknown_level), [720], 4).renditions[0].codecs is None


def test_encodes_are_told_their_profile_and_level(tmp_path: Path) -> None:
    plan = plan_renditions(media(), [720, 480], 4)
    args = " ".join(ffmpeg_arguments(plan, tmp_path / "s", tmp_path))
    assert "-profile:v main -level:v 3.1" in args
