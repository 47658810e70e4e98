"""Leader election between operator replicas on a ``coordination.k8s.io`` Lease.

Only the leader runs kopf; the others wait, answering the kubelet's probes, and take over once
the leader's lease expires (it stops renewing: crashed, killed, partitioned) or is released (a
clean shutdown hands over at once). A leader that cannot renew before its own deadline exits the
process at once rather than risk two operators acting, the way client-go's leader election does.
Built on a Lease, a built-in type, so no CRD, Helm hook or peering object is needed: the chart
creates the (empty) Lease with the release and deletes it on uninstall.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _micro(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseSettings:
    namespace: str
    name: str
    identity: str
    duration: float = 15.0  # a standby takes over this long after the leader's last renewal
    renew_deadline: float = 10.0  # a leader that could not renew for this long steps down
    retry_period: float = 2.0


class LeaseElector:
    def __init__(self, api: k8s.CoordinationV1Api, settings: LeaseSettings) -> None:
        self.api = api
        self.settings = settings

    def _lease_body(self, transitions: int, acquired: datetime.datetime | None) -> dict[str, Any]:
        now = _now()
        return {
            "holderIdentity": self.settings.identity,
            "leaseDurationSeconds": max(1, round(self.settings.duration)),
            "acquireTime": _micro(acquired or now),
            "renewTime": _micro(now),
            "leaseTransitions": transitions,
        }

    def try_acquire_or_renew(self, create: bool = True) -> bool:
        """One attempt; True while this process holds the lease.

        ``create``: make the Lease when it is missing (the chart makes it; a leader whose Lease
        vanished, e.g. deleted by ``helm uninstall``, has lost it and must not bring it back).
        """
        s = self.settings
        try:
            lease = self.api.read_namespaced_lease(s.name, s.namespace)
        except ApiException as exc:
            if exc.status != 404 or not create:
                raise
            body: Any = {
                "metadata": {"name": s.name, "namespace": s.namespace},
                "spec": self._lease_body(0, None),
            }
            try:
                self.api.create_namespaced_lease(s.namespace, body)  # the client serialises a dict as it is
            except ApiException as create_error:
                if create_error.status == 409:  # another replica created it first
                    return False
                raise
            return True
        spec = lease.spec or k8s.V1LeaseSpec()  # the chart's Lease starts with an empty spec
        version = lease.metadata.resource_version if lease.metadata else None
        holder = spec.holder_identity or ""
        ours = holder == s.identity
        if not ours and holder:
            renewed = spec.renew_time or spec.acquire_time
            duration = spec.lease_duration_seconds or s.duration
            if renewed is not None and renewed + datetime.timedelta(seconds=duration) > _now():
                return False  # someone else holds a live lease
        transitions = (spec.lease_transitions or 0) + (0 if ours else 1)
        # A patch of the spec only (labels and Helm's ownership annotations stay), conditional on
        # the version read: two replicas racing for an expired Lease cannot both win.
        body = {
            "metadata": {"resourceVersion": version},
            "spec": self._lease_body(transitions, spec.acquire_time if ours else None),
        }
        try:
            self.api.patch_namespaced_lease(s.name, s.namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # changed since we read it: someone else renewed or took it
                return False
            raise
        return True

    def release(self) -> None:
        """Hand over at once on a clean shutdown: the Lease is left without holder, already expired."""
        s = self.settings
        with contextlib.suppress(ApiException):
            lease = self.api.read_namespaced_lease(s.name, s.namespace)
            if lease.spec is None or lease.metadata is None or lease.spec.holder_identity != s.identity:
                return
            body = {
                "metadata": {"resourceVersion": lease.metadata.resource_version},
                "spec": {"holderIdentity": None, "leaseDurationSeconds": 1},
            }
            self.api.patch_namespaced_lease(s.name, s.namespace, body)
            log.info("released the leader lease %s/%s", s.namespace, s.name)

    def wait_for_leadership(self, stop: threading.Event | None = None) -> bool:
        while stop is None or not stop.is_set():
            try:
                if self.try_acquire_or_renew():
                    log.info("acquired the leader lease %s/%s as %s", *self._where())
                    return True
            except Exception as exc:  # noqa: BLE001 - keep waiting whatever the API answers
                log.warning("leader lease: %s", exc)
            time.sleep(self.settings.retry_period)
        return False

    def _retry(self, exc: Exception, last: float) -> bool:
        if time.monotonic() - last < self.settings.renew_deadline:
            log.warning("leader lease renewal failed, retrying: %s", exc)
            return True
        return False

    def _where(self) -> tuple[str, str, str]:
        return self.settings.namespace, self.settings.name, self.settings.identity

    def keep_renewing(self, lost: Callable[[], None], stop: threading.Event) -> threading.Thread:
        """Renew in a thread; ``lost`` is called once the lease could not be kept."""

        def loop() -> None:
            last = time.monotonic()
            while not stop.wait(self.settings.retry_period):
                try:
                    if self.try_acquire_or_renew(create=False):
                        last = time.monotonic()
                        continue
                    log.error("leader lease %s/%s was taken over; stepping down", *self._where()[:2])
                except ApiException as exc:
                    if exc.status == 404:
                        log.error("leader lease %s/%s is gone; stepping down", *self._where()[:2])
                    elif not self._retry(exc, last):
                        log.error(
                            "leader lease not renewed in %.0fs; stepping down", self.settings.renew_deadline
                        )
                    else:
                        continue
                except Exception as exc:  # noqa: BLE001 - any failure to renew counts against the deadline
                    if self._retry(exc, last):
                        continue
                    log.error(
                        "leader lease not renewed in %.0fs; stepping down", self.settings.renew_deadline
                    )
                lost()
                return

        thread = threading.Thread(target=loop, name="leader-lease", daemon=True)
        thread.start()
        return thread


class _Alive(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        body = b"standby: waiting for the leader lease\n"
        self.send_response(200 if self.path in ("/healthz", "/readyz") else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet probes
        return


@contextlib.contextmanager
def standby_probe(host: str, port: int):  # type: ignore[no-untyped-def]
    """While waiting, answer the kubelet on kopf's probe port (kopf takes the port over later)."""
    if not port:
        yield
        return
    server = ThreadingHTTPServer((host, port), _Alive)
    thread = threading.Thread(target=server.serve_forever, name="standby-probe", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def load_api() -> k8s.CoordinationV1Api:
    # The client's config loaders carry no annotations; named with their real signature here.
    load_incluster_config: Callable[[], None] = k8s_config.load_incluster_config
    load_kube_config: Callable[[], None] = k8s_config.load_kube_config
    try:
        load_incluster_config()
    except k8s_config.ConfigException:
        load_kube_config()
    return k8s.CoordinationV1Api()


def default_identity() -> str:
    return f"{os.environ.get('HOSTNAME', 'operator')}-{uuid.uuid4().hex[:8]}"
