#!/bin/sh
# Builds the project's Dockerfile with podman, as `docker build` would, on a machine without a
# Docker engine or a reachable image registry: the base comes from base_image.sh (--pull=never).
# Prints one line `built IMAGE in SECONDS s, SIZE bytes` for the test and the docs.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$here/podman.sh"

sh "$here/base_image.sh"
started=$(date +%s)
# shellcheck disable=SC2086 # the runtime flags are several words on purpose
podman build $PODMAN_RUNTIME_FLAGS --pull=never \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --tag "$IMAGE" --file "$root/Dockerfile" "$root" >&2
elapsed=$(( $(date +%s) - started ))
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "built $IMAGE in $elapsed s, $size bytes"
