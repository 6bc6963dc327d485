#!/usr/bin/env bash
# The Secrets the manifests mount, made with `llorch certs` (and two random API keys), into <dir> (default k8s/.secrets,
# gitignored):
#   <dir>/pki/ca.crt, ca.key          the cluster's private CA (`llorch certs init`); ca.key never enters the cluster
#   <dir>/pki/orchestratord.crt/.key  orchestratord: client certificate for mutual TLS to pool-managerd, and server
#                                     certificate of its HTTPS API for the orchestratord Service's names
#   <dir>/pki/pool-managerd.crt/.key  every pool-managerd pod: server certificate for the headless Service's names
#                                     (pool-managerd.<ns>.svc.cluster.local and *.pool-managerd.<ns>.svc.cluster.local,
#                                     the SRV targets pool-managerd-N.pool-managerd...), also a client certificate
#                                     (readiness callbacks, and the readiness probe's request to its own pod)
#   <dir>/api-key, <dir>/admin-key    a client key and an admin key (drain, reload), for you to hand out
#   <dir>/secrets.yaml                Secrets orchestratord-tls, orchestratord-api-keys and pool-managerd-tls
# Existing files are kept (`llorch certs` never overwrites), so running it again rebuilds secrets.yaml from the same
# material; delete a file to replace it. Apply with: kubectl apply -f <dir>/secrets.yaml (after the namespace exists).
# The daemons re-read mounted certificates and keys when a Secret changes: no restart needed.
# The namespace is llama-orch, as in the manifests (their DNS names and these certificates' names go together).
# Usage: k8s/make-secrets.sh [--dir <dir>]   (run from a checkout after npm ci)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

dir="$repo/k8s/.secrets"
namespace=llama-orch
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-secrets: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# llorch from this checkout, on the Node it is installed with (npx puts node_modules/.bin, Node 24 included, first).
llorch() { (cd "$repo" && npx --no-install llorch "$@"); }
pki="$dir/pki"
mkdir -p "$pki"
chmod 700 "$dir" "$pki"
dir="$(cd "$dir" && pwd)"
pki="$dir/pki"

svc="svc.cluster.local"
[[ -f "$pki/ca.crt" ]] || llorch certs init --dir "$pki" >/dev/null
[[ -f "$pki/orchestratord.crt" ]] ||
  llorch certs issue --dir "$pki" --name orchestratord --usage both \
    --host "orchestratord.$namespace.$svc" --host "orchestratord.$namespace.svc" \
    --host "orchestratord.$namespace" --host orchestratord >/dev/null
[[ -f "$pki/pool-managerd.crt" ]] ||
  llorch certs issue --dir "$pki" --name pool-managerd --usage both \
    --host "pool-managerd.$namespace.$svc" --host "*.pool-managerd.$namespace.$svc" >/dev/null

new_key() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
(
  umask 077
  [[ -s "$dir/api-key" ]] || new_key >"$dir/api-key"
  [[ -s "$dir/admin-key" ]] || new_key >"$dir/admin-key"
  printf '# written by k8s/make-secrets.sh: <key> [role]\n%s client\n%s admin\n' \
    "$(cat "$dir/api-key")" "$(cat "$dir/admin-key")" >"$dir/api-keys"
)

b64() { base64 <"$1" | tr -d '\n'; }
# secret <name> <file in Secret>=<path>...
secret() {
  local name="$1"
  shift
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n' "$name" "$namespace"
  printf '  labels:\n    app.kubernetes.io/part-of: llama-orch\ntype: Opaque\ndata:\n'
  for pair in "$@"; do
    printf '  %s: %s\n' "${pair%%=*}" "$(b64 "${pair#*=}")"
  done
}
(
  umask 077
  {
    echo "# Secrets of llama-orch, written by k8s/make-secrets.sh; apply with kubectl apply -f secrets.yaml"
    secret orchestratord-tls ca.crt="$pki/ca.crt" orchestratord.crt="$pki/orchestratord.crt" \
      orchestratord.key="$pki/orchestratord.key"
    secret orchestratord-api-keys api-keys="$dir/api-keys"
    secret pool-managerd-tls ca.crt="$pki/ca.crt" pool-managerd.crt="$pki/pool-managerd.crt" \
      pool-managerd.key="$pki/pool-managerd.key"
  } >"$dir/secrets.yaml"
)
echo "make-secrets: $dir/secrets.yaml (apply with kubectl apply -f); client key in $dir/api-key, admin key in $dir/admin-key; keep $pki/ca.key out of the cluster"
