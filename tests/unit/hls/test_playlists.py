"""M3U8 text: reading ffmpeg's media playlists, writing the master, codec strings, allowed paths."""

from __future__ import annotations

import pytest
from torrent_gateway.hls.playlists import (
    PlaylistError,
    Variant,
    aac_codec,
    as_vod,
    avc1_codec,
    content_type_for,
    is_stream_path,
    master_playlist,
    measured_bandwidth,
    parse_media_playlist,
)

EVENT = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:4.000000,
seg_00000.ts
#EXTINF:3.960000,
seg_00001.ts
"""


def test_growing_playlist() -> None:
    playlist = parse_media_playlist(EVENT)
    assert [(s.uri, s.duration) for s in playlist.segments] == [("seg_00000.ts", 4.0), ("seg_00001.ts", 3.96)]
    assert not playlist.ended
    assert playlist.target_duration == 4


def test_finished_playlist_becomes_vod() -> None:
    finished = EVENT + "#EXTINF:1.5,\nseg_00002.ts\n#EXT-X-ENDLIST\n"
    playlist = parse_media_playlist(finished)
    assert playlist.ended and len(playlist.segments) == 3
    vod = as_vod(finished)
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in vod and "EVENT" not in vod
    assert parse_media_playlist(vod).segments == playlist.segments


@pytest.mark.parametrize(
    "text",
    [
        "",
        "seg_00000.ts\n",
        "#EXTM3U\nseg_00000.ts\n",
        "#EXTM3U\n#EXTINF:abc,\nseg.ts\n",
        "#EXTM3U\n#EXTINF:-1,\nseg.ts\n",
        "#EXTM3U\n" + "#" * (4 * 1024 * 1024),
    ],
)
def test_broken_playlists_are_refused(text: str) -> None:
    with pytest.raises(PlaylistError):
        parse_media_playlist(text)


def test_master_playlist_lists_every_variant_lowest_first() -> None:
    text = master_playlist(
        [
            Variant("720p/index.m3u8", 3_000_000, 1280, 720, 2_000_000, "avc1.64001f,mp4a.40.2", 30.0),
            Variant("240p/index.m3u8", 400_000, 426, 240),
        ]
    )
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in lines
    assert lines[3] == "#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240"
    assert lines[4] == "240p/index.m3u8"
    assert lines[5] == (
        "#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720,"
        'CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000'
    )
    assert lines[6] == "720p/index.m3u8"
    assert text.endswith("\n")


@pytest.mark.parametrize(
    ("profile", "level", "expected"),
    [
        ("High", 31, "avc1.64001f"),
        ("Main", 30, "avc1.4d401e"),
        ("Constrained Baseline", 30, "avc1.42e01e"),
        ("Baseline", 13, "avc1.42000d"),
        ("High 10", 40, None),
        ("High", None, None),
        (None, 30, None),
    ],
)
def test_avc1_codec(profile: str | None, level: int | None, expected: str | None) -> None:
    assert avc1_codec(profile, level) == expected


def test_aac_codec() -> None:
    assert aac_codec("LC") == "mp4a.40.2"
    assert aac_codec("HE-AAC") == "mp4a.40.5"
    assert aac_codec("HE-AACv2") == "mp4a.40.29"
    assert aac_codec(None) == "mp4a.40.2"


def test_measured_bandwidth_peak_and_average() -> None:
    peak, average = measured_bandwidth([(500_000, 4.0), (1_000_000, 4.0), (10_000, 0.2)])
    assert peak == 2_000_000
    assert average == int((1_510_000 * 8) / 8.2)
    assert measured_bandwidth([]) == (0, 0)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("240p/index.m3u8", True),
        ("1080p/seg_00012.ts", True),
        ("240p/seg_123456789.ts", True),
        ("playlist.m3u8", False),
        ("state.json", False),
        ("../240p/index.m3u8", False),
        ("240p/../../manifests/x.json", False),
        ("240p/seg_1.ts", False),
        ("0p/index.m3u8", False),
        ("240p/index.m3u8/", False),
        ("240p\\index.m3u8", False),
        ("240p/seg_00001.ts%00", False),
    ],
)
def test_stream_paths(path: str, allowed: bool) -> None:
    assert is_stream_path(path) is allowed


def test_content_types() -> None:
    assert content_type_for("240p/index.m3u8") == "application/vnd.apple.mpegurl"
    assert content_type_for("240p/seg_00000.ts") == "video/mp2t"
