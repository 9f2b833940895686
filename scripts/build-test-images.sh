#!/usr/bin/env bash
# Build the images the tests and the local stack use, from Debian's busybox-static
# (no registry can be pulled from here):
#   mgmt-test/base:latest       a shell and the busybox tools; base of test builds
#   mgmt-test/workspace:latest  a workspace stand-in: HTTP on 8080 (VS Code) and 8888 (Jupyter)
# Rebuilt when this script changes (the image carries the script's hash as a label).
set -euo pipefail
cd "$(dirname "$0")"
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }
stamp=$(sha256sum build-test-images.sh workspace-start.sh | sha256sum | cut -c1-16)

current() { docker image inspect -f '{{ index .Config.Labels "mgmt.test-image" }}' "$1" 2>/dev/null || true; }
if [ "$(current mgmt-test/base:latest)" = "$stamp" ] && [ "$(current mgmt-test/workspace:latest)" = "$stamp" ]; then
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,root,home,srv,proc,sys,dev,var/www,workspace}
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -sf /bin/busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$root/etc/group"

tar -C "$root" -c . | docker import \
  --change 'CMD ["/bin/sh"]' --change "LABEL mgmt.test-image=$stamp" - mgmt-test/base:latest >/dev/null

install -m 0755 workspace-start.sh "$root/usr/local/bin/workspace-start"
tar -C "$root" -c . | docker import \
  --change 'CMD ["/usr/local/bin/workspace-start"]' --change 'EXPOSE 8080 8888' \
  --change 'WORKDIR /workspace' --change "LABEL mgmt.test-image=$stamp" \
  - mgmt-test/workspace:latest >/dev/null
echo "Built mgmt-test/base:latest and mgmt-test/workspace:latest"
