"""Projects and image builds (the original's BuildService and project repository).

A build is created `queued` and handed to the `builds` Celery queue on commit.
`build_run` claims it with a conditional UPDATE (so it never runs twice), keeps
a heartbeat while it works, streams the agent's output into BuildLogLine rows
as it arrives, pushes when asked, and ends `succeeded`, `failed` (with the
reason) or `cancelled`. Every later status change is again conditional, so a
cancel or the abandoned-build sweep is never overwritten by a late worker.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm
from loguru import logger

from audit.services import audit_log_record
from events.models import EventKind
from events.services import event_publish, job_key
from mgmt.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied, ValidationFailed
from registry.clients import validate_repository, validate_tag
from registry.models import Registry
from registry.selectors import server_images_forget
from servers.agent_client import AgentClient
from servers.models import Server

from .models import (
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
from .uploads import upload_base_reference, upload_image_ensure, upload_root

_DOCKERFILE_MAX = 64 * 1024
_FROM_RE = re.compile(r"^\s*FROM\s", re.IGNORECASE | re.MULTILINE)
_PROJECT_PERMS = ("view_project", "build_in_project")
_FLUSH_LINES = 20
_FLUSH_SECONDS = 0.5
_LINE_MAX = 4000


# --- projects -------------------------------------------------------------------------
@transaction.atomic
def project_create(*, actor: Any, name: str, description: str = "") -> Project:
    if Project.objects.filter(name=name).exists():
        raise Conflict(f"name: a project called {name!r} exists already.")
    project = Project.objects.create(name=name, description=description, created_by=actor)
    if getattr(actor, "user_type", None) == "qvp":
        _member_grant(project, actor)
    audit_log_record(action="project.create", actor=actor, target=project, details={"name": name})
    return project


@transaction.atomic
def project_update(*, actor: Any, project: Project, description: str) -> Project:
    project.description = description
    project.save(update_fields=["description"])
    audit_log_record(action="project.update", actor=actor, target=project, details={"name": project.name})
    return project


@transaction.atomic
def project_delete(*, actor: Any, project: Project) -> None:
    if project.builds.filter(status__in=(BuildStatus.QUEUED, *ACTIVE_BUILD_STATUSES)).exists():
        raise Conflict("The project has builds that are still queued or running.")
    audit_log_record(action="project.delete", actor=actor, target=project, details={"name": project.name})
    project.delete()


def _member_grant(project: Project, user: Any) -> None:
    project.members.add(user)
    for perm in _PROJECT_PERMS:
        assign_perm(f"builds.{perm}", user, project)


@transaction.atomic
def project_member_add(*, actor: Any, project: Project, user: Any) -> Project:
    """Members are operators (admin or qvp): regular users have no access to builds at all."""
    if getattr(user, "user_type", None) not in ("admin", "qvp") or not user.is_active:
        raise Conflict(f"user: {user.username} is not an active operator (admin or qvp).")
    _member_grant(project, user)
    audit_log_record(
        action="project.member_add", actor=actor, target=project, details={"user": user.username}
    )
    return project


@transaction.atomic
def project_member_remove(*, actor: Any, project: Project, user: Any) -> Project:
    project.members.remove(user)
    for perm in _PROJECT_PERMS:
        remove_perm(f"builds.{perm}", user, project)
    audit_log_record(
        action="project.member_remove", actor=actor, target=project, details={"user": user.username}
    )
    return project


def _may_build_in(actor: Any, project: Project) -> bool:
    return getattr(actor, "user_type", None) == "admin" or actor.has_perm("builds.build_in_project", project)


# --- builds: create and cancel -------------------------------------------------------------
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
    if len(dockerfile.encode()) > _DOCKERFILE_MAX:
        raise ValidationFailed(f"dockerfile: longer than {_DOCKERFILE_MAX} bytes.")
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
            transaction.on_commit(lambda: _enqueue(build.pk))
    except Exception:
        if context_file:
            (_context_dir() / context_file).unlink(missing_ok=True)
        raise
    return build


def _enqueue(build_id: int) -> None:
    from .tasks import build_run_task

    build_run_task.delay(build_id)


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
    _build_end_published(build)
    return build


# --- builds: the log ----------------------------------------------------------------------
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


def _build_end_published(build: Build) -> None:
    """The end of the build's live stream: done when it succeeded, failed (with why) otherwise."""
    if build.status == BuildStatus.SUCCEEDED:
        event_publish(job=job_key("build", build.pk), kind=EventKind.DONE, text="Build succeeded.")
    elif build.is_final:
        reason = build.reason or f"The build is {build.get_status_display().lower()}."
        event_publish(job=job_key("build", build.pk), kind=EventKind.FAILED, text=reason)


# --- builds: running --------------------------------------------------------------------------
class _Stopped(Exception):
    """The build left the active states under the worker (cancelled, or failed by the sweep)."""


class _Heartbeat(threading.Thread):
    """Marks the build alive every BUILD_HEARTBEAT_SECONDS; notices a cancel or a sweep.

    Between beats it also flushes log lines that wait in the writer, so a step that
    prints a line and then stays silent still shows that line within half a second.
    """

    def __init__(self, build_id: int, client: AgentClient | None = None) -> None:
        super().__init__(name=f"build-{build_id}-heartbeat", daemon=True)
        self.build_id = build_id
        self.client = client
        self.log: _LogWriter | None = None
        self.finished = threading.Event()
        self.stopped = threading.Event()

    def run(self) -> None:
        next_beat = time.monotonic() + settings.BUILD_HEARTBEAT_SECONDS
        try:
            while not self.finished.wait(min(_FLUSH_SECONDS, settings.BUILD_HEARTBEAT_SECONDS)):
                if self.log is not None:
                    self.log.flush_if_stale()
                if time.monotonic() < next_beat:
                    continue
                next_beat = time.monotonic() + settings.BUILD_HEARTBEAT_SECONDS
                alive = Build.objects.filter(pk=self.build_id, status__in=ACTIVE_BUILD_STATUSES).update(
                    heartbeat_at=timezone.now()
                )
                if not alive:
                    self.stopped.set()
                    if self.client is not None:
                        self.client.abort_streams()  # even a step that prints nothing stops now
                    return
        except Exception as exc:  # the database went away: the sweep will judge the build
            logger.warning("Heartbeat of build {} failed: {!r}", self.build_id, exc)
        finally:
            connection.close()


class _LogWriter:
    """Buffers lines and writes them in small batches, so readers see them within half a second.

    The build's thread adds lines; the heartbeat thread flushes lines left waiting.
    """

    def __init__(self, build_id: int, heartbeat: _Heartbeat) -> None:
        self.build_id = build_id
        self.heartbeat = heartbeat
        self.buffer: list[str] = []
        self.last = time.monotonic()
        self.lock = threading.Lock()  # keeps line numbers in arrival order across both threads
        heartbeat.log = self

    def add(self, line: str) -> None:
        with self.lock:
            self.buffer.append(line)
            due = len(self.buffer) >= _FLUSH_LINES or time.monotonic() - self.last >= _FLUSH_SECONDS
        if due:
            self.flush()
        if self.heartbeat.stopped.is_set():
            raise _Stopped

    def flush_if_stale(self) -> None:
        if self.buffer and time.monotonic() - self.last >= _FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            lines, self.buffer = self.buffer, []
            self.last = time.monotonic()
            build_log_append(build_id=self.build_id, lines=lines)


def _move(build_id: int, to: str, *, source: tuple[str, ...] = ACTIVE_BUILD_STATUSES, **fields: Any) -> bool:
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
            if _move(pk, BuildStatus.FAILED, reason=reason, finished_at=now):
                build_log_append(build_id=pk, lines=[f"ERROR: {reason}"])
                event_publish(job=job_key("build", pk), kind=EventKind.FAILED, text=reason)
                audit_log_record(
                    action="build.fail",
                    target=Build.objects.get(pk=pk),
                    source="celery",
                    details={"reason": reason},
                )
                count += 1
    return count


def build_run(*, build_id: int, worker: str = "") -> Build | None:
    """Run one queued build to its end; None when it was not queued (claimed elsewhere, cancelled)."""
    builds_fail_abandoned()
    now = timezone.now()
    claimed = Build.objects.filter(pk=build_id, status=BuildStatus.QUEUED).update(
        status=BuildStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker or socket.gethostname()
    )
    if not claimed:
        return None
    build = Build.objects.select_related("server", "registry", "base_upload").get(pk=build_id)
    client = AgentClient.for_server(build.server) if build.server else None
    heartbeat = _Heartbeat(build_id, client)
    heartbeat.start()
    log = _LogWriter(build_id, heartbeat)
    try:
        _run_steps(build, client, log)
    except _Stopped:
        log.buffer.append("Stopped: the build was cancelled.")
    except ApplicationError as exc:
        if heartbeat.stopped.is_set():  # the stream was cut because the build was cancelled
            log.buffer.append("Stopped: the build was cancelled.")
        else:
            _fail(build, log, exc.message)
    except Exception as exc:  # a bug or an unexpected answer: the build still ends, with the reason
        logger.exception("Build {} failed unexpectedly", build_id)
        _fail(build, log, f"Unexpected error: {type(exc).__name__}.")
    finally:
        heartbeat.finished.set()
        heartbeat.join(timeout=5)
        log.flush()
        if build.context_file:
            build_context_path(build).unlink(missing_ok=True)
        if build.server_id:
            server_images_forget(build.server)
        close_old_connections()
    build.refresh_from_db()
    _build_end_published(build)
    return build


def _fail(build: Build, log: _LogWriter, reason: str) -> None:
    log.buffer.append(f"ERROR: {reason}")
    log.flush()
    with transaction.atomic():
        if _move(build.pk, BuildStatus.FAILED, reason=reason[:1000], finished_at=timezone.now()):
            audit_log_record(
                action="build.fail",
                target=build,
                source="celery",
                server_id=build.server_id,
                details={"reference": build.reference, "reason": reason[:500]},
            )


def _run_steps(build: Build, client: AgentClient | None, log: _LogWriter) -> None:
    if build.server is None or client is None:
        raise ValidationFailed("The build's server was removed.")
    log.add(f"Building {build.reference} on {build.server.name} ({build.get_source_display()}).")
    if build.source == BuildSource.CONTEXT:
        events = client.build_image_from_context(
            context_tar=build_context_path(build).read_bytes(), tag=build.reference
        )
    else:
        dockerfile = build.dockerfile
        if build.source == BuildSource.UPLOAD:
            if build.base_upload is None:
                raise NotFound("The guest OS upload this build starts from was deleted.")
            base = upload_base_reference(build.base_upload)
            log.add(f"Base image {base} from upload {build.base_upload.filename}.")
            upload_image_ensure(upload=build.base_upload, server=build.server, tag=base)
            dockerfile = f"FROM {base}\n{dockerfile}"
        events = client.build_image(dockerfile=dockerfile, tag=build.reference)
    image_id = _consume(events, log, "built")["image_id"]
    Build.objects.filter(pk=build.pk).update(image_id=image_id or "")
    digest = ""
    if build.push and build.registry is not None:
        if not _move(build.pk, BuildStatus.PUSHING, source=(BuildStatus.RUNNING,)):
            raise _Stopped
        log.add(f"Pushing {build.reference} to {build.registry.name}.")
        events = client.push_image(build.reference, registry=build.registry.agent_credentials())
        digest = _consume(events, log, "pushed")["digest"] or ""
    log.add(f"Done: {build.reference} {image_id}{' ' + digest if digest else ''}.")
    log.flush()
    with transaction.atomic():
        if not _move(build.pk, BuildStatus.SUCCEEDED, digest=digest, finished_at=timezone.now()):
            raise _Stopped
        audit_log_record(
            action="build.succeed",
            target=build,
            source="celery",
            server_id=build.server_id,
            details={"reference": build.reference, "image_id": image_id, "digest": digest},
        )


def _consume(events: Iterator[dict[str, Any]], log: _LogWriter, what: str) -> dict[str, Any]:
    """Write every `{line}` as it arrives; the last event is `{done, …}` or `{error}`."""
    try:
        for event in events:
            if "line" in event:
                log.add(str(event["line"]))
            elif "error" in event:
                raise ApplicationError(str(event["error"]))
            elif event.get("done"):
                return event
    finally:
        close = getattr(events, "close", None)
        if close:
            close()  # on a cancel this drops the connection; Docker stops the build
    raise ApplicationError(f"The agent's stream ended before the image was {what}.")
