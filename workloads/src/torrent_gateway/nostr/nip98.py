"""NIP-98 HTTP auth: a kind 27235 event that signs one HTTP request (URL, method, body hash).

Pure: the caller passes the absolute request URL(s) it answers to, the method, the body's
SHA-256 when it has the body, and the current time. A session-less alternative to login
tokens, accepted on every API call.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from .events import HEX64, InvalidEvent, tag_value, verify_event

HTTP_AUTH_KIND = 27235
MAX_SKEW_SECONDS = 60.0


def _normalise(url: str) -> tuple[str, str, str, str]:
    """Scheme and host compare case-insensitively; path and query exactly (they are the request)."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc.lower()
    default_port = {"http": ":80", "https": ":443"}.get(parts.scheme.lower())
    if default_port and netloc.endswith(default_port):
        netloc = netloc[: -len(default_port)]
    return parts.scheme.lower(), netloc, parts.path or "/", parts.query


def same_url(first: str, second: str) -> bool:
    """Whether two absolute URLs name the same resource (scheme/host case and default port aside)."""
    return _normalise(first) == _normalise(second)


def verify_http_auth(
    event: Any,
    *,
    urls: str | Iterable[str],
    method: str,
    body_sha256: str | None = None,
    now: float | None = None,
    max_skew: float = MAX_SKEW_SECONDS,
) -> str:
    """Check a NIP-98 event against the request; return the signer's hex pubkey.

    ``urls`` are the absolute URLs this request may be known by (e.g. the configured public
    URL and the one the server saw); the ``u`` tag must equal one of them. ``body_sha256`` is
    the hex SHA-256 of the body when the caller read it: a ``payload`` tag is then required to
    match it. When the caller did not read the body (None) a ``payload`` tag is left for the
    caller to compare later (:func:`payload_tag`). Raises :class:`InvalidEvent`.
    """
    verify_event(event, kinds={HTTP_AUTH_KIND})
    current = time.time() if now is None else now
    if abs(current - event["created_at"]) > max_skew:
        raise InvalidEvent(
            f"authorization event is stale: created_at must be within {int(max_skew)} s of now"
        )
    url_tag = tag_value(event, "u")
    if not url_tag:
        raise InvalidEvent("authorization event has no 'u' tag")
    candidates = [urls] if isinstance(urls, str) else list(urls)
    if _normalise(url_tag) not in {_normalise(u) for u in candidates}:
        raise InvalidEvent("authorization event is for another URL ('u' tag)")
    method_tag = tag_value(event, "method")
    if not method_tag or method_tag.upper() != method.upper():
        raise InvalidEvent(
            f"authorization event is for another method ('method' tag must be {method.upper()})"
        )
    payload = payload_tag(event)
    if payload is not None and body_sha256 is not None and payload != body_sha256.lower():
        raise InvalidEvent("request body does not match the authorization event's 'payload' hash")
    return str(event["pubkey"])


def payload_tag(event: dict[str, Any]) -> str | None:
    """The ``payload`` tag (lowercase hex SHA-256 of the body), or None; malformed → InvalidEvent."""
    value = tag_value(event, "payload")
    if value is None:
        return None
    if not HEX64.match(value.lower()):
        raise InvalidEvent("'payload' tag must be the hex SHA-256 of the body")
    return value.lower()
