#!/usr/bin/env bash
# Certificates and API keys for docker-compose.cloud.yml, into the volumes the services mount:
#   <dir>/certs   a private CA (`llorch certs init`), orchestratord's client certificate and one server certificate per
#                 worker, named by its service (`llorch certs issue`; usage both, so the image's healthcheck can present
#                 it); existing files are kept, never overwritten
#   <dir>/api-key        the client API key (role client); <dir>/admin-key an admin key (drain, reload)
# then copies each service's share into its volume (<project>_orchestratord-certs, _api-keys, _worker-N-certs), owned
# by the images' user (10001) with private keys readable by it alone.
# Usage: deploy/compose-secrets.sh [--dir <dir>] [--project <name>]   (defaults .llorch-cloud, llama-orch-cloud)
# LLORCH_CONTAINER_ENGINE=podman|docker (default podman when installed). Needs the orchestratord image (for cp).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=.llorch-cloud
project=llama-orch-cloud
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --project) project="$2"; shift 2 ;;
    *) echo "compose-secrets: unknown argument $1" >&2; exit 2 ;;
  esac
done
engine="${LLORCH_CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}"
version="$(node -p 'require("./package.json").version')"
image="llama-orch/orchestratord:$version"
llorch=(node bin/llorch/bin/llorch.js)

mkdir -p "$dir/certs" && chmod 700 "$dir" "$dir/certs"
certs="$dir/certs"
[[ -f "$certs/ca.crt" ]] || "${llorch[@]}" certs init --dir "$certs" >/dev/null
[[ -f "$certs/orchestratord.crt" ]] ||
  "${llorch[@]}" certs issue --dir "$certs" --name orchestratord --usage client >/dev/null
for n in 1 2; do
  [[ -f "$certs/pool-managerd-$n.crt" ]] ||
    "${llorch[@]}" certs issue --dir "$certs" --name "pool-managerd-$n" --usage both --host "pool-managerd-$n" >/dev/null
done
new_key() { node -e 'process.stdout.write(require("node:crypto").randomBytes(24).toString("base64url"))'; }
(umask 077
  [[ -s "$dir/api-key" ]] || new_key >"$dir/api-key"
  [[ -s "$dir/admin-key" ]] || new_key >"$dir/admin-key"
  printf '# written by deploy/compose-secrets.sh: <key> [role]\n%s client\n%s admin\n' \
    "$(cat "$dir/api-key")" "$(cat "$dir/admin-key")" >"$dir/api-keys")

# fill <volume> <source file>:<name in volume>...
fill() {
  local volume="${project}_$1"
  shift
  "$engine" volume inspect "$volume" >/dev/null 2>&1 || "$engine" volume create "$volume" >/dev/null
  local script='set -e; rm -rf /dst/*'
  for pair in "$@"; do
    script+="; cp /src/${pair%%:*} /dst/${pair#*:}"
  done
  script+='; chown -R 10001:10001 /dst; chmod 0755 /dst; chmod 0444 /dst/*; for f in /dst/*.key /dst/api-keys; do [ -e "$f" ] && chmod 0400 "$f"; done; true'
  "$engine" run --rm --no-healthcheck --user 0 --network none --entrypoint sh -v "$volume:/dst" -v "$(realpath "$dir"):/src:ro" \
    "$image" -c "$script"
}
fill orchestratord-certs certs/ca.crt:ca.crt certs/orchestratord.crt:orchestratord.crt \
  certs/orchestratord.key:orchestratord.key
fill api-keys api-keys:api-keys
for n in 1 2; do
  fill "worker-$n-certs" certs/ca.crt:ca.crt "certs/pool-managerd-$n.crt:pool-managerd.crt" \
    "certs/pool-managerd-$n.key:pool-managerd.key"
done
echo "compose-secrets: certificates in $certs, client key in $dir/api-key, admin key in $dir/admin-key"
