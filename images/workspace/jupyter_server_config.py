# JupyterLab's server configuration in the workspace image (/etc/jupyter/jupyter_server_config.py).
# The platform's edge authenticates every request before it reaches the container, so Jupyter's
# own token and password are off; what stays on is the browser-side protection: XSRF and the
# Origin check, which allows the app's own origin only (docs/workspace-image.md).
import os
import re
import sys

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)


def _warn(message):
    print(f"jupyter_server_config: {message}", file=sys.stderr)


def _origin(value):
    """`scheme://host[:port]` in lower case, or "" (no cross origin at all) for anything else.

    Never "*": that would let any site's scripts drive the server through a visitor's browser.
    """
    value = (value or "").strip().rstrip("/").lower()
    if not value:
        return ""
    if not re.fullmatch(r"https?://[a-z0-9.\-\[\]:]+", value):
        _warn(f"JUPYTER_ORIGIN={value!r} is not an origin (scheme://host[:port]); allowing no cross origin")
        return ""
    return value


def _base_url(value):
    """JUPYTER_BASE_URL with one leading and one trailing slash; "" and unset mean "/"."""
    value = (value or "").strip().strip("/")
    return f"/{value}/" if value else "/"


c.ServerApp.ip = "0.0.0.0"  # noqa: S104  (the container's port is what the platform publishes)
c.ServerApp.port = 8888
c.ServerApp.port_retries = 0  # another port would not be the one the platform publishes
c.ServerApp.open_browser = False
c.ServerApp.root_dir = "/workspace"
c.ServerApp.base_url = _base_url(os.environ.get("JUPYTER_BASE_URL"))
c.ServerApp.allow_remote_access = True  # requests arrive from the edge, never from loopback

# Authentication is the edge's job.
c.IdentityProvider.token = ""
c.PasswordIdentityProvider.hashed_password = ""
c.PasswordIdentityProvider.password_required = False

# Browser-side protection stays on.
c.ServerApp.disable_check_xsrf = False
c.ServerApp.allow_origin = _origin(os.environ.get("JUPYTER_ORIGIN"))
c.ServerApp.allow_origin_pat = ""
c.ServerApp.allow_credentials = False

# Nothing phones home.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
