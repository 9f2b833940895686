#!/usr/bin/env bash
# Start dockerd in the background unless it already answers.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null || { echo "dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then echo "dockerd is not running and starting it needs root" >&2; exit 1; fi
# A daemon killed at the end of an earlier session leaves its pid file behind.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  rm -f /var/run/docker.pid
fi
echo "Starting dockerd"
setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
for _ in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done
echo "dockerd did not start; see /var/log/dockerd.log:" >&2
tail -20 /var/log/dockerd.log >&2
exit 1
