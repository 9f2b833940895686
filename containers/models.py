"""Workspaces: one person's container, folder and routes on a Docker host."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import User


class WorkspaceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROVISIONING = "provisioning", "Provisioning"
    ACTIVE = "active", "Active"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"
    DELETING = "deleting", "Deleting"


# Statuses whose resources count against a server's capacity.
RESERVING_STATUSES = (
    WorkspaceStatus.PENDING,
    WorkspaceStatus.PROVISIONING,
    WorkspaceStatus.ACTIVE,
    WorkspaceStatus.STOPPED,
    WorkspaceStatus.DELETING,
)


class WorkspaceQuerySet(models.QuerySet):
    # No visible_to(): the scoped viewset falls back to guardian (owner object perms, admin global).

    def live(self) -> WorkspaceQuerySet:
        """Workspaces that hold (or are about to hold) a container on their server."""
        return self.filter(status__in=RESERVING_STATUSES)


class Workspace(models.Model):
    """A person's workspace. One per person for now; unique per owner + name so more can come."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=32, default="default")
    # SET_NULL: the servers app refuses deleting a server with live workspaces (a registered finder).
    server = models.ForeignKey(
        "servers.Server", null=True, blank=True, on_delete=models.SET_NULL, related_name="workspaces"
    )
    container_id = models.CharField(max_length=80, blank=True, default="")
    container_name = models.CharField(max_length=128, blank=True, default="")
    image = models.CharField(max_length=255)
    cpu = models.FloatField(default=1.0, help_text="CPUs (may be fractional).")
    memory = models.BigIntegerField(default=2 * 1024**3, help_text="Memory limit in bytes.")
    gpus = models.PositiveIntegerField(default=0)
    vscode_port = models.PositiveIntegerField(null=True, blank=True)
    jupyter_port = models.PositiveIntegerField(null=True, blank=True)
    upstream_host = models.CharField(
        max_length=253, blank=True, default="", help_text="Where nginx reaches the published ports."
    )
    folder_path = models.CharField(max_length=1024, blank=True, default="")
    # True when this provisioning created the folder: only then does a failed attempt remove it.
    folder_created = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=WorkspaceStatus.choices, default=WorkspaceStatus.PENDING, db_index=True
    )
    status_reason = models.CharField(max_length=1000, blank=True, default="")
    # Saga bookkeeping: which step runs now (shown while provisioning) and how often it was tried.
    step = models.CharField(max_length=32, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["owner__username", "name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="workspace_owner_name_unique"),
            models.UniqueConstraint(
                fields=["server", "vscode_port"], name="workspace_server_vscode_port_unique"
            ),
            models.UniqueConstraint(
                fields=["server", "jupyter_port"], name="workspace_server_jupyter_port_unique"
            ),
        ]
        permissions = [("operate_workspace", "Start, stop and restart the workspace")]

    def __str__(self) -> str:
        return f"{self.owner.username}/{self.name}" if self.owner_id else self.name

    @property
    def username(self) -> str:
        return self.owner.username

    def route_prefix(self, app: str) -> str:
        return f"/{self.owner.username}/{app}/"


class PendingUser(User):
    """Sign-ups waiting for approval, as their own list in the admin (approve action there)."""

    class Meta:
        proxy = True
        verbose_name = "pending sign-up"
        verbose_name_plural = "pending sign-ups"
