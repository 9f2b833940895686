"""Docker hosts and their stats history."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from mgmt.crypto import EncryptedTextField


class ServerStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    DEGRADED = "degraded", "Degraded"  # the agent answers, something behind it does not
    DRAINING = "draining", "Draining"  # set by an operator: no new workspaces here


class ServerQuerySet(models.QuerySet):
    def schedulable(self) -> ServerQuerySet:
        """Servers that may receive new workspaces."""
        return self.filter(status=ServerStatus.ONLINE)


class Server(models.Model):
    """One Docker host with its agent. Secrets are encrypted at rest and never serialized."""

    name = models.CharField(max_length=64, unique=True)
    address = models.CharField(max_length=253, help_text="IP address or DNS name of the agent.")
    agent_port = models.PositiveIntegerField(default=5005)
    agent_tls = models.BooleanField(default=False, help_text="Talk to the agent over HTTPS.")
    agent_secret = EncryptedTextField(help_text="Shared HMAC secret of the host's agent.")
    ssh_user = models.CharField(max_length=64, blank=True, default="")
    ssh_port = models.PositiveIntegerField(default=22)
    ssh_private_key = EncryptedTextField(help_text="PEM/OpenSSH private key for operator actions.")
    ssh_password = EncryptedTextField(help_text="Password, when no key is used.")
    ssh_host_key_fingerprint = models.CharField(
        max_length=128, blank=True, default="", help_text='Pinned host key, e.g. "SHA256:…".'
    )
    status = models.CharField(
        max_length=16, choices=ServerStatus.choices, default=ServerStatus.OFFLINE, db_index=True
    )
    status_detail = models.CharField(max_length=255, blank=True, default="")
    last_seen = models.DateTimeField(null=True, blank=True)
    # Capacity from the last stats answer.
    cpu_count = models.PositiveIntegerField(null=True, blank=True)
    memory_total = models.BigIntegerField(null=True, blank=True)
    disk_total = models.BigIntegerField(null=True, blank=True)
    gpu_count = models.PositiveIntegerField(null=True, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ServerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def agent_url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        scheme = "https" if self.agent_tls else "http"
        return f"{scheme}://{host}:{self.agent_port}"


class ServerStats(models.Model):
    """One sample of a host's figures, written by the periodic poll; pruned after the retention."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="stats_history")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    cpu_percent = models.FloatField(null=True, blank=True)
    load1 = models.FloatField(null=True, blank=True)
    memory_used = models.BigIntegerField(null=True, blank=True)
    memory_total = models.BigIntegerField(null=True, blank=True)
    disk_used = models.BigIntegerField(null=True, blank=True)
    disk_total = models.BigIntegerField(null=True, blank=True)
    gpu_count = models.PositiveIntegerField(default=0)
    gpu_util_percent = models.FloatField(null=True, blank=True, help_text="Mean over the GPUs.")
    containers_running = models.PositiveIntegerField(null=True, blank=True)
    containers_total = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["server", "at"])]
        verbose_name_plural = "server stats"

    def __str__(self) -> str:
        return f"{self.server_id} @ {self.at:%Y-%m-%d %H:%M}"

    @property
    def memory_percent(self) -> float | None:
        return _percent(self.memory_used, self.memory_total)

    @property
    def disk_percent(self) -> float | None:
        return _percent(self.disk_used, self.disk_total)


def _percent(used: int | None, total: int | None) -> float | None:
    if used is None or not total:
        return None
    return round(100.0 * used / total, 1)
