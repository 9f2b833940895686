"""`manage.py generate_encryption_key`: print a fresh key for FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from mgmt.crypto import generate_key


class Command(BaseCommand):
    help = "Print a new Fernet key to put first in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options) -> None:
        self.stdout.write(generate_key())
