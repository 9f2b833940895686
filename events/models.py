"""One stream of events per long job (a workspace's provisioning and start/stop, a build …)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class EventKind(models.TextChoices):
    STEP = "step"  # a step began: data has step, index, total
    LOG = "log"  # a line of output
    DONE = "done"  # the job finished well: the stream ends
    FAILED = "failed"  # the job failed: text is the reason; the stream ends


class JobEvent(models.Model):
    """The id orders a job's events and is the SSE event id a reconnect resumes after."""

    job = models.CharField(max_length=64, help_text='"<kind>:<id>", e.g. "workspace:12"')
    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=8, choices=EventKind.choices)
    text = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["job", "id"])]

    def __str__(self) -> str:
        return f"{self.job} #{self.pk} {self.kind}"
