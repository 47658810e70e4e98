"""The poster's ffmpeg command: one frame 10 % in, the largest rendition's size, the hardened input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from torrent_gateway.hls.plan import plan_renditions, poster_arguments, poster_size, poster_time
from torrent_gateway.hls.probe import MediaInfo, VideoStream

VIDEO = VideoStream(index=2, codec="h264", width=1920, height=1080, pix_fmt="yuv420p", profile="High")
SOURCE = MediaInfo(format_name="matroska,webm", duration=120.0, bit_rate=None, video=VIDEO, audio=None)


def test_the_frame_is_a_tenth_in_or_one_second_without_a_duration() -> None:
    assert poster_time(120.0) == 12.0
    assert poster_time(0.4) == 0.04
    assert poster_time(None) == 1.0


def test_the_poster_has_the_largest_rendition_size_never_the_source_size() -> None:
    assert poster_size(plan_renditions(SOURCE, [480, 720], 4)) == (1280, 720)
    # A portrait phone video (rotated a quarter turn) is planned, and its poster sized, as shown.
    turned = replace(SOURCE, video=replace(VIDEO, rotation=90))
    assert poster_size(plan_renditions(turned, [720], 4)) == (404, 720)


def test_poster_arguments_read_one_local_file_through_the_probed_demuxer(tmp_path: Path) -> None:
    plan = plan_renditions(SOURCE, [720, 480], 4)
    args = poster_arguments(plan, tmp_path / "source", tmp_path / "poster.jpg", at=12.0)
    before_input = args[: args.index("-i")]
    assert before_input[before_input.index("-protocol_whitelist") + 1] == "file"
    assert "hls" not in before_input[before_input.index("-format_whitelist") + 1].split(",")
    assert before_input[before_input.index("-f") + 1] == "matroska"
    # -ss before -i: the input is seeked, not decoded from the start.
    assert before_input[before_input.index("-ss") + 1] == "12.000"
    assert args[args.index("-i") + 1] == f"file:{tmp_path / 'source'}"
    assert args[args.index("-map") + 1] == "0:2"  # the probed video stream, not cover art
    assert args[args.index("-frames:v") + 1] == "1"
    assert args[args.index("-vf") + 1] == "scale=1280:720,setsar=1"
    assert args[-3:] == ["-f", "mjpeg", str(tmp_path / "poster.jpg")]
    assert "-an" in args and "-nostdin" in args
