# syntax=docker/dockerfile:1
# One image for every component; the subcommand picks it:
#   torrent-gateway serve | gateway | blossom | tracker | dht
# The Kubernetes operator runs from the same image: python -m torrent_gateway_operator
#
# Built FROM Debian bookworm with its own Python 3.11. Where no registry is reachable,
# tests/containers/base_image.sh makes an equivalent base with debootstrap and the build passes
# --build-arg BASE_IMAGE=<that image> (see `make test-containers`).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# --- build: a virtualenv installed from the hashed lock, then the project without resolving ----
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && apt-get install --yes --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python3 -m venv /opt/venv
# Dependencies first (their layer survives changes to our code); every byte is checked against the
# lock's hashes and only wheels are accepted, so no third-party build script runs here.
COPY requirements/runtime.lock requirements/runtime.lock
RUN /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY configs ./configs
COPY workloads ./workloads
COPY operator ./operator
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/torrent-gateway --help >/dev/null

# --- runtime: Python, ffmpeg for HLS, the virtualenv, a non-root user --------------------------
FROM ${BASE_IMAGE}
# Debian's ffmpeg links libGL (for outputs to a screen), and libGL's Mesa driver package pulls in
# LLVM and Z3: 162 MB, a seventh of the image, that transcoding never loads (the drivers are only
# opened to draw). An empty local package that provides libgl1-mesa-dri satisfies that dependency,
# so apt installs neither and its own records stay consistent (no forced removal).
RUN mkdir -p /tmp/no-gl-drivers/DEBIAN \
 && printf '%s\n' 'Package: tgw-no-gl-drivers' 'Version: 1' 'Architecture: all' \
      'Maintainer: Torrent Gateway' 'Provides: libgl1-mesa-dri' \
      'Description: stands in for the Mesa GL drivers, which a headless transcoder never opens' \
      > /tmp/no-gl-drivers/DEBIAN/control \
 && dpkg-deb --build /tmp/no-gl-drivers /tmp/no-gl-drivers.deb >/dev/null \
 && dpkg --install /tmp/no-gl-drivers.deb \
 && rm -rf /tmp/no-gl-drivers /tmp/no-gl-drivers.deb
RUN apt-get update \
 && apt-get install --yes --no-install-recommends python3 ca-certificates ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tgw \
 && useradd --system --uid 10001 --gid tgw --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin tgw \
 && mkdir -p /data /var/cache/torrent-gateway \
 && chown tgw:tgw /data /var/cache/torrent-gateway
COPY --from=build /opt/venv /opt/venv
# MALLOC_ARENA_MAX: the S3 store reads and writes 2 MiB chunks on a pool of 32 threads, and glibc
# gives each thread its own heap arena, which keeps freed chunk buffers: a download from
# MinIO (512 MiB) peaked at 257 MB RSS with the default, 188 MB with two arenas, at the same speed
# (bench/bench_s3.py).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2
# `serve` keeps its objects in ./data; in Kubernetes the root filesystem is read-only and the
# components use MinIO, Redis and emptyDir volumes (/tmp, /var/cache/torrent-gateway) instead.
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# gateway, Blossom, tracker (TCP+UDP), DHT (UDP), peer wire, DHT health/metrics
EXPOSE 9876 8081 6969/tcp 6969/udp 6882/udp 6881/tcp 6881/udp 8082
ENTRYPOINT ["torrent-gateway"]
CMD ["serve"]
