"""`manage.py reencrypt_fields [--dry-run]`: rewrite every encrypted value with the current key."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from mgmt.services import encrypted_fields_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted database value with the first key of FIELD_ENCRYPTION_KEYS. "
        "Rotation: put the new key first, keep the old one after it, run this, then drop the old key."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be rewritten.")

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        results = encrypted_fields_reencrypt(dry_run=dry_run)
        verb = "would rewrite" if dry_run else "rewrote"
        for result in results:
            self.stdout.write(f"{result.label}: {verb} {result.rewritten}")
            if result.failed:
                self.stderr.write(
                    f"{result.label}: no configured key decrypts rows {', '.join(result.failed)}"
                )
        if any(r.failed for r in results):
            raise CommandError("Some values could not be decrypted; they were left as they are.")
