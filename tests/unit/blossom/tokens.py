"""Building BUD-11 tokens (kind 24242) and NIP-56 reports for the Blossom tests, signed with nostr-sdk keys."""

from __future__ import annotations

import base64
import json
from typing import Any

import nostr_sdk
from torrent_gateway.nostr.events import sign_event


class Signer:
    def __init__(self, keys: nostr_sdk.Keys | None = None) -> None:
        self.keys = keys or nostr_sdk.Keys.generate()
        self.pubkey = self.keys.public_key().to_hex()
        self.secret_hex = self.keys.secret_key().to_hex()

    def event(
        self, *, kind: int, tags: list[list[str]], created_at: int, content: str = ""
    ) -> dict[str, Any]:
        return sign_event(self.keys, kind=kind, content=content, tags=tags, created_at=created_at)

    def token_event(
        self,
        verb: str,
        *hashes: str,
        now: int,
        expires_in: int = 600,
        created_at: int | None = None,
        servers: tuple[str, ...] = (),
        extra: tuple[list[str], ...] = (),
        with_expiration: bool = True,
        kind: int = 24242,
    ) -> dict[str, Any]:
        tags = [["t", verb]]
        if with_expiration:
            tags.append(["expiration", str(now + expires_in)])
        tags += [["x", h] for h in hashes] + [["server", s] for s in servers] + [list(e) for e in extra]
        return self.event(
            kind=kind, tags=tags, created_at=now if created_at is None else created_at, content=f"{verb} blob"
        )

    def token(self, verb: str, *hashes: str, now: int, url_safe: bool = False, **options: Any) -> str:
        return header(self.token_event(verb, *hashes, now=now, **options), url_safe=url_safe)

    def report(self, *targets: tuple[str, str], now: int, content: str = "bad blob") -> dict[str, Any]:
        return self.event(
            kind=1984, tags=[["x", sha, kind] for sha, kind in targets], created_at=now, content=content
        )


def header(event: dict[str, Any], *, url_safe: bool = False) -> str:
    raw = json.dumps(event, separators=(",", ":")).encode()
    if url_safe:
        return "Nostr " + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return "Nostr " + base64.b64encode(raw).decode()


def tamper_signature(event: dict[str, Any]) -> dict[str, Any]:
    sig = event["sig"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    return {**event, "sig": flipped}
