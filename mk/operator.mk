# The operator's generated files (issue 20): the CRD (and the chart's copy of it) comes from the
# operator's pydantic models; tests/unit/operator fails when a committed copy is stale.
#   make crds   write crds/torrentgateways.yaml and the chart's copy (charts/torrent-gateway/files/)

.PHONY: crds

crds: $(PY)
	PYTHONPATH=$(CURDIR)/workloads/src:$(CURDIR)/operator/src $(PY) -m torrent_gateway_operator.crd --root $(CURDIR)
