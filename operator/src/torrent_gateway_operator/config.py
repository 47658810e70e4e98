"""The operator's own settings, from ``TGW_OPERATOR_*`` environment variables (the chart sets them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .spec import DEFAULT_IMAGE, ImagePolicy


class OperatorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TGW_OPERATOR_", extra="ignore")

    resync_interval: float = Field(
        60.0,
        gt=0,
        description="Seconds between re-applies of every TorrentGateway, undoing hand edits of children.",
    )
    dependency_retry_delay: float = Field(
        10.0, gt=0, description="Seconds between checks while a managed MinIO or Redis is not ready yet."
    )
    error_retry_delay: float = Field(
        30.0, gt=0, description="Seconds before retrying after the API server refused a child."
    )
    request_timeout: float = Field(30.0, gt=0, description="Timeout of each request to the Kubernetes API.")
    watch_timeout: int = Field(
        600,
        ge=0,
        description="Seconds a watch request lasts before kopf renews it (0: as long as the server allows).",
    )
    namespaces: str = Field("", description="Comma-separated namespaces to watch; empty: every namespace.")
    leader_election_lease: str = Field(
        "",
        description="Name of the Lease the operator replicas elect their leader on (only the leader acts); "
        "empty: no election, one replica only.",
    )
    leader_election_namespace: str = Field(
        "default", description="Namespace of that Lease (the chart: the release's namespace)."
    )
    leader_election_lease_seconds: float = Field(
        15.0,
        ge=3,
        description="Seconds after the leader's last renewal before a standby takes over; the leader steps "
        "down after two thirds of it without a renewal.",
    )
    liveness_host: str = Field(
        "0.0.0.0", description="Address kopf's /healthz endpoint binds (the kubelet probes it)."
    )
    liveness_port: int = Field(
        8080, ge=0, le=65535, description="Port of kopf's /healthz endpoint (0: none)."
    )
    log_format: Literal["plain", "full", "json"] = Field("json", description="Log line format.")
    workload_image: str = Field(
        DEFAULT_IMAGE,
        min_length=1,
        description="Image (repository:tag) of every workload whose TorrentGateway names none; the chart "
        "sets it to the operator's own image, so one image setting moves everything.",
    )
    allowed_images: str = Field(
        "",
        description="Comma-separated image repositories a TorrentGateway may run (a trailing * matches a "
        "prefix); empty: the workload image's repository and the default MinIO and Redis images. "
        "Creating a TorrentGateway runs pods with the namespace's Secrets through the operator's rights: "
        "this list is what keeps that from running arbitrary images.",
    )

    def image_policy(self) -> ImagePolicy:
        allowed = tuple(item.strip() for item in self.allowed_images.split(",") if item.strip())
        return ImagePolicy(default=self.workload_image, allowed=allowed)

    def namespace_list(self) -> list[str]:
        return [ns.strip() for ns in self.namespaces.split(",") if ns.strip()]
