# syntax=docker/dockerfile:1
# One image for every component; the subcommand picks it:
#   torrent-gateway serve | gateway | blossom | tracker | dht
# The Kubernetes operator runs from the same image: python -m torrent_gateway_operator

# --- build: a virtualenv with the project and every extra (.[all]) -------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY configs ./configs
COPY workloads ./workloads
COPY operator ./operator
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install ".[all]"

# --- runtime: slim, ffmpeg for HLS, a non-root user ----------------------------------------
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install --yes --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tgw \
 && useradd --system --uid 10001 --gid tgw --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin tgw \
 && mkdir -p /data \
 && chown tgw:tgw /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# `serve` keeps its objects in ./data; in Kubernetes the root filesystem is read-only and the
# components use MinIO, Redis and emptyDir volumes instead.
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# gateway, Blossom, tracker (TCP+UDP), DHT (UDP), peer wire, DHT health/metrics
EXPOSE 9876 8081 6969/tcp 6969/udp 6882/udp 6881/tcp 6881/udp 8082
ENTRYPOINT ["torrent-gateway"]
CMD ["serve"]
