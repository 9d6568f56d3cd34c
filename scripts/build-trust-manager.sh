#!/usr/bin/env bash
# Builds the trust-manager controller (cert-manager project) from the Go module proxy, from its
# own tools module (test/e2e/trust-manager), into a cache outside the repo keyed by its version
# and a hash of go.mod, go.sum and `go version`, and copies its CRDs from the same module
# (deploy/crds/ in the module cache) next to it. Reuses the cache afterwards. Prints the
# directory (trust-manager, crds/*.yaml) on its last line of stdout; progress goes to stderr.
# Nothing of trust-manager is written into the repository.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mod="$here/test/e2e/trust-manager"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

module=github.com/cert-manager/trust-manager
version=$(sed -n 's/^[[:space:]]*github.com\/cert-manager\/trust-manager \(v[0-9.]*\).*/\1/p' "$mod/go.mod" | head -1)
key=$( (cat "$mod/go.sum" "$mod/go.mod"; go version) | sha256sum | cut -c1-12)
cache_root="${CA_TRUST_WEBHOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ca-trust-webhook}"
out="$cache_root/trust-manager-bin/$version-$key"

log() { printf '[trust-manager] %s\n' "$*" >&2; }

if [[ -x "$out/trust-manager" && -f "$out/crds/trust.cert-manager.io_bundles.yaml" ]]; then
  log "using cached trust-manager $version in $out"
  echo "$out"
  exit 0
fi

t0=$(date +%s)
log "building trust-manager $version from the Go module proxy ..."
mkdir -p "$(dirname "$out")"
# A private temp dir, renamed into place: two runs building at once each finish, and the loser
# just drops its copy.
tmp=$(mktemp -d "$out.tmp.XXXXXX")
chmod 755 "$tmp"
( while sleep 30; do log "  still building: $(( $(date +%s) - t0 ))s"; done ) &
beat=$!
stop_beat() { kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true; }
if ! (cd "$mod" && go mod download >&2 &&
      go build -trimpath -ldflags "-s -w" -o "$tmp/trust-manager" "$module/cmd/trust-manager" >&2); then
  stop_beat; rm -rf "$tmp"; log "build of trust-manager failed"; exit 1
fi
stop_beat
src=$(cd "$mod" && go list -m -f '{{.Dir}}' "$module")
mkdir -p "$tmp/crds"
# The module cache is read-only: copy the files, not their modes.
for crd in "$src"/deploy/crds/*.yaml; do
  cat "$crd" > "$tmp/crds/$(basename "$crd")"
done
mv -T "$tmp" "$out" 2>/dev/null || rm -rf "$tmp"
log "built trust-manager $version in $(( $(date +%s) - t0 ))s: $out"
echo "$out"
