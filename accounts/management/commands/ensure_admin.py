"""Create the first admin account if none exists (used by `make run`).

Credentials come from ADMIN_EMAIL / ADMIN_USERNAME / ADMIN_PASSWORD; without a
password one is generated and printed once.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand

from accounts.models import User, UserType


class Command(BaseCommand):
    help = "Create the initial admin account when the platform has none."

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(user_type=UserType.ADMIN).exists():
            self.stdout.write("An admin account exists already.")
            return
        email = os.environ.get("ADMIN_EMAIL", "admin@example.com")
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(email=email, username=username, password=password)
        self.stdout.write(self.style.SUCCESS(f"Created admin {username} <{email}>."))
        if "ADMIN_PASSWORD" not in os.environ:
            self.stdout.write(f"Generated password (shown once): {password}")
