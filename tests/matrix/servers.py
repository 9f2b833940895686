from tests.factories import ServerFactory
from tests.matrix import Ctx, Row, admin_only, operators


def _server(ctx: Ctx) -> None:
    # Its agent port is closed: live calls fail fast and answer as an unreachable host would.
    ctx.extra["server"] = ServerFactory(name="matrix-host", agent_port=1)


def _pk(ctx: Ctx) -> dict:
    return {"pk": ctx.server.pk}


def _on_server(name: str, method: str, expected: dict, **kwargs) -> Row:
    return Row(name, method, expected, setup=_server, kwargs=_pk, **kwargs)


ROWS = [
    Row("servers:server-list", "GET", operators()),
    Row(
        "servers:server-list",
        "POST",
        admin_only(201),
        data=lambda ctx: {
            "name": "new-host",
            "address": "10.0.0.9",
            "agent_port": 5005,
            "agent_secret": "x" * 32,
        },
    ),
    _on_server("servers:server-detail", "GET", operators()),
    _on_server("servers:server-detail", "PATCH", admin_only(), data=lambda ctx: {"labels": {"zone": "b"}}),
    _on_server("servers:server-detail", "DELETE", admin_only()),
    _on_server("servers:server-stats", "GET", operators()),
    _on_server("servers:server-drain", "POST", admin_only()),
    _on_server("servers:server-undrain", "POST", admin_only()),
    _on_server("servers:server-refresh", "POST", admin_only()),
    # No SSH credentials on this host: after the role check the admin hears what is missing (409).
    _on_server("servers:server-ssh-check", "POST", admin_only(409)),
    _on_server("servers:server-ssh-diagnose", "POST", admin_only(409), data=lambda ctx: {"check": "uptime"}),
    _on_server(
        "servers:server-ssh-pin-host-key",
        "POST",
        admin_only(409),
        data=lambda ctx: {"expected": "SHA256:" + "A" * 43},
    ),
    _on_server("servers:server-agent-restart", "POST", admin_only(409)),
    _on_server("servers:server-agent-install", "POST", admin_only(409)),
]
