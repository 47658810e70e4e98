# The real image and the real object store (issue 17): MinIO built from source, the project's
# Dockerfile built and run with podman. Included by the Makefile (-include mk/*.mk).
#   make minio             build the pinned MinIO once into ~/.cache/torrent-gateway/minio-<version>/
#   make container-tools   podman, buildah, runc, debootstrap from Debian
#   make image             the base image (debootstrap) and the project's image, with podman
#   make test-containers   build the image and run every component as the operator's pods would
#   make test-cluster-shaped  the cluster-shaped end-to-end test (processes on MinIO and Redis)

.PHONY: minio container-tools image test-containers test-cluster-shaped bench-s3

minio:
	@sh tests/support/build_minio.sh >/dev/null

container-tools:
	@for tool in podman buildah runc debootstrap; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq podman buildah runc debootstrap >/dev/null; \
	fi

image: container-tools
	sh tests/containers/build_image.sh

test-containers: install-dev system-deps minio container-tools
	$(PY) -m pytest tests/containers $(PYTEST_ARGS)

test-cluster-shaped: install-dev system-deps minio
	$(PY) -m pytest tests/e2e/cluster $(PYTEST_ARGS)

bench-s3: install-dev system-deps minio
	$(PY) bench/bench_s3.py
