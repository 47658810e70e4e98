# Interop suite (tests/interop/): real BitTorrent clients in network namespaces against the real
# gateway. `make test` runs its quick half (aria2, libtorrent); `make test-interop` runs the whole
# matrix and rewrites docs/interop.md. Needs root (ip netns).
INTEROP_APT_PACKAGES := iproute2 aria2 transmission-cli qbittorrent-nox deluged deluge-console

.PHONY: interop-deps test-interop

interop-deps:
	@missing=""; for pkg in $(INTEROP_APT_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

test-interop: install-dev interop-deps
	TGW_INTEROP_FULL=1 $(PY) -m pytest tests/interop $(PYTEST_ARGS)
