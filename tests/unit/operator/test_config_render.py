"""spec → the workloads' Settings → ConfigMap + env: the workloads load back exactly what the operator decided."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from torrent_gateway.config import Settings, load_settings
from torrent_gateway_operator.config_render import (
    COMPONENT_SECRETS,
    CONFIG_PATH,
    component_env,
    env_name,
    render,
    secret_paths,
)
from torrent_gateway_operator.spec import SpecError, parse_spec

from .test_builders import SPECS

SECRET_VALUES = {
    ("storage", "s3", "access_key"): "AKIAEXAMPLE",
    ("storage", "s3", "secret_key"): "s3-secret-value",
    ("state", "redis_url"): "redis://:pw@demo-redis.media.svc:6379/0",
    ("tracker", "secret"): "tracker-shared-secret",
    ("nostr", "private_key"): "11" * 32,
}


def _without_secrets(settings: Settings) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    for path in secret_paths():
        node = data
        for part in path[:-1]:
            node = node[part]
        node.pop(path[-1])
    return data


def _secret_value(settings: Settings, path: tuple[str, ...]) -> str:
    node: Any = settings
    for part in path:
        node = getattr(node, part)
    return node.get_secret_value() if isinstance(node, SecretStr) else node


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("component", ["gateway", "blossom", "tracker", "dht"])
def test_workloads_load_exactly_the_operators_settings(
    name: str, component: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered = render(parse_spec(SPECS[name]), "demo", "media")
    config = tmp_path / "config.yaml"
    config.write_text(rendered.config_yaml)
    for entry in component_env(rendered, component):
        if entry["name"] == "TGW_CONFIG":
            assert entry["value"] == CONFIG_PATH
            monkeypatch.setenv("TGW_CONFIG", str(config))
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            path = next(p for p in SECRET_VALUES if env_name(p) == entry["name"])
            monkeypatch.setenv(entry["name"], SECRET_VALUES[path])
        else:
            assert entry["valueFrom"]["fieldRef"]  # the DHT shard index, from the pod ordinal
            monkeypatch.setenv(entry["name"], "0")
    loaded = load_settings()
    # Everything but the secrets equals what the operator validated; the secrets come from env.
    assert _without_secrets(loaded) == _without_secrets(rendered.settings)
    for path in COMPONENT_SECRETS[component]:
        assert _secret_value(loaded, path) == SECRET_VALUES[path]


def test_config_file_holds_no_secret_setting() -> None:
    rendered = render(parse_spec(SPECS["full"]), "demo", "media")
    data = yaml.safe_load(rendered.config_yaml)
    for path in secret_paths():
        node: Any = data
        for part in path[:-1]:
            node = node.get(part, {})
        assert path[-1] not in node, path
    assert "secret-from-env" not in rendered.config_yaml


def test_every_secret_the_operator_maps_is_a_secret_setting_of_the_workloads() -> None:
    known = set(secret_paths())
    mapped = {path for paths in COMPONENT_SECRETS.values() for path in paths}
    assert mapped <= known
    assert set(render(parse_spec({}), "demo", "media").secrets) <= known


def test_the_operators_own_environment_never_leaks_into_the_workloads_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere.yaml").write_text("gateway: {port: 1}\n")
    monkeypatch.setenv("TGW_GATEWAY__PORT", "1234")
    monkeypatch.setenv("TGW_CONFIG", str(tmp_path / "elsewhere.yaml"))
    rendered = render(parse_spec({}), "demo", "media")
    assert rendered.settings.gateway.port == 9876
    assert "1234" not in rendered.config_yaml


def test_the_spec_maps_to_the_documented_settings() -> None:
    settings = render(parse_spec(SPECS["full"]), "media", "prod").settings
    assert settings.storage.backend == "s3" and settings.state.backend == "redis"
    assert settings.storage.s3.endpoint == "media-minio.prod.svc:9000"
    assert settings.storage.chunk_size == 4 * 1024 * 1024 and settings.storage.hybrid_torrents
    assert settings.gateway.public_url == "https://media.example.org"
    assert settings.blossom.public_url == "https://blossom.media.example.org"
    assert settings.tracker.public_url == "http://tracker.media.example.org:6969" and settings.tracker.udp
    assert settings.dht.shard_count == 3
    assert settings.rate_limiting.upload.requests_per_second == 0.5
    assert settings.hls.renditions == [1080, 720, 480, 360]
    assert settings.logging.json_format is True
    minimal = render(parse_spec({}), "demo", "media").settings
    assert minimal.tracker.udp is False  # no reachable UDP address to advertise
    assert minimal.gateway.public_url == ""


def test_settings_the_workloads_would_refuse_are_refused_by_the_operator() -> None:
    with pytest.raises(SpecError, match="trusted_proxies"):
        render(parse_spec({"gateway": {"trustedProxies": ["not-a-network"]}}), "demo", "media")


def test_rendering_is_deterministic() -> None:
    first = render(parse_spec(SPECS["full"]), "demo", "media")
    second = render(parse_spec(SPECS["full"]), "demo", "media")
    assert first.config_yaml == second.config_yaml and first.checksum == second.checksum


def test_a_public_endpoint_turns_on_redirected_downloads() -> None:
    settings = render(parse_spec(SPECS["external-storage"]), "demo", "media").settings
    assert settings.storage.s3.public_endpoint == "https://s3.example.org"
    assert settings.storage.s3.redirect_downloads is True
    assert render(parse_spec(SPECS["full"]), "demo", "media").settings.storage.s3.redirect_downloads is False


@pytest.mark.parametrize(
    "endpoint", ["s3.example.org", "https://example.org/s3", "https://s3.example.org?x=1"]
)
def test_a_public_endpoint_the_signature_cannot_cover_is_refused(endpoint: str) -> None:
    spec = yaml.safe_load(yaml.safe_dump(SPECS["external-storage"]))
    spec["storage"]["minio"]["external"]["publicEndpoint"] = endpoint
    with pytest.raises(SpecError, match="publicEndpoint"):
        parse_spec(spec)
