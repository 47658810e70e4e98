"""The node of the test cluster: no kubelet can run on this machine, so this loop plays one.

It registers one Node (Ready, roomy capacity), and watches every pod: a pod nobody scheduled is
bound to the node (the harness runs no kube-scheduler), a bound pod is reported Running with every
container ready (so the Deployment and StatefulSet controllers count it as on a real cluster), and
a pod being deleted is finalized (a kubelet confirms the deletion with grace period 0; without it
pods stay Terminating forever and the garbage collector never finishes).

No container runs: a pod whose image does not exist still turns Ready. What the cluster suite
proves is the control plane's side (API, RBAC, admission, controllers, GC), not the images.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx

from tests.cluster.harness import ClusterState

NODE = "tgw-fake-node"
log = logging.getLogger("fake-kubelet")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def register_node(client: httpx.Client) -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE,
            "labels": {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "type": "fake"},
        },
    }
    response = client.post("/api/v1/nodes", json=node)
    if response.status_code not in (201, 409):
        response.raise_for_status()
    capacity = {"cpu": "64", "memory": "256Gi", "pods": "2000", "ephemeral-storage": "1Ti"}
    status = {
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": NODE},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "fake kubelet",
                    "lastHeartbeatTime": _now(),
                    "lastTransitionTime": _now(),
                },
            ],  # fmt: skip
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "v1.37.2",
                "kubeProxyVersion": "",
                "containerRuntimeVersion": "fake://0",
                "kernelVersion": "",
                "osImage": "fake",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },  # fmt: skip
        }
    }
    client.patch(
        f"/api/v1/nodes/{NODE}/status",
        content=json.dumps(status),
        headers={"Content-Type": "application/merge-patch+json"},
    ).raise_for_status()


class FakeKubelet:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.addresses: dict[str, str] = {}

    def _ip(self, uid: str) -> str:
        if uid not in self.addresses:
            n = len(self.addresses) + 2
            self.addresses[uid] = f"10.244.{(n >> 8) & 255}.{n & 255}"
        return self.addresses[uid]

    def handle(self, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        if meta.get("deletionTimestamp"):
            if spec.get("nodeName"):
                self.client.request(
                    "DELETE", path, json={"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
                )
            return
        if not spec.get("nodeName"):
            binding = {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": NODE},
            }
            response = self.client.post(f"{path}/binding", json=binding)
            if response.status_code not in (201, 409):
                log.warning("binding %s: %s %s", meta["name"], response.status_code, response.text[:200])
            return
        if status.get("phase") == "Running" and all(
            c.get("ready") for c in status.get("containerStatuses") or [{}]
        ):
            return
        now = _now()
        conditions = [
            {"type": kind, "status": "True", "lastTransitionTime": now}
            for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        containers = [
            {
                "name": container["name"],
                "image": container.get("image", ""),
                "imageID": "",
                "containerID": f"fake://{meta['uid']}/{container['name']}",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for container in spec.get("containers") or []
        ]
        patch = {
            "status": {
                "phase": "Running",
                "hostIP": "127.0.0.1",
                "podIP": self._ip(meta["uid"]),
                "podIPs": [{"ip": self._ip(meta["uid"])}],
                "startTime": now,
                "conditions": conditions,
                "containerStatuses": containers,
            }
        }
        response = self.client.patch(
            f"{path}/status",
            content=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if response.status_code >= 300 and response.status_code != 404:
            log.warning("status of %s: %s %s", meta["name"], response.status_code, response.text[:200])

    def run(self) -> None:
        while True:
            try:
                self._list_and_watch()
            except (httpx.HTTPError, ValueError) as exc:
                log.info("watch interrupted (%s); listing again", exc)
                time.sleep(0.5)

    def _list_and_watch(self) -> None:
        listing = self.client.get("/api/v1/pods")
        listing.raise_for_status()
        body = listing.json()
        for pod in body.get("items") or []:
            self.handle(pod)
        version = body["metadata"]["resourceVersion"]
        params = {
            "watch": "1",
            "resourceVersion": version,
            "allowWatchBookmarks": "1",
            "timeoutSeconds": "300",
        }
        with self.client.stream("GET", "/api/v1/pods", params=params, timeout=None) as stream:
            for line in stream.iter_lines():
                if not line:
                    continue
                event = json.loads(line)
                if event["type"] == "ERROR":
                    return  # e.g. 410 Gone: list again
                if event["type"] in ("ADDED", "MODIFIED"):
                    self.handle(event["object"])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.fake_kubelet")
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the log
    state = ClusterState(**json.loads(args.state.read_text()))
    with state.client() as client:
        while True:
            try:
                register_node(client)
                break
            except httpx.HTTPError as exc:
                log.info("node not registered yet: %s", exc)
                time.sleep(0.5)
        FakeKubelet(client).run()


if __name__ == "__main__":
    main()
