#!/usr/bin/env bash
# Build the llama-orch images from this checkout:
#   llama-orch/orchestratord:<version>  (deploy/orchestratord/Containerfile)
#   llama-orch/worker:<version>         (deploy/worker/Containerfile: pool-managerd + engine-provisioner)
# The build context is prepared on the host (the repository's files and `npm ci --omit=dev`), so no build step needs
# a registry: a container here may not trust the registry's TLS chain. Base images come from the environment:
#   LLORCH_BASE_IMAGE, LLORCH_NODE_IMAGE, LLORCH_CUDA_BASE_IMAGE  (unset: the Containerfiles' public defaults)
#   LLORCH_LOCAL_BASE=1   use the debootstrap bases of deploy/base/make-base.sh (made when missing; CPU worker)
#   LLORCH_CONTAINER_ENGINE=podman|docker (default: podman when installed)
# Usage: deploy/build-images.sh [orchestratord|worker]...   (default both)
set -euo pipefail
cd "$(dirname "$0")/.."

engine="${LLORCH_CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}"
version="$(node -p 'require("./package.json").version')"
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(orchestratord worker)

if [[ "${LLORCH_LOCAL_BASE:-0}" == 1 ]]; then
  bash deploy/base/make-base.sh
  : "${LLORCH_BASE_IMAGE:=localhost/llama-orch/base:bookworm}"
  : "${LLORCH_NODE_IMAGE:=localhost/llama-orch/build-base:bookworm}"
  : "${LLORCH_CUDA_BASE_IMAGE:=localhost/llama-orch/build-base:bookworm}"
fi
build_args=()
for name in LLORCH_BASE_IMAGE LLORCH_NODE_IMAGE LLORCH_CUDA_BASE_IMAGE; do
  [[ -n "${!name:-}" ]] && build_args+=(--build-arg "$name=${!name}")
done

# The context: what the daemons run (bin/, libs/, deploy/healthcheck.ts, the package files), production
# dependencies installed from the lockfile, nothing of the tests.
context="${LLORCH_BUILD_CONTEXT:-$PWD/.llorch-cloud/context}"
rm -rf "$context" && mkdir -p "$context/app"
git ls-files -z --cached --others --exclude-standard -- package.json package-lock.json .npmrc 'bin/*/package.json' \
  'bin/*/bin/*' 'bin/*/src/*' 'bin/*/ui/*' 'libs/*/package.json' 'libs/*/src/*' 'libs/contracts/openapi/*' 'libs/contracts/schemas/*' \
  test-harness/package.json deploy/healthcheck.ts |
  while IFS= read -r -d '' file; do [[ -e "$file" ]] && printf '%s\0' "$file"; done |
  tar --null -T - -cf - | tar -C "$context/app" -xf -
(cd "$context/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
rm -rf "$context/app/node_modules/.package-lock.json" "$context/app/node_modules/test-harness"

for target in "${targets[@]}"; do
  case "$target" in orchestratord | worker) ;; *) echo "build-images: unknown image $target" >&2; exit 2 ;; esac
  echo "build-images: llama-orch/$target:$version"
  "$engine" build --quiet --format docker "${build_args[@]}" -f "deploy/$target/Containerfile" \
    -t "llama-orch/$target:$version" "$context" >/dev/null
done
