import io
import json

import bcrypt
import pytest
from django.core.management import CommandError, call_command

from accounts.models import User, UserType
from audit.models import AuditLog
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **kwargs)
    return out.getvalue()


def test_create_admin_with_a_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPS_PASSWORD", "ops-Long-passphrase-3")
    output = run(
        "create_admin", "--email", "Ops@Example.org", "--username", "ops", "--password-env", "OPS_PASSWORD"
    )
    assert "Created admin ops" in output and "ops-Long-passphrase-3" not in output
    user = User.objects.get(username="ops")
    assert (user.email, user.user_type, user.status, user.is_superuser) == (
        "ops@example.org",
        "admin",
        "active",
        True,
    )
    assert user.check_password("ops-Long-passphrase-3")
    assert list(user.groups.values_list("name", flat=True)) == ["admin"]
    assert AuditLog.objects.filter(action_type="user.create_admin", target_id=str(user.pk)).count() == 1


def test_create_admin_generates_and_prints_a_password_once():
    output = run("create_admin", "--email", "ops@example.org", "--username", "ops")
    password = output.split("shown once): ")[1].strip()
    assert User.objects.get(username="ops").check_password(password)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "bad", "--username", "ops"], "email"),
        (["--email", "ops@example.org", "--username", "Bad Name"], "username"),
        (["--email", "ops@example.org", "--username", "ops", "--password-env", "UNSET_VAR_X"], "UNSET_VAR_X"),
    ],
)
def test_create_admin_refusals(args, message):
    with pytest.raises(CommandError, match=message):
        run("create_admin", *args)
    assert not User.objects.exists()


def test_create_admin_refuses_a_weak_password(monkeypatch):
    monkeypatch.setenv("OPS_PASSWORD", "123")
    with pytest.raises(CommandError, match="password"):
        run(
            "create_admin",
            "--email",
            "ops@example.org",
            "--username",
            "ops",
            "--password-env",
            "OPS_PASSWORD",
        )


def test_ensure_admin_creates_once(monkeypatch):
    monkeypatch.setenv("ADMIN_EMAIL", "first@example.org")
    monkeypatch.setenv("ADMIN_USERNAME", "admin")
    monkeypatch.setenv("ADMIN_PASSWORD", "first-Long-passphrase-1")
    assert "Created admin admin" in run("ensure_admin")
    assert "exists already" in run("ensure_admin")
    assert User.objects.filter(user_type=UserType.ADMIN).count() == 1


def test_list_pending_oldest_first():
    UserFactory(username="pam", pending=True)
    UserFactory(username="pat", pending=True)
    UserFactory(username="rex")
    output = run("list_pending")
    assert "pam" in output and "pat" in output and "rex" not in output
    assert output.index("pam") < output.index("pat")
    assert "2 pending sign-up(s)." in output
    rows = [json.loads(line) for line in run("list_pending", "--json").splitlines()]
    assert [r["username"] for r in rows] == ["pam", "pat"]


def test_import_legacy_users(tmp_path):
    legacy = bcrypt.hashpw(b"old-platform-pass", bcrypt.gensalt(rounds=4)).decode()
    rows = [
        {
            "username": "olga", "email": "olga@example.com", "password": legacy, "is_admin": False,
            "is_approved": True, "user_type": "regular", "status": "active", "metadata": '{"team": "ml"}',
            "redirect_url": "/olga/vscode/", "created_at": "2024-01-02T03:04:05+00:00",
        },
        {"username": "Bad Name", "email": "bad@example.com", "password": legacy},
        {"username": "nohash", "email": "nohash@example.com", "password": "plaintext"},
    ]  # fmt: skip
    path = tmp_path / "users.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(CommandError, match="2 row"):
        run("import_legacy_users", str(path))
    olga = User.objects.get(username="olga")
    assert olga.password == "bcrypt$" + legacy
    assert olga.metadata == {"team": "ml"} and olga.created_at.year == 2024
    assert olga.check_password("old-platform-pass")
    assert not User.objects.filter(email__in=["bad@example.com", "nohash@example.com"]).exists()
