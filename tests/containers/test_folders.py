"""Workspace folders on the real file system, including hostile names and symbolic links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from containers.folders import folder_create, folder_delete, folder_path, list_folder_names
from mgmt.exceptions import Conflict, ValidationFailed


@pytest.fixture
def dirs(tmp_path: Path, settings):
    deploy, template, outside = tmp_path / "deploy", tmp_path / "template", tmp_path / "outside"
    for d in (deploy, template / "notebooks", outside):
        d.mkdir(parents=True)
    (template / "README.md").write_text("welcome\n")
    (template / "notebooks" / "start.ipynb").write_text("{}\n")
    (outside / "precious.txt").write_text("keep me\n")
    settings.WORKDIR_DEPLOY = str(deploy)
    settings.WORKDIR_TEMPLATE = str(template)
    return deploy, template, outside


def test_create_copies_the_template_and_is_idempotent(dirs):
    deploy, _, _ = dirs
    path = folder_create(username="alice")
    assert path == deploy / "alice"
    assert (path / "README.md").read_text() == "welcome\n"
    assert (path / "notebooks" / "start.ipynb").exists()
    (path / "mine.txt").write_text("work")
    assert folder_create(username="alice") == path
    assert (path / "mine.txt").read_text() == "work"  # an existing folder is never overwritten
    assert list_folder_names() == ["alice"]
    assert [p.name for p in deploy.iterdir()] == ["alice"]  # no staging left behind


def test_delete_removes_the_folder(dirs):
    path = folder_create(username="alice")
    assert folder_delete(username="alice") is True
    assert not path.exists()
    assert folder_delete(username="alice") is False


@pytest.mark.parametrize("name", ["..", "../outside", "a/../../x", "/etc", ".hidden", "Alice", "", "a" * 40])
def test_hostile_names_never_become_paths(dirs, name):
    with pytest.raises(ValidationFailed):
        folder_path(name)
    with pytest.raises(ValidationFailed):
        folder_create(username=name)
    with pytest.raises(ValidationFailed):
        folder_delete(username=name)


def test_a_symlinked_folder_is_unlinked_not_followed(dirs):
    deploy, _, outside = dirs
    (deploy / "mallory").symlink_to(outside, target_is_directory=True)
    with pytest.raises(Conflict):
        folder_create(username="mallory")
    assert folder_delete(username="mallory") is True
    assert not (deploy / "mallory").exists()
    assert (outside / "precious.txt").read_text() == "keep me\n"


def test_symlinks_inside_a_folder_are_not_followed_on_delete(dirs):
    _, _, outside = dirs
    path = folder_create(username="alice")
    (path / "escape").symlink_to(outside, target_is_directory=True)
    (path / "notebooks" / "file-escape").symlink_to(outside / "precious.txt")
    folder_delete(username="alice")
    assert not path.exists()
    assert (outside / "precious.txt").read_text() == "keep me\n"


def test_missing_template_is_a_clear_error(dirs, settings):
    settings.WORKDIR_TEMPLATE = str(dirs[1] / "nope")
    with pytest.raises(ValidationFailed, match="template"):
        folder_create(username="alice")
    assert not (dirs[0] / "alice").exists()


def test_the_folder_belongs_to_the_workspace_user_and_links_are_not_followed(dirs, settings):
    _, template, outside = dirs
    if os.geteuid() != 0:
        pytest.fail("the test machine runs the suite as root (chown needs it)")
    settings.WORKSPACE_UID, settings.WORKSPACE_GID = 1234, 4321
    (template / "escape").symlink_to(outside / "precious.txt")
    path = folder_create(username="alice")
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in [path, *path.rglob("*")]}
    assert owners == {(1234, 4321)}
    target = (outside / "precious.txt").stat()
    assert (target.st_uid, target.st_gid) == (0, 0)  # the link's target was left alone
