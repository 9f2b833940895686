"""Image builds (the original's BuildService): queue, cancel, the log, and the abandoned-build sweep.

A build is created `queued` and handed to the `builds` Celery queue on commit, where
`runner.build_run` runs it. Every status change after the claim is conditional
(`build_move`), so a cancel or the abandoned-build sweep is never overwritten by a
late worker.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.permissions import user_has_permission
from audit.models import AuditSource
from audit.services import audit_log_record
from events.models import EventKind
from events.services import event_publish, job_key
from mgmt.exceptions import Conflict, PermissionDenied, ValidationFailed
from mgmt.queueing import enqueue_on_commit
from registry.clients import validate_repository, validate_tag
from registry.models import Registry
from servers.models import Server

from ..models import (
    ACTIVE_BUILD_STATUSES,
    Build,
    BuildLogLine,
    BuildSource,
    BuildStatus,
    GuestUpload,
    Project,
    UploadKind,
    UploadStatus,
)
from .uploads import upload_root

DOCKERFILE_MAX = 64 * 1024  # bytes
_FROM_RE = re.compile(r"^\s*FROM\s", re.IGNORECASE | re.MULTILINE)
_LINE_MAX = 4000


def _may_build_in(actor: Any, project: Project) -> bool:
    return user_has_permission(actor, "manage_images") or actor.has_perm("builds.build_in_project", project)


# --- create and cancel ----------------------------------------------------------------------
def _context_dir() -> Path:
    path = upload_root() / "build-contexts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_context_path(build: Build) -> Path:
    return _context_dir() / build.context_file


def _store_context(stream: IO[bytes], size: int) -> str:
    if size <= 0:
        raise ValidationFailed("context: the archive is empty.")
    if size > settings.BUILD_CONTEXT_MAX_BYTES:
        raise ValidationFailed(f"context: larger than the limit of {settings.BUILD_CONTEXT_MAX_BYTES} bytes.")
    name = f"{uuid.uuid4().hex}.tar"
    with open(_context_dir() / name, "wb") as handle:
        while block := stream.read(1024 * 1024):
            handle.write(block)
    return name


def build_create(
    *,
    actor: Any,
    server: Server,
    repository: str,
    tag: str = "latest",
    source: str,
    dockerfile: str = "",
    context: IO[bytes] | None = None,
    context_size: int = 0,
    base_upload: GuestUpload | None = None,
    registry: Registry | None = None,
    push: bool = False,
    project: Project | None = None,
) -> Build:
    """Validate and queue a build; the `builds` queue runs it after the commit."""
    validate_repository(repository)
    validate_tag(tag)
    if project is not None and not _may_build_in(actor, project):
        raise PermissionDenied(f"You are not a member of project {project.name}.")
    if push and registry is None:
        registry = Registry.objects.default()
        if registry is None:
            raise Conflict("registry: pushing needs a registry, and no default registry is set.")
    if source == BuildSource.DOCKERFILE:
        if not dockerfile.strip():
            raise ValidationFailed("dockerfile: is empty.")
    elif source == BuildSource.UPLOAD:
        if base_upload is None:
            raise ValidationFailed("base_upload: a build on a guest OS upload names the upload.")
        if base_upload.status != UploadStatus.COMPLETE or base_upload.kind != UploadKind.ROOTFS:
            raise Conflict("base_upload: must be a complete root file system upload.")
        if _FROM_RE.search(dockerfile):
            raise ValidationFailed("dockerfile: leave out FROM; the build starts from the upload.")
    elif source == BuildSource.CONTEXT:
        if context is None:
            raise ValidationFailed("context: a context archive (tar with a Dockerfile) is required.")
    else:
        raise ValidationFailed(f"source: {source!r} is not one of dockerfile, context, upload.")
    if len(dockerfile.encode()) > DOCKERFILE_MAX:
        raise ValidationFailed(f"dockerfile: longer than {DOCKERFILE_MAX} bytes.")
    context_file = _store_context(context, context_size) if source == BuildSource.CONTEXT else ""
    reference = f"{registry.host}/{repository}:{tag}" if registry else f"{repository}:{tag}"
    try:
        with transaction.atomic():
            build = Build.objects.create(
                repository=repository,
                tag=tag,
                reference=reference,
                source=source,
                dockerfile=dockerfile,
                context_file=context_file,
                base_upload=base_upload if source == BuildSource.UPLOAD else None,
                server=server,
                registry=registry,
                push=push,
                project=project,
                requested_by=actor,
            )
            audit_log_record(
                action="build.create",
                actor=actor,
                target=build,
                server_id=server.pk,
                details={"reference": reference, "source": source, "push": push, "server": server.name},
            )
            enqueue_on_commit("builds.tasks.build_run_task", build.pk)
    except Exception:
        if context_file:
            (_context_dir() / context_file).unlink(missing_ok=True)
        raise
    return build


@transaction.atomic
def build_cancel(*, actor: Any, build: Build) -> Build:
    """Queued: it will never run. Running or pushing: the worker stops at its next heartbeat or line."""
    updated = Build.objects.filter(
        pk=build.pk, status__in=(BuildStatus.QUEUED, *ACTIVE_BUILD_STATUSES)
    ).update(
        status=BuildStatus.CANCELLED,
        reason=f"Cancelled by {getattr(actor, 'username', 'the system')}.",
        finished_at=timezone.now(),
    )
    if not updated:
        build.refresh_from_db()
        raise Conflict(f"The build is {build.status} already.")
    audit_log_record(action="build.cancel", actor=actor, target=build, details={"reference": build.reference})
    build.refresh_from_db()
    build_end_publish(build)
    return build


# --- the log and the status -----------------------------------------------------------------
def build_log_append(*, build_id: int, lines: list[str]) -> None:
    if not lines:
        return
    with transaction.atomic():
        start = Build.objects.select_for_update().values_list("log_lines", flat=True).get(pk=build_id)
        BuildLogLine.objects.bulk_create(
            BuildLogLine(build_id=build_id, number=start + i, text=line[:_LINE_MAX])
            for i, line in enumerate(lines)
        )
        Build.objects.filter(pk=build_id).update(log_lines=F("log_lines") + len(lines))
    # The build's live stream (events/): the same lines, in batches of at most a few KiB.
    batch: list[str] = []
    for line in [*(line[:_LINE_MAX] for line in lines), None]:
        if batch and (line is None or sum(map(len, batch)) + len(line) > 3500):
            event_publish(job=job_key("build", build_id), kind=EventKind.LOG, text="\n".join(batch))
            batch = []
        if line is not None:
            batch.append(line)


def build_end_publish(build: Build) -> None:
    """The end of the build's live stream: done when it succeeded, failed (with why) otherwise."""
    if build.status == BuildStatus.SUCCEEDED:
        event_publish(job=job_key("build", build.pk), kind=EventKind.DONE, text="Build succeeded.")
    elif build.is_final:
        reason = build.reason or f"The build is {build.get_status_display().lower()}."
        event_publish(job=job_key("build", build.pk), kind=EventKind.FAILED, text=reason)


def build_move(
    build_id: int, to: str, *, source: tuple[str, ...] = ACTIVE_BUILD_STATUSES, **fields: Any
) -> bool:
    """Move the build to `to` only while it is in one of the `source` states; False when it was not."""
    return bool(Build.objects.filter(pk=build_id, status__in=source).update(status=to, **fields))


def builds_fail_abandoned(*, now: Any = None) -> int:
    """Builds whose worker died (no heartbeat for BUILD_STALE_SECONDS) end `failed` with the reason."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.BUILD_STALE_SECONDS)
    abandoned = list(
        Build.objects.filter(status__in=ACTIVE_BUILD_STATUSES, heartbeat_at__lt=cutoff).values_list(
            "pk", "worker", "heartbeat_at"
        )
    )
    count = 0
    for pk, worker, heartbeat_at in abandoned:
        reason = (
            f"The worker {worker or '(unknown)'} stopped while running this build "
            f"(no heartbeat since {heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); it was probably killed."
        )
        with transaction.atomic():
            if build_move(pk, BuildStatus.FAILED, reason=reason, finished_at=now):
                build_log_append(build_id=pk, lines=[f"ERROR: {reason}"])
                event_publish(job=job_key("build", pk), kind=EventKind.FAILED, text=reason)
                audit_log_record(
                    action="build.fail",
                    target=Build.objects.get(pk=pk),
                    source=AuditSource.WORKER,
                    details={"reason": reason},
                )
                count += 1
    return count
