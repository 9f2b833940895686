"""Delete a person and their workspace from the shell.

    manage.py delete_user alice --delete-workspace

Routes, container and (with --delete-workspace) the folder go, then the account;
with eager Celery (the default without Redis) it all happens before the command returns.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import User
from containers.models import Workspace
from containers.services import workspace_user_delete
from mgmt.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Delete a user, their container and routes (and with --delete-workspace their folder)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="username or email")
        parser.add_argument("--delete-workspace", action="store_true", help="also remove the folder")
        parser.add_argument("--actor", help="admin username recorded in the audit log")

    def handle(self, *args: Any, **options: Any) -> None:
        ident = options["user"]
        user = User.objects.filter(Q(username=ident) | Q(email__iexact=ident)).first()
        if user is None:
            raise CommandError(f"No user {ident!r}.")
        actor = User.objects.filter(username=options["actor"] or "", user_type="admin").first()
        if options["actor"] and actor is None:
            raise CommandError(f"No admin {options['actor']!r}.")
        try:
            queued = workspace_user_delete(
                actor=actor or _CommandActor(), user=user, delete_folder=options["delete_workspace"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
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


class _CommandActor:
    """Stands in for a person when the command runs without --actor (audit: no actor)."""

    pk = None
    is_authenticated = False
