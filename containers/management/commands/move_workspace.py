"""Move a person's workspace to another Docker host from the shell, and (with --wait) follow it.

manage.py move_workspace alice host-2 --wait
manage.py move_workspace alice --wait          # to the host with the most free memory
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import User
from audit.models import AuditSource
from containers import selectors, services
from events.commands import job_follow
from events.selectors import events_last_id
from events.services import job_key
from mgmt.exceptions import ApplicationError
from servers.selectors import server_named


class Command(BaseCommand):
    help = "Move a workspace to another host: stop, copy its folder, start there, switch its address."

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="username or email of the workspace's owner")
        parser.add_argument("server", nargs="?", help="server name or id (default: most free memory)")
        parser.add_argument("--wait", action="store_true", help="follow the move until it ends")
        parser.add_argument("--timeout", type=float, default=1800.0, help="seconds --wait waits at most")

    def handle(self, *args: Any, **options: Any) -> None:
        ident = options["user"]
        user = User.objects.filter(Q(username=ident) | Q(email__iexact=ident)).first()
        workspace = selectors.workspace_of_user(user=user) if user else None
        if workspace is None:
            raise CommandError(f"{ident!r} has no workspace.")
        start = events_last_id(job=job_key("workspace", workspace.pk))
        try:
            if options["server"]:
                server = server_named(options["server"])
                if server is None:
                    raise CommandError(f"No server {options['server']!r}.")
                services.workspace_move(
                    actor=None, workspace=workspace, server=server, source=AuditSource.COMMAND
                )
            else:
                services.workspace_move_elsewhere(actor=None, workspace=workspace, source=AuditSource.COMMAND)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        workspace.refresh_from_db()
        self.stdout.write(
            f"Moving the workspace of {user.username} (now {workspace.status} on {workspace.server})."
        )
        if options["wait"]:
            job = job_key("workspace", workspace.pk)
            done = job_follow(self, job=job, after=start, timeout=options["timeout"], failed="{}")
            self.stdout.write(self.style.SUCCESS(done.text))
