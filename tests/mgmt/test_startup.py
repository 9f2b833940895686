"""A web process imports the broker's client library while it starts, in one thread: the first
tasks queued by a threaded worker (30 approvals at once) once imported it from several threads
together, and Python's import locks reported a deadlock (500s)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_broker_transport_is_imported_and_the_tasks_registered_at_start():
    probe = (
        "import django, sys; django.setup(); from mgmt.celery import app; "
        "print('kombu.transport.redis' in sys.modules, 'containers.tasks.workspace_step_task' in app.tasks)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    answer = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert answer.stdout.strip() == "True True", answer.stderr[-2000:]
