"""ffprobe JSON → MediaInfo: real shapes of ffprobe 5 output, and hostile or broken answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from torrent_gateway.hls.probe import (
    MAX_PROBE_OUTPUT,
    ProbeError,
    clean_error,
    ffprobe_for,
    parse_probe,
    parse_ratio,
    probe_command,
)

H264_AAC = {
    "programs": [],
    "streams": [
        {
            "index": 0,
            "codec_name": "h264",
            "profile": "High",
            "codec_type": "video",
            "width": 1280,
            "height": 720,
            "sample_aspect_ratio": "1:1",
            "pix_fmt": "yuv420p",
            "level": 31,
            "avg_frame_rate": "30000/1001",
            "r_frame_rate": "30000/1001",
            "bit_rate": "2500000",
            "disposition": {"attached_pic": 0, "still_image": 0},
            "tags": {},
        },
        {
            "index": 1,
            "codec_name": "aac",
            "profile": "LC",
            "codec_type": "audio",
            "sample_rate": "48000",
            "channels": 2,
            "avg_frame_rate": "0/0",
            "bit_rate": "128000",
            "disposition": {"attached_pic": 0},
        },
    ],
    "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "60.000000", "bit_rate": "2640000"},
}


def dump(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_h264_aac_mp4() -> None:
    info = parse_probe(dump(H264_AAC))
    assert info.format_name.startswith("mov,mp4")
    assert info.duration == 60.0
    assert info.bit_rate == 2_640_000
    assert info.video is not None and info.audio is not None
    video = info.video
    assert (video.index, video.codec, video.width, video.height) == (0, "h264", 1280, 720)
    assert (video.profile, video.level, video.pix_fmt) == ("High", 31, "yuv420p")
    assert video.frame_rate == pytest.approx(29.97, abs=0.01)
    assert video.bit_rate == 2_500_000
    assert video.display_size == (1280, 720)
    audio = info.audio
    assert (audio.index, audio.codec, audio.profile, audio.channels, audio.sample_rate) == (
        1,
        "aac",
        "LC",
        2,
        48000,
    )


def test_cover_art_is_not_video() -> None:
    data = {
        "streams": [
            {"index": 0, "codec_type": "audio", "codec_name": "mp3", "channels": 2, "sample_rate": "44100"},
            {
                "index": 1,
                "codec_type": "video",
                "codec_name": "mjpeg",
                "width": 600,
                "height": 600,
                "disposition": {"attached_pic": 1},
            },
        ],
        "format": {"format_name": "mp3", "duration": "201.3"},
    }
    info = parse_probe(dump(data))
    assert info.video is None
    assert info.audio is not None and info.audio.codec == "mp3"


def test_rotated_phone_video_swaps_display_size() -> None:
    data = json.loads(json.dumps(H264_AAC))
    data["streams"][0]["side_data_list"] = [{"rotation": -90}]
    info = parse_probe(dump(data))
    assert info.video is not None
    assert info.video.rotation == 270
    assert info.video.display_size == (720, 1280)
    # older muxers put it in a tag
    data["streams"][0].pop("side_data_list")
    data["streams"][0]["tags"] = {"rotate": "180"}
    info = parse_probe(dump(data))
    assert info.video is not None and info.video.rotation == 180
    assert info.video.display_size == (1280, 720)


def test_anamorphic_pixels_widen_the_display() -> None:
    data = json.loads(json.dumps(H264_AAC))
    data["streams"][0].update({"width": 720, "height": 576, "sample_aspect_ratio": "64:45"})
    info = parse_probe(dump(data))
    assert info.video is not None and info.video.display_size == (1024, 576)


def test_video_without_audio_and_unknown_duration() -> None:
    data = {
        "streams": [{"index": 0, "codec_type": "video", "codec_name": "vp9", "width": 640, "height": 360}],
        "format": {"format_name": "matroska,webm", "duration": "N/A"},
    }
    info = parse_probe(dump(data))
    assert info.audio is None and info.duration is None
    assert info.video is not None and info.video.frame_rate is None


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b'{"streams": "x", "format": {}}', b'{"format": {}}', b"{" * 100_000],
)
def test_garbage_answers_are_refused(raw: bytes) -> None:
    with pytest.raises(ProbeError):
        parse_probe(raw)


def test_oversized_answer_is_refused() -> None:
    with pytest.raises(ProbeError, match="too large"):
        parse_probe(b" " * (MAX_PROBE_OUTPUT + 1))


def test_absurd_values_are_dropped() -> None:
    data = {
        "streams": [
            {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 10**9, "height": 720},
            {"index": 1, "codec_type": "video", "codec_name": "h264", "width": "640", "height": "360"},
            {"index": "x", "codec_type": "audio", "codec_name": "aac"},
            {"index": 3, "codec_type": "audio", "codec_name": True},
            "not a stream",
        ],
        "format": {"format_name": "x", "duration": "1e400", "bit_rate": "-5"},
    }
    info = parse_probe(dump(data))
    # The first video stream is unusable (absurd width): the next usable one is taken.
    assert info.video is not None and (info.video.index, info.video.width, info.video.height) == (1, 640, 360)
    assert info.audio is None
    assert info.duration is None and info.bit_rate is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("25/1", 25.0),
        ("30000/1001", 30000 / 1001),
        ("0/0", None),
        ("1:1", 1.0),
        ("x/y", None),
        (None, None),
        ("5", 5.0),
    ],
)
def test_parse_ratio(value: Any, expected: float | None) -> None:
    assert parse_ratio(value) == (pytest.approx(expected) if expected else None)


def test_ffprobe_next_to_ffmpeg() -> None:
    assert ffprobe_for("ffmpeg") == "ffprobe"
    assert ffprobe_for("/opt/ff/bin/ffmpeg") == "/opt/ff/bin/ffprobe"
    assert ffprobe_for("/usr/bin/ffmpeg-6") == "/usr/bin/ffprobe-6"
    assert ffprobe_for("/usr/local/bin/avconv") == "/usr/local/bin/ffprobe"


def test_probe_command_reads_one_local_file_of_a_container_format() -> None:
    command = probe_command("ffprobe", "/data/-weird-name.mp4")
    # An explicit file: URL: a name cannot read as an option or as another protocol.
    assert command[-1] == "file:/data/-weird-name.mp4"
    assert command[command.index("-protocol_whitelist") + 1] == "file"
    allowed = command[command.index("-format_whitelist") + 1].split(",")
    assert "mov" in allowed and "matroska" in allowed
    assert not {"hls", "applehttp", "concat", "dash", "image2", "m3u8"} & set(allowed)
    assert "json" in command


def test_clean_error_hides_paths_and_is_bounded() -> None:
    text = "/var/data/.staging/hls-abc/source: Invalid data found when processing input\n\n"
    assert clean_error(text, "/var/data/.staging/hls-abc/source", "movie.mp4") == (
        "movie.mp4: Invalid data found when processing input"
    )
    long = clean_error("x" * 10_000)
    assert len(long) <= 2001 and long.startswith("…")
