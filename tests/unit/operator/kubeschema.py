"""Validate manifests against the Kubernetes OpenAPI schemas kubernetes-validate ships, fast.

``kubernetes_validate.validate`` re-reads and re-parses the multi-megabyte definitions file on
every call; here each (version, kind) validator is built once per process, using the same
files, the same strict schemas (unknown fields refused) and the same Draft 2020-12 validator.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jsonschema
from kubernetes_validate import utils
from referencing import Registry, Resource

VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33")


def shipped_versions() -> list[str]:
    return [utils.major_minor(v) for v in utils.all_versions()]


@cache
def _registry(version: str) -> tuple[str, Registry]:
    full = [v for v in utils.all_versions() if utils.major_minor(v) == version][-1]
    schema_dir = f"v{full}-local-strict"
    definitions = utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    return schema_dir, Resource.from_contents(definitions) @ Registry()


@cache
def _validator(version: str, kind: str, api_version: str) -> jsonschema.protocols.Validator:
    schema_dir, registry = _registry(version)
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{api}.json", version)
    registry = Resource.from_contents(schema) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def errors(manifest: dict[str, Any], version: str) -> list[str]:
    """Every strict-schema violation of one manifest for one Kubernetes minor version."""
    validator = _validator(version, manifest["kind"], manifest["apiVersion"])
    return [
        f"{manifest['kind']}/{manifest.get('metadata', {}).get('name')} @ {'.'.join(map(str, e.path))}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]
