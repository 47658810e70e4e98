"""Schemathesis drives the serve composition's OpenAPI schema with hostile headers, logged in as an
admin and anonymously: whatever the operation and whatever the headers, no answer is a 5xx.

Each generated case is sent once with one of :data:`HOSTILE_HEADERS` (in turn), so every set meets
many operations; sets with ``auth`` carry the admin's real session token (a NIP-42-style login
signed by nostr-sdk), so the authenticated code paths see the hostile headers too.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator

import httpx
import nostr_sdk
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from tests.integration.nostr.helpers import sdk_sign
from tests.support.gateway import RunningGateway
from tests.support.report import record
from tests.support.schema import (  # api_schema: the fixture schemathesis.from_fixture names
    api_schema,  # noqa: F401
    schema_examples,
    schema_gateway,
)

ADMIN = nostr_sdk.Keys.generate()
JUNK_EVENT = base64.b64encode(
    json.dumps({"kind": 27235, "tags": [["u", "x"]], "sig": "00"}).encode()
).decode()

# Header sets a hostile client sends; "auth" marks the sets sent with the admin's session as well.
HOSTILE_HEADERS: list[tuple[bool, dict[str, str]]] = [
    (True, {"Range": "bytes=" + ",".join(["0-"] * 40)}),
    (True, {"Range": "bytes=-0,99999999999999999999-,5-1", "If-Range": '"' + "f" * 64 + '"'}),
    (False, {"Authorization": "Bearer " + "A" * 4000}),
    (False, {"Authorization": f"Nostr {JUNK_EVENT}"}),
    (False, {"Authorization": "Nostr !!!not-base64!!!"}),
    (False, {"Authorization": "Basic Zm9vOmJhcg=="}),
    (True, {"Content-Type": 'text/html; charset=\tutf-8; boundary=""'}),
    (True, {"X-Forwarded-For": "1.2.3.4, not-an-ip, ::1", "Forwarded": 'for="[::1";proto=gopher'}),
    (True, {"If-None-Match": ", ".join(["*"] * 200), "Accept": "text/html;q=xyz"}),
    (True, {"X-SHA-256": "z" * 64, "X-Content-Length": "-1", "X-Content-Type": "a/b/c"}),
    (False, {"Cookie": "session=" + "%" * 500, "Origin": "null", "Referer": "javascript:alert(1)"}),
    (True, {"Accept-Encoding": "gzip;q=2, br;q=-1, *;q=nan", "X-Filename": "../../etc/passwd"}),
]
_rotation = itertools.cycle(HOSTILE_HEADERS)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with schema_gateway(
        tmp_path_factory.mktemp("schema-hostile"),
        "seed.html",
        b"<script>1</script>" * 9000,
        auth={"admin_pubkeys": [ADMIN.public_key().to_hex()]},
        hls={"enabled": False},
        tracker={"udp": False},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def admin_token(gateway: RunningGateway) -> str:
    challenge = httpx.get(f"{gateway.url}/api/auth/challenge").json()["challenge"]
    event = sdk_sign(
        ADMIN, 22242, [["challenge", challenge], ["relay", gateway.url]], created_at=int(time.time())
    )
    response = httpx.post(f"{gateway.url}/api/auth/login", json={"auth_type": "nip07", "event": event})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@schema_examples(12)
def test_hostile_headers_never_get_a_server_error(case: schemathesis.Case, admin_token: str) -> None:
    with_auth, hostile = next(_rotation)
    headers = {**(case.headers or {}), **hostile}
    if with_auth:
        headers["Authorization"] = f"Bearer {admin_token}"
    response = case.call(headers=headers, timeout=30)
    record("bad_inputs")
    case.validate_response(response, checks=(not_a_server_error,))
    content_type = response.headers.get("content-type") or [""]
    if (
        case.method != "HEAD"
        and response.status_code >= 400
        and content_type[0].startswith("application/json")
    ):
        body = response.json()
        assert isinstance(body, dict) and ("detail" in body or "message" in body), body
