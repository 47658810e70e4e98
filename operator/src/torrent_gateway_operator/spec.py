"""The TorrentGateway spec as a typed model: the one source of the CRD's spec schema.

``crd.py`` generates ``crds/torrentgateways.yaml`` from these models: field descriptions,
defaults, constraints and enums, and the CEL rules each model declares with ``cel(...)`` beside
the validator that enforces the same rule here. The API server applies the CRD's defaults and
rules before the operator sees an object; this model applies them again so the operator never
acts on a spec the CRD would refuse (an older CRD, a cluster without CEL, a hand-made object in
a test). Only the transition rules (``oldSelf``) are the API server's alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

_HOST = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_URL = r"^https?://[^\s/]+(/[^\s]*)?$"
_HEX64 = r"^[0-9a-f]{64}$"
_BUCKET = r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$"
_STORAGE_SIZE = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
_HOST_PORT = r"^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):[0-9]{1,5}$"
_RELAY_URL = r"^wss?://[^\s]+$"
QUANTITY_PATTERN = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
_QUANTITY = re.compile(QUANTITY_PATTERN)
DEFAULT_IMAGE = "ghcr.io/torrent-gateway/torrent-gateway:0.1.0"
DEFAULT_MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
DEFAULT_REDIS_IMAGE = "redis:7.4-alpine"
CHUNK_SIZES = tuple(2**k for k in range(14, 27))
PRIVATE_NETWORKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]


BlossomVerb = Literal["get", "upload", "list", "delete", "mirror", "media"]
_DEFAULT_BLOSSOM_AUTH: list[BlossomVerb] = ["upload", "delete", "mirror"]


def _quantity(value: int | str) -> int | str:
    if isinstance(value, str) and not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    return value


# A Kubernetes quantity (e.g. 250m, 1Gi or 2), in the CRD Kubernetes' own int-or-string form.
Quantity = Annotated[
    int | str,
    AfterValidator(_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
HexPubkey = Annotated[str, StringConstraints(pattern=_HEX64)]


def cel(*rules: tuple[str, str]) -> ConfigDict:
    """A model's CEL rules (rule, message) for the CRD, each beside the validator enforcing it here.

    Transition rules (``oldSelf``) have no validator: the operator never sees the old object.
    """
    return ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}
    )


class SpecError(ValueError):
    """A spec the operator refuses; the message names every offending field."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Resources(_Model):
    requests: dict[str, Quantity] | None = Field(
        None, description="Minimum resources the scheduler reserves, e.g. {cpu: 250m, memory: 512Mi}."
    )
    limits: dict[str, Quantity] | None = Field(
        None, description="Maximum resources the container may use, e.g. {memory: 1Gi}."
    )


class Autoscaling(_Model):
    model_config = cel(
        (
            "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
            "minReplicas must not exceed maxReplicas",
        )
    )

    enabled: bool = Field(False, description="Create the HorizontalPodAutoscaler.")
    min_replicas: int = Field(2, ge=1, description="Fewest replicas the autoscaler keeps.")
    max_replicas: int = Field(10, ge=1, description="Most replicas the autoscaler creates.")
    target_cpu_utilization_percentage: int = Field(
        70,
        ge=1,
        le=100,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU use, in percent of the requests, the autoscaler aims at.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        return self


class SecretKeyRef(_Model):
    name: str = Field(
        min_length=1, max_length=253, description="Name of a Secret in the TorrentGateway's namespace."
    )
    key: str = Field(min_length=1)


class TrackerSecretRef(SecretKeyRef):
    key: str = Field("secret", min_length=1, description="Key inside the Secret.")


class RedisUrlSecretRef(SecretKeyRef):
    key: str = Field("url", min_length=1, description="Key inside the Secret.")


class NostrKeySecretRef(SecretKeyRef):
    key: str = Field("private-key", min_length=1, description="Key inside the Secret.")


class ImageSpec(_Model):
    model_config = cel(
        ("!has(self.repository) || has(self.tag)", "image.tag is required when image.repository is set")
    )

    # Omitted: the operator's own image (``parse_spec`` fills them in from its ``ImagePolicy``).
    repository: str | None = Field(
        None, min_length=1, max_length=255, description="Image repository; empty: the operator's own."
    )
    tag: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="Image tag; empty: the operator's own. Required with a repository.",
    )
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Image pull policy."
    )
    pull_secrets: list[NonEmpty] = Field(
        default_factory=list, description="Names of Secrets for pulling the image."
    )

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
    replicas: int = Field(
        2, ge=0, description="Pods of the gateway Deployment (ignored while autoscaling is enabled)."
    )
    resources: Resources | None = Field(
        None,
        description=(
            "CPU and memory of each gateway container (Kubernetes ResourceRequirements). Omitted: the "
            "operator's defaults for this component."
        ),
    )
    autoscaling: Autoscaling = Field(
        default_factory=Autoscaling,
        description=(
            "A HorizontalPodAutoscaler for the gateway Deployment; when enabled it owns the replica count."
        ),
    )
    anonymous_uploads: bool = Field(True, description="Accept uploads without a Nostr login.")
    web_ui: bool = Field(True, alias="webUI", description="Serve the web interface at /.")
    chunk_cache_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Upper bound of each pod's in-memory cache of hot chunks, in bytes.",
    )
    trusted_proxies: list[NonEmpty] = Field(
        default_factory=lambda: list(PRIVATE_NETWORKS),
        description=(
            "CIDR networks whose X-Forwarded-For headers are believed (the Ingress controller's pods). The "
            "default trusts private networks, where in-cluster proxies live."
        ),
    )


class BlossomSpec(_Model):
    enabled: bool = Field(True, description="Run the Blossom Deployment.")
    replicas: int = Field(
        2, ge=0, description="Pods of the Blossom Deployment (ignored while autoscaling is enabled)."
    )
    resources: Resources | None = Field(
        None,
        description=(
            "CPU and memory of each Blossom container (Kubernetes ResourceRequirements). Omitted: the "
            "operator's defaults for this component."
        ),
    )
    autoscaling: Autoscaling = Field(
        default_factory=Autoscaling,
        description=(
            "A HorizontalPodAutoscaler for the Blossom Deployment; when enabled it owns the replica count."
        ),
    )
    require_auth: list[BlossomVerb] = Field(
        default_factory=lambda: list(_DEFAULT_BLOSSOM_AUTH),
        description="Blossom verbs that need a kind 24242 authorization event.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    allowed_pubkeys: list[HexPubkey] = Field(
        default_factory=list, description="Hex pubkeys allowed to upload; empty: anyone."
    )
    allowed_types: list[NonEmpty] = Field(
        default_factory=list, description="MIME types accepted (e.g. image/*); empty: all."
    )
    max_blob_size: int = Field(100_000_000, ge=1, description="Largest Blossom upload in bytes.")
    quota_bytes: int = Field(0, ge=0, description="Bytes each pubkey may own; 0 = unlimited.")


class TrackerService(_Model):
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field("ClusterIP", description="Service type.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the Service (e.g. for a cloud load balancer)."
    )


class TrackerSpec(_Model):
    enabled: bool = Field(True, description="Run the tracker Deployment.")
    replicas: int = Field(
        2, ge=0, description="Pods of the tracker Deployment; swarms live in Redis, so any replica answers."
    )
    resources: Resources | None = Field(
        None,
        description=(
            "CPU and memory of each tracker container (Kubernetes ResourceRequirements). Omitted: the "
            "operator's defaults for this component."
        ),
    )
    policy: Literal["open", "known"] = Field(
        "known", description="open: track any infohash; known: only torrents this gateway holds."
    )
    udp: bool = Field(True, description="Answer UDP (BEP 15) announces and list udp:// in torrents.")
    interval: int = Field(1800, ge=30, description="Seconds clients should wait between announces.")
    public_url: str | None = Field(
        None,
        pattern=_URL,
        description=(
            "Public base URL of the tracker (e.g. http://tracker.example.org:6969) written into torrents, "
            "with its host and port also used for udp://. Empty: the gateway's URL (HTTP announces go "
            "through the Ingress)."
        ),
    )
    secret_ref: TrackerSecretRef | None = Field(
        None,
        description=(
            "Secret holding the shared key of UDP connection ids. Omitted: the operator generates one "
            "(<name>-tracker, never overwritten)."
        ),
    )
    service: TrackerService = Field(
        default_factory=TrackerService,
        description=(
            "How the tracker Service (TCP 6969 + UDP 6969) is exposed. UDP cannot go through an Ingress."
        ),
    )


class DHTExposure(_Model):
    type: Literal["None", "HostPort", "NodePort", "LoadBalancer"] = Field(
        "None",
        description=(
            "HostPort: the node's own ports (one pod per node); NodePort or LoadBalancer: one Service per "
            "pod."
        ),
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the per-pod Services."
    )


class DHTPersistence(_Model):
    enabled: bool = Field(False, description="Use a PersistentVolumeClaim per pod instead of an emptyDir.")
    size: str = Field("2Gi", pattern=_STORAGE_SIZE, description="Size of each claim.")
    storage_class_name: str | None = Field(
        None, description="StorageClass of the claims; empty: the cluster default."
    )


class DHTSpec(_Model):
    enabled: bool = Field(True, description="Run the DHT StatefulSet.")
    replicas: int = Field(
        1, ge=0, le=32, description="DHT node pods; each announces and seeds its shard of the infohashes."
    )
    resources: Resources | None = Field(
        None,
        description=(
            "CPU and memory of each DHT container (Kubernetes ResourceRequirements). Omitted: the operator's"
            " defaults for this component."
        ),
    )
    bootstrap_nodes: list[Annotated[str, StringConstraints(pattern=_HOST_PORT)]] = Field(
        default_factory=lambda: [
            "router.bittorrent.com:6881",
            "dht.transmissionbt.com:6881",
            "router.utorrent.com:6881",
        ],
        description="host:port of DHT routers to join through.",
    )
    announce_interval: int = Field(1500, ge=60, description="Seconds between re-announces of our torrents.")
    cache_bytes: int = Field(
        1024 * 1024 * 1024, ge=0, description="Local cache of chunk files each pod seeds from, in bytes."
    )
    exposure: DHTExposure = Field(
        default_factory=DHTExposure,
        description=(
            "How the DHT (UDP 6882) and peer (TCP+UDP 6881) ports reach the internet. None: outbound only."
        ),
    )
    persistence: DHTPersistence = Field(
        default_factory=DHTPersistence,
        description=(
            "A volume per pod for the DHT state and the chunk cache (keeps the node id across restarts)."
        ),
    )


class MinioCredentialsSecret(_Model):
    name: str = Field(
        min_length=1, max_length=253, description="Name of a Secret in the TorrentGateway's namespace."
    )
    access_key_key: str = Field(
        "access-key", min_length=1, description="Key of the access key inside the Secret."
    )
    secret_key_key: str = Field(
        "secret-key", min_length=1, description="Key of the secret key inside the Secret."
    )


class MinioExternal(_Model):
    endpoint: str = Field(
        min_length=1, pattern=r"^[^\s/:]+(:[0-9]{1,5})?$", description="host:port of the S3 endpoint."
    )
    bucket: str = Field(
        "torrent-gateway",
        min_length=3,
        max_length=63,
        pattern=_BUCKET,
        description="Bucket holding blobs, manifests, torrents and HLS (created when missing).",
    )
    secure: bool = Field(True, description="Reach the endpoint over TLS.")
    region: str = Field("us-east-1", min_length=1, description="S3 region name.")
    credentials_secret: MinioCredentialsSecret = Field(
        description="Secret holding the access key and the secret key."
    )
    public_endpoint: str | None = Field(
        None,
        max_length=253,
        pattern=r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?$",
        description=(
            "URL clients reach this object store at (https://s3.example.org), an origin of its own. "
            "Given, a download of a file kept as one object is a redirect to a presigned GET there, "
            "so its bytes go from the object store to the client, not through the gateway."
        ),
    )


class MinioManaged(_Model):
    # The erasure set and its volumes are fixed when MinIO first starts: the transition rules
    # (oldSelf) keep them so; the operator cannot check those, it never sees the old object.
    model_config = cel(
        (
            "!has(self.replicas) || self.replicas == 1 || self.replicas >= 4",
            "managed MinIO runs 1 pod or a distributed set of 4 or more (erasure coding)",
        ),
        (
            "!has(self.replicas) || !has(oldSelf.replicas) || self.replicas == oldSelf.replicas",
            "managed MinIO replicas cannot change after creation",
        ),
        (
            "!has(self.size) || !has(oldSelf.size) || self.size == oldSelf.size",
            "managed MinIO volume size cannot change after creation",
        ),
        (
            "has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName)"
            " || self.storageClassName == oldSelf.storageClassName)",
            "managed MinIO storageClassName cannot change after creation",
        ),
    )

    replicas: int = Field(
        1,
        ge=1,
        le=32,
        description="MinIO pods: 1, or 4 and more for erasure coding. Cannot change after creation.",
    )
    size: str = Field(
        "10Gi",
        max_length=32,
        pattern=_STORAGE_SIZE,
        description="Size of each pod's volume. Cannot change after creation.",
    )
    storage_class_name: str | None = Field(
        None,
        max_length=253,
        description="StorageClass of the volumes; empty: the cluster default. Cannot change after creation.",
    )
    bucket: str = Field(
        "torrent-gateway",
        min_length=3,
        max_length=63,
        pattern=_BUCKET,
        description="Bucket holding blobs, manifests, torrents and HLS.",
    )
    image: str = Field(DEFAULT_MINIO_IMAGE, description="MinIO server image.")
    resources: Resources | None = Field(
        None,
        description=(
            "CPU and memory of each MinIO container (Kubernetes ResourceRequirements). Omitted: the "
            "operator's defaults for this component."
        ),
    )

    @model_validator(mode="after")
    def _erasure_set(self) -> MinioManaged:
        if not (self.replicas == 1 or self.replicas >= 4):
            raise ValueError("managed MinIO runs 1 pod or a distributed set of 4 or more (erasure coding)")
        return self


class MinioSpec(_Model):
    model_config = cel(("has(self.external) != has(self.managed)", "set exactly one of external or managed"))

    external: MinioExternal | None = Field(None, description="Use an existing S3/MinIO endpoint.")
    managed: MinioManaged | None = Field(
        None,
        description=(
            "Run MinIO in the cluster: one pod, or a distributed set of 4 or more pods with erasure coding."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> MinioSpec:
        if (self.external is None) == (self.managed is None):
            raise ValueError("set exactly one of external or managed")
        return self


class StorageSpec(_Model):
    blob_threshold: int = Field(
        100_000_000,
        ge=1,
        description="Files smaller than this many bytes are stored whole as one Blossom blob.",
    )
    chunk_size: int = Field(
        2 * 1024 * 1024,
        description="Chunk size of large files and their torrent piece length, a power of two.",
        json_schema_extra={"enum": list(CHUNK_SIZES)},
    )
    max_file_size: int = Field(10 * 1024**3, ge=1, description="Largest accepted upload in bytes.")
    hybrid_torrents: bool = Field(
        False, description="Also emit BitTorrent v2 hashes (hybrid v1+v2 torrents)."
    )
    minio: MinioSpec = Field(
        default_factory=lambda: MinioSpec(managed=MinioManaged.model_validate({})),
        description="Where objects live: exactly one of external or managed.",
    )

    @model_validator(mode="after")
    def _chunk(self) -> StorageSpec:
        if self.chunk_size not in CHUNK_SIZES:
            raise ValueError(f"chunkSize must be a power of two from {CHUNK_SIZES[0]} to {CHUNK_SIZES[-1]}")
        return self


class RedisPersistence(_Model):
    model_config = cel(
        (
            "!has(self.size) || !has(oldSelf.size) || self.size == oldSelf.size",
            "managed Redis volume size cannot change after creation",
        )
    )

    enabled: bool = Field(True, description="Use a PersistentVolumeClaim instead of an emptyDir.")
    size: str = Field(
        "1Gi",
        max_length=32,
        pattern=_STORAGE_SIZE,
        description="Size of the claim. Cannot change after creation.",
    )
    storage_class_name: str | None = Field(
        None, description="StorageClass of the claim; empty: the cluster default."
    )


class RedisExternal(_Model):
    url_secret: RedisUrlSecretRef = Field(
        description="Secret holding the redis:// or rediss:// URL (may carry the password)."
    )


class RedisManaged(_Model):
    image: str = Field(DEFAULT_REDIS_IMAGE, description="Redis server image.")
    max_memory: str = Field(
        "256mb",
        pattern=r"^[0-9]+(kb|mb|gb)?$",
        description="Redis maxmemory (e.g. 256mb); volatile keys are evicted beyond it.",
    )
    persistence: RedisPersistence = Field(
        default_factory=RedisPersistence,
        description="Keep Redis' append-only file on a volume (swarms and sessions survive restarts).",
    )
    resources: Resources | None = Field(
        None,
        description=(
            "CPU and memory of each Redis container (Kubernetes ResourceRequirements). Omitted: the "
            "operator's defaults for this component."
        ),
    )


class RedisSpec(_Model):
    model_config = cel(("has(self.external) != has(self.managed)", "set exactly one of external or managed"))

    external: RedisExternal | None = Field(None, description="Use an existing Redis.")
    managed: RedisManaged | None = Field(
        None, description="Run one Redis pod in the cluster, with a generated password."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> RedisSpec:
        if (self.external is None) == (self.managed is None):
            raise ValueError("set exactly one of external or managed")
        return self


class NostrSpec(_Model):
    relays: list[Annotated[str, StringConstraints(pattern=_RELAY_URL)]] = Field(
        default_factory=lambda: ["wss://relay.damus.io", "wss://nos.lol"],
        description="Relays that receive our announcements.",
    )
    publish: bool = Field(True, description="Announce new files on the relays.")
    private_key_secret: NostrKeySecretRef | None = Field(
        None,
        description=(
            "Secret holding the server's key (hex or nsec). Omitted: the operator generates one "
            "(<name>-nostr, never overwritten)."
        ),
    )


class AuthSpec(_Model):
    admin_pubkeys: list[HexPubkey] = Field(default_factory=list, description="Hex pubkeys with admin rights.")
    session_ttl: int = Field(86400, ge=60, alias="sessionTTL", description="Seconds a login session lasts.")


class UploadLimit(_Model):
    requests_per_second: float = Field(1.0, ge=0.001, description="Sustained uploads per second.")
    burst_size: int = Field(5, ge=1, description="Uploads allowed at once before the rate applies.")
    max_file_size: int = Field(10 * 1024**3, ge=1, description="Largest upload per request, in bytes.")


class DownloadLimit(_Model):
    requests_per_second: float = Field(200.0, ge=0.001, description="Sustained downloads per second.")
    burst_size: int = Field(400, ge=1, description="Download burst.")


class StreamLimit(_Model):
    requests_per_second: float = Field(20.0, ge=0.001, description="Stream requests per second per file.")
    burst_size: int = Field(50, ge=1, description="Stream request burst per file.")
    max_concurrent: int = Field(100, ge=1, description="Concurrent streams per file.")


class AuthLimit(_Model):
    login_attempts_per_minute: int = Field(10, ge=1, description="Login attempts per minute.")


class TrackerLimit(_Model):
    requests_per_second: float = Field(10.0, ge=0.001, description="Announces/scrapes per second.")
    burst_size: int = Field(100, ge=1, description="Announce/scrape burst.")


class RateLimitsSpec(_Model):
    enabled: bool = Field(True, description="Enforce the limits below.")
    upload: UploadLimit = Field(default_factory=UploadLimit, description="Uploads, per client IP.")
    download: DownloadLimit = Field(
        default_factory=DownloadLimit, description="Downloads, all clients together."
    )
    stream: StreamLimit = Field(default_factory=StreamLimit, description="HLS stream requests, per file.")
    auth: AuthLimit = Field(default_factory=AuthLimit, description="Login attempts, per client IP.")
    tracker: TrackerLimit = Field(
        default_factory=TrackerLimit, description="Tracker announces and scrapes, per client IP."
    )


class HLSSpec(_Model):
    enabled: bool = Field(True, description="Offer HLS streams.")
    renditions: list[Annotated[int, Field(ge=144, le=4320)]] = Field(
        default_factory=lambda: [1080, 720, 480], description="Heights of the renditions (never upscaled)."
    )
    segment_seconds: int = Field(4, ge=1, le=30, description="Target HLS segment length in seconds.")


class IngressTLS(_Model):
    enabled: bool = Field(False, description="Serve the hosts over HTTPS.")
    secret_name: str | None = Field(
        None, description="Secret with the certificate (e.g. made by cert-manager); empty: <name>-tls."
    )


class IngressSpec(_Model):
    model_config = cel(
        (
            "!has(self.enabled) || !self.enabled || has(self.host)",
            "ingress.host is required when the Ingress is enabled",
        ),
        (
            "!has(self.blossomHost) || !has(self.host) || self.blossomHost != self.host",
            "Blossom needs its own host: its endpoints live at the root of the domain",
        ),
    )

    enabled: bool = Field(False, description="Create the Ingress.")
    class_name: str | None = Field(
        None, description="IngressClass to use (e.g. nginx); empty: the cluster default."
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the Ingress (e.g. cert-manager.io/cluster-issuer)."
    )
    host: str | None = Field(
        None, max_length=253, pattern=_HOST, description="Host name of the API and web UI."
    )
    blossom_host: str | None = Field(
        None,
        max_length=253,
        pattern=_HOST,
        description="Host name of the Blossom server; empty: Blossom is reachable only in the cluster.",
    )
    tls: IngressTLS = Field(default_factory=IngressTLS, description="TLS for both hosts.")

    @model_validator(mode="after")
    def _hosts(self) -> IngressSpec:
        if self.enabled and not self.host:
            raise ValueError("ingress.host is required when the Ingress is enabled")
        if self.blossom_host and self.blossom_host == self.host:
            raise ValueError("Blossom needs its own host: its endpoints live at the root of the domain")
        return self


class NetworkPolicySpec(_Model):
    enabled: bool = Field(True, description="Create the NetworkPolicies.")


class PodDisruptionBudgetSpec(_Model):
    enabled: bool = Field(True, description="Create the PodDisruptionBudgets.")


class LoggingSpec(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    json_: bool = Field(True, alias="json", description="One JSON object per line.")


class TorrentGatewaySpec(_Model):
    """``spec`` of a TorrentGateway; field names are the CRD's (camelCase aliases)."""

    model_config = cel(
        (
            "!has(self.publicUrl) || !has(self.ingress) || !has(self.ingress.enabled)"
            " || !self.ingress.enabled"
            " || !has(self.ingress.tls) || !has(self.ingress.tls.enabled) || !self.ingress.tls.enabled"
            " || self.publicUrl.startsWith('https://')",
            "publicUrl must be https:// when the Ingress serves TLS",
        )
    )

    image: ImageSpec = Field(
        default_factory=ImageSpec,
        description=(
            "The Torrent Gateway image; the subcommand picks the component. Omitted: the image the operator "
            "itself runs (the chart's image setting). The operator refuses repositories outside its "
            "allow-list."
        ),
    )
    public_url: str | None = Field(
        None,
        max_length=2048,
        pattern=_URL,
        description=(
            "Absolute base URL clients use to reach the gateway (e.g. https://gw.example.org). Empty: "
            "derived from ingress.host, else from each request's Host header."
        ),
    )
    gateway: GatewaySpec = Field(
        default_factory=GatewaySpec,
        description="The gateway: REST API, web UI, WebSeed and HLS (port 9876). Always runs.",
    )
    blossom: BlossomSpec = Field(
        default_factory=BlossomSpec,
        description="The Blossom server (BUD endpoints at the root of its own host, port 8081).",
    )
    tracker: TrackerSpec = Field(
        default_factory=TrackerSpec,
        description=(
            "The BitTorrent tracker: HTTP /announce and /scrape, WebSocket (WebTorrent) and UDP (BEP 15) on "
            "port 6969."
        ),
    )
    dht: DHTSpec = Field(
        default_factory=DHTSpec,
        description=(
            "DHT nodes with seeders: a StatefulSet (stable identity per pod), infohashes sharded across the "
            "pods."
        ),
    )
    storage: StorageSpec = Field(
        default_factory=StorageSpec,
        description=(
            "The object store (source of truth: blobs, manifests, torrents, HLS) and how files are cut."
        ),
    )
    redis: RedisSpec = Field(
        default_factory=lambda: RedisSpec(managed=RedisManaged.model_validate({})),
        description=(
            "Redis for shared state (rate limits, sessions, swarms, indexes): exactly one of external or "
            "managed."
        ),
    )
    nostr: NostrSpec = Field(
        default_factory=NostrSpec, description="Nostr announcements of new files (NIP-94, NIP-35)."
    )
    auth: AuthSpec = Field(
        default_factory=AuthSpec, description="Logins (NIP-07, NIP-46) and administrators."
    )
    rate_limits: RateLimitsSpec = Field(
        default_factory=RateLimitsSpec,
        description="Rate limits, enforced in Redis so that every replica shares them.",
    )
    hls: HLSSpec = Field(
        default_factory=HLSSpec,
        description="HLS streams of uploaded videos (made by ffmpeg in the gateway pods).",
    )
    ingress: IngressSpec = Field(
        default_factory=IngressSpec,
        description=(
            "An Ingress for the API host (gateway; /announce and /scrape go to the tracker) and the Blossom "
            "host."
        ),
    )
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec,
        description="NetworkPolicies that admit only the traffic each component needs.",
    )
    pod_disruption_budget: PodDisruptionBudgetSpec = Field(
        default_factory=PodDisruptionBudgetSpec,
        description=(
            "PodDisruptionBudgets (at most one pod of each component down during voluntary disruptions)."
        ),
    )
    logging: LoggingSpec = Field(default_factory=LoggingSpec, description="Logs of every component.")

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
