"""Refused requests: each answers its status with an X-Reason and CORS, and stores nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.gateway import RunningGateway
from tests.unit.blossom.tokens import Signer, header, tamper_signature

from .conftest import MAX_BLOB, blossom_gateway, now, staging_files, store_keys

DATA = b"\x89PNG\r\n\x1a\n" + os.urandom(30_000)
SHA = hashlib.sha256(DATA).hexdigest()
OTHER_SHA = hashlib.sha256(b"something else").hexdigest()


def upload(gateway: RunningGateway, auth: str | None, body: bytes = DATA, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "image/png", **headers}
    if auth is not None:
        sent["Authorization"] = auth
    return httpx.put(f"{gateway.url}/upload", content=body, headers=sent)


Case = Callable[[RunningGateway, Signer], httpx.Response]

UPLOAD_CASES: dict[str, tuple[Case, int, str]] = {
    "missing token": (lambda g, s: upload(g, None), 401, "authorization required"),
    "expired token": (
        lambda g, s: upload(g, s.token("upload", SHA, now=now(), expires_in=-5)),
        401,
        "expired",
    ),
    "token from the future": (
        lambda g, s: upload(g, s.token("upload", SHA, now=now(), created_at=now() + 3600, expires_in=7200)),
        401,
        "future",
    ),
    "no expiration": (
        lambda g, s: upload(g, s.token("upload", SHA, now=now(), with_expiration=False)),
        401,
        "expiration",
    ),
    "wrong t": (lambda g, s: upload(g, s.token("delete", SHA, now=now())), 403, "'delete'"),
    "wrong x": (lambda g, s: upload(g, s.token("upload", OTHER_SHA, now=now())), 403, "does not cover"),
    "wrong x announced": (
        lambda g, s: upload(g, s.token("upload", OTHER_SHA, now=now()), **{"X-SHA-256": SHA}),
        403,
        "does not cover",
    ),
    "other server": (
        lambda g, s: upload(g, s.token("upload", SHA, now=now(), servers=("blossom.example.com",))),
        403,
        "other servers",
    ),
    "bad signature": (
        lambda g, s: upload(g, header(tamper_signature(s.token_event("upload", SHA, now=now())))),
        401,
        "signature",
    ),
    "garbage token": (lambda g, s: upload(g, "Nostr not*base64"), 401, "invalid authorization"),
    "tampered content": (
        lambda g, s: upload(g, s.token("upload", SHA, now=now()), body=DATA[:-1] + b"!"),
        403,
        "does not cover",
    ),
    "X-SHA-256 mismatch": (
        lambda g, s: upload(
            g, s.token("upload", SHA, OTHER_SHA, now=now()), body=DATA, **{"X-SHA-256": OTHER_SHA}
        ),
        409,
        "announced",
    ),
    "malformed X-SHA-256": (
        lambda g, s: upload(g, s.token("upload", SHA, now=now()), **{"X-SHA-256": "xyz"}),
        400,
        "X-SHA-256",
    ),
    "over size (Content-Length)": (
        lambda g, s: upload(g, s.token("upload", SHA, now=now()), body=os.urandom(MAX_BLOB + 1)),
        413,
        "exceeds",
    ),
    "over size (streamed, no length)": (
        lambda g, s: upload(
            g,
            s.token("upload", SHA, now=now()),
            body=iter([os.urandom(400_000) for _ in range(4)]),  # type: ignore[arg-type]
        ),
        413,
        "exceeds",
    ),
    "disallowed declared type": (
        lambda g, s: upload(g, s.token("upload", SHA, now=now()), **{"Content-Type": "application/pdf"}),
        415,
        "application/pdf",
    ),
    "disallowed sniffed type": (
        lambda g, s: upload(
            g,
            s.token("upload", hashlib.sha256(b"%PDF-1.7 x").hexdigest(), now=now()),
            body=b"%PDF-1.7 x",
            **{"Content-Type": "application/octet-stream"},
        ),
        415,
        "application/pdf",
    ),
    "empty body": (
        lambda g, s: upload(g, s.token("upload", hashlib.sha256(b"").hexdigest(), now=now()), body=b""),
        400,
        "empty",
    ),
}


@pytest.fixture
def unchanged(gateway: RunningGateway) -> Iterator[None]:
    before = store_keys(gateway)
    yield
    assert store_keys(gateway) == before
    assert staging_files(gateway) == []


def assert_refused(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, (response.status_code, response.headers.get("x-reason"))
    assert reason in response.headers["x-reason"], response.headers["x-reason"]
    assert response.headers["access-control-allow-origin"] == "*"
    if response.request.method != "HEAD":
        assert response.json()["message"]


@pytest.mark.parametrize("case", list(UPLOAD_CASES))
def test_refused_uploads_store_nothing(
    gateway: RunningGateway, alice: Signer, unchanged: None, case: str
) -> None:
    send, status, reason = UPLOAD_CASES[case]
    assert_refused(send(gateway, alice), status, reason)


def test_mirror_to_loopback_is_refused(gateway: RunningGateway, alice: Signer, unchanged: None) -> None:
    for target in (
        "http://127.0.0.1:9/blob",
        f"{gateway.url}/{SHA}",
        "http://localhost/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
    ):
        response = httpx.put(
            f"{gateway.url}/mirror",
            json={"url": target},
            headers={"Authorization": alice.token("upload", SHA, now=now())},
        )
        assert_refused(response, 403, "refusing to mirror")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"not json", 400, "mirror body"),
        (b'{"uri": "http://example.org"}', 400, "mirror body"),
        (b'{"url": "ftp://example.org/x"}', 400, "http"),
        (b'{"url": "' + b"a" * 20_000 + b'"}', 413, "larger"),
    ],
)
def test_malformed_mirror_requests(
    gateway: RunningGateway, alice: Signer, unchanged: None, body: bytes, status: int, reason: str
) -> None:
    response = httpx.put(
        f"{gateway.url}/mirror",
        content=body,
        headers={"Authorization": alice.token("upload", SHA, now=now())},
    )
    assert_refused(response, status, reason)


def test_mirror_needs_a_token_by_default(gateway: RunningGateway, unchanged: None) -> None:
    assert_refused(
        httpx.put(f"{gateway.url}/mirror", json={"url": "https://example.org/x"}), 401, "authorization"
    )


def preflight(gateway: RunningGateway, auth: str | None, **headers: str) -> httpx.Response:
    sent = dict(headers)
    if auth is not None:
        sent["Authorization"] = auth
    return httpx.head(f"{gateway.url}/upload", headers=sent)


def test_upload_requirements(gateway: RunningGateway, alice: Signer, unchanged: None) -> None:
    good = {"X-SHA-256": SHA, "X-Content-Length": str(len(DATA)), "X-Content-Type": "image/png"}
    token = alice.token("upload", SHA, now=now())
    ok = preflight(gateway, token, **good)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "*"
    cases: list[tuple[str | None, dict[str, Any], int, str]] = [
        (None, good, 401, "authorization required"),
        (alice.token("upload", OTHER_SHA, now=now()), good, 403, "does not cover"),
        (token, {**good, "X-SHA-256": "nope"}, 400, "X-SHA-256"),
        (token, {k: v for k, v in good.items() if k != "X-Content-Length"}, 411, "X-Content-Length"),
        (token, {**good, "X-Content-Length": "many"}, 400, "X-Content-Length"),
        (token, {**good, "X-Content-Length": str(MAX_BLOB + 1)}, 413, "exceeds"),
        (token, {**good, "X-Content-Type": "application/pdf"}, 415, "application/pdf"),
        (alice.token("upload", SHA, now=now(), expires_in=-1), good, 401, "expired"),
    ]
    for auth, headers, status, reason in cases:
        assert_refused(preflight(gateway, auth, **headers), status, reason)


def test_blocked_content_is_451(gateway: RunningGateway, alice: Signer, unchanged: None) -> None:
    import asyncio

    blocked = os.urandom(1000)
    digest = hashlib.sha256(blocked).hexdigest()
    asyncio.run(gateway.services.state.set(f"block:{digest}", b"admin"))
    try:
        headers = {"X-SHA-256": digest, "X-Content-Length": "1000", "X-Content-Type": "image/png"}
        token = alice.token("upload", digest, now=now())
        assert_refused(preflight(gateway, token, **headers), 451, "removed")
        assert_refused(upload(gateway, token, body=blocked), 451, "removed")
        assert_refused(upload(gateway, token, body=blocked, **{"X-SHA-256": digest}), 451, "removed")
    finally:
        asyncio.run(gateway.services.state.delete(f"block:{digest}"))


def test_preflight_and_cors_on_every_blossom_path(gateway: RunningGateway, alice: Signer) -> None:
    for path in ("/upload", "/mirror", "/report", f"/list/{alice.pubkey}", f"/{SHA}", f"/{SHA}.png"):
        response = httpx.options(
            f"{gateway.url}{path}",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "authorization, x-sha-256, content-type",
            },
        )
        assert response.status_code == 204, path
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-allow-headers"] == "Authorization, *"
        assert response.headers["access-control-allow-methods"] == "GET, HEAD, PUT, DELETE"
        assert response.headers["access-control-max-age"] == "86400"


def test_gateway_paths_are_not_shadowed(gateway: RunningGateway) -> None:
    assert httpx.get(f"{gateway.url}/api").json()["name"] == "torrent-gateway"
    assert httpx.get(f"{gateway.url}/healthz").text == "ok"
    assert "/upload" in httpx.get(f"{gateway.url}/openapi.json").json()["paths"]
    missing = httpx.get(f"{gateway.url}/no-such-page")
    assert missing.status_code == 404 and "x-reason" not in missing.headers
    assert httpx.put(f"{gateway.url}/{SHA}").status_code == 405


def test_get_can_require_a_token(tmp_path: Any, alice: Signer) -> None:
    with blossom_gateway(tmp_path / "data", blossom={"require_auth": ["upload", "delete", "get"]}) as gateway:
        data = os.urandom(5000)
        digest = hashlib.sha256(data).hexdigest()
        assert upload(gateway, alice.token("upload", digest, now=now()), body=data).status_code == 201
        assert_refused(httpx.get(f"{gateway.url}/{digest}"), 401, "authorization required")
        scoped_elsewhere = alice.token("get", now=now())
        assert_refused(
            httpx.get(f"{gateway.url}/{digest}", headers={"Authorization": scoped_elsewhere}), 403, "'get'"
        )
        for auth in (
            alice.token("get", digest, now=now()),
            alice.token("get", now=now(), servers=("127.0.0.1",)),
        ):
            got = httpx.get(f"{gateway.url}/{digest}", headers={"Authorization": auth})
            assert got.status_code == 200 and got.content == data


def test_allowed_pubkeys_and_quota(tmp_path: Any, alice: Signer, bob: Signer) -> None:
    blossom = {"allowed_pubkeys": [alice.pubkey], "quota_bytes": 10_000, "require_auth": ["delete"]}
    with blossom_gateway(tmp_path / "data", blossom=blossom) as gateway:
        first, second = os.urandom(6000), os.urandom(6000)
        sha1, sha2 = (hashlib.sha256(d).hexdigest() for d in (first, second))
        assert upload(gateway, alice.token("upload", sha1, now=now()), body=first).status_code == 201
        before = store_keys(gateway)
        assert_refused(upload(gateway, None, body=second), 401, "listed pubkeys")
        assert_refused(upload(gateway, bob.token("upload", sha2, now=now()), body=second), 403, "not allowed")
        assert_refused(upload(gateway, alice.token("upload", sha2, now=now()), body=second), 413, "quota")
        headers = {"X-SHA-256": sha2, "X-Content-Length": "6000", "X-Content-Type": "image/png"}
        assert_refused(preflight(gateway, alice.token("upload", sha2, now=now()), **headers), 413, "quota")
        assert store_keys(gateway) == before
        # Re-uploading what one already owns costs nothing.
        assert upload(gateway, alice.token("upload", sha1, now=now()), body=first).status_code == 200


def test_banned_pubkeys_are_refused(gateway: RunningGateway, unchanged: None) -> None:
    import asyncio

    mallory = Signer()
    asyncio.run(gateway.services.state.set(f"ban:{mallory.pubkey}", b'{"reason": "spam"}'))
    assert_refused(upload(gateway, mallory.token("upload", SHA, now=now())), 403, "banned")
    listed = httpx.get(
        f"{gateway.url}/list/{mallory.pubkey}", headers={"Authorization": mallory.token("list", now=now())}
    )
    assert_refused(listed, 403, "banned")


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/%0A", "/%00", f"/{SHA}%0A", "/api/download/%0D%0A"])
def test_control_characters_in_the_path_are_a_bad_request(
    gateway: RunningGateway, method: str, path: str
) -> None:
    # Found by schemathesis: Python's `$` matches before a trailing newline, so `/\n` reached
    # the web UI's `/` route and answered an undocumented 405.
    response = httpx.request(method, f"{gateway.url}{path}")
    assert response.status_code == 400
    assert response.headers["x-reason"] == "request path contains control characters"
    assert response.headers["access-control-allow-origin"] == "*"
