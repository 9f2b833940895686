"""The shape every cleanup command shares: `--dry-run`, then what was (or would be) removed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from maintenance.services import CleanupReport


class CleanupCommand(BaseCommand):
    job: Callable[..., CleanupReport]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Only report what would be removed.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = type(self).job(dry_run=options["dry_run"])
        verb = (
            ("would stop" if report.dry_run else "stopped")
            if report.job == "idle-workspaces"
            else ("would remove" if report.dry_run else "removed")
        )
        for item in report.items:
            self.stdout.write(f"  {item}")
        for error in report.errors:
            self.stderr.write(self.style.WARNING(f"  {error}"))
        note = f" ({report.note})" if report.note else ""
        self.stdout.write(self.style.SUCCESS(f"{report.job}: {verb} {report.count}{note}"))
