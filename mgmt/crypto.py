"""Encryption at rest for secrets kept in the database (agent secrets, SSH keys, registry passwords).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, with a MultiFernet so
that a new key can be added in front of the old one: values are written with
the first key and read with any of them; `manage.py reencrypt_fields` rewrites
every stored value with the first key, after which the old key can go.

Keys come from `FIELD_ENCRYPTION_KEYS` (comma-separated urlsafe-base64 Fernet
keys, first = current). In development, when unset, a key is derived from
`SECRET_KEY`; production refuses to start without the variable.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# Stored values start with this marker, so clear text and cipher text never get confused.
PREFIX = "enc1:"


class DecryptionFailed(Exception):
    """A stored value cannot be decrypted with any configured key."""


def derive_development_key(secret_key: str) -> str:
    """A stable Fernet key derived from SECRET_KEY (development only)."""
    digest = hashlib.sha256(b"mgmt-field-encryption:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def configured_keys() -> list[str]:
    keys = [k.strip() for k in getattr(settings, "FIELD_ENCRYPTION_KEYS", []) if k.strip()]
    if keys:
        return keys
    if getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is required in production.")
    return [derive_development_key(settings.SECRET_KEY)]


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 urlsafe-base64-encoded bytes; make one with `manage.py generate_encryption_key`)."
        ) from exc


def _fernet() -> MultiFernet:
    return _fernet_for(tuple(configured_keys()))


def encrypt_str(value: str) -> str:
    return PREFIX + _fernet().encrypt(value.encode()).decode()


def decrypt_str(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise DecryptionFailed("The stored value is not in the encrypted format.")
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise DecryptionFailed("No configured key decrypts the stored value.") from exc


def rotate_str(stored: str) -> str:
    """The same secret, encrypted again with the current (first) key."""
    if not stored.startswith(PREFIX):
        raise DecryptionFailed("The stored value is not in the encrypted format.")
    try:
        return PREFIX + _fernet().rotate(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise DecryptionFailed("No configured key decrypts the stored value.") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


class EncryptedTextField(models.TextField):
    """A text column holding Fernet cipher text; Python code sees the clear text.

    An empty string stays empty (nothing to hide, and "not set" stays cheap to
    test). Never use it in lookups: cipher text differs on every write.
    """

    description = "Text encrypted at rest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(str(value))


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) pair that uses EncryptedTextField, across installed apps."""
    from django.apps import apps

    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]
