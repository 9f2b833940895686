"""Celery tasks of the builds app; thin: they call services."""

from __future__ import annotations

from celery import shared_task

from .services.builds import builds_fail_abandoned
from .services.runner import build_run


@shared_task(bind=True, name="builds.tasks.build_run_task", ignore_result=True)
def build_run_task(self, build_id: int) -> str | None:
    """Run a queued build (routed to the `builds` queue). Safe to deliver twice: the claim is conditional."""
    build = build_run(build_id=build_id, worker=self.request.hostname or "")
    return build.status if build else None


@shared_task(name="builds.tasks.builds_fail_abandoned_task", ignore_result=True)
def builds_fail_abandoned_task() -> int:
    """Builds left `running` by a worker that died are marked failed with the reason."""
    return builds_fail_abandoned()
