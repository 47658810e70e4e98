# Interop suite (tests/interop/): real BitTorrent clients in network namespaces against the real
# gateway. `make test` runs its quick half (aria2, libtorrent); `make test-interop` runs the whole
# matrix and rewrites docs/interop.md. Needs root (ip netns).
INTEROP_APT_PACKAGES := iproute2 aria2 transmission-cli qbittorrent-nox deluged deluge-console rtorrent
# WebTorrent (npm), pinned by its package-lock.json; its .npmrc runs no install scripts.
INTEROP_WEBTORRENT := tests/interop/webtorrent

.PHONY: interop-deps test-interop

interop-deps: system-deps
	@missing=""; for pkg in $(INTEROP_APT_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if [ ! -d $(INTEROP_WEBTORRENT)/node_modules ] || [ $(INTEROP_WEBTORRENT)/package-lock.json -nt $(INTEROP_WEBTORRENT)/node_modules ]; then \
	  echo "npm ci in $(INTEROP_WEBTORRENT)"; (cd $(INTEROP_WEBTORRENT) && npm ci --no-audit --no-fund --silent) || exit 1; \
	  touch $(INTEROP_WEBTORRENT)/node_modules; \
	fi

test-interop: install-dev interop-deps
	TGW_INTEROP_FULL=1 $(PY) -m pytest tests/interop $(PYTEST_ARGS)
