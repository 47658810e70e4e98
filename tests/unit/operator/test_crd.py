"""The CRD: structural, documented, with the defaults and rules the operator mirrors; samples pass, bad ones fail."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from torrent_gateway_operator import GROUP, KIND, PLURAL, VERSION
from torrent_gateway_operator.names import check_instance_name
from torrent_gateway_operator.spec import SpecError, TorrentGatewaySpec, parse_spec

from . import crdschema
from .kubeschema import VERSIONS, errors

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
INVALID = sorted((ROOT / "examples" / "invalid").glob("*.yaml"))


def gateways(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc and doc.get("kind") == KIND]


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, schema)]
    for name, sub in (schema.get("properties") or {}).items():
        nodes += walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        nodes += walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += walk(schema["additionalProperties"], f"{path}{{}}")
    return nodes


def test_crd_names_scope_status_and_printer_columns() -> None:
    crd = crdschema.crd()
    assert crd["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    assert crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == VERSION and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["URL"]["jsonPath"] == ".status.url"
    assert columns["Age"]["type"] == "date"


def test_crd_is_valid_for_every_kubernetes_version() -> None:
    for version in VERSIONS:
        assert errors(crdschema.crd(), version) == []


def test_schema_is_structural_and_documented() -> None:
    spec = crdschema.openapi_schema()["properties"]["spec"]
    for path, node in walk(spec, "spec"):
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        assert node.get("type") or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        if not path.endswith(("[]", "{}")):
            assert node.get("description"), f"{path} has no description"


def test_conditions_are_a_list_map_keyed_by_type() -> None:
    conditions = crdschema.openapi_schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert conditions["items"]["required"] == ["type", "status"]


def test_operator_defaults_mirror_the_crd_defaults() -> None:
    # What the API server stores for an empty spec is exactly what the operator assumes (before it
    # fills in its own image, which the CRD leaves unset on purpose).
    assert crdschema.defaulted_spec({}) == TorrentGatewaySpec.model_validate({}).model_dump(
        by_alias=True, exclude_none=True
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_accepted_and_defaults_agree(path: Path) -> None:
    for doc in gateways(path):
        assert crdschema.validate(doc) == []
        parse_spec(doc.get("spec"))
        spec = TorrentGatewaySpec.model_validate(doc.get("spec") or {})
        check_instance_name(doc["metadata"]["name"])
        assert crdschema.defaulted_spec(doc.get("spec") or {}) == spec.model_dump(
            by_alias=True, exclude_none=True
        )


def test_examples_cover_minimal_full_external_and_managed_storage() -> None:
    assert {p.stem for p in EXAMPLES} >= {"minimal", "full", "external-storage", "managed-storage"}


def test_examples_can_live_side_by_side_on_any_cluster() -> None:
    # Distinct names (one namespace can hold them all) and no StorageClass a cluster may lack.
    names = [doc["metadata"]["name"] for path in EXAMPLES for doc in gateways(path)]
    assert len(names) == len(set(names)), names
    for path in EXAMPLES:
        assert "storageClassName" not in yaml.safe_dump(gateways(path)), path.name


def _expectation(path: Path) -> str:
    match = re.search(r"^# expect: (.+)$", path.read_text(), re.M)
    assert match, f"{path.name} has no '# expect:' line"
    return match.group(1).strip()


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_examples_are_refused_by_the_crd_and_the_operator(path: Path) -> None:
    (doc,) = gateways(path)
    found = crdschema.validate(doc)
    assert found, f"{path.name} was accepted"
    assert any(_expectation(path) in message for message in found), found
    # The operator refuses it too (defence in depth: an old CRD, a cluster without CEL).
    with pytest.raises((SpecError, ValueError)):
        parse_spec(doc.get("spec"))
        check_instance_name(doc["metadata"]["name"])


def test_every_cel_rule_is_exercised_by_an_invalid_example_or_a_transition_test() -> None:
    messages = {message for _, _, message in crdschema.rules()}
    refused = {m for p in INVALID for m in crdschema.validate(gateways(p)[0])}
    transition = {m for m in messages if "cannot change after creation" in m}
    uncovered = {m for m in messages - transition if not any(m in found for found in refused)}
    assert not uncovered


MANAGED = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": KIND,
    "metadata": {"name": "demo"},
    "spec": {
        "storage": {"minio": {"managed": {"replicas": 4, "size": "10Gi", "storageClassName": "fast"}}},
        "redis": {"managed": {"persistence": {"size": "1Gi"}}},
    },
}


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("storage", "minio", "managed", "replicas"), 8, "managed MinIO replicas cannot change"),
        (("storage", "minio", "managed", "size"), "20Gi", "managed MinIO volume size cannot change"),
        (
            ("storage", "minio", "managed", "storageClassName"),
            "slow",
            "managed MinIO storageClassName cannot change",
        ),
        (("redis", "managed", "persistence", "size"), "2Gi", "managed Redis volume size cannot change"),
    ],
)
def test_transition_rules_refuse_changes_to_volumes(path: tuple[str, ...], value: Any, message: str) -> None:
    new = copy.deepcopy(MANAGED)
    node = new["spec"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert crdschema.validate(new, old=MANAGED) and message in " ".join(crdschema.validate(new, old=MANAGED))
    assert crdschema.validate(MANAGED, old=MANAGED) == []
    assert crdschema.validate(new) == []  # a creation has no old object to compare with


def test_unrelated_updates_pass_the_transition_rules() -> None:
    new = copy.deepcopy(MANAGED)
    new["spec"]["gateway"] = {"replicas": 5}
    assert crdschema.validate(new, old=MANAGED) == []
