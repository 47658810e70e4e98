"""The TorrentGateway spec as a typed model whose defaults mirror the CRD's.

The API server applies the CRD's defaults and rules before the operator sees an object;
this model applies them again so the operator never acts on a spec the CRD would refuse
(an older CRD, a cluster without CEL, a hand-made object in a test). A unit test keeps the
two sets of defaults equal, so ``crds/torrentgateways.yaml`` stays the source of truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

Quantity = int | str
_QUANTITY = re.compile(
    r"^[+-]?((\d+(\.\d*)?)|(\.\d+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?((\d+(\.\d*)?)|(\.\d+))))?$"
)
_HOST = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_URL = r"^https?://[^\s/]+(/[^\s]*)?$"
_HEX64 = r"^[0-9a-f]{64}$"
_BUCKET = r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$"
_STORAGE_SIZE = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
DEFAULT_IMAGE = "ghcr.io/torrent-gateway/torrent-gateway:0.1.0"
DEFAULT_MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
DEFAULT_REDIS_IMAGE = "redis:7.4-alpine"
CHUNK_SIZES = tuple(2**k for k in range(14, 27))
PRIVATE_NETWORKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]


BlossomVerb = Literal["get", "upload", "list", "delete", "mirror", "media"]
_DEFAULT_BLOSSOM_AUTH: list[BlossomVerb] = ["upload", "delete", "mirror"]


class SpecError(ValueError):
    """A spec the operator refuses; the message names every offending field."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Resources(_Model):
    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None

    @model_validator(mode="after")
    def _quantities(self) -> Resources:
        for section in (self.requests, self.limits):
            for name, value in (section or {}).items():
                if isinstance(value, str) and not _QUANTITY.match(value):
                    raise ValueError(f"{name}: {value!r} is not a Kubernetes quantity")
        return self


class Autoscaling(_Model):
    enabled: bool = False
    min_replicas: int = Field(2, ge=1)
    max_replicas: int = Field(10, ge=1)
    target_cpu_utilization_percentage: int = Field(70, ge=1, le=100, alias="targetCPUUtilizationPercentage")

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        return self


class SecretKeyRef(_Model):
    name: str = Field(min_length=1, max_length=253)
    key: str = Field(min_length=1)


class TrackerSecretRef(SecretKeyRef):
    key: str = Field("secret", min_length=1)


class RedisUrlSecretRef(SecretKeyRef):
    key: str = Field("url", min_length=1)


class NostrKeySecretRef(SecretKeyRef):
    key: str = Field("private-key", min_length=1)


class ImageSpec(_Model):
    # Omitted: the operator's own image (``parse_spec`` fills them in from its ``ImagePolicy``).
    repository: str | None = Field(None, min_length=1, max_length=255)
    tag: str | None = Field(None, min_length=1, max_length=128)
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    pull_secrets: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tag_with_repository(self) -> ImageSpec:
        if self.repository is not None and self.tag is None:
            raise ValueError("image.tag is required when image.repository is set")
        return self

    @property
    def reference(self) -> str:
        repository, tag = split_image(DEFAULT_IMAGE)
        return f"{self.repository or repository}:{self.tag or tag}"


class GatewaySpec(_Model):
    replicas: int = Field(2, ge=0)
    resources: Resources | None = None
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    anonymous_uploads: bool = True
    web_ui: bool = Field(True, alias="webUI")
    chunk_cache_bytes: int = Field(256 * 1024 * 1024, ge=0)
    trusted_proxies: list[str] = Field(default_factory=lambda: list(PRIVATE_NETWORKS))


class BlossomSpec(_Model):
    enabled: bool = True
    replicas: int = Field(2, ge=0)
    resources: Resources | None = None
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    require_auth: list[BlossomVerb] = Field(default_factory=lambda: list(_DEFAULT_BLOSSOM_AUTH))
    allowed_pubkeys: list[str] = Field(default_factory=list)
    allowed_types: list[str] = Field(default_factory=list)
    max_blob_size: int = Field(100_000_000, ge=1)
    quota_bytes: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _keys(self) -> BlossomSpec:
        _check_hex_keys(self.allowed_pubkeys, "allowedPubkeys")
        return self


class TrackerService(_Model):
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    annotations: dict[str, str] = Field(default_factory=dict)


class TrackerSpec(_Model):
    enabled: bool = True
    replicas: int = Field(2, ge=0)
    resources: Resources | None = None
    policy: Literal["open", "known"] = "known"
    udp: bool = True
    interval: int = Field(1800, ge=30)
    public_url: str | None = Field(None, pattern=_URL)
    secret_ref: TrackerSecretRef | None = None
    service: TrackerService = Field(default_factory=TrackerService)


class DHTExposure(_Model):
    type: Literal["None", "HostPort", "NodePort", "LoadBalancer"] = "None"
    annotations: dict[str, str] = Field(default_factory=dict)


class DHTPersistence(_Model):
    enabled: bool = False
    size: str = Field("2Gi", pattern=_STORAGE_SIZE)
    storage_class_name: str | None = None


class DHTSpec(_Model):
    enabled: bool = True
    replicas: int = Field(1, ge=0, le=32)
    resources: Resources | None = None
    bootstrap_nodes: list[str] = Field(
        default_factory=lambda: [
            "router.bittorrent.com:6881",
            "dht.transmissionbt.com:6881",
            "router.utorrent.com:6881",
        ]
    )
    announce_interval: int = Field(1500, ge=60)
    cache_bytes: int = Field(1024 * 1024 * 1024, ge=0)
    exposure: DHTExposure = Field(default_factory=DHTExposure)
    persistence: DHTPersistence = Field(default_factory=DHTPersistence)


class MinioCredentialsSecret(_Model):
    name: str = Field(min_length=1, max_length=253)
    access_key_key: str = Field("access-key", min_length=1)
    secret_key_key: str = Field("secret-key", min_length=1)


class MinioExternal(_Model):
    endpoint: str = Field(min_length=1, pattern=r"^[^\s/:]+(:[0-9]{1,5})?$")
    bucket: str = Field("torrent-gateway", min_length=3, max_length=63, pattern=_BUCKET)
    secure: bool = True
    region: str = Field("us-east-1", min_length=1)
    credentials_secret: MinioCredentialsSecret


class MinioManaged(_Model):
    replicas: int = Field(1, ge=1, le=32)
    size: str = Field("10Gi", max_length=32, pattern=_STORAGE_SIZE)
    storage_class_name: str | None = Field(None, max_length=253)
    bucket: str = Field("torrent-gateway", min_length=3, max_length=63, pattern=_BUCKET)
    image: str = DEFAULT_MINIO_IMAGE
    resources: Resources | None = None

    @model_validator(mode="after")
    def _erasure_set(self) -> MinioManaged:
        if not (self.replicas == 1 or self.replicas >= 4):
            raise ValueError("managed MinIO runs 1 pod or a distributed set of 4 or more (erasure coding)")
        return self


class MinioSpec(_Model):
    external: MinioExternal | None = None
    managed: MinioManaged | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MinioSpec:
        if (self.external is None) == (self.managed is None):
            raise ValueError("set exactly one of external or managed")
        return self


class StorageSpec(_Model):
    blob_threshold: int = Field(100_000_000, ge=1)
    chunk_size: int = 2 * 1024 * 1024
    max_file_size: int = Field(10 * 1024**3, ge=1)
    hybrid_torrents: bool = False
    minio: MinioSpec = Field(default_factory=lambda: MinioSpec(managed=MinioManaged.model_validate({})))

    @model_validator(mode="after")
    def _chunk(self) -> StorageSpec:
        if self.chunk_size not in CHUNK_SIZES:
            raise ValueError(f"chunkSize must be a power of two from {CHUNK_SIZES[0]} to {CHUNK_SIZES[-1]}")
        return self


class RedisPersistence(_Model):
    enabled: bool = True
    size: str = Field("1Gi", max_length=32, pattern=_STORAGE_SIZE)
    storage_class_name: str | None = None


class RedisExternal(_Model):
    url_secret: RedisUrlSecretRef


class RedisManaged(_Model):
    image: str = DEFAULT_REDIS_IMAGE
    max_memory: str = Field("256mb", pattern=r"^[0-9]+(kb|mb|gb)?$")
    persistence: RedisPersistence = Field(default_factory=RedisPersistence)
    resources: Resources | None = None


class RedisSpec(_Model):
    external: RedisExternal | None = None
    managed: RedisManaged | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RedisSpec:
        if (self.external is None) == (self.managed is None):
            raise ValueError("set exactly one of external or managed")
        return self


class NostrSpec(_Model):
    relays: list[str] = Field(default_factory=lambda: ["wss://relay.damus.io", "wss://nos.lol"])
    publish: bool = True
    private_key_secret: NostrKeySecretRef | None = None

    @model_validator(mode="after")
    def _relays(self) -> NostrSpec:
        for relay in self.relays:
            if not re.match(r"^wss?://\S+$", relay):
                raise ValueError(f"relay {relay!r} is not a ws:// or wss:// URL")
        return self


class AuthSpec(_Model):
    admin_pubkeys: list[str] = Field(default_factory=list)
    session_ttl: int = Field(86400, ge=60, alias="sessionTTL")

    @model_validator(mode="after")
    def _keys(self) -> AuthSpec:
        _check_hex_keys(self.admin_pubkeys, "adminPubkeys")
        return self


class UploadLimit(_Model):
    requests_per_second: float = Field(1.0, ge=0.001)
    burst_size: int = Field(5, ge=1)
    max_file_size: int = Field(10 * 1024**3, ge=1)


class DownloadLimit(_Model):
    requests_per_second: float = Field(200.0, ge=0.001)
    burst_size: int = Field(400, ge=1)


class StreamLimit(_Model):
    requests_per_second: float = Field(20.0, ge=0.001)
    burst_size: int = Field(50, ge=1)
    max_concurrent: int = Field(100, ge=1)


class AuthLimit(_Model):
    login_attempts_per_minute: int = Field(10, ge=1)


class TrackerLimit(_Model):
    requests_per_second: float = Field(10.0, ge=0.001)
    burst_size: int = Field(100, ge=1)


class RateLimitsSpec(_Model):
    enabled: bool = True
    upload: UploadLimit = Field(default_factory=UploadLimit)
    download: DownloadLimit = Field(default_factory=DownloadLimit)
    stream: StreamLimit = Field(default_factory=StreamLimit)
    auth: AuthLimit = Field(default_factory=AuthLimit)
    tracker: TrackerLimit = Field(default_factory=TrackerLimit)


class HLSSpec(_Model):
    enabled: bool = True
    renditions: list[int] = Field(default_factory=lambda: [1080, 720, 480])
    segment_seconds: int = Field(4, ge=1, le=30)

    @model_validator(mode="after")
    def _heights(self) -> HLSSpec:
        if any(not 144 <= height <= 4320 for height in self.renditions):
            raise ValueError("renditions must be heights from 144 to 4320")
        return self


class IngressTLS(_Model):
    enabled: bool = False
    secret_name: str | None = None


class IngressSpec(_Model):
    enabled: bool = False
    class_name: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    host: str | None = Field(None, max_length=253, pattern=_HOST)
    blossom_host: str | None = Field(None, max_length=253, pattern=_HOST)
    tls: IngressTLS = Field(default_factory=IngressTLS)

    @model_validator(mode="after")
    def _hosts(self) -> IngressSpec:
        if self.enabled and not self.host:
            raise ValueError("ingress.host is required when the Ingress is enabled")
        if self.blossom_host and self.blossom_host == self.host:
            raise ValueError("Blossom needs its own host: its endpoints live at the root of the domain")
        return self


class Toggle(_Model):
    enabled: bool = True


class LoggingSpec(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_: bool = Field(True, alias="json")


class TorrentGatewaySpec(_Model):
    """``spec`` of a TorrentGateway; field names are the CRD's (camelCase aliases)."""

    image: ImageSpec = Field(default_factory=ImageSpec)
    public_url: str | None = Field(None, max_length=2048, pattern=_URL)
    gateway: GatewaySpec = Field(default_factory=GatewaySpec)
    blossom: BlossomSpec = Field(default_factory=BlossomSpec)
    tracker: TrackerSpec = Field(default_factory=TrackerSpec)
    dht: DHTSpec = Field(default_factory=DHTSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    redis: RedisSpec = Field(default_factory=lambda: RedisSpec(managed=RedisManaged.model_validate({})))
    nostr: NostrSpec = Field(default_factory=NostrSpec)
    auth: AuthSpec = Field(default_factory=AuthSpec)
    rate_limits: RateLimitsSpec = Field(default_factory=RateLimitsSpec)
    hls: HLSSpec = Field(default_factory=HLSSpec)
    ingress: IngressSpec = Field(default_factory=IngressSpec)
    network_policy: Toggle = Field(default_factory=Toggle)
    pod_disruption_budget: Toggle = Field(default_factory=Toggle)
    logging: LoggingSpec = Field(default_factory=LoggingSpec)

    @model_validator(mode="after")
    def _tls_url(self) -> TorrentGatewaySpec:
        if (
            self.public_url
            and self.ingress.enabled
            and self.ingress.tls.enabled
            and not self.public_url.startswith("https://")
        ):
            raise ValueError("publicUrl must be https:// when the Ingress serves TLS")
        return self

    @property
    def effective_public_url(self) -> str:
        """The gateway's public base URL: explicit, else from the Ingress host, else empty."""
        if self.public_url:
            return self.public_url.rstrip("/")
        if self.ingress.enabled and self.ingress.host:
            scheme = "https" if self.ingress.tls.enabled else "http"
            return f"{scheme}://{self.ingress.host}"
        return ""

    @property
    def blossom_public_url(self) -> str:
        if self.blossom.enabled and self.ingress.enabled and self.ingress.blossom_host:
            scheme = "https" if self.ingress.tls.enabled else "http"
            return f"{scheme}://{self.ingress.blossom_host}"
        return ""


def _check_hex_keys(keys: list[str], field: str) -> None:
    for key in keys:
        if not re.match(_HEX64, key):
            raise ValueError(f"{field}: {key!r} is not a 64-character lowercase hex pubkey")


def split_image(reference: str) -> tuple[str, str]:
    """``registry:5000/repo:tag`` → (``registry:5000/repo``, ``tag``); a digest stays with its ``@``."""
    if "@" in reference:
        repository, digest = reference.split("@", 1)
        return repository, "@" + digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"


def normalized_repository(repository: str) -> str:
    """Docker Hub's short names spelled out, so ``redis`` and ``docker.io/library/redis`` match."""
    first, _, rest = repository.partition("/")
    if not rest:
        return f"docker.io/library/{repository}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{repository}"
    return repository


@dataclass(frozen=True)
class ImagePolicy:
    """Which images a TorrentGateway may make the operator run.

    Anyone who may create a TorrentGateway could otherwise run any image, with the namespace's
    Secrets mounted, through the operator's rights (a confused deputy). ``default`` is the image of
    every workload whose spec names none (the operator's own); ``allowed`` holds repositories
    (``*`` at the end: a prefix); empty: the default's repository and the default MinIO and Redis.
    """

    default: str = DEFAULT_IMAGE
    allowed: tuple[str, ...] = ()

    def patterns(self) -> tuple[str, ...]:
        if self.allowed:
            return self.allowed
        return tuple(
            split_image(image)[0] for image in (self.default, DEFAULT_MINIO_IMAGE, DEFAULT_REDIS_IMAGE)
        )

    def permits(self, image: str) -> bool:
        repository = normalized_repository(split_image(image)[0])
        for pattern in self.patterns():
            if pattern.endswith("*"):
                if repository.startswith(pattern[:-1]) or split_image(image)[0].startswith(pattern[:-1]):
                    return True
            elif repository == normalized_repository(pattern):
                return True
        return False


def parse_spec(raw: dict[str, object] | None, images: ImagePolicy | None = None) -> TorrentGatewaySpec:
    """Validate a CR's spec, fill in the operator's image, enforce the image allow-list.

    SpecError lists every problem with its field path.
    """
    policy = images or ImagePolicy()
    try:
        spec = TorrentGatewaySpec.model_validate(raw or {})
    except ValidationError as exc:
        raise SpecError(describe(exc)) from None
    repository, tag = split_image(policy.default)
    if spec.image.repository is None:
        resolved = spec.image.model_copy(update={"repository": repository, "tag": spec.image.tag or tag})
        spec = spec.model_copy(update={"image": resolved})
    used = {"spec.image": spec.image.reference}
    if spec.storage.minio.managed is not None:
        used["spec.storage.minio.managed.image"] = spec.storage.minio.managed.image
    if spec.redis.managed is not None:
        used["spec.redis.managed.image"] = spec.redis.managed.image
    refused = [f"{field}: {image!r}" for field, image in used.items() if not policy.permits(image)]
    if refused:
        raise SpecError(
            "images outside the operator's allow-list ("
            + ", ".join(policy.patterns())
            + "): "
            + "; ".join(refused)
        )
    return spec


def describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"]) or "spec"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"spec.{path}: {message}" if path != "spec" else f"spec: {message}")
    return "; ".join(problems)
