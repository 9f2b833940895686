"""Workspaces: approval, the provisioning saga, operations and deletion (the original's
ContainerService, NginxService calls and the container part of UserService).

The saga (docs/workspaces.md) runs as chained Celery tasks so that no worker
ever waits on another task:

    approve (request)       → Workspace pending, task queued after commit
    workspace_provision     (queue `provisioning`) folder → container → ports
    workspace_routes_publish (queue `edge`, nginx host) routes → active + audit
    workspace_provision_undo (queue `provisioning`) when a step failed: remove
                            container and folder, status `failed` with the reason

Each step is idempotent (the folder is kept when present, the agent's create is
idempotent by name, route writes compare before they write), and a status
claim made with a conditional UPDATE makes sure one worker runs one attempt.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from loguru import logger

from accounts import services as account_services
from accounts.models import User, UserStatus
from accounts.roles import owner_permissions_grant
from audit.models import AuditSource, LogLevel
from audit.services import audit_log_record
from events.models import EventKind
from events.services import event_publish, job_key
from mgmt.db import atomic_retry
from mgmt.exceptions import ApplicationError, Conflict, ValidationFailed
from mgmt.queueing import enqueue_on_commit
from registry.selectors import allowed_workspace_images, default_workspace_image
from servers.clients.agent import AgentClient, AgentError, AgentUnavailable
from servers.models import Server

from . import edge, nginx, selectors
from .models import Workspace, WorkspaceStatus

OWNER_ACTIONS = ("view", "operate")
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

Result = TypeVar("Result")

# The saga's generic task (containers/saga.py holds the step table; services never import tasks).
STEP_TASK = "containers.tasks.workspace_step_task"


class ProvisionStep(StrEnum):
    FOLDER = "folder"
    CONTAINER = "container"
    PORTS = "ports"
    ROUTES = "routes"
    READY = "ready"
    UNDO = "undo"


class PublishOutcome(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"  # not ours to do (already active, being deleted, claimed elsewhere)
    UNDO = "undo"  # failed: the compensation must run on the provisioning queue


# --- helpers ---------------------------------------------------------------------------


def memory_parse(value: int | str | None) -> int:
    """Bytes from an int or a size like "2g", "512m", "1.5GiB"."""
    if value is None or value == "":
        return settings.WORKSPACE_DEFAULT_MEMORY
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        match = _MEMORY_RE.match(str(value))
        if not match:
            raise ValidationFailed(f"memory: {value!r} is not a size like 2g or 512m.")
        number = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])
    if number < 64 * 1024**2:
        raise ValidationFailed("memory: at least 64m.")
    return number


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    return f"unexpected error ({type(exc).__name__}); see the worker log"


# What the owner's page says while each step runs (events/: the workspace's live stream).
_STEP_TEXT = {
    ProvisionStep.FOLDER: "Creating the workspace folder",
    ProvisionStep.CONTAINER: "Creating the container",
    ProvisionStep.PORTS: "Reserving host ports",
    ProvisionStep.ROUTES: "Publishing the routes at the edge",
    ProvisionStep.READY: "Waiting for VS Code and Jupyter to answer",
}
_PROVISION_STEPS = list(_STEP_TEXT)


def _progress(workspace: Workspace, kind: EventKind, text: str, **data: object) -> None:
    event_publish(job=job_key("workspace", workspace.pk), kind=kind, text=text, **data)


def _step_published(workspace: Workspace, step: ProvisionStep) -> None:
    index = _PROVISION_STEPS.index(step) + 1
    _progress(
        workspace, EventKind.STEP, _STEP_TEXT[step], step=step.value, index=index, total=len(_STEP_TEXT)
    )


# A deletion's steps on the same stream (manage.py delete_user --wait follows them).
_TEARDOWN_STEPS = ("Removing the routes at the edge", "Removing the container", "Deleting the account")


def _teardown_step(workspace_id: int, index: int, text: str = "") -> None:
    event_publish(
        job=job_key("workspace", workspace_id),
        kind=EventKind.STEP,
        text=text or _TEARDOWN_STEPS[index - 1],
        index=index,
        total=len(_TEARDOWN_STEPS),
    )


def workspace_step_set(workspace: Workspace, step: ProvisionStep) -> None:
    """The provisioning moves on to `step` (recorded, then published). The one boundary between the
    steps: tests stop a provisioning here to play a worker killed mid-saga."""
    workspace.step = step.value
    Workspace.objects.filter(pk=workspace.pk).update(step=step.value)
    _step_published(workspace, step)


def _client(workspace: Workspace) -> AgentClient:
    if workspace.server is None:
        raise Conflict("The workspace has no server (it was removed); approve again to place it.")
    return AgentClient.for_server(workspace.server)


def _container_config(workspace: Workspace) -> dict[str, Any]:
    """What the agent creates. Each app has its own origin, so both serve at "/"; the host
    ports are the ones reserved for this workspace, so they survive a Docker restart."""
    username = nginx.validate_route_name(workspace.owner.username)
    return {
        "name": username,
        "image": workspace.image,
        "env": {
            "WORKSPACE_USER": username,
            "VSCODE_BASE_URL": "/",
            "JUPYTER_BASE_URL": "/",
            # The app's own origin (Jupyter's allow_origin, code-server's trusted origin).
            "VSCODE_ORIGIN": edge.workspace_url(username, "vscode", ""),
            "JUPYTER_ORIGIN": edge.workspace_url(username, "jupyter", ""),
        },
        "cpu": workspace.cpu,
        "memory": workspace.memory,
        "gpus": workspace.gpus,
        "ports": {
            str(settings.WORKSPACE_VSCODE_PORT): workspace.vscode_port,
            str(settings.WORKSPACE_JUPYTER_PORT): workspace.jupyter_port,
        },
        "folder": username,  # the host's folder of that name (its agent made it in the folder step)
        "labels": {"user": username, "workspace": str(workspace.pk)},
        # Never root: the unprivileged workspace user, the one the agent allows and the folder's owner.
        "user": f"{settings.WORKSPACE_UID}:{settings.WORKSPACE_GID}",
    }


def _host_ports_range() -> range:
    low, _, high = settings.WORKSPACE_HOST_PORTS.partition("-")
    return range(int(low), int(high) + 1)


def _free_ports(
    server: Server, *, exclude: Workspace | None = None, avoid: frozenset[int] = frozenset(), count: int = 2
) -> list[int]:
    """`count` random host ports on `server` that no other workspace there records, none of `avoid`
    and none a route left moments ago (nginx may still send their previous owner there). Random,
    so concurrent picks rarely collide; the unique constraint on the row has the last word."""
    records = Workspace.objects.filter(server=server)
    if exclude is not None:
        records = records.exclude(pk=exclude.pk)
    pairs = records.values_list("vscode_port", "jupyter_port")
    used = {port for pair in pairs for port in pair if port} | set(avoid) | nginx.ports_held()
    free = [port for port in _host_ports_range() if port not in used]
    if len(free) < count:
        raise Conflict(f"No free host ports left in {settings.WORKSPACE_HOST_PORTS} on {server.name}.")
    return random.sample(free, count)


def _ports_reserve(workspace: Workspace, *, avoid: frozenset[int] = frozenset()) -> None:
    """Reserve two host ports on the workspace's server (unique per server in the database); a
    collision with a concurrent reservation is picked again."""
    for _ in range(20):
        workspace.vscode_port, workspace.jupyter_port = _free_ports(
            workspace.server, exclude=workspace, avoid=avoid
        )
        try:
            with transaction.atomic():
                workspace.save(update_fields=["vscode_port", "jupyter_port", "updated_at"])
            return
        except IntegrityError:
            continue
    raise Conflict(f"Could not reserve host ports on {workspace.server}; try again.")


def _published(ports: dict[str, Any], container_port: int) -> tuple[str, int] | None:
    entry = (ports or {}).get(f"{container_port}/tcp")
    if isinstance(entry, list):  # Docker's own shape, should an agent pass it through
        entry = entry[0] if entry else None
    if not isinstance(entry, dict) or not entry.get("host_port"):
        return None
    return str(entry.get("host_ip") or ""), int(entry["host_port"])


def _upstream_host(workspace: Workspace, host_ip: str) -> str:
    """Where nginx reaches the port: the publish address, or the server's address for a wildcard."""
    if host_ip and host_ip not in ("0.0.0.0", "::", ""):  # noqa: S104 (a wildcard answer)
        return host_ip
    return workspace.server.address


def _ports_record(workspace: Workspace, ports: dict[str, Any]) -> None:
    vscode = _published(ports, settings.WORKSPACE_VSCODE_PORT)
    jupyter = _published(ports, settings.WORKSPACE_JUPYTER_PORT)
    if vscode is None or jupyter is None:
        raise Conflict("The container published no VS Code/Jupyter ports (it is not running; see its logs).")
    workspace.vscode_port, workspace.jupyter_port = vscode[1], jupyter[1]
    workspace.upstream_host = _upstream_host(workspace, vscode[0])
    try:
        with transaction.atomic():
            workspace.save(update_fields=["vscode_port", "jupyter_port", "upstream_host", "updated_at"])
    except IntegrityError as exc:
        raise Conflict(
            f"Port {vscode[1]} or {jupyter[1]} on {workspace.server} is recorded for another workspace; "
            "run the reconciler."
        ) from exc


AGENT_ATTEMPTS = 3  # tries of one agent call that gets no answer (docs/architecture.md)


def _transient_retry(call: Callable[[], Result]) -> Result:
    """`call()`, asked again (0.5 s, then 1 s later) while the agent does not answer at all: a
    host busy creating many containers may be slow. Every call retried here is idempotent (the
    agent creates by name; stop, delete and reads repeat harmlessly). An answer, even an error,
    is never retried here; the last AgentUnavailable is the step's failure."""
    for attempt in range(AGENT_ATTEMPTS):
        try:
            return call()
        except AgentUnavailable:
            if attempt + 1 == AGENT_ATTEMPTS:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _ports_query(client: AgentClient, container: str) -> dict[str, Any]:
    return _transient_retry(lambda: client.query_agent_port_info(container))


def _container_create(workspace: Workspace, client: AgentClient, attempts: int = 3) -> dict[str, Any]:
    """Create the container on freshly reserved host ports; a port something else on the
    host holds (the agent's 409) is avoided and the create tried again."""
    avoid: set[int] = set()
    for attempt in range(attempts):
        _ports_reserve(workspace, avoid=frozenset(avoid))
        try:
            return _transient_retry(lambda: client.create_container(_container_config(workspace)))
        except AgentError as exc:
            if exc.agent_status != 409 or "in use" not in exc.message or attempt + 1 == attempts:
                raise
            in_use = (exc.details or {}).get("ports_in_use") if isinstance(exc.details, dict) else None
            avoid |= set(in_use or (workspace.vscode_port, workspace.jupyter_port))
    raise AssertionError("unreachable")  # pragma: no cover


def _route_write(workspace: Workspace) -> None:
    """Point the person's route at the ports the database records (a row; nginx follows)."""
    nginx.add_user_route(
        username=workspace.owner.username,
        vscode=nginx.Upstream(workspace.upstream_host, workspace.vscode_port),
        jupyter=nginx.Upstream(workspace.upstream_host, workspace.jupyter_port),
    )


# --- approval ----------------------------------------------------------------------------


def workspace_approve(
    *,
    actor: User | None,
    user: User,
    server: Server | None = None,
    cpu: float | None = None,
    memory: int | str | None = None,
    gpus: int = 0,
    image: str | None = None,
) -> tuple[Workspace, bool]:
    """Approve `user` and queue the provisioning of their workspace; (workspace, queued).

    Approving again while a workspace is pending, provisioning, active or stopped
    changes nothing (queued is False); a failed one is retried.
    """
    cpu = settings.WORKSPACE_DEFAULT_CPU if cpu is None else float(cpu)
    if not 0 < cpu <= 256:
        raise ValidationFailed("cpu: between 0 and 256.")
    memory_bytes = memory_parse(memory)
    gpus = int(gpus or 0)
    if gpus < 0:
        raise ValidationFailed("gpus: zero or more.")
    image = (image or "").strip() or default_workspace_image()
    allowed = allowed_workspace_images()
    if image not in allowed:
        raise Conflict(  # the allowed list decides, not the shape of the name
            f"image: {image!r} is not an allowed workspace image ({', '.join(allowed)}).",
            details={"image": [f"Choose one of: {', '.join(allowed)}."]},
        )
    nginx.validate_route_name(user.username)  # render-time rule, checked before anything is made

    def approve() -> tuple[Workspace, bool]:
        # The user row lock serialises concurrent approvals of one person.
        owner = User.objects.select_for_update().get(pk=user.pk)
        if owner.status in (UserStatus.DELETING, UserStatus.REJECTED, UserStatus.DISABLED):
            raise Conflict(f"This account is {owner.status}; it cannot be approved.")
        workspace = Workspace.objects.select_for_update().filter(owner=owner, name="default").first()
        if workspace is not None and workspace.status != WorkspaceStatus.FAILED:
            if workspace.status == WorkspaceStatus.DELETING:
                raise Conflict("This workspace is being deleted.")
            return workspace, False
        if server is not None:
            selectors.server_fit(server=server, memory=memory_bytes, gpus=gpus, exclude=workspace)
            target = server
        else:
            target = selectors.server_pick(memory=memory_bytes, gpus=gpus, exclude=workspace)
        fields = {
            "server": target,
            "image": image,
            "cpu": cpu,
            "memory": memory_bytes,
            "gpus": gpus,
            "status": WorkspaceStatus.PENDING,
            "status_reason": "",
            "step": "",
            "approved_by": actor if actor is not None and actor.is_authenticated else None,
            "folder_path": "",  # the host's agent says where, in the folder step
        }
        retry = workspace is not None
        if workspace is None:
            workspace = Workspace.objects.create(owner=owner, name="default", **fields)
        else:
            for name, value in fields.items():
                setattr(workspace, name, value)
            workspace.vscode_port = workspace.jupyter_port = None
            workspace.container_id = ""
            workspace.save()
        owner_permissions_grant(user=owner, obj=workspace, actions=OWNER_ACTIONS)
        account_services.user_mark_approved(actor=actor, user=owner)
        audit_log_record(
            action="workspace.retry" if retry else "workspace.approve",
            actor=actor,
            target=workspace,
            server_id=target.pk,
            details={"server": target.name, "cpu": cpu, "memory": memory_bytes, "gpus": gpus, "image": image},
        )
        enqueue_on_commit(STEP_TASK, "provision", workspace.pk, {})
        return workspace, True

    # Approvals sent at once lock users, servers and permission rows in orders of their own:
    # a deadlock victim is rolled back whole and simply runs again (issue #14).
    return atomic_retry(approve)


# --- the saga ----------------------------------------------------------------------------


def workspace_provision(*, workspace_id: int) -> bool:
    """Steps folder → container → ports. True when the routes step should follow.

    On failure the compensation runs here and the workspace ends `failed`.
    """
    claimed = Workspace.objects.filter(pk=workspace_id, status=WorkspaceStatus.PENDING).update(
        status=WorkspaceStatus.PROVISIONING,
        step=ProvisionStep.FOLDER.value,
        status_reason="",
        folder_created=False,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return False  # another worker has it, or it is no longer pending
    workspace = Workspace.objects.select_related("owner", "server").get(pk=workspace_id)
    username = workspace.owner.username
    _step_published(workspace, ProvisionStep.FOLDER)
    try:
        # The folder is made by the host's agent, from its template (the platform never touches a
        # host's disk); an existing one is kept, and only one this attempt made is undone.
        client = _client(workspace)
        folder = _transient_retry(lambda: client.folder_create(nginx.validate_route_name(username)))
        workspace.folder_path = folder["path"]
        Workspace.objects.filter(pk=workspace.pk).update(
            folder_path=folder["path"], folder_created=bool(folder["created"])
        )
        workspace_step_set(workspace, ProvisionStep.CONTAINER)
        data = _container_create(workspace, client)
        workspace.container_id, workspace.container_name = data["id"], data.get("name") or username
        workspace.save(update_fields=["container_id", "container_name", "updated_at"])
        workspace_step_set(workspace, ProvisionStep.PORTS)
        _ports_record(workspace, _ports_query(client, workspace.container_id))
        workspace_step_set(workspace, ProvisionStep.ROUTES)
    except Exception as exc:  # every failure ends in the compensation, never half-done
        if not isinstance(exc, ApplicationError):
            logger.exception("Provisioning {} failed unexpectedly", workspace)
        workspace_provision_undo(workspace_id=workspace_id, reason=f"{workspace.step}: {_failure_text(exc)}")
        return False
    return True


def workspace_routes_publish(*, workspace_id: int) -> PublishOutcome:
    """Routes step: record the routes (nginx follows without a reload), then `starting` until
    the apps answer (workspace_ready)."""
    workspace = Workspace.objects.select_related("owner", "server").get(pk=workspace_id)
    if workspace.status != WorkspaceStatus.PROVISIONING or workspace.step != ProvisionStep.ROUTES:
        return PublishOutcome.SKIPPED
    try:
        _route_write(workspace)
    except Exception as exc:
        if not isinstance(exc, ApplicationError):
            logger.exception("Publishing the routes of {} failed unexpectedly", workspace)
        Workspace.objects.filter(pk=workspace_id, status=WorkspaceStatus.PROVISIONING).update(
            step=ProvisionStep.UNDO.value, status_reason=f"routes: {_failure_text(exc)}"[:1000]
        )
        return PublishOutcome.UNDO
    Workspace.objects.filter(pk=workspace_id, status=WorkspaceStatus.PROVISIONING).update(
        status=WorkspaceStatus.STARTING,
        step=ProvisionStep.READY.value,
        status_reason="waiting for VS Code and Jupyter to answer",
    )
    _step_published(workspace, ProvisionStep.READY)
    return PublishOutcome.DONE


_APP_NAMES = {"vscode": "VS Code", "jupyter": "Jupyter"}


def _app_answers(host: str, port: int) -> bool:
    """Any HTTP answer counts: the app is up (a redirect to its login or /lab is an answer)."""
    try:
        requests.get(f"http://{edge.upstream_text(host, port)}/", timeout=2, allow_redirects=False)
    except requests.RequestException:
        return False
    return True


def workspace_ready(
    *,
    workspace_id: int,
    timeout: float | None = None,
    interval: float = 0.25,
    until: float | None = None,
    once: bool = False,
) -> bool | None:
    """`starting` → `active` once both apps answer on their ports, the way nginx reaches them.

    While waiting, status_reason names the app still warming up. A new workspace whose apps
    never answer within WORKSPACE_READY_TIMEOUT (or by `until`, a time.time()) is rolled back
    (failed, with the reason); a started one stays `starting` with the reason, for its owner to
    see and restart. With `once`, one look: None while it is still starting before `until`, for
    the caller to ask again later (the worker's task does, without holding a slot meanwhile).
    """
    workspace = Workspace.objects.select_related("owner", "server").get(pk=workspace_id)
    if workspace.status != WorkspaceStatus.STARTING:
        return False
    route = nginx.user_route(username=workspace.owner.username)
    if until is None:
        until = time.time() + (settings.WORKSPACE_READY_TIMEOUT if timeout is None else timeout)
    waiting = list(_APP_NAMES)
    while True:
        if route is not None:
            waiting = [app for app in waiting if not _app_answers(*route.upstream(app))]
        if not waiting:
            return workspace_mark_active(workspace=workspace)
        names = " and ".join(_APP_NAMES[app] for app in waiting)
        reason = f"waiting for {names} to answer"
        if time.time() >= until:
            break
        # A worker's single look writes only when the reason changes: thirty workspaces starting
        # at once would otherwise cost a write every half second each.
        if not once or reason != workspace.status_reason:
            still = Workspace.objects.filter(pk=workspace_id, status=WorkspaceStatus.STARTING)
            if not still.update(status_reason=reason):
                return False  # stopped or deleted meanwhile
            workspace.status_reason = reason
        if once:
            return None
        time.sleep(interval)
    failure = f"{names} did not answer within {settings.WORKSPACE_READY_TIMEOUT} s; see the container's logs"
    if workspace.provisioned_at is None:  # a new workspace: the saga's compensation
        workspace_provision_undo(workspace_id=workspace_id, reason=f"ready: {failure}")
    else:
        Workspace.objects.filter(pk=workspace_id, status=WorkspaceStatus.STARTING).update(
            status_reason=failure
        )
        _progress(workspace, EventKind.FAILED, failure)
    return False


def workspace_mark_active(*, workspace: Workspace) -> bool:
    """starting → active, once: the owner's workspace record and redirect, one audit row.

    It locks the workspace, then its owner (whom an approval locks first): a deadlock victim
    runs again, from the state the caller read.
    """
    provisioned_at = workspace.provisioned_at

    def mark() -> bool:
        workspace.provisioned_at = provisioned_at  # a rolled-back attempt leaves nothing behind
        return _workspace_mark_active(workspace)

    if not atomic_retry(mark):
        return False
    # After the commit: a retried transaction must not announce twice.
    vscode = edge.workspace_url(workspace.owner.username, "vscode")
    _progress(workspace, EventKind.DONE, "VS Code and Jupyter answer: opening VS Code.", next=vscode)
    return True


def _workspace_mark_active(workspace: Workspace) -> bool:
    first = workspace.provisioned_at is None
    done = Workspace.objects.filter(pk=workspace.pk, status=WorkspaceStatus.STARTING).update(
        status=WorkspaceStatus.ACTIVE,
        step="",
        status_reason="",
        provisioned_at=workspace.provisioned_at or timezone.now(),
    )
    if not done:
        return False
    workspace.refresh_from_db()
    if not first:
        return True
    links = selectors.workspace_links(workspace=workspace)
    account_services.user_workspace_record(
        user=workspace.owner,
        workspace={
            "server": workspace.server.name if workspace.server else None,
            "container": workspace.container_name,
            "image": workspace.image,
            "vscode_port": workspace.vscode_port,
            "jupyter_port": workspace.jupyter_port,
            **{f"{app}_url": url for app, url in links.items()},
        },
        redirect_url=links["vscode"],
    )
    audit_log_record(
        action="workspace.provision",
        actor=workspace.approved_by,
        target=workspace,
        server_id=workspace.server_id,
        source=AuditSource.WORKER,
        details={
            "username": workspace.owner.username,
            "container": workspace.container_name,
            "vscode_port": workspace.vscode_port,
            "jupyter_port": workspace.jupyter_port,
            "attempt": workspace.attempts,
        },
    )
    logger.info("Workspace {} is active", workspace)
    return True


def workspace_provision_undo(*, workspace_id: int, reason: str = "") -> None:
    """The compensation: remove what the failed attempt made, then `failed` with the reason."""
    workspace = Workspace.objects.select_related("owner", "server").get(pk=workspace_id)
    if workspace.status not in (WorkspaceStatus.PROVISIONING, WorkspaceStatus.STARTING):
        return
    reason = reason or workspace.status_reason or "provisioning failed"
    notes: list[str] = []
    nginx.remove_user_route(username=workspace.owner.username)
    if workspace.server is not None and workspace.step not in ("", ProvisionStep.FOLDER):
        try:
            AgentClient.for_server(workspace.server).delete_container(
                workspace.container_name or workspace.owner.username, missing_ok=True
            )
        except AgentError as exc:
            notes.append(f"the container could not be removed ({exc.message})")
        except AgentUnavailable:
            notes.append("the agent could not be asked to remove a container; the reconciler will")
    if workspace.folder_created and workspace.server is not None:
        try:
            AgentClient.for_server(workspace.server).folder_delete(workspace.owner.username, missing_ok=True)
        except ApplicationError as exc:
            notes.append(f"the folder could not be removed ({exc.message})")
    full = reason + (f"; {'; '.join(notes)}" if notes else "")
    _progress(workspace, EventKind.FAILED, full)
    with transaction.atomic():
        Workspace.objects.filter(pk=workspace_id).update(
            status=WorkspaceStatus.FAILED,
            status_reason=full[:1000],
            step="",
            container_id="",
            vscode_port=None,
            jupyter_port=None,
            folder_created=False,
        )
        audit_log_record(
            action="workspace.provision_failed",
            actor=workspace.approved_by,
            target=workspace,
            server_id=workspace.server_id,
            source=AuditSource.WORKER,
            level=LogLevel.ERROR,
            details={"username": workspace.owner.username, "reason": full[:1000]},
        )
    logger.warning("Provisioning of {} failed and was undone: {}", workspace, full)


# --- operations --------------------------------------------------------------------------


_OPERABLE = (WorkspaceStatus.ACTIVE, WorkspaceStatus.STARTING, WorkspaceStatus.STOPPED)


def _operable(workspace: Workspace) -> Workspace:
    workspace = Workspace.objects.select_related("owner", "server").get(pk=workspace.pk)
    if workspace.status not in _OPERABLE:
        raise Conflict(
            f"The workspace is {workspace.status}; only an active, starting or stopped one can do this."
        )
    return workspace


def _ports_refresh(workspace: Workspace, ports: dict[str, Any]) -> None:
    """Record the ports the container publishes (the reserved ones) and keep the route on them."""
    old = (workspace.vscode_port, workspace.jupyter_port, workspace.upstream_host)
    _ports_record(workspace, ports)
    if (workspace.vscode_port, workspace.jupyter_port, workspace.upstream_host) != old:
        _route_write(workspace)


def _operate(*, actor: User | None, workspace: Workspace, action: str, reason: str = "") -> Workspace:
    workspace = _operable(workspace)
    client = _client(workspace)
    if action == "start":
        client.start_container(workspace.container_name)
    elif action == "stop":
        client.stop_container(workspace.container_name)
    else:
        client.restart_container(workspace.container_name)

    # Asked before the transaction: no agent call holds row locks open.
    ports = client.query_agent_port_info(workspace.container_name) if action != "stop" else {}
    with transaction.atomic():
        # An action replaces any earlier reason (e.g. an idle stop's) with its own, if any.
        workspace.status_reason = reason[:1000]
        if action == "stop":
            workspace.status = WorkspaceStatus.STOPPED
        else:
            # Active again once its apps answer (workspace_ready).
            workspace.status = WorkspaceStatus.STARTING
            workspace.status_reason = "waiting for VS Code and Jupyter to answer"
            _ports_refresh(workspace, ports)
            enqueue_on_commit(STEP_TASK, "ready", workspace.pk, {})
        workspace.save(update_fields=["status", "status_reason", "updated_at"])
        audit_log_record(
            action=f"workspace.{action}", actor=actor, target=workspace, server_id=workspace.server_id
        )
    if action == "stop":
        _progress(workspace, EventKind.DONE, "Stopped.")
    else:
        _step_published(workspace, ProvisionStep.READY)
    return workspace


def workspace_start(*, actor: User, workspace: Workspace) -> Workspace:
    return _operate(actor=actor, workspace=workspace, action="start")


def workspace_stop(*, actor: User | None, workspace: Workspace, reason: str = "") -> Workspace:
    """Stop the container; `reason` (e.g. the idle stop's) is what the owner's page says after."""
    return _operate(actor=actor, workspace=workspace, action="stop", reason=reason)


def workspace_restart(*, actor: User, workspace: Workspace) -> Workspace:
    return _operate(actor=actor, workspace=workspace, action="restart")


def workspace_routes_refresh(*, workspace_id: int) -> None:
    """Point the routes of a live workspace at the ports the database records."""
    workspace = Workspace.objects.select_related("owner").get(pk=workspace_id)
    if workspace.status not in _OPERABLE or not workspace.vscode_port:
        return
    _route_write(workspace)


# --- the reconciler's repairs (maintenance finds the drift; the workspace rows change here) ----


def workspace_container_adopt(*, workspace: Workspace, container_id: str, container_name: str = "") -> None:
    """Record the container the host really runs for this workspace (its id changed)."""
    Workspace.objects.filter(pk=workspace.pk).update(
        container_id=container_id, container_name=container_name or workspace.container_name
    )


def workspace_ports_record(*, workspace: Workspace, vscode: int, jupyter: int) -> None:
    """Record the ports the container really publishes, then point the routes at them."""
    Workspace.objects.filter(pk=workspace.pk).update(vscode_port=vscode, jupyter_port=jupyter)
    workspace_routes_refresh(workspace_id=workspace.pk)


def workspace_recreate(*, workspace: Workspace, reason: str) -> tuple[Workspace, bool]:
    """Its container is gone: `failed` with the reason, then approved again with the same
    resources (the saga's retry; the folder is kept)."""
    with transaction.atomic():
        Workspace.objects.filter(pk=workspace.pk).update(
            status=WorkspaceStatus.FAILED, status_reason=reason[:1000], step="", container_id=""
        )
        audit_log_record(
            action="workspace.container_missing",
            target=workspace,
            server_id=workspace.server_id,
            source=AuditSource.RECONCILER,
            level=LogLevel.WARNING,
            details={"username": workspace.owner.username, "reason": reason},
        )
    return workspace_approve(
        actor=None,
        user=workspace.owner,
        server=workspace.server,
        cpu=workspace.cpu,
        memory=workspace.memory,
        gpus=workspace.gpus,
        image=workspace.image,
    )


# --- moving a workspace to another host -------------------------------------------------
_MOVABLE = (WorkspaceStatus.ACTIVE, WorkspaceStatus.STOPPED)


def workspace_move(
    *, actor: User | None, workspace: Workspace, server: Server, source: AuditSource = AuditSource.API
) -> Workspace:
    """Queue the move of `workspace` to `server`: `moving` until it answers there on the same URL.

    The saga (`workspace_move_run`): stop here, copy the folder agent to agent (a tar checked
    with its digest), create and start it there, switch the route, then remove it here. A failure
    before the switch removes what was made there and leaves it running where it was.
    """
    with transaction.atomic():
        workspace = (
            Workspace.objects.select_for_update().select_related("owner", "server").get(pk=workspace.pk)
        )
        if workspace.status not in _MOVABLE:
            raise Conflict(f"The workspace is {workspace.status}; only an active or stopped one moves.")
        if workspace.server_id == server.pk:
            raise Conflict(f"The workspace is on {server.name} already.")
        selectors.server_fit(server=server, memory=workspace.memory, gpus=workspace.gpus)
        was = workspace.status
        workspace.status, workspace.moving_to = WorkspaceStatus.MOVING, server
        workspace.status_reason = f"moving from {workspace.server} to {server.name}"
        workspace.save(update_fields=["status", "moving_to", "status_reason", "updated_at"])
        audit_log_record(
            action="workspace.move",
            actor=actor,
            target=workspace,
            server_id=server.pk,
            source=source,
            details={"from": str(workspace.server), "to": server.name},
        )
        enqueue_on_commit(STEP_TASK, "move", workspace.pk, {"was": str(was)})
    return workspace


def workspace_move_elsewhere(
    *, actor: User | None, workspace: Workspace, source: AuditSource = AuditSource.API
) -> Workspace:
    """Move to the host with the most free memory (a draining host's workspaces, say)."""
    target = selectors.server_pick(
        memory=workspace.memory, gpus=workspace.gpus, exclude=workspace, avoid=workspace.server
    )
    return workspace_move(actor=actor, workspace=workspace, server=target, source=source)


_MOVE_STEPS = (
    "Stopping the workspace on {source}",
    "Copying its folder to {target}",
    "Starting it on {target}",
    "Switching its address to {target}",
    "Removing it from {source}",
)


def workspace_move_run(*, workspace_id: int, was: str = WorkspaceStatus.ACTIVE) -> bool:
    """The move saga's one step (containers/saga.py): True when the workspace answers on its new host."""
    workspace = Workspace.objects.select_related("owner", "server", "moving_to").get(pk=workspace_id)
    if workspace.status != WorkspaceStatus.MOVING or workspace.moving_to is None or workspace.server is None:
        return False
    source, target = workspace.server, workspace.moving_to
    name = nginx.validate_route_name(workspace.owner.username)
    container = workspace.container_name or name
    running = was == WorkspaceStatus.ACTIVE
    src, dst = AgentClient.for_server(source), AgentClient.for_server(target)
    made: dict[str, bool] = {"folder": False, "container": False}
    started, index = time.monotonic(), 0

    def step(number: int) -> None:
        nonlocal index
        index = number
        text = _MOVE_STEPS[number - 1].format(source=source.name, target=target.name)
        _progress(workspace, EventKind.STEP, text, step="move", index=number, total=len(_MOVE_STEPS))

    try:
        step(1)
        _transient_retry(lambda: src.stop_container(container, missing_ok=True))
        step(2)
        with src.folder_archive(name) as archive:
            folder = dst.folder_unpack(name, archive)
        made["folder"] = True
        size = int(folder.get("size") or archive.size)
        step(3)
        moved = Workspace(
            pk=workspace.pk, owner=workspace.owner, server=target, image=workspace.image, cpu=workspace.cpu,
            memory=workspace.memory, gpus=workspace.gpus, name=workspace.name,
        )  # fmt: skip
        moved.vscode_port, moved.jupyter_port = _free_ports(target)
        created = _transient_retry(lambda: dst.create_container(_container_config(moved)))
        made["container"] = True
        ports = _ports_query(dst, created["id"])
        vscode, jupyter = (
            _published(ports, settings.WORKSPACE_VSCODE_PORT),
            _published(ports, settings.WORKSPACE_JUPYTER_PORT),
        )
        if vscode is None or jupyter is None:
            raise Conflict(
                f"The container on {target.name} published no VS Code/Jupyter ports; see its logs."
            )
        upstream = _upstream_host(moved, vscode[0])
        if running:
            deadline = time.time() + settings.WORKSPACE_READY_TIMEOUT
            while not (_app_answers(upstream, vscode[1]) and _app_answers(upstream, jupyter[1])):
                if time.time() >= deadline:
                    raise Conflict(
                        f"VS Code or Jupyter did not answer on {target.name} within "
                        f"{settings.WORKSPACE_READY_TIMEOUT} s; see the container's logs."
                    )
                time.sleep(0.25)
        else:
            _transient_retry(lambda: dst.stop_container(created["id"], missing_ok=True))
        step(4)
        with transaction.atomic():  # the switch: one row, then the route nginx reads
            Workspace.objects.filter(pk=workspace.pk, status=WorkspaceStatus.MOVING).update(
                server=target, moving_to=None, vscode_port=vscode[1], jupyter_port=jupyter[1],
                upstream_host=upstream, container_id=created["id"],
                container_name=created.get("name") or name, folder_path=folder.get("path", ""),
                status=was, status_reason="",
            )  # fmt: skip
            workspace.refresh_from_db()
            if running:
                _route_write(workspace)
            audit_log_record(
                action="workspace.moved",
                actor=None,
                target=workspace,
                server_id=target.pk,
                source=AuditSource.WORKER,
                details={"from": source.name, "to": target.name, "bytes": size,
                         "seconds": round(time.monotonic() - started, 1)},
            )  # fmt: skip
    except Exception as exc:
        if not isinstance(exc, ApplicationError):
            logger.exception("Moving {} failed unexpectedly", workspace)
        _move_undo(workspace, dst, made, src if running else None, container, f"{_failure_text(exc)}", index)
        return False
    step(5)  # the old host's copy; what cannot be removed now the reconciler finds as orphans
    for call in (
        lambda: src.delete_container(container, missing_ok=True),
        lambda: src.folder_delete(name, missing_ok=True),
    ):
        try:
            _transient_retry(call)
        except ApplicationError as exc:
            logger.warning("Moved {}, but {} still holds a copy: {}", workspace, source.name, exc.message)
    # A running workspace's page goes on to VS Code at its same URL; a stopped one's stays.
    _progress(
        workspace,
        EventKind.DONE,
        f"Moved to {target.name}.",
        next=edge.workspace_url(name, "vscode") if running else "/workspace",
    )
    return True


def _move_undo(
    workspace: Workspace,
    dst: AgentClient,
    made: dict[str, bool],
    src: AgentClient | None,
    container: str,
    reason: str,
    index: int,
) -> None:
    """The move's compensation: what was made on the target goes, and the workspace runs where it
    was (started again if it ran)."""
    notes: list[str] = []
    name = workspace.owner.username
    for done, call in (
        (made["container"], lambda: dst.delete_container(name, missing_ok=True)),
        (made["folder"], lambda: dst.folder_delete(name, missing_ok=True)),
    ):
        if done:
            try:
                _transient_retry(call)
            except ApplicationError as exc:
                notes.append(exc.message)
    was = WorkspaceStatus.STOPPED
    if src is not None:
        try:
            _transient_retry(lambda: src.start_container(container))
            was = WorkspaceStatus.STARTING
        except ApplicationError as exc:
            notes.append(f"it could not be started again ({exc.message})")
    step = _MOVE_STEPS[max(index, 1) - 1].split(" ")[0].lower()
    full = f"The move failed while {step}: {reason}" + (f"; {'; '.join(notes)}" if notes else "")
    with transaction.atomic():
        Workspace.objects.filter(pk=workspace.pk, status=WorkspaceStatus.MOVING).update(
            status=was, moving_to=None, status_reason=full[:1000]
        )
        audit_log_record(
            action="workspace.move_failed",
            target=workspace,
            server_id=workspace.server_id,
            source=AuditSource.WORKER,
            level=LogLevel.ERROR,
            details={"reason": full[:1000]},
        )
        if was == WorkspaceStatus.STARTING:
            enqueue_on_commit(STEP_TASK, "ready", workspace.pk, {})
    _progress(workspace, EventKind.FAILED, full)


def workspace_move_abandon(*, workspace_id: int) -> bool:
    """The reconciler's repair of a move whose worker died: the target's copy goes (whatever of it
    was made) and the workspace stays where it was, stopped, with the reason (its owner starts it)."""
    workspace = Workspace.objects.select_related("owner", "server", "moving_to").get(pk=workspace_id)
    if workspace.status != WorkspaceStatus.MOVING:
        return False
    if workspace.moving_to is not None:
        dst = AgentClient.for_server(workspace.moving_to)
        made = {"folder": True, "container": True}  # not known: remove what may be there
        _move_undo(workspace, dst, made, None, workspace.container_name, "it was interrupted", 1)
    else:
        Workspace.objects.filter(pk=workspace.pk).update(status=WorkspaceStatus.STOPPED, moving_to=None)
    return True


# --- deletion ----------------------------------------------------------------------------


def workspace_user_delete(
    *, actor: User | None, user: User, delete_folder: bool = False, source: AuditSource = AuditSource.API
) -> bool:
    """Delete a person and their workspace. True when the teardown was queued (202), False when
    the account had no workspace and is gone already.

    The teardown removes routes (edge), then stops and deletes the container, optionally the
    folder, and finally the account (provisioning). An unreachable agent leaves the account
    `deleting` with the error on the workspace; deleting again retries. `actor` None with
    `source` COMMAND: a shell command run without naming an admin.
    """
    account_services.user_delete_check(actor=actor, user=user)
    if not Workspace.objects.filter(owner=user).exists():  # never approved: no host has a folder
        account_services.user_delete(actor=actor, user=user, source=source)
        return False
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        workspace = Workspace.objects.select_for_update().get(owner=user, name="default")
        if workspace.status == WorkspaceStatus.PROVISIONING:
            raise Conflict("The workspace is being provisioned; delete it once that has finished.")
        account_services.user_mark_deleting(user=user)
        workspace.status = WorkspaceStatus.DELETING
        workspace.status_reason = ""
        workspace.step = ProvisionStep.ROUTES.value
        workspace.save(update_fields=["status", "status_reason", "step", "updated_at"])
        audit_log_record(
            action="user.delete_requested",
            actor=actor,
            target=user,
            source=source,
            details={"username": user.username, "delete_workspace": delete_folder},
        )
        args = {"delete_folder": delete_folder, "actor_id": actor.pk if actor is not None else None}
        enqueue_on_commit(STEP_TASK, "unpublish", workspace.pk, args)
    return True


def _teardown_failed(workspace_id: int, reason: str, actor_id: int | None) -> None:
    event_publish(
        job=job_key("workspace", workspace_id), kind=EventKind.FAILED, text=f"Deleting stopped: {reason}"
    )
    with transaction.atomic():
        Workspace.objects.filter(pk=workspace_id).update(status_reason=reason[:1000])
        workspace = Workspace.objects.select_related("owner").get(pk=workspace_id)
        audit_log_record(
            action="user.delete_failed",
            actor=User.objects.filter(pk=actor_id).first(),
            target=workspace.owner,
            source=AuditSource.WORKER,
            level=LogLevel.ERROR,
            details={"username": workspace.owner.username, "reason": reason[:1000]},
        )
    logger.warning("Deleting the workspace {} stopped: {}", workspace_id, reason)


def workspace_routes_unpublish(*, workspace_id: int, actor_id: int | None = None) -> bool:
    """Edge: remove the user's routes first, so nobody reaches a container being removed."""
    workspace = Workspace.objects.select_related("owner").filter(pk=workspace_id).first()
    if workspace is None or workspace.status != WorkspaceStatus.DELETING:
        return False
    _teardown_step(workspace_id, 1)
    try:
        nginx.remove_user_route(username=workspace.owner.username)
    except ApplicationError as exc:
        _teardown_failed(workspace_id, f"routes: {exc.message}", actor_id)
        return False
    Workspace.objects.filter(pk=workspace_id).update(step=ProvisionStep.CONTAINER.value)
    return True


def workspace_teardown(*, workspace_id: int, delete_folder: bool, actor_id: int | None = None) -> bool:
    """Provisioning queue: stop and delete the container, the folder if asked, then the account."""
    workspace = Workspace.objects.select_related("owner", "server").filter(pk=workspace_id).first()
    if workspace is None or workspace.status != WorkspaceStatus.DELETING:
        return False
    user = workspace.owner
    name = workspace.container_name or user.username
    _teardown_step(workspace_id, 2, "Removing the container and the folder" if delete_folder else "")
    folder_deleted = False
    try:
        if workspace.server is not None:
            client = AgentClient.for_server(workspace.server)
            _transient_retry(lambda: client.stop_container(name, timeout=5, missing_ok=True))
            _transient_retry(lambda: client.delete_container(name, missing_ok=True))
            if delete_folder:  # on the workspace's host only: its agent owns the folder
                folder_deleted = _transient_retry(
                    lambda: client.folder_delete(user.username, missing_ok=True)
                )
    except ApplicationError as exc:
        _teardown_failed(workspace_id, f"container: {exc.message}", actor_id)
        return False
    # The account goes last, through accounts; the workspace and its object permissions go with it.
    _teardown_step(workspace_id, 3)
    account_services.user_delete_finished(
        actor=User.objects.filter(pk=actor_id).first(),
        user=user,
        server_id=workspace.server_id,
        details={
            "container": name,
            "folder_deleted": folder_deleted,
            "folder": str(Path(workspace.folder_path).name) if workspace.folder_path else "",
        },
    )
    event_publish(
        job=job_key("workspace", workspace_id), kind=EventKind.DONE, text=f"Deleted {user.username}."
    )
    logger.info("Deleted {} and their workspace", user.username)
    return True
