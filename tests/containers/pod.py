"""The operator's rendered pod template → the ``podman run`` that reproduces it on one machine.

Only what the builders render is translated, and anything this module does not know is refused
(``UnsupportedSpec``): a new field in the builders must be taught here, never silently dropped,
or the container test would stop proving that the pod spec is enough for the component.

What a kubelet does and how it is reproduced:
- ``args`` (no ``command``) run after the image's ENTRYPOINT; ``command`` replaces it.
- ``env``: literal values; ``secretKeyRef`` from the Secrets given; the ``pod-index`` label.
- ``securityContext``: user/group, ``readOnlyRootFilesystem`` (podman's own writable tmpfs on
  /tmp, /run and /var/tmp is turned off: a pod gets none), no capabilities, no privilege escalation.
- volumes: ``configMap`` → its files in a read-only bind mount; ``emptyDir`` → a fresh directory,
  mode 0777 as a kubelet makes it; a PVC → a fresh directory owned by fsGroup.
- ports: each TCP ``containerPort`` published on 127.0.0.1 at a free port.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.servers import free_port

POD_INDEX_FIELD = "metadata.labels['apps.kubernetes.io/pod-index']"
# Fields of the pod template the translation understands. Probes and resources are read by the
# test or deliberately left to the kubelet (no cgroup limits on these machines); the image is
# replaced by the image under test.
_CONTAINER_KEYS = {
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "env",
    "ports",
    "startupProbe",
    "livenessProbe",
    "readinessProbe",
    "resources",
    "securityContext",
    "volumeMounts",
}
_POD_KEYS = {
    "serviceAccountName",
    "automountServiceAccountToken",
    "securityContext",
    "containers",
    "volumes",
    "terminationGracePeriodSeconds",
    "topologySpreadConstraints",
    "affinity",
    "imagePullSecrets",
}


class UnsupportedSpec(ValueError):
    """The pod template uses something this translation does not reproduce."""


@dataclass
class PodmanRun:
    """Everything ``podman run`` needs, plus where the container's HTTP ports ended up."""

    name: str
    flags: list[str]
    args: list[str]
    published: dict[str, int] = field(default_factory=dict)  # port name → 127.0.0.1 port

    def argv(self, image: str) -> list[str]:
        return [*self.flags, image, *self.args]


def _env_flags(
    env: list[dict[str, Any]], secrets: Mapping[str, Mapping[str, str]], pod_index: int
) -> list[str]:
    flags: list[str] = []
    for entry in env:
        name = entry["name"]
        if "value" in entry:
            value = str(entry["value"])
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            ref = entry["valueFrom"]["secretKeyRef"]
            if ref["name"] not in secrets or ref["key"] not in secrets[ref["name"]]:
                raise UnsupportedSpec(f"env {name}: Secret {ref['name']}/{ref['key']} was not given")
            value = secrets[ref["name"]][ref["key"]]
        elif entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == POD_INDEX_FIELD:
            value = str(pod_index)
        else:
            raise UnsupportedSpec(f"env {name}: {entry}")
        flags += ["--env", f"{name}={value}"]
    return flags


def _security_flags(pod_security: Mapping[str, Any], container_security: Mapping[str, Any]) -> list[str]:
    merged = {**pod_security, **container_security}
    flags: list[str] = []
    if "runAsUser" not in merged:
        raise UnsupportedSpec("no runAsUser: the image's user would decide")
    group = merged.get("runAsGroup", merged["runAsUser"])
    flags += ["--user", f"{merged['runAsUser']}:{group}"]
    if "fsGroup" in merged:
        flags += ["--group-add", str(merged["fsGroup"])]
    if merged.get("readOnlyRootFilesystem"):
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if merged.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    dropped = merged.get("capabilities", {}).get("drop", [])
    if dropped:
        flags += ["--cap-drop", ",".join(c.lower() for c in dropped)]
    added = merged.get("capabilities", {}).get("add", [])
    if added:
        flags += ["--cap-add", ",".join(c.lower() for c in added)]
    return flags


def _fresh_dir(path: Path, fs_group: int | None, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=False)
    if fs_group is not None:
        os.chown(path, 0, fs_group)
    path.chmod(mode)
    return path


def _volume_flags(
    container: Mapping[str, Any],
    volumes: list[dict[str, Any]],
    claims: Mapping[str, Mapping[str, Any]],
    configmaps: Mapping[str, Mapping[str, str]],
    workdir: Path,
    fs_group: int | None,
) -> list[str]:
    by_name = {v["name"]: v for v in volumes}
    flags: list[str] = []
    for mount in container.get("volumeMounts", []):
        unknown = set(mount) - {"name", "mountPath", "readOnly"}
        if unknown:
            raise UnsupportedSpec(f"volumeMount {mount['name']}: {sorted(unknown)}")
        target = mount["mountPath"]
        read_only = bool(mount.get("readOnly"))
        name = mount["name"]
        if name in by_name:
            volume = by_name[name]
        elif name in claims:
            volume = {"name": name, "persistentVolumeClaim": {"claimName": name}}
        else:
            raise UnsupportedSpec(f"volumeMount {name} has no volume")
        if "configMap" in volume:
            data = configmaps[volume["configMap"]["name"]]
            source = workdir / f"configmap-{name}"
            source.mkdir(parents=True, exist_ok=True)
            for key, text in data.items():
                (source / key).write_text(text)
                (source / key).chmod(0o644)
            source.chmod(0o755)
            flags += ["--mount", f"type=bind,source={source},destination={target},ro=true"]
        elif "emptyDir" in volume:
            if volume["emptyDir"].get("medium"):
                raise UnsupportedSpec(f"emptyDir {name}: medium {volume['emptyDir']['medium']}")
            # A kubelet's emptyDir: a fresh directory on the node's disk, mode 0777, group fsGroup.
            # (The sizeLimit is enforced by eviction, not by the filesystem: nothing to reproduce.)
            source = _fresh_dir(workdir / f"emptydir-{name}", fs_group, 0o2777)
            flags += [
                "--mount",
                f"type=bind,source={source},destination={target},ro={str(read_only).lower()}",
            ]
        elif "persistentVolumeClaim" in volume:
            source = workdir / f"pvc-{name}"
            source.mkdir(parents=True, exist_ok=True)
            if fs_group is not None:
                # What fsGroup does to a fresh volume: group-owned and group-writable.
                os.chown(source, 0, fs_group)
                source.chmod(0o2775)
            flags += [
                "--mount",
                f"type=bind,source={source},destination={target},ro={str(read_only).lower()}",
            ]
        else:
            raise UnsupportedSpec(f"volume {name}: {sorted(volume)}")
    return flags


def podman_run_for(
    workload: Mapping[str, Any],
    *,
    secrets: Mapping[str, Mapping[str, str]],
    configmaps: Mapping[str, Mapping[str, str]],
    workdir: Path,
    name: str,
    pod_index: int = 0,
) -> PodmanRun:
    """The ``podman run`` flags and args for the first container of a Deployment or StatefulSet."""
    spec = workload["spec"]
    pod = spec["template"]["spec"]
    unknown = set(pod) - _POD_KEYS
    if unknown:
        raise UnsupportedSpec(f"pod spec: {sorted(unknown)}")
    if len(pod["containers"]) != 1 or pod.get("initContainers"):
        raise UnsupportedSpec("exactly one container per pod is reproduced")
    container = pod["containers"][0]
    unknown = set(container) - _CONTAINER_KEYS
    if unknown:
        raise UnsupportedSpec(f"container {container['name']}: {sorted(unknown)}")
    claims = {c["metadata"]["name"]: c for c in spec.get("volumeClaimTemplates", [])}
    pod_security = pod.get("securityContext", {})
    flags = ["--name", name, "--hostname", name]
    if "command" in container:
        flags += ["--entrypoint", " ".join(container["command"])]
    flags += _env_flags(container.get("env", []), secrets, pod_index)
    flags += _security_flags(pod_security, container.get("securityContext", {}))
    flags += _volume_flags(
        container, pod.get("volumes", []), claims, configmaps, workdir, pod_security.get("fsGroup")
    )
    published: dict[str, int] = {}
    for port in container.get("ports", []):
        if port.get("protocol", "TCP") != "TCP":
            continue  # UDP (DHT, peer uTP, BEP 15) is not exercised through the published ports
        host_port = free_port()
        published[port.get("name", str(port["containerPort"]))] = host_port
        flags += ["--publish", f"127.0.0.1:{host_port}:{port['containerPort']}/tcp"]
    return PodmanRun(name=name, flags=flags, args=list(container.get("args", [])), published=published)
