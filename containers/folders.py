"""Workspace folders: `WORKDIR_DEPLOY/<username>`, copied from `WORKDIR_TEMPLATE`.

Every path is built from an allowlisted username and checked to stay directly
under the resolved deploy root; deletion never follows a symbolic link, so
nothing outside `WORKDIR_DEPLOY` is ever written or removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from loguru import logger

from containers.nginx import ROUTE_NAME_RE, validate_route_name
from mgmt.exceptions import Conflict, ValidationFailed


def deploy_root() -> Path:
    return Path(settings.WORKDIR_DEPLOY).resolve()


def folder_path(username: str) -> Path:
    """The user's folder; refuses any name that could leave the deploy root."""
    root = deploy_root()
    path = root / validate_route_name(username)
    if path.parent != root:
        raise ValidationFailed(f"Folder for {username!r} would leave the deploy root.")
    return path


def folder_create(*, username: str) -> Path:
    """Copy the template into the user's folder. Idempotent: an existing folder is kept."""
    path = folder_path(username)
    if path.is_symlink():
        raise Conflict(f"{path} is a symbolic link, not a workspace folder; remove it first.")
    if path.is_dir():
        return path
    template = Path(settings.WORKDIR_TEMPLATE)
    if not template.is_dir():
        raise ValidationFailed(f"Workspace template {template} is not a directory.")
    # Copy next to the target, then rename: a half-copied folder is never visible.
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{username}-"))
    try:
        shutil.copytree(template, staging / "copy", symlinks=True)
        _own(staging / "copy")
        os.replace(staging / "copy", path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("Created workspace folder {}", path)
    return path


def _own(tree: Path) -> None:
    """Give the copy to the workspace user (the container runs as WORKSPACE_UID:WORKSPACE_GID),
    links included but never followed. Only root can; elsewhere the folder stays the worker's."""
    uid, gid = settings.WORKSPACE_UID, settings.WORKSPACE_GID
    if os.geteuid() != 0:
        if (uid, gid) != (os.geteuid(), os.getegid()):
            logger.warning("Not root: {} stays owned by uid {}, not {}", tree, os.geteuid(), uid)
        return
    os.lchown(tree, uid, gid)
    for parent, dirs, files in os.walk(tree):  # os.walk does not follow links by default
        for name in (*dirs, *files):
            os.lchown(os.path.join(parent, name), uid, gid)


def folder_delete(*, username: str) -> bool:
    """Remove the user's folder; a symbolic link is unlinked, never followed. False if absent."""
    path = folder_path(username)
    if path.is_symlink():
        path.unlink()
        logger.warning("Workspace path {} was a symbolic link; removed the link only", path)
        return True
    if not path.exists():
        return False
    if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - Linux always has it
        raise Conflict("This platform cannot delete folders safely (no fd-based rmtree).")
    shutil.rmtree(path)
    logger.info("Deleted workspace folder {}", path)
    return True


def list_folder_names() -> list[str]:
    """Usernames that have a folder (for the reconciler); other entries are ignored."""
    root = deploy_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if ROUTE_NAME_RE.fullmatch(p.name) and p.is_dir())
