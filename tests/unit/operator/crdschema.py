"""Validate TorrentGateway objects the way the API server does, without an API server.

- structural defaulting (defaults applied top-down, also inside defaulted objects);
- the openAPIV3Schema as JSON Schema, with strict field validation (unknown fields refused,
  as ``kubectl`` does by default);
- the CEL rules (``x-kubernetes-validations``) evaluated with cel-python, including transition
  rules (``oldSelf``) when an old object is given.
"""

from __future__ import annotations

import copy
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[3]
CRD_FILE = ROOT / "crds" / "torrentgateways.yaml"
_DROP = {
    "description",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-int-or-string",
    "x-kubernetes-validations",
    "default",
}


@lru_cache(maxsize=1)
def crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_FILE.read_text())


def openapi_schema() -> dict[str, Any]:
    return crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and schema.get("type") == "object":
        out = dict(value)
        for name, sub in (schema.get("properties") or {}).items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = apply_defaults(sub, out[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name in set(out) - set(schema.get("properties") or {}):
                out[name] = apply_defaults(extra, out[name])
        return out
    if isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def _to_jsonschema(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_to_jsonschema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _to_jsonschema(value) for key, value in schema.items() if key not in _DROP}
    if "properties" in schema:
        out["properties"] = {name: _to_jsonschema(sub) for name, sub in schema["properties"].items()}
        if "additionalProperties" not in schema and schema.get("properties"):
            out["additionalProperties"] = False  # strict field validation
    return out


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = _to_jsonschema(openapi_schema())
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft202012Validator(schema)


@cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def rules() -> list[tuple[str, str, str]]:
    """(path, rule, message) of every CEL rule in the schema."""
    found: list[tuple[str, str, str]] = []

    def walk(schema: dict[str, Any], path: str) -> None:
        for entry in schema.get("x-kubernetes-validations") or []:
            found.append((path, entry["rule"], entry.get("message", entry["rule"])))
        for name, sub in (schema.get("properties") or {}).items():
            walk(sub, f"{path}.{name}")
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], f"{path}[]")

    walk(openapi_schema(), "")
    return found


def _cel_errors(schema: dict[str, Any], value: Any, old: Any, path: str) -> list[str]:
    errors: list[str] = []
    for entry in schema.get("x-kubernetes-validations") or []:
        rule = entry["rule"]
        transition = "oldSelf" in rule
        if transition and old is None:
            continue  # transition rules only judge updates
        activation = {"self": celpy.json_to_cel(value)}
        if transition:
            activation["oldSelf"] = celpy.json_to_cel(old)
        result = _program(rule).evaluate(activation)
        if isinstance(result, Exception) or not bool(result):
            errors.append(f"{path or '<root>'}: {entry.get('message', rule)}")
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                old_sub = old.get(name) if isinstance(old, dict) else None
                errors += _cel_errors(sub, value[name], old_sub, f"{path}.{name}")
    return errors


def validate(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Every reason the API server would refuse ``obj`` (an update of ``old`` when given)."""
    schema = openapi_schema()
    defaulted = apply_defaults(schema, obj)
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in _validator().iter_errors(defaulted)
    ]
    if errors:
        return errors  # the API server evaluates CEL rules only on schema-valid objects
    old_defaulted = apply_defaults(schema, old) if old is not None else None
    return _cel_errors(schema, defaulted, old_defaulted, "")


def defaulted_spec(spec: dict[str, Any]) -> dict[str, Any]:
    return apply_defaults(openapi_schema()["properties"]["spec"], spec)
