"""List the sign-ups waiting for approval, oldest first."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from accounts.selectors import user_list_pending


class Command(BaseCommand):
    help = "List pending sign-ups (oldest first)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def handle(self, *args: Any, **options: Any) -> None:
        pending = list(user_list_pending())
        for user in pending:
            if options["json"]:
                row = {"id": user.pk, "username": user.username, "email": user.email}
                row["created_at"] = user.created_at.isoformat()
                self.stdout.write(json.dumps(row))
            else:
                self.stdout.write(
                    f"{user.pk:>6}  {user.created_at:%Y-%m-%d %H:%M}  {user.username:<32}  {user.email}"
                )
        if not options["json"]:
            self.stdout.write(f"{len(pending)} pending sign-up(s).")
