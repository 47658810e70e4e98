"""File names from clients are reduced to safe base names; MIME types are guessed sensibly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torrent_gateway.ingest.naming import clean_media_type, guess_mime_type, is_passive_type, safe_file_name


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


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("Text/HTML; charset=utf-8", "text/html"),
        ("video/mp4", "video/mp4"),
        ("application/vnd.api+json", "application/vnd.api+json"),
        ("text/plain\nSet-Cookie: a=b", "application/octet-stream"),
        ("text/plain\r\n", "text/plain"),  # surrounding whitespace only: still the type
        ("image/ png", "application/octet-stream"),
        ("*/*", "application/octet-stream"),
        ("image/*", "application/octet-stream"),
        ("noslash", "application/octet-stream"),
        ("a/b/c", "application/octet-stream"),
        ("x/" + "y" * 128, "application/octet-stream"),
        ("", "application/octet-stream"),
        (None, "application/octet-stream"),
    ],
)
def test_media_types_follow_rfc_9110_token_syntax(declared: str | None, expected: str) -> None:
    assert clean_media_type(declared) == expected


def test_a_declared_non_type_falls_back_to_the_name() -> None:
    assert guess_mime_type("notes.txt", "text/plain\nX: y", b"") == "text/plain"


@pytest.mark.parametrize(
    ("mime", "passive"),
    [
        ("image/png", True),
        ("video/mp4", True),
        ("audio/ogg", True),
        ("text/plain", True),
        ("application/octet-stream", True),
        ("text/html", False),
        ("image/svg+xml", False),
        ("application/xhtml+xml", False),
        ("text/xml", False),
        ("application/javascript", False),
        ("application/pdf", False),
        ("application/vnd.apple.mpegurl", False),
        ("audio/mpegurl", False),
        ("application/x-unknown-thing", False),
    ],
)
def test_only_passive_types_render_inline(mime: str, passive: bool) -> None:
    assert is_passive_type(mime) is passive
