#!/usr/bin/env bash
# `npm run cloud:up` / `npm run cloud:down`: the CLOUD profile's compose stack (docker-compose.cloud.yml with the CPU
# override) on this machine, with podman. Fixed interface, other tools rely on it:
#   orchestratord on 127.0.0.1:${LLORCH_CLOUD_PORT:-8080}; the client API key in .llorch-cloud/api-key (an admin key
#   in .llorch-cloud/admin-key); `down` removes every container, network and volume `up` made, and nothing else
#   (images and ~/.cache/llama-orch stay, so the next `up` is quick).
# up: installs podman, podman-compose, runc and debootstrap when missing (apt, as root); writes the container-engine
# settings a VM with hybrid cgroups needs; makes the Debian base images (deploy/base); builds the images; issues
# certificates and keys (deploy/compose-secrets.sh); seeds each worker's cache volume with the llama.cpp build and
# sources from ~/.cache/llama-orch (building it there first when missing), so no container builds llama.cpp; starts
# the stack and waits for /ready (LLORCH_CLOUD_READY_S, default 600). LLORCH_CLOUD_PROJECT names another project (default
# llama-orch-cloud), so a second stack can run beside the first on another LLORCH_CLOUD_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

project="${LLORCH_CLOUD_PROJECT:-llama-orch-cloud}"
files=(-f docker-compose.cloud.yml -f docker-compose.cpu.yml)
state=.llorch-cloud
port="${LLORCH_CLOUD_PORT:-8080}"
cache="${LLORCH_CACHE_DIR:-$HOME/.cache/llama-orch}"
log() { printf 'cloud: %s\n' "$*" >&2; }

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

install_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v podman-compose >/dev/null || missing+=(podman-compose)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [[ ${#missing[@]} -eq 0 ]] && return
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# runc (crun fails with "cgroups in hybrid mode" on such VMs), cgroupfs, and default ulimits within the hard limits.
engine_settings() {
  local conf=/etc/containers/containers.conf
  [[ $(id -u) -ne 0 ]] && conf="$HOME/.config/containers/containers.conf"
  if [[ -f "$conf" ]] && grep -q 'llama-orch' "$conf"; then return; fi
  if [[ -f "$conf" ]] && grep -qE '^\s*(runtime|cgroup_manager|default_ulimits)\s*=' "$conf"; then
    log "$conf sets the runtime, cgroup manager or ulimits already: left as it is"
    return
  fi
  local nofile nproc
  nofile=$(ulimit -Hn); [[ "$nofile" == unlimited || "$nofile" -gt 16384 ]] && nofile=16384
  nproc=$(ulimit -Hu); [[ "$nproc" == unlimited || "$nproc" -gt 4096 ]] && nproc=4096
  log "writing container settings to $conf"
  mkdir -p "$(dirname "$conf")"
  local body
  body=$(printf '%s\n' '# llama-orch (deploy/cloud.sh): runc, cgroupfs and ulimits within the hard limits' \
    '[containers]' "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]" \
    '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"')
  if [[ -f "$conf" ]]; then
    # Keep what is there; tables may appear only once, so prepend ours only when the file has none of them.
    if grep -qE '^\s*\[(containers|engine)\]' "$conf"; then
      log "$conf has [containers] or [engine] tables: add the settings above by hand"; printf '%s\n' "$body" >&2
      return
    fi
    printf '%s\n%s\n' "$body" "$(cat "$conf")" >"$conf.llorch" && mv "$conf.llorch" "$conf"
  else
    printf '%s\n' "$body" >"$conf"
  fi
}

# The llama.cpp build and source the workers use, built on the host when missing (the containers may not reach the
# npm registry's TLS), copied into each worker's cache volume owned by the image's user.
seed_caches() {
  if ! ls "$cache"/engines/*/llama-server >/dev/null 2>&1 || ! ls -d "$cache"/sources/node-llama-cpp-* >/dev/null 2>&1; then
    log "building llama.cpp on the host first (cached in $cache; about 14 minutes on 2 cores)"
    LLORCH_TEST_CACHE_DIR="$cache" node --input-type=module \
      -e "await (await import('./test-harness/src/engine-fixture.ts')).testEngine()" >/dev/null
  fi
  local image="llama-orch/worker:$(node -p 'require("./package.json").version')"
  for n in 1 2; do
    local volume="${project}_worker-$n-cache"
    podman volume inspect "$volume" >/dev/null 2>&1 || podman volume create "$volume" >/dev/null
    podman run --rm --no-healthcheck --user 0 --network none --entrypoint sh -v "$volume:/dst" -v "$cache:/src:ro" "$image" -c \
      'set -e; for d in sources engines; do [ -d /dst/$d ] || cp -a /src/$d /dst/$d; done; chown -R 10001:10001 /dst'
  done
}

wait_ready() {
  local deadline=$((SECONDS + ${LLORCH_CLOUD_READY_S:-600}))
  until node -e "fetch('http://127.0.0.1:$port/ready').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; do
    if ((SECONDS > deadline)); then
      log "orchestratord not ready after ${LLORCH_CLOUD_READY_S:-600} s; logs: podman logs ${project}_orchestratord_1"
      return 1
    fi
    sleep 2
  done
}

up() {
  install_tools
  engine_settings
  LLORCH_LOCAL_BASE="${LLORCH_LOCAL_BASE:-1}" bash deploy/build-images.sh
  LLORCH_CONTAINER_ENGINE=podman bash deploy/compose-secrets.sh --dir "$state" --project "$project" >/dev/null
  seed_caches
  log "starting $project"
  LLORCH_CLOUD_BIND=127.0.0.1 LLORCH_CLOUD_PORT="$port" podman-compose -p "$project" "${files[@]}" up -d \
    >"$state/compose-up.log" 2>&1 || { cat "$state/compose-up.log" >&2; exit 1; }
  wait_ready
  echo "llama-orch CLOUD (compose, CPU) is up: http://127.0.0.1:$port  (key: $state/api-key)"
  echo "  curl -s http://127.0.0.1:$port/v1/models -H \"authorization: Bearer \$(cat $state/api-key)\""
}

down() {
  if command -v podman-compose >/dev/null && command -v podman >/dev/null; then
    podman-compose -p "$project" "${files[@]}" down -v >/dev/null 2>&1 || true
    # What compose does not remove: containers and volumes of the project by label or name, its network.
    podman ps -aq --filter "label=io.podman.compose.project=$project" | xargs -r podman rm -f >/dev/null 2>&1
    podman volume ls -q --filter "name=^${project}_" | xargs -r podman volume rm -f >/dev/null
    podman network ls -q --filter "name=^${project}_" | xargs -r podman network rm -f >/dev/null
  fi
  log "$project removed"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: deploy/cloud.sh up|down" >&2; exit 2 ;;
esac
