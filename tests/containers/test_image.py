"""The project's image, built from its Dockerfile and run the way the operator runs it.

Every component (gateway, Blossom, tracker, DHT) runs as a container with exactly the command,
env, user, read-only root filesystem and writable mounts that the operator's builders render for a
sample TorrentGateway (translated by tests/containers/pod.py, not copied), against a real MinIO and
a real Redis on this machine's loopback. A component that writes where its pod gives it no volume
fails here: its root filesystem is read-only and nothing else is mounted.
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from torrent_gateway.bencode import bdecode
from torrent_gateway_operator.builders import (
    build_configmap,
    build_deployment,
    build_dht_statefulset,
    build_generated_secrets,
)
from torrent_gateway_operator.config_render import CACHE_DIR
from torrent_gateway_operator.spec import parse_spec

from tests.support.announce import announce, compact_ports
from tests.support.minio import MinioServer
from tests.support.servers import RedisServer

from .conftest import RUNTIME_FLAGS, BuiltImage, podman
from .pod import podman_run_for

META = {"name": "demo", "namespace": "media", "uid": "6f1c2a8e-0d4b-4f7e-9a51-0c2f3e4d5b6a"}
# The containers' own network namespace reaches the host's loopback at this address (slirp4netns
# with allow_host_loopback), where the test's MinIO and Redis listen.
HOST_LOOPBACK = "10.0.2.2"
NETWORK = "slirp4netns:allow_host_loopback=true"
COMPONENTS = ("gateway", "blossom", "tracker", "dht")
READY_TIMEOUT = 120.0
BUCKET = "tgw-containers"


def sample_spec(minio: MinioServer) -> dict[str, Any]:
    """A TorrentGateway on external MinIO and Redis, small blob threshold so big files are chunked."""
    return {
        "publicUrl": "https://files.example.org",
        "storage": {
            "blobThreshold": 1_000_000,
            "minio": {
                "external": {
                    "endpoint": f"{HOST_LOOPBACK}:{minio.port}",
                    "bucket": BUCKET,
                    "secure": False,
                    "credentialsSecret": {"name": "s3-credentials"},
                }
            },
        },
        "redis": {"external": {"urlSecret": {"name": "redis-url"}}},
        # Nothing leaves the machine: no relays, no public DHT routers.
        "nostr": {"relays": [], "publish": False},
        "dht": {"bootstrapNodes": []},
    }


@dataclass
class Running:
    name: str
    component: str
    base: str  # http://127.0.0.1:<published http port>
    readiness_path: str
    liveness_path: str


def _logs(name: str) -> str:
    return podman("logs", name, check=False).stdout + podman("logs", name, check=False).stderr


def _wait_ready(running: Running) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        state = podman("inspect", "--format", "{{.State.Status}}", running.name, check=False).stdout.strip()
        if state in ("exited", "stopped"):
            raise AssertionError(f"{running.name} exited during start:\n{_logs(running.name)[-6000:]}")
        try:
            answer = httpx.get(running.base + running.readiness_path, timeout=3)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    raise AssertionError(f"{running.name} not ready ({last}):\n{_logs(running.name)[-6000:]}")


@dataclass
class RenderedPods:
    workloads: dict[str, dict[str, Any]]
    secrets: dict[str, dict[str, str]]
    configmaps: dict[str, dict[str, str]]


def render_pods(minio: MinioServer, redis: RedisServer) -> RenderedPods:
    """What the operator applies for the sample TorrentGateway, plus the Secrets a user would create."""
    spec = parse_spec(sample_spec(minio))
    configmap = build_configmap(spec, META)
    secrets: dict[str, dict[str, str]] = {
        s["metadata"]["name"]: s["stringData"] for s in build_generated_secrets(spec, META)
    }
    secrets["s3-credentials"] = {"access-key": minio.access_key, "secret-key": minio.secret_key}
    secrets["redis-url"] = {"url": f"redis://{HOST_LOOPBACK}:{redis.port}/3"}
    workloads = {name: build_deployment(spec, META, name) for name in ("gateway", "blossom", "tracker")}
    workloads["dht"] = build_dht_statefulset(spec, META)
    return RenderedPods(workloads, secrets, {configmap["metadata"]["name"]: configmap["data"]})


@pytest.fixture(scope="module")
def deployment(
    image: BuiltImage,
    minio_server: MinioServer,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Running]]:
    workdir = tmp_path_factory.mktemp("pods")
    pods = render_pods(minio_server, redis_server)
    workloads, secrets, configmaps = pods.workloads, pods.secrets, pods.configmaps

    suffix = os.urandom(3).hex()
    started: dict[str, Running] = {}
    try:
        for component in COMPONENTS:
            name = f"tgw-{component}-{suffix}"
            run = podman_run_for(
                workloads[component],
                secrets=secrets,
                configmaps=configmaps,
                workdir=workdir / component,
                name=name,
            )
            podman(
                "run", "--detach", "--pull=never", *RUNTIME_FLAGS, "--network", NETWORK, *run.argv(image.name)
            )
            container = workloads[component]["spec"]["template"]["spec"]["containers"][0]
            started[component] = Running(
                name=name,
                component=component,
                base=f"http://127.0.0.1:{run.published['http']}",
                readiness_path=container["readinessProbe"]["httpGet"]["path"],
                liveness_path=container["livenessProbe"]["httpGet"]["path"],
            )
        for running in started.values():
            _wait_ready(running)
        yield started
    finally:
        for running in started.values():
            podman("rm", "--force", "--time", "5", running.name, check=False)


# -- the image itself ----------------------------------------------------------------------------


def test_image_runs_as_the_unprivileged_user_the_pods_expect(image: BuiltImage) -> None:
    assert (
        podman("image", "inspect", "--format", "{{.Config.User}}", image.name).stdout.strip() == "10001:10001"
    )
    identity = podman("run", "--rm", "--pull=never", *RUNTIME_FLAGS, "--entrypoint", "id", image.name).stdout
    assert identity.startswith("uid=10001(tgw) gid=10001(tgw)"), identity
    # Reported in the session summary and the docs; a regression to a fat image shows here.
    assert image.size_bytes < 1_500_000_000, f"image is {image.size_bytes / 1e6:.0f} MB"


def test_ffmpeg_in_the_image_transcodes_to_hls_without_gl_drivers(image: BuiltImage) -> None:
    """The transcoder's codecs (libx264, AAC, the HLS muxer) and ffprobe work in the image, which
    leaves out Mesa's GL drivers with LLVM (see the Dockerfile)."""
    script = (
        "set -e; mkdir -p /tmp/hls; "
        "ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=duration=2:size=320x240:rate=25 "
        "-f lavfi -i sine=duration=2 -c:v libx264 -preset veryfast -c:a aac "
        "-f hls -hls_time 1 -hls_segment_filename '/tmp/hls/s%d.ts' /tmp/hls/index.m3u8; "
        "ffprobe -v error -show_entries format=duration -of csv=p=0 /tmp/hls/index.m3u8; "
        "if dpkg -s libllvm15 libgl1-mesa-dri >/dev/null 2>&1; then echo 'GL drivers installed'; fi"
    )
    result = podman(
        "run", "--rm", "--pull=never", *RUNTIME_FLAGS, "--entrypoint", "sh", image.name, "-c", script, check=False
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.split()[0]) > 1.5, result.stdout
    assert "GL drivers installed" not in result.stdout


def test_version_inside_the_image(image: BuiltImage) -> None:
    result = podman("run", "--rm", "--pull=never", *RUNTIME_FLAGS, image.name, "--version", check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith("torrent-gateway 0.1.0"), result.stdout


def test_dependencies_are_the_locked_ones(image: BuiltImage) -> None:
    lock = (Path(__file__).resolve().parents[2] / "requirements" / "runtime.lock").read_text()
    pinned = {
        line.split("==")[0].lower(): line.split("==")[1].split()[0]
        for line in lock.splitlines()
        if line and not line[0].isspace() and not line.startswith("#") and "==" in line
    }
    frozen = podman(
        "run", "--rm", "--pull=never", *RUNTIME_FLAGS, "--entrypoint", "/opt/venv/bin/python", image.name,
        "-m", "pip", "freeze", "--all",
    ).stdout  # fmt: skip
    installed = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
        for line in frozen.splitlines()
        if "==" in line
    }
    for package, version in pinned.items():
        assert installed.get(package) == version, (
            f"{package}: locked {version}, image has {installed.get(package)}"
        )


# -- every component as its pod runs it ------------------------------------------------------------


def test_every_component_answers_its_probes_and_health(deployment: dict[str, Running]) -> None:
    for running in deployment.values():
        assert httpx.get(running.base + running.liveness_path, timeout=5).status_code == 200
        assert httpx.get(running.base + running.readiness_path, timeout=5).status_code == 200
        assert httpx.get(running.base + "/metrics", timeout=5).status_code == 200
    # What each component's summary must name as up: the stores it depends on, on the real MinIO
    # and Redis the pods are given.
    dependencies = {
        "gateway": ("storage", "state"),
        "blossom": ("blossom", "storage", "state"),
        "tracker": ("tracker", "swarms", "state"),
        "dht": (),
    }
    for component in COMPONENTS:
        health = httpx.get(deployment[component].base + "/api/health", timeout=10)
        assert health.status_code == 200, f"{component}: {health.text}"
        body = health.json()
        assert body["status"] in ("ok", "degraded"), body
        for name in dependencies[component]:
            assert body["components"][name]["ok"], (component, body)


def test_upload_through_gateway_fetch_through_blossom_and_gateway(deployment: dict[str, Running]) -> None:
    gateway, blossom = deployment["gateway"].base, deployment["blossom"].base
    small = os.urandom(300_000)
    large = os.urandom(5 * 1024 * 1024 + 12_345)  # above the blob threshold: stored as 2 MiB chunks
    for data, name in ((small, "small.bin"), (large, "large.bin")):
        sha = hashlib.sha256(data).hexdigest()
        response = httpx.put(f"{gateway}/api/upload", params={"name": name}, content=data, timeout=60)
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == sha
        whole = httpx.get(f"{gateway}/api/download/{sha}", timeout=60)
        assert whole.status_code == 200 and whole.content == data
        ranged = httpx.get(
            f"{gateway}/api/download/{sha}", headers={"Range": "bytes=1000-299999"}, timeout=60
        )
        assert ranged.status_code == 206 and ranged.content == data[1000:300_000]
    # A blob stored through the gateway is a Blossom blob of the Blossom component (shared MinIO).
    small_sha = hashlib.sha256(small).hexdigest()
    fetched = httpx.get(f"{blossom}/{small_sha}", timeout=30)
    assert fetched.status_code == 200, fetched.headers.get("x-reason")
    assert fetched.content == small
    head = httpx.head(f"{blossom}/{small_sha}", timeout=30)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(small)
    # And each chunk of the large file is one too.
    first_chunk = large[: 2 * 1024 * 1024]
    chunk = httpx.get(f"{blossom}/{hashlib.sha256(first_chunk).hexdigest()}", timeout=30)
    assert chunk.status_code == 200 and chunk.content == first_chunk


def test_announce_and_scrape_on_the_tracker(deployment: dict[str, Running]) -> None:
    gateway, tracker = deployment["gateway"].base, deployment["tracker"].base
    data = os.urandom(200_000)
    upload = httpx.put(f"{gateway}/api/upload", params={"name": "tracked.bin"}, content=data, timeout=60)
    assert upload.status_code in (200, 201), upload.text
    info_hash = bytes.fromhex(upload.json()["infohash"])

    announce(tracker, info_hash, b"-TG0001-seeder000001", 51413, 0)
    second = announce(tracker, info_hash, b"-TG0001-leecher00002", 51414, len(data))
    assert 51413 in compact_ports(second[b"peers"])
    scrape = httpx.get(f"{tracker}/scrape?" + urllib.parse.urlencode({"info_hash": info_hash}), timeout=10)
    stats = bdecode(scrape.content)[b"files"][info_hash]
    assert stats[b"complete"] == 1 and stats[b"incomplete"] == 1
    # A torrent this deployment does not hold is refused in the protocol's own form.
    unknown = httpx.get(
        f"{tracker}/announce?"
        + urllib.parse.urlencode({"info_hash": os.urandom(20), "peer_id": b"x" * 20, "port": 1, "left": 0}),
        timeout=10,
    )
    assert unknown.status_code == 200 and b"failure reason" in bdecode(unknown.content)


def test_no_component_writes_outside_its_volumes(deployment: dict[str, Running]) -> None:
    # Runs after the traffic above: every write went to a mounted volume or the container would
    # have failed (read-only root); the logs hold no attempt either.
    for running in deployment.values():
        assert podman("inspect", "--format", "{{.State.Status}}", running.name).stdout.strip() == "running"
        logs = _logs(running.name)
        assert "Read-only file system" not in logs, logs[-4000:]
        assert "Traceback" not in logs, logs[-4000:]


def test_a_pod_without_its_cache_volume_fails(
    image: BuiltImage, minio_server: MinioServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    # The teeth of the test above: the same gateway pod minus one writable mount must not come up,
    # because the root filesystem is read-only and nothing else is writable.
    pods = render_pods(minio_server, redis_server)
    gateway = copy.deepcopy(pods.workloads["gateway"])
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["mountPath"] != CACHE_DIR]
    name = f"tgw-gateway-nocache-{os.urandom(3).hex()}"
    run = podman_run_for(
        gateway, secrets=pods.secrets, configmaps=pods.configmaps, workdir=tmp_path, name=name
    )
    try:
        podman("run", "--detach", "--pull=never", *RUNTIME_FLAGS, "--network", NETWORK, *run.argv(image.name))
        status = podman("wait", name, timeout=120).stdout.strip()
        assert status != "0", "the gateway ran without a writable cache directory"
        assert "Read-only file system" in _logs(name) or "Permission denied" in _logs(name), _logs(name)[
            -3000:
        ]
    finally:
        podman("rm", "--force", name, check=False)
