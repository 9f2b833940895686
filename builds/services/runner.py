"""The build runner: one queued build to its end, on a Celery worker of the `builds` queue.

`build_run` claims the build with a conditional UPDATE (so it never runs twice), keeps
a heartbeat while it works (`_Heartbeat`, a thread), streams the agent's output into
BuildLogLine rows as it arrives (`_LogWriter`), pushes when asked, and ends `succeeded`,
`failed` (with the reason) or `cancelled`. Every later status change is conditional
(`build_move`), so a cancel or the abandoned-build sweep is never overwritten by a late worker.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from loguru import logger

from audit.models import AuditSource
from audit.services import audit_log_record
from mgmt.exceptions import ApplicationError, NotFound, ValidationFailed
from registry.selectors import server_images_forget
from servers.clients.agent import AgentClient

from ..models import ACTIVE_BUILD_STATUSES, Build, BuildSource, BuildStatus
from .builds import (
    build_context_path,
    build_end_publish,
    build_log_append,
    build_move,
    builds_fail_abandoned,
)
from .uploads import upload_base_reference, upload_image_ensure

_FLUSH_LINES = 20
_FLUSH_SECONDS = 0.5


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
    build_end_publish(build)
    return build


def _fail(build: Build, log: _LogWriter, reason: str) -> None:
    log.buffer.append(f"ERROR: {reason}")
    log.flush()
    with transaction.atomic():
        if build_move(build.pk, BuildStatus.FAILED, reason=reason[:1000], finished_at=timezone.now()):
            audit_log_record(
                action="build.fail",
                target=build,
                source=AuditSource.WORKER,
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
        if not build_move(build.pk, BuildStatus.PUSHING, source=(BuildStatus.RUNNING,)):
            raise _Stopped
        log.add(f"Pushing {build.reference} to {build.registry.name}.")
        events = client.push_image(build.reference, registry=build.registry.agent_credentials())
        digest = _consume(events, log, "pushed")["digest"] or ""
    log.add(f"Done: {build.reference} {image_id}{' ' + digest if digest else ''}.")
    log.flush()
    with transaction.atomic():
        if not build_move(build.pk, BuildStatus.SUCCEEDED, digest=digest, finished_at=timezone.now()):
            raise _Stopped
        audit_log_record(
            action="build.succeed",
            target=build,
            source=AuditSource.WORKER,
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
