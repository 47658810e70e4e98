"""Kind 1063 announcements carry what the original gateway's carried: name, magnet and size."""

from __future__ import annotations

from pathlib import Path

from torrent_gateway.nostr.announce import announcement_templates

from .test_announce import INFOHASH, manifest, settings, tags_of


def test_file_metadata_event_carries_the_seed_name_magnet_and_size_tags(tmp_path: Path) -> None:
    file_event, _ = announcement_templates(manifest(), settings(tmp_path), 1_700_000_000)
    tags = tags_of(file_event)
    assert tags["name"] == [["talk video.mp4"]]
    assert tags["size"] == [[str(5 * 1024 * 1024)]]
    assert tags["magnet"][0][0].startswith(f"magnet:?xt=urn:btih:{INFOHASH}")
