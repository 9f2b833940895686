"""Queueing after the commit: a broker that does not take the task never turns done work into a 500."""

from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError
from loguru import logger

from containers.models import Workspace, WorkspaceStatus
from mgmt.queueing import task_named
from servers.models import ServerStatus
from tests.factories import ServerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def loguru_messages():
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(m.record["message"]), level="ERROR")
    yield messages
    logger.remove(sink)


def test_an_approval_whose_task_the_broker_refuses_is_kept_for_the_reconciler(
    admin_api, monkeypatch, loguru_messages
):
    ServerFactory(name="h1", status=ServerStatus.ONLINE, memory_total=64 * 1024**3)
    person = UserFactory(pending=True)
    sent: list[tuple] = []

    def broker_down(*args, **kwargs):
        sent.append(args)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(task_named("containers.tasks.workspace_step_task"), "delay", broker_down)
    answer = admin_api.post(f"/api/admin/users/{person.pk}/approve", {"memory": "256m"}, format="json")
    assert answer.status_code == 202, answer.json()
    assert sent, "the approval did try to queue its first step"
    workspace = Workspace.objects.get(owner=person)
    assert workspace.status == WorkspaceStatus.PENDING  # where the reconciler finds it when stuck
    assert any("The broker did not take" in m and "the reconciler resumes it" in m for m in loguru_messages)
