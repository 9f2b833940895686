"""Guest OS uploads, projects and image builds."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q


class UploadKind(models.TextChoices):
    ROOTFS = "rootfs", "Root file system tarball"
    ISO = "iso", "ISO image"
    DISK = "disk", "Disk image"


class UploadStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    COMPLETE = "complete", "Complete"


class GuestUploadQuerySet(models.QuerySet):
    def abandoned(self, *, before) -> GuestUploadQuerySet:
        return self.filter(status=UploadStatus.UPLOADING, updated_at__lt=before)


class GuestUpload(models.Model):
    """A large file sent in chunks; stored as `<UPLOAD_ROOT>/<id>.<ext>` (a generated name)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    filename = models.CharField(max_length=255, help_text="The name the uploader gave; display only.")
    kind = models.CharField(max_length=16, choices=UploadKind.choices)
    extension = models.CharField(max_length=16)
    size = models.BigIntegerField(help_text="Declared total size in bytes.")
    received = models.BigIntegerField(default=0, help_text="Bytes received from offset 0 without a gap.")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.UPLOADING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="uploads"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = GuestUploadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def stored_name(self) -> str:
        suffix = ".part" if self.status == UploadStatus.UPLOADING else ""
        return f"{self.id.hex}{self.extension}{suffix}"


# --- projects ---------------------------------------------------------------------
# RegexValidator searches: anchored with \A…\Z, since `$` would let a trailing newline through.
# Literal ranges only, so ASCII without re.ASCII (which Django's migration writer mangles).
PROJECT_NAME_RE = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")


def _operator_visible(queryset: models.QuerySet, user, qvp_rows: Q) -> models.QuerySet:
    """All rows for whoever manages images (admins), the rows `qvp_rows` selects for whoever may only
    build (a qvp: their projects'), none for others: the permission matrix decides."""
    from accounts.permissions import user_has_permission  # the matrix imports models

    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user_has_permission(user, "manage_images"):
        return queryset
    if user_has_permission(user, "build_images"):
        return queryset.filter(qvp_rows).distinct()
    return queryset.none()


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user) -> ProjectQuerySet:
        """Admins see every project; a qvp the projects they are a member of; others none."""
        return _operator_visible(self, user, Q(members=user))


class Project(models.Model):
    """Groups builds and their images; its members (guardian object permissions) see and build in it."""

    name = models.CharField(
        max_length=63,
        unique=True,
        validators=[RegexValidator(PROJECT_NAME_RE, "Lower-case letters, digits and '-'.")],
    )
    description = models.CharField(max_length=255, blank=True, default="")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="projects")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("build_in_project", "Can build images in the project")]

    def __str__(self) -> str:
        return self.name


# --- builds -------------------------------------------------------------------------
class BuildStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PUSHING = "pushing", "Pushing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_BUILD_STATUSES = (BuildStatus.RUNNING, BuildStatus.PUSHING)
FINAL_BUILD_STATUSES = (BuildStatus.SUCCEEDED, BuildStatus.FAILED, BuildStatus.CANCELLED)


class BuildSource(models.TextChoices):
    DOCKERFILE = "dockerfile", "Dockerfile text"
    CONTEXT = "context", "Context archive"
    UPLOAD = "upload", "Guest OS upload as the base"


class BuildQuerySet(models.QuerySet):
    def visible_to(self, user) -> BuildQuerySet:
        """Admins see every build; a qvp the builds of their projects and their own; others none."""
        return _operator_visible(self, user, Q(project__members=user) | Q(requested_by=user))


class Build(models.Model):
    """One image build on a server, optionally pushed to a registry; its log is in BuildLogLine."""

    repository = models.CharField(max_length=200, help_text="Image name without registry, e.g. team/app.")
    tag = models.CharField(max_length=128, default="latest")
    reference = models.CharField(
        max_length=255, help_text="Full reference built and pushed: [registry-host/]repository:tag."
    )
    source = models.CharField(max_length=16, choices=BuildSource.choices)
    dockerfile = models.TextField(blank=True, default="")
    context_file = models.CharField(
        max_length=64, blank=True, default="", help_text="Generated name of the stored context archive."
    )
    base_upload = models.ForeignKey(
        GuestUpload, null=True, blank=True, on_delete=models.SET_NULL, related_name="builds"
    )
    server = models.ForeignKey("servers.Server", null=True, on_delete=models.SET_NULL, related_name="builds")
    registry = models.ForeignKey(
        "registry.Registry", null=True, blank=True, on_delete=models.SET_NULL, related_name="builds"
    )
    push = models.BooleanField(default=False)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="builds"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="builds"
    )
    status = models.CharField(max_length=16, choices=BuildStatus.choices, default=BuildStatus.QUEUED)
    reason = models.CharField(max_length=1000, blank=True, default="", help_text="Why it failed or stopped.")
    image_id = models.CharField(max_length=80, blank=True, default="")
    digest = models.CharField(max_length=80, blank=True, default="")
    log_lines = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = BuildQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.reference} ({self.get_status_display()})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_BUILD_STATUSES


class BuildLogLine(models.Model):
    """One line of a build's output, numbered from 0 so readers can ask for what is new."""

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="lines")
    number = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["build", "number"]
        constraints = [models.UniqueConstraint(fields=["build", "number"], name="build_log_line_unique")]

    def __str__(self) -> str:
        return f"{self.build_id}:{self.number}"
