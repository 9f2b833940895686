"""The cleanup jobs: each a plain function with a dry run, called by its task and its command.

Every job returns a `CleanupReport` (what it deleted, or with `dry_run` what it
would delete) and audits what it really removed. Network peers that do not
answer are reported in `errors` and never stop the job for the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.services import sessions_purge_expired
from audit.models import AuditSource
from audit.services import audit_log_purge, audit_log_record
from builds.models import GuestUpload
from builds.services.uploads import upload_delete, upload_root
from containers.models import Workspace
from mgmt.exceptions import ApplicationError, ValidationFailed
from registry.selectors import allowed_workspace_images
from registry.services import server_image_prune
from servers.clients.agent import AgentClient
from servers.models import Server
from servers.services.stats import server_stats_prune

from .models import CleanupPolicy


@dataclass
class CleanupReport:
    job: str
    dry_run: bool
    count: int = 0
    items: list[str] = field(default_factory=list)  # what was (or would be) removed, for people
    errors: list[str] = field(default_factory=list)  # what could not be done, and why
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "dry_run": self.dry_run,
            "count": self.count,
            "items": self.items,
            "errors": self.errors,
            "note": self.note,
        }


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


# --- sessions, audit log, stats history -------------------------------------------------------
def cleanup_sessions(*, dry_run: bool = False, now: datetime | None = None) -> CleanupReport:
    count = sessions_purge_expired(dry_run=dry_run, now=_now(now))
    return CleanupReport(
        job="sessions", dry_run=dry_run, count=count, note=f"retention {settings.SESSION_RETENTION_DAYS} days"
    )


def cleanup_audit_logs(*, dry_run: bool = False, now: datetime | None = None) -> CleanupReport:
    days = settings.AUDIT_RETENTION_DAYS
    if days <= 0:
        return CleanupReport(job="audit-logs", dry_run=dry_run, note="AUDIT_RETENTION_DAYS=0: kept forever")
    count = audit_log_purge(before=_now(now) - timedelta(days=days), dry_run=dry_run)
    return CleanupReport(job="audit-logs", dry_run=dry_run, count=count, note=f"retention {days} days")


def cleanup_stats_history(*, dry_run: bool = False, now: datetime | None = None) -> CleanupReport:
    count = server_stats_prune(now=_now(now), dry_run=dry_run)
    return CleanupReport(
        job="stats-history",
        dry_run=dry_run,
        count=count,
        note=f"retention {settings.SERVER_STATS_RETENTION_DAYS} days",
    )


# --- abandoned uploads ---------------------------------------------------------------------------
_PARTIAL_FILE_RE = re.compile(r"^([0-9a-f]{32})\.[a-z0-9.]+\.part$")


def cleanup_uploads(*, dry_run: bool = False, now: datetime | None = None) -> CleanupReport:
    """Uploads unfinished for UPLOAD_ABANDONED_HOURS (row and partial file), and stray partial files."""
    report = CleanupReport(job="uploads", dry_run=dry_run, note=f"after {settings.UPLOAD_ABANDONED_HOURS} h")
    cutoff = _now(now) - timedelta(hours=settings.UPLOAD_ABANDONED_HOURS)
    for upload in GuestUpload.objects.abandoned(before=cutoff):
        report.items.append(f"upload {upload.pk} ({upload.filename}, {upload.received}/{upload.size} bytes)")
        if not dry_run:
            with transaction.atomic():
                upload_delete(upload=upload, actor=None)  # audits and removes the file after commit
    # Partial files whose row is gone (e.g. a row deleted while its chunk was being written).
    known = {u.hex for u in GuestUpload.objects.values_list("id", flat=True)}
    for path in sorted(upload_root().iterdir()):
        match = _PARTIAL_FILE_RE.match(path.name)
        if not match or match.group(1) in known or not path.is_file() or path.is_symlink():
            continue
        if datetime.fromtimestamp(path.stat().st_mtime, tz=cutoff.tzinfo) >= cutoff:
            continue
        report.items.append(f"partial file {path.name} without an upload")
        if not dry_run:
            path.unlink(missing_ok=True)
            audit_log_record(
                action="upload.purge_file", details={"file": path.name}, source=AuditSource.SYSTEM
            )
    report.count = len(report.items)
    return report


# --- unused images -------------------------------------------------------------------------------
_REPOSITORY_PREFIX_RE = re.compile(r"[a-z0-9][a-z0-9._:/-]{0,254}", re.ASCII)


def cleanup_policy_get() -> CleanupPolicy:
    policy, _ = CleanupPolicy.objects.get_or_create(pk=1)
    return policy


@transaction.atomic
def cleanup_policy_update(
    *,
    actor: Any,
    prune_unused_images: bool,
    image_prune_repositories: str,
    source: AuditSource = AuditSource.ADMIN,
) -> CleanupPolicy:
    """Set the cleanup switches (the admin's one row); audited with what changed."""
    prefixes = [p.strip() for p in image_prune_repositories.split(",") if p.strip()]
    bad = [p for p in prefixes if not _REPOSITORY_PREFIX_RE.fullmatch(p)]
    if bad:
        raise ValidationFailed(
            f"image_prune_repositories: {bad[0][:80]!r} is not a repository prefix like registry:5000/team/."
        )
    policy, _ = CleanupPolicy.objects.select_for_update().get_or_create(pk=1)
    wanted = {
        "prune_unused_images": bool(prune_unused_images),
        "image_prune_repositories": ", ".join(prefixes),
    }
    changes = {k: [getattr(policy, k), v] for k, v in wanted.items() if getattr(policy, k) != v}
    for key, (_, value) in changes.items():
        setattr(policy, key, value)
    policy.save()
    audit_log_record(
        action="cleanup_policy.update",
        actor=actor,
        target=policy,
        details={"changes": changes},
        source=source,
    )
    return policy


def _normalized(reference: str) -> str:
    """`team/ide` and `team/ide:latest` name the same image; digests are kept as they are."""
    if "@" in reference or ":" in reference.rsplit("/", 1)[-1]:
        return reference
    return f"{reference}:latest"


def _images_in_use_by_workspaces() -> set[str]:
    """Image names the database's workspaces use, whatever their state (a stopped one starts again)."""
    return {_normalized(name) for name in Workspace.objects.values_list("image", flat=True).distinct()}


def cleanup_images(
    *, dry_run: bool = False, now: datetime | None = None, servers: list[Server] | None = None
) -> CleanupReport:
    """Delete images no container uses from every server, when the admin's policy enables it.

    Kept: images any container uses (the agent refuses those too), allowed workspace images, images
    of workspaces, images younger than IMAGE_PRUNE_MIN_AGE_HOURS, and, when the policy names
    repository prefixes, every image outside them. Unreachable servers are reported and skipped.
    """
    report = CleanupReport(job="images", dry_run=dry_run)
    policy = cleanup_policy_get()
    if not policy.prune_unused_images:
        report.note = "disabled (enable 'prune unused images' in the admin's cleanup policy)"
        return report
    keep = {_normalized(name) for name in allowed_workspace_images()} | _images_in_use_by_workspaces()
    keep.add(_normalized(settings.WORKSPACE_DEFAULT_IMAGE))
    prefixes = policy.repository_prefixes
    youngest = _now(now) - timedelta(hours=settings.IMAGE_PRUNE_MIN_AGE_HOURS)
    for server in servers if servers is not None else Server.objects.order_by("name"):
        client = AgentClient.for_server(server)
        try:
            images = client.list_images()
        except ApplicationError as exc:
            report.errors.append(f"{server.name}: skipped, {exc.message}")
            continue
        for image in images:
            tags = [str(t) for t in image.get("tags") or []]
            created = parse_datetime(str(image.get("created") or ""))
            if image.get("in_use") or any(_normalized(t) in keep for t in tags):
                continue
            if created is None or created >= youngest:
                continue
            if prefixes and not any(t.startswith(tuple(prefixes)) for t in tags):
                continue
            label = f"{server.name}: {', '.join(tags) or image['id'][:19]}"
            if dry_run:
                report.items.append(label)
                continue
            try:
                server_image_prune(server=server, image_id=image["id"], tags=tags)
            except ApplicationError as exc:  # e.g. 409: a container started using it meanwhile
                report.errors.append(f"{label}: {exc.message}")
                continue
            report.items.append(label)
    report.count = len(report.items)
    return report
