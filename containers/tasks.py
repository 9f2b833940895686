"""Thin Celery tasks of the workspace saga.

Queue (CELERY_TASK_ROUTES): `containers.tasks.*` run on `provisioning`. Routes are rows
that nginx reads through its auth subrequest, so no task has to run on the nginx host.
Each task hands over to the next with `.delay()` instead of waiting on a result.
"""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings

from containers import edge, services


# --- provisioning saga -----------------------------------------------------------------
@shared_task
def workspace_provision_task(workspace_id: int) -> bool:
    """Folder, ports, container; then the routes."""
    if services.workspace_provision(workspace_id=workspace_id):
        routes_workspace_publish.delay(workspace_id)
        return True
    return False


@shared_task
def routes_workspace_publish(workspace_id: int) -> str:
    """Routes, then `starting` until the apps answer; a failure runs the compensation."""
    outcome = services.workspace_routes_publish(workspace_id=workspace_id)
    if outcome is services.PublishOutcome.UNDO:
        workspace_provision_undo_task.delay(workspace_id)
    elif outcome is services.PublishOutcome.DONE:
        workspace_ready_task.delay(workspace_id)
    return outcome.value


_READY_AGAIN_SECONDS = 0.5


@shared_task
def workspace_ready_task(workspace_id: int, until: float | None = None) -> bool | None:
    """Active once both apps answer (bounded by WORKSPACE_READY_TIMEOUT).

    On a worker: one look per run, then the task comes back half a second later, so thirty slow
    starts never hold thirty worker slots (and never starve the approvals queued behind them).
    In-process (eager) it waits in place: there is no one to come back.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return services.workspace_ready(workspace_id=workspace_id)
    until = until or time.time() + settings.WORKSPACE_READY_TIMEOUT
    outcome = services.workspace_ready(workspace_id=workspace_id, until=until, once=True)
    if outcome is None:
        workspace_ready_task.apply_async((workspace_id, until), countdown=_READY_AGAIN_SECONDS)
    return outcome


@shared_task
def workspace_provision_undo_task(workspace_id: int) -> None:
    services.workspace_provision_undo(workspace_id=workspace_id)


# --- deletion ----------------------------------------------------------------------------
@shared_task
def routes_workspace_unpublish(workspace_id: int, delete_folder: bool, actor_id: int | None) -> bool:
    if services.workspace_routes_unpublish(workspace_id=workspace_id, actor_id=actor_id):
        workspace_teardown_task.delay(workspace_id, delete_folder, actor_id)
        return True
    return False


@shared_task
def workspace_teardown_task(workspace_id: int, delete_folder: bool, actor_id: int | None) -> bool:
    return services.workspace_teardown(
        workspace_id=workspace_id, delete_folder=delete_folder, actor_id=actor_id
    )


# --- the edge ----------------------------------------------------------------------------
@shared_task
def edge_purge_expired_task() -> int:
    """Delete expired handshake tickets and edge sessions (periodic; idempotent)."""
    return edge.edge_tickets_purge() + edge.edge_sessions_purge()
