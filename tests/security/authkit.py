"""Shared by the identity-and-abuse security tests: a real serve-mode gateway on 127.0.0.1, keys,
login events signed by nostr-sdk (not our code), and a raw-socket request for attacks that
depend on what the server reads before it answers."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import nostr_sdk

from tests.integration.nostr.helpers import sdk_sign
from tests.support.gateway import RunningGateway, running_gateway


@contextlib.contextmanager
def serve(
    data_dir: Path, admin: nostr_sdk.Keys | None = None, **sections: dict[str, Any]
) -> Iterator[RunningGateway]:
    """``torrent-gateway serve``'s composition with the security defaults (no public file list)."""
    sections.setdefault("gateway", {}).setdefault("public_file_list", False)
    if admin is not None:
        sections.setdefault("auth", {})["admin_pubkeys"] = [admin.public_key().to_hex()]
    with running_gateway(data_dir, serve=True, **sections) as gateway:
        yield gateway


def challenge(base: str, **headers: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/api/auth/challenge", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bound_event(
    keys: nostr_sdk.Keys, base: str, value: str, *, created_at: int | None = None
) -> dict[str, Any]:
    """A kind 22242 login event bound to the gateway at ``base``."""
    return sdk_sign(
        keys, 22242, [["relay", base], ["challenge", value]], created_at=created_at or int(time.time())
    )


def login(base: str, keys: nostr_sdk.Keys) -> httpx.Response:
    event = bound_event(keys, base, challenge(base)["challenge"])
    return httpx.post(f"{base}/api/auth/login", json={"auth_type": "nip07", "event": event})


def bearer(base: str, keys: nostr_sdk.Keys) -> dict[str, str]:
    response = login(base, keys)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def raw_request(base: str, head: str, body_prefix: bytes, *, wait: float = 5.0) -> bytes:
    """Send a request head and only the start of its body; return what the server answers within
    ``wait`` seconds without the rest (b"" when it keeps waiting for the body)."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as sock:
        sock.sendall(head.encode() + body_prefix)
        received = b""
        deadline = time.monotonic() + wait
        try:
            while b"\r\n\r\n" not in received and time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
        return received


def status_of(raw: bytes) -> int | None:
    if not raw.startswith(b"HTTP/1.1 "):
        return None
    return int(raw[9:12])
