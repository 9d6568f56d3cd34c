#!/usr/bin/env bash
# Writes the PodSecurity fixture corpus of k8s.io/pod-security-admission (upstream's own
# generators: pass/fail Pods per level, version and check) as JSON, once per pinned version of
# that module, into a cache outside the repo, and reuses it afterwards. The versions are those
# of the tools module tools/podsecurity-fixtures: go.mod (the control plane's Kubernetes) and
# latest.mod (the newest release, for the evaluator's `latest`). The cache key is a hash of the
# module files, the generator's source, this script and `go version`, so a change to any rebuilds.
#
# Prints one line per corpus on stdout, the path of its JSON file, in that order; progress goes
# to stderr. CA_TRUST_WEBHOOK_CACHE moves the cache (default ~/.cache/ca-trust-webhook).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mod="$here/tools/podsecurity-fixtures"
# -mod=readonly: the committed go.sum is the whole truth, nothing is re-resolved.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
cache_root="${CA_TRUST_WEBHOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ca-trust-webhook}"

log() { printf '[podsecurity-fixtures] %s\n' "$*" >&2; }

# build MODFILE SUMFILE: the corpus of the pod-security-admission version MODFILE pins.
build() {
  local modfile=$1 sumfile=$2 version key out t0 tmp dir beat run_go
  version=$(sed -n 's/^[[:space:]]*k8s.io\/pod-security-admission \(v[0-9.]*\).*/\1/p' "$modfile" | head -1)
  key=$( (cat "$modfile" "$sumfile" "$mod/main.go" "$mod/export_fixtures.go.in" "$0"; go version) |
    sha256sum | cut -c1-12)
  out="$cache_root/podsecurity-fixtures/$version-$key"
  if [[ -f "$out/fixtures.json" ]]; then
    log "using cached corpus of k8s.io/pod-security-admission $version: $out"
    echo "$out/fixtures.json"
    return
  fi
  t0=$(date +%s)
  mkdir -p "$(dirname "$out")"
  # A private temp dir, renamed into place: two runs building at once each finish, and the
  # loser just drops its copy.
  tmp=$(mktemp -d "$out.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir "$tmp/gen"
  cp "$modfile" "$tmp/gen/go.mod"
  cp "$sumfile" "$tmp/gen/go.sum"
  cp "$mod/main.go" "$tmp/gen/"
  log "downloading k8s.io/pod-security-admission $version ..."
  # Only this module: `go build` fetches the packages it needs, not the whole module graph.
  (cd "$tmp/gen" && go mod download k8s.io/pod-security-admission >&2)
  # The generators are unexported: build against a copy of the module with one more file in
  # its package `test` (Go refuses overlays of files in the module cache).
  dir=$(cd "$tmp/gen" && go list -m -f '{{.Dir}}' k8s.io/pod-security-admission)
  cp -R "$dir" "$tmp/pod-security-admission"
  chmod -R u+w "$tmp/pod-security-admission"
  cp "$mod/export_fixtures.go.in" "$tmp/pod-security-admission/test/zz_export_fixtures.go"
  # run.go drives fixtures against a live apiserver: it pulls in client-go (more than half of
  # the build's CPU time). Keep only the two pieces the generators need from it, verbatim; if upstream
  # moves them, the build fails on an undefined name rather than exporting something else.
  run_go="$tmp/pod-security-admission/test/run.go"
  {
    echo "package test"
    echo 'import ("k8s.io/pod-security-admission/api"; "k8s.io/pod-security-admission/policy")'
    awk '/^const \($/,/^\)$/' "$run_go"
    awk '/^func checksForLevelAndVersion\(/,/^}$/' "$run_go"
  } >"$tmp/pod-security-admission/test/zz_run_subset.go"
  rm "$run_go"
  (cd "$tmp/gen" && go mod edit -replace k8s.io/pod-security-admission=../pod-security-admission)
  log "building the generator against k8s.io/pod-security-admission $version ..."
  # A heartbeat so a cold build (minutes on 2 cores) visibly makes progress.
  ( while sleep 30; do log "  still building: $(( $(date +%s) - t0 ))s"; done ) &
  beat=$!
  # nice: the unit tests that run meanwhile (this runs from one of them) keep their CPU.
  if ! (cd "$tmp/gen" && nice -n 10 go build -trimpath -o "$tmp/podsecurity-fixtures" . >&2); then
    kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true
    log "build failed"; exit 1
  fi
  kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true
  "$tmp/podsecurity-fixtures" "$tmp/fixtures.json"
  rm -rf "$tmp/gen" "$tmp/pod-security-admission" "$tmp/podsecurity-fixtures"
  mv -T "$tmp" "$out" 2>/dev/null || rm -rf "$tmp"
  trap - EXIT
  log "wrote the corpus of $version in $(( $(date +%s) - t0 ))s: $out"
  echo "$out/fixtures.json"
}

build "$mod/go.mod" "$mod/go.sum"
build "$mod/latest.mod" "$mod/latest.sum"
