"""Workspace folders are the agent's (issue #17): made from the host's template, owned by the
workspace user, never outside the workspace root; hostile names and symbolic links included."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
import requests

from agent.hostagent.auth import CheckedBody
from agent.hostagent.config import AgentConfig, ConfigError
from agent.hostagent.errors import BadRequest, Conflict, NotFound
from agent.hostagent.folders import folder_create, folder_delete, folder_info, folder_list, folder_path
from agent.hostagent.signing import BODY_SHA256_HEADER, sign_headers


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    deploy, template, outside = tmp_path / "deploy", tmp_path / "template", tmp_path / "outside"
    for d in (deploy, template / "notebooks", outside):
        d.mkdir(parents=True)
    (template / "README.md").write_text("welcome\n")
    (template / "notebooks" / "start.ipynb").write_text("{}\n")
    (outside / "precious.txt").write_text("keep me\n")
    return deploy, template, outside


@pytest.fixture
def config(dirs) -> AgentConfig:
    deploy, template, _ = dirs
    return AgentConfig(secret="s" * 32, workspace_root=str(deploy), workspace_template=str(template))


def test_create_copies_the_template_and_is_idempotent(dirs, config):
    deploy, _, _ = dirs
    made = folder_create(config=config, name="alice")
    path = deploy / "alice"
    assert made == {"name": "alice", "path": str(path), "created": True}
    assert (path / "README.md").read_text() == "welcome\n"
    assert (path / "notebooks" / "start.ipynb").exists()
    (path / "mine.txt").write_text("work")
    assert folder_create(config=config, name="alice")["created"] is False
    assert (path / "mine.txt").read_text() == "work"  # an existing folder is never overwritten
    assert folder_list(config=config) == ["alice"]
    assert [p.name for p in deploy.iterdir()] == ["alice"]  # no staging left behind
    assert folder_info(config=config, name="alice")["size"] == len("welcome\n") + len("{}\n") + len("work")


def test_without_a_template_a_folder_starts_empty(dirs):
    config = AgentConfig(secret="s" * 32, workspace_root=str(dirs[0]))
    assert folder_create(config=config, name="bob")["created"] is True
    assert list((dirs[0] / "bob").iterdir()) == []


def test_delete_removes_the_folder(dirs, config):
    folder_create(config=config, name="alice")
    assert folder_delete(config=config, name="alice")["deleted"] is True
    assert not (dirs[0] / "alice").exists()
    with pytest.raises(NotFound):
        folder_delete(config=config, name="alice")
    with pytest.raises(NotFound):
        folder_info(config=config, name="alice")


@pytest.mark.parametrize(
    "name", ["..", "../outside", "a/../../x", "/etc", ".hidden", "Alice", "", "a" * 40, "alice\n", "ålice"]
)
def test_hostile_names_never_become_paths(config, name):
    for call in (
        folder_path,
        lambda c, n: folder_create(config=c, name=n),
        lambda c, n: folder_delete(config=c, name=n),
    ):
        with pytest.raises(BadRequest):
            call(config, name)


def test_a_symlinked_folder_is_unlinked_not_followed(dirs, config):
    deploy, _, outside = dirs
    (deploy / "mallory").symlink_to(outside, target_is_directory=True)
    with pytest.raises(Conflict):
        folder_create(config=config, name="mallory")
    assert folder_list(config=config) == []  # a link is no workspace folder
    assert folder_delete(config=config, name="mallory") == {
        "name": "mallory",
        "deleted": True,
        "was_link": True,
    }
    assert not (deploy / "mallory").exists()
    assert (outside / "precious.txt").read_text() == "keep me\n"


def test_symlinks_inside_a_folder_are_not_followed_on_delete_or_counted(dirs, config):
    deploy, _, outside = dirs
    folder_create(config=config, name="alice")
    path = deploy / "alice"
    (path / "escape").symlink_to(outside, target_is_directory=True)
    (path / "notebooks" / "file-escape").symlink_to(outside / "precious.txt")
    assert folder_info(config=config, name="alice")["size"] == len("welcome\n") + len("{}\n")
    folder_delete(config=config, name="alice")
    assert not path.exists()
    assert (outside / "precious.txt").read_text() == "keep me\n"


def test_the_folder_belongs_to_the_workspace_user_and_links_are_not_followed(dirs, config):
    _, template, outside = dirs
    if os.geteuid() != 0:
        pytest.fail("the test machine runs the suite as root (chown needs it)")
    config = dataclasses.replace(config, workspace_user="1234:4321")
    (template / "escape").symlink_to(outside / "precious.txt")
    folder_create(config=config, name="alice")
    path = dirs[0] / "alice"
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in [path, *path.rglob("*")]}
    assert owners == {(1234, 4321)}
    target = (outside / "precious.txt").stat()
    assert (target.st_uid, target.st_gid) == (0, 0)  # the link's target was left alone


def test_the_template_setting_is_checked_and_the_seeds_names_are_read(dirs):
    deploy, template, _ = dirs
    with pytest.raises(ConfigError, match="AGENT_WORKSPACE_TEMPLATE"):
        AgentConfig.from_env({"AGENT_SECRET": "s" * 32, "AGENT_WORKSPACE_TEMPLATE": str(template / "nope")})
    seed = AgentConfig.from_env(
        {"AGENT_SECRET": "s" * 32, "WORKDIR_DEPLOY": str(deploy), "WORKDIR_TEMPLATE": str(template)}
    )
    assert (seed.workspace_root, seed.workspace_template) == (str(deploy.resolve()), str(template.resolve()))


# --- through the agent's signed HTTP API (a real agent process) --------------------------------
@pytest.mark.docker
def test_the_folder_endpoints(agent):
    name = "fold-" + os.urandom(3).hex()
    made = agent.request("PUT", f"/api/folders/{name}")
    assert made.status_code == 201, made.text
    assert made.json()["data"]["path"] == str(agent.workspace_root / name)
    assert agent.request("PUT", f"/api/folders/{name}").status_code == 200  # kept as it is
    assert name in agent.get("/api/folders").json()["data"]["names"]
    assert agent.get(f"/api/folders/{name}").json()["data"]["size"] == 0
    assert agent.request("PUT", "/api/folders/..%2Fescape").status_code in (400, 404)
    assert agent.request("PUT", "/api/folders/Bad_Name").status_code == 400
    assert agent.delete(f"/api/folders/{name}").status_code == 200
    assert agent.delete(f"/api/folders/{name}").status_code == 404
    assert agent.request("DELETE", f"/api/folders/{name}", sign=False).status_code == 401


# --- a folder's archive, read as it arrives (a move's copy) ---------------------------------------
def _archive(tmp_path: Path, files: dict[str, bytes]) -> bytes:
    """A folder as the sending agent archives it: an uncompressed tar of "." ."""
    folder = tmp_path / "made"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(folder, arcname=".")
    return buffer.getvalue()


def _put_archive(agent, name: str, body: bytes, *, signed: str | None = None, named: str | None = "signed"):
    """PUT the archive signed with the digest `signed` (default: the body's), naming `named` in
    X-Agent-Body-SHA256 ("signed": the same; None: no header, the spooled way)."""
    path = f"/api/folders/{name}/archive"
    signed = signed or hashlib.sha256(body).hexdigest()
    headers = sign_headers(agent.secret, "PUT", path, body_sha256=signed)
    if named is None:
        del headers[BODY_SHA256_HEADER]
    elif named != "signed":
        headers[BODY_SHA256_HEADER] = named
    headers["Content-Type"] = "application/x-tar"
    return requests.put(agent.url + path, data=body, headers=headers, timeout=30), headers


def _leftovers(agent) -> list[str]:
    return [p.name for p in agent.workspace_root.iterdir() if p.name.startswith(".")]


@pytest.mark.docker
def test_an_archive_read_as_it_arrives_is_kept_only_when_every_byte_is_the_signed_one(agent, tmp_path):
    body = _archive(tmp_path, {"notes.txt": b"my work\n" * 1000, "data.bin": os.urandom(300_000)})
    name = "arc-" + os.urandom(3).hex()
    good, headers = _put_archive(agent, name, body)
    assert good.status_code == 201, good.text
    assert (agent.workspace_root / name / "notes.txt").read_bytes() == b"my work\n" * 1000
    # The same request again is a replay, refused before a byte is read.
    again = requests.put(agent.url + f"/api/folders/{name}/archive", data=body, headers=headers, timeout=30)
    assert again.status_code == 401 and "Replayed" in again.json()["message"]

    # Bytes changed on the way (same length): unpacked into staging, then refused and removed.
    tampered = body.replace(b"my work", b"MY WORK")
    assert len(tampered) == len(body) and tampered != body
    refused, _ = _put_archive(
        agent, other := "arc-" + os.urandom(3).hex(), tampered, signed=good_digest(body)
    )
    assert refused.status_code == 400, refused.text
    assert "does not match the digest it was signed with" in refused.json()["message"]
    assert not (agent.workspace_root / other).exists() and _leftovers(agent) == []
    # Naming the changed bytes' digest instead breaks the signature: 401, nothing read.
    renamed, _ = _put_archive(
        agent, other, tampered, signed=good_digest(body), named=hashlib.sha256(tampered).hexdigest()
    )
    assert renamed.status_code == 401 and not (agent.workspace_root / other).exists()
    # Not a tar at all, but signed: the unpacking fails and says so.
    junk, _ = _put_archive(agent, other, b"not a tar" * 100)
    assert junk.status_code == 400 and "could not be unpacked" in junk.json()["message"]
    assert not (agent.workspace_root / other).exists() and _leftovers(agent) == []


@pytest.mark.docker
def test_without_the_digest_header_the_archive_is_spooled_and_checked_first(agent, tmp_path):
    body = _archive(tmp_path, {"a.txt": b"alpha\n"})
    name = "arc-" + os.urandom(3).hex()
    tampered, _ = _put_archive(
        agent, name, body.replace(b"alpha", b"omega"), signed=good_digest(body), named=None
    )
    assert tampered.status_code == 401 and not (agent.workspace_root / name).exists()
    good, _ = _put_archive(agent, name, body, named=None)
    assert good.status_code == 201 and (agent.workspace_root / name / "a.txt").read_text() == "alpha\n"


def good_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_a_body_that_ends_early_or_differs_is_refused_by_its_check():
    body = b"x" * 5000
    digest = hashlib.sha256(body).hexdigest()
    whole = CheckedBody(io.BytesIO(body), len(body), digest)
    assert whole.read(100) == b"x" * 100
    whole.check()  # reads the rest, and it matches
    short = CheckedBody(io.BytesIO(body[:4000]), len(body), digest)
    with pytest.raises(BadRequest, match="ended early"):
        short.check()
    other = CheckedBody(io.BytesIO(b"y" * 5000), len(body), digest)
    assert other.read() == b"y" * 5000
    with pytest.raises(BadRequest, match="does not match"):
        other.check()
    # Never past the declared length, whatever the stream holds after it.
    bounded = CheckedBody(io.BytesIO(body + b"trailing"), len(body), digest)
    assert bounded.read() == body and bounded.read() == b""
    bounded.check()
