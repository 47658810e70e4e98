"""BUD-11 authorization: checking a kind 24242 event sent as ``Authorization: Nostr <base64>``.

Pure: the clock, the endpoint's verb and our domain names are arguments, so every rule is
unit-tested without a server. Checks, in order: the header decodes (standard or URL-safe
base64, padding optional) to a well-formed event; kind 24242; id and BIP-340 signature;
``created_at`` not in the future (a little clock skew allowed); an ``expiration`` tag in the
future; a ``t`` tag naming this endpoint's verb; when ``server`` tags are present, one of
them names us; and, for verbs that act on one blob, at least one ``x`` tag (whether it
covers the blob is checked with :meth:`BlossomAuth.covers` once the hash is known).

Statuses: 401 when there is no usable proof of identity (missing, undecodable, forged,
expired, not yet valid); 403 when the signer is known but the token does not allow this
request (another verb, another server, another blob, a pubkey not allowed).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..nostr.events import InvalidEvent, decode_auth_header, verify_event
from .errors import BlossomError

AUTH_KIND = 24242
VERBS = frozenset({"get", "upload", "list", "delete", "media"})
# Verbs whose token must name the blob(s) it is for with ``x`` tags.
HASH_VERBS = frozenset({"upload", "delete", "media"})
# Seconds a token's created_at may run ahead of our clock (phones and laptops drift).
CLOCK_SKEW = 60
MAX_EXPIRATION_DIGITS = 12


class AuthError(BlossomError):
    """A refused authorization; ``status`` is 401 or 403 and ``reason`` is safe to show."""


@dataclass(frozen=True)
class BlossomAuth:
    """A verified token: who signed it and what it allows."""

    pubkey: str
    verb: str
    hashes: frozenset[str]
    servers: tuple[str, ...]
    expiration: int
    event: dict[str, Any]

    def covers(self, sha256: str) -> bool:
        return sha256.lower() in self.hashes


def normalize_server(value: str) -> str:
    """A ``server`` tag or a base URL as a lowercase host name: URLs, ``host:port`` and bare domains."""
    text = value.strip().lower()
    if not text:
        return ""
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return ""
    return (host or "").rstrip(".")


def _tag_values(event: dict[str, Any], name: str) -> list[str]:
    return [tag[1] for tag in event["tags"] if len(tag) >= 2 and tag[0] == name]


def verify_auth(
    header: str | None,
    *,
    verb: str,
    now: float,
    domains: Iterable[str],
    skew: int = CLOCK_SKEW,
    accepted_verbs: Collection[str] | None = None,
) -> BlossomAuth:
    """Check a BUD-11 token for an endpoint whose action is ``verb``; raise :class:`AuthError`.

    ``domains`` are our host names (a ``server`` tag must name one of them when any is present).
    ``accepted_verbs`` widens the ``t`` check (defaults to ``{verb}``).
    """
    if header is None or not header.strip():
        raise AuthError(401, "authorization required: send 'Authorization: Nostr <base64 kind 24242 event>'")
    try:
        event = decode_auth_header(header)
        verify_event(event, kinds={AUTH_KIND})
    except InvalidEvent as exc:
        raise AuthError(401, f"invalid authorization: {exc.reason}") from None
    if event["created_at"] > now + skew:
        raise AuthError(401, "invalid authorization: created_at is in the future")
    expirations = _tag_values(event, "expiration")
    if not expirations:
        raise AuthError(401, "invalid authorization: missing expiration tag")
    raw_expiration = expirations[0].strip()
    if not raw_expiration.isdigit() or len(raw_expiration) > MAX_EXPIRATION_DIGITS:
        raise AuthError(401, "invalid authorization: expiration must be a unix timestamp")
    expiration = int(raw_expiration)
    if expiration <= now:
        raise AuthError(401, "invalid authorization: token expired")
    allowed = set(accepted_verbs or ()) | {verb}
    verbs = _tag_values(event, "t")
    if not verbs:
        raise AuthError(403, "authorization has no 't' tag")
    if verbs[0] not in allowed:
        raise AuthError(403, f"authorization is for '{verbs[0]}', this endpoint needs '{verb}'")
    servers = tuple(s for s in (normalize_server(v) for v in _tag_values(event, "server")) if s)
    ours = {d for d in (normalize_server(x) for x in domains) if d}
    if servers and not ours.intersection(servers):
        raise AuthError(
            403, "authorization is scoped to other servers (its 'server' tags do not name this one)"
        )
    hashes = frozenset(v.strip().lower() for v in _tag_values(event, "x"))
    if verb in HASH_VERBS and not hashes:
        raise AuthError(403, f"a '{verb}' authorization must carry an 'x' tag with the blob's sha256")
    return BlossomAuth(
        pubkey=event["pubkey"],
        verb=verbs[0],
        hashes=hashes,
        servers=servers,
        expiration=expiration,
        event=event,
    )


def require_covers(auth: BlossomAuth, sha256: str, status: int = 403) -> None:
    """The token must name this blob in an ``x`` tag (several tags never widen the action)."""
    if not auth.covers(sha256):
        raise AuthError(status, f"authorization does not cover blob {sha256} (no matching 'x' tag)")


def require_get_scope(auth: BlossomAuth, sha256: str) -> None:
    """BUD-01 get tokens name the blob (``x``) or the server (``server``, already checked as ours)."""
    if not auth.covers(sha256) and not auth.servers:
        raise AuthError(403, "a 'get' authorization must name this blob ('x') or this server ('server')")
