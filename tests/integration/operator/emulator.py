"""kmock's KubernetesEmulator, shimmed to behave like an API server where kopf and the operator need it.

kmock 0.8 stores objects and streams events but leaves out what a real API server adds; this
shim adds exactly that, for the operator's tests and benchmark:

- stamps ``uid``, ``resourceVersion``, ``generation`` (bumped on spec changes) and
  ``creationTimestamp``; honours ``generateName``;
- keeps an event log so a watch started at ``resourceVersion=N`` replays what happened after N
  (kmock replays every object as ADDED on each watch), and list responses carry the current
  resourceVersion; ``labelSelector`` (equality) filters lists and watches;
- registers CustomResourceDefinitions created through the API (discovery, ``/status``
  subresource: patches to the main resource leave status alone and vice versa);
- implements ``application/apply-patch+yaml`` (server-side apply) as an upsert: the applied
  top-level fields replace the stored ones, labels/annotations merge, fields a manager applied
  before and dropped now are removed;
- finalizers and ``deletionTimestamp``; when an object is gone its dependents (by
  ownerReferences uid) are garbage-collected like the real collector does.

``EmulatorThread`` runs it on 127.0.0.1 in its own thread and event loop; ``Api`` is a small
synchronous client for the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import gzip
import importlib.resources
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp.web
import attrs
import httpx
import jsonpatch
import kmock
import yaml
from kmock._internal import enums, k8s_dicts, references, rendering

ObjectKey = tuple[references.resource, str | None, str]
T = TypeVar("T")
# Built-in resources whose status is a subresource (the main endpoint ignores status).
_STATUS_BUILTINS = {
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("", "v1", "services"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("networking.k8s.io", "v1", "ingresses"),
}
_CRDS = references.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
_ALL_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response(
        {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        },
        status=code,
    )


def _matches_labels(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def _essence(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    _rv: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    _current_rv: int = attrs.field(default=0, init=False)
    _log: list[tuple[int, references.resource, dict[str, Any]]] = attrs.field(factory=list, init=False)
    _watchers: set[tuple[references.resource, str | None, str | None, asyncio.Queue[Any]]] = attrs.field(
        factory=set, init=False
    )
    _status_resources: set[references.resource] = attrs.field(factory=set, init=False)
    _applied_keys: dict[tuple[ObjectKey, str], set[str]] = attrs.field(factory=dict, init=False)
    _mutex: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # Discovery of the built-in resources (a K3s listing bundled with kmock): kopf waits for
        # namespaces and events to be discoverable before it starts watching anything.
        bundled = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
        self.resources.load_data(gzip.decompress(bundled))
        self.resources[_CRDS] = references.ResourceInfo(
            kind="CustomResourceDefinition",
            singular="customresourcedefinition",
            namespaced=False,
            verbs=_ALL_VERBS,
        )
        for group, version, plural in _STATUS_BUILTINS:
            self._status_resources.add(references.resource(group, version, plural))

    # ----------------------------------------------------------------------------- dispatching

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if request.resource is None or request.resource.plural is None:
            return await super()._handle(request)  # discovery and non-Kubernetes paths
        action = request.action
        if action == enums.action.WATCH:
            return await self._watch(request)
        if action == enums.action.LIST:
            return self._list(request)
        if action == enums.action.FETCH:
            obj = self._get(self._key(request))
            if obj is None:
                return _status(404, "NotFound", f"{request.resource.plural} {request.name!r} not found")
            return aiohttp.web.json_response(obj)
        if action in (enums.action.CREATE, enums.action.UPDATE, enums.action.DELETE):
            async with self._mutex:
                return await self._mutate(request)
        return await super()._handle(request)

    def _key(self, request: rendering.Request, name: str | None = None) -> ObjectKey:
        assert request.resource is not None
        resource = references.resource(
            request.resource.group, request.resource.version, request.resource.plural
        )
        return (resource, request.namespace, name or request.name or "")

    def _get(self, key: ObjectKey) -> dict[str, Any] | None:
        if key not in self._objects._objects:
            return None
        obj = self._objects._objects[key]
        return None if obj.deleted else copy.deepcopy(obj.raw)

    def _put(self, key: ObjectKey, value: dict[str, Any]) -> None:
        if key in self._objects._objects:
            self._objects._objects[key].history.append(value)
        else:
            self._objects._objects[key] = k8s_dicts.Object(value)

    def _bump(self) -> str:
        self._current_rv = next(self._rv)
        return str(self._current_rv)

    def _emit(self, resource: references.resource, kind: str, obj: dict[str, Any]) -> None:
        event = {"type": kind, "object": copy.deepcopy(obj)}
        self._log.append((self._current_rv, resource, event))
        namespace = obj.get("metadata", {}).get("namespace")
        for res, ns, selector, queue in list(self._watchers):
            if res == resource and (ns is None or ns == namespace) and _matches_labels(obj, selector):
                queue.put_nowait(event)

    # ------------------------------------------------------------------------------- reading

    def _list(self, request: rendering.Request) -> aiohttp.web.Response:
        resource, namespace, _ = self._key(request)
        selector = request.params.get("labelSelector")
        items = [
            copy.deepcopy(obj.raw)
            for (res, ns, _), obj in self._objects._objects.items()
            if res == resource
            and not obj.deleted
            and (namespace is None or ns == namespace)
            and _matches_labels(obj.raw, selector)
        ]
        return aiohttp.web.json_response(
            {
                "apiVersion": "v1",
                "kind": "List",
                "metadata": {"resourceVersion": str(self._current_rv)},
                "items": items,
            }
        )

    async def _watch(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        resource, namespace, _ = self._key(request)
        selector = request.params.get("labelSelector")
        since = request.params.get("resourceVersion")
        timeout = float(request.params.get("timeoutSeconds") or 0) or None
        queue: asyncio.Queue[Any] = asyncio.Queue()
        async with self._mutex:
            if since and since != "0":
                # Replay what happened after the client's resourceVersion, as a real watch does.
                backlog = [
                    event
                    for rv, res, event in self._log
                    if rv > int(since)
                    and res == resource
                    and (namespace is None or event["object"]["metadata"].get("namespace") == namespace)
                    and _matches_labels(event["object"], selector)
                ]
            else:
                backlog = [
                    {"type": "ADDED", "object": copy.deepcopy(obj.raw)}
                    for (res, ns, _), obj in self._objects._objects.items()
                    if res == resource
                    and not obj.deleted
                    and (namespace is None or ns == namespace)
                    and _matches_labels(obj.raw, selector)
                ]
            watcher = (resource, namespace, selector, queue)
            self._watchers.add(watcher)
        assert request._raw_request is not None
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request._raw_request)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        transport = request._raw_request.transport
        try:
            for event in backlog:
                await response.write(json.dumps(event).encode() + b"\n")
            while deadline is None or loop.time() < deadline:
                if transport is None or transport.is_closing():
                    break  # the client went away
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=0.5)
                except TimeoutError:
                    continue
                await response.write(json.dumps(event).encode() + b"\n")
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self._watchers.discard(watcher)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response

    # ------------------------------------------------------------------------------ writing

    async def _mutate(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if request.action == enums.action.CREATE:
            body = request.data if isinstance(request.data, dict) else yaml.safe_load(request.text or "{}")
            return self._create(request, body)
        if request.action == enums.action.DELETE:
            return self._delete(self._key(request))
        return self._patch(request)

    def _create(self, request: rendering.Request, body: dict[str, Any]) -> aiohttp.web.Response:
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            return _status(422, "Invalid", "metadata.name is required")
        key = self._key(request, meta["name"])
        if self._get(key) is not None:
            return _status(409, "AlreadyExists", f"{key[0].plural} {meta['name']!r} already exists")
        if request.namespace:
            meta["namespace"] = request.namespace
        meta.update(
            uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1, resourceVersion=self._bump()
        )
        if key[0] in self._status_resources:
            body.pop("status", None)
        self._put(key, body)
        if key[0] == _CRDS:
            self._register_crd(body)
        self._emit(key[0], "ADDED", body)
        return aiohttp.web.json_response(body, status=201)

    def _patch(self, request: rendering.Request) -> aiohttp.web.Response:
        key = self._key(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        content_type = headers.get("content-type", "").split(";")[0].strip()
        body = request.data if request.data is not None else yaml.safe_load(request.text or "null")
        current = self._get(key)
        if content_type == "application/apply-patch+yaml":
            manager = request.params.get("fieldManager")
            if not manager:
                return _status(422, "Invalid", "fieldManager is required for apply patch")
            if current is None:
                self._applied_keys[(key, manager)] = set(_essence(body))
                return self._create(request, body)
            new = self._apply(key, manager, current, body)
        elif current is None:
            return _status(404, "NotFound", f"{key[0].plural} {key[2]!r} not found")
        elif content_type == "application/json-patch+json":
            new = jsonpatch.apply_patch(current, body, in_place=False)
        else:  # merge-patch (and strategic merge patch, approximated by it)
            new = _merge(current, body)
        if request.subresource == "status":
            new = {**current, "status": new.get("status")}
        elif key[0] in self._status_resources:
            if "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
        return self._store_update(key, current, new)

    def _apply(
        self, key: ObjectKey, manager: str, current: dict[str, Any], applied: dict[str, Any]
    ) -> dict[str, Any]:
        new = copy.deepcopy(current)
        previous_keys = self._applied_keys.get((key, manager), set())
        for field in previous_keys - set(_essence(applied)):
            new.pop(field, None)
        for field, value in _essence(applied).items():
            new[field] = copy.deepcopy(value)
        self._applied_keys[(key, manager)] = set(_essence(applied))
        meta_in = applied.get("metadata", {})
        meta = new.setdefault("metadata", {})
        for section in ("labels", "annotations"):
            if meta_in.get(section):
                meta[section] = {**(meta.get(section) or {}), **meta_in[section]}
        if "ownerReferences" in meta_in:
            meta["ownerReferences"] = copy.deepcopy(meta_in["ownerReferences"])
        return new

    def _store_update(
        self, key: ObjectKey, current: dict[str, Any], new: dict[str, Any]
    ) -> aiohttp.web.Response:
        meta = new.setdefault("metadata", {})
        for immutable in ("uid", "creationTimestamp", "name", "namespace"):
            if immutable in current.get("metadata", {}):
                meta[immutable] = current["metadata"][immutable]
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        meta["generation"] = current["metadata"].get("generation", 1)
        if new == current:
            return aiohttp.web.json_response(current)  # a no-op: no new version, no event
        if _essence(new) != _essence(current):
            meta["generation"] = meta["generation"] + 1
        meta["resourceVersion"] = self._bump()
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._put(key, new)
            self._finalize(key)
            return aiohttp.web.json_response(new)
        self._put(key, new)
        self._emit(key[0], "MODIFIED", new)
        return aiohttp.web.json_response(new)

    def _delete(self, key: ObjectKey) -> aiohttp.web.Response:
        current = self._get(key)
        if current is None:
            return _status(404, "NotFound", f"{key[0].plural} {key[2]!r} not found")
        meta = current["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = _now()
                meta["resourceVersion"] = self._bump()
                self._put(key, current)
                self._emit(key[0], "MODIFIED", current)
            return aiohttp.web.json_response(current)
        self._finalize(key)
        return aiohttp.web.json_response(current)

    def _finalize(self, key: ObjectKey) -> None:
        obj = self._get(key)
        if obj is None:
            return
        self._bump()
        obj["metadata"]["resourceVersion"] = str(self._current_rv)
        self._objects._objects[key].delete()
        self._emit(key[0], "DELETED", obj)
        # The garbage collector: dependents of a gone owner go too.
        uid = obj["metadata"].get("uid")
        for other_key, other in list(self._objects._objects.items()):
            if other.deleted:
                continue
            refs = other.raw.get("metadata", {}).get("ownerReferences") or []
            if any(ref.get("uid") == uid for ref in refs):
                self._delete(other_key)

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        for version in spec.get("versions", []):
            res = references.resource(spec["group"], version["name"], names["plural"])
            subresources = set((version.get("subresources") or {}).keys())
            self.resources[res] = references.ResourceInfo(
                kind=names.get("kind"),
                singular=names.get("singular"),
                namespaced=spec.get("scope") == "Namespaced",
                verbs=_ALL_VERBS,
                shortnames=names.get("shortNames", []),
                categories=names.get("categories", []),
                subresources=subresources,
            )
            if "status" in subresources:
                self._status_resources.add(res)


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


class EmulatorThread:
    """The emulator served on 127.0.0.1:<free port> by its own event loop in a daemon thread."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="k8s-emulator", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.emulator: ClusterEmulator | None = None
        self.port = 0
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self.emulator = ClusterEmulator()
        async with self.emulator, kmock.Server(self.emulator) as server:
            self.port = server.port
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        if not self._ready.wait(timeout=20) or self._error is not None:
            raise RuntimeError(f"the Kubernetes emulator did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=20)

    def call(self, fn: Callable[[ClusterEmulator], T], timeout: float = 10.0) -> T:
        """Run ``fn(emulator)`` in the emulator's loop (between requests) and return its result."""
        assert self._loop is not None and self.emulator is not None
        emulator = self.emulator

        async def run() -> T:
            return fn(emulator)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
                    "contexts": [
                        {
                            "name": "emulator",
                            "context": {"cluster": "emulator", "user": "tester", "namespace": "default"},
                        }
                    ],
                    "current-context": "emulator",
                }
            )
        )
        return path


_PLURALS = {
    "ConfigMap": ("v1", "configmaps"),
    "Secret": ("v1", "secrets"),
    "Service": ("v1", "services"),
    "ServiceAccount": ("v1", "serviceaccounts"),
    "Deployment": ("apps/v1", "deployments"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets"),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
    "Ingress": ("networking.k8s.io/v1", "ingresses"),
    "TorrentGateway": ("torrentgateway.io/v1alpha1", "torrentgateways"),
    "CustomResourceDefinition": ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
}


def object_path(kind: str, namespace: str | None, name: str | None = None) -> str:
    api_version, plural = _PLURALS[kind]
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{root}/namespaces/{namespace}/{plural}" if namespace else f"{root}/{plural}"
    return f"{path}/{name}" if name else path


class Api:
    """A synchronous client of the emulator for test code (the way kubectl would talk to it)."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        namespace = obj.get("metadata", {}).get("namespace")
        response = self.http.post(object_path(obj["kind"], namespace), json=obj)
        response.raise_for_status()
        return response.json()

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        response = self.http.get(object_path(kind, namespace, name))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def list(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        response = self.http.get(object_path(kind, namespace))
        response.raise_for_status()
        return response.json()["items"]

    def patch(
        self, kind: str, namespace: str | None, name: str, patch: dict[str, Any], status: bool = False
    ) -> dict[str, Any]:
        path = object_path(kind, namespace, name) + ("/status" if status else "")
        response = self.http.patch(
            path, content=json.dumps(patch), headers={"Content-Type": "application/merge-patch+json"}
        )
        response.raise_for_status()
        return response.json()

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        response = self.http.delete(object_path(kind, namespace, name))
        response.raise_for_status()

    def names(self, kind: str, namespace: str) -> set[str]:
        return {item["metadata"]["name"] for item in self.list(kind, namespace)}


def iter_children(api: Api, namespace: str, kinds: list[str]) -> Iterator[dict[str, Any]]:
    for kind in kinds:
        yield from api.list(kind, namespace)


def live_keys(emulator: ClusterEmulator) -> set[tuple[str, str | None, str]]:
    """(plural, namespace, name) of every live object; run it through ``EmulatorThread.call``."""
    return {
        (res.plural or "", ns, name) for (res, ns, name), obj in emulator.objects.items() if not obj.deleted
    }
