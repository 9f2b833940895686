"""Register the single-machine stack's agent as a server and poll it (used by `make run`).

manage.py register_local_agent --port 5005 --secret-env AGENT_SECRET
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User, UserType
from audit.models import AuditSource
from mgmt.exceptions import ApplicationError
from servers.models import Server
from servers.services.hosts import server_register, server_update
from servers.services.stats import servers_poll


class Command(BaseCommand):
    help = "Register (or refresh) the local agent as the server 'local' and poll it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default="local")
        parser.add_argument("--address", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=5005)
        parser.add_argument("--secret-env", default="AGENT_SECRET", metavar="VAR")

    def handle(self, *args: Any, **options: Any) -> None:
        secret = os.environ.get(options["secret_env"], "")
        if not secret:
            raise CommandError(f"The environment variable {options['secret_env']} is empty or unset.")
        server = Server.objects.filter(address=options["address"], agent_port=options["port"]).first()
        try:
            # The command acts as the first admin (`make run` created it), so it is audited as one.
            admin = User.objects.filter(user_type=UserType.ADMIN, is_active=True).first()
            if server is None:
                server = server_register(
                    actor=admin,
                    name=options["name"],
                    address=options["address"],
                    agent_port=options["port"],
                    agent_secret=secret,
                    source=AuditSource.COMMAND,
                )
            elif server.agent_secret != secret:
                server = server_update(
                    actor=admin, server=server, source=AuditSource.COMMAND, agent_secret=secret
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        status = servers_poll(server_ids=[server.pk]).get(server.name)
        self.stdout.write(f"Server {server.name} ({server.address}:{server.agent_port}) is {status}.")
