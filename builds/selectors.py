from __future__ import annotations

from .models import GuestUpload, GuestUploadQuerySet


def upload_list() -> GuestUploadQuerySet:
    return GuestUpload.objects.select_related("created_by")
