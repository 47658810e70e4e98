#!/bin/sh
# Builds the pinned MinIO server once per machine into a cache keyed by its version and prints the
# binary's path. Idempotent: a finished build is reused; a concurrent or interrupted build never
# leaves a half-written binary under the final name (go install writes into a temporary GOBIN that is
# renamed into place only when it succeeds).
#
# MinIO tags its releases without semver, so the Go module proxy serves it by pseudo-version; this is
# the newest it serves (see shared docs REAL-INFRA). Pinned: a new MinIO is a deliberate change here.
set -eu

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE_ROOT="${TORRENT_GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/torrent-gateway}"
DEST="$CACHE_ROOT/minio-$MINIO_VERSION"
BIN="$DEST/bin/minio"

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "build_minio: Go is required (https://go.dev/dl/)" >&2; exit 1; }

mkdir -p "$CACHE_ROOT"
STAGING="$(mktemp -d "$CACHE_ROOT/.minio-build.XXXXXX")"
trap 'rm -rf "$STAGING"' EXIT INT TERM

# Two cores are shared by every build on these machines: at most two compile jobs.
echo "build_minio: go install github.com/minio/minio@$MINIO_VERSION (several minutes, once)" >&2
GOBIN="$STAGING/bin" GOFLAGS="${GOFLAGS:--p=2}" CGO_ENABLED=0 \
  go install "github.com/minio/minio@$MINIO_VERSION" >&2

mkdir -p "$DEST"
if ! mv -T "$STAGING/bin" "$DEST/bin" 2>/dev/null; then
  # Another build finished first; keep its binary.
  [ -x "$BIN" ] || { echo "build_minio: could not place $BIN" >&2; exit 1; }
fi
echo "$BIN"
