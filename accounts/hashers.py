"""Verifying bcrypt hashes of the original platform.

The original hashed with bcrypt, which used only the first 72 bytes of a
password. bcrypt >= 5 refuses longer input with a ValueError (a 500 on login),
so this hasher truncates the way the original did. It only verifies legacy
hashes: new passwords are hashed with Argon2, and a legacy hash is upgraded at
the first successful login.
"""

from __future__ import annotations

from django.contrib.auth.hashers import BCryptPasswordHasher

BCRYPT_MAX_BYTES = 72


class LegacyBCryptPasswordHasher(BCryptPasswordHasher):
    algorithm = "bcrypt"  # stored as "bcrypt$$2b$12$…"

    def encode(self, password: str, salt: bytes) -> str:
        bcrypt = self._load_library()
        data = bcrypt.hashpw(password.encode()[:BCRYPT_MAX_BYTES], salt)
        return f"{self.algorithm}${data.decode('ascii')}"
