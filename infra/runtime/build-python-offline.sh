#!/usr/bin/env bash
# Build Brisk's Python runtime image without a registry, as build-offline.sh
# does for Node: the host's own Python 3.11+ interpreter, the shared libraries
# it and its extension modules (lib-dynload) link against, and its standard
# library go into an empty root filesystem with runtime/python/brisk_runtime.py,
# and `docker import` turns that tree into an image. The executor runs it with
# the same hardening as the Node image (no network, read-only root, uid 1000,
# memory and pids limits). infra/runtime/Dockerfile.python is the
# registry-based equivalent.
#
# usage: build-python-offline.sh [image-tag] [python]
#   image-tag  default brisk-runtime-python:latest
#   python     default /usr/bin/python3 (a system interpreter: its stdlib lives
#              at <prefix>/lib/python3.X, as the image will have it)
#
# Idempotent: re-running replaces the tag. Fails loudly on any missing piece.
set -euo pipefail

die() { echo "build-python-offline: $*" >&2; exit 1; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tag="${1:-brisk-runtime-python:latest}"
python_bin="${2:-/usr/bin/python3}"
server="$repo_root/runtime/python/brisk_runtime.py"

command -v docker >/dev/null || die "docker CLI not found"
command -v ldd >/dev/null || die "ldd not found (needed to find the interpreter's shared libraries)"
[ -x "$python_bin" ] || die "no Python interpreter at '$python_bin'"
python_bin="$(readlink -f "$python_bin")"
[ -f "$server" ] || die "runtime server '$server' not found"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "docker daemon unreachable"

# Where the interpreter keeps its standard library and extension modules.
read -r version stdlib dynload < <("$python_bin" -I -c '
import sys, sysconfig
assert sys.version_info >= (3, 11), "Python 3.11+ needed"
print("%d.%d.%d" % sys.version_info[:3], sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib") + "/lib-dynload")
') || die "$python_bin is not a Python 3.11+"
[ -d "$stdlib" ] || die "standard library '$stdlib' not found"

root="$(mktemp -d "${TMPDIR:-/tmp}/brisk-pyroot.XXXXXX")"
trap 'rm -rf "$root"' EXIT

copy_in() {
  local src="$1" dest="$root$1"
  [ -e "$dest" ] && return 0
  mkdir -p "$(dirname "$dest")"
  cp -L "$src" "$dest"
}

# Every library ldd resolves for a binary, and the loader; the vDSO has no path.
copy_libs_of() {
  local bin="$1" libs lib real
  if ldd "$bin" 2>/dev/null | grep -q 'not found'; then die "ldd reports missing libraries for $bin"; fi
  libs="$(ldd "$bin" 2>/dev/null | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }')" || true
  for lib in $libs; do
    copy_in "$lib"
    real="$(readlink -f "$lib")"
    [ "$real" = "$lib" ] || copy_in "$real"
  done
}

mkdir -p "$root/runtime" "$root/tmp" "$root/etc" "$root/run/brisk" "$root/var/task" "$root/proc" "$root/sys" "$root/dev" "$root/usr/bin"
chmod 1777 "$root/tmp"
cp -L "$python_bin" "$root/usr/bin/python3"
chmod 0755 "$root/usr/bin/python3"
# The interpreter finds its prefix from its own path: keep the real name beside it too.
[ "$python_bin" = /usr/bin/python3 ] || cp -L "$python_bin" "$root$python_bin"
copy_libs_of "$python_bin"

# The standard library, with its compiled bytecode (mtimes kept, so the .pyc
# files stay valid: the root is read-only, nothing could be compiled at run
# time). Left out: the test suite, GUI and packaging tools, the static
# libpython of the build configuration (tens of MB no function imports).
tar -C / --exclude="${stdlib#/}/test" --exclude="${stdlib#/}/idlelib" --exclude="${stdlib#/}/tkinter" \
  --exclude="${stdlib#/}/turtledemo" --exclude="${stdlib#/}/ensurepip" --exclude="${stdlib#/}/config-*" \
  --exclude="${stdlib#/}/lib2to3/tests" -chf - "${stdlib#/}" | tar -C "$root" -xf -
if [ -d "$dynload" ] && [ "${dynload#"$stdlib"}" = "$dynload" ]; then
  mkdir -p "$root$dynload" && cp -a "$dynload/." "$root$dynload/"
fi
for so in "$root$dynload"/*.so; do
  [ -e "$so" ] || continue
  copy_libs_of "${so#"$root"}"
done
# Bytecode for anything the host had not compiled yet, under its in-image path.
"$python_bin" -I -m compileall -q -j 0 -s "$root" -p / "$root$stdlib" >/dev/null 2>&1 || true

cp "$server" "$root/runtime/brisk_runtime.py"
chmod 0644 "$root/runtime/brisk_runtime.py"

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

old_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
new_id="$(tar -C "$root" --numeric-owner --owner=0 --group=0 -c . | docker import \
  --change 'ENTRYPOINT ["/usr/bin/python3", "-B", "/runtime/brisk_runtime.py"]' \
  --change 'CMD []' \
  --change 'USER 1000:1000' \
  --change 'WORKDIR /tmp' \
  --change 'ENV PATH=/usr/bin PYTHONUTF8=1 PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8' \
  --change 'LABEL brisk.runtime=offline' \
  --change "LABEL brisk.runtime.sha256=$(sha256sum "$server" | cut -d' ' -f1)" \
  --change "LABEL brisk.runtime.python=$version" \
  --message "brisk python runtime (offline build from $python_bin $version)" \
  - "$tag")" || die "docker import failed"

# Smoke test: the interpreter must start, find its standard library and load asyncio inside the image.
docker run --rm --network none --read-only --user 1000:1000 --entrypoint /usr/bin/python3 "$tag" \
  -c 'import asyncio, json, ssl, sqlite3, decimal, zlib, hashlib' \
  || die "image $tag was built but python does not start inside it"

if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then docker image rm "$old_id" >/dev/null 2>&1 || true; fi
echo "built $tag ($new_id) from $python_bin $version"
