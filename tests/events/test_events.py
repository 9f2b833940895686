"""A job's event stream: publishing, Server-Sent Events, resuming and who may watch."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import session_create
from containers.models import Workspace, WorkspaceStatus
from events.models import EventKind, JobEvent
from events.services import event_publish, events_purge, job_key
from servers.models import Server
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def frames(response) -> list[dict]:
    """The events of a finished SSE answer: id, event and the decoded data of each."""
    text = b"".join(response.streaming_content).decode()
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in fields:
            found.append({"id": int(fields["id"]), "event": fields["event"], **json.loads(fields["data"])})
    return found


@pytest.fixture
def watched(settings):
    settings.EVENTS_STREAM_SECONDS = 1  # a stream without an end closes this soon
    owner = UserFactory(username="olga")
    workspace = Workspace.objects.create(owner=owner, status=WorkspaceStatus.PROVISIONING)
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME_WORKSPACE] = session_create(user=owner)[1]
    return workspace, client


def test_the_owner_gets_every_event_in_order_and_the_stream_ends_with_the_job(watched):
    workspace, client = watched
    job = job_key("workspace", workspace.pk)
    first = event_publish(job=job, kind=EventKind.STEP, text="Creating the container", index=2, total=5)
    event_publish(job=job_key("workspace", workspace.pk + 1), kind=EventKind.LOG, text="someone else's")
    event_publish(job=job, kind=EventKind.DONE, text="ready", next="http://olga--vscode.localhost/")
    event_publish(job=job, kind=EventKind.LOG, text="after the end")
    answer = client.get(f"/events/workspace/{workspace.pk}")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/event-stream" and answer["X-Accel-Buffering"] == "no"
    got = frames(answer)
    assert [(f["event"], f["text"]) for f in got] == [("step", "Creating the container"), ("done", "ready")]
    assert got[0]["id"] == first.pk and got[0]["index"] == 2 and got[1]["next"].startswith("http://olga")


def test_a_reconnect_resumes_after_the_last_event_it_saw(watched):
    workspace, client = watched
    job = job_key("workspace", workspace.pk)
    seen = event_publish(job=job, kind=EventKind.STEP, text="one")
    event_publish(job=job, kind=EventKind.STEP, text="two")
    event_publish(job=job, kind=EventKind.FAILED, text="three")
    resumed = frames(client.get(f"/events/workspace/{workspace.pk}", HTTP_LAST_EVENT_ID=str(seen.pk)))
    assert [f["text"] for f in resumed] == ["two", "three"]
    by_query = frames(client.get(f"/events/workspace/{workspace.pk}?after={seen.pk}"))
    assert [f["text"] for f in by_query] == ["two", "three"]
    garbage = frames(client.get(f"/events/workspace/{workspace.pk}", HTTP_LAST_EVENT_ID="1e9; x"))
    assert [f["text"] for f in garbage] == ["one", "two", "three"]  # unreadable: from the start


def test_a_stream_without_an_end_closes_after_its_time_and_says_when_to_retry(watched):
    workspace, client = watched
    event_publish(job=job_key("workspace", workspace.pk), kind=EventKind.STEP, text="still going")
    answer = client.get(f"/events/workspace/{workspace.pk}")
    text = b"".join(answer.streaming_content).decode()
    assert text.startswith("retry: 1000\n\n") and "still going" in text


def test_strangers_and_unknown_jobs_get_404(watched, settings, admin_user):
    workspace, _ = watched
    stranger = Client()
    stranger.cookies[settings.SESSION_COOKIE_NAME_WORKSPACE] = session_create(user=UserFactory())[1]
    assert stranger.get(f"/events/workspace/{workspace.pk}").status_code == 404
    assert Client().get(f"/events/workspace/{workspace.pk}").status_code == 404  # anonymous
    assert stranger.get("/events/nosuchkind/1").status_code == 404
    operator = Client()
    operator.force_login(admin_user)  # the admin site's session
    assert operator.get(f"/events/workspace/{workspace.pk}").status_code == 200
    assert operator.get(f"/events/workspace/{workspace.pk + 1000}").status_code == 404


def test_old_events_are_purged(settings):
    settings.EVENTS_RETENTION_DAYS = 7
    old = event_publish(job="workspace:1", kind=EventKind.LOG, text="old")
    JobEvent.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=8))
    kept = event_publish(job="workspace:1", kind=EventKind.LOG, text="new")
    assert events_purge() == 1
    assert list(JobEvent.objects.values_list("pk", flat=True)) == [kept.pk]


# --- an upload's import: its key is a UUID, and an API script watches with its Bearer token -----


@pytest.fixture
def finished_upload(settings, tmp_path, qvp_user):
    from builds.services import uploads

    settings.UPLOAD_ROOT = str(tmp_path / "uploads")
    data = b"x" * 4096
    upload = uploads.upload_start(actor=qvp_user, filename="guest.tar", size=len(data), kind="rootfs")
    uploads.upload_chunk(upload_id=upload.pk, offset=0, stream=io.BytesIO(data), length=len(data))
    return uploads.upload_finish(upload_id=upload.pk, sha256=hashlib.sha256(data).hexdigest(), actor=qvp_user)


def test_a_failed_import_ends_the_uploads_stream_with_its_reason(settings, finished_upload, qvp_user, api_as):
    settings.EVENTS_STREAM_SECONDS = 1
    host = Server.objects.create(name="gone", address="127.0.0.1", agent_port=1, agent_secret="s" * 32)
    api = api_as(qvp_user)
    answer = api.post(f"/api/uploads/{finished_upload.pk}/import", {"server": host.pk}, format="json")
    assert answer.status_code == 503, answer.json()
    got = frames(
        Client().get(f"/events/upload/{finished_upload.pk}", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    )
    assert [f["event"] for f in got] == ["step", "failed"]
    assert "guest.tar on gone" in got[0]["text"] and got[1]["text"].startswith("The import on gone failed")
    # Any spelling of the UUID reads the same stream; text that is no key of an upload is nobody's.
    for spelling in (finished_upload.pk.hex, str(finished_upload.pk).upper()):
        again = Client().get(f"/events/upload/{spelling}", HTTP_AUTHORIZATION=f"Bearer {api.token}")
        assert [f["event"] for f in frames(again)] == ["step", "failed"]
    for bad in ("not-a-uuid", "12", f"{finished_upload.pk.hex}0"):
        assert (
            Client().get(f"/events/upload/{bad}", HTTP_AUTHORIZATION=f"Bearer {api.token}").status_code == 404
        )


def test_an_uploads_stream_is_for_those_who_may_see_uploads(settings, finished_upload, api_as):
    settings.EVENTS_STREAM_SECONDS = 1
    regular = api_as(UserFactory())
    url = f"/events/upload/{finished_upload.pk}"
    assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {regular.token}").status_code == 404
    assert Client().get(url, HTTP_AUTHORIZATION="Bearer not-a-live-token").status_code == 404
    assert (
        Client().get(url, HTTP_AUTHORIZATION=f"Bearer {api_as(UserFactory(qvp=True)).token}").status_code
        == 200
    )
