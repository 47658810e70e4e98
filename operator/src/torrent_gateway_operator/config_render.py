"""TorrentGateway spec → the workloads' own ``Settings`` → a ConfigMap file plus env vars.

The operator builds the configuration by instantiating ``torrent_gateway.config.Settings``,
the very model every workload loads at start, so a spec the workloads would refuse is
refused here first and the two can never drift. Secrets never enter the ConfigMap: every
``SecretStr`` field of ``Settings`` is left out of the file and reaches the pods as an env
var (``TGW_<SECTION>__<KEY>``) from a ``secretKeyRef``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, get_args

import yaml
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from torrent_gateway.config import Settings, describe_validation_error

from .names import Names
from .spec import SpecError, TorrentGatewaySpec

CONFIG_DIR = "/etc/torrent-gateway"
CONFIG_KEY = "config.yaml"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_KEY}"
CACHE_DIR = "/var/cache/torrent-gateway"
MINIO_PORT = 9000
REDIS_PORT = 6379
# Stand-ins that satisfy the settings validators; the real values come from Secrets at run time.
_SECRET_SLOT = {
    ("state", "redis_url"): "redis://secret-from-env:6379/0",
}

Path = tuple[str, ...]
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: same output, faster


class _SpecSettings(Settings):
    """``Settings`` fed only by what the operator passes: never the operator's own env or files."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True)
class SecretSource:
    """Where a secret setting comes from: one key of one Secret."""

    secret: str
    key: str
    generated: bool  # made by the operator (never overwritten) rather than supplied by the user


@dataclass(frozen=True)
class RenderedConfig:
    settings: Settings
    config_yaml: str
    checksum: str
    secrets: dict[Path, SecretSource] = field(default_factory=dict)


# Which secret settings each component's pods receive (least exposure: nothing else).
COMPONENT_SECRETS: dict[str, tuple[Path, ...]] = {
    "gateway": (
        ("storage", "s3", "access_key"),
        ("storage", "s3", "secret_key"),
        ("state", "redis_url"),
        ("nostr", "private_key"),
    ),
    "blossom": (("storage", "s3", "access_key"), ("storage", "s3", "secret_key"), ("state", "redis_url")),
    "tracker": (
        ("storage", "s3", "access_key"),
        ("storage", "s3", "secret_key"),
        ("state", "redis_url"),
        ("tracker", "secret"),
    ),
    "dht": (("storage", "s3", "access_key"), ("storage", "s3", "secret_key"), ("state", "redis_url")),
}


def env_name(path: Path) -> str:
    """The env var pydantic-settings reads for a settings path: TGW_<SECTION>__<KEY>."""
    return "TGW_" + "__".join(part.upper() for part in path)


def secret_paths(model: type[BaseModel] = Settings, prefix: Path = ()) -> list[Path]:
    """Every ``SecretStr`` field of the settings tree, as a path of field names."""
    found: list[Path] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        candidates = (annotation, *get_args(annotation))
        if any(c is SecretStr for c in candidates):
            found.append((*prefix, name))
            continue
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found.extend(secret_paths(candidate, (*prefix, name)))
    return found


def secret_sources(spec: TorrentGatewaySpec, names: Names) -> dict[Path, SecretSource]:
    """The Secret and key behind each secret setting, user-supplied or generated."""
    sources: dict[Path, SecretSource] = {}
    minio = spec.storage.minio
    if minio.external is not None:
        creds = minio.external.credentials_secret
        sources[("storage", "s3", "access_key")] = SecretSource(creds.name, creds.access_key_key, False)
        sources[("storage", "s3", "secret_key")] = SecretSource(creds.name, creds.secret_key_key, False)
    else:
        sources[("storage", "s3", "access_key")] = SecretSource(names.minio_credentials, "root-user", True)
        sources[("storage", "s3", "secret_key")] = SecretSource(
            names.minio_credentials, "root-password", True
        )
    redis = spec.redis
    if redis.external is not None:
        sources[("state", "redis_url")] = SecretSource(
            redis.external.url_secret.name, redis.external.url_secret.key, False
        )
    else:
        sources[("state", "redis_url")] = SecretSource(names.redis_credentials, "url", True)
    if spec.tracker.secret_ref is not None:
        sources[("tracker", "secret")] = SecretSource(
            spec.tracker.secret_ref.name, spec.tracker.secret_ref.key, False
        )
    else:
        sources[("tracker", "secret")] = SecretSource(names.tracker_secret, "secret", True)
    if spec.nostr.private_key_secret is not None:
        ref = spec.nostr.private_key_secret
        sources[("nostr", "private_key")] = SecretSource(ref.name, ref.key, False)
    else:
        sources[("nostr", "private_key")] = SecretSource(names.nostr_key, "private-key", True)
    return sources


def settings_input(spec: TorrentGatewaySpec, name: str, namespace: str) -> dict[str, Any]:
    """The sections the operator decides; everything else keeps the workloads' defaults."""
    names = Names(name)
    minio = spec.storage.minio
    if minio.external is not None:
        s3 = {
            "endpoint": minio.external.endpoint,
            "bucket": minio.external.bucket,
            "secure": minio.external.secure,
            "region": minio.external.region,
        }
        if minio.external.public_endpoint:
            s3["public_endpoint"] = minio.external.public_endpoint
            s3["redirect_downloads"] = True
    else:
        assert minio.managed is not None
        s3 = {
            "endpoint": f"{names.minio}.{namespace}.svc:{MINIO_PORT}",
            "bucket": minio.managed.bucket,
            "secure": False,
        }
    s3["cache_dir"] = CACHE_DIR
    public_url = spec.effective_public_url
    # udp:// is only advertised where clients can reach it: a tracker URL the user exposed.
    advertise_udp = spec.tracker.udp and spec.tracker.public_url is not None
    limits = spec.rate_limits
    return {
        "gateway": {
            "host": "0.0.0.0",
            "port": 9876,
            "public_url": public_url,
            "anonymous_uploads": spec.gateway.anonymous_uploads,
            "web_ui": spec.gateway.web_ui,
            "chunk_cache_bytes": spec.gateway.chunk_cache_bytes,
            "trusted_proxies": list(spec.gateway.trusted_proxies),
        },
        "storage": {
            "backend": "s3",
            "blob_threshold": spec.storage.blob_threshold,
            "chunk_size": spec.storage.chunk_size,
            "max_file_size": spec.storage.max_file_size,
            "hybrid_torrents": spec.storage.hybrid_torrents,
            "s3": s3,
        },
        "state": {"backend": "redis", "redis_url": _SECRET_SLOT[("state", "redis_url")]},
        "blossom": {
            "enabled": spec.blossom.enabled,
            "host": "0.0.0.0",
            "port": 8081,
            "public_url": spec.blossom_public_url,
            "require_auth": list(spec.blossom.require_auth),
            "allowed_pubkeys": list(spec.blossom.allowed_pubkeys),
            "allowed_types": list(spec.blossom.allowed_types),
            "max_blob_size": spec.blossom.max_blob_size,
            "quota_bytes": spec.blossom.quota_bytes,
        },
        "tracker": {
            "enabled": spec.tracker.enabled,
            "host": "0.0.0.0",
            "port": 6969,
            "udp": advertise_udp,
            "public_url": spec.tracker.public_url or "",
            "interval": spec.tracker.interval,
            "policy": spec.tracker.policy,
            "trusted_proxies": list(spec.gateway.trusted_proxies),
        },
        "dht": {
            "enabled": spec.dht.enabled,
            "port": 6882,
            "http_port": 8082,
            "bootstrap_nodes": list(spec.dht.bootstrap_nodes),
            "announce_interval": spec.dht.announce_interval,
            "shard_count": max(spec.dht.replicas, 1),
            "cache_bytes": spec.dht.cache_bytes,
        },
        "nostr": {"relays": list(spec.nostr.relays), "publish": spec.nostr.publish},
        "auth": {"admin_pubkeys": list(spec.auth.admin_pubkeys), "session_ttl": spec.auth.session_ttl},
        "rate_limiting": {
            "enabled": limits.enabled,
            "upload": {
                "requests_per_second": limits.upload.requests_per_second,
                "burst_size": limits.upload.burst_size,
                "max_file_size": limits.upload.max_file_size,
            },
            "download": {
                "requests_per_second": limits.download.requests_per_second,
                "burst_size": limits.download.burst_size,
            },
            "stream": {
                "requests_per_second": limits.stream.requests_per_second,
                "burst_size": limits.stream.burst_size,
                "max_concurrent": limits.stream.max_concurrent,
            },
            "auth": {"login_attempts_per_minute": limits.auth.login_attempts_per_minute},
            "tracker": {
                "requests_per_second": limits.tracker.requests_per_second,
                "burst_size": limits.tracker.burst_size,
            },
        },
        "hls": {
            "enabled": spec.hls.enabled,
            "renditions": list(spec.hls.renditions),
            "segment_seconds": spec.hls.segment_seconds,
        },
        "logging": {"level": spec.logging.level, "json_format": spec.logging.json_},
    }


def render(spec: TorrentGatewaySpec, name: str, namespace: str) -> RenderedConfig:
    """Validate the workloads' settings for this spec and render the ConfigMap file.

    Raises SpecError (naming the settings key) when the workloads would refuse the result.
    """
    data = settings_input(spec, name, namespace)
    try:
        settings: Settings = _SpecSettings(**data)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc).replace("\n", " ")) from None
    dumped = settings.model_dump(mode="json", exclude_unset=True)
    for path in secret_paths():
        _drop(dumped, path)
    text = (
        f"# Rendered by {__package__.replace('_', '-')} from TorrentGateway {namespace}/{name}.\n"
        "# Edit the TorrentGateway, not this file: the operator restores it. Secrets come from env vars.\n"
        + yaml.dump(dumped, Dumper=_DUMPER, sort_keys=True, default_flow_style=False)
    )
    checksum = hashlib.sha256(text.encode()).hexdigest()
    return RenderedConfig(
        settings=settings, config_yaml=text, checksum=checksum, secrets=secret_sources(spec, Names(name))
    )


def _drop(tree: dict[str, Any], path: Path) -> None:
    node: Any = tree
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


def component_env(rendered: RenderedConfig, component: str) -> list[dict[str, Any]]:
    """Env vars of one component's container: the config file, its secrets, and its pod identity."""
    env: list[dict[str, Any]] = [{"name": "TGW_CONFIG", "value": CONFIG_PATH}]
    for path in COMPONENT_SECRETS[component]:
        source = rendered.secrets[path]
        env.append(
            {
                "name": env_name(path),
                "valueFrom": {"secretKeyRef": {"name": source.secret, "key": source.key}},
            }
        )
    if component == "dht":
        # Each DHT pod seeds its own shard: its StatefulSet ordinal, from the pod-index label.
        env.append(
            {
                "name": env_name(("dht", "shard_index")),
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}},
            }
        )
    return env
