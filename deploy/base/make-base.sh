#!/usr/bin/env bash
# Local Debian base images for the llama-orch images, made with debootstrap, for machines that reach only
# Debian's and npm's registries (no Docker Hub, no NVIDIA registry). Two images, their packages included at creation:
#   localhost/llama-orch/base:bookworm        Debian bookworm minbase + CA certificates + Node.js 24 (orchestratord)
#   localhost/llama-orch/build-base:bookworm  the same + cmake, g++, make, git + npm (the CPU worker: engine-provisioner
#                                              builds llama.cpp with them)
# Node.js is the one this repository pins (node_modules/node, the npm package `node@24`), npm the host's.
# Usage: deploy/base/make-base.sh [--force]   (needs root, debootstrap, and podman or docker; LLORCH_CONTAINER_ENGINE)
# The debootstrap trees are cached as tarballs in ~/.cache/llama-orch/container-base, keyed by their package lists.
set -euo pipefail
cd "$(dirname "$0")/../.."

force=0
[[ "${1:-}" == "--force" ]] && force=1
engine="${LLORCH_CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}"
mirror="${LLORCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
cache="${LLORCH_CACHE_DIR:-$HOME/.cache/llama-orch}/container-base"
node_bin="node_modules/node/bin/node"
npm_dir="$(npm root -g 2>/dev/null)/npm"

[[ -x "$node_bin" ]] || { echo "make-base: $node_bin is missing: run npm ci first" >&2; exit 1; }
[[ "$("$node_bin" --version)" == v24.* ]] || { echo "make-base: $node_bin is not Node.js 24" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "make-base: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
mkdir -p "$cache"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/llorch-base.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# make_image <image> <packages> <with npm: 0|1>
make_image() {
  local image="$1" packages="$2" with_npm="$3"
  if [[ $force -eq 0 ]] && "$engine" image inspect "$image" >/dev/null 2>&1; then
    echo "make-base: $image exists"
    return
  fi
  local key tarball root
  key="$(printf '%s %s %s' "$suite" "$packages" "$mirror" | sha256sum | cut -c1-16)"
  tarball="$cache/$suite-$key.tar"
  if [[ ! -s "$tarball" || $force -eq 1 ]]; then
    root="$scratch/$key"
    echo "make-base: debootstrap $suite (+ $packages) for $image"
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$scratch/$key.log" 2>&1 ||
      { tail -20 "$scratch/$key.log" >&2; exit 1; }
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  # Node.js (and npm) go in a layer of their own on top of the Debian tree.
  local ctx="$scratch/ctx-$key"
  mkdir -p "$ctx"
  cp "$node_bin" "$ctx/node"
  if [[ $with_npm -eq 1 ]]; then
    [[ -f "$npm_dir/bin/npm-cli.js" ]] || { echo "make-base: npm not found at $npm_dir" >&2; exit 1; }
    cp -a "$npm_dir" "$ctx/npm"
  else
    mkdir -p "$ctx/npm"
  fi
  "$engine" import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$image-debian" >/dev/null
  cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM $image-debian
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN if [ -f /usr/local/lib/node_modules/npm/bin/npm-cli.js ]; then \
      ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && \
      ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx; \
    else rmdir /usr/local/lib/node_modules/npm; fi && node --version
CONTAINERFILE
  "$engine" build --quiet -t "$image" "$ctx" >/dev/null
  "$engine" rmi "$image-debian" >/dev/null 2>&1 || true
  echo "make-base: $image ($("$engine" run --rm "$image" node --version))"
}

make_image localhost/llama-orch/base:bookworm "ca-certificates" 0
make_image localhost/llama-orch/build-base:bookworm "ca-certificates,cmake,g++,make,git" 1
