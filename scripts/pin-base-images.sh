#!/usr/bin/env bash
# Re-pins the images this project ships by digest (docs/images.md): every `NAME:TAG@sha256:DIGEST`
# in the Dockerfile's ARG lines (build and runtime base images) and the default init image of
# Pod injection (src/inject/settings.ts). Each TAG is resolved to the digest it has now in its
# registry, with `crane digest` (go-containerregistry) or, without crane,
# `docker buildx imagetools inspect`; both give the digest of the multi-platform index, which is
# what a pull by digest needs on every architecture. A new digest replaces the old reference
# everywhere in the repository (Dockerfile, source, Helm values, docs, golden files), so run the
# tests afterwards.
#
#   scripts/pin-base-images.sh           rewrite stale pins
#   scripts/pin-base-images.sh --check   change nothing; exit 1 if a pin is stale (for CI/releases)
#   --root DIR                           the repository to work on (default: this script's)
#
# Exit 0: all pins current (or rewritten); 1: --check found stale pins; 2: usage, no resolver,
# or a tag that does not resolve. Needs network access to the registries.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
check=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --check) check=1; shift ;;
    --root) root=$(cd "$2" && pwd); shift 2 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pin-base-images: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { printf '[pin-base-images] %s\n' "$*" >&2; }

digest_of() { # the current digest of NAME:TAG
  if command -v crane >/dev/null; then
    crane digest "$1"
  elif command -v docker >/dev/null && docker buildx version >/dev/null 2>&1; then
    docker buildx imagetools inspect "$1" --format '{{.Manifest.Digest}}'
  else
    log "needs crane (https://github.com/google/go-containerregistry) or docker buildx"
    return 2
  fi
}

# The pinned references: ARG X=ref@sha256:... in the Dockerfile, image: "ref@sha256:..." as the
# init image default.
mapfile -t pins < <(
  {
    sed -n 's/^ARG [A-Z_]*=\([^[:space:]]*@sha256:[0-9a-f]\{64\}\)$/\1/p' "$root/Dockerfile"
    sed -n 's/^[[:space:]]*image: "\([^"]*@sha256:[0-9a-f]\{64\}\)",$/\1/p' "$root/src/inject/settings.ts"
  } | sort -u
)
[[ ${#pins[@]} -gt 0 ]] || { log "no NAME:TAG@sha256:DIGEST pins found under $root"; exit 2; }

stale=0
for pin in "${pins[@]}"; do
  tagged=${pin%@*}
  old=${pin#*@}
  new=$(digest_of "$tagged") || { log "cannot resolve $tagged"; exit 2; }
  [[ $new =~ ^sha256:[0-9a-f]{64}$ ]] || { log "$tagged resolved to '$new', not a digest"; exit 2; }
  if [[ $new == "$old" ]]; then
    log "$tagged: current ($old)"
    continue
  fi
  stale=$((stale + 1))
  if [[ -n $check ]]; then
    log "$tagged: STALE, pinned $old, the tag is now $new"
    continue
  fi
  mapfile -t files < <(grep -rlF "$pin" "$root" --exclude-dir=node_modules --exclude-dir=.git --exclude-dir=dist || true)
  for file in "${files[@]}"; do
    OLD="$pin" NEW="$tagged@$new" perl -pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/g' "$file"
  done
  log "$tagged: $old -> $new (${#files[@]} files: ${files[*]#"$root/"})"
done

if [[ -n $check && $stale -gt 0 ]]; then
  log "$stale stale pin(s): run scripts/pin-base-images.sh, then the tests"
  exit 1
fi
exit 0
