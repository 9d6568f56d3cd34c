#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from the Go module proxy (test/e2e/controlplane)
# into a cache outside the repo, keyed by the Kubernetes version and a hash of go.sum and
# `go version`, and reuses it afterwards. Prints the directory that holds the binaries
# on its last line of stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mod="$here/test/e2e/controlplane"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

k8s_version=$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' "$mod/go.mod" | head -1)
etcd_version=$(sed -n 's/^[[:space:]]*go.etcd.io\/etcd\/server\/v3 \(v[0-9.]*\).*/\1/p' "$mod/go.mod" | head -1)
key=$( (cat "$mod/go.sum" "$mod/go.mod"; go version) | sha256sum | cut -c1-12)
cache_root="${CA_TRUST_WEBHOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ca-trust-webhook}"
out="$cache_root/k8s-bin/$k8s_version-$key"

log() { printf '[controlplane] %s\n' "$*" >&2; }

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; then
  log "using cached binaries in $out"
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
log "done in $(( $(date +%s) - start ))s: $out"
echo "$out"
