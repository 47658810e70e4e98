#!/bin/sh
# Makes the image the Dockerfile builds FROM when no registry is reachable: Debian bookworm
# (debootstrap --variant=minbase, what debian:bookworm-slim is made of) with Python, venv, pip and
# CA certificates, imported into podman as $BASE_IMAGE. Idempotent: an existing image is kept.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/podman.sh"
need_podman

if podman image exists "$BASE_IMAGE"; then
  echo "base image $BASE_IMAGE exists"
  exit 0
fi

# The machine's own Debian mirror (a registry it can reach), from its apt sources.
mirror="${DEBIAN_MIRROR:-$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')}"
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs="$(mktemp -d /var/tmp/tgw-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT INT TERM
echo "debootstrap bookworm from $mirror (about a minute)" >&2
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
  bookworm "$rootfs" "$mirror" >/dev/null
# Packages reach this machine through a CA in its own trust store, which the fresh rootfs lacks:
# without it every pip install of a RUN step fails with CERTIFICATE_VERIFY_FAILED.
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
echo "imported $BASE_IMAGE" >&2
