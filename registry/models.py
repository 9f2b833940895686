"""Registries and the images workspaces may be created from."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

# An image reference as Docker accepts it: [registry[:port]/]name[/name…][:tag] (no digests here).
IMAGE_REF_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)


def validate_image_ref(value: str) -> None:
    if len(value) > 255 or not IMAGE_REF_RE.match(value):
        raise ValidationError(f"{value!r} is not an image reference like registry:5000/team/image:tag.")


class AllowedImage(models.Model):
    """An image that workspaces may be created from (managed by admins, offered at approval)."""

    name = models.CharField(max_length=255, unique=True, validators=[validate_image_ref])
    description = models.CharField(max_length=255, blank=True, default="")
    is_default = models.BooleanField(
        default=False,
        help_text="Offered first; used when approval names none. At most one (kept so by the service).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name
