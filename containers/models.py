"""Workspaces: one person's container, folder and routes on a Docker host."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import User


class WorkspaceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROVISIONING = "provisioning", "Provisioning"
    # The container runs; its apps do not answer yet (status_reason says which).
    STARTING = "starting", "Starting"
    ACTIVE = "active", "Active"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"
    DELETING = "deleting", "Deleting"
    # Being moved to another host (`moving_to`); it answers again on the same URL once moved.
    MOVING = "moving", "Moving"


# Statuses whose resources count against a server's capacity.
RESERVING_STATUSES = (
    WorkspaceStatus.PENDING,
    WorkspaceStatus.PROVISIONING,
    WorkspaceStatus.STARTING,
    WorkspaceStatus.ACTIVE,
    WorkspaceStatus.STOPPED,
    WorkspaceStatus.DELETING,
    WorkspaceStatus.MOVING,
)


class WorkspaceQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> WorkspaceQuerySet:
        """Owners through their object permissions; operators through the global permission their
        role grants (the permission matrix's roles, accounts/roles.py)."""
        from guardian.shortcuts import get_objects_for_user

        if user is None or not user.is_authenticated:
            return self.none()
        return get_objects_for_user(user, "containers.view_workspace", klass=self, accept_global_perms=True)

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
    # While `moving`: the host it goes to (its server stays the source until the switch).
    moving_to = models.ForeignKey(
        "servers.Server", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
    created_at = models.DateTimeField(default=timezone.now, db_index=True)  # newest first, at scale
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


class Route(models.Model):
    """The seed's per-user nginx route, kept here: nginx asks for it (cached) on each request,
    so adding, moving or removing a route needs no nginx reload."""

    username = models.CharField(max_length=32, unique=True)
    workspace = models.OneToOneField(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="route"
    )
    vscode_host = models.CharField(max_length=253)
    vscode_port = models.PositiveIntegerField()
    jupyter_host = models.CharField(max_length=253)
    jupyter_port = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    def upstream(self, app: str) -> tuple[str, int]:
        if app == "vscode":
            return self.vscode_host, self.vscode_port
        return self.jupyter_host, self.jupyter_port


class PortHold(models.Model):
    """A host port a route pointed at until moments ago, kept from new workspaces for a while.

    nginx keeps a verify answer, upstream included, for EDGE_AUTH_CACHE_SECONDS (longer while
    a refresh is under way). A port given to someone else within that time would take the
    previous owner's still-cached requests to the new owner's container."""

    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField()
    until = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "port"], name="containers_porthold_host_port")]

    def __str__(self) -> str:
        return f"{self.host}:{self.port} until {self.until:%H:%M:%S}"


class EdgeTicket(models.Model):
    """A single-use, seconds-long ticket for one workspace host (the redirect handshake).

    Only its hash is stored; it is bound to the host, the platform session that asked for it
    and the state cookie of the browser that started the handshake.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    state_hash = models.CharField(max_length=64)
    host = models.CharField(max_length=253)
    session = models.ForeignKey("accounts.UserSession", on_delete=models.CASCADE, related_name="+")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    next_path = models.CharField(max_length=2048, default="/")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"ticket for {self.host}"


class EdgeSession(models.Model):
    """What a workspace host's cookie stands for: (person, workspace, host, expiry).

    Stored hashed. It dies with the platform session (logout, password reset), the account
    (disabled: checked on every verify; deleted: cascade) and the workspace (cascade).
    """

    token_hash = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=253)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey("accounts.UserSession", on_delete=models.CASCADE, related_name="+")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="edge_sessions")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.host} ({self.user_id})"


class RouteActivity(models.Model):
    """When a request last went through a person's workspace (written by the edge's verify)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="route_activity"
    )
    last_request_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "route activity"

    def __str__(self) -> str:
        return f"{self.user_id} at {self.last_request_at:%Y-%m-%d %H:%M:%S}"


class PendingUser(User):
    """Sign-ups waiting for approval, as their own list in the admin (approve action there)."""

    class Meta:
        proxy = True
        verbose_name = "pending sign-up"
        verbose_name_plural = "pending sign-ups"
