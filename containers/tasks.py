"""Route changes run on the `edge` queue (CELERY_TASK_ROUTES): only the nginx host consumes it."""

from __future__ import annotations

from celery import shared_task

from containers import nginx


@shared_task
def routes_apply(
    username: str, vscode_host: str, vscode_port: int, jupyter_host: str, jupyter_port: int
) -> str:
    path = nginx.add_user_route(
        username=username,
        vscode=nginx.Upstream(vscode_host, vscode_port),
        jupyter=nginx.Upstream(jupyter_host, jupyter_port),
    )
    return str(path)


@shared_task
def routes_remove(username: str) -> bool:
    return nginx.remove_user_route(username=username)
