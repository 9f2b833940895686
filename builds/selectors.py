from __future__ import annotations

from typing import Any

from .models import Build, BuildLogLine, GuestUpload, GuestUploadQuerySet, Project


def upload_list() -> GuestUploadQuerySet:
    return GuestUpload.objects.select_related("created_by")


def project_list(*, user: Any):
    return Project.objects.visible_to(user).prefetch_related("members").select_related("created_by")


def build_list(*, user: Any):
    return Build.objects.visible_to(user).select_related(
        "server", "registry", "project", "requested_by", "base_upload"
    )


def build_log_since(*, build: Build, since: int = 0, limit: int = 5000) -> dict[str, Any]:
    """Lines numbered `since` and later (at most `limit`), and the number to ask for next."""
    since = max(0, since)
    lines = list(
        BuildLogLine.objects.filter(build=build, number__gte=since)
        .order_by("number")
        .values_list("text", flat=True)[:limit]
    )
    return {"since": since, "next": since + len(lines), "lines": lines, "status": build.status}


def build_log_text(*, build: Build) -> str:
    return "\n".join(
        BuildLogLine.objects.filter(build=build).order_by("number").values_list("text", flat=True)
    )
