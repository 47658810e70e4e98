# Torrent Gateway — every command the README and CI use.
#   make run    install and start the one-process gateway on http://localhost:9876
#   make test   install everything the tests need (Debian packages, Python, npm) and run the suite
#   make bench  run the benchmarks in bench/ (each against its anchor)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Real peers and tools the tests start: redis, BitTorrent clients, ffmpeg, a browser, nginx/opentracker/wrk for bench.
APT_PACKAGES := redis-server aria2 ffmpeg chromium nginx-light opentracker wrk curl
JS_DIRS := $(patsubst %/package.json,%,$(wildcard tests/js/package.json tests/js/*/package.json))
PYTEST_ARGS ?=

.PHONY: run serve venv install install-dev system-deps js-deps test lint typecheck config bench clean

$(PY):
	$(PYTHON) -m venv --system-site-packages $(VENV) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv --system-site-packages $(VENV); }
	$(PY) -m pip install -q --upgrade pip

venv: $(PY)

install: $(PY)
	$(PY) -m pip install -q -e '.[all]'

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
	$(PY) -m pip install -q -e '.[dev]'

js-deps: system-deps
	@for dir in $(JS_DIRS); do \
	  if [ ! -d $$dir/node_modules ] || [ $$dir/package.json -nt $$dir/node_modules ]; then \
	    echo "npm install in $$dir"; (cd $$dir && npm install --no-audit --no-fund --silent) || exit 1; touch $$dir/node_modules; \
	  fi; \
	done

test: install-dev js-deps
	$(PY) -m pytest $(PYTEST_ARGS)

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
