"""The workspace sagas as one table: each step's action (a service), the queue it runs on, the step
after it and its compensation.

One generic Celery task (`containers.tasks.workspace_step_task`) runs a step and queues the next
one from this table; the reconciler runs the same table in-process (`saga_run_inline`) to finish
or roll back a workspace whose queued task was lost. Nothing else decides what comes next.

    provisioning:  provision ──► routes ──► ready          (approve queues `provision`)
                                   │
                                   └─ failed ──► undo     (`provision` and `ready` undo in place)
    deletion:      unpublish ──► teardown                 (delete queues `unpublish`)
    moving:        move                                   (undoes itself; move_abandon: reconciler)

A step ends in one of `Next`'s values. Transient agent failures (no answer at all) are retried
inside a step, bounded (services.AGENT_ATTEMPTS, with backoff); anything else, or the last
transient one, is the step's failure: provisioning rolls the attempt back and leaves the workspace
`failed` with the reason; deletion stops with the reason on the workspace and the account still
`deleting`, for "delete" again or the reconciler to finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings

from mgmt.queueing import task_named

from . import services

STEP_TASK = services.STEP_TASK
# A worker's next look at apps still starting: soon at first, then every 2 s at most (a real image
# takes a minute or more on a busy host, and every look costs the host and the broker a little).
READY_AGAIN_SECONDS = (0.5, 0.75, 1.0, 1.5, 2.0)


class Next(StrEnum):
    CONTINUE = "continue"  # run the table's next step
    COMPENSATE = "compensate"  # run the table's compensation
    AGAIN = "again"  # the same step again shortly (waiting without holding a worker)
    DONE = "done"  # the saga reached its end
    STOPPED = "stopped"  # nothing more to do: not ours (claimed elsewhere, state moved on) or failed


@dataclass(frozen=True)
class Step:
    action: Callable[[int, dict[str, Any], bool], tuple[Next, dict[str, Any]]]
    then: str | None = None
    compensation: str | None = None
    queue: str = "provisioning"


def _provision(workspace_id: int, args: dict[str, Any], inline: bool) -> tuple[Next, dict[str, Any]]:
    # Folder, container, ports; on a failure it has already undone its own attempt.
    return (Next.CONTINUE if services.workspace_provision(workspace_id=workspace_id) else Next.STOPPED), args


def _routes(workspace_id: int, args: dict[str, Any], inline: bool) -> tuple[Next, dict[str, Any]]:
    outcome = services.workspace_routes_publish(workspace_id=workspace_id)
    return {
        services.PublishOutcome.DONE: Next.CONTINUE,
        services.PublishOutcome.UNDO: Next.COMPENSATE,
        services.PublishOutcome.SKIPPED: Next.STOPPED,
    }[outcome], args


def _ready(workspace_id: int, args: dict[str, Any], inline: bool) -> tuple[Next, dict[str, Any]]:
    """In-process it waits in place (`timeout`, default WORKSPACE_READY_TIMEOUT); on a worker it
    looks once per run and comes back, so thirty slow starts never hold thirty worker slots."""
    if inline:
        ready = services.workspace_ready(workspace_id=workspace_id, timeout=args.get("timeout"))
        return (Next.DONE if ready else Next.STOPPED), args
    until = args.get("until") or time.time() + settings.WORKSPACE_READY_TIMEOUT
    outcome = services.workspace_ready(workspace_id=workspace_id, until=until, once=True)
    if outcome is None:
        return Next.AGAIN, {**args, "until": until, "looks": int(args.get("looks", 0)) + 1}
    return (Next.DONE if outcome else Next.STOPPED), args


def _undo(workspace_id: int, args: dict[str, Any], inline: bool) -> tuple[Next, dict[str, Any]]:
    services.workspace_provision_undo(workspace_id=workspace_id, reason=args.get("reason", ""))
    return Next.DONE, args


def _unpublish(workspace_id: int, args: dict[str, Any], inline: bool) -> tuple[Next, dict[str, Any]]:
    done = services.workspace_routes_unpublish(workspace_id=workspace_id, actor_id=args.get("actor_id"))
    return (Next.CONTINUE if done else Next.STOPPED), args


def _teardown(workspace_id: int, args: dict[str, Any], inline: bool) -> tuple[Next, dict[str, Any]]:
    done = services.workspace_teardown(
        workspace_id=workspace_id,
        delete_folder=bool(args.get("delete_folder")),
        actor_id=args.get("actor_id"),
    )
    return (Next.DONE if done else Next.STOPPED), args


def _move(workspace_id: int, args: dict[str, Any], inline: bool) -> tuple[Next, dict[str, Any]]:
    moved = services.workspace_move_run(workspace_id=workspace_id, was=args.get("was", "active"))
    return (Next.DONE if moved else Next.STOPPED), args


def _move_abandon(workspace_id: int, args: dict[str, Any], inline: bool) -> tuple[Next, dict[str, Any]]:
    services.workspace_move_abandon(workspace_id=workspace_id)
    return Next.DONE, args


# The one table. Every step runs on the provisioning queue: routes are rows nginx reads through its
# auth subrequest, so no step needs the nginx host.
STEPS: dict[str, Step] = {
    "provision": Step(_provision, then="routes"),
    "routes": Step(_routes, then="ready", compensation="undo"),
    "ready": Step(_ready),
    "undo": Step(_undo),
    "unpublish": Step(_unpublish, then="teardown"),
    "teardown": Step(_teardown),
    # A move is one step: stop, copy, start there, switch, clean up; it compensates in place.
    "move": Step(_move),
    "move_abandon": Step(_move_abandon),  # the reconciler's, for a move whose worker died
}


def _following(step: Step, outcome: Next) -> str | None:
    if outcome is Next.CONTINUE:
        return step.then
    if outcome is Next.COMPENSATE:
        return step.compensation
    return None


def step_enqueue(
    name: str, workspace_id: int, args: dict[str, Any] | None = None, countdown: float = 0
) -> None:
    """Queue step `name` on its queue (now, or `countdown` seconds later)."""
    task_named(STEP_TASK).apply_async(
        (name, workspace_id, args or {}), queue=STEPS[name].queue, countdown=countdown or None
    )


def step_run(name: str, workspace_id: int, args: dict[str, Any]) -> Next:
    """One step on a worker, then the next one queued (an eager run is in-process: it waits in place)."""
    step = STEPS[name]
    inline = bool(settings.CELERY_TASK_ALWAYS_EAGER)
    outcome, args = step.action(workspace_id, args, inline)
    if outcome is Next.AGAIN:
        looks = int(args.get("looks", 1))
        step_enqueue(
            name, workspace_id, args, countdown=READY_AGAIN_SECONDS[min(looks, len(READY_AGAIN_SECONDS)) - 1]
        )
    elif following := _following(step, outcome):
        step_enqueue(following, workspace_id, args)
    return outcome


def saga_run_inline(name: str, workspace_id: int, args: dict[str, Any] | None = None) -> Next:
    """Step `name` and every step the table says follows it, here and now (the reconciler's
    repairs); the last step's outcome."""
    args = dict(args or {})
    current: str | None = name
    outcome = Next.STOPPED
    while current is not None:
        step = STEPS[current]
        outcome, args = step.action(workspace_id, args, True)
        current = _following(step, outcome)
    return outcome
