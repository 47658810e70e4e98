"""Login (NIP-07 events signed by nostr-tools), sessions, NIP-98 requests, and every way a bad
credential is refused — with nothing changed by the refusal."""

from __future__ import annotations

import time
from typing import Any

import nostr_sdk
import pytest

from tests.integration.nostr.conftest import BASE, Gateway
from tests.integration.nostr.helpers import nip98_header, nostr_tools_sign, sdk_sign

pytestmark = pytest.mark.usefixtures("nostr_tools")


async def challenge(gw: Gateway) -> str:
    response = await gw.client.get("/api/auth/challenge")
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == 22242 and body["expires_at"] > time.time()
    return str(body["challenge"])


def login_event(keys: nostr_sdk.Keys, challenge_value: str, kind: int = 22242) -> dict[str, Any]:
    template = {
        "kind": kind,
        "created_at": int(time.time()),
        "tags": [["relay", BASE], ["challenge", challenge_value]],
        "content": "",
    }
    return nostr_tools_sign(template, keys.secret_key().to_hex())


async def login(gw: Gateway, keys: nostr_sdk.Keys) -> dict[str, Any]:
    event = login_event(keys, await challenge(gw))
    response = await gw.client.post("/api/auth/login", json={"auth_type": "nip07", "event": event})
    assert response.status_code == 200, response.text
    gw.client.cookies.clear()  # an API client: it authenticates with the bearer token only
    return response.json()  # type: ignore[no-any-return]


async def session_count(gw: Gateway) -> int:
    return len(await gw.services.state.scan("auth:session:"))


async def test_nip07_login_with_nostr_tools_event_gives_a_session(gw: Gateway) -> None:
    user = nostr_sdk.Keys.generate()
    session = await login(gw, user)
    assert session["pubkey"] == user.public_key().to_hex()
    assert session["is_admin"] is False and len(session["token"]) >= 40
    assert session["expires_at"] > time.time() + 500

    me = await gw.client.get("/api/auth/me", headers={"Authorization": f"Bearer {session['token']}"})
    assert me.status_code == 200
    assert me.json() == {
        "pubkey": user.public_key().to_hex(),
        "npub": user.public_key().to_bech32(),
        "is_admin": False,
        "expires_at": session["expires_at"],
        "auth": "session",
    }
    # Only a hash of the token is stored.
    assert not [k for k in await gw.services.state.scan("auth:") if session["token"] in k]


async def test_admin_login_reports_admin(gw: Gateway) -> None:
    assert (await login(gw, gw.admin))["is_admin"] is True


async def test_logout_revokes_the_session(gw: Gateway) -> None:
    token = (await login(gw, nostr_sdk.Keys.generate()))["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await gw.client.post("/api/auth/logout", headers=headers)).json() == {"logged_out": True}
    again = await gw.client.get("/api/auth/me", headers=headers)
    assert again.status_code == 401
    assert again.json() == {"detail": "invalid, expired or revoked session token"}
    assert "Bearer" in again.headers["www-authenticate"]
    assert (await gw.client.post("/api/auth/logout", headers=headers)).status_code == 401


async def test_me_without_credentials_is_401(gw: Gateway) -> None:
    response = await gw.client.get("/api/auth/me")
    assert response.status_code == 401
    assert "authentication required" in response.json()["detail"]


async def test_reused_challenge_is_refused(gw: Gateway) -> None:
    user = nostr_sdk.Keys.generate()
    value = await challenge(gw)
    first = await gw.client.post(
        "/api/auth/login", json={"auth_type": "nip07", "event": login_event(user, value)}
    )
    assert first.status_code == 200
    sessions = await session_count(gw)
    replay = await gw.client.post(
        "/api/auth/login", json={"auth_type": "nip07", "event": login_event(user, value)}
    )
    assert replay.status_code == 401
    assert replay.json()["detail"] == "unknown, expired or already used challenge: get a new one"
    assert await session_count(gw) == sessions


async def test_expired_challenge_is_refused(gw: Gateway) -> None:
    user = nostr_sdk.Keys.generate()
    value = await challenge(gw)
    gw.state_clock.advance(31)  # challenge_ttl is 30 s in this app
    response = await gw.client.post(
        "/api/auth/login", json={"auth_type": "nip07", "event": login_event(user, value)}
    )
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert await session_count(gw) == 0


async def test_event_for_another_challenge_is_refused(gw: Gateway) -> None:
    user = nostr_sdk.Keys.generate()
    mine, other = await challenge(gw), await challenge(gw)
    response = await gw.client.post(
        "/api/auth/login", json={"auth_type": "nip07", "challenge": mine, "event": login_event(user, other)}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "login event is signed for another challenge"
    # A challenge the server never issued is refused too.
    invented = await gw.client.post(
        "/api/auth/login", json={"auth_type": "nip07", "event": login_event(user, "not-issued-by-us")}
    )
    assert invented.status_code == 401
    assert await session_count(gw) == 0
    # Neither refusal spent the real challenges.
    for value in (mine, other):
        ok = await gw.client.post(
            "/api/auth/login", json={"auth_type": "nip07", "event": login_event(user, value)}
        )
        assert ok.status_code == 200


async def test_bad_signature_is_refused_and_keeps_the_challenge(gw: Gateway) -> None:
    user = nostr_sdk.Keys.generate()
    value = await challenge(gw)
    event = login_event(user, value)
    forged = {**event, "sig": event["sig"][:-2] + ("00" if event["sig"][-2:] != "00" else "11")}
    response = await gw.client.post("/api/auth/login", json={"auth_type": "nip07", "event": forged})
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid event signature"
    tampered = {**event, "pubkey": nostr_sdk.Keys.generate().public_key().to_hex()}
    response = await gw.client.post("/api/auth/login", json={"auth_type": "nip07", "event": tampered})
    assert response.status_code == 401 and response.json()["detail"] == "event id does not match its content"
    assert await session_count(gw) == 0
    good = await gw.client.post("/api/auth/login", json={"auth_type": "nip07", "event": event})
    assert good.status_code == 200


async def test_wrong_kind_is_refused(gw: Gateway) -> None:
    user = nostr_sdk.Keys.generate()
    event = login_event(user, await challenge(gw), kind=1)
    response = await gw.client.post("/api/auth/login", json={"auth_type": "nip07", "event": event})
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong event kind 1: expected 22242"
    assert await session_count(gw) == 0


async def test_malformed_login_bodies_are_400_or_422(gw: Gateway) -> None:
    assert (await gw.client.post("/api/auth/login", json={"auth_type": "nip07"})).status_code == 400
    assert (await gw.client.post("/api/auth/login", json={"auth_type": "nip46"})).status_code == 400
    assert (await gw.client.post("/api/auth/login", json={"auth_type": "password"})).status_code == 422
    bad = await gw.client.post("/api/auth/login", json={"auth_type": "nip46", "bunker_url": "https://x"})
    assert bad.status_code == 400 and bad.json()["detail"] == "expected a bunker:// URL"
    garbage = await gw.client.post("/api/auth/login", json={"auth_type": "nip07", "event": {"kind": 22242}})
    assert garbage.status_code == 401 and garbage.json()["detail"] == "event is missing 'id'"


async def test_garbage_bearer_and_unknown_scheme_are_401(gw: Gateway) -> None:
    for header in ("Bearer nope", "Bearer " + "x" * 1000, "Basic dXNlcjpwdw==", "Nostr !!!"):
        response = await gw.client.get("/api/auth/me", headers={"Authorization": header})
        assert response.status_code == 401, header


# -- NIP-98 -----------------------------------------------------------------------------------
async def test_nip98_get_is_accepted_once(gw: Gateway) -> None:
    user = nostr_sdk.Keys.generate()
    headers = nip98_header(user, f"{BASE}/api/auth/me", "GET", urlsafe=True)
    response = await gw.client.get("/api/auth/me", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["pubkey"] == user.public_key().to_hex() and response.json()["auth"] == "nip98"
    replay = await gw.client.get("/api/auth/me", headers=headers)
    assert replay.status_code == 401
    assert replay.json()["detail"] == "this NIP-98 authorization event was already used"


@pytest.mark.parametrize(
    ("url", "method", "age", "reason"),
    [
        (f"{BASE}/api/users/me/stats", "GET", 0, "authorization event is for another URL ('u' tag)"),
        ("http://evil.test/api/auth/me", "GET", 0, "authorization event is for another URL ('u' tag)"),
        (
            f"{BASE}/api/auth/me",
            "POST",
            0,
            "authorization event is for another method ('method' tag must be GET)",
        ),
        (
            f"{BASE}/api/auth/me",
            "GET",
            120,
            "authorization event is stale: created_at must be within 60 s of now",
        ),
        (
            f"{BASE}/api/auth/me",
            "GET",
            -120,
            "authorization event is stale: created_at must be within 60 s of now",
        ),
    ],
)
async def test_nip98_mismatches_are_refused(
    gw: Gateway, url: str, method: str, age: int, reason: str
) -> None:
    user = nostr_sdk.Keys.generate()
    headers = nip98_header(user, url, method, created_at=int(time.time()) - age)
    response = await gw.client.get("/api/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": reason}
    assert await gw.services.state.scan("auth:nip98:") == []


async def test_nip98_wrong_kind_is_refused(gw: Gateway) -> None:
    user = nostr_sdk.Keys.generate()
    event = sdk_sign(user, 24242, [["u", f"{BASE}/api/auth/me"], ["method", "GET"]])
    import base64
    import json

    header = {"Authorization": "Nostr " + base64.b64encode(json.dumps(event).encode()).decode()}
    response = await gw.client.get("/api/auth/me", headers=header)
    assert (
        response.status_code == 401 and response.json()["detail"] == "wrong event kind 24242: expected 27235"
    )


async def test_nip98_payload_is_checked_against_the_body(gw: Gateway) -> None:
    user = nostr_sdk.Keys.generate()
    body = b"hello payload " * 100
    url = f"{BASE}/api/upload?name=payload.txt"
    wrong = nip98_header(user, url, "PUT", body=b"something else")
    response = await gw.client.put("/api/upload?name=payload.txt", content=body, headers=wrong)
    assert response.status_code == 401
    assert response.json()["detail"] == "request body does not match the authorization event's 'payload' hash"
    assert await gw.services.catalog.count_owned(user.public_key().to_hex()) == 0
    assert await gw.services.catalog.recent() == []

    right = nip98_header(user, url, "PUT", body=body)
    response = await gw.client.put("/api/upload?name=payload.txt", content=body, headers=right)
    assert response.status_code == 201, response.text
    assert response.json()["owners"] == [user.public_key().to_hex()]
