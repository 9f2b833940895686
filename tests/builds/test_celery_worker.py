"""The build task on a real Celery worker process (Redis broker, MariaDB), killed mid-build once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from builds.models import Build, BuildLogLine, BuildStatus
from builds.services.builds import build_create
from mgmt.celery import app
from tests.factories import UserFactory
from tests.net import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
TICKS = 'RUN i=0; while [ $i -lt {n} ]; do echo "tick $i"; i=$((i+1)); sleep 0.3; done\n'


def test_builds_are_routed_to_the_builds_queue():
    route = app.amqp.router.route({}, "builds.tasks.build_run_task")
    assert route["queue"].name == "builds"


class Worker:
    def __init__(self, log: Path) -> None:
        db = connection.settings_dict
        url = f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 3306}/{db['NAME']}"
        self.name = f"builds-{uuid.uuid4().hex[:8]}@test"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": url,  # the test database, which this test commits to
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "REGISTRY_ALLOW_LOCAL_TARGETS": "true",
            "UPLOAD_ROOT": django_settings.UPLOAD_ROOT,
            "BUILD_HEARTBEAT_SECONDS": "0.3",
            "LOG_LEVEL": "INFO",  # so that "ready" shows when the worker listens
        }
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "mgmt",
                    "worker",
                    "-Q",
                    "builds",
                    "--pool=solo",
                    "-n",
                    self.name,
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel=INFO",
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # our own process group, started above
            self.process.wait(timeout=10)


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    app.conf.task_always_eager = False  # this process sends to Redis; the worker runs the task
    process = Worker(tmp_path / "worker.log")
    try:
        assert wait_until(
            lambda: "ready" in process.output() or process.process.poll() is not None, timeout=60
        )
        assert process.process.poll() is None, process.output()
        yield process
    finally:
        app.conf.task_always_eager = True
        process.kill()


def _text(build: Build) -> str:
    return "\n".join(
        BuildLogLine.objects.filter(build=build).order_by("number").values_list("text", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_streams_and_a_killed_one_leaves_a_failed_build(
    server, worker, client_as, unique, created_images, settings
):
    admin = UserFactory(admin=True)
    api = client_as(admin)
    created_images.append(f"team/worker-{unique}:1")
    build = build_create(
        actor=admin,
        server=server,
        repository=f"team/worker-{unique}",
        tag="1",
        source="dockerfile",
        dockerfile="FROM mgmt-test/base:latest\n" + TICKS.format(n=10),
    )  # queued on commit to the `builds` queue in Redis
    seen_running: list[str] = []
    since, status = 0, "queued"
    deadline = time.monotonic() + 90
    while status not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
        answer = api.get(f"/api/builds/{build.pk}/log?since={since}").json()["data"]
        status, since = answer["status"], answer["next"]
        if status == "running":
            seen_running += answer["lines"]
        time.sleep(0.1)
    build.refresh_from_db()
    assert build.status == BuildStatus.SUCCEEDED, (build.reason, _text(build), worker.output()[-3000:])
    assert build.worker == worker.name
    assert any(line.strip() == "tick 4" for line in seen_running), seen_running

    created_images.append(f"team/killed-{unique}:1")
    doomed = build_create(
        actor=admin,
        server=server,
        repository=f"team/killed-{unique}",
        tag="1",
        source="dockerfile",
        dockerfile="FROM mgmt-test/base:latest\n" + TICKS.format(n=300),
    )
    assert wait_until(lambda: "tick 3" in _text(doomed), timeout=60), worker.output()[-3000:]
    worker.kill()
    doomed.refresh_from_db()
    assert doomed.status == BuildStatus.RUNNING  # nothing else can tell yet

    settings.BUILD_STALE_SECONDS = 2
    time.sleep(2.5)
    from builds.tasks import builds_fail_abandoned_task

    assert builds_fail_abandoned_task.apply().get() == 1  # the periodic sweep (also run before every build)
    doomed.refresh_from_db()
    assert doomed.status == BuildStatus.FAILED
    assert f"The worker {worker.name} stopped" in doomed.reason
    assert doomed.finished_at is not None
