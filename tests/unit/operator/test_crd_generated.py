"""The CRD is generated from the operator's models: the committed copies are the generator's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field
from torrent_gateway_operator import crd
from torrent_gateway_operator.config_render import render
from torrent_gateway_operator.spec import SpecError, TorrentGatewaySpec, parse_spec
from torrent_gateway_operator.status import (
    ComponentState,
    DependencyState,
    Observation,
    TorrentGatewayStatus,
    endpoints,
    status_patch,
)

from . import crdschema
from .test_builders import SPECS

ROOT = Path(__file__).resolve().parents[3]


def nodes(schema: Any, path: str = "") -> list[tuple[str, Any]]:
    found = [(path, schema)]
    if isinstance(schema, dict):
        for key, value in schema.items():
            found += nodes(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += nodes(value, f"{path}[{index}]")
    return found


def test_committed_crd_and_chart_copy_are_the_generators_output() -> None:
    text = crd.render()
    for path in crd.targets(ROOT):
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run `make crds`"
    assert crd.main(["--root", str(ROOT), "--check"]) == 0


def test_check_mode_reports_a_stale_copy_and_write_mode_repairs_it(tmp_path: Path) -> None:
    for path in crd.targets(tmp_path):
        path.parent.mkdir(parents=True)
        path.write_text(crd.render())
    chart_copy = crd.targets(tmp_path)[1]
    chart_copy.write_text(chart_copy.read_text().replace("minimum: 30", "minimum: 31"))
    assert crd.main(["--root", str(tmp_path), "--check"]) == 1
    assert crd.main(["--root", str(tmp_path)]) == 0
    assert chart_copy.read_text() == crd.render()


def test_schema_is_inlined_and_null_free() -> None:
    # Structural: no references, no JSON-Schema null branches, no keywords the API server refuses.
    for path, node in nodes(crd.openapi_schema()):
        if isinstance(node, dict):
            assert not {"$ref", "$defs", "title", "nullable", "oneOf", "allOf"} & set(node), path
            assert node.get("type") != "null", path
            if "anyOf" in node:
                assert node.get("x-kubernetes-int-or-string") is True, path


def test_model_defaults_reach_the_schema_as_the_api_server_needs_them() -> None:
    spec = crd.openapi_schema()["properties"]["spec"]["properties"]
    assert spec["gateway"]["default"] == {}  # structural defaulting fills in the inner defaults
    assert spec["storage"]["properties"]["minio"]["default"] == {"managed": {}}
    assert spec["redis"]["default"] == {"managed": {}}
    assert spec["dht"]["properties"]["bootstrapNodes"]["default"] == TorrentGatewaySpec().dht.bootstrap_nodes
    assert spec["image"]["properties"]["pullPolicy"]["enum"] == ["Always", "IfNotPresent", "Never"]
    assert spec["gateway"]["properties"]["autoscaling"]["x-kubernetes-validations"][0]["message"] == (
        "minReplicas must not exceed maxReplicas"
    )
    assert "repository" not in spec["image"].get("required", [])


def test_a_non_structural_type_or_an_undocumented_field_is_refused() -> None:
    class Undocumented(BaseModel):
        size: int = 3

    class Mixed(BaseModel):
        value: int | float = Field(1, description="Either.")

    with pytest.raises(crd.SchemaError, match="Undocumented.size has no description"):
        crd.model_schema(Undocumented)
    with pytest.raises(crd.SchemaError, match="not structural"):
        crd.model_schema(Mixed)


def test_the_status_the_operator_writes_fits_the_status_schema() -> None:
    spec = parse_spec(SPECS["full"])
    url, public = endpoints(spec, render(spec, "media", "prod"), "media", "prod")
    obs = Observation(
        generation=4,
        dependencies={"ObjectStoreReady": DependencyState(False, "Starting", "1/4 pods ready.")},
        workloads_applied=True,
        components={name: ComponentState(2, 1) for name in ("gateway", "blossom", "tracker", "dht", "minio")},
        url=url,
        endpoints=public,
    )
    patch = status_patch(obs, None, "2026-01-01T00:00:00Z")
    status = TorrentGatewayStatus.model_validate(patch)
    assert status.model_dump(by_alias=True, exclude_none=True) == patch


def test_generated_yaml_has_no_anchors() -> None:
    # Shared fragments (every component's resources) are written out, never as &anchors/*aliases.
    text = crd.render()
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text) == crd.crd()


@pytest.mark.parametrize(
    "spec",
    [
        {"dht": {"bootstrapNodes": ["router.example.org"]}},  # no port
        {"image": {"pullSecrets": [""]}},
        {"gateway": {"trustedProxies": [""]}},
        {"blossom": {"allowedTypes": [""]}},
    ],
    ids=["bootstrap-node-without-port", "empty-pull-secret", "empty-trusted-proxy", "empty-mime-type"],
)
def test_the_operator_refuses_what_the_crd_refuses(spec: dict[str, Any]) -> None:
    # One source: an item constraint the CRD states is the model's own, not a second copy to forget.
    assert crdschema.validate(
        {
            "apiVersion": "torrentgateway.io/v1alpha1",
            "kind": "TorrentGateway",
            "metadata": {"name": "demo"},
            "spec": spec,
        }
    )
    with pytest.raises(SpecError):
        parse_spec(spec)
