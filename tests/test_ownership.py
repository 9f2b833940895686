"""The run-time check of "each app writes only its own tables" (tests/ownership.py) catches a
cross-app write, and lets an app's own writes, tests' setup and `on_delete` cascades through."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models.signals import pre_delete

from containers.models import Workspace
from tests.factories import UserFactory
from tests.ownership import ROOT, _Recorder

pytestmark = [pytest.mark.django_db, pytest.mark.cross_app_writes]


def _run_as(app: str, source: str, **names) -> _Recorder:
    """Run `source` as if it were code in the platform app `app`, recording its writes."""
    recorder = _Recorder()
    pre_delete.connect(recorder.deleting, weak=False, dispatch_uid="ownership-probe")
    try:
        with connection.execute_wrapper(recorder.execute):
            exec(compile(source, str(ROOT / app / "probe.py"), "exec"), names)
    finally:
        pre_delete.disconnect(dispatch_uid="ownership-probe")
    return recorder


def test_another_apps_update_is_named():
    owner = UserFactory()
    workspace = Workspace.objects.create(owner=owner, image="x")
    found = _run_as("maintenance", "Workspace.objects.filter(pk=pk).update(step='x')", Workspace=Workspace,
                    pk=workspace.pk).found  # fmt: skip
    assert len(found) == 1 and found[0].startswith(
        "maintenance/ wrote containers's table containers_workspace"
    )


def test_another_apps_insert_and_delete_are_named():
    owner = UserFactory()
    source = "Workspace.objects.create(owner=owner, image='x').delete()"
    found = _run_as("builds", source, Workspace=Workspace, owner=owner).found
    assert [line.split(":")[0] for line in found] == [
        "builds/ wrote containers's table containers_workspace",
        "builds/ wrote containers's Workspace rows",
    ]


def test_own_writes_test_setup_and_cascades_pass():
    owner = UserFactory()
    Workspace.objects.create(owner=owner, image="x")  # a test's own setup
    assert _run_as("containers", "Workspace.objects.update(step='y')", Workspace=Workspace).found == []
    # accounts deletes a person; their workspace goes with them through on_delete=CASCADE.
    assert _run_as("accounts", "owner.delete()", owner=owner).found == []
    assert not Workspace.objects.exists()


def test_middleware_and_key_rotation_pass_writes_through_to_whoever_called_them():
    owner = UserFactory()
    for app in ("audit/middleware.py", "mgmt/logging.py", "mgmt/services.py"):
        source = "Workspace.objects.update(step='z')"
        recorder = _Recorder()
        with connection.execute_wrapper(recorder.execute):
            exec(compile(source, str(ROOT / app), "exec"), {"Workspace": Workspace})
        assert recorder.found == [], app  # nothing but the framework and the test beneath them
    assert Workspace.objects.filter(owner=owner).count() == 0
