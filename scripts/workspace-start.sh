#!/bin/sh
# Stand-in for VS Code (port 8080) and Jupyter (port 8888) in the test workspace image.
# Each answers at / and under its route prefix (VSCODE_BASE_URL, JUPYTER_BASE_URL; "/" is just /).
# Like a real workspace it is one container for both apps: when either dies the script exits 1,
# so the container exits and Docker's restart policy brings both back; SIGTERM stops with 0.
pids=""
serve() {  # serve NAME PORT PREFIX
  dir=/tmp/stand-in/$1  # /tmp: it runs as the unprivileged workspace user too
  # The prefix without trailing slashes and with one leading slash; "" and "/" mean the root.
  prefix=$(printf '%s' "$3" | sed 's:/*$::')
  case $prefix in ''|/*) ;; *) prefix=/$prefix ;; esac
  mkdir -p "$dir"
  page="<html><body><h1>$1 stand-in</h1><p>workspace of ${WORKSPACE_USER:-unknown}</p></body></html>"
  echo "$page" > "$dir/index.html"
  if [ -n "$prefix" ]; then mkdir -p "$dir$prefix" && echo "$page" > "$dir$prefix/index.html"; fi
  httpd -f -p "$2" -h "$dir" &
  pids="$pids $!"
}
serve vscode 8080 "${VSCODE_BASE_URL:-}"
serve jupyter 8888 "${JUPYTER_BASE_URL:-}"
# shellcheck disable=SC2086  # $pids is a list of words
trap 'kill $pids $sleeper 2>/dev/null; exit 0' TERM INT
# busybox ash has no `wait -n`: poll. `wait` on the sleep (not a foreground sleep) lets the
# trap run at once, and it reaps exited children, so `kill -0` fails for a dead app.
while :; do
  for pid in $pids; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "workspace-start: app process $pid exited; stopping the workspace" >&2
      # shellcheck disable=SC2086
      kill $pids 2>/dev/null
      exit 1
    fi
  done
  sleep 1 &
  sleeper=$!
  wait "$sleeper"
done
