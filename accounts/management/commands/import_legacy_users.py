"""Import accounts of the original platform, keeping their bcrypt password hashes.

    manage.py import_legacy_users users.json

The file is a JSON list of rows of the original `users` table (username, email,
password = "$2b$12$…", user_type, status, is_approved, metadata, redirect_url,
created_at). Each row is imported on its own; refused rows are listed and the
command exits non-zero. Imported people log in with their old password, which
is then re-hashed with Argon2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from accounts.models import UserStatus, UserType
from accounts.services import user_import_legacy
from mgmt.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Import users of the original platform with their bcrypt hashes."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rows = json.loads(options["path"].read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {options['path']}: {exc}") from exc
        if not isinstance(rows, list):
            raise CommandError("The file must hold a JSON list of user rows.")
        failed = 0
        for index, row in enumerate(rows):
            try:
                if not isinstance(row, dict):
                    raise ApplicationError("not a JSON object")
                user_type = row.get("user_type") or (
                    UserType.ADMIN if row.get("is_admin") else UserType.REGULAR
                )
                metadata = row.get("metadata") or {}
                if isinstance(metadata, str):
                    metadata = json.loads(metadata)
                user = user_import_legacy(
                    email=row.get("email", ""),
                    username=row.get("username", ""),
                    bcrypt_hash=row.get("password", ""),
                    user_type=user_type,
                    status=row.get("status") or UserStatus.ACTIVE,
                    is_approved=bool(row.get("is_approved", True)),
                    metadata=metadata,
                    redirect_url=row.get("redirect_url") or "",
                    created_at=parse_datetime(row["created_at"]) if row.get("created_at") else None,
                )
            except (ApplicationError, ValueError) as exc:
                failed += 1
                self.stderr.write(
                    f"row {index} ({row.get('email') if isinstance(row, dict) else '?'}): {exc}"
                )
                continue
            self.stdout.write(f"imported {user.username} <{user.email}>")
        self.stdout.write(f"{len(rows) - failed} imported, {failed} refused.")
        if failed:
            raise CommandError(f"{failed} row(s) were not imported.")
