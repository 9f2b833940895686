#!/bin/sh
# Stand-in for VS Code (port 8080) and Jupyter (port 8888) in the test workspace image.
# Each answers at / and under its route prefix (VSCODE_BASE_URL, JUPYTER_BASE_URL).
serve() {  # serve NAME PORT PREFIX
  dir=/srv/$1
  mkdir -p "$dir"
  page="<html><body><h1>$1 stand-in</h1><p>workspace of ${WORKSPACE_USER:-unknown}</p></body></html>"
  echo "$page" > "$dir/index.html"
  if [ -n "$3" ]; then mkdir -p "$dir$3" && echo "$page" > "$dir$3/index.html"; fi
  httpd -f -p "$2" -h "$dir" &
}
serve vscode 8080 "${VSCODE_BASE_URL:-}"
serve jupyter 8888 "${JUPYTER_BASE_URL:-}"
trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM INT
wait
