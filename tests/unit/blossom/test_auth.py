"""BUD-11 token verification: every rule, with an injected clock and no server."""

from __future__ import annotations

import hashlib

import pytest
from torrent_gateway.blossom.auth import (
    AuthError,
    BlossomAuth,
    normalize_server,
    require_covers,
    require_get_scope,
    verify_auth,
)
from torrent_gateway.blossom.errors import BlossomError

from .tokens import Signer, header, tamper_signature

NOW = 1_750_000_000
DOMAINS = ["https://cdn.example.org"]
SHA = hashlib.sha256(b"blob").hexdigest()
OTHER = hashlib.sha256(b"other").hexdigest()


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


def check(value: str | None, verb: str = "upload", accepted_verbs: tuple[str, ...] = ()) -> BlossomAuth:
    return verify_auth(value, verb=verb, now=NOW, domains=DOMAINS, accepted_verbs=accepted_verbs)


def refused(value: str | None, verb: str = "upload", accepted_verbs: tuple[str, ...] = ()) -> AuthError:
    with pytest.raises(AuthError) as info:
        check(value, verb, accepted_verbs)
    return info.value


@pytest.mark.parametrize("url_safe", [False, True])
def test_valid_token_in_both_base64_forms(signer: Signer, url_safe: bool) -> None:
    auth = check(signer.token("upload", SHA.upper(), now=NOW, url_safe=url_safe))
    assert auth.pubkey == signer.pubkey and auth.verb == "upload"
    assert auth.covers(SHA) and not auth.covers(OTHER)
    assert isinstance(auth.expiration, int)


def test_scheme_is_case_insensitive_and_padding_optional(signer: Signer) -> None:
    value = signer.token("list", now=NOW).replace("Nostr ", "nostr ").rstrip("=")
    assert check(value, "list").verb == "list"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_header_is_401(value: str | None) -> None:
    error = refused(value)
    assert error.status == 401 and "authorization required" in error.reason


@pytest.mark.parametrize(
    "value",
    ["Bearer abc", "Nostr", "Nostr !!!not-base64!!!", "Nostr " + "e30=", "Nostr bm90IGpzb24="],
)
def test_undecodable_or_malformed_is_401(value: str) -> None:
    error = refused(value)
    assert error.status == 401 and error.reason.startswith("invalid authorization")


def test_wrong_kind_is_401(signer: Signer) -> None:
    error = refused(header(signer.token_event("upload", SHA, now=NOW, kind=27235)))
    assert error.status == 401 and "kind" in error.reason


def test_bad_signature_is_401(signer: Signer) -> None:
    error = refused(header(tamper_signature(signer.token_event("upload", SHA, now=NOW))))
    assert error.status == 401 and "signature" in error.reason


def test_edited_event_is_401(signer: Signer) -> None:
    event = signer.token_event("upload", SHA, now=NOW)
    event["tags"] = [["t", "upload"], ["x", OTHER], event["tags"][1]]
    error = refused(header(event))
    assert error.status == 401 and "id does not match" in error.reason


def test_expired_and_expiring_now_are_401(signer: Signer) -> None:
    assert "expired" in refused(signer.token("upload", SHA, now=NOW, expires_in=-1)).reason
    assert "expired" in refused(signer.token("upload", SHA, now=NOW, expires_in=0)).reason


def test_missing_or_garbage_expiration_is_401(signer: Signer) -> None:
    assert "missing expiration" in refused(signer.token("upload", SHA, now=NOW, with_expiration=False)).reason
    garbage = signer.token_event(
        "upload", SHA, now=NOW, with_expiration=False, extra=(["expiration", "soon"],)
    )
    assert "unix timestamp" in refused(header(garbage)).reason


def test_created_in_the_future_is_401_beyond_the_skew(signer: Signer) -> None:
    error = refused(signer.token("upload", SHA, now=NOW, created_at=NOW + 3600, expires_in=7200))
    assert error.status == 401 and "future" in error.reason
    # A few seconds of clock drift are tolerated.
    assert check(signer.token("upload", SHA, now=NOW, created_at=NOW + 30))


def test_wrong_verb_is_403(signer: Signer) -> None:
    error = refused(signer.token("delete", SHA, now=NOW), "upload")
    assert error.status == 403 and "'delete'" in error.reason and "'upload'" in error.reason
    no_t = signer.event(kind=24242, tags=[["expiration", str(NOW + 60)], ["x", SHA]], created_at=NOW)
    assert refused(header(no_t)).status == 403


def test_accepted_verbs_widen_the_check(signer: Signer) -> None:
    assert check(signer.token("media", SHA, now=NOW), "upload", accepted_verbs=("media",))


@pytest.mark.parametrize("verb", ["upload", "delete", "media"])
def test_hash_verbs_need_an_x_tag(signer: Signer, verb: str) -> None:
    error = refused(signer.token(verb, now=NOW), verb)
    assert error.status == 403 and "'x' tag" in error.reason


def test_list_and_get_need_no_x_tag(signer: Signer) -> None:
    assert check(signer.token("list", now=NOW), "list")
    assert check(signer.token("get", now=NOW, servers=("cdn.example.org",)), "get")


@pytest.mark.parametrize(
    "server",
    [
        "cdn.example.org",
        "CDN.Example.Org",
        "https://cdn.example.org/",
        "cdn.example.org:443",
        "http://cdn.example.org:8080/x",
    ],
)
def test_server_tag_naming_us_passes(signer: Signer, server: str) -> None:
    auth = check(signer.token("upload", SHA, now=NOW, servers=("other.example", server)))
    assert "cdn.example.org" in auth.servers


def test_server_tags_naming_others_are_403(signer: Signer) -> None:
    error = refused(signer.token("upload", SHA, now=NOW, servers=("other.example", "https://evil.example/")))
    assert error.status == 403 and "other servers" in error.reason


def test_require_covers_and_get_scope(signer: Signer) -> None:
    auth = check(signer.token("upload", SHA, now=NOW))
    require_covers(auth, SHA)
    with pytest.raises(AuthError) as info:
        require_covers(auth, OTHER)
    assert info.value.status == 403
    with pytest.raises(BlossomError) as conflict:
        require_covers(auth, OTHER, status=409)
    assert conflict.value.status == 409
    get_any = check(signer.token("get", now=NOW), "get")
    with pytest.raises(AuthError):
        require_get_scope(get_any, SHA)
    require_get_scope(check(signer.token("get", SHA, now=NOW), "get"), SHA)
    require_get_scope(check(signer.token("get", now=NOW, servers=("cdn.example.org",)), "get"), OTHER)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://CDN.example.org/path", "cdn.example.org"),
        ("cdn.example.org", "cdn.example.org"),
        ("cdn.example.org.", "cdn.example.org"),
        ("127.0.0.1:8081", "127.0.0.1"),
        ("http://[::1]:8081/", "::1"),
        ("", ""),
        ("http://[bad", ""),
    ],
)
def test_normalize_server(value: str, expected: str) -> None:
    assert normalize_server(value) == expected
