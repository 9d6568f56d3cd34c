#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from the Go module proxy (test/e2e/controlplane)
# into a cache outside the repo, keyed by the Kubernetes version and a hash of go.sum and
# `go version`, and reuses it afterwards. Also builds helm from its own tools module
# (test/e2e/helm, keyed the same way by its go.mod/go.sum) and the trust-manager controller with
# its CRDs (scripts/build-trust-manager.sh, test/e2e/trust-manager), and links them into that
# directory (`helm`, `trust-manager`, `trust-manager-crds/`).
# Prints the directory that holds the binaries on its last line of stdout; progress goes to
# stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mod="$here/test/e2e/controlplane"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

k8s_version=$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' "$mod/go.mod" | head -1)
etcd_version=$(sed -n 's/^[[:space:]]*go.etcd.io\/etcd\/server\/v3 \(v[0-9.]*\).*/\1/p' "$mod/go.mod" | head -1)
key=$( (cat "$mod/go.sum" "$mod/go.mod"; go version) | sha256sum | cut -c1-12)
cache_root="${CA_TRUST_WEBHOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ca-trust-webhook}"
out="$cache_root/k8s-bin/$k8s_version-$key"

# helm has its own module (see test/e2e/helm/go.mod for why) and its own cache key, so a
# change to either module rebuilds only what it builds.
helm_mod="$here/test/e2e/helm"
helm_version=$(sed -n 's/^[[:space:]]*helm.sh\/helm\/v3 \(v[0-9.]*\).*/\1/p' "$helm_mod/go.mod" | head -1)
helm_k8s_minor=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$helm_mod/go.mod" | head -1)
helm_key=$( (cat "$helm_mod/go.sum" "$helm_mod/go.mod"; go version) | sha256sum | cut -c1-12)
helm_out="$cache_root/helm-bin/$helm_version-$helm_key"

log() { printf '[controlplane] %s\n' "$*" >&2; }

# Builds helm into its cache (if needed) and links it next to the control plane binaries.
link_helm() {
  if [[ ! -x "$helm_out/helm" ]]; then
    local t0
    t0=$(date +%s)
    log "building helm $helm_version (k8s 1.$helm_k8s_minor) ..."
    # A private temp dir, renamed into place: two runs building at once (parallel e2e runs)
    # each finish, and the loser just drops its copy.
    local tmp
    mkdir -p "$(dirname "$helm_out")"
    tmp=$(mktemp -d "$helm_out.tmp.XXXXXX")
    local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
    for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
      ld="$ld -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$helm_k8s_minor"
    done
    if ! (cd "$helm_mod" && go mod download >&2 &&
          go build -trimpath -ldflags "$ld" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm >&2); then
      rm -rf "$tmp"; log "build of helm failed"; exit 1
    fi
    mv -T "$tmp" "$helm_out" 2>/dev/null || rm -rf "$tmp"
    log "built helm in $(( $(date +%s) - t0 ))s: $helm_out"
  fi
  ln -sfn "$helm_out/helm" "$1/helm"
}

# trust-manager: its own script, module and cache key (a change rebuilds only it).
link_trust_manager() {
  local tm_out
  tm_out=$(bash "$here/scripts/build-trust-manager.sh" | tail -1)
  ln -sfn "$tm_out/trust-manager" "$1/trust-manager"
  ln -sfn "$tm_out/crds" "$1/trust-manager-crds"
}

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; then
  log "using cached binaries in $out"
  link_helm "$out"
  link_trust_manager "$out"
  echo "$out"
  exit 0
fi

mkdir -p "$out.tmp"
minor=${k8s_version#v1.}; minor=${minor%%.*}
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done

cd "$mod"
start=$(date +%s)
log "downloading modules for Kubernetes $k8s_version, etcd $etcd_version"
go mod download >&2
build() {
  local name=$1 pkg=$2 flags=$3 t0
  t0=$(date +%s)
  log "building $name ($pkg) ..."
  # A heartbeat so a cold build (many minutes on 2 cores) visibly makes progress.
  ( while sleep 30; do log "  still building $name: $(( $(date +%s) - t0 ))s"; done ) &
  local beat=$!
  if ! go build -trimpath -ldflags "$flags" -o "$out.tmp/$name" "$pkg" >&2; then
    kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true
    log "build of $name failed"; exit 1
  fi
  kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true
  log "built $name in $(( $(date +%s) - t0 ))s"
}
build etcd go.etcd.io/etcd/server/v3 "-s -w"
build kubectl k8s.io/kubernetes/cmd/kubectl "$ld"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ld"
rm -rf "$out"; mv "$out.tmp" "$out"
link_helm "$out"
link_trust_manager "$out"
log "done in $(( $(date +%s) - start ))s: $out"
echo "$out"
