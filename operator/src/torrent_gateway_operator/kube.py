"""A small Kubernetes API client for the children: server-side apply, create-if-absent, get, list, delete.

kopf watches and patches the TorrentGateways itself; this client talks to the API for the
children with the same credentials (the login handler hands it kopf's ``ConnectionInfo``).
Every request has a timeout; API refusals become ``ApiError`` with the server's reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import kopf

from . import FIELD_MANAGER

# (apiVersion, kind) → plural, for every kind the operator creates.
RESOURCES: dict[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Secret"): "secrets",
    ("v1", "Service"): "services",
    ("v1", "ServiceAccount"): "serviceaccounts",
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "StatefulSet"): "statefulsets",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    ("networking.k8s.io/v1", "Ingress"): "ingresses",
}


class ApiError(Exception):
    """The API server refused a request; ``status`` is the HTTP status, the message its reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def resource_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    plural = RESOURCES[(api_version, kind)]
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{root}/namespaces/{quote(namespace, safe='')}/{plural}"
    return f"{path}/{quote(name, safe='')}" if name else path


class KubeClient:
    """Reuses one HTTP session; ``login`` (re)sets the endpoint and credentials."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._info: kopf.ConnectionInfo | None = None
        self._session: aiohttp.ClientSession | None = None

    async def login(self, info: kopf.ConnectionInfo) -> None:
        """Use these credentials from now on (kopf calls this again when they expire)."""
        await self.close()
        self._info = info

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _open(self) -> aiohttp.ClientSession:
        if self._info is None:
            raise ApiError(0, "not logged in to the Kubernetes API yet")
        if self._session is None or self._session.closed:
            info = self._info
            ssl: Any = info.as_ssl_context() if info.server.startswith("https") else None
            self._session = aiohttp.ClientSession(
                base_url=info.server.rstrip("/") + "/",
                headers=info.as_http_headers(),
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(ssl=ssl, limit=32),
            )
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        session = self._open()
        data = None if body is None else json.dumps(body)
        headers = (
            {"Content-Type": content_type, "Accept": "application/json"}
            if data is not None
            else {"Accept": "application/json"}
        )
        async with session.request(
            method, path.lstrip("/"), data=data, headers=headers, params=params
        ) as response:
            text = await response.text()
            try:
                payload = json.loads(text) if text else None
            except ValueError:
                payload = text
            return response.status, payload

    @staticmethod
    def _raise(status: int, payload: Any) -> None:
        message = payload.get("message") if isinstance(payload, dict) else str(payload)[:300]
        raise ApiError(status, message or "no message")

    async def apply(self, manifest: Mapping[str, Any], field_manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Server-side apply under our field manager; force takes back fields others changed (drift)."""
        meta = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        status, payload = await self._request(
            "PATCH",
            path,
            body=manifest,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": field_manager, "force": "true"},
        )
        if status >= 300:
            self._raise(status, payload)
        return payload if isinstance(payload, dict) else {}

    async def create(self, manifest: Mapping[str, Any]) -> bool:
        """Create unless it exists; True when created. Existing objects are left untouched."""
        meta = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], meta["namespace"])
        status, payload = await self._request(
            "POST", path, body=manifest, params={"fieldManager": FIELD_MANAGER}
        )
        if status == 409:
            return False
        if status >= 300:
            self._raise(status, payload)
        return True

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        status, payload = await self._request("GET", resource_path(api_version, kind, namespace, name))
        if status == 404:
            return None
        if status >= 300:
            self._raise(status, payload)
        return payload if isinstance(payload, dict) else None

    async def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str
    ) -> list[dict[str, Any]]:
        status, payload = await self._request(
            "GET", resource_path(api_version, kind, namespace), params={"labelSelector": label_selector}
        )
        if status == 404:
            return []
        if status >= 300:
            self._raise(status, payload)
        return list(payload.get("items") or []) if isinstance(payload, dict) else []

    async def delete(
        self, api_version: str, kind: str, namespace: str, name: str, propagation: str = "Background"
    ) -> bool:
        """Delete (Background: the garbage collector removes pods; Orphan: they stay); False when gone."""
        status, payload = await self._request(
            "DELETE",
            resource_path(api_version, kind, namespace, name),
            body={"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation},
        )
        if status == 404:
            return False
        if status >= 300:
            self._raise(status, payload)
        return True
