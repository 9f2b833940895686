"""Guest OS uploads (and, later, builds)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class UploadKind(models.TextChoices):
    ROOTFS = "rootfs", "Root file system tarball"
    ISO = "iso", "ISO image"
    DISK = "disk", "Disk image"


class UploadStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    COMPLETE = "complete", "Complete"


class GuestUploadQuerySet(models.QuerySet):
    def complete(self) -> GuestUploadQuerySet:
        return self.filter(status=UploadStatus.COMPLETE)

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
