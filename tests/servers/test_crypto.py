"""Encryption at rest: round trip, a real database dump without clear secrets, key rotation."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from mgmt.crypto import DecryptionFailed, decrypt_str, encrypt_str
from servers.models import Server
from tests.services import require

SECRET = "agent-secret-" + "x7Q" * 8
KEY_TEXT = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-unique-marker\n"


def test_round_trip_and_fresh_cipher_text():
    first, second = encrypt_str("hello"), encrypt_str("hello")
    assert first != second  # a fresh IV every time
    assert decrypt_str(first) == decrypt_str(second) == "hello"
    with pytest.raises(DecryptionFailed):
        decrypt_str("enc1:garbage")


@pytest.mark.django_db
def test_stored_columns_hold_cipher_text(make_server):
    server = make_server(agent_secret=SECRET, ssh_private_key=KEY_TEXT, ssh_password="pw-123456")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT agent_secret, ssh_private_key, ssh_password FROM servers_server WHERE id = %s",
            [server.pk],
        )
        raw = cursor.fetchone()
    assert all(value.startswith("enc1:") for value in raw)
    assert SECRET not in "".join(raw) and "unique-marker" not in "".join(raw)
    fresh = Server.objects.get(pk=server.pk)
    assert (fresh.agent_secret, fresh.ssh_private_key, fresh.ssh_password) == (SECRET, KEY_TEXT, "pw-123456")


@pytest.mark.django_db(transaction=True)
def test_database_dump_contains_no_secret_in_clear(make_server):
    dump = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    require(dump is not None, "mariadb-dump (Debian package mariadb-client)")
    make_server(agent_secret=SECRET, ssh_private_key=KEY_TEXT, ssh_password="pw-9876543")
    settings_db = connection.settings_dict
    result = subprocess.run(
        [
            dump,
            "-h",
            settings_db["HOST"] or "127.0.0.1",
            "-P",
            str(settings_db["PORT"] or 3306),
            "-u",
            settings_db["USER"],
            settings_db["NAME"],
            "servers_server",
        ],
        env={**os.environ, "MYSQL_PWD": settings_db["PASSWORD"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "INSERT INTO" in result.stdout and "enc1:" in result.stdout
    for clear in (SECRET, "unique-marker", "pw-9876543"):
        assert clear not in result.stdout


@pytest.mark.django_db
def test_rotation_rewrites_every_value_with_the_new_key(make_server, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    server = make_server(agent_secret=SECRET, ssh_private_key=KEY_TEXT)

    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # the new key goes first, the old one still reads
    assert Server.objects.get(pk=server.pk).agent_secret == SECRET
    call_command("reencrypt_fields")

    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone: everything still reads
    fresh = Server.objects.get(pk=server.pk)
    assert (fresh.agent_secret, fresh.ssh_private_key) == (SECRET, KEY_TEXT)

    settings.FIELD_ENCRYPTION_KEYS = [old]  # and the old key alone no longer does
    with pytest.raises(DecryptionFailed):
        Server.objects.get(pk=server.pk)


@pytest.mark.django_db
def test_rotation_reports_values_no_key_reads(make_server, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    make_server(agent_secret=SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("reencrypt_fields")


def test_production_requires_keys(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.PRODUCTION = True
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        encrypt_str("x")


def test_production_settings_refuse_to_start_without_keys(tmp_path):
    from tests.mgmt.test_settings import settings_with

    env = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 50,
        "DATABASE_URL": "mysql://u:p@h/db",
        "MGMT_SERVER_IP": "10.0.0.1",
        "AGENT_PORT": "5005",
        "PLATFORM_URL": "https://mgmt.example.com",
    }
    result = settings_with(env, tmp_path)
    assert result.returncode != 0 and "FIELD_ENCRYPTION_KEYS" in result.stderr
    result = settings_with({**env, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}, tmp_path)
    assert result.returncode == 0, result.stderr
