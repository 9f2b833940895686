#!/usr/bin/env bash
# Make this machine ready for the test suite: system packages, MariaDB, Redis,
# the test database user, dockerd, the locally built test images and the real workspace image.
# Safe to run again; every step checks first. Exits non-zero naming what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "prepare-test-env: $*" >&2; exit 1; }

scripts/system-packages.sh test

# --- MariaDB -------------------------------------------------------------------
if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
  echo "Starting MariaDB"
  [ -x /usr/sbin/mariadbd ] || fail "MariaDB is not answering on 127.0.0.1:3306 and is not installed (apt-get install mariadb-server)"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 60); do mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break; sleep 0.5; done
  mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 || fail "MariaDB did not start"
fi
mariadb -h 127.0.0.1 -u root <<'SQL'
CREATE USER IF NOT EXISTS 'mgmt'@'127.0.0.1' IDENTIFIED BY 'mgmt';
CREATE USER IF NOT EXISTS 'mgmt'@'localhost' IDENTIFIED BY 'mgmt';
GRANT ALL PRIVILEGES ON *.* TO 'mgmt'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'mgmt'@'localhost';
SQL

# --- Redis ---------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis"
  command -v redis-server >/dev/null || fail "Redis is not answering on 127.0.0.1:6379 and is not installed (apt-get install redis-server)"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 20); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
  redis-cli ping >/dev/null 2>&1 || fail "Redis did not start"
fi

# --- Docker Engine --------------------------------------------------------------
scripts/start-dockerd.sh
scripts/build-test-images.sh
# The real VS Code + JupyterLab image (about 3 min on a new machine; nothing when up to date):
# the browser tests of tests/containers/test_real_workspace.py use it.
images/workspace/build.sh
echo "prepare-test-env: ready"
