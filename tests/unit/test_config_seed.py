"""The original gateway's config.yaml, translated key by key into ours; our keys stay strict."""

from __future__ import annotations

from pathlib import Path

import pytest
from torrent_gateway.config import ConfigError, load_settings
from torrent_gateway.config_seed import SEED_KEYS, parse_size

SEED_CONFIG = Path(__file__).parents[1] / "fixtures" / "seed" / "config.yaml"
ADMIN = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d"


def test_the_seed_file_maps_onto_our_settings() -> None:
    settings = load_settings(SEED_CONFIG)
    assert settings.storage.path == "./data"
    assert settings.storage.max_file_size == 10 * 1024**3
    assert settings.storage.blob_threshold == 100 * 1024**2 and settings.storage.chunk_size == 2 * 1024**2
    assert (settings.state.backend, settings.state.sqlite_path) == ("sqlite", "./data/metadata.db")
    assert settings.auth.admin_pubkeys == [ADMIN]
    assert settings.blossom.serve_port == 8082 and settings.blossom.max_blob_size == 100 * 1024**2
    assert settings.rate_limiting.upload.max_file_size == 10 * 1024**2
    assert settings.rate_limiting.stream.max_concurrent == 50
    assert settings.rate_limiting.auth.login_attempts_per_minute == 5
    assert settings.gc.retention_days == 365
    assert settings.dht.port == 6883 and settings.nostr.relays == ["wss://relay.damus.io", "wss://nos.lol"]


def test_one_note_per_translated_seed_key() -> None:
    notes = load_settings(SEED_CONFIG).config_notes
    seed_keys_in_file = [
        "gateway.enabled",
        "gateway.storage_path",
        "gateway.max_upload_size",
        "blossom.port",
        "blossom.storage_path",
        "blossom.max_blob_size",
        "storage.blob_threshold",
        "storage.chunk_size",
        "database.path",
        "admin.enabled",
        "admin.pubkeys",
        "admin.auto_cleanup",
        "admin.max_file_age",
        "rate_limiting.upload.max_file_size",
        "rate_limiting.auth.requests_per_second",
        "rate_limiting.auth.burst_size",
    ]
    assert all(key in SEED_KEYS for key in seed_keys_in_file)
    assert len(notes) == len(seed_keys_in_file)
    for key in seed_keys_in_file:
        assert sum(f"seed key {key} " in note for note in notes) == 1, key
    assert any("gateway.storage_path = './data' -> storage.path = './data'" in note for note in notes)


def test_our_own_file_gives_no_notes(tmp_path: Path) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text("storage:\n  path: /srv/data\n  max_file_size: 1048576\nblossom:\n  port: 8089\n")
    settings = load_settings(ours)
    assert settings.config_notes == []
    # blossom.port is ours too (the standalone Blossom component): no extra serve listener.
    assert (settings.blossom.port, settings.blossom.serve_port) == (8089, 0)


def test_a_key_nobody_knows_is_still_an_error_with_a_suggestion(tmp_path: Path) -> None:
    text = SEED_CONFIG.read_text().replace('  storage_path: "./data"', '  storage_pth: "./data"', 1)
    broken = tmp_path / "config.yaml"
    broken.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(broken)
    message = str(caught.value)
    assert "gateway.storage_pth" in message and "unknown key" in message
    assert "did you mean" in message


def test_a_bad_seed_size_names_its_key(tmp_path: Path) -> None:
    broken = tmp_path / "config.yaml"
    broken.write_text('gateway:\n  max_upload_size: "ten gigs"\n')
    with pytest.raises(ConfigError, match=r"gateway.max_upload_size: 'ten gigs' is not a size"):
        load_settings(broken)


def test_auto_cleanup_off_keeps_files_forever(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('admin:\n  auto_cleanup: false\n  max_file_age: "30d"\n')
    settings = load_settings(config)
    assert settings.gc.retention_days == 0
    assert any("admin.max_file_age ignored" in note for note in settings.config_notes)


@pytest.mark.parametrize(
    ("text", "size"),
    [("100MB", 100 * 1024**2), ("10mb", 10 * 1024**2), ("2GiB", 2 * 1024**3), ("512", 512), ("1.5KB", 1536)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text, "k") == size
