"""The TorrentGateway CRD, generated from the operator's own models (one source for the schema).

``spec.TorrentGatewaySpec`` and ``status.TorrentGatewayStatus`` are what the operator validates
and writes; this module turns them into the structural OpenAPI v3 schema the API server wants:
every node typed and inlined (no ``$ref``), optional fields simply left out of ``required`` (the
CRD has no ``null``\\ s), ``default`` on every defaulted field (an object whose default is its own
defaults becomes ``{}``, so the API server's structural defaulting fills it in), constraints as
``minimum``/``maxLength``/``pattern``/``enum``, and the CEL rules and list types the models carry
in ``json_schema_extra``. ``python -m torrent_gateway_operator.crd`` writes ``crds/`` and the
chart's copy (``make crds``); ``--check`` fails when either differs from what it would write.
"""

from __future__ import annotations

import argparse
import copy
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, WithJsonSchema
from pydantic.fields import FieldInfo

from . import GROUP, KIND, PLURAL, VERSION
from .names import DNS_LABEL_PATTERN, MAX_NAME_LENGTH
from .spec import TorrentGatewaySpec
from .status import TorrentGatewayStatus

CRD_FILE = "torrentgateways.yaml"
CHART_COPY = Path("charts") / "torrent-gateway" / "files"
HEADER = (
    "# The TorrentGateway custom resource. Generated from the operator's models by\n"
    "# `python -m torrent_gateway_operator.crd` (make crds): edit spec.py / status.py, not this file.\n"
    "# The Helm chart templates a copy of it (charts/torrent-gateway/files/); a test keeps them equal.\n"
)
DESCRIPTION = (
    "A Torrent Gateway: upload a file once, get it over HTTP ranges, Blossom, BitTorrent (tracker, "
    "WebSeed, DHT), HLS and Nostr."
)
SPEC_DESCRIPTION = (
    "What to run. Every field has a default: an empty spec gives a working system with managed "
    "MinIO and Redis."
)
PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Whether every component is ready.",
    },
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "description": "Why (not) ready.",
        "priority": 1,
    },
    {"name": "URL", "type": "string", "jsonPath": ".status.url", "description": "Public URL of the gateway."},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
# The name rules the operator enforces in names.check_instance_name, for the API server to enforce first.
NAME_RULES = [
    {
        "rule": f"self.metadata.name.size() <= {MAX_NAME_LENGTH}",
        "message": (
            f"name must be at most {MAX_NAME_LENGTH} characters: child objects are named <name>-<component>"
        ),
    },
    {
        "rule": f"self.metadata.name.matches('{DNS_LABEL_PATTERN}')",
        "message": "name must be a DNS label starting with a letter: it names Services",
    },
]
_CONSTRAINTS = (
    ("ge", "minimum"),
    ("le", "maximum"),
    ("gt", "exclusiveMinimum"),
    ("lt", "exclusiveMaximum"),
    ("min_length", "minLength"),
    ("max_length", "maxLength"),
    ("pattern", "pattern"),
)
_SCALARS = {bool: "boolean", int: "integer", float: "number", str: "string"}
# The order keys are written in, so that each node reads: what it is, what it holds, its limits.
_KEY_ORDER = (
    "type",
    "description",
    "properties",
    "additionalProperties",
    "items",
    "anyOf",
    "enum",
    "format",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "required",
)


class SchemaError(TypeError):
    """A model uses a type the generator cannot express as a structural schema."""


def _constraints(metadata: list[Any], *, array: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            out.update(_constraints(item.metadata, array=array))
            continue
        for attribute, keyword in _CONSTRAINTS:
            value = getattr(item, attribute, None)
            if value is not None:
                if array and keyword in ("minLength", "maxLength"):
                    keyword = keyword.replace("Length", "Items")
                out[keyword] = value
    return out


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _type_schema(annotation: Any, metadata: list[Any] | None = None) -> dict[str, Any]:
    """The schema of one type (without description or default), constraints from ``metadata``."""
    metadata = list(metadata or [])
    for item in metadata:
        if isinstance(item, WithJsonSchema) and item.json_schema is not None:
            return copy.deepcopy(dict(item.json_schema))  # the type states its own schema (a quantity)
    annotation = _strip_optional(annotation)
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        return _type_schema(inner, [*extra, *metadata])
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_schema(annotation)
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation], **_constraints(metadata)}
    if origin is Literal:
        values = list(get_args(annotation))
        kinds = {_SCALARS[type(value)] for value in values}
        if len(kinds) != 1:
            raise SchemaError(f"Literal{values} mixes types")
        return {"type": kinds.pop(), "enum": values}
    if origin is list:
        (item,) = get_args(annotation)
        return {"type": "array", "items": _type_schema(item), **_constraints(metadata, array=True)}
    if origin is dict:
        key, value = get_args(annotation)
        if key is not str:
            raise SchemaError(f"map keys must be strings, not {key}")
        return {"type": "object", "additionalProperties": _type_schema(value)}
    if origin in (Union, types.UnionType):
        branches = [_type_schema(arg) for arg in get_args(annotation)]
        if sorted(branch["type"] for branch in branches) == ["integer", "string"]:
            # Kubernetes' int-or-string (a quantity): the string branch's pattern applies to the value.
            pattern = next((b["pattern"] for b in branches if "pattern" in b), None)
            out: dict[str, Any] = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
            if pattern:
                out["pattern"] = pattern
            out["x-kubernetes-int-or-string"] = True
            return out
        raise SchemaError(f"{annotation} is not structural (only int | str and X | None are)")
    raise SchemaError(f"{annotation!r} has no CRD schema")


def _default(field: FieldInfo) -> Any:
    """The field's default as the CRD states it; None when it has none (or defaults to null)."""
    if field.is_required():
        return None
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        # Only what differs from the model's own defaults: structural defaulting fills in the rest.
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return value


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    first = {key: node[key] for key in _KEY_ORDER if key in node}
    return {**first, **{key: value for key, value in node.items() if key not in first}}


def field_schema(field: FieldInfo, owner: type[BaseModel], name: str) -> dict[str, Any]:
    node = _type_schema(field.annotation, field.metadata)
    description = field.description
    if description is None and node.get("type") == "object" and "properties" in node:
        description = node.get("description")
    if not description:
        raise SchemaError(f"{owner.__name__}.{name} has no description")
    node["description"] = description
    default = _default(field)
    if default is not None:
        node["default"] = default
    if isinstance(field.json_schema_extra, Mapping):
        node.update(copy.deepcopy(dict(field.json_schema_extra)))
    return _ordered(node)


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model as an object schema: camelCase properties, required fields, its CEL rules."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        properties[key] = field_schema(field, model, name)
        if field.is_required():
            required.append(key)
    node: dict[str, Any] = {"type": "object", "properties": properties}
    doc = (model.__doc__ or "").strip()
    if doc and model.__doc__ != BaseModel.__doc__:
        node["description"] = " ".join(doc.split("\n\n")[0].split())
    if required:
        node["required"] = required
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, Mapping):
        node.update(copy.deepcopy(dict(extra)))
    return _ordered(node)


def openapi_schema() -> dict[str, Any]:
    spec = model_schema(TorrentGatewaySpec)
    spec["description"] = SPEC_DESCRIPTION
    spec = _ordered({**spec, "default": {}})
    status = model_schema(TorrentGatewayStatus)
    return {
        "type": "object",
        "description": DESCRIPTION,
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": copy.deepcopy(NAME_RULES),
    }


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "torrent-gateway", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["tgw"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": copy.deepcopy(PRINTER_COLUMNS),
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render() -> str:
    # Every fragment is a fresh copy (above), so the YAML has no &anchors for shared ones.
    text: str = yaml.safe_dump(crd(), sort_keys=False, width=110, allow_unicode=True)
    return HEADER + text


def targets(root: Path) -> list[Path]:
    return [root / "crds" / CRD_FILE, root / CHART_COPY / CRD_FILE]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m torrent_gateway_operator.crd", description="Write (or check) the TorrentGateway CRD."
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: .)")
    parser.add_argument("--check", action="store_true", help="fail when a committed copy differs")
    args = parser.parse_args(argv)
    text = render()
    stale = [path for path in targets(args.root) if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path} differs from the models; run `make crds`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
