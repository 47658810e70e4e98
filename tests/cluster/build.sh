#!/usr/bin/env bash
# Builds the real control plane the cluster suite runs on, once per machine, into a cache keyed by
# version: etcd, kube-apiserver, kube-controller-manager, kubectl and helm, all from
# their Go modules (no prebuilt binary can be fetched here). Idempotent: a binary that exists is kept.
#
#   tests/cluster/build.sh            build what is missing, print the bin directory
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod points the k8s.io staging modules at local
# folders. A generated wrapper module requires it and replaces each staging module by its published
# v0.X.Y release; etcd's server module has the same shape and gets the same treatment.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
HELM_VERSION="${HELM_VERSION:-4.3.2}"
CACHE="${TG_K8S_CACHE:-$HOME/.cache/torrent-gateway/k8s-$K8S_VERSION}"
BIN="$CACHE/bin"
SRC="$CACHE/src"
# Two cores are shared by the whole machine: never more than two compile jobs.
export GOFLAGS="${GOFLAGS:--p=2} -buildvcs=false"
export GOTOOLCHAIN=local

mkdir -p "$BIN" "$SRC"
exec 9>"$CACHE/.build.lock"
flock 9  # a second caller waits for the first build instead of starting its own

log() { printf '[cluster-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
have() { [ -x "$BIN/$1" ]; }

command -v go >/dev/null || { log "go is not installed (Go >= 1.25 is needed)"; exit 1; }

build_etcd() {
  have etcd && return 0
  log "building etcd v$ETCD_VERSION"
  local dir="$SRC/etcd"
  rm -rf "$dir" && mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module torrentgateway.test/etcdbuild

go 1.25

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v$ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 v$ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 v$ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 v$ETCD_VERSION
)
MOD
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$dir" && go mod tidy && go build -trimpath -ldflags '-s -w' -o "$BIN/etcd.part" go.etcd.io/etcd/server/v3)
  mv "$BIN/etcd.part" "$BIN/etcd"
}

build_kubernetes() {
  local missing=()
  for b in kube-apiserver kube-controller-manager kubectl; do have "$b" || missing+=("$b"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "building ${missing[*]} v$K8S_VERSION"
  local dir="$SRC/kubernetes" minor="${K8S_VERSION#*.}"
  minor="${minor%%.*}"
  rm -rf "$dir" && mkdir -p "$dir"
  local upstream_mod
  upstream_mod="$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$upstream_mod" ] || { log "go mod download k8s.io/kubernetes@v$K8S_VERSION gave no go.mod"; exit 1; }
  {
    printf 'module torrentgateway.test/k8sbuild\n\ngo 1.25\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
    # every `k8s.io/X => ./staging/src/k8s.io/X` of the upstream go.mod becomes its v0.<minor>.<patch> release
    sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\1#p' "$upstream_mod" |
      sort -u | while read -r m; do printf '\t%s => %s v0.%s\n' "$m" "$m" "${K8S_VERSION#*.}"; done
    printf ')\n'
  } >"$dir/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for b in "${missing[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b"; done
    printf ')\n'
  } >"$dir/tools.go"
  # Without the version stamped in, every binary reports v0.0.0-master and helm refuses charts that
  # declare a kubeVersion.
  local vpkg=k8s.io/component-base/version
  local ldflags="-s -w -X $vpkg.gitVersion=v$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor"
  ldflags+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
  local pkgs=()
  for b in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  mkdir -p "$dir/out"
  (cd "$dir" && go mod tidy && go build -trimpath -ldflags "$ldflags" -o "$dir/out/" "${pkgs[@]}")
  for b in "${missing[@]}"; do mv "$dir/out/$b" "$BIN/$b"; done
}

build_helm() {
  have helm && return 0
  log "building helm v$HELM_VERSION"
  local gobin="$SRC/helm-bin"
  rm -rf "$gobin"
  GOBIN="$gobin" go install -trimpath -ldflags '-s -w' "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION"
  mv "$gobin/helm" "$BIN/helm"
}

start=$(date +%s)
build_etcd
build_helm
build_kubernetes
log "binaries ready in $BIN ($(( $(date +%s) - start )) s)"
echo "$BIN"
