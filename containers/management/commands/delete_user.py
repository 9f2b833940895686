"""Delete a person and their workspace from the shell.

    manage.py delete_user alice --delete-workspace --wait

Routes, container and (with --delete-workspace) the folder go, then the account. With eager Celery
it all happens before the command returns; with workers, --wait follows the steps to the end.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import User
from audit.models import AuditSource
from containers.models import Workspace
from containers.services import workspace_user_delete
from events.commands import job_follow
from events.selectors import events_last_id
from events.services import job_key
from mgmt.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Delete a user, their container and routes (and with --delete-workspace their folder)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="username or email")
        parser.add_argument("--delete-workspace", action="store_true", help="also remove the folder")
        parser.add_argument("--actor", help="admin username recorded in the audit log")
        parser.add_argument("--wait", action="store_true", help="follow the deletion until it ends")
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds --wait waits at most")

    def handle(self, *args: Any, **options: Any) -> None:
        ident = options["user"]
        user = User.objects.filter(Q(username=ident) | Q(email__iexact=ident)).first()
        if user is None:
            raise CommandError(f"No user {ident!r}.")
        actor = User.objects.filter(username=options["actor"] or "", user_type="admin").first()
        if options["actor"] and actor is None:
            raise CommandError(f"No admin {options['actor']!r}.")
        workspace = Workspace.objects.filter(owner_id=user.pk).first()
        start = events_last_id(job=job_key("workspace", workspace.pk)) if workspace else 0
        try:
            queued = workspace_user_delete(
                actor=actor,
                user=user,
                delete_folder=options["delete_workspace"],
                source=AuditSource.COMMAND,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if queued and options["wait"] and workspace is not None:
            self._follow(workspace.pk, start, options["timeout"])
            return
        if not queued or not User.objects.filter(pk=user.pk).exists():
            self.stdout.write(self.style.SUCCESS(f"Deleted {user.username}."))
            return
        workspace = Workspace.objects.filter(owner_id=user.pk).first()
        reason = workspace.status_reason if workspace else ""
        if reason:
            raise CommandError(
                f"{user.username} is 'deleting' but stopped: {reason}. Run the command again to retry."
            )
        self.stdout.write(f"Deletion of {user.username} queued; a worker finishes it.")

    def _follow(self, workspace_id: int, after: int, timeout: float) -> None:
        job = job_key("workspace", workspace_id)
        done = job_follow(
            self, job=job, after=after, timeout=timeout, failed="{}. Run the command again to retry."
        )
        self.stdout.write(self.style.SUCCESS(done.text))
