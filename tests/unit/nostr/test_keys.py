"""The server key: from config (hex, nsec), else generated once into a 0600 file and reused."""

from __future__ import annotations

import stat
from pathlib import Path

import nostr_sdk
import pytest
from torrent_gateway.config import ConfigError, load_settings
from torrent_gateway.nostr.events import verify_event
from torrent_gateway.nostr.keys import load_server_keys


def settings_for(tmp_path: Path, **nostr: str) -> object:
    return load_settings(None, storage={"path": str(tmp_path / "data")}, nostr=nostr)


def test_hex_and_nsec_secrets_from_config(tmp_path: Path) -> None:
    keys = nostr_sdk.Keys.generate()
    for secret in (keys.secret_key().to_hex(), keys.secret_key().to_bech32()):
        loaded = load_server_keys(settings_for(tmp_path, private_key=secret))  # type: ignore[arg-type]
        assert loaded.pubkey == keys.public_key().to_hex() and loaded.source == "config"
        assert secret not in repr(loaded)
    assert not (tmp_path / "data" / "nostr.key").exists()


def test_invalid_secret_is_a_config_error_without_the_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_server_keys(settings_for(tmp_path, private_key="nsec1notakey"))  # type: ignore[arg-type]
    assert "TGW_NOSTR__PRIVATE_KEY" in str(caught.value) and "nsec1notakey" not in str(caught.value)


def test_generated_once_with_private_permissions_then_reused(tmp_path: Path) -> None:
    first = load_server_keys(settings_for(tmp_path))  # type: ignore[arg-type]
    path = tmp_path / "data" / "nostr.key"
    assert first.source == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_server_keys(settings_for(tmp_path))  # type: ignore[arg-type]
    assert second.pubkey == first.pubkey
    assert [p.name for p in path.parent.iterdir()] == ["nostr.key"]  # no temp files left
    event = second.sign(kind=1, content="x", tags=[], created_at=1_700_000_000)
    verify_event(event)
    assert event["pubkey"] == first.pubkey


def test_configured_key_file_and_corrupt_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "server.key"
    loaded = load_server_keys(settings_for(tmp_path, key_file=str(key_file)))  # type: ignore[arg-type]
    assert key_file.is_file() and loaded.source == str(key_file)
    key_file.write_text("garbage\n")
    with pytest.raises(ConfigError, match="not a 64-character hex or nsec"):
        load_server_keys(settings_for(tmp_path, key_file=str(key_file)))  # type: ignore[arg-type]
