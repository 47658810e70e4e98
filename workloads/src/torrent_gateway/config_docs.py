"""Renders a settings tree as commented YAML: every key with its description and env var.

``configs/config.yaml`` is this rendering of the defaults (a test keeps them equal), so the
documented file can never drift from the model.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, SecretStr

from .config import Settings

HEADER = """\
# Torrent Gateway configuration.
#
# Every key can also be set by an environment variable TGW_<SECTION>__<KEY> (nested keys joined
# by "__"), e.g. TGW_STORAGE__BLOB_THRESHOLD=50000000; environment variables win over this file.
# Secrets (keys, passwords) belong in environment variables, not here.
"""


def _scalar(value: Any) -> str:
    if isinstance(value, SecretStr):
        # Only defaults are rendered here, and they hold no secret (empty, or a local Redis URL).
        value = value.get_secret_value()
    return json.dumps(value)


def _render(model: BaseModel, path: list[str], indent: int, lines: list[str]) -> None:
    fields = type(model).model_fields
    for name, info in fields.items():
        value = getattr(model, name)
        env = "TGW_" + "__".join(p.upper() for p in [*path, name])
        pad = "  " * indent
        description = info.description or (type(value).__doc__ or "").strip().splitlines()[0:1]
        if isinstance(description, list):
            description = description[0] if description else name
        if isinstance(value, BaseModel):
            lines.append(f"{pad}# {description}")
            lines.append(f"{pad}{name}:")
            _render(value, [*path, name], indent + 1, lines)
            continue
        lines.append(f"{pad}# {description} (env {env})")
        if isinstance(value, list):
            lines.append(f"{pad}{name}: {json.dumps(value)}")
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}")


SECTION_TITLES = {
    "gateway": "The gateway: REST API, web UI, WebSeed, downloads.",
    "storage": "Where file bytes live: a local directory or an S3/MinIO bucket.",
    "state": "Sessions, bans, blocks, reports, audit, counters, indexes: in a SQLite file (one process), "
    "in Redis with durable records in the object store (cluster), or in memory (tests).",
    "blossom": "The Blossom server (BUD-01/02/04/06/08/09/11/12).",
    "tracker": "The BitTorrent tracker: HTTP, UDP (BEP 15) and WebSocket (WebTorrent).",
    "dht": "The mainline DHT node and seeder (libtorrent).",
    "nostr": "Nostr announcements of new files.",
    "auth": "Logins and administrators.",
    "rate_limiting": "Rate limits (per client IP unless noted).",
    "hls": "HLS streaming of uploaded videos.",
    "monitoring": "Health scores and alerts.",
    "gc": "Garbage collection of bytes no file uses, and optional retention by age.",
    "logging": "Log output.",
}


def render_commented_yaml(settings: Settings | None = None) -> str:
    settings = settings or Settings.model_construct()
    lines = [HEADER]
    for name in type(settings).model_fields:
        section = getattr(settings, name)
        lines.append(f"# {SECTION_TITLES.get(name, name)}")
        lines.append(f"{name}:")
        _render(section, [name], 1, lines)
        lines.append("")
    return "\n".join(lines)
