"""Reads of the maintenance app (API, admin)."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import ReconcileRun


def reconcile_run_latest() -> ReconcileRun | None:
    return ReconcileRun.objects.first()


def reconcile_run_list() -> QuerySet[ReconcileRun]:
    return ReconcileRun.objects.all()
