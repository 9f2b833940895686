#!/usr/bin/env bash
# Builds the real workspace image, mgmt/workspace:latest (contract: docs/workspace-image.md), on a
# machine that cannot pull base images (`make workspace-image`):
#   1. debootstrap --variant=minbase bookworm: a Debian root in a temporary directory;
#   2. install.sh in a chroot of it (the same script the Dockerfile runs on debian:bookworm-slim):
#      Node 24, code-server, a JupyterLab venv, the user, the configuration; build tools removed;
#   3. docker import of that root, then `docker build` (legacy builder: BuildKit would try to
#      resolve the Dockerfile's other stage) of the Dockerfile's final stage on top of it.
# The image carries `mgmt.workspace-image=<hash of the recipe files>`; when the image already has
# the current hash nothing is built (FORCE=1 builds anyway). Needs root, Docker and network access
# to the Debian mirror, the npm registry and PyPI. About 3-4 minutes on 2 cores.
#
# Environment: WORKSPACE_IMAGE (default mgmt/workspace:latest), DEBIAN_MIRROR (default
# http://deb.debian.org/debian), CA_BUNDLE (default the host's /etc/ssl/certs/ca-certificates.crt:
# given to pip/npm in the chroot because outbound TLS may be intercepted; never kept in the image),
# TMPDIR (where the ~1.3 GB root is built; default /var/tmp), FORCE.
set -euo pipefail
cd "$(dirname "$0")"

IMAGE=${WORKSPACE_IMAGE:-mgmt/workspace:latest}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
RECIPE=(Dockerfile build.sh install.sh requirements.txt jupyter_server_config.py workspace-start)
LABEL=mgmt.workspace-image

stamp=$(sha256sum "${RECIPE[@]}" | sha256sum | cut -c1-16)
current=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [ "$current" = "$stamp" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "$IMAGE is up to date ($LABEL=$stamp)"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "build.sh: debootstrap and chroot need root" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

started=$SECONDS
step() { echo "== [$((SECONDS - started)) s] $*"; }
work=$(mktemp -d "${TMPDIR:-/var/tmp}/workspace-image.XXXXXX")
root=$work/root
rootfs_tag=mgmt/workspace-rootfs:$stamp

mounted() { grep -q " $1 " /proc/mounts; }
unmount_all() {
  local m
  for m in dev/pts dev proc; do
    if mounted "$root/$m"; then umount "$root/$m" 2>/dev/null || umount -l "$root/$m"; fi
  done
}
# Processes still running in the chroot (a build stopped half-way by a signal to this script
# alone): they would keep the mounts busy and write into a directory being removed.
kill_chroot_processes() {
  local p pids=()
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids+=("${p#/proc/}")
  done
  [ ${#pids[@]} -eq 0 ] || { kill -KILL "${pids[@]}" 2>/dev/null || true; sleep 1; }
}
# An interrupted step: its whole process group (debootstrap's tar and dpkg, npm's compilers), so
# that nothing writes into the directory once it is being removed.
stop_step() {
  [ -n "$step_pid" ] || return 0
  kill -TERM -- "-$step_pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 -- "-$step_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$step_pid" 2>/dev/null || true
  wait "$step_pid" 2>/dev/null || true
}
cleanup() {
  local status=$?
  stop_step
  kill_chroot_processes
  unmount_all
  # Never rm -rf through a mount point (e.g. a chroot still holding one): leave the directory.
  if grep -q " $work/" /proc/mounts; then
    echo "build.sh: $work still has mounts; not removing it" >&2
  else
    rm -rf "$work" || echo "build.sh: could not remove $work" >&2
  fi
  docker image rm "$rootfs_tag" >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT
# So that an interrupted build still runs the EXIT trap (unmounts, removes the root).
trap 'exit 130' INT
trap 'exit 143' TERM
# Runs a long step in the background, in a process group of its own (setsid), and waits for it:
# bash runs a trap only once a foreground command has finished, whereas `wait` returns at once on
# a signal; the EXIT trap then stops the step's process group (stop_step).
step_pid=""
interruptible() {
  setsid "$@" &
  step_pid=$!
  local status=0
  wait "$step_pid" || status=$?
  step_pid=""
  return "$status"
}

step "debootstrap --variant=minbase bookworm ($MIRROR)"
interruptible debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# What the chroot needs from the kernel. /dev is a private tmpfs with a few nodes rather than a
# bind mount of the host's /dev, so no cleanup mistake can ever reach the host's devices.
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for node in "null c 1 3" "zero c 1 5" "full c 1 7" "random c 1 8" "urandom c 1 9" "tty c 5 0"; do
  read -r name kind major minor <<<"$node"
  mknod -m 0666 "$root/dev/$name" "$kind" "$major" "$minor"
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"

cp /etc/resolv.conf "$root/etc/resolv.conf"
install -m 0644 "$CA_BUNDLE" "$root/tmp/build-ca.crt"
mkdir -p "$root/tmp/workspace-build"
cp install.sh requirements.txt jupyter_server_config.py workspace-start "$root/tmp/workspace-build/"
# No service may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

step "install.sh in the chroot"
# env -i: nothing from this host (pip's find-links, npm's settings, proxies) leaks into the build.
interruptible chroot "$root" /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
  BUILD_CA_FILE=/tmp/build-ca.crt \
  bash /tmp/workspace-build/install.sh

# What only the build needed; Docker provides resolv.conf, hosts and hostname at run time.
rm -rf "$root/tmp/build-ca.crt" "$root/tmp/workspace-build" "$root/usr/sbin/policy-rc.d"
: >"$root/etc/resolv.conf"
: >"$root/etc/machine-id" 2>/dev/null || true
unmount_all
find "$root/dev" -mindepth 1 -delete # debootstrap's device nodes: Docker mounts its own /dev

step "docker import ($(du -sh "$root" | cut -f1)) and the final stage"
tar -C "$root" --numeric-owner -cf - . | docker import - "$rootfs_tag" >/dev/null
if ! grep -q " $work/" /proc/mounts; then rm -rf "$root"; fi # ~1.3 GB, not needed any more

# The Dockerfile's final stage, word for word, on the imported root.
stage=$(sed -n '/^FROM rootfs AS workspace$/,$p' Dockerfile)
[ -n "$stage" ] || { echo "build.sh: no 'FROM rootfs AS workspace' stage in the Dockerfile" >&2; exit 1; }
printf '%s\n' "FROM $rootfs_tag AS workspace" "$(tail -n +2 <<<"$stage")" >"$work/Dockerfile"
mkdir "$work/context" # empty: the final stage copies nothing

previous=$(docker image inspect -f '{{ .Id }}' "$IMAGE" 2>/dev/null || true)
DOCKER_BUILDKIT=0 docker build -q --build-arg "WORKSPACE_IMAGE_HASH=$stamp" -f "$work/Dockerfile" \
  -t "$IMAGE" "$work/context" >/dev/null
# The image this one replaces, unless a container still uses it (then Docker refuses).
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{ .Id }}' "$IMAGE")" ]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi

echo "Built $IMAGE ($LABEL=$stamp, $(docker image inspect -f '{{ .Size }}' "$IMAGE" |
  awk '{printf "%.0f MB", $1 / 1e6}')) in $((SECONDS - started)) s"
