"""Thin Celery tasks of the containers app.

The sagas' steps (provisioning, deletion) all run through `workspace_step_task`, on the queue the
step table (containers/saga.py) names; each step queues the next instead of waiting on a result.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from containers import edge, nginx, saga


# --- the sagas: one generic task runs any step of the table in containers/saga.py ------------
@shared_task
def workspace_step_task(step: str, workspace_id: int, args: dict[str, Any] | None = None) -> str:
    """Run step `step` of a workspace's saga, then queue the step the table says comes next."""
    return saga.step_run(step, workspace_id, args or {}).value


# --- the edge ----------------------------------------------------------------------------
@shared_task
def edge_purge_expired_task() -> int:
    """Delete expired handshake tickets, edge sessions and port holds (periodic; idempotent)."""
    return edge.edge_tickets_purge() + edge.edge_sessions_purge() + nginx.port_holds_purge()
