"""The saga on a real Celery worker (Redis broker, queues default/provisioning), driven
through the HTTP API as a newcomer would: register → approve → open → delete."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from accounts.models import User
from audit.models import AuditLog
from containers.models import Workspace
from containers.nginx import check_user_exists
from mgmt.celery import app as celery_app
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = [pytest.mark.docker, pytest.mark.nginx, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(stack, settings, tmp_path):
    """A real worker on the test database and Redis, consuming every queue the saga uses."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 3306}/{db['NAME']}"
        ),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PLATFORM_URL": settings.PLATFORM_URL,
    }
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mgmt", "worker", "-Q", "default,provisioning",
             "-c", "4", "-P", "threads", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    celery_app.control.purge()  # nothing stale from an earlier run reaches this worker
    eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False
    yield log
    celery_app.conf.task_always_eager = eager
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_register_approve_open_delete_through_the_api_and_a_real_worker(stack, worker):
    api = stack.live_url + "/api"
    username = f"w{os.urandom(4).hex()}"
    email = f"{username}@example.com"
    answer = requests.post(
        f"{api}/auth/register",
        json={"email": email, "username": username, "password": TEST_PASSWORD},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    user = User.objects.get(username=username)

    admin = UserFactory(username=f"ad{os.urandom(3).hex()}", admin=True)
    admin_token = requests.post(
        f"{api}/auth/login", json={"email": admin.email, "password": TEST_PASSWORD}, timeout=10
    ).json()["data"]["token"]
    auth = {"Authorization": f"Bearer {admin_token}"}
    answer = requests.post(
        f"{api}/admin/users/{user.pk}/approve", json={"memory": "512m"}, headers=auth, timeout=10
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()["data"]
    assert body["status"] == "pending" and answer.headers["Location"] == body["status_url"]

    workspace = Workspace.objects.get(pk=body["id"])
    done = wait_for(lambda: Workspace.objects.get(pk=workspace.pk).status in ("active", "failed"))
    workspace.refresh_from_db()
    assert done and workspace.status == "active", (workspace.status_reason, worker.read_text()[-3000:])

    login = requests.post(f"{api}/auth/login", json={"email": email, "password": TEST_PASSWORD}, timeout=10)
    assert login.json()["data"]["redirect_url"] == f"http://{stack.nginx.host(username, 'vscode')}/"
    token = login.cookies["mgmt_token"]
    for app in ("vscode", "jupyter"):
        assert stack.ws_becomes(username, app, stack.edge_login(token, username, app), 200)
    mine = requests.get(f"{api}/workspaces/{workspace.pk}", cookies={"mgmt_token": token}, timeout=10).json()
    assert mine["data"]["live"]["state"] == "running"

    answer = requests.delete(f"{api}/users/{user.pk}?delete_workspace=true", headers=auth, timeout=10)
    assert answer.status_code == 202, answer.text
    assert wait_for(lambda: not User.objects.filter(pk=user.pk).exists()), worker.read_text()[-3000:]
    assert not check_user_exists(username=username)
    assert not (stack.deploy / username).exists()
    assert stack.containers() == []
    assert AuditLog.objects.filter(action_type="user.delete", username=admin.username).count() == 1
