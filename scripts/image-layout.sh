#!/usr/bin/env bash
# Reproduces the Dockerfile's runtime image without a Docker engine and starts it as uid 65532.
#
# 1. The stage the runtime stage copies from (`COPY --from=<stage>`) is emulated in a temp dir:
#    its WORKDIR, ENV, COPY (from the repository, as the build context) and RUN lines, in order
#    (npm ci, the TypeScript build, npm ci --omit=dev).
# 2. The runtime stage's file set is assembled from its `COPY --from=` lines only, under its
#    WORKDIR, owned by root and not writable by the server's user (as in the image).
# 3. The ENTRYPOINT + CMD start it as the Dockerfile's USER (setpriv, no supplementary groups,
#    empty environment but the image's ENV) with a generated certificate; /healthz must answer,
#    the webhook port must answer TLS, and SIGTERM must stop it with exit 0.
#
# The Node.js major is the one the Dockerfile's images carry (`nodejsNN` in RUNTIME_IMAGE,
# `node:NN` in BUILD_IMAGE, which must agree): the build stage's RUN lines run on it and the
# server is started with it, copied to /nodejs/bin/node as in distroless. When this machine's
# `node` is another major, the binary comes from the npm package node@NN (`npx -y node@NN`).
#
# Needs root (to drop privileges), node and npm, openssl and curl. Slow: two `npm ci` runs
# (about a minute or two with a warm npm cache). KEEP=1 keeps the temp dir. Exit 0 on success.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
dockerfile="$here/Dockerfile"
log() { printf '[image-layout] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || { log "must run as root (it starts the server as the image's USER)"; exit 2; }
for tool in node openssl curl setpriv; do
  command -v "$tool" >/dev/null || { log "needs $tool"; exit 2; }
done

# --- the image's Node.js ------------------------------------------------------------------------
runtime_major=$(sed -n 's/^ARG RUNTIME_IMAGE=.*nodejs\([0-9][0-9]*\)-.*/\1/p' "$dockerfile")
build_major=$(sed -n 's/^ARG BUILD_IMAGE=node:\([0-9][0-9]*\).*/\1/p' "$dockerfile")
[[ -n $runtime_major && -n $build_major ]] || fail "no Node.js major in the Dockerfile's BUILD_IMAGE/RUNTIME_IMAGE"
[[ $runtime_major == "$build_major" ]] || fail "build stage Node.js $build_major, runtime $runtime_major"
node_bin=$(command -v node)
if [[ $(node -p 'process.versions.node.split(".")[0]') != "$runtime_major" ]]; then
  log "this machine's node is $(node --version); fetching Node.js $runtime_major (npx -y node@$runtime_major)"
  node_bin=$(npx -y "node@$runtime_major" -p 'process.execPath') || fail "cannot get Node.js $runtime_major"
fi
node_version=$("$node_bin" --version)
[[ $node_version == "v$runtime_major."* ]] || fail "$node_bin is $node_version, not Node.js $runtime_major"
log "Node.js $node_version ($node_bin), as the image's"

tmp=$(mktemp -d /tmp/ca-trust-image.XXXXXX)
chmod 755 "$tmp"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  if [[ -z "${KEEP:-}" ]]; then rm -rf "$tmp"; else log "kept $tmp"; fi
}
trap cleanup EXIT

# --- parse: the stages, and which lines belong to which ----------------------------------------
# Lines are taken as written (this Dockerfile uses no line continuations).
runtime_stage=""; build_stage=""
declare -a lines
mapfile -t lines < <(grep -Ev '^[[:space:]]*(#|$)' "$dockerfile")
stage_of() { # the stage name of FROM line $1
  awk '{ for (i = 1; i <= NF; i++) if (toupper($i) == "AS") print $(i + 1) }' <<<"$1"
}
for line in "${lines[@]}"; do
  [[ $line =~ ^FROM[[:space:]] ]] && runtime_stage=$(stage_of "$line")
done
for line in "${lines[@]}"; do
  [[ $line =~ ^FROM[[:space:]] ]] && current=$(stage_of "$line")
  if [[ ${current:-} == "$runtime_stage" && $line =~ ^COPY[[:space:]]+--from=([^[:space:]]+) ]]; then
    build_stage=${BASH_REMATCH[1]}
  fi
done
[[ -n $runtime_stage && -n $build_stage ]] || fail "no runtime stage with COPY --from= in $dockerfile"
log "runtime stage '$runtime_stage' copies from stage '$build_stage'"

# --- 1. the build stage -------------------------------------------------------------------------
build_root="$tmp/build"
mkdir -p "$build_root"
log "build stage runs on Node.js $(PATH="$(dirname "$node_bin"):$PATH" node --version), npm $(PATH="$(dirname "$node_bin"):$PATH" npm --version)"
current=""; workdir="/"
for line in "${lines[@]}"; do
  if [[ $line =~ ^FROM[[:space:]] ]]; then current=$(stage_of "$line"); workdir="/"; continue; fi
  [[ $current == "$build_stage" ]] || continue
  read -r instruction rest <<<"$line"
  case "$instruction" in
    WORKDIR) workdir=$rest; mkdir -p "$build_root$workdir" ;;
    ENV) export "${rest?}" ;;
    ARG) ;;
    COPY)
      read -r -a parts <<<"$rest"
      dest=${parts[-1]}; unset 'parts[-1]'
      [[ $dest == /* ]] || dest="$workdir/$dest"
      for source in "${parts[@]}"; do
        if [[ $dest == */ || ${#parts[@]} -gt 1 ]]; then
          mkdir -p "$build_root$dest"; cp -a "$here/$source" "$build_root$dest/"
        else
          mkdir -p "$(dirname "$build_root$dest")"; cp -a "$here/$source" "$build_root$dest"
        fi
      done
      log "build: COPY ${parts[*]} -> $dest" ;;
    RUN)
      log "build: RUN $rest"
      # npm and npx are scripts run by the `node` first on PATH: the image's major.
      (cd "$build_root$workdir" && PATH="$(dirname "$node_bin"):$PATH" bash -c "$rest") >&2 ||
        fail "build stage: RUN $rest" ;;
    *) fail "build stage: unsupported instruction $instruction" ;;
  esac
done

# --- 2. the runtime stage's file set ------------------------------------------------------------
rootfs="$tmp/rootfs"
mkdir -p "$rootfs"
current=""; workdir="/"; user=""; entrypoint="[]"; cmd="[]"; declare -a runtime_env=()
for line in "${lines[@]}"; do
  if [[ $line =~ ^FROM[[:space:]] ]]; then current=$(stage_of "$line"); continue; fi
  [[ $current == "$runtime_stage" ]] || continue
  read -r instruction rest <<<"$line"
  case "$instruction" in
    WORKDIR) workdir=$rest; mkdir -p "$rootfs$workdir" ;;
    ENV) runtime_env+=("$rest") ;;
    USER) user=$rest ;;
    ENTRYPOINT) entrypoint=$rest ;;
    CMD) cmd=$rest ;;
    EXPOSE | ARG | LABEL) ;;
    COPY)
      [[ $rest =~ ^--from=([^[:space:]]+)[[:space:]]+([^[:space:]]+)[[:space:]]+([^[:space:]]+)$ ]] ||
        fail "runtime stage: only 'COPY --from=STAGE SRC DEST' is expected: $line"
      source=${BASH_REMATCH[2]}; dest=${BASH_REMATCH[3]}
      [[ $dest == /* ]] || dest="$workdir/${dest#./}"
      mkdir -p "$(dirname "$rootfs$dest")"
      cp -a "$build_root$source" "$rootfs$dest"
      log "runtime: COPY $source -> $dest" ;;
    *) fail "runtime stage: unsupported instruction $instruction" ;;
  esac
done
[[ -n $user ]] || fail "the runtime stage sets no USER"
uid=${user%%:*}; gid=${user#*:}
[[ $uid =~ ^[0-9]+$ && $uid -ne 0 ]] || fail "USER must be a numeric non-root uid, got '$user'"
files=$(find "$rootfs" -type f | wc -l)
size=$(du -sh "$rootfs" | cut -f1)
# The base image's Node.js, where distroless keeps it (not counted above: it is the base's).
mkdir -p "$rootfs/nodejs/bin"
cp "$node_bin" "$rootfs/nodejs/bin/node"
# As in the image: root owns everything, the server's user can read but not write.
chown -R 0:0 "$rootfs"
chmod -R a+rX,go-w "$rootfs"

log "runtime file set (ours): $files files, $size under $workdir: $(ls "$rootfs$workdir" | tr '\n' ' ')"
for dev in typescript vitest @biomejs fast-check autocannon; do
  [[ ! -e "$rootfs$workdir/node_modules/$dev" ]] || fail "devDependency $dev is in the runtime image"
done
[[ ! -e "$rootfs$workdir/src" && ! -e "$rootfs$workdir/test" ]] || fail "sources or tests in the runtime image"

# --- 3. start it as the image's user ------------------------------------------------------------
tls="$tmp/tls"; mkdir -p "$tls"; chmod 755 "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=ca-trust-webhook.ca-trust-system.svc" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$tls/tls.key" -out "$tls/tls.crt" 2>/dev/null
chown "$uid:$gid" "$tls/tls.key"; chmod 600 "$tls/tls.key"; chmod 644 "$tls/tls.crt"

ports=$(node -e '
  const net = require("node:net");
  const one = () => new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
  Promise.all([one(), one()]).then((p) => console.log(p.join(" ")));')
read -r webhook_port health_port <<<"$ports"

# ENTRYPOINT + CMD, with the image's paths mapped into the reproduced root (its
# /nodejs/bin/node is the Node.js copied there above).
mapfile -t argv < <(node -e '
  const [entry, cmd, rootfs] = process.argv.slice(1);
  const fs = require("node:fs");
  const args = [...JSON.parse(entry), ...JSON.parse(cmd)].map((a) =>
    a.startsWith("/") && fs.existsSync(rootfs + a) ? rootfs + a : a);
  console.log(args.join("\n"));' "$entrypoint" "$cmd" "$rootfs")
[[ ${argv[0]} == "$rootfs/nodejs/bin/node" ]] || fail "ENTRYPOINT does not start /nodejs/bin/node: ${argv[0]}"
argv+=(--listen "127.0.0.1:$webhook_port" --health-listen "127.0.0.1:$health_port"
  --tls-cert-file "$tls/tls.crt" --tls-key-file "$tls/tls.key" --log-level warn)
log "starting as $uid:$gid: ${argv[*]#"$rootfs"}"
cd "$rootfs$workdir"
setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs \
  env -i PATH=/usr/bin:/bin HOME=/nonexistent "${runtime_env[@]}" "${argv[@]}" \
  >"$tmp/server.log" 2>&1 &
pid=$!

ok=""
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$health_port/healthz" >/dev/null 2>&1; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
[[ -n $ok ]] || { cat "$tmp/server.log" >&2; fail "/healthz did not answer"; }
running_uid=$(ps -o uid= -p "$pid" | tr -d ' ')
[[ $running_uid == "$uid" ]] || fail "the server runs as uid $running_uid, not $uid"
running_node=$("/proc/$pid/exe" --version)
[[ $running_node == "$node_version" ]] || fail "the server runs on Node.js $running_node, not $node_version"
log "GET /healthz: 200 (server pid $pid, uid $running_uid, Node.js $running_node)"
# The webhook port speaks TLS with the generated certificate and answers a malformed review 400.
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tls/tls.crt" \
  -H 'content-type: application/json' -d '{}' "https://127.0.0.1:$webhook_port/validate")
[[ $code == 400 ]] || fail "POST /validate answered $code, expected 400"
log "POST https://127.0.0.1:$webhook_port/validate (malformed): 400"

kill -TERM "$pid"
status=0; wait "$pid" || status=$?
pid=""
[[ $status -eq 0 ]] || { cat "$tmp/server.log" >&2; fail "exit $status after SIGTERM"; }
log "SIGTERM: exit 0"
echo "image layout OK: $files files ($size), started as uid $uid on Node.js $node_version"
