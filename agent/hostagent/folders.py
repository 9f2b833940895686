"""Workspace folders on this host: `<workspace root>/<name>`, copied from the template.

The agent owns its host's disk: the platform asks for a folder by name and never touches a path.
A name is allowlisted (`fullmatch`, ASCII) and its folder must sit directly under the resolved
workspace root; deletion never follows a symbolic link, so nothing outside the root is ever
written or removed. The copy belongs to the workspace user (`AGENT_WORKSPACE_USER`), the one the
containers run as.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .config import AgentConfig
from .errors import BadRequest, Conflict, NotFound

# The platform's route names (containers/nginx.py ROUTE_NAME_RE): a username, never a path.
FOLDER_NAME_RE = re.compile(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", re.ASCII)


def _root(config: AgentConfig) -> Path:
    return Path(os.path.realpath(config.workspace_root))


def folder_path(config: AgentConfig, name: str) -> Path:
    """The folder of `name`; refuses any name that could leave the workspace root."""
    if not isinstance(name, str) or not FOLDER_NAME_RE.fullmatch(name):
        raise BadRequest(f"name: {name!r} is not a workspace name (a-z, 0-9 and '-', 3-32 characters).")
    root = _root(config)
    path = root / name
    if path.parent != root:  # pragma: no cover - the allowlist has no separators
        raise BadRequest(f"name: the folder of {name!r} would leave the workspace root.")
    return path


def _uid_gid(config: AgentConfig) -> tuple[int, int]:
    uid, _, gid = config.workspace_user.partition(":")
    return int(uid), int(gid)


def _own(config: AgentConfig, tree: Path) -> None:
    """Give the copy to the workspace user, links included but never followed. Only root can;
    elsewhere (a development agent) the folder stays the agent's."""
    if os.geteuid() != 0:
        return
    uid, gid = _uid_gid(config)
    os.lchown(tree, uid, gid)
    for parent, dirs, files in os.walk(tree):  # os.walk does not follow links by default
        for entry in (*dirs, *files):
            os.lchown(os.path.join(parent, entry), uid, gid)


def folder_create(*, config: AgentConfig, name: str) -> dict[str, Any]:
    """Copy the template into the folder of `name`. Idempotent: an existing folder is kept as it is
    (`created` False), so a retried provisioning never overwrites a person's files."""
    path = folder_path(config, name)
    if path.is_symlink():
        raise Conflict(f"{path} is a symbolic link, not a workspace folder; remove it first.")
    if path.is_dir():
        return {"name": name, "path": str(path), "created": False}
    if path.exists():
        raise Conflict(f"{path} exists and is not a folder.")
    path.parent.mkdir(parents=True, exist_ok=True)
    template = Path(config.workspace_template) if config.workspace_template else None
    # Copy next to the target, then rename: a half-copied folder is never visible.
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{name}-"))
    try:
        copy = staging / "copy"
        if template is not None:
            shutil.copytree(template, copy, symlinks=True)
        else:
            copy.mkdir()
        _own(config, copy)
        os.replace(copy, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"name": name, "path": str(path), "created": True}


def folder_delete(*, config: AgentConfig, name: str) -> dict[str, Any]:
    """Remove the folder of `name`; a symbolic link is unlinked, never followed. 404 when absent."""
    path = folder_path(config, name)
    if path.is_symlink():
        path.unlink()
        return {"name": name, "deleted": True, "was_link": True}
    if not path.exists():
        raise NotFound(f"There is no workspace folder {name!r} on this host.")
    if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - Linux always has it
        raise Conflict("This host cannot delete folders safely (no fd-based rmtree).")
    shutil.rmtree(path)
    return {"name": name, "deleted": True, "was_link": False}


def _size(path: Path) -> int:
    """Bytes of the regular files under `path`, links not followed (du's apparent size)."""
    total = 0
    for parent, _dirs, files in os.walk(path):
        for entry in files:
            with_path = os.path.join(parent, entry)
            try:
                info = os.lstat(with_path)
            except OSError:
                continue  # removed while walking
            total += info.st_size if not os.path.islink(with_path) else 0
    return total


def folder_info(*, config: AgentConfig, name: str) -> dict[str, Any]:
    path = folder_path(config, name)
    if path.is_symlink() or not path.is_dir():
        raise NotFound(f"There is no workspace folder {name!r} on this host.")
    return {"name": name, "path": str(path), "size": _size(path)}


def folder_list(*, config: AgentConfig) -> list[str]:
    """The workspace folders on this host (other entries, staging copies included, are ignored)."""
    root = _root(config)
    if not root.is_dir():
        return []
    return sorted(
        entry.name
        for entry in root.iterdir()
        if FOLDER_NAME_RE.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink()
    )


# --- moving a folder between hosts: a tar out of one agent, into another -------------------------
_CHUNK = 1024 * 1024


def folder_archive(*, config: AgentConfig, name: str) -> tuple[IO[bytes], int, str]:
    """The folder as an uncompressed tar (an open temporary file at its start), its size and its
    SHA-256. Links are archived as links, never followed; the digest lets the platform and the
    receiving agent check every byte."""
    path = folder_path(config, name)
    if path.is_symlink() or not path.is_dir():
        raise NotFound(f"There is no workspace folder {name!r} on this host.")
    spool = tempfile.TemporaryFile(dir=_root(config))  # noqa: SIM115 (the response closes it)
    hashed = _HashingWriter(spool)  # hashed as it is written: the archive is read once, to send it
    try:
        # 1 MiB blocks and copies: tarfile's own 16 KiB copies took twice as long for a GB.
        with tarfile.open(
            fileobj=hashed, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK, copybufsize=_CHUNK
        ) as tar:
            tar.add(path, arcname=".", recursive=True)  # tarfile adds links as links
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, size, hashed.digest.hexdigest()


class _HashingWriter:
    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.digest = target, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.target.write(data)


def folder_unpack(
    *, config: AgentConfig, name: str, archive: IO[bytes], check: Callable[[], None] = lambda: None
) -> dict[str, Any]:
    """Make the folder of `name` from a tar another agent made. Never over an existing folder;
    members that would leave the folder, devices and links pointing outside are refused (tarfile's
    "data" filter); the files become the workspace user's. All or nothing: unpacked next to the
    target, then renamed into place, only once `check()` (the body against its signed digest,
    when it is read as it arrives) has passed."""
    path = folder_path(config, name)
    if path.exists() or path.is_symlink():
        raise Conflict(f"A workspace folder {name!r} exists on this host already; it is never overwritten.")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{name}-in-"))
    try:
        copy = staging / "copy"
        copy.mkdir()
        try:
            with tarfile.open(fileobj=archive, mode="r|", bufsize=_CHUNK, copybufsize=_CHUNK) as tar:
                tar.extractall(copy, filter="data")
        except (tarfile.TarError, OSError) as exc:
            check()  # bytes that differ from the signed ones say so first
            raise BadRequest(f"The folder's archive could not be unpacked: {exc}") from exc
        check()
        _own(config, copy)
        os.replace(copy, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"name": name, "path": str(path), "size": _size(path)}
