#!/usr/bin/env bash
# `make run`: the platform's real topology on one machine. The Procfile's processes (web, Celery
# worker, beat, agent, nginx: the commands the systemd units of deploy/ start too) run under
# honcho, which ends them all on Ctrl-C.
#
# With nothing set it needs no server: SQLite, a file cache, and kombu's filesystem transport as
# the Celery broker. DATABASE_URL and REDIS_URL switch the same processes to MySQL and Redis.
# Where Docker and nginx exist: the workspace image, a local agent registered as the server
# "local", and nginx on http://localhost:$EDGE_PORT (each workspace app on
# http://<username>--<app>.localhost:$EDGE_PORT; browsers resolve *.localhost by themselves).
# What is missing is named, with how to get it. Every setting is recorded in var/stack.env,
# which manage.py in another shell reads too.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
VAR=$PWD/var
EDGE_PORT=${EDGE_PORT:-8080}
APP_PORT=${APP_PORT:-8000}
AGENT_PORT_LOCAL=${AGENT_PORT_LOCAL:-5005}
export AGENT_SECRET=${AGENT_SECRET:-dev-only-agent-secret-0123456789}
# The local agent's workspace folders and their template (the folders are the host's, not the platform's).
export AGENT_WORKSPACE_ROOT=${AGENT_WORKSPACE_ROOT:-${WORKDIR_DEPLOY:-$VAR/workspaces}}
export AGENT_WORKSPACE_TEMPLATE=${AGENT_WORKSPACE_TEMPLATE:-${WORKDIR_TEMPLATE:-$VAR/template}}
export PLATFORM_URL=${PLATFORM_URL:-http://localhost:$EDGE_PORT}
export WORKSPACE_DOMAIN=${WORKSPACE_DOMAIN:-localhost}
# The processes' own settings (read by deploy/bin/mgmt and the gunicorn configs).
export WEB_BIND=127.0.0.1:$APP_PORT WEB_WORKERS=${WEB_WORKERS:-2}
export CELERY_CONCURRENCY=${CELERY_CONCURRENCY:-4}
export AGENT_PORT=$AGENT_PORT_LOCAL AGENT_BIND=127.0.0.1
if [ -z "${REDIS_URL:-}" ]; then
  export CELERY_BROKER_URL=${CELERY_BROKER_URL:-filesystem://localhost//}
  export CELERY_BROKER_DIR=${CELERY_BROKER_DIR:-$VAR/celery}
  export CACHE_URL=${CACHE_URL:-filecache://$VAR/cache}
fi
# staticfiles/: WhiteNoise looks there first (filled by collectstatic in production only).
mkdir -p "$AGENT_WORKSPACE_ROOT" "$AGENT_WORKSPACE_TEMPLATE" "$VAR/log" staticfiles
missing=()
# Workspaces get the real VS Code + JupyterLab image once it is built, the stand-in until then.
REAL_IMAGE=mgmt/workspace:latest
if [ -z "${WORKSPACE_DEFAULT_IMAGE:-}" ] && command -v docker >/dev/null; then
  if docker image inspect "$REAL_IMAGE" >/dev/null 2>&1; then
    export WORKSPACE_DEFAULT_IMAGE=$REAL_IMAGE
  else
    missing+=("the real VS Code + JupyterLab image: make workspace-image (about 10 min; until then the stand-in)")
  fi
fi
# Every setting given: each variable mgmt/settings.py reads, and the processes' own.
names=$(grep -ohE 'env\.[a-z_]+\("[A-Z][A-Z0-9_]*"|_platform_var\("[A-Z][A-Z0-9_]*"' mgmt/settings.py \
        | grep -oE '"[A-Z0-9_]+"' | tr -d '"' | sort -u)
umask 077  # it may hold secrets (AGENT_SECRET, SECRET_KEY, database passwords)
{
  for name in $names AGENT_SECRET AGENT_PORT AGENT_BIND AGENT_WORKSPACE_ROOT AGENT_WORKSPACE_TEMPLATE WEB_BIND WEB_WORKERS \
              CELERY_CONCURRENCY CELERY_BROKER_DIR; do
    [ -n "${!name:-}" ] && printf '%s=%s\n' "$name" "${!name}"
  done
} >"$VAR/stack.env"
umask 022
[ -e "$AGENT_WORKSPACE_TEMPLATE/README.txt" ] || echo "Your workspace folder (copied from $AGENT_WORKSPACE_TEMPLATE)." > "$AGENT_WORKSPACE_TEMPLATE/README.txt"

$BIN/python manage.py migrate --noinput || exit 1
$BIN/python manage.py ensure_admin || exit 1

processes=(web worker beat)
# --- Docker: image + agent -----------------------------------------------------------------
if ! command -v docker >/dev/null; then
  missing+=("Docker: apt-get install docker.io (then scripts/start-dockerd.sh) — no workspaces without it")
elif ! docker info >/dev/null 2>&1 && { [ "$(id -u)" -ne 0 ] || ! scripts/start-dockerd.sh; }; then
  missing+=("a running Docker Engine: scripts/start-dockerd.sh as root (or systemctl start docker)")
else
  if ! scripts/build-test-images.sh; then
    missing+=("the workspace image: apt-get install busybox-static, then make images")
  fi
  processes+=(agent)
fi

# --- nginx in front -------------------------------------------------------------------------
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -z "$NGINX" ]; then
  missing+=("nginx: apt-get install nginx — without it no workspace is reachable")
else
  $BIN/python manage.py render_nginx_config --standalone "$VAR/nginx" \
    --listen "127.0.0.1:$EDGE_PORT" --backend "$WEB_BIND" >/dev/null || exit 1
  processes+=(nginx)
fi

# Once the agent answers, register it as the server "local" (honcho runs no one-shot steps).
if [[ " ${processes[*]} " == *" agent "* ]]; then
  (
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$AGENT_PORT_LOCAL/health" >/dev/null && break; sleep 0.2; done
    $BIN/python manage.py register_local_agent --port "$AGENT_PORT_LOCAL" \
      || echo "!! the local agent did not come up: see the agent's lines above"
  ) &
fi

echo
[ -n "$NGINX" ] && echo "== The platform:  $PLATFORM_URL/   (admin: $PLATFORM_URL/admin/; workspaces on *.localhost:$EDGE_PORT)"
echo "== Django direct: http://$WEB_BIND/ (without nginx no workspace is reachable)"
echo "== Processes: ${processes[*]} (Procfile; Ctrl-C stops them all)"
for what in "${missing[@]}"; do echo "!! missing: $what"; done
echo
exec $BIN/honcho start -f Procfile "${processes[@]}"
