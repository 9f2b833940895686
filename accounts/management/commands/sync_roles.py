"""Re-apply the permission matrix to the admin/qvp groups (also runs after every migrate)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.roles import role_groups_sync


class Command(BaseCommand):
    help = "Give the admin/qvp groups exactly the model permissions the matrix allows."

    def handle(self, *args: Any, **options: Any) -> None:
        role_groups_sync()
        self.stdout.write(self.style.SUCCESS("Role groups synced with the permission matrix."))
