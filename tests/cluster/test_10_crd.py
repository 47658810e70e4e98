"""The CRD on the real apiserver: installed by helm, every invalid example refused with its message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.cluster.harness import ROOT
from tests.cluster.kube import Kube

INVALID = sorted((ROOT / "examples" / "invalid").glob("*.yaml"))


def test_crd_is_established_and_not_in_category_all(kube: Kube, release: str) -> None:
    crd = kube.get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/torrentgateways.torrentgateway.io"
    )
    assert crd is not None
    established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert established["Established"] == "True" and established["NamesAccepted"] == "True"
    assert "categories" not in crd["spec"]["names"]
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_examples_are_refused_with_a_readable_message(kube: Kube, release: str, path: Path) -> None:
    kube.ensure_namespace("invalid")
    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    expect = re.search(r"^# expect: (.+)$", path.read_text(), re.M).group(1).strip()  # type: ignore[union-attr]
    # strict field validation, as kubectl does by default
    response = kube.http.post(kube.gateway_path("invalid"), json=doc, params={"fieldValidation": "Strict"})
    assert response.status_code in (400, 422), response.text  # 400: strict decoding (unknown field)
    assert expect in response.json()["message"], response.json()["message"]


def test_volume_sizes_cannot_change_but_other_fields_can(kube: Kube, release: str) -> None:
    kube.ensure_namespace("transitions")
    body = {
        "apiVersion": "torrentgateway.io/v1alpha1",
        "kind": "TorrentGateway",
        "metadata": {"name": "sizes"},
        "spec": {"redis": {"managed": {"persistence": {"size": "1Gi"}}}},
    }
    assert kube.create_gateway("transitions", body).status_code == 201
    response = kube.http.patch(
        kube.gateway_path("transitions", "sizes"),
        content='{"spec": {"redis": {"managed": {"persistence": {"size": "2Gi"}}}}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 422 and "managed Redis volume size cannot change" in response.text
    kube.patch_gateway("transitions", "sizes", {"spec": {"gateway": {"replicas": 3}}})
    assert kube.http.delete(kube.gateway_path("transitions", "sizes")).status_code == 200
