"""Approve a sign-up from the shell and (with --wait) follow the provisioning steps.

manage.py approve_user alice --memory 4g --cpu 2 --wait
manage.py approve_user alice@example.org --server host-1 --gpus 1 --image registry:5000/ide:1.0
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import User
from containers import selectors
from containers.models import Workspace, WorkspaceStatus
from containers.services import workspace_approve
from mgmt.exceptions import ApplicationError
from servers.models import Server

STEPS = ("folder", "container", "ports", "routes")


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
            lookup = Q(name=options["server"])
            if options["server"].isdigit():
                lookup |= Q(pk=int(options["server"]))
            server = Server.objects.filter(lookup).first()
            if server is None:
                raise CommandError(f"No server {options['server']!r}.")
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
            self._follow(workspace.pk, options["timeout"])

    def _follow(self, pk: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            workspace = Workspace.objects.get(pk=pk)
            state = f"{workspace.status}:{workspace.step}"
            if state != shown:
                shown = state
                self._progress(workspace)
            if workspace.status == WorkspaceStatus.ACTIVE:
                links = selectors.workspace_links(workspace=workspace)
                self.stdout.write(self.style.SUCCESS(f"Active: {links['vscode']}  {links['jupyter']}"))
                return
            if workspace.status == WorkspaceStatus.FAILED:
                raise CommandError(f"Provisioning failed: {workspace.status_reason}")
            time.sleep(0.5)
        raise CommandError(f"Still {shown} after {timeout:.0f}s; is a worker consuming the queues?")

    def _progress(self, workspace: Workspace) -> None:
        if workspace.status == WorkspaceStatus.PENDING:
            self.stdout.write("  … waiting for a worker")
            return
        if workspace.status == WorkspaceStatus.STARTING:
            self.stdout.write(f"  … starting: {workspace.status_reason}")
            return
        if workspace.status != WorkspaceStatus.PROVISIONING:
            return
        current = STEPS.index(workspace.step) if workspace.step in STEPS else len(STEPS)
        marks = [
            ("✓" if i < current else "→" if i == current else "·") + f" {s}" for i, s in enumerate(STEPS)
        ]
        self.stdout.write("  " + "  ".join(marks))
