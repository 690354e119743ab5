#!/usr/bin/env bash
# Build the Brisk runtime image without a registry: the host's own `node`
# binary and the shared libraries it links against go into an empty root
# filesystem, together with the bundled runtime server, and `docker import`
# turns that tree into an image. Used where nothing can be pulled (CI boxes,
# air-gapped hosts); infra/runtime/Dockerfile is the registry-based equivalent.
#
# usage: build-offline.sh [image-tag] [runtime.mjs]
#   image-tag    default brisk-runtime:latest
#   runtime.mjs  default dist/runtime/server.mjs (relative to the repo root)
#
# Idempotent: re-running replaces the tag with a fresh image. Fails loudly on
# any missing piece (no node, no ldd, no bundle, docker unreachable).
set -euo pipefail

die() { echo "build-offline: $*" >&2; exit 1; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tag="${1:-brisk-runtime:latest}"
bundle="${2:-$repo_root/dist/runtime/server.mjs}"

command -v docker >/dev/null || die "docker CLI not found"
command -v ldd >/dev/null || die "ldd not found (needed to find node's shared libraries)"
node_bin="$(command -v node)" || die "node not found on PATH"
node_bin="$(readlink -f "$node_bin")"
[ -f "$bundle" ] || die "runtime bundle '$bundle' not found (run 'node build.mjs' first)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "docker daemon unreachable"

root="$(mktemp -d "${TMPDIR:-/tmp}/brisk-rootfs.XXXXXX")"
trap 'rm -rf "$root"' EXIT

# Copy a host file to the same path inside the root, following symlinks so the
# image holds real files (a dangling link would only fail at container start).
copy_in() {
  local src="$1" dest="$root$1"
  mkdir -p "$(dirname "$dest")"
  cp -L "$src" "$dest"
}

mkdir -p "$root/usr/local/bin" "$root/runtime" "$root/tmp" "$root/etc" "$root/run/brisk" "$root/var/task" \
  "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp -L "$node_bin" "$root/usr/local/bin/node"
chmod 0755 "$root/usr/local/bin/node"

# Files are owned by root in the image whoever runs this (tar --owner=0), so the
# function (uid 1000) can read but never modify the runtime.

# Every library ldd resolves ("name => /path (addr)") plus the loader itself
# ("/lib64/ld-linux-x86-64.so.2 (addr)"). The vDSO has no path and is skipped.
libs="$(ldd "$node_bin" | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }')"
[ -n "$libs" ] || die "ldd listed no libraries for $node_bin (a static binary needs none, but then say so)"
if ldd "$node_bin" | grep -q 'not found'; then die "ldd reports missing libraries for $node_bin"; fi
for lib in $libs; do
  copy_in "$lib"
  # Keep the path the loader was asked for when it is a symlink (e.g. /lib64 -> /lib/x86_64-linux-gnu).
  real="$(readlink -f "$lib")"
  [ "$real" = "$lib" ] || copy_in "$real"
done

cp "$bundle" "$root/runtime/server.mjs"
chmod 0644 "$root/runtime/server.mjs"

# A non-root user for the function (the backend also forces --user 1000:1000).
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
brisk:x:1000:1000:brisk:/tmp:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
brisk:x:1000:
nogroup:x:65534:
GROUP
# /run/brisk and /var/task are only mount points: the executor bind-mounts the
# per-container socket dir and (read-only) package dir over them, so their own
# owner and mode never matter.

old_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
new_id="$(tar -C "$root" --numeric-owner --owner=0 --group=0 -c . | docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/node", "/runtime/server.mjs"]' \
  --change 'CMD []' \
  --change 'USER 1000:1000' \
  --change 'WORKDIR /tmp' \
  --change 'ENV NODE_ENV=production PATH=/usr/local/bin' \
  --change 'LABEL brisk.runtime=offline' \
  --change "LABEL brisk.runtime.sha256=$(sha256sum "$bundle" | cut -d' ' -f1)" \
  --message "brisk runtime (offline build from $node_bin)" \
  - "$tag")" || die "docker import failed"

# Smoke test: the binary must load its libraries inside the image.
docker run --rm --network none --entrypoint /usr/local/bin/node "$tag" -e 'process.exit(0)' \
  || die "image $tag was built but node does not start inside it"

# Drop the image this run replaced so repeated builds do not pile up dangling layers.
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then docker image rm "$old_id" >/dev/null 2>&1 || true; fi
echo "built $tag ($new_id) from $node_bin"
