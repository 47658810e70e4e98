"""The Helm chart, through the real Helm engine (helm-python-sdk): lints, renders, validates, carries crds/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from . import crdschema
from .kubeschema import VERSIONS, errors

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "torrent-gateway"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
VALUE_SETS = {"default": {}, **{p.stem: yaml.safe_load(p.read_text()) for p in CI_VALUES}}
CUSTOM_KINDS = {"TorrentGateway", "ClusterKopfPeering", "KopfPeering"}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = chart.render(values=values, name="tgw", namespace="operators", is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_chart_lints_clean(name: str) -> None:
    report = helm.lint(CHART, VALUE_SETS[name], strict=True, namespace="operators", kube_version="v1.29.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_document_is_valid_kubernetes(chart: helm.Chart, name: str) -> None:
    docs = render(chart, VALUE_SETS[name])
    assert {d["kind"] for d in docs} >= {"Deployment", "ClusterRole", "ClusterRoleBinding"}
    problems = []
    for doc in docs:
        if doc["kind"] == "TorrentGateway":
            problems += crdschema.validate(doc)
        elif doc["kind"] not in CUSTOM_KINDS:
            problems += [e for version in VERSIONS for e in errors(doc, version)]
    assert problems == []


def test_ci_values_exist_and_differ() -> None:
    assert len(CI_VALUES) >= 3


def test_the_charts_crd_is_the_repositorys_crd(chart: helm.Chart) -> None:
    for name in ("torrentgateways.yaml", "kopfpeerings.yaml"):
        assert (CHART / "files" / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), name
    rendered = [d for d in render(chart, {}) if d["kind"] == "CustomResourceDefinition"]
    source = [
        d
        for name in ("torrentgateways.yaml", "kopfpeerings.yaml")
        for d in yaml.safe_load_all((ROOT / "crds" / name).read_text())
        if d
    ]
    assert len(rendered) == len(source) == 3
    for got, want in zip(sorted(rendered, key=_name), sorted(source, key=_name), strict=True):
        assert got["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert want["metadata"]["labels"].items() <= got["metadata"]["labels"].items()
        assert {k: v for k, v in got.items() if k != "metadata"} == {
            k: v for k, v in want.items() if k != "metadata"
        }


def _name(doc: dict[str, Any]) -> str:
    return str(doc["metadata"]["name"])


def test_crds_are_optional_and_keep_is_optional(chart: helm.Chart) -> None:
    assert not [
        d for d in render(chart, {"crds": {"enabled": False}}) if d["kind"] == "CustomResourceDefinition"
    ]
    unkept = [d for d in render(chart, {"crds": {"keep": False}}) if d["kind"] == "CustomResourceDefinition"]
    assert unkept and all(d["metadata"]["annotations"] == {} for d in unkept)
    no_peering = render(chart, {"operator": {"peering": {"enabled": False}}})
    assert [_name(d) for d in no_peering if d["kind"] == "CustomResourceDefinition"] == [
        "torrentgateways.torrentgateway.io"
    ]


def test_operator_deployment_runs_the_operator_hardened(chart: helm.Chart) -> None:
    (deployment,) = [d for d in render(chart, {}) if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "torrent_gateway_operator"]
    assert container["image"] == "ghcr.io/torrent-gateway/torrent-gateway:0.1.0"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TGW_OPERATOR_PEERING"] == "tgw-torrent-gateway" and env["TGW_OPERATOR_NAMESPACES"] == ""
    (peering,) = [d for d in render(chart, {}) if d["kind"] == "ClusterKopfPeering"]
    assert _name(peering) == env["TGW_OPERATOR_PEERING"]
    assert peering["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"


def test_namespaced_watch_gets_namespace_peerings_and_namespace_rbac(chart: helm.Chart) -> None:
    docs = render(chart, VALUE_SETS["namespaced-values"])
    peerings = [(d["metadata"]["namespace"], _name(d)) for d in docs if d["kind"] == "KopfPeering"]
    assert peerings == [("media", "tgw-torrent-gateway"), ("video", "tgw-torrent-gateway")]
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    assert any(rule["resources"] == ["namespaces"] for rule in role["rules"])


def test_sample_is_a_post_install_hook_with_a_valid_spec(chart: helm.Chart) -> None:
    (sample,) = [d for d in render(chart, VALUE_SETS["sample-values"]) if d["kind"] == "TorrentGateway"]
    assert sample["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert sample["spec"]["ingress"]["host"] == "files.example.org"
    assert not [d for d in render(chart, {}) if d["kind"] == "TorrentGateway"]


def test_secrets_are_create_only_for_the_operator(chart: helm.Chart) -> None:
    (role,) = [d for d in render(chart, {}) if d["kind"] == "ClusterRole"]
    secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
    assert secret_rules == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}]


def test_every_rbac_rule_is_commented_by_purpose() -> None:
    lines = (CHART / "templates" / "rbac.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            previous = next(p.strip() for p in reversed(lines[:index]) if p.strip())
            assert previous.startswith("#"), line


def test_every_values_key_is_commented() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z][\w-]*:", line):
            previous = next((p.strip() for p in reversed(lines[:index]) if p.strip()), "")
            assert previous.startswith("#"), f"values.yaml line {index + 1} has no comment: {line!r}"


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def test_values_schema_is_self_contained_and_closed() -> None:
    text = (CHART / "values.schema.json").read_text()
    assert "$ref" not in text
    schema = json.loads(text)
    for node in _objects(schema):
        if node.get("properties"):
            assert node.get("additionalProperties") is False, node.get("description")
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(schema["properties"]) >= set(defaults)


@pytest.mark.parametrize(
    "values",
    [
        {"operator": {"replicas": "two"}},
        {"operatr": {}},
        {"operator": {"logFormat": "xml"}},
        {"operator": {"replicas": 2, "peering": {"enabled": False}}},
        {"sample": {"name": "Not_A_Name"}},
        {"image": {"pullPolicy": "Sometimes"}},
    ],
)
def test_values_schema_refuses_bad_values(chart: helm.Chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError):
        chart.validate_schema(values)
    chart.validate_schema({})
    for ci in VALUE_SETS.values():
        chart.validate_schema(ci)
