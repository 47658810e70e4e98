"""Finding 2 (login replay), the seed gateway's login body, finding 8 (NIP-98 ``u`` against the
Host header), finding 11 (challenge minting), finding 4's second half (no body read before auth)
and the web UI's session cookie — each driven against a real serve-mode gateway over HTTP."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nostr_sdk
import pytest

from tests.integration.nostr.helpers import RemoteSigner, nip98_header, running_relay, sdk_sign
from tests.security.authkit import bearer, bound_event, challenge, raw_request, serve, status_of
from tests.support.gateway import RunningGateway

ADMIN = nostr_sdk.Keys.generate()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with serve(tmp_path_factory.mktemp("login") / "data", admin=ADMIN) as running:
        yield running


def post_login(base: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{base}/api/auth/login", json=body)


# -- finding 2: a login event must be bound to this gateway, fresh, and carry a live challenge ----
def test_nip42_auth_event_signed_for_another_relay_does_not_log_in(gateway: RunningGateway) -> None:
    """The attack: a victim's NIP-42 AUTH event for some relay, carrying our challenge."""
    victim = nostr_sdk.Keys.generate()
    value = challenge(gateway.url)["challenge"]
    relay_auth = sdk_sign(victim, 22242, [["relay", "wss://relay.example.com"], ["challenge", value]])
    response = post_login(gateway.url, {"auth_type": "nip07", "event": relay_auth})
    assert response.status_code == 401
    assert "signed for another relay or site" in response.json()["detail"]
    assert "tgw_session" not in response.headers.get("set-cookie", "")
    # No 'relay' tag at all (any 22242 someone signed) is refused the same way.
    bare = sdk_sign(victim, 22242, [["challenge", value]])
    response = post_login(gateway.url, {"auth_type": "nip07", "event": bare})
    assert response.status_code == 401 and "no 'relay' tag" in response.json()["detail"]
    # The refusals did not spend the challenge: the victim's own bound login still works.
    assert (
        post_login(
            gateway.url, {"auth_type": "nip07", "event": bound_event(victim, gateway.url, value)}
        ).status_code
        == 200
    )


# 75 s, not 61: the server reads its clock a moment after the test does, and on a loaded machine
# that second made a 61 s-in-the-future event 60 s away (accepted) by the time it was checked.
@pytest.mark.parametrize("age", [-3600, -75, 75, 3600])
def test_stale_or_future_login_events_are_refused(gateway: RunningGateway, age: int) -> None:
    user = nostr_sdk.Keys.generate()
    value = challenge(gateway.url)["challenge"]
    event = bound_event(user, gateway.url, value, created_at=int(time.time()) - age)
    response = post_login(gateway.url, {"auth_type": "nip07", "event": event})
    assert response.status_code == 401
    assert response.json()["detail"].startswith("login event is stale")


def test_nip98_login_event_must_name_the_login_url_and_post(gateway: RunningGateway) -> None:
    user = nostr_sdk.Keys.generate()
    login_url = f"{gateway.url}/api/auth/login"
    for tags, reason in [
        ([["u", "https://other.example/api/auth/login"], ["method", "POST"]], "'u' tag must be"),
        ([["u", f"{gateway.url}/api/upload"], ["method", "POST"]], "'u' tag must be"),
        ([["u", login_url], ["method", "GET"]], "'method' tag must be POST"),
    ]:
        value = challenge(gateway.url)["challenge"]
        event = sdk_sign(user, 27235, [*tags, ["challenge", value]])
        response = post_login(gateway.url, {"auth_type": "nip07", "event": event})
        assert response.status_code == 401 and reason in response.json()["detail"], response.text
    value = challenge(gateway.url)["challenge"]
    event = sdk_sign(user, 27235, [["u", login_url], ["method", "POST"], ["challenge", value]])
    response = post_login(gateway.url, {"auth_type": "nip07", "event": event})
    assert response.status_code == 200, response.text
    assert response.json()["pubkey"] == user.public_key().to_hex()
    # Without a challenge a NIP-98 event is refused: it would be replayable within its minute.
    event = sdk_sign(user, 27235, [["u", login_url], ["method", "POST"]])
    assert post_login(gateway.url, {"auth_type": "nip07", "event": event}).status_code == 401


def test_challenge_is_taken_once_even_by_racing_logins(gateway: RunningGateway) -> None:
    user = nostr_sdk.Keys.generate()
    event = bound_event(user, gateway.url, challenge(gateway.url)["challenge"])
    body = {"auth_type": "nip07", "event": event}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: post_login(gateway.url, body).status_code, range(8)))
    assert statuses == [200] + [401] * 7


def test_challenge_names_what_to_sign(gateway: RunningGateway) -> None:
    issued = challenge(gateway.url, Host="evil.example")
    # Bound to the configured public URL, whatever Host the client sent.
    assert issued["relay"] == gateway.url and issued["login_url"] == f"{gateway.url}/api/auth/login"
    assert issued["kind"] == 22242 and issued["max_age"] == 60


# -- the seed gateway's login body (issue 18) ------------------------------------------------------
@pytest.mark.parametrize("as_string", [True, False])
def test_seed_gateway_login_body_with_auth_event(gateway: RunningGateway, as_string: bool) -> None:
    user = nostr_sdk.Keys.generate()
    event = bound_event(user, gateway.url, challenge(gateway.url)["challenge"])
    body = {"auth_type": "nip07", "auth_event": json.dumps(event) if as_string else event}
    response = post_login(gateway.url, body)
    assert response.status_code == 200, response.text
    assert response.json()["pubkey"] == user.public_key().to_hex()
    # Same rules: an unbound event in the seed spelling is refused too.
    value = challenge(gateway.url)["challenge"]
    unbound = sdk_sign(user, 22242, [["relay", "wss://relay.example.com"], ["challenge", value]])
    body = {"auth_type": "nip07", "auth_event": json.dumps(unbound) if as_string else unbound}
    assert post_login(gateway.url, body).status_code == 401
    assert post_login(gateway.url, {"auth_type": "nip07", "auth_event": "{not json"}).status_code == 400


# -- finding 8: with gateway.public_url set, NIP-98 'u' must name it ------------------------------
def test_nip98_u_is_checked_against_public_url_not_the_host_header(gateway: RunningGateway) -> None:
    user = nostr_sdk.Keys.generate()
    # An event signed for another site, replayed here with that site's Host header.
    foreign = nip98_header(user, "http://evil.example/api/auth/me", "GET")
    response = httpx.get(f"{gateway.url}/api/auth/me", headers={**foreign, "Host": "evil.example"})
    assert response.status_code == 401
    assert response.json()["detail"] == "authorization event is for another URL ('u' tag)"
    own = nip98_header(user, f"{gateway.url}/api/auth/me", "GET")
    response = httpx.get(f"{gateway.url}/api/auth/me", headers=own)
    assert response.status_code == 200 and response.json()["pubkey"] == user.public_key().to_hex()


# -- the web UI's session cookie -----------------------------------------------------------------
def test_login_sets_an_httponly_strict_cookie_that_authenticates(gateway: RunningGateway) -> None:
    user = nostr_sdk.Keys.generate()
    event = bound_event(user, gateway.url, challenge(gateway.url)["challenge"])
    response = post_login(gateway.url, {"auth_type": "nip07", "event": event})
    assert response.status_code == 200
    token = response.json()["token"]
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert cookie.startswith(f"tgw_session={token};")
    assert {"httponly", "path", "max-age", "samesite"} <= set(attributes)
    assert attributes["samesite"].lower() == "samesite=strict" and attributes["path"] == "Path=/"
    assert attributes["max-age"] == f"Max-Age={gateway.settings.auth.session_ttl}"
    assert "secure" not in attributes  # http:// public URL; https:// adds Secure

    jar = {"tgw_session": token}
    me = httpx.get(f"{gateway.url}/api/auth/me", cookies=jar)
    assert me.status_code == 200
    body = me.json()
    assert body["pubkey"] == user.public_key().to_hex() and body["npub"] == user.public_key().to_bech32()
    assert body["is_admin"] is False and body["expires_at"] == response.json()["expires_at"]

    # CSRF: a cookie-authenticated unsafe request without the custom header is refused.
    target = f"{gateway.url}/api/users/me/files/{'a' * 64}"
    forged = httpx.delete(target, cookies=jar)
    assert forged.status_code == 403 and "X-Requested-With" in forged.json()["detail"]
    allowed = httpx.delete(target, cookies=jar, headers={"X-Requested-With": "torrent-gateway"})
    assert allowed.status_code == 404  # past the CSRF check: the caller owns no such file
    # Bearer clients need no such header.
    assert httpx.delete(target, headers={"Authorization": f"Bearer {token}"}).status_code == 404

    # Logout: also a cookie-authenticated POST, so it needs the header; it revokes and clears.
    assert httpx.post(f"{gateway.url}/api/auth/logout", cookies=jar).status_code == 403
    out = httpx.post(
        f"{gateway.url}/api/auth/logout", cookies=jar, headers={"X-Requested-With": "torrent-gateway"}
    )
    assert out.status_code == 200 and out.json() == {"logged_out": True}
    assert out.headers["set-cookie"].startswith('tgw_session="";') or "Max-Age=0" in out.headers["set-cookie"]
    assert httpx.get(f"{gateway.url}/api/auth/me", cookies=jar).status_code == 401
    # Logging out again with the stale cookie: 401, and the browser is told to drop it.
    stale = httpx.post(
        f"{gateway.url}/api/auth/logout", cookies=jar, headers={"X-Requested-With": "torrent-gateway"}
    )
    assert stale.status_code == 401 and "Max-Age=0" in stale.headers["set-cookie"]
    assert (
        httpx.get(f"{gateway.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_https_public_url_makes_the_cookie_secure(tmp_path: Path) -> None:
    with serve(tmp_path / "data", gateway={"public_url": "https://gw.example.org"}) as gateway:
        user = nostr_sdk.Keys.generate()
        issued = challenge(gateway.url)
        assert issued["relay"] == "https://gw.example.org"
        event = bound_event(user, "https://gw.example.org", issued["challenge"])
        response = post_login(gateway.url, {"auth_type": "nip07", "event": event})
        assert response.status_code == 200, response.text
        assert "secure" in response.headers["set-cookie"].lower()


# -- finding 11: challenges are rate limited like logins ------------------------------------------
def test_challenge_minting_is_rate_limited(tmp_path: Path) -> None:
    limits = {"enabled": True, "auth": {"login_attempts_per_minute": 3}}
    with serve(tmp_path / "data", rate_limiting=limits) as gateway:
        statuses = [httpx.get(f"{gateway.url}/api/auth/challenge").status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        refused = httpx.get(f"{gateway.url}/api/auth/challenge")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "rate limit" in refused.json()["detail"]
        # Challenges have their own bucket: fetching them spent no login attempt.
        assert post_login(gateway.url, {"auth_type": "nip46"}).status_code == 400


# -- finding 4, second half: nobody makes us read a body before authentication -----------------------
HUGE = 300 * 1024 * 1024
# Under the global body cap (gateway.max_request_body, 64 KiB), which would otherwise answer 413 from
# the declared length before any route runs: these bodies reach the route, which must still refuse
# the unauthenticated caller before it reads them.
UNDER_GLOBAL_CAP = 60_000


def test_login_refuses_a_huge_body_without_reading_it(gateway: RunningGateway) -> None:
    head = (
        "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {HUGE}\r\n\r\n"
    )
    answer = raw_request(gateway.url, head, b'{"auth_type": "nip07", "event": "' + b"x" * 65536)
    assert status_of(answer) == 413, answer[:200]


def test_admin_route_answers_401_before_reading_the_body(gateway: RunningGateway) -> None:
    head = (
        f"POST /api/admin/users/{'a' * 64}/ban HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {UNDER_GLOBAL_CAP}\r\n\r\n"
    )
    answer = raw_request(gateway.url, head, b'{"reason": "' + b"x" * 4096)
    assert status_of(answer) == 401, answer[:200]
    # An admin's oversized body is cut off at the cap, after authentication.
    token = bearer(gateway.url, ADMIN)["Authorization"]
    answer = raw_request(
        gateway.url, head.replace("\r\n\r\n", f"\r\nAuthorization: {token}\r\n\r\n"), b"{" + b" " * 20000
    )
    assert status_of(answer) == 413, answer[:200]
    # And a normal ban still works.
    ok = httpx.post(
        f"{gateway.url}/api/admin/users/{'a' * 64}/ban",
        json={"reason": "spam"},
        headers={"Authorization": token},
    )
    assert ok.status_code == 200 and ok.json()["banned"] is True


# -- NIP-46: the remote signer signs the same bound event; both flows set the session cookie ---------
async def test_bunker_and_nostrconnect_logins_sign_bound_events_and_set_the_cookie(tmp_path: Path) -> None:
    with (
        running_relay(tmp_path / "relay") as relay,
        serve(
            tmp_path / "data",
            auth={"nip46_allow_private_relays": True, "nostrconnect_relays": [relay.url]},
        ) as gateway,
    ):
        async with RemoteSigner(relay.url) as signer, httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{gateway.url}/api/auth/login",
                json={"auth_type": "nip46", "bunker_url": signer.bunker_url()},
            )
            assert response.status_code == 200, response.text
            assert response.json()["pubkey"] == signer.user_pubkey
            assert "tgw_session=" in response.headers["set-cookie"]
            template = signer.signed[-1]
            assert template["kind"] == 22242 and ["relay", gateway.url] in template["tags"]
            assert abs(template["created_at"] - time.time()) < 60

        async with RemoteSigner(relay.url) as app, httpx.AsyncClient(timeout=30) as client:
            started = (await client.post(f"{gateway.url}/api/auth/nostrconnect")).json()
            await app.answer_nostrconnect(started["uri"])
            deadline = time.monotonic() + 20
            while True:
                polled = await client.get(f"{gateway.url}/api/auth/nostrconnect/{started['id']}")
                if polled.status_code != 202:
                    break
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            assert polled.status_code == 200, polled.text
            assert polled.headers["set-cookie"].startswith(f"tgw_session={polled.json()['token']};")
            assert ["relay", gateway.url] in app.signed[-1]["tags"]


def test_forged_nip98_event_with_a_payload_tag_is_refused_before_the_body(gateway: RunningGateway) -> None:
    """A NIP-98 ``payload`` tag makes us hash the body; a forged event must not get that far."""
    user = nostr_sdk.Keys.generate()
    url = f"{gateway.url}/api/admin/users/{'a' * 64}/ban"
    event = sdk_sign(user, 27235, [["u", url], ["method", "POST"], ["payload", "0" * 64]])
    event["sig"] = "0" * 128  # well-formed, not a valid signature
    forged = "Nostr " + base64.b64encode(json.dumps(event).encode()).decode()
    size = UNDER_GLOBAL_CAP  # within the size the authenticator would hash
    head = (
        f"POST /api/admin/users/{'a' * 64}/ban HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {forged}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    )
    answer = raw_request(gateway.url, head, b"{" + b" " * 1024)
    assert status_of(answer) == 401, answer[:300]
