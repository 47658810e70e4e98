"""Property-based hostile input (hypothesis) for every parser of untrusted bytes we can reach, sent
to the real serve composition over HTTP: multipart uploads, Range headers, bencoded tracker answers
to hostile announce/scrape queries, Nostr event JSON (login, Blossom authorization, reports),
Content-Type and file names; and ffprobe's view of hostile bytes through our probe. Every answer
is a 4xx with a reason or a success; none is a 5xx, and nothing stored is corrupted.

The examples are drawn reproducibly (the "ci" hypothesis profile of tests/conftest.py);
``TGW_HYPOTHESIS_PROFILE=explore`` draws fresh ones.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torrent_gateway.bencode import BencodeError, bdecode, bencode
from torrent_gateway.hls.probe import MediaInfo, ProbeError, parse_probe, run_ffprobe
from torrent_gateway.ingest.naming import clean_media_type, is_passive_type, safe_file_name

from tests.security.conftest import upload_raw
from tests.support.gateway import RunningGateway

HTTP = settings(
    max_examples=int(os.environ.get("TGW_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MEDIA_TYPE = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+/[!#$%&'*+\-.^_`|~0-9a-z]+")
# Header text a client can put on the wire: visible ASCII, space, tab and latin-1 (never CR/LF).
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=300
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)
EVENT_KEYS = ("id", "pubkey", "created_at", "kind", "tags", "content", "sig")


def event_like() -> st.SearchStrategy[object]:
    """Objects shaped like Nostr events with hostile field values, and arbitrary JSON."""
    field_values = {
        "id": st.one_of(st.text(max_size=70), st.just("0" * 64), JSON_VALUES),
        "pubkey": st.one_of(st.text(alphabet="0123456789abcdef", max_size=66), JSON_VALUES),
        "created_at": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), JSON_VALUES),
        "kind": st.one_of(st.sampled_from([22242, 27235, 24242, 1984, -1, 2**64]), JSON_VALUES),
        "tags": st.one_of(st.lists(st.lists(st.text(max_size=40), max_size=4), max_size=6), JSON_VALUES),
        "content": st.one_of(st.text(max_size=200), JSON_VALUES),
        "sig": st.one_of(st.text(alphabet="0123456789abcdef", max_size=130), JSON_VALUES),
    }
    shaped = st.fixed_dictionaries({}, optional={k: field_values[k] for k in EVENT_KEYS})
    return st.one_of(shaped, JSON_VALUES)


def assert_no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])


@dataclass(frozen=True)
class Stored:
    sha256: str
    data: bytes = field(repr=False)


@pytest.fixture(scope="module")
def stored(gateway: RunningGateway) -> Stored:
    """A chunked file the range fuzzing reads, checked against its bytes."""
    data = os.urandom(300_000)
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        return Stored(upload_raw(http, data, "range.bin", "application/octet-stream"), data)


@HTTP
@given(
    header=HEADER_TEXT,
    raw_ranges=st.lists(st.tuples(st.integers(-5, 400_000), st.integers(-5, 400_000)), max_size=24),
)
def test_range_headers(
    client: httpx.Client, stored: Stored, header: str, raw_ranges: list[tuple[int, int]]
) -> None:
    sha, data = stored.sha256, stored.data
    structured = "bytes=" + ",".join(f"{a}-{b}" if a >= 0 else f"-{b}" for a, b in raw_ranges)
    for value in (header, structured):
        response = client.get(
            f"/api/download/{sha}", headers={"Range": value.encode("latin-1").strip(b" \t")}
        )
        assert_no_server_error(response)
        # Never more than the file (plus multipart framing), whatever was asked.
        assert len(response.content) <= len(data) + 16 * 200 + 100
        if response.status_code == 200:
            assert response.content == data
        elif response.status_code == 206 and "content-range" in response.headers:
            first, last = map(int, response.headers["content-range"].split(" ")[1].split("/")[0].split("-"))
            assert response.content == data[first : last + 1]


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, str, bytes]:
    boundary = draw(st.text(alphabet="abcdefXYZ0123456789-_'()+,./:=?", min_size=1, max_size=70))
    payload = draw(st.binary(max_size=3000))
    name = draw(st.binary(max_size=300))
    part_type = draw(st.binary(max_size=200))
    extra = draw(st.lists(st.tuples(st.binary(min_size=1, max_size=30), st.binary(max_size=100)), max_size=4))
    mangle = draw(st.sampled_from(["none", "truncate", "no-close", "garbage-prefix"]))
    b = boundary.encode()
    head = b'Content-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
    head += b"Content-Type: " + part_type + b"\r\n"
    for header_name, value in extra:
        head += header_name + b": " + value + b"\r\n"
    body = b"--" + b + b"\r\n" + head + b"\r\n" + payload + b"\r\n--" + b + b"--\r\n"
    if mangle == "truncate":
        body = body[: draw(st.integers(0, len(body)))]
    elif mangle == "no-close":
        body = body.replace(b"\r\n--" + b + b"--\r\n", b"")
    elif mangle == "garbage-prefix":
        body = draw(st.binary(max_size=50)) + body
    return body, f"multipart/form-data; boundary={boundary}", payload


@HTTP
@given(multipart_bodies())
def test_multipart_uploads(client: httpx.Client, case: tuple[bytes, str, bytes]) -> None:
    body, content_type, payload = case
    response = client.post("/api/upload", content=body, headers={"Content-Type": content_type})
    assert_no_server_error(response)
    if response.status_code in (200, 201):
        record = response.json()
        assert MEDIA_TYPE.fullmatch(record["type"]), record["type"]
        download = client.get(f"/api/download/{record['sha256']}")
        assert download.status_code == 200
        assert hashlib.sha256(download.content).hexdigest() == record["sha256"]
        assert download.headers["x-content-type-options"] == "nosniff"
        assert MEDIA_TYPE.fullmatch(download.headers["content-type"])


@HTTP
@given(content_type=HEADER_TEXT, name=st.text(max_size=300), data=st.binary(min_size=1, max_size=500))
def test_raw_upload_types_and_names(client: httpx.Client, content_type: str, name: str, data: bytes) -> None:
    response = client.put(
        "/api/upload",
        params={"name": name},
        content=data,
        headers={
            # Leading and trailing whitespace is never part of a field value (RFC 9110 5.5), and
            # the client (h11) refuses to send it: strip it as any HTTP hop would.
            "Content-Type": content_type.encode("latin-1").strip(b" \t"),
            # Raw UTF-8 on the wire; control bytes never pass an HTTP parser, so they are not sent.
            "X-Filename": bytes(
                b for b in name.encode("utf-8", "surrogatepass") if b >= 0x20 and b != 0x7F
            ).strip(b" \t"),
        },
    )
    assert_no_server_error(response)
    if response.status_code in (200, 201):
        sha = response.json()["sha256"]
        for path in (f"/{sha}", f"/api/download/{sha}", f"/api/webseed/{sha}/x"):
            served = client.get(path)
            assert served.status_code == 200 and served.content == data
            served_type = served.headers["content-type"]
            assert MEDIA_TYPE.fullmatch(served_type), served_type
            if not is_passive_type(served_type):
                assert served.headers["content-disposition"].startswith("attachment")


@HTTP
@given(event=event_like(), challenge=st.text(max_size=80))
def test_login_with_hostile_events(client: httpx.Client, event: object, challenge: str) -> None:
    for body in ({"event": event, "challenge": challenge}, {"event": event}, event):
        response = client.post("/api/auth/login", json=body)
        assert_no_server_error(response)
        assert response.status_code != 200


@HTTP
@given(
    event=event_like(),
    scheme=st.sampled_from(["Nostr", "nostr", "Bearer", "Basic"]),
    data=st.binary(min_size=1, max_size=200),
)
def test_blossom_with_hostile_authorization(
    client: httpx.Client, event: object, scheme: str, data: bytes
) -> None:
    token = base64.b64encode(json.dumps(event).encode()).decode()
    for path, method in (
        ("/upload", "PUT"),
        ("/mirror", "PUT"),
        ("/" + hashlib.sha256(data).hexdigest(), "DELETE"),
    ):
        response = client.request(method, path, content=data, headers={"Authorization": f"{scheme} {token}"})
        assert_no_server_error(response)
        if response.status_code >= 400:
            assert response.headers.get("x-reason")


@HTTP
@given(event=event_like())
def test_blossom_reports_with_hostile_events(client: httpx.Client, event: object) -> None:
    response = client.put("/report", content=json.dumps(event).encode())
    assert_no_server_error(response)
    if response.status_code >= 400:
        assert response.headers.get("x-reason")


@HTTP
@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "info_hash",
                    "peer_id",
                    "port",
                    "uploaded",
                    "downloaded",
                    "left",
                    "event",
                    "compact",
                    "numwant",
                    "ip",
                    "key",
                    "trackerid",
                    "x",
                ]
            ),
            st.binary(max_size=40),
        ),
        max_size=12,
    ),
    path=st.sampled_from(["/announce", "/scrape"]),
)
def test_tracker_queries_get_bencoded_answers(
    client: httpx.Client, query: list[tuple[str, bytes]], path: str
) -> None:
    from urllib.parse import quote_from_bytes

    raw = "&".join(f"{key}={quote_from_bytes(value)}" for key, value in query)
    response = client.get(f"{path}?{raw}")
    assert_no_server_error(response)
    decoded = bdecode(response.content)  # failures are bencoded too ("failure reason")
    assert isinstance(decoded, dict)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_bencode_decoder(data: bytes) -> None:
    """Hostile bytes either decode or raise BencodeError (nothing else escapes), and whatever
    decodes is a value our encoder writes back to bytes that decode to the same value."""
    try:
        value = bdecode(data)
    except BencodeError:
        return
    assert bdecode(bencode(value)) == value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_media_types_and_names_are_clean(value: str) -> None:
    assert MEDIA_TYPE.fullmatch(clean_media_type(value))
    name = safe_file_name(value)
    assert "/" not in name and "\\" not in name and name not in (".", "..")
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)
    assert len(name.encode()) <= 200


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_probe_output_parser(value: object) -> None:
    try:
        info = parse_probe(json.dumps(value))
    except ProbeError:
        return
    assert isinstance(info, MediaInfo)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(min_size=1, max_size=2000),
        st.sampled_from(
            [
                b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n",
                b"ffconcat version 1.0\nfile /etc/passwd\n",
                b'<?xml version="1.0"?><MPD><Period><AdaptationSet><Representation><BaseURL>file:///etc/passwd</BaseURL></Representation></AdaptationSet></Period></MPD>',
                b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100,
            ]
        ),
    )
)
def test_ffprobe_on_hostile_bytes(tmp_path: Path, data: bytes) -> None:
    source = tmp_path / "upload"
    source.write_bytes(data)
    try:
        info = asyncio.run(run_ffprobe("ffprobe", source, time_limit=30))
    except ProbeError as exc:
        assert not exc.transient, str(exc)
        assert "root:" not in str(exc)
        return
    assert info.format_name.split(",")[0] in ("mov", "matroska", "avi", "flv", "mpegts", "mpeg", "ogg", "asf")
