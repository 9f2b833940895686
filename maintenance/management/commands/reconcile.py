"""`manage.py reconcile [--dry-run] [--server NAME]`: compare, repair, print the differences as a table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from maintenance.reconcile import reconcile
from mgmt.exceptions import ApplicationError

_COLUMNS = ("kind", "server", "subject", "detail", "action", "outcome")


def format_table(rows: list[dict[str, Any]]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in _COLUMNS}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in _COLUMNS)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in _COLUMNS).rstrip() for r in rows]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Compare the database with every agent's containers and the route files; repair the drift."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Only report the differences.")
        parser.add_argument("--server", default="", help="Only this server (by name).")
        parser.add_argument(
            "--stuck-minutes", type=int, default=None, help="Override RECONCILE_STUCK_MINUTES for this run."
        )
        parser.add_argument(
            "--remove-orphan-folders", action="store_true", help="Also delete folders of people who are gone."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stuck = options["stuck_minutes"]
        try:
            run = reconcile(
                dry_run=options["dry_run"],
                server_name=options["server"],
                trigger="command",
                stuck_after=timedelta(minutes=stuck) if stuck is not None else None,
                remove_orphan_folders=options["remove_orphan_folders"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if run.findings:
            self.stdout.write(format_table(run.findings))
        for server in run.unreachable:
            self.stderr.write(self.style.WARNING(f"skipped {server['server']}: {server['reason']}"))
        summary = f"{run.get_status_display()}: {len(run.findings)} difference(s)" + (
            " (dry run, nothing changed)" if run.dry_run else ""
        )
        if run.error:
            raise CommandError(f"{summary}; the run failed: {run.error}")
        self.stdout.write(self.style.SUCCESS(summary) if not run.unreachable else self.style.WARNING(summary))
