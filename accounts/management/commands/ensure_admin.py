"""Create the first admin account if none exists (used by `make run`).

Credentials come from ADMIN_EMAIL / ADMIN_USERNAME / ADMIN_PASSWORD; without a
password one is generated and printed once.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User, UserType
from accounts.services import user_create_admin
from audit.models import AuditSource
from mgmt.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Create the initial admin account when the platform has none."

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(user_type=UserType.ADMIN).exists():
            self.stdout.write("An admin account exists already.")
            return
        email = os.environ.get("ADMIN_EMAIL", "admin@example.com")
        username = os.environ.get("ADMIN_USERNAME", "admin")
        given = os.environ.get("ADMIN_PASSWORD", "")
        password = given or secrets.token_urlsafe(12)
        try:
            user_create_admin(email=email, username=username, password=password, source=AuditSource.COMMAND)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Created admin {username} <{email}>."))
        if not given:
            self.stdout.write(f"Generated password (shown once): {password}")
