"""Each cleanup job against real rows and files (MariaDB, the upload directory), its dry run and command."""

from __future__ import annotations

import io
import os
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import UserSession
from accounts.services import session_create
from audit.models import AuditLog
from audit.services import audit_log_record
from builds.models import GuestUpload, UploadStatus
from builds.services.uploads import upload_chunk, upload_file_path, upload_start
from maintenance import services, tasks
from servers.models import ServerStats
from tests.factories import ServerFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def _run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=out)
    return out.getvalue()


def test_sessions_expired_and_revoked_are_purged_after_retention(alice, settings):
    settings.SESSION_RETENTION_DAYS = 30
    now = timezone.now()
    live, _ = session_create(user=alice)
    long_expired, _ = session_create(user=alice)
    recently_expired, _ = session_create(user=alice)
    long_revoked, _ = session_create(user=alice)
    UserSession.objects.filter(pk=long_expired.pk).update(expires_at=now - timedelta(days=31))
    UserSession.objects.filter(pk=recently_expired.pk).update(expires_at=now - timedelta(days=1))
    # Revoked 40 days ago; its expiry was moved far out so only the revocation makes it stale.
    UserSession.objects.filter(pk=long_revoked.pk).update(
        is_active=False, revoked_at=now - timedelta(days=40), expires_at=now + timedelta(days=1)
    )

    assert "sessions: would remove 2" in _run("cleanup_sessions", "--dry-run")
    assert UserSession.objects.count() == 4
    assert not AuditLog.objects.filter(action_type="session.purge").exists()

    assert "sessions: removed 2" in _run("cleanup_sessions")
    assert set(UserSession.objects.values_list("pk", flat=True)) == {live.pk, recently_expired.pk}
    purge = AuditLog.objects.get(action_type="session.purge")
    assert purge.details["deleted"] == 2
    assert services.cleanup_sessions().count == 0  # idempotent


def test_audit_retention_deletes_old_rows_and_audits_the_purge(settings):
    settings.AUDIT_RETENTION_DAYS = 90
    old = [audit_log_record(action="test.old", details={"i": i}) for i in range(3)]
    recent = audit_log_record(action="test.recent")
    AuditLog.objects.filter(pk__in=[row.pk for row in old]).update(
        created_at=timezone.now() - timedelta(days=91)
    )

    report = services.cleanup_audit_logs(dry_run=True)
    assert (report.count, report.dry_run) == (3, True)
    assert AuditLog.objects.filter(action_type="test.old").count() == 3

    assert "audit-logs: removed 3" in _run("cleanup_audit_logs")
    assert not AuditLog.objects.filter(action_type="test.old").exists()
    assert AuditLog.objects.filter(pk=recent.pk).exists()
    purge = AuditLog.objects.get(action_type="audit.purge")
    assert purge.details["deleted"] == 3 and purge.source == "system"
    # The one sanctioned delete goes through the service; a single row still refuses.
    with pytest.raises(RuntimeError):
        recent.delete()


def test_audit_retention_zero_keeps_everything(settings):
    settings.AUDIT_RETENTION_DAYS = 0
    row = audit_log_record(action="test.ancient")
    AuditLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=5000))
    report = tasks.cleanup_audit_logs_task.delay().get()
    assert report["count"] == 0 and "forever" in report["note"]
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_stats_history_prune_and_dry_run(settings):
    settings.SERVER_STATS_RETENTION_DAYS = 14
    server = ServerFactory(name=f"s-{uuid.uuid4().hex[:6]}")
    now = timezone.now()
    ServerStats.objects.create(server=server, at=now - timedelta(days=20))
    ServerStats.objects.create(server=server, at=now - timedelta(days=15))
    keep = ServerStats.objects.create(server=server, at=now - timedelta(days=1))

    assert "stats-history: would remove 2" in _run("cleanup_stats_history", "--dry-run")
    assert ServerStats.objects.count() == 3
    assert "stats-history: removed 2" in _run("cleanup_stats_history")
    assert list(ServerStats.objects.values_list("pk", flat=True)) == [keep.pk]


@pytest.fixture
def upload_dir(settings, tmp_path):
    settings.UPLOAD_ROOT = str(tmp_path / "uploads")
    settings.UPLOAD_ABANDONED_HOURS = 24
    return tmp_path / "uploads"


def _partial_upload(actor, *, hours_idle: float) -> GuestUpload:
    upload = upload_start(actor=actor, filename=f"disk-{uuid.uuid4().hex[:6]}.qcow2", size=10, kind="disk")
    upload_chunk(upload_id=upload.pk, offset=0, stream=io.BytesIO(b"abcd"), length=4)
    GuestUpload.objects.filter(pk=upload.pk).update(updated_at=timezone.now() - timedelta(hours=hours_idle))
    upload.refresh_from_db()
    return upload


def test_abandoned_uploads_and_their_partial_files(
    admin_user, upload_dir, django_capture_on_commit_callbacks
):
    abandoned = _partial_upload(admin_user, hours_idle=30)
    active = _partial_upload(admin_user, hours_idle=1)
    finished = _partial_upload(admin_user, hours_idle=50)
    GuestUpload.objects.filter(pk=finished.pk).update(status=UploadStatus.COMPLETE)
    # A partial file whose row is gone, old enough; and a fresh one (a row may be just being created).
    stray = upload_dir / f"{uuid.uuid4().hex}.iso.part"
    stray.write_bytes(b"x")
    os.utime(stray, (time.time() - 30 * 3600,) * 2)
    fresh_stray = upload_dir / f"{uuid.uuid4().hex}.iso.part"
    fresh_stray.write_bytes(b"x")
    abandoned_file = upload_file_path(abandoned)
    assert abandoned_file.exists()

    dry = _run("cleanup_uploads", "--dry-run")
    assert "uploads: would remove 2" in dry and str(abandoned.pk) in dry and stray.name in dry
    assert abandoned_file.exists() and stray.exists()

    with django_capture_on_commit_callbacks(execute=True):
        report = services.cleanup_uploads()
    assert report.count == 2
    assert not GuestUpload.objects.filter(pk=abandoned.pk).exists()
    assert not abandoned_file.exists() and not stray.exists()
    assert fresh_stray.exists() and upload_file_path(active).exists()
    assert set(GuestUpload.objects.values_list("pk", flat=True)) == {active.pk, finished.pk}
    assert AuditLog.objects.filter(action_type="upload.delete", target_id=str(abandoned.pk)).exists()
    assert AuditLog.objects.filter(action_type="upload.purge_file", details__file=stray.name).exists()


def test_route_activity_is_recorded_by_verify_at_most_once_a_minute(alice, bob, client):
    from containers import nginx
    from containers.models import RouteActivity, WorkspaceStatus
    from tests.edge_client import edge_cookie_made

    upstream = nginx.Upstream("127.0.0.1", 9)
    mine = WorkspaceFactory(owner=alice, status=WorkspaceStatus.ACTIVE)
    theirs = WorkspaceFactory(owner=bob, status=WorkspaceStatus.ACTIVE)
    for person in (alice, bob):
        nginx.add_user_route(username=person.username, vscode=upstream, jupyter=upstream)

    def verify(workspace, app: str = "vscode", user=alice):
        host, cookie = edge_cookie_made(user=user, workspace=workspace, app=app)
        return client.get("/edge/verify", HTTP_HOST=host, HTTP_X_EDGE_TOKEN=cookie)

    assert verify(mine).status_code == 200
    seen = RouteActivity.objects.get(user=alice).last_request_at
    RouteActivity.objects.filter(user=alice).update(last_request_at=seen - timedelta(hours=1))
    verify(mine, "jupyter")
    # Within the minute: no second write.
    assert RouteActivity.objects.get(user=alice).last_request_at == seen - timedelta(hours=1)
    # A refused request is no activity.
    assert verify(theirs, user=alice).status_code == 403
    assert not RouteActivity.objects.filter(user=bob).exists()
