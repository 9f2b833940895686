#!/usr/bin/env bash
# Install the Debian packages a purpose needs, when missing and when root.
#   scripts/system-packages.sh build   # to pip-install the requirements (mysqlclient)
#   scripts/system-packages.sh run     # and what `make run` starts: nginx, Docker, the stand-in image
#   scripts/system-packages.sh test    # everything the test suite starts for real
set -euo pipefail

build=(pkg-config libmariadb-dev gcc)
run=("${build[@]}" nginx docker.io busybox-static curl)
test=("${run[@]}" docker-registry openssh-server busybox-static apache2-utils
      mariadb-client redis-tools procps
      iproute2 util-linux  # tests/netns_hosts.py: `ip netns`, veth pairs and nsenter
      chromium fonts-dejavu-core  # browser tests: Playwright drives /usr/bin/chromium
      debootstrap  # images/workspace/build.sh: the real workspace image's root filesystem
      wrk  # bench/: the load generator
      prometheus)  # promtool checks the /metrics names (its daemon is never started)

case "${1:-build}" in
  build) wanted=("${build[@]}") ;;
  run) wanted=("${run[@]}") ;;
  test) wanted=("${test[@]}") ;;
  *) echo "usage: $0 build|run|test" >&2; exit 2 ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d 101: packages must not start their own daemons; the tests start what they need.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
