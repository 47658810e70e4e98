"""The operator's own settings, from ``TGW_OPERATOR_*`` environment variables (the chart sets them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    peering: str = Field(
        "",
        description="Name of the ClusterKopfPeering used for leader election; empty: standalone (one replica).",
    )
    liveness_host: str = Field(
        "0.0.0.0", description="Address kopf's /healthz endpoint binds (the kubelet probes it)."
    )
    liveness_port: int = Field(
        8080, ge=0, le=65535, description="Port of kopf's /healthz endpoint (0: none)."
    )
    log_format: Literal["plain", "full", "json"] = Field("json", description="Log line format.")

    def namespace_list(self) -> list[str]:
        return [ns.strip() for ns in self.namespaces.split(",") if ns.strip()]
