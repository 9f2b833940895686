from tests.factories import ServerFactory, WorkspaceFactory
from tests.matrix import Ctx, Row, admin_only, expect, owner_or_admin


def _workspace(ctx: Ctx) -> None:
    from accounts.roles import owner_permissions_grant
    from containers.models import WorkspaceStatus
    from servers.models import ServerStatus

    # Its agent port is closed: live calls fail fast, as with an unreachable host.
    server = ServerFactory(
        name="matrix-ws-host",
        agent_port=1,
        status=ServerStatus.ONLINE,
        memory_total=64 * 1024**3,
    )
    ctx.extra["server"] = server
    workspace = WorkspaceFactory(
        owner=ctx.alice,
        server=server,
        image="mgmt-test/workspace:latest",
        status=WorkspaceStatus.ACTIVE,
        container_name="alice",
        vscode_port=40001,
        jupyter_port=40002,
        upstream_host="127.0.0.1",
    )
    owner_permissions_grant(user=ctx.alice, obj=workspace, actions=("view", "operate"))
    ctx.extra["workspace"] = workspace
    ctx.extra["target"] = ServerFactory(
        name="matrix-ws-target", status=ServerStatus.ONLINE, memory_total=64 * 1024**3
    )


def _ws(ctx: Ctx) -> dict:
    return {"pk": ctx.workspace.pk}


def _on_workspace(name: str, method: str, expected: dict, **kwargs) -> Row:
    return Row(name, method, expected, setup=_workspace, kwargs=_ws, **kwargs)


ROWS = [
    # The provisioning task is queued after commit; the matrix rows never commit.
    Row(
        "containers:user-approve",
        "POST",
        admin_only(202),
        setup=_workspace,
        kwargs=lambda ctx: {"pk": ctx.carol.pk},
        data=lambda ctx: {"memory": "1g", "cpu": 1},
    ),
    Row("containers:workspace-list", "GET", expect(anonymous=401, alice=200, bob=200, qvp=200, admin=200)),
    _on_workspace("containers:workspace-detail", "GET", owner_or_admin()),
    # The host's agent is unreachable: the owner and admins get 503, everyone else 404.
    _on_workspace("containers:workspace-start", "POST", owner_or_admin(503)),
    _on_workspace("containers:workspace-stop", "POST", owner_or_admin(503)),
    _on_workspace("containers:workspace-restart", "POST", owner_or_admin(503)),
    _on_workspace("containers:workspace-logs", "GET", owner_or_admin(503)),
    # Queued after commit (the rows never commit): admins only, even the owner may not move it.
    _on_workspace(
        "containers:workspace-move", "POST", admin_only(202), data=lambda ctx: {"server": ctx.target.pk}
    ),
]
