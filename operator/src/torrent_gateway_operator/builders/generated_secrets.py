"""Secrets the operator makes up (MinIO and Redis credentials, tracker key, Nostr key).

They are created once when absent and never overwritten, so credentials survive every reconcile.
"""

from __future__ import annotations

import secrets as _secrets

from ..config_render import REDIS_PORT
from ..names import Names
from ..spec import TorrentGatewaySpec
from .common import Manifest, Meta, TokenSource, object_metadata

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def generate_nostr_key(token: TokenSource) -> str:
    """A valid secp256k1 secret key as hex: 32 random bytes below the group order, not zero."""
    for _ in range(64):  # the chance of even one retry is below 2**-127
        candidate = token(32)
        if 0 < int(candidate, 16) < SECP256K1_ORDER:
            return candidate
    raise RuntimeError("the random source keeps producing invalid secp256k1 keys")


def build_generated_secrets(
    spec: TorrentGatewaySpec, meta: Meta, token: TokenSource = _secrets.token_hex
) -> list[Manifest]:
    """Credentials the operator makes up: created once when absent, never overwritten."""
    names = Names(meta["name"])
    namespace = meta["namespace"]
    out: list[Manifest] = []

    def secret(name: str, component: str | None, data: dict[str, str]) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": object_metadata(meta, name, component),
            "type": "Opaque",
            "stringData": data,
        }

    if spec.storage.minio.managed is not None:
        out.append(
            secret(
                names.minio_credentials,
                "minio",
                {
                    "root-user": "tgw-" + token(8),
                    "root-password": token(24),
                },
            )
        )
    if spec.redis.managed is not None:
        password = token(24)
        out.append(
            secret(
                names.redis_credentials,
                "redis",
                {
                    "password": password,
                    "url": f"redis://:{password}@{names.redis}.{namespace}.svc:{REDIS_PORT}/0",
                },
            )
        )
    if spec.tracker.enabled and spec.tracker.secret_ref is None:
        out.append(secret(names.tracker_secret, "tracker", {"secret": token(32)}))
    if spec.nostr.private_key_secret is None:
        out.append(secret(names.nostr_key, "gateway", {"private-key": generate_nostr_key(token)}))
    return out
