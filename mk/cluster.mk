# The real Kubernetes control plane on loopback (tests/cluster/): etcd, kube-apiserver,
# kube-controller-manager built from source once per machine (~15 min cold, cached under
# ~/.cache/torrent-gateway/k8s-<version>/), plus the harness's fake kubelet.
#   make cluster-up     start it; writes .cluster/kubeconfig, links .cluster/bin
#   make cluster-down   stop it
#   make test-cluster   the operator and chart suite on it (kept out of `make test`)

CLUSTER_PYTHONPATH := $(CURDIR):$(CURDIR)/workloads/src:$(CURDIR)/operator/src

.PHONY: cluster-build cluster-up cluster-down test-cluster

cluster-build:
	bash tests/cluster/build.sh

cluster-up: install-dev cluster-build
	PYTHONPATH=$(CLUSTER_PYTHONPATH) $(PY) -m tests.cluster.harness up

cluster-down:
	PYTHONPATH=$(CLUSTER_PYTHONPATH) $(PY) -m tests.cluster.harness down

# TGW_CLUSTER=1 lets tests/cluster/conftest.py collect the suite; it starts the control plane
# itself when none runs (and stops what it started).
test-cluster: install-dev cluster-build
	TGW_CLUSTER=1 PYTHONPATH=$(CLUSTER_PYTHONPATH) $(PY) -m pytest tests/cluster $(PYTEST_ARGS)
