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
CUSTOM_KINDS = {"TorrentGateway"}


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
    assert "Deployment" in {d["kind"] for d in docs}
    if VALUE_SETS[name].get("operator", {}).get("watchNamespaces"):
        assert {d["kind"] for d in docs} >= {"Role", "RoleBinding"}
    else:
        assert {d["kind"] for d in docs} >= {"ClusterRole", "ClusterRoleBinding"}
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
    for name in ("torrentgateways.yaml",):
        assert (CHART / "files" / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), name
    rendered = [d for d in render(chart, {}) if d["kind"] == "CustomResourceDefinition"]
    source = [
        d
        for name in ("torrentgateways.yaml",)
        for d in yaml.safe_load_all((ROOT / "crds" / name).read_text())
        if d
    ]
    assert len(rendered) == len(source) == 1
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
    assert [_name(d) for d in render(chart, {}) if d["kind"] == "CustomResourceDefinition"] == [
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
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TGW_OPERATOR_LEADER_ELECTION_LEASE"] == "tgw-torrent-gateway"
    assert (
        env["TGW_OPERATOR_LEADER_ELECTION_NAMESPACE"] == "operators" and env["TGW_OPERATOR_NAMESPACES"] == ""
    )
    # One image setting: the workloads run the operator's own image.
    assert env["TGW_OPERATOR_WORKLOAD_IMAGE"] == container["image"]


def test_image_setting_moves_operator_and_workloads(chart: helm.Chart) -> None:
    (deployment,) = [d for d in render(chart, VALUE_SETS["no-election-values"]) if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert (
        container["image"]
        == env["TGW_OPERATOR_WORKLOAD_IMAGE"]
        == "registry.example.org/media/torrent-gateway:0.1.0"
    )
    assert env["TGW_OPERATOR_ALLOWED_IMAGES"] == "registry.example.org/media/*"
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_namespaced_watch_gets_roles_only(chart: helm.Chart) -> None:
    docs = render(chart, VALUE_SETS["namespaced-values"])
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    roles = sorted((d["metadata"]["namespace"], _name(d)) for d in docs if d["kind"] == "Role")
    assert roles == [
        ("media", "tgw-torrent-gateway"),
        ("operators", "tgw-torrent-gateway-leader"),
        ("video", "tgw-torrent-gateway"),
    ]


def test_no_hooks_and_no_custom_objects_in_the_release(chart: helm.Chart) -> None:
    # Hooks outlive the release (uninstall hangs on them) and custom objects race their CRD.
    for values in VALUE_SETS.values():
        for doc in render(chart, values):
            assert "helm.sh/hook" not in (doc["metadata"].get("annotations") or {}), _name(doc)
            assert doc["kind"] not in CUSTOM_KINDS


def test_cluster_scoped_names_carry_the_release_namespace(chart: helm.Chart) -> None:
    docs = render(chart, {})
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            assert _name(doc) == "operators-tgw-torrent-gateway"


def test_children_with_block_owner_deletion_are_allowed(chart: helm.Chart) -> None:
    (role,) = [d for d in render(chart, {}) if d["kind"] == "ClusterRole"]
    assert {
        "apiGroups": ["torrentgateway.io"],
        "resources": ["torrentgateways/finalizers"],
        "verbs": ["update"],
    } in (role["rules"])


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
        {"operator": {"replicas": 2, "leaderElection": {"enabled": False}}},
        {"sample": {"enabled": True}},
        {"operator": {"allowedImages": ["has space"]}},
        {"image": {"pullPolicy": "Sometimes"}},
    ],
)
def test_values_schema_refuses_bad_values(chart: helm.Chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError):
        chart.validate_schema(values)
    chart.validate_schema({})
    for ci in VALUE_SETS.values():
        chart.validate_schema(ci)
