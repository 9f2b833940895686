"""Allowlist validation of usernames.

A username becomes a container name, a folder on its Docker host and an nginx
location (`/<username>/vscode/`), so only a small, safe alphabet is accepted.
"""

from __future__ import annotations

import re

from mgmt.exceptions import ValidationFailed

USERNAME_RE = re.compile(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", re.ASCII)  # always fullmatch
USERNAME_RULE = (
    "3 to 32 characters: lower-case letters, digits and '-', starting with a letter and not ending with '-'."
)
# Names that would clash with routes, system accounts or the platform's own paths.
RESERVED_USERNAMES = frozenset(
    {
        "admin", "administrator", "agent", "api", "api-auth", "auth", "docker", "docs", "health",
        "jupyter", "login", "logout", "media", "mgmt", "nginx", "nobody", "operator", "qvp", "register",
        "registry", "root", "schema", "static", "staticfiles", "support", "system", "vscode", "www",
        "www-data",
    }
)  # fmt: skip


def username_validate(username: str, *, allow_reserved: bool = False) -> str:
    """Return the username when it is safe to use as a name and a path; raise otherwise."""
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise ValidationFailed(
            f"username: {USERNAME_RULE}", details={"username": [f"Username must be {USERNAME_RULE}"]}
        )
    if "--" in username:
        raise ValidationFailed(
            "username: must not contain '--'.", details={"username": ["Username must not contain '--'."]}
        )
    if not allow_reserved and username in RESERVED_USERNAMES:
        raise ValidationFailed(
            "username: this name is reserved.", details={"username": ["This username is reserved."]}
        )
    return username
