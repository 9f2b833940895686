"""Approve a sign-up from the shell and (with --wait) follow the provisioning steps.

manage.py approve_user alice --memory 4g --cpu 2 --wait
manage.py approve_user alice@example.org --server host-1 --gpus 1 --image registry:5000/ide:1.0
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import User
from containers import selectors
from containers.models import Workspace
from containers.services import workspace_approve
from events.commands import job_follow
from events.selectors import events_last_id
from events.services import job_key
from mgmt.exceptions import ApplicationError
from servers.selectors import server_named


class Command(BaseCommand):
    help = "Approve a user and provision their workspace (--wait shows the steps until it ends)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="username or email")
        parser.add_argument("--server", help="server name or id (default: the one with most free memory)")
        parser.add_argument("--cpu", type=float)
        parser.add_argument("--memory", help='bytes or a size like "2g"')
        parser.add_argument("--gpus", type=int, default=0)
        parser.add_argument("--image")
        parser.add_argument("--wait", action="store_true", help="follow the provisioning until it ends")
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds --wait waits at most")

    def handle(self, *args: Any, **options: Any) -> None:
        ident = options["user"]
        user = User.objects.filter(Q(username=ident) | Q(email__iexact=ident)).first()
        if user is None:
            raise CommandError(f"No user {ident!r}.")
        server = None
        if options["server"]:
            server = server_named(options["server"])
            if server is None:
                raise CommandError(f"No server {options['server']!r}.")
        # Follow only what this approval publishes (a retried workspace has an older stream).
        earlier = selectors.workspace_of_user(user=user)
        start = events_last_id(job=job_key("workspace", earlier.pk)) if earlier else 0
        try:
            workspace, queued = workspace_approve(
                actor=None,
                user=user,
                server=server,
                cpu=options["cpu"],
                memory=options["memory"],
                gpus=options["gpus"],
                image=options["image"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        verb = "Approved; provisioning queued" if queued else "Already approved"
        self.stdout.write(f"{verb}: workspace {workspace.pk} of {user.username} on {workspace.server}.")
        if options["wait"]:
            self._follow(workspace, start if queued else 0, options["timeout"])

    def _follow(self, workspace: Workspace, after: int, timeout: float) -> None:
        """The workspace's live stream (events/), the same one its owner's page shows."""
        job = job_key("workspace", workspace.pk)
        job_follow(self, job=job, after=after, timeout=timeout, failed="Provisioning failed: {}")
        links = selectors.workspace_links(workspace=workspace)
        self.stdout.write(self.style.SUCCESS(f"Active: {links['vscode']}  {links['jupyter']}"))
