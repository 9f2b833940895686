"""Builds end to end on real components: dockerd, an agent process, a docker-registry, MariaDB."""

from __future__ import annotations

import io
import subprocess
import tarfile
import threading
import time
from typing import Any

import pytest
from django.db import connection

from audit.models import AuditLog
from builds.models import Build, BuildLogLine, BuildStatus
from builds.services.builds import build_create, builds_fail_abandoned
from builds.services.runner import build_run
from events.models import JobEvent
from registry.models import Registry
from tests.factories import UserFactory
from tests.net import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]

TICKS = 'RUN i=0; while [ $i -lt {n} ]; do echo "tick $i"; i=$((i+1)); sleep 0.3; done\n'


def in_thread(target, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict]:
    """Run `target` in a thread with its own database connection; its result lands in the dict."""
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = target(*args, **kwargs)
        except Exception as exc:  # surfaced by the test
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def log_of(build: Build) -> str:
    return "\n".join(
        BuildLogLine.objects.filter(build=build).order_by("number").values_list("text", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_dockerfile_build_streams_its_log_pushes_and_the_tag_is_managed(
    server, registry_factory, client_as, unique, created_images
):
    password = f"pw-{unique}-secret"
    registry_process = registry_factory(username="ci", password=password)
    admin = UserFactory(admin=True)
    qvp = UserFactory(qvp=True)
    admin_api, qvp_api = client_as(admin), client_as(qvp)

    created = admin_api.post(
        "/api/registries",
        {"name": f"reg-{unique}", "url": registry_process.url, "username": "ci", "password": password},
        format="json",
    )
    assert created.status_code == 201, created.json()
    registry_id = created.json()["data"]["id"]
    assert created.json()["data"]["has_password"] is True
    assert password not in created.content.decode()
    # Encrypted at rest: the raw column never holds the password.
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM registry_registry WHERE id = %s", [registry_id])
        raw = cursor.fetchone()[0]
    assert password not in raw and raw.startswith("enc1:")
    assert Registry.objects.get(pk=registry_id).password == password
    assert qvp_api.post(f"/api/registries/{registry_id}/test").json()["success"] is True

    project = admin_api.post("/api/projects", {"name": f"p-{unique}"}, format="json").json()["data"]
    assert (
        admin_api.post(
            f"/api/projects/{project['id']}/members", {"username": qvp.username}, format="json"
        ).status_code
        == 200
    )

    repository = f"team/app-{unique}"
    reference = f"{registry_process.address}/{repository}:1"
    created_images.append(reference)
    body = {
        "server": server.pk,
        "repository": repository,
        "tag": "1",
        "source": "dockerfile",
        "dockerfile": "FROM mgmt-test/base:latest\n" + TICKS.format(n=12) + "RUN echo built > /built\n",
        "registry": registry_id,
        "push": True,
        "project": project["id"],
    }
    # Celery runs eagerly here, so the request runs the build; read the log from the side meanwhile.
    thread, result = in_thread(qvp_api.post, "/api/builds", body, format="json")
    assert wait_until(lambda: Build.objects.filter(repository=repository).exists(), timeout=10)
    build = Build.objects.get(repository=repository)
    seen_while_running: list[str] = []
    since = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = qvp_api.get(f"/api/builds/{build.pk}/log?since={since}").json()["data"]
        if answer["status"] == "running":
            seen_while_running += answer["lines"]
        since = answer["next"]
        if answer["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    thread.join(timeout=60)
    assert "error" not in result, result
    assert result["value"].status_code == 201, result["value"].json()
    assert any(line.strip() == "tick 3" for line in seen_while_running), seen_while_running

    build.refresh_from_db()
    assert build.status == BuildStatus.SUCCEEDED, (build.reason, log_of(build))
    assert build.reference == reference
    assert build.digest.startswith("sha256:") and build.image_id.startswith("sha256:")
    full = qvp_api.get(f"/api/builds/{build.pk}/log").json()["data"]
    assert full["next"] == build.log_lines and full["lines"][0].startswith("Building")
    assert qvp_api.get(f"/api/builds/{build.pk}/log?since={full['next']}").json()["data"]["lines"] == []

    tags = qvp_api.get(f"/api/registries/{registry_id}/tags?repository={repository}").json()["data"]
    assert tags["tags"] == ["1"]
    manifest = qvp_api.get(f"/api/registries/{registry_id}/manifest?repository={repository}&tag=1")
    assert manifest.json()["data"]["digest"] == build.digest and manifest.json()["data"]["size"] > 0
    assert (
        repository
        in qvp_api.get(f"/api/registries/{registry_id}/repositories").json()["data"]["repositories"]
    )

    # qvp builds and pushes, but deletes nothing.
    assert (
        qvp_api.delete(f"/api/registries/{registry_id}/tags?repository={repository}&tag=1").status_code == 403
    )
    deleted = admin_api.delete(f"/api/registries/{registry_id}/tags?repository={repository}&tag=1")
    assert deleted.status_code == 200, deleted.json()
    assert (
        qvp_api.get(f"/api/registries/{registry_id}/tags?repository={repository}").json()["data"]["tags"]
        == []
    )

    # The password went to the registry and the agent only: never in an answer, the audit or a log.
    for answer in (
        qvp_api.get(f"/api/registries/{registry_id}"),
        admin_api.get("/api/registries"),
        qvp_api.get(f"/api/builds/{build.pk}"),
        qvp_api.get(f"/api/builds/{build.pk}/log"),
    ):
        assert password not in answer.content.decode()
    assert not any(password in str(row.details) for row in AuditLog.objects.all())
    assert password not in log_of(build)


@pytest.mark.django_db(transaction=True)
def test_context_archive_build_and_a_failing_dockerfile(server, client_as, unique, created_images):
    admin_api = client_as(UserFactory(admin=True))
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, data in {
            "Dockerfile": b"FROM mgmt-test/base:latest\nCOPY greeting.txt /g.txt\nRUN cat /g.txt\n",
            "greeting.txt": f"hello from context {unique}\n".encode(),
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    context.seek(0)
    context.name = "context.tar"
    created_images.append(f"team/ctx-{unique}:1")
    answer = admin_api.post(
        "/api/builds",
        {
            "server": server.pk,
            "repository": f"team/ctx-{unique}",
            "tag": "1",
            "source": "context",
            "context": context,
        },
        format="multipart",
    )
    assert answer.status_code == 201, answer.json()
    build = Build.objects.get(pk=answer.json()["data"]["id"])
    assert build.status == BuildStatus.SUCCEEDED, (build.reason, log_of(build))
    assert f"hello from context {unique}" in log_of(build)
    # The same lines on the build's live stream (events/), which ends with it.
    stream = list(JobEvent.objects.filter(job=f"build:{build.pk}").order_by("id"))
    assert "\n".join(e.text for e in stream if e.kind == "log") == log_of(build)
    assert (stream[-1].kind, stream[-1].text) == ("done", "Build succeeded.")
    images = admin_api.get(f"/api/servers/{server.pk}/images").json()["data"]
    assert any(f"team/ctx-{unique}:1" in image["tags"] for image in images)

    created_images.append(f"team/bad-{unique}:1")
    failing = admin_api.post(
        "/api/builds",
        {
            "server": server.pk,
            "repository": f"team/bad-{unique}",
            "tag": "1",
            "source": "dockerfile",
            "dockerfile": "FROM mgmt-test/base:latest\nRUN echo about to fail && exit 3\n",
        },
        format="json",
    )
    bad = Build.objects.get(pk=failing.json()["data"]["id"])
    assert bad.status == BuildStatus.FAILED
    assert "returned a non-zero code: 3" in bad.reason
    log = log_of(bad)
    assert "about to fail" in log and "ERROR:" in log and "non-zero code: 3" in log
    last = JobEvent.objects.filter(job=f"build:{bad.pk}").order_by("id").last()
    assert last.kind == "failed" and "non-zero code: 3" in last.text

    # Bad input is a 400 with the reason; a push with no registry to push to is a 409 (the
    # configuration, not the request, is missing it); never a 500.
    for body, message, status in (
        ({"source": "dockerfile", "dockerfile": ""}, "dockerfile", 400),
        ({"source": "context"}, "context", 400),
        ({"source": "dockerfile", "dockerfile": "FROM x", "repository": "../etc"}, "repository", 400),
        ({"source": "dockerfile", "dockerfile": "FROM x", "push": True}, "registry", 409),
    ):
        refused = admin_api.post(
            "/api/builds", {"server": server.pk, "repository": "team/x", **body}, format="json"
        )
        assert refused.status_code == status, refused.json()
        assert message in refused.json()["message"]


@pytest.mark.django_db(transaction=True)
def test_the_same_build_task_run_twice_builds_once(server, unique, created_images):
    admin = UserFactory(admin=True)
    created_images.append(f"team/once-{unique}:1")
    build = build_create(
        actor=admin,
        server=server,
        repository=f"team/once-{unique}",
        tag="1",
        source="dockerfile",
        dockerfile="FROM mgmt-test/base:latest\nRUN echo once\n",
    )  # eager Celery already ran it on commit
    from builds.tasks import build_run_task

    assert Build.objects.get(pk=build.pk).status == BuildStatus.SUCCEEDED
    assert build_run_task.apply(args=[build.pk]).get() is None  # a second delivery does nothing

    # Two workers racing for one queued build: exactly one claims it.
    Build.objects.filter(pk=build.pk).update(status=BuildStatus.QUEUED)
    BuildLogLine.objects.filter(build=build).delete()
    Build.objects.filter(pk=build.pk).update(log_lines=0)
    runs = [in_thread(build_run, build_id=build.pk, worker=f"w{i}") for i in range(2)]
    for thread, _ in runs:
        thread.join(timeout=60)
    outcomes = [result.get("value") for _, result in runs]
    assert sum(outcome is not None for outcome in outcomes) == 1, outcomes
    assert log_of(build).count("Building ") == 1


def remove_build_layers(marker: str) -> None:
    """Remove the intermediate images of a test's own build (a step command holds `marker`) and
    the images built on them (e.g. the LABEL step), children first."""
    ids = list(
        dict.fromkeys(
            subprocess.run(
                ["docker", "images", "-a", "-q", "--no-trunc"], capture_output=True, text=True
            ).stdout.split()
        )
    )
    if not ids:
        return
    fmt = "{{.Id}}|{{.Parent}}|{{.ContainerConfig.Cmd}}"
    rows = subprocess.run(
        ["docker", "image", "inspect", "-f", fmt, *ids], capture_output=True, text=True
    ).stdout
    parent_of, ours = {}, set()
    for row in rows.splitlines():
        image_id, parent, cmd = [*row.split("|", 2), "", ""][:3]
        parent_of[image_id] = parent
        if marker in cmd:
            ours.add(image_id)
    changed = True
    while changed:  # every image that descends from one of ours
        before = len(ours)
        ours |= {image_id for image_id, parent in parent_of.items() if parent in ours}
        changed = len(ours) != before

    def depth(image_id: str) -> int:
        count = 0
        while parent_of.get(image_id) in ours:
            image_id, count = parent_of[image_id], count + 1
        return count

    for image_id in sorted(ours, key=depth, reverse=True):
        subprocess.run(["docker", "rmi", image_id], capture_output=True)


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_build(server, client_as, unique, created_images):
    admin_api = client_as(UserFactory(admin=True))
    reference = f"team/cancel-{unique}:1"
    created_images.append(reference)
    body = {
        "server": server.pk,
        "repository": f"team/cancel-{unique}",
        "tag": "1",
        "source": "dockerfile",
        # A step that prints, then stays silent long enough for a loaded machine to cancel inside it.
        "dockerfile": f"FROM mgmt-test/base:latest\nRUN echo start-{unique} && sleep 10 && echo end-{unique}",
    }
    try:
        thread, result = in_thread(admin_api.post, "/api/builds", body, format="json")
        assert wait_until(
            # The step's own output line (not the "Step 2/3 : RUN …" header), before the silence.
            lambda: f"start-{unique}" in BuildLogLine.objects.values_list("text", flat=True),
            timeout=30,
        )
        time.sleep(1)  # inside the silent sleep
        build = Build.objects.get(repository=f"team/cancel-{unique}")
        cancelled = admin_api.post(f"/api/builds/{build.pk}/cancel")
        assert cancelled.status_code == 200, (cancelled.json(), log_of(build).splitlines())
        started = time.monotonic()
        thread.join(timeout=30)
        assert not thread.is_alive() and time.monotonic() - started < 3  # not after the sleep
        assert result["value"].status_code == 201
        build.refresh_from_db()
        assert build.status == BuildStatus.CANCELLED and "Cancelled by" in build.reason
        assert log_of(build).endswith("Stopped: the build was cancelled.")
        assert f"end-{unique}" not in log_of(build).splitlines()
        assert admin_api.post(f"/api/builds/{build.pk}/cancel").status_code == 409

        def build_container_gone() -> bool:
            listed = subprocess.run(
                ["docker", "ps", "--no-trunc", "--format", "{{.Command}}"], capture_output=True, text=True
            ).stdout
            return unique not in listed

        # On the host the agent notices its lost client when the step prints again and drops the
        # Docker call; the build never gets its tag.
        assert wait_until(build_container_gone, timeout=60)
        time.sleep(1)
        inspect = subprocess.run(["docker", "image", "inspect", reference], capture_output=True)
        assert inspect.returncode != 0
    finally:
        remove_build_layers(unique)


@pytest.mark.django_db
def test_abandoned_build_is_failed_with_a_reason(server, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.BUILD_STALE_SECONDS = 60
    old = timezone.now() - timedelta(seconds=300)
    stuck = Build.objects.create(
        repository="team/stuck",
        reference="team/stuck:1",
        source="dockerfile",
        server=server,
        status=BuildStatus.RUNNING,
        worker="celery@gone",
        started_at=old,
        heartbeat_at=old,
    )
    alive = Build.objects.create(
        repository="team/alive",
        reference="team/alive:1",
        source="dockerfile",
        server=server,
        status=BuildStatus.RUNNING,
        worker="celery@here",
        started_at=old,
        heartbeat_at=timezone.now(),
    )
    assert builds_fail_abandoned() == 1
    stuck.refresh_from_db()
    alive.refresh_from_db()
    assert stuck.status == BuildStatus.FAILED and "celery@gone stopped" in stuck.reason
    assert alive.status == BuildStatus.RUNNING
    assert "ERROR: The worker celery@gone stopped" in log_of(stuck)
