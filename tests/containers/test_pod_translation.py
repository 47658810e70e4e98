"""The pod template → podman translation itself: faithful for what the builders render, and loud
about anything it does not reproduce (so the container test can never pass on a silently dropped
field). No container runs here."""

from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import pytest
from torrent_gateway_operator.builders import (
    WORKLOAD_UID,
    build_deployment,
    build_dht_statefulset,
    build_generated_secrets,
)
from torrent_gateway_operator.config_render import CACHE_DIR, CONFIG_DIR
from torrent_gateway_operator.spec import parse_spec

from .pod import UnsupportedSpec, podman_run_for

META = {"name": "demo", "namespace": "media", "uid": "0b9d2f7e-5f43-4c1e-9a55-3d1f1e0c7a10"}
SPEC = parse_spec(
    {
        "storage": {"minio": {"external": {"endpoint": "s3.test:9000", "credentialsSecret": {"name": "s3"}}}},
        "redis": {"external": {"urlSecret": {"name": "redis"}}},
        "dht": {"persistence": {"enabled": True, "size": "1Gi"}},
    }
)
SECRETS = {s["metadata"]["name"]: s["stringData"] for s in build_generated_secrets(SPEC, META)} | {
    "s3": {"access-key": "AK", "secret-key": "SK"},
    "redis": {"url": "redis://r:6379/0"},
}
CONFIGMAPS = {"demo-config": {"config.yaml": "storage:\n  backend: s3\n"}}


def flag_values(flags: list[str], name: str) -> list[str]:
    return [flags[i + 1] for i, flag in enumerate(flags) if flag == name]


def translate(workload: dict[str, Any], tmp_path: Path) -> Any:
    return podman_run_for(workload, secrets=SECRETS, configmaps=CONFIGMAPS, workdir=tmp_path, name="t")


def test_gateway_pod_becomes_the_same_container(tmp_path: Path) -> None:
    run = translate(build_deployment(SPEC, META, "gateway"), tmp_path)
    assert run.args == ["gateway"]
    env = dict(value.split("=", 1) for value in flag_values(run.flags, "--env"))
    assert env["TGW_STORAGE__S3__ACCESS_KEY"] == "AK" and env["TGW_STORAGE__S3__SECRET_KEY"] == "SK"
    assert env["TGW_STATE__REDIS_URL"] == "redis://r:6379/0"
    assert env["TGW_CONFIG"].startswith(CONFIG_DIR)
    assert flag_values(run.flags, "--user") == [f"{WORKLOAD_UID}:{WORKLOAD_UID}"]
    assert "--read-only" in run.flags and "--read-only-tmpfs=false" in run.flags
    assert flag_values(run.flags, "--cap-drop") == ["all"]
    mounts = flag_values(run.flags, "--mount")
    assert any(f"destination={CONFIG_DIR},ro=true" in m for m in mounts)
    assert any("destination=/tmp," in m for m in mounts) and any(
        f"destination={CACHE_DIR}," in m for m in mounts
    )
    assert len(mounts) == 3  # nothing writable beyond what the pod declares
    config_dir = tmp_path / "configmap-config"
    assert (config_dir / "config.yaml").read_text() == CONFIGMAPS["demo-config"]["config.yaml"]
    empty_dir = tmp_path / "emptydir-tmp"
    assert stat.S_IMODE(empty_dir.stat().st_mode) & 0o777 == 0o777
    assert set(run.published) == {"http"}


def test_dht_statefulset_gets_its_claim_and_pod_index(tmp_path: Path) -> None:
    run = translate(build_dht_statefulset(SPEC, META), tmp_path)
    env = dict(value.split("=", 1) for value in flag_values(run.flags, "--env"))
    assert env["TGW_DHT__SHARD_INDEX"] == "0"
    claim = tmp_path / "pvc-cache"
    assert claim.is_dir() and claim.stat().st_gid == WORKLOAD_UID
    assert any(f"source={claim},destination={CACHE_DIR}" in m for m in flag_values(run.flags, "--mount"))


@pytest.mark.parametrize(
    "change",
    [
        lambda c, p: c.__setitem__("workingDir", "/srv"),
        lambda c, p: c.__setitem__("envFrom", [{"secretRef": {"name": "x"}}]),
        lambda c, p: c["env"].append({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "a", "key": "b"}}}),
        lambda c, p: c["env"].append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}),
        lambda c, p: c["volumeMounts"].append({"name": "tmp", "mountPath": "/x", "subPath": "y"}),
        lambda c, p: c["volumeMounts"].append({"name": "undeclared", "mountPath": "/x"}),
        lambda c, p: p["volumes"].append({"name": "host", "hostPath": {"path": "/"}}) or c["volumeMounts"].append(
            {"name": "host", "mountPath": "/host"}
        ),
        lambda c, p: p.__setitem__("initContainers", [{"name": "init"}]),
        lambda c, p: p.__setitem__("hostNetwork", True),
    ],
    ids=["workingDir", "envFrom", "configMapKeyRef", "missing-secret", "subPath", "undeclared", "hostPath",
         "initContainers", "hostNetwork"],
)  # fmt: skip
def test_anything_not_reproduced_is_refused(tmp_path: Path, change: Any) -> None:
    workload = copy.deepcopy(build_deployment(SPEC, META, "blossom"))
    pod = workload["spec"]["template"]["spec"]
    change(pod["containers"][0], pod)
    with pytest.raises(UnsupportedSpec):
        translate(workload, tmp_path)
