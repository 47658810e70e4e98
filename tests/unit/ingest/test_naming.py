"""File names from clients are reduced to safe base names; MIME types are guessed sensibly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torrent_gateway.ingest.naming import guess_mime_type, safe_file_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("movie.mp4", "movie.mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("   .hidden  ", "hidden"),
    ],
)
def test_safe_file_name(raw: str | None, expected: str) -> None:
    assert safe_file_name(raw) == expected


def test_long_names_keep_their_extension() -> None:
    name = safe_file_name("é" * 300 + ".mkv")
    assert name.endswith(".mkv") and len(name.encode()) <= 200


@given(st.text(max_size=400))
def test_any_name_is_safe(raw: str) -> None:
    name = safe_file_name(raw)
    assert name and "/" not in name and "\\" not in name and name not in (".", "..")
    assert len(name.encode()) <= 200


def test_mime_types() -> None:
    assert guess_mime_type("a.mp4", None, b"") == "video/mp4"
    assert guess_mime_type("noext", "application/octet-stream", b"\x89PNG\r\n\x1a\nxxxx") == "image/png"
    assert guess_mime_type("x.bin", "image/webp; charset=x", b"") == "image/webp"
    assert guess_mime_type("noext", None, b"nothing") == "application/octet-stream"
