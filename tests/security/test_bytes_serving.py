"""Findings 1, 6 and 7 of issue 15, driven over HTTP against the real serve composition.

1. Stored XSS: user bytes of an active type (HTML, SVG, XML, script) never render on our origin;
   every user-bytes response says ``nosniff`` and carries the sandbox CSP, and Blossom clients still
   get the exact bytes, type and sha256, WebSeed clients their ranges.
6. Header poisoning: a part Content-Type with a bare LF is not stored, and a bad type or name
   already in a manifest cannot break a download.
7. Range amplification: overlapping or too many ranges never return more than the file.
"""

from __future__ import annotations

import hashlib
import json
import os

import httpx
import pytest

from tests.security.conftest import manifest_path, upload_raw
from tests.support.gateway import RunningGateway

SANDBOX = "sandbox; default-src 'none'"
PAGE = b"<html><body><script>fetch('/api/users/me?t='+localStorage.token)</script></body></html>"


def assert_user_bytes_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == SANDBOX


def is_attachment(response: httpx.Response) -> bool:
    return response.headers.get("content-disposition", "").startswith("attachment")


@pytest.mark.parametrize(
    ("name", "content_type", "data"),
    [
        ("page.html", "text/html", PAGE),
        ("icon.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        (
            "feed.xml",
            "application/xml",
            b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
        ),
        (
            "page.xhtml",
            "application/xhtml+xml",
            b'<html xmlns="http://www.w3.org/1999/xhtml"><script>1</script></html>',
        ),
        ("app.js", "text/javascript", b"alert(document.cookie)"),
        # Declared generic: the extension decides the type (text/html), and it must still not render.
        ("sneaky.html", "application/octet-stream", PAGE + b" "),
    ],
)
def test_active_types_are_attachments_everywhere(
    client: httpx.Client, name: str, content_type: str, data: bytes
) -> None:
    sha = upload_raw(client, data, name, content_type)
    extension = name.rsplit(".", 1)[1]
    for path in (
        f"/{sha}",
        f"/{sha}.{extension}",
        f"/api/download/{sha}",
        f"/api/webseed/{sha}",
        f"/api/webseed/{sha}/{name}",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.content == data, path
        assert_user_bytes_headers(response)
        assert is_attachment(response), (path, response.headers.get("content-disposition"))
    # BUD-01: Blossom clients still see the real type and can check the hash.
    blossom = client.get(f"/{sha}")
    assert blossom.headers["content-type"].startswith(("text/", "image/", "application/"))
    assert blossom.headers["content-type"] != "application/octet-stream"
    assert hashlib.sha256(blossom.content).hexdigest() == sha


def test_passive_media_stays_inline_but_sandboxed(client: httpx.Client) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
    sha = upload_raw(client, png, "photo.png", "image/png")
    response = client.get(f"/{sha}.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert "content-disposition" not in response.headers  # <img src> of a Blossom URL keeps working
    assert_user_bytes_headers(response)
    assert response.content == png


def test_webseed_ranges_and_errors_keep_the_guard_headers(client: httpx.Client) -> None:
    data = os.urandom(300_000)  # over the blob threshold: a chunked file, reassembled on the fly
    sha = upload_raw(client, data, "page.html", "text/html")
    ranged = client.get(f"/api/webseed/{sha}/page.html", headers={"Range": "bytes=70000-140000"})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes 70000-140000/{len(data)}"
    assert ranged.content == data[70000:140001]
    assert_user_bytes_headers(ranged)
    head = client.head(f"/{sha}.html")
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)
    assert_user_bytes_headers(head)
    unsatisfiable = client.get(f"/api/download/{sha}", headers={"Range": f"bytes={len(data)}-"})
    assert unsatisfiable.status_code == 416
    assert_user_bytes_headers(unsatisfiable)


def multipart_with_part_type(part_type: bytes, name: bytes, data: bytes) -> tuple[bytes, str]:
    boundary = "hostileboundary42"
    body = (
        b"--" + boundary.encode() + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
        b"Content-Type: " + part_type + b"\r\n\r\n" + data + b"\r\n--" + boundary.encode() + b"--\r\n"
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_part_content_type_with_bare_lf_cannot_poison_downloads(client: httpx.Client) -> None:
    data = b"poisoned " + os.urandom(64)
    body, content_type = multipart_with_part_type(b"text/plain\nSet-Cookie: a=b", b"notes.txt", data)
    stored = client.post("/api/upload", content=body, headers={"Content-Type": content_type})
    assert stored.status_code == 201, stored.text
    # The declared type is not a type: the name decides it, as for an undeclared one.
    assert stored.json()["type"] == "text/plain"
    sha = stored.json()["sha256"]
    for path in (f"/api/download/{sha}", f"/{sha}", f"/api/webseed/{sha}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.content == data
        assert "set-cookie" not in response.headers
        assert response.headers["content-type"] == "text/plain"


@pytest.mark.parametrize(
    "bad_type", ["text/plain\nX-Injected: 1", "text/html\r\nSet-Cookie: a=b", "bad type", "a/" + "b" * 300]
)
def test_a_bad_type_or_name_already_stored_never_breaks_a_download(
    client: httpx.Client, gateway: RunningGateway, bad_type: str
) -> None:
    data = os.urandom(5000)
    sha = upload_raw(client, data, "fine.bin", "application/octet-stream")
    # A manifest written before types and names were validated (or by an older version).
    path = manifest_path(gateway, sha)
    record = json.loads(path.read_text())
    record["mime_type"] = bad_type
    record["name"] = "../../etc/\r\nEvil: 1\x00name.html"
    path.write_text(json.dumps(record))
    for target in (f"/api/download/{sha}", f"/{sha}", f"/api/webseed/{sha}/x"):
        response = client.get(target)
        assert response.status_code == 200, target
        assert response.content == data
        assert response.headers["content-type"] == "application/octet-stream"
        assert "evil" not in response.headers
        assert_user_bytes_headers(response)
    disposition = client.get(f"/api/download/{sha}").headers["content-disposition"]
    assert "/" not in disposition.split("filename*=")[0] and "\r" not in disposition
    multi = client.get(f"/api/download/{sha}", headers={"Range": "bytes=0-9,100-109"})
    assert multi.status_code == 206
    assert b"X-Injected" not in multi.content and b"Set-Cookie" not in multi.content


def test_overlapping_ranges_do_not_amplify(client: httpx.Client) -> None:
    data = os.urandom(1_000_000)
    sha = upload_raw(client, data, "big.bin", "application/octet-stream")
    header = "bytes=" + ",".join(["0-999999"] * 32)
    response = client.get(f"/api/download/{sha}", headers={"Range": header})
    assert response.status_code == 200
    assert response.content == data
    overlapping = "bytes=" + ",".join(f"{i * 1000}-{i * 1000 + 600_000}" for i in range(8))
    response = client.get(f"/api/download/{sha}", headers={"Range": overlapping})
    assert len(response.content) <= len(data)
    assert response.status_code == 200 and response.content == data


def test_adjacent_and_overlapping_ranges_are_coalesced(client: httpx.Client) -> None:
    data = os.urandom(400_000)
    sha = upload_raw(client, data, "blob.bin", "application/octet-stream")
    response = client.get(f"/api/download/{sha}", headers={"Range": "bytes=100-199,0-99,150-249"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-249/{len(data)}"
    assert response.content == data[:250]
    # Two disjoint ranges stay a multipart answer, in ascending order.
    response = client.get(f"/api/download/{sha}", headers={"Range": "bytes=300000-300009,0-9"})
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges")
    body = response.content
    assert body.index(b"bytes 0-9/") < body.index(b"bytes 300000-300009/")


def test_more_than_sixteen_ranges_get_the_whole_file(client: httpx.Client) -> None:
    data = os.urandom(200_000)
    sha = upload_raw(client, data, "many.bin", "application/octet-stream")
    header = "bytes=" + ",".join(f"{i * 1000}-{i * 1000 + 9}" for i in range(17))
    response = client.get(f"/{sha}", headers={"Range": header})
    assert response.status_code == 200
    assert response.content == data
    sixteen = "bytes=" + ",".join(f"{i * 1000}-{i * 1000 + 9}" for i in range(16))
    response = client.get(f"/{sha}", headers={"Range": sixteen})
    assert response.status_code == 206
