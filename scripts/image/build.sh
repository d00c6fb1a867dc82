#!/usr/bin/env bash
# Builds the app image (default localhost/dzug:dev) from the repo's Dockerfile with buildah, on a
# machine with no Docker engine and no reachable container registry:
#   - the base image is the local one made by make-base.sh (run first, idempotent);
#   - npm in the build reaches the registry through the build host's CA bundle, bind-mounted read-only
#     and named by NODE_EXTRA_CA_CERTS.
# Usage: scripts/image/build.sh [extra buildah bud args...]
# Environment:
#   DZUG_IMAGE       tag to build                (localhost/dzug:dev)
#   DZUG_BASE_IMAGE  base image                  (localhost/dzug-base:bookworm-node24)
#   DZUG_HOST_CA     the build host's CA bundle  (/etc/ssl/certs/ca-certificates.crt; "" = none)
#   DZUG_TARGET      stage to build              (runtime; `check` runs the type-check instead)
#   SKIP_BASE=1      do not call make-base.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IMAGE="${DZUG_IMAGE:-localhost/dzug:dev}"
BASE="${DZUG_BASE_IMAGE:-localhost/dzug-base:bookworm-node24}"
HOST_CA="${DZUG_HOST_CA-/etc/ssl/certs/ca-certificates.crt}"
TARGET="${DZUG_TARGET:-runtime}"
IN_BUILD_CA=/etc/ssl/certs/host-ca.crt

log() { printf '[build] %s\n' "$*" >&2; }
command -v buildah >/dev/null || { log "buildah is not installed"; exit 1; }

if [ "${SKIP_BASE:-0}" != "1" ]; then
  DZUG_BASE_IMAGE="$BASE" "$ROOT/scripts/image/make-base.sh"
fi

args=(--isolation chroot --layers --target "$TARGET" --build-arg "BASE_IMAGE=$BASE")
if [ -n "$HOST_CA" ] && [ -f "$HOST_CA" ]; then
  args+=(-v "$HOST_CA:$IN_BUILD_CA:ro" --build-arg "NODE_EXTRA_CA_CERTS=$IN_BUILD_CA")
fi

version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$ROOT/package.json" | head -n1)"
revision="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || true)"
# Commit time, not build time: an unchanged tree keeps its cached layers.
created="$(git -C "$ROOT" log -1 --format=%cI 2>/dev/null || true)"
args+=(--build-arg "VERSION=${version:-0.0.0}" --build-arg "REVISION=$revision" --build-arg "CREATED=$created"
  --build-arg "SOURCE=$(git -C "$ROOT" config --get remote.origin.url 2>/dev/null || true)")

tag=("$IMAGE")
[ "$TARGET" = runtime ] || tag=("$IMAGE-$TARGET")
log "buildah bud --target $TARGET -t ${tag[0]} (base $BASE)"
buildah bud "${args[@]}" -t "${tag[0]}" "$@" -f "$ROOT/Dockerfile" "$ROOT"
log "built ${tag[0]}"
