# Torrent Gateway — every command the README and CI use.
#   make run    install and start the one-process gateway on http://localhost:9876
#   make test   install everything the tests need (Debian packages, Python, npm, MinIO, podman) and run the suite
#   make test-all   what CI runs: `make test`, then the real Kubernetes control plane suite and the
#                   full BitTorrent client matrix (builds kube-apiserver, etcd and helm once per machine)
#   make bench  run the benchmarks in bench/ (each against its anchor)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Real peers and tools the tests start: redis, BitTorrent clients, ffmpeg, a browser, nginx/opentracker/wrk for bench.
APT_PACKAGES := redis-server aria2 ffmpeg chromium nginx-light opentracker wrk curl iproute2
JS_DIRS := $(patsubst %/package.json,%,$(wildcard tests/js/package.json tests/js/*/package.json))
PYTEST_ARGS ?=
# The suite imports the checkout it runs in: a PYTHONPATH from the caller's shell (another worktree)
# must not win over the editable install.
unexport PYTHONPATH

.PHONY: run serve venv install install-dev lock check deps-check deadcode test-all system-deps js-deps test lint typecheck config bench clean

# The venv sees no system site-packages: a machine's own pytest (9.x) or any other global package
# must never shadow the versions pinned in requirements/*.lock.
$(PY):
	$(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip

venv: $(PY)

# Everything installs from the hashed lock files; the project itself goes in editable, without
# resolving anything again.
install: $(PY)
	$(PY) -m pip install -q --require-hashes -r requirements/runtime.lock
	$(PY) -m pip install -q --no-deps -e .

# Re-pin after changing a dependency in pyproject.toml (uv only resolves; pip installs).
lock:
	$(PYTHON) -m pip install -q --user 'uv==0.13.8' 2>/dev/null || $(PYTHON) -m pip install -q 'uv==0.13.8'
	$(PYTHON) -m uv pip compile pyproject.toml --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --no-emit-package torrent-gateway --custom-compile-command 'make lock' --extra dev -o requirements/dev.lock
	$(PYTHON) -m uv pip compile pyproject.toml --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --no-emit-package torrent-gateway --custom-compile-command 'make lock' --extra all \
	  -c requirements/dev.lock -o requirements/runtime.lock

run: install
	$(VENV)/bin/torrent-gateway serve

serve: run

system-deps:
	@missing=""; for pkg in $(APT_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

install-dev: $(PY) system-deps
	$(PY) -m pip install -q --require-hashes -r requirements/dev.lock
	$(PY) -m pip install -q --no-deps -e .

js-deps: system-deps
	@for dir in $(JS_DIRS); do \
	  if [ ! -d $$dir/node_modules ] || [ $$dir/package.json -nt $$dir/node_modules ]; then \
	    echo "npm install in $$dir"; (cd $$dir && npm install --no-audit --no-fund --silent) || exit 1; touch $$dir/node_modules; \
	  fi; \
	done

# The gate CI runs: static checks first (seconds), then every test.
test: install-dev js-deps minio container-tools check
	$(PY) -m pytest $(PYTEST_ARGS)

check: lint typecheck deps-check deadcode

# Targets from mk/: test-cluster (mk/cluster.mk), test-interop (mk/interop.mk).
test-all: test test-cluster test-interop

deps-check: $(PY)
	$(VENV)/bin/deptry .

deadcode: $(PY)
	$(VENV)/bin/vulture

lint: $(PY)
	$(PY) -m ruff check workloads operator tests bench
	$(PY) -m ruff format --check workloads operator tests bench
	$(VENV)/bin/lint-imports

typecheck: $(PY)
	$(PY) -m mypy workloads/src/torrent_gateway operator/src/torrent_gateway_operator

config: $(PY)
	$(PY) -c "from torrent_gateway.config_docs import render_commented_yaml; open('configs/config.yaml','w').write(render_commented_yaml())"

bench: install-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache data tests/artifacts

# Optional targets of the real-infrastructure suites, one file each (cluster, containers, interop).
-include mk/*.mk
