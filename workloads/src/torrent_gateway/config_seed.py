"""The original (seed) gateway's ``config.yaml``, accepted as it is: each of its keys is moved to
ours before validation, with one note per key (logged at start: ``Settings.config_notes``).

The seed kept its settings in differently named places (``gateway.storage_path``,
``database.path``, ``admin.pubkeys``), wrote sizes as strings (``"100MB"``) and had a few keys
we have no use for (``admin.enabled``). Translation runs on the YAML file's dictionary only:
our model stays strict, so a key that neither we nor the seed know is still refused, with a
"did you mean" (``config.describe_validation_error``).

Seed sizes: a number with an optional unit B, KB, MB, GB, TB (powers of 1024, as the seed
parsed them; KiB/MiB/GiB/TiB are accepted as the same), e.g. ``"100MB"`` = 104857600 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class SeedConfigError(ValueError):
    """A seed key whose value cannot be translated; the message names the key."""


def parse_size(value: Any, key: str) -> int:
    """Bytes from an int or a seed size string such as ``"100MB"``."""
    if isinstance(value, bool):
        raise SeedConfigError(f"{key}: {value!r} is not a size")
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if match is None:
        raise SeedConfigError(f'{key}: {value!r} is not a size (e.g. 1048576, "10MB", "2GB")')
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").lower()[:1]])


def parse_days(value: Any, key: str) -> float:
    """Days from a number of days or a duration string such as ``"90d"`` or ``"12h"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise SeedConfigError(f'{key}: {value!r} is not a duration (e.g. "90d", "12h")')
    number, unit = match.groups()
    return float(number) * _SECONDS[unit.lower()] / 86400


def _pubkey(value: Any, key: str) -> str:
    text = str(value).strip()
    if text.startswith("npub1"):
        try:
            import nostr_sdk

            return str(nostr_sdk.PublicKey.parse(text).to_hex())
        except Exception as exc:  # nostr_sdk raises its own error types
            raise SeedConfigError(f"{key}: {text!r} is not a valid npub ({exc})") from None
    return text.lower()


def _pubkeys(value: Any, key: str) -> list[str]:
    if not isinstance(value, list):
        raise SeedConfigError(f"{key}: expected a list of pubkeys")
    return [_pubkey(item, key) for item in value]


def _identity(value: Any, key: str) -> Any:
    return value


def _size(value: Any, key: str) -> int:
    return parse_size(value, key)


# seed dotted key → (our dotted key, or None when the seed setting has no counterpart here;
# converter; why it has none / what it means here)
Rule = tuple[str | None, Callable[[Any, str], Any], str]

SEED_KEYS: dict[str, Rule] = {
    "gateway.storage_path": ("storage.path", _identity, "data directory"),
    "gateway.max_upload_size": ("storage.max_file_size", _size, "largest upload"),
    "gateway.enabled": (None, _identity, "the gateway always runs in serve"),
    "database.path": ("state.sqlite_path", _identity, "SQLite state file (state.backend sqlite)"),
    "admin.pubkeys": ("auth.admin_pubkeys", _pubkeys, "admin pubkeys"),
    "admin.enabled": (None, _identity, "the admin API is on whenever auth.admin_pubkeys names someone"),
    "admin.auto_cleanup": (None, _identity, "garbage collection always runs (gc.enabled)"),
    "admin.max_file_age": ("gc.retention_days", parse_days, "files older than this are removed"),
    "blossom.port": ("blossom.serve_port", _identity, "serve also answers Blossom on this port"),
    "blossom.storage_path": (None, _identity, "Blossom blobs share storage.path with every other file"),
    "blossom.max_blob_size": ("blossom.max_blob_size", _size, "largest Blossom upload"),
    "blossom.max_file_size": ("blossom.max_blob_size", _size, "largest Blossom upload"),
    "storage.blob_threshold": ("storage.blob_threshold", _size, "files below this are stored whole"),
    "storage.chunk_size": ("storage.chunk_size", _size, "chunk and torrent piece size"),
    "storage.max_file_size": ("storage.max_file_size", _size, "largest upload"),
    "rate_limiting.upload.max_file_size": ("rate_limiting.upload.max_file_size", _size, "largest upload"),
    "rate_limiting.auth.burst_size": (
        "rate_limiting.auth.login_attempts_per_minute",
        _identity,
        "login attempts a client may make in one minute",
    ),
    "rate_limiting.auth.requests_per_second": (
        None,
        _identity,
        "logins are limited per minute (rate_limiting.auth.login_attempts_per_minute, from burst_size)",
    ),
}

# Seed keys that are also keys of ours with another meaning: translated only in a file that is
# recognisably the seed's (it has a key only the seed has), and kept as ours as well.
# ``blossom.port`` is our standalone Blossom component's port, and the seed's Blossom listener.
SHARED_KEYS = frozenset({"blossom.port"})

# The YAML paths under which a value is a size in our own model too ("10MB" accepted there).
_OUR_SIZE_KEYS = {
    "storage.blob_threshold",
    "storage.chunk_size",
    "storage.max_file_size",
    "blossom.max_blob_size",
    "rate_limiting.upload.max_file_size",
}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _pop(data: dict[str, Any], dotted: str) -> None:
    parts = dotted.split(".")
    parents = [data]
    for part in parts[:-1]:
        parents.append(parents[-1][part])
    del parents[-1][parts[-1]]
    # Sections the seed had and we do not (database, admin) must not be left behind empty.
    for depth in range(len(parts) - 1, 0, -1):
        if parents[depth]:
            break
        del parents[depth - 1][parts[depth - 1]]


def _put(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def translate_seed_config(
    data: dict[str, Any], notes: list[str], source: str = "config file"
) -> dict[str, Any]:
    """``data`` (a parsed YAML file) with every seed key moved to ours; ours pass unchanged.
    One line per translated key is appended to ``notes``.

    Raises SeedConfigError naming the key when a seed value cannot be read.
    """
    if not isinstance(data, dict):
        return data
    flat = _flatten(data)
    result: dict[str, Any] = _copy(data)
    is_seed_file = any(
        key in SEED_KEYS and key not in SHARED_KEYS and SEED_KEYS[key][0] != key for key in flat
    )
    for dotted, value in flat.items():
        rule = SEED_KEYS.get(dotted)
        if dotted in SHARED_KEYS and not is_seed_file:
            continue
        if rule is None:
            if dotted in _OUR_SIZE_KEYS and isinstance(value, str):
                size = parse_size(value, dotted)
                _put(result, dotted, size)
                notes.append(f"{source}: {dotted} = {value!r} read as {size} bytes")
            continue
        target, convert, meaning = rule
        if dotted == "admin.max_file_age" and flat.get("admin.auto_cleanup") is False:
            target, meaning = None, "admin.auto_cleanup is false: files are kept"
        converted = convert(value, dotted)
        if target == dotted and converted == value:
            continue  # one of our own keys, already in our form
        if target != dotted and dotted not in SHARED_KEYS:
            _pop(result, dotted)
        if target is None:
            notes.append(f"{source}: seed key {dotted} ignored: {meaning}")
            continue
        _put(result, target, converted)
        if target == "state.sqlite_path":
            _put(result, "state.backend", _get(result, "state.backend") or "sqlite")
        notes.append(f"{source}: seed key {dotted} = {value!r} -> {target} = {converted!r} ({meaning})")
    return result


def _get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _copy(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_copy(item) for item in data]
    return data
