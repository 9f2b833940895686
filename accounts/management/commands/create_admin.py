"""Create an admin account non-interactively.

    manage.py create_admin --email ops@example.org --username ops --password-env OPS_PASSWORD

The password comes from an environment variable (never the command line, where
`ps` would show it) or is generated and printed once.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.services import user_create_admin
from mgmt.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Create an admin account (password from an environment variable, or generated)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--username", required=True)
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="name of the environment variable holding the password; generated when omitted",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        generated = not options["password_env"]
        if generated:
            password = secrets.token_urlsafe(16)
        else:
            password = os.environ.get(options["password_env"], "")
            if not password:
                raise CommandError(f"The environment variable {options['password_env']} is empty or unset.")
        try:
            user = user_create_admin(email=options["email"], username=options["username"], password=password)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Created admin {user.username} <{user.email}>."))
        if generated:
            self.stdout.write(f"Generated password (shown once): {password}")
