"""Registries and the images workspaces may be created from."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models

from mgmt.crypto import EncryptedTextField

# An image reference as Docker accepts it: [registry[:port]/]name[/name…][:tag] (no digests here).
# Always fullmatch, ASCII only (`$` would let a trailing newline through, `\d` other digits).
IMAGE_REF_RE = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?",
    re.ASCII,
)


def validate_image_ref(value: str) -> None:
    if not isinstance(value, str) or len(value) > 255 or not IMAGE_REF_RE.fullmatch(value):
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


class RegistryQuerySet(models.QuerySet):
    def default(self) -> Registry | None:
        return self.filter(is_default=True).first()


class Registry(models.Model):
    """A Docker registry that builds push to and hosts pull from (Registry HTTP API v2).

    The password (or token) is encrypted at rest and never leaves the platform
    except towards the registry itself and, for a pull or push, the agent.
    """

    name = models.CharField(max_length=64, unique=True)
    url = models.CharField(max_length=255, help_text="scheme://host[:port], validated by the service.")
    username = models.CharField(max_length=255, blank=True, default="")
    password = EncryptedTextField(help_text="Password or token; encrypted at rest, never shown.")
    is_default = models.BooleanField(
        default=False, help_text="Used when a build or pull names none. At most one (kept so by the service)."
    )
    verify_tls = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RegistryQuerySet.as_manager()

    class Meta:
        ordering = ["-is_default", "name"]
        verbose_name_plural = "registries"

    def __str__(self) -> str:
        return self.name

    @property
    def host(self) -> str:
        """host[:port], the prefix of image references in this registry."""
        return urlsplit(self.url).netloc

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password)

    def agent_credentials(self) -> dict[str, str]:
        """What the agent needs for a pull or push (sent in a signed request body only)."""
        return {"url": self.url, "username": self.username, "password": self.password}
