#!/usr/bin/env bash
# `make run`: the platform on one machine. Always: migrations, an admin, the Django server on
# 127.0.0.1:8000 (SQLite + eager Celery unless DATABASE_URL/REDIS_URL say otherwise).
# Where Docker and nginx exist, also: the workspace image, a local agent registered as the
# server "local", and nginx on 127.0.0.1:$EDGE_PORT in front of it all: the platform on
# http://localhost:$EDGE_PORT and each workspace app on http://<username>--<app>.localhost:$EDGE_PORT
# (browsers resolve *.localhost by themselves). What is missing is named, with how to get it.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
VAR=$PWD/var
EDGE_PORT=${EDGE_PORT:-8080}
APP_PORT=${APP_PORT:-8000}
AGENT_PORT_LOCAL=${AGENT_PORT_LOCAL:-5005}
export AGENT_SECRET=${AGENT_SECRET:-dev-only-agent-secret-0123456789}
export WORKDIR_DEPLOY=${WORKDIR_DEPLOY:-$VAR/workspaces}
export WORKDIR_TEMPLATE=${WORKDIR_TEMPLATE:-$VAR/template}
export PLATFORM_URL=${PLATFORM_URL:-http://localhost:$EDGE_PORT}
export WORKSPACE_DOMAIN=${WORKSPACE_DOMAIN:-localhost}
mkdir -p "$WORKDIR_DEPLOY" "$WORKDIR_TEMPLATE" "$VAR/log"
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
# Read by mgmt/settings.py, so manage.py in another shell (approve_user …) uses the same values.
{
  for name in PLATFORM_URL WORKSPACE_DOMAIN WORKDIR_DEPLOY WORKDIR_TEMPLATE WORKSPACE_DEFAULT_IMAGE \
              DATABASE_URL REDIS_URL; do
    [ -n "${!name:-}" ] && printf '%s=%s\n' "$name" "${!name}"
  done
} >"$VAR/stack.env"
[ -e "$WORKDIR_TEMPLATE/README.txt" ] || echo "Your workspace folder (copied from $WORKDIR_TEMPLATE)." > "$WORKDIR_TEMPLATE/README.txt"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

$BIN/python manage.py migrate --noinput || exit 1
$BIN/python manage.py ensure_admin || exit 1

# --- Docker: image + agent -----------------------------------------------------------------
if ! command -v docker >/dev/null; then
  missing+=("Docker: apt-get install docker.io (then scripts/start-dockerd.sh) — no workspaces without it")
elif ! docker info >/dev/null 2>&1; then
  missing+=("a running Docker Engine: scripts/start-dockerd.sh (or systemctl start docker)")
else
  if ! scripts/build-test-images.sh; then
    missing+=("the workspace image: apt-get install busybox-static, then make images")
  fi
  (cd agent && AGENT_PORT=$AGENT_PORT_LOCAL AGENT_BIND=127.0.0.1 AGENT_WORKSPACE_ROOT=$WORKDIR_DEPLOY \
     exec ../$BIN/gunicorn -c gunicorn.conf.py hostagent.wsgi) >"$VAR/log/agent.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$AGENT_PORT_LOCAL/health" >/dev/null && break; sleep 0.2; done
  $BIN/python manage.py register_local_agent --port "$AGENT_PORT_LOCAL" \
    || missing+=("the local agent did not come up: see var/log/agent.log")
fi

# --- nginx in front -------------------------------------------------------------------------
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -z "$NGINX" ]; then
  missing+=("nginx: apt-get install nginx — without it no workspace is reachable")
else
  $BIN/python manage.py render_nginx_config --standalone "$VAR/nginx" \
    --listen "127.0.0.1:$EDGE_PORT" --backend "127.0.0.1:$APP_PORT" >/dev/null || exit 1
  conf=$VAR/nginx/nginx.conf
  "$NGINX" -p "$VAR/nginx" -c "$conf" -g "daemon off;" >"$VAR/log/nginx.log" 2>&1 &
  pids+=($!)
fi

echo
echo "== The platform:  http://127.0.0.1:$APP_PORT/   (admin: /admin/)"
[ -n "$NGINX" ] && echo "== Through nginx: $PLATFORM_URL/   (use this one: workspaces live on *.localhost:$EDGE_PORT)"
for what in "${missing[@]}"; do echo "!! missing: $what"; done
echo
# In the background and waited for, so that Ctrl-C or a TERM stops everything started here.
$BIN/python manage.py runserver "127.0.0.1:$APP_PORT" &
pids+=($!)
wait "${pids[-1]}"
