"""values.schema.json against values.yaml: every key typed, and Helm refusing bad values by path.

The chart's values are a short, hand-documented file (``# --`` comments); the schema is checked
against it rather than generated: each key of values.yaml, at any depth, has a schema node of the
same JSON type with a description, and the schema describes nothing values.yaml lacks. The Helm
engine itself (helm-python-sdk) then shows that a bad value stops ``helm template``/``install``
with a message naming the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

CHART = Path(__file__).resolve().parents[3] / "charts" / "torrent-gateway"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())
# Keys Helm itself passes to every chart: not in values.yaml, allowed by the schema.
HELM_KEYS = {"global"}


def json_type(value: Any) -> set[str]:
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number"}
    if isinstance(value, str):
        return {"string"}
    if isinstance(value, list):
        return {"array"}
    return {"object"}


def leaves(
    values: dict[str, Any], schema: dict[str, Any], path: str = ""
) -> Iterator[tuple[str, Any, dict[str, Any] | None, bool]]:
    """(path, default, schema node or None, named by the schema) of every key of values.yaml."""
    for key, value in values.items():
        node = (schema.get("properties") or {}).get(key)
        named = node is not None
        if node is None and isinstance(schema.get("additionalProperties"), dict):
            node = schema["additionalProperties"]  # an entry of a map (e.g. resources.requests.cpu)
        yield f"{path}.{key}", value, node, named
        if isinstance(value, dict) and value and node is not None:
            yield from leaves(value, node, f"{path}.{key}")


def declared_types(node: dict[str, Any]) -> set[str]:
    if "anyOf" in node:
        return set().union(*(declared_types(branch) for branch in node["anyOf"]))
    declared = node.get("type") or []
    return set(declared) if isinstance(declared, list) else {declared}


def test_every_values_key_has_a_typed_documented_schema_node() -> None:
    found = list(leaves(DEFAULTS, SCHEMA))
    assert len(found) > 20
    for path, value, node, named in found:
        assert node is not None, f"values{path} is not in values.schema.json"
        if named:
            assert node.get("description"), f"values{path} has no description in the schema"
        declared = declared_types(node)
        assert declared, f"values{path} has no type in the schema"
        assert declared & json_type(value), f"values{path}: default {value!r} is not of type {declared}"


def test_the_schema_describes_only_keys_values_yaml_has() -> None:
    def walk(schema: dict[str, Any], values: dict[str, Any], path: str) -> Iterator[str]:
        for key, node in (schema.get("properties") or {}).items():
            if path == "" and key in HELM_KEYS:
                continue
            if key not in values:
                yield f"{path}.{key}"
            elif isinstance(values[key], dict) and values[key]:
                yield from walk(node, values[key], f"{path}.{key}")

    assert list(walk(SCHEMA, DEFAULTS, "")) == []


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"operator": {"replicas": "two"}}, "at '/operator/replicas': got string, want integer"),
        ({"crds": {"enabled": "yes"}}, "at '/crds/enabled': got string, want boolean"),
        ({"operator": {"resyncInterval": 0}}, "at '/operator/resyncInterval'"),
        ({"operator": {"logFormat": "xml"}}, "at '/operator/logFormat'"),
        ({"image": {"tag": 1}}, "at '/image/tag': got number, want string"),
        ({"operator": {"resources": {"requests": {"cpu": "lots"}}}}, "at '/operator/resources/requests/cpu'"),
        ({"operatr": {}}, "additional properties 'operatr' not allowed"),
    ],
    ids=["replicas", "crds-enabled", "resync-zero", "log-format", "tag-number", "cpu-quantity", "typo"],
)
def test_helm_template_with_a_bad_value_fails_naming_it(
    chart: helm.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError) as refused:
        chart.render(values=values, name="tgw", namespace="operators", is_install=True)
    assert "values don't meet the specifications of the schema" in str(refused.value)
    assert message in str(refused.value)
