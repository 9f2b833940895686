"""What cleanup and reconciliation keep: the admin's cleanup policy, reconcile runs, route activity."""

from __future__ import annotations

from django.db import models


class CleanupPolicy(models.Model):
    """The one row of cleanup switches an admin turns on in the admin (pk is always 1)."""

    prune_unused_images = models.BooleanField(
        default=False,
        help_text="Delete images no container uses and no allowed image names from every server, daily.",
    )
    image_prune_repositories = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="Comma-separated repository prefixes (e.g. 'registry:5000/team/'): only their images "
        "are pruned. Empty: every unused image.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "cleanup policy"
        verbose_name_plural = "cleanup policy"

    def __str__(self) -> str:
        return "Cleanup policy"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @property
    def repository_prefixes(self) -> list[str]:
        return [p.strip() for p in self.image_prune_repositories.split(",") if p.strip()]


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    CLEAN = "clean", "Clean (no drift)"
    DRIFT = "drift", "Drift found"
    PARTIAL = "partial", "Some servers unreachable"
    FAILED = "failed", "Failed"


class ReconcileRun(models.Model):
    """One run of the reconciler: every difference found, what was done, which servers did not answer."""

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    server_name = models.CharField(max_length=100, blank=True, default="", help_text="Only this server.")
    trigger = models.CharField(max_length=20, default="beat", help_text="beat, command or api")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    # [{kind, server, subject, detail, action, outcome}]
    findings = models.JSONField(default=list, blank=True)
    # [{server, reason}]
    unreachable = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"reconcile {self.started_at:%Y-%m-%d %H:%M:%S} ({self.get_status_display()})"

    @property
    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for finding in self.findings:
            totals[finding["kind"]] = totals.get(finding["kind"], 0) + 1
        return totals
