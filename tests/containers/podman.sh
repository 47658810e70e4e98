# Sourced by the container scripts: podman as it works on these machines (no Docker engine).
# crun, podman's default runtime, cannot raise RLIMIT_NOFILE/NPROC without CAP_SYS_RESOURCE and
# refuses the hybrid cgroup layout; runc with explicit ulimits works as it is.
PODMAN_RUNTIME_FLAGS="--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=1000:1000"
BASE_IMAGE="${TGW_BASE_IMAGE:-localhost/torrent-gateway-base:bookworm}"
IMAGE="${TGW_IMAGE:-localhost/torrent-gateway:test}"

need_podman() {
  missing=""
  for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  if [ -n "$missing" ]; then
    echo "installing:$missing (with buildah)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap >/dev/null
  fi
}
