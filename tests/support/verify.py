"""Verifying a store from outside: every manifest's bytes hash to its sha256, nothing half-visible."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def verify_filesystem_store(root: Path) -> dict[str, int]:
    """Check every manifest under ``root``; returns counts. Raises AssertionError on any damage."""
    files = 0
    verified_bytes = 0
    for manifest_path in sorted((root / "manifests").glob("*.json")) if (root / "manifests").is_dir() else []:
        manifest = json.loads(manifest_path.read_text())
        digest = hashlib.sha256()
        if manifest["kind"] == "blob":
            parts = [root / "blobs" / manifest["sha256"]]
        else:
            parts = [root / "blobs" / chunk for chunk in manifest["chunks"]]
        size = 0
        for part in parts:
            assert part.is_file(), f"{manifest['sha256']} references missing {part.name}"
            data = part.read_bytes()
            if manifest["kind"] == "chunked":
                assert hashlib.sha256(data).hexdigest() == part.name, f"chunk {part.name} is corrupt"
            digest.update(data)
            size += len(data)
        assert size == manifest["size"], (
            f"{manifest['sha256']}: {size} bytes, manifest says {manifest['size']}"
        )
        assert digest.hexdigest() == manifest["sha256"], f"{manifest['sha256']} does not verify"
        assert (root / "torrents" / f"{manifest['sha256']}.torrent").is_file()
        files += 1
        verified_bytes += size
    from .report import record

    record("files_verified", files)
    record("bytes_verified", verified_bytes)
    return {"files": files, "bytes": verified_bytes}
