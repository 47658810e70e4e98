"""The one typed settings tree for every component.

Sources, strongest first: values passed in code, environment variables
(``TGW_<SECTION>__<KEY>``, e.g. ``TGW_STORAGE__BLOB_THRESHOLD``), the YAML file
(``configs/config.yaml`` or ``--config``/``TGW_CONFIG``), then the defaults below. The YAML
file may also be the original gateway's: ``config_seed`` moves its keys to ours first.
The Kubernetes operator renders this same model into a ConfigMap and env vars, so a
workload in a cluster starts from exactly what the operator gave it.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from .config_seed import SEED_KEYS, SeedConfigError, translate_seed_config

KiB = 1024
MiB = 1024 * 1024
DEFAULT_PUBLIC_DHT_ROUTERS = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
]


BlossomVerb = Literal["get", "upload", "list", "delete", "mirror", "media"]
LimitName = Literal["upload", "download", "stream", "auth", "tracker"]
DEFAULT_AUTH_VERBS: tuple[BlossomVerb, ...] = ("upload", "delete", "mirror")
# Loopback and the private ranges a cluster's pod network uses (RFC 1918, IPv6 ULA).
DEFAULT_METRICS_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)
DEFAULT_FAIL_OPEN: tuple[LimitName, ...] = ("download", "stream", "tracker")


class ConfigError(Exception):
    """Configuration that cannot start the service; the message names the offending key."""


class _Section(BaseModel):
    model_config = {"extra": "forbid"}


class GatewaySettings(_Section):
    host: str = Field("0.0.0.0", description="Address the gateway HTTP server binds.")
    port: int = Field(9876, ge=0, le=65535, description="Gateway HTTP port (0 = any free port).")
    public_url: str = Field(
        "",
        description="Absolute base URL clients use to reach the gateway (e.g. https://gw.example.org). "
        "Empty: derived from each request's Host header.",
    )
    chunk_cache_bytes: int = Field(
        64 * MiB, ge=0, description="Upper bound of the in-memory LRU cache of hot chunks."
    )
    anonymous_uploads: bool = Field(True, description="Accept uploads without a Nostr login.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDR networks whose X-Forwarded-For / Forwarded headers are believed (an Ingress).",
    )
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = Field(
        "x-forwarded-for",
        description="The one header the trusted proxies set to name the client (X-Forwarded-For or RFC 7239 "
        "Forwarded); the other is ignored, since a client could send it through the proxy untouched.",
    )
    public_file_list: bool = Field(
        False,
        description="Let anyone list recently uploaded files (GET /api/files); off: admins only. "
        "Files stay reachable by their hash either way.",
    )
    web_ui: bool = Field(True, description="Serve the web interface at /.")
    # -- request bodies (sec-bytes) --
    max_request_body: int = Field(
        64 * KiB,
        ge=1024,
        description="Largest request body of every route but the uploads (gateway and Blossom), enforced "
        "while it streams in (413); uploads are bounded by storage.max_file_size instead.",
    )

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value


PUBLIC_ENDPOINT = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?")


class S3Settings(_Section):
    endpoint: str = Field("", description="host:port of the S3/MinIO endpoint.")
    bucket: str = Field("torrent-gateway", description="Bucket holding blobs, manifests, torrents, HLS.")
    access_key: SecretStr = Field(SecretStr(""), description="S3 access key.")
    secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key.")
    secure: bool = Field(False, description="Use TLS to reach the endpoint.")
    region: str = Field("us-east-1", description="S3 region name.")
    cache_dir: str = Field(
        "", description="Local directory for staging uploads and caching chunk files (default: temp dir)."
    )
    redirect_downloads: bool = Field(
        False,
        description="Answer a download (/api/download) of a file kept as one object with a 307 to a "
        "presigned GET of that object, so its bytes go from the object store straight to the client "
        "and not through the gateway. Needs public_endpoint.",
    )
    public_endpoint: str = Field(
        "",
        description="URL clients reach the object store at (https://s3.example.org): presigned "
        "download URLs name it and are signed for its host. Give it an origin of its own, never the "
        "gateway's: the object store cannot send the headers that keep a file from running as a page.",
    )
    redirect_ttl: int = Field(
        300, ge=10, le=3600, description="Seconds a presigned download URL stays valid."
    )

    @model_validator(mode="after")
    def _redirect_target(self) -> S3Settings:
        # The signature covers the host and the path the object store sees: a path prefix that a
        # proxy strips would make every URL fail its check. The origin also goes into the web UI's
        # CSP, so nothing but a scheme, a host and a port is let through.
        if self.public_endpoint and not PUBLIC_ENDPOINT.fullmatch(self.public_endpoint):
            raise ValueError(
                "storage.s3.public_endpoint must be http(s)://host[:port], without a path or query"
            )
        if self.redirect_downloads and not self.public_endpoint:
            raise ValueError("storage.s3.redirect_downloads needs storage.s3.public_endpoint")
        return self


class StorageSettings(_Section):
    backend: Literal["filesystem", "s3"] = Field("filesystem", description="Object store backend.")
    path: str = Field("./data", description="Root directory of the filesystem backend.")
    blob_threshold: int = Field(
        100 * 1000 * 1000, ge=1, description="Files smaller than this are stored whole as one blob."
    )
    chunk_size: int = Field(
        2 * MiB, description="Chunk size of large files, also their torrent piece length (power of two)."
    )
    max_file_size: int = Field(
        10 * 1024 * MiB, ge=1, description="Largest accepted upload in bytes (413 beyond)."
    )
    fsync: bool = Field(
        True,
        description="Filesystem backend: sync bytes to disk before a file becomes visible (survives power loss; "
        "costs write speed on slow disks).",
    )
    hybrid_torrents: bool = Field(
        False, description="Also emit BitTorrent v2 hashes (hybrid v1+v2 torrents); v1 only when false."
    )
    s3: S3Settings = Field(default_factory=S3Settings, description="S3 backend settings.")

    @field_validator("chunk_size")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value < 16 * 1024 or value & (value - 1):
            raise ValueError("must be a power of two of at least 16384")
        return value

    @model_validator(mode="after")
    def _s3_complete(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3.endpoint:
            raise ValueError("storage.s3.endpoint is required when storage.backend is s3")
        return self


class StateSettings(_Section):
    backend: Literal["sqlite", "memory", "redis"] = Field(
        "sqlite",
        description="State store backend: sqlite (one process, survives restarts), memory (tests: lost "
        "on exit), redis (cluster; records that must outlive a cache are also kept in the object store).",
    )
    sqlite_path: str = Field(
        "", description="SQLite state file of the sqlite backend (default: <storage.path>/state.sqlite3)."
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL (may carry a password)."
    )

    @model_validator(mode="after")
    def _url(self) -> StateSettings:
        if self.backend == "redis" and not self.redis_url.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("state.redis_url must be a redis://, rediss:// or unix:// URL")
        return self


class BlossomSettings(_Section):
    enabled: bool = Field(True, description="Serve the Blossom API (mounted at / in serve mode).")
    host: str = Field("0.0.0.0", description="Bind address of the standalone Blossom component.")
    port: int = Field(8081, ge=0, le=65535, description="Port of the standalone Blossom component.")
    serve_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="serve: also answer on this port (Blossom is at / there, as the original gateway's "
        "Blossom port was); 0: only on gateway.port.",
    )
    public_url: str = Field("", description="Base URL used in blob descriptors (empty: from request).")
    require_auth: list[BlossomVerb] = Field(
        default_factory=lambda: list(DEFAULT_AUTH_VERBS),
        description="Blossom verbs that need a kind 24242 authorization event.",
    )
    allowed_pubkeys: list[str] = Field(
        default_factory=list, description="Hex pubkeys allowed to upload (empty: anyone)."
    )
    max_blob_size: int = Field(100 * 1000 * 1000, ge=1, description="Largest Blossom upload in bytes.")
    allowed_types: list[str] = Field(
        default_factory=list, description="MIME types accepted (e.g. image/*); empty: all."
    )
    quota_bytes: int = Field(0, ge=0, description="Bytes each pubkey may own; 0 = unlimited.")
    mirror_allow_private: bool = Field(
        False, description="Allow /mirror to fetch from private, loopback and link-local addresses."
    )
    mirror_timeout_s: float = Field(30.0, gt=0, description="Timeout of a /mirror fetch.")


class TrackerSettings(_Section):
    enabled: bool = Field(True, description="Run the tracker (HTTP, UDP, WebSocket).")
    host: str = Field("0.0.0.0", description="Bind address of the standalone tracker.")
    port: int = Field(6969, ge=0, le=65535, description="Tracker port, TCP and UDP.")
    udp: bool = Field(True, description="Answer UDP (BEP 15) announces.")
    public_url: str = Field("", description="Announce base URL written into torrents (empty: gateway URL).")
    interval: int = Field(1800, ge=30, description="Seconds clients should wait between announces.")
    min_interval: int = Field(300, ge=1, description="Minimum announce interval enforced on clients.")
    numwant_default: int = Field(50, ge=0, description="Peers returned when the client does not ask.")
    numwant_max: int = Field(200, ge=1, description="Most peers returned in one reply.")
    peer_ttl: int = Field(3600, ge=60, description="Seconds a silent peer stays in a swarm.")
    policy: Literal["open", "known"] = Field(
        "known", description="open: any infohash; known: only torrents this gateway holds."
    )
    secret: SecretStr = Field(
        SecretStr(""), description="Shared secret for UDP connection ids (all replicas must agree)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, description="CIDR networks whose forwarded-for headers are believed."
    )
    fast_http: bool = Field(
        True,
        description="Answer HTTP announces/scrapes in the server's protocol layer (several times faster); "
        "the per-IP tracker rate limit then applies only when this is false.",
    )


class DHTSettings(_Section):
    enabled: bool = Field(True, description="Run the DHT node and seeder.")
    host: str = Field("0.0.0.0", description="Bind address of the DHT, peer and HTTP ports.")
    port: int = Field(6882, ge=0, le=65535, description="DHT node UDP port.")
    peer_port: int = Field(6881, ge=0, le=65535, description="Seeder's BitTorrent peer port (TCP and UDP).")
    data_dir: str = Field(
        "", description="Session state and seed cache (default: <storage.path>/p2p, or <s3.cache_dir>/p2p)."
    )
    geoip_database: str = Field(
        "", description="MaxMind DB file for proximity ranking of peers (empty: by prefix)."
    )
    lookup_timeout: float = Field(3.0, gt=0, description="Time limit of a DHT get_peers lookup, seconds.")
    rescan_interval: float = Field(
        60.0, gt=0, description="Seconds between the seeder's rescans of the manifests."
    )
    bootstrap_nodes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PUBLIC_DHT_ROUTERS),
        description="host:port of DHT routers to join through.",
    )
    http_port: int = Field(
        8082, ge=0, le=65535, description="HTTP port of the DHT component's health/metrics."
    )
    announce_interval: int = Field(1500, ge=60, description="Seconds between re-announces of our torrents.")
    shard_index: int = Field(0, ge=0, description="This node's ordinal when infohashes are sharded.")
    shard_count: int = Field(1, ge=1, description="Number of DHT node pods sharing the infohashes.")
    cache_bytes: int = Field(1024 * MiB, ge=0, description="Local cache of chunk files for seeding from S3.")


class NostrSettings(_Section):
    relays: list[str] = Field(
        default_factory=lambda: ["wss://relay.damus.io", "wss://nos.lol"],
        description="Relays that receive our announcements.",
    )
    private_key: SecretStr = Field(
        SecretStr(""), description="Server key (hex or nsec); generated into key_file when empty."
    )
    key_file: str = Field("", description="Where a generated server key is kept (default: <data>/nostr.key).")
    publish: bool = Field(
        True,
        description="Announce new files (NIP-94, NIP-35) on the relays, and at start the server key's "
        "profile, relay list (NIP-65) and Blossom server list (BUD-03).",
    )
    profile_name: str = Field(
        "Torrent Gateway",
        min_length=1,
        max_length=100,
        description="Name in the server key's kind 0 profile.",
    )


class AuthSettings(_Section):
    admin_pubkeys: list[str] = Field(default_factory=list, description="Hex pubkeys with admin rights.")
    session_ttl: int = Field(86400, ge=60, description="Seconds a login session lasts.")
    challenge_ttl: int = Field(300, ge=10, description="Seconds a login challenge stays valid.")
    nostrconnect_relays: list[str] = Field(
        default_factory=list,
        description="Relays named in nostrconnect:// login URIs, where signer apps answer (empty: nostr.relays).",
    )
    nip46_allow_private_relays: bool = Field(
        False, description="Let bunker:// logins use relays on private or loopback addresses (tests, LANs)."
    )

    @field_validator("admin_pubkeys")
    @classmethod
    def _hex_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
                raise ValueError(f"{key!r} is not a 64-character lowercase hex pubkey")
        return value


class UploadLimit(_Section):
    requests_per_second: float = Field(1.0, gt=0, description="Sustained uploads per client IP.")
    burst_size: int = Field(5, ge=1, description="Uploads allowed at once before the rate applies.")
    max_file_size: int = Field(10 * 1024 * MiB, ge=1, description="Largest upload per request.")


class DownloadLimit(_Section):
    requests_per_second: float = Field(
        200.0, gt=0, description="Sustained downloads per second, all clients."
    )
    burst_size: int = Field(400, ge=1, description="Download burst, all clients.")


class StreamLimit(_Section):
    requests_per_second: float = Field(20.0, gt=0, description="Stream requests per second per file.")
    burst_size: int = Field(50, ge=1, description="Stream request burst per file.")
    max_concurrent: int = Field(100, ge=1, description="Concurrent streams per file.")


class AuthLimit(_Section):
    login_attempts_per_minute: int = Field(10, ge=1, description="Login attempts per client IP per minute.")


class ReportLimit(_Section):
    reports_per_minute: int = Field(
        6,
        ge=1,
        description="Blossom reports (PUT /report) per client IP and, separately, per reporter pubkey.",
    )
    max_stored: int = Field(
        10_000,
        ge=1,
        description="Reports kept for the operators; when full, new ones are refused, never evicting.",
    )


class TrackerLimit(_Section):
    requests_per_second: float = Field(10.0, gt=0, description="Announces/scrapes per second per client IP.")
    burst_size: int = Field(100, ge=1, description="Announce/scrape burst per client IP.")


class RateLimitSettings(_Section):
    enabled: bool = Field(True, description="Enforce the limits below.")
    upload: UploadLimit = Field(default_factory=UploadLimit, description="Uploads, per client IP.")
    download: DownloadLimit = Field(
        default_factory=DownloadLimit, description="Downloads, all clients together."
    )
    stream: StreamLimit = Field(default_factory=StreamLimit, description="HLS stream requests, per file.")
    auth: AuthLimit = Field(default_factory=AuthLimit, description="Login attempts, per client IP.")
    tracker: TrackerLimit = Field(
        default_factory=TrackerLimit, description="Tracker requests, per client IP."
    )
    report: ReportLimit = Field(
        default_factory=ReportLimit, description="Blossom reports, per client IP and per reporter."
    )
    fail_open: list[LimitName] = Field(
        default_factory=lambda: list(DEFAULT_FAIL_OPEN),
        description="Limits that let requests through while Redis is unreachable (others refuse).",
    )


class HLSSettings(_Section):
    enabled: bool = Field(True, description="Offer HLS streams of uploaded videos.")
    renditions: list[int] = Field(
        default_factory=lambda: [1080, 720, 480], description="Heights of the renditions (never upscaled)."
    )
    segment_seconds: int = Field(4, ge=1, le=30, description="Target HLS segment length.")
    ffmpeg: str = Field("ffmpeg", description="ffmpeg executable.")
    ffprobe: str = Field("", description="ffprobe executable (empty: the one next to ffmpeg).")
    preset: str = Field("veryfast", description="x264 preset of re-encoded renditions.")
    job_timeout: float = Field(3600, gt=0, description="Seconds one transcoding job may run.")
    max_concurrent_jobs: int = Field(1, ge=1, description="Transcoding jobs at once per process.")
    # -- job admission (sec-bytes) --
    max_queued_jobs: int = Field(
        8,
        ge=1,
        description="Transcoding jobs running or waiting per process; a new one beyond that is refused "
        "with 503 + Retry-After (and a new upload is then transcoded on its first request).",
    )
    job_starts_per_minute: int = Field(
        6, ge=1, description="Transcoding jobs one client address may start per minute (429 beyond)."
    )


class MonitoringSettings(_Section):
    alert_threshold: int = Field(50, ge=0, le=100, description="Health score below which an alert fires.")
    alert_webhook: SecretStr = Field(
        SecretStr(""), description="URL that receives alert JSON (empty: none); a secret: never logged."
    )
    alert_nostr_dm: bool = Field(
        False,
        description="Also send alerts to every admin as a NIP-17 private message (gift-wrapped) through nostr.relays.",
    )
    probe_interval: float = Field(10.0, gt=0, description="Seconds between health probes.")
    metrics_networks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_METRICS_NETWORKS),
        description="CIDR networks whose direct (unproxied) requests may read /metrics and /api/diagnostics "
        "without admin credentials: in-cluster Prometheus scrapes pod IPs. Anyone else, and any request "
        "that came through a proxy, needs an admin login.",
    )

    @field_validator("metrics_networks")
    @classmethod
    def _metrics_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value


class GCSettings(_Section):
    enabled: bool = Field(True, description="Run the garbage collector in the background.")
    interval: int = Field(3600, ge=10, description="Seconds between garbage collection passes.")
    grace_period: int = Field(
        3600,
        ge=0,
        description="Unreferenced bytes younger than this many seconds are kept (uploads in flight).",
    )
    retention_days: float = Field(
        0, ge=0, description="Delete files older than this many days; 0 keeps them forever."
    )


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    json_format: bool = Field(False, description="Log one JSON object per line.")


class Settings(BaseSettings):
    """Everything configurable, one section per concern."""

    model_config = SettingsConfigDict(
        env_prefix="TGW_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    blossom: BlossomSettings = Field(default_factory=BlossomSettings)
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
    dht: DHTSettings = Field(default_factory=DHTSettings)
    nostr: NostrSettings = Field(default_factory=NostrSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limiting: RateLimitSettings = Field(default_factory=RateLimitSettings)
    hls: HLSSettings = Field(default_factory=HLSSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    gc: GCSettings = Field(default_factory=GCSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    # One line per key of the original gateway's config file that was translated (logged at start).
    _config_notes: list[str] = PrivateAttr(default_factory=list)

    @property
    def config_notes(self) -> list[str]:
        return list(self._config_notes)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = _active_yaml_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file is not None:
            sources.append(_SeedAwareYamlSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    def redacted(self) -> dict[str, Any]:
        """The effective configuration with every secret masked, for start-up logs."""
        redacted: dict[str, Any] = json.loads(self.model_dump_json())
        return redacted


class _SeedAwareYamlSource(YamlConfigSettingsSource):
    """The YAML file, with the original gateway's keys moved to ours (config_seed)."""

    def _read_file(self, file_path: Path) -> dict[str, Any]:

        data = super()._read_file(file_path)
        notes = _notes_sink[-1] if _notes_sink else []
        return translate_seed_config(data, notes, source=str(file_path))


_yaml_override: list[Path | None] = []
_notes_sink: list[list[str]] = []


def _active_yaml_file() -> Path | None:
    if _yaml_override:
        return _yaml_override[-1]
    env = os.environ.get("TGW_CONFIG")
    if env:
        return Path(env)
    default = Path("configs/config.yaml")
    return default if default.is_file() else None


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings tree; raise ConfigError naming the key when a value is invalid.

    ``config_file`` of None uses ``TGW_CONFIG`` or ``./configs/config.yaml`` when present.
    ``overrides`` are section dicts, e.g. ``storage={"path": "/tmp/x"}``.
    """
    path = Path(config_file) if config_file is not None else None
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")

    _yaml_override.append(path if path is not None else _active_yaml_file())
    notes: list[str] = []
    _notes_sink.append(notes)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except SeedConfigError as exc:
        raise ConfigError(f"invalid configuration:\n  {exc}") from None
    finally:
        _yaml_override.pop()
        _notes_sink.pop()
    settings._config_notes = notes
    return settings


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the dotted key (and its env var)."""
    lines = ["invalid configuration:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(root)"
        env = "TGW_" + "__".join(str(part).upper() for part in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _did_you_mean([str(part) for part in error["loc"]])
        lines.append(f"  {key} (env {env}): {message}")
    return "\n".join(lines)


def _did_you_mean(loc: list[str]) -> str:
    """`` (did you mean 'x'?)`` naming the closest key of the same section, or nothing."""
    model: Any = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation

    section = ".".join(loc[:-1])
    known = {".".join([*loc[:-1], name]) for name in model.model_fields}
    # The original gateway's keys are known too: a typo in a seed file gets the seed key suggested.
    known.update(key for key in SEED_KEYS if key.rpartition(".")[0] == section)
    close = difflib.get_close_matches(".".join(loc), sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
