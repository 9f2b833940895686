from __future__ import annotations

from django.conf import settings

from .models import AllowedImage


def allowed_workspace_images() -> list[str]:
    """Images workspaces may use: the admins' list, or the configured default when it is empty."""
    names = list(AllowedImage.objects.values_list("name", flat=True))
    return names or [settings.WORKSPACE_DEFAULT_IMAGE]


def default_workspace_image() -> str:
    default = AllowedImage.objects.filter(is_default=True).values_list("name", flat=True).first()
    if default:
        return default
    first = AllowedImage.objects.values_list("name", flat=True).first()
    return first or settings.WORKSPACE_DEFAULT_IMAGE
