"""Names and labels of every child object of one TorrentGateway.

Names are derived from the TorrentGateway's name alone, so the operator can find (and prune)
its children without listing anything; labels follow the app.kubernetes.io conventions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import FIELD_MANAGER

COMPONENTS = ("gateway", "blossom", "tracker", "dht")
MAX_NAME_LENGTH = 40  # <name>-minio-hl, <name>-dht-31 and the StatefulSet pod labels stay within 63
DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)


def check_instance_name(name: str) -> None:
    """ValueError when the TorrentGateway's name cannot name its children (the CRD refuses it too)."""
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"metadata.name: at most {MAX_NAME_LENGTH} characters (child objects are <name>-<component>)"
        )
    if not _DNS_LABEL.match(name):
        raise ValueError("metadata.name: must be a DNS label starting with a letter (it names Services)")


@dataclass(frozen=True)
class Names:
    instance: str

    def component(self, component: str) -> str:
        return f"{self.instance}-{component}"

    @property
    def config(self) -> str:
        return f"{self.instance}-config"

    @property
    def service_account(self) -> str:
        return self.instance

    @property
    def ingress(self) -> str:
        return self.instance

    @property
    def minio(self) -> str:
        return f"{self.instance}-minio"

    @property
    def minio_headless(self) -> str:
        return f"{self.instance}-minio-hl"

    @property
    def redis(self) -> str:
        return f"{self.instance}-redis"

    @property
    def minio_credentials(self) -> str:
        return f"{self.instance}-minio-credentials"

    @property
    def redis_credentials(self) -> str:
        return f"{self.instance}-redis-credentials"

    @property
    def tracker_secret(self) -> str:
        return f"{self.instance}-tracker-secret"

    @property
    def nostr_key(self) -> str:
        return f"{self.instance}-nostr-key"

    def dht_pod(self, ordinal: int) -> str:
        return f"{self.instance}-dht-{ordinal}"

    def network_policy(self, component: str) -> str:
        return f"{self.instance}-{component}"


def labels(instance: str, component: str | None = None) -> dict[str, str]:
    """Labels on every child (and, with the component, on its pods)."""
    result = {
        "app.kubernetes.io/name": "torrent-gateway",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
        "app.kubernetes.io/part-of": "torrent-gateway",
    }
    if component:
        result["app.kubernetes.io/component"] = component
    return result


def selector(instance: str, component: str) -> dict[str, str]:
    """The stable subset of labels a workload selects its pods by (selectors are immutable)."""
    return {
        "app.kubernetes.io/name": "torrent-gateway",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    }
