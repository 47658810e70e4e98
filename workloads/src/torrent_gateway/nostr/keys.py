"""The server's Nostr identity: the key that signs our announcements and relay AUTH.

Taken from ``nostr.private_key`` (hex or nsec) when set; otherwise read from the key file
(``nostr.key_file``, default ``<storage.path>/nostr.key``), generating it on first start with
0600 permissions so the server keeps one identity across restarts.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nostr_sdk

from ..config import ConfigError, Settings
from .events import sign_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerKeys:
    """A loaded key pair; the secret never appears in repr or logs."""

    keys: nostr_sdk.Keys
    pubkey: str
    source: str

    def sign(self, *, kind: int, content: str, tags: list[list[str]], created_at: int) -> dict[str, Any]:
        return sign_event(self.keys, kind=kind, content=content, tags=tags, created_at=created_at)

    def relay_auth(self, relay: str, challenge: str) -> dict[str, Any]:
        """The NIP-42 answer to a relay's AUTH challenge (a kind 22242 event)."""
        tags = [["relay", relay], ["challenge", challenge]]
        return self.sign(kind=22242, content="", tags=tags, created_at=int(time.time()))

    def __repr__(self) -> str:
        return f"ServerKeys(pubkey={self.pubkey}, source={self.source})"


def npub_of(pubkey_hex: str) -> str:
    """The NIP-19 ``npub`` spelling of a hex public key."""
    return str(nostr_sdk.PublicKey.parse(pubkey_hex).to_bech32())


def parse_secret_key(text: str) -> nostr_sdk.Keys:
    """Keys from a hex or nsec secret; ValueError (without the secret) when it is not one."""
    value = text.strip()
    try:
        return nostr_sdk.Keys.parse(value)
    except Exception:
        raise ValueError("not a 64-character hex or nsec1… secret key") from None


def _key_file(settings: Settings) -> Path:
    if settings.nostr.key_file:
        return Path(settings.nostr.key_file)
    return Path(settings.storage.path) / "nostr.key"


def _write_new_key(path: Path) -> nostr_sdk.Keys:
    keys = nostr_sdk.Keys.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(path)
    # Written whole to a private temp file, then hard-linked into place: a crash never leaves
    # a half-written key, and if another process wins the race we read its key (link fails).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".nostr-key-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(keys.secret_key().to_hex() + "\n")
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return keys


def load_server_keys(settings: Settings) -> ServerKeys:
    secret = settings.nostr.private_key.get_secret_value()
    if secret:
        try:
            keys = parse_secret_key(secret)
        except ValueError as exc:
            raise ConfigError(f"nostr.private_key (env TGW_NOSTR__PRIVATE_KEY): {exc}") from None
        return ServerKeys(keys=keys, pubkey=keys.public_key().to_hex(), source="config")
    path = _key_file(settings)
    try:
        keys = _write_new_key(path)
        log.info("generated a new Nostr server key in %s (pubkey %s)", path, keys.public_key().to_hex())
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("Nostr key file %s is readable by others (mode %o): chmod 600 it", path, mode)
        try:
            keys = parse_secret_key(path.read_text())
        except ValueError as exc:
            raise ConfigError(f"nostr key file {path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the Nostr key file {path}: {exc.strerror}") from None
    return ServerKeys(keys=keys, pubkey=keys.public_key().to_hex(), source=str(path))
