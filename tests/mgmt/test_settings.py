"""Settings switch on the environment: checked in fresh interpreters with a clean environment."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], "
    "'options': settings.DATABASES['default'].get('OPTIONS', {}), "
    "'cache': settings.CACHES['default']['BACKEND'], 'eager': settings.CELERY_TASK_ALWAYS_EAGER, "
    "'broker': settings.CELERY_BROKER_URL, 'debug': settings.DEBUG}))"
)


def settings_with(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "mgmt.settings",
        "STACK_ENV_FILE": "",  # a `make run` of this checkout must not leak in
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_embedded_default_is_sqlite_locmem_and_eager(tmp_path):
    result = settings_with({}, tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["cache"].endswith("LocMemCache")
    assert found["eager"] is True
    assert found["debug"] is True


def test_urls_switch_to_mysql_and_redis(tmp_path):
    env = {"DATABASE_URL": "mysql://u:p@db.example:3306/mgmt", "REDIS_URL": "redis://127.0.0.1:6379/3"}
    result = settings_with(env, tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["engine"] == "django.db.backends.mysql"
    assert found["options"]["charset"] == "utf8mb4"
    assert found["cache"] == "django_redis.cache.RedisCache"
    assert found["broker"] == "redis://127.0.0.1:6379/3"
    assert found["eager"] is False


def test_make_runs_serverless_stack_shares_a_folder_broker_and_a_file_cache(tmp_path):
    """`make run` without Redis: web, worker and beat are separate processes, so nothing in-process."""
    env = {
        "CELERY_BROKER_URL": "filesystem://localhost//",
        "CELERY_BROKER_DIR": str(tmp_path / "celery"),
        "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
    }
    result = settings_with(env, tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["eager"] is False
    assert found["cache"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert found["options"]["transaction_mode"] == "IMMEDIATE"  # SQLite shared by the processes
    assert "journal_mode=WAL" in found["options"]["init_command"]
    assert (tmp_path / "celery" / "queue").is_dir()


def test_every_required_production_setting_is_in_the_deploy_template(tmp_path):
    """deploy/mgmt.env.example with its values filled in is enough for production; one less is not."""
    template = (ROOT / "deploy" / "mgmt.env.example").read_text().splitlines()
    example = dict(line.split("=", 1) for line in template if line.strip() and not line.startswith("#"))
    names = list(example)
    values = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "k" * 50,
        "FIELD_ENCRYPTION_KEYS": "bm90LWEtcmVhbC1rZXktYnV0LTMyLWJ5dGVzLWxvbmchIQ==",
        "DATABASE_URL": "mysql://u:p@db.example:3306/mgmt",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "PLATFORM_URL": "https://mgmt.example.org",
        "MGMT_SERVER_IP": "10.0.0.2",
        "AGENT_PORT": "5005",
    }
    filled = {name: values.get(name, example[name]) for name in names}
    filled.pop("ALLOWED_HOSTS")  # may be empty
    assert settings_with(filled, tmp_path).returncode == 0
    for required in ("SECRET_KEY", "DATABASE_URL", "PLATFORM_URL", "FIELD_ENCRYPTION_KEYS", "MGMT_SERVER_IP"):
        assert required in names
        without = {k: v for k, v in filled.items() if k != required}
        assert settings_with(without, tmp_path).returncode != 0, required


def test_production_refuses_to_start_without_secret_key(tmp_path):
    result = settings_with({"DJANGO_ENV": "production"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_required_variables(tmp_path):
    env = {"DJANGO_ENV": "production", "SECRET_KEY": "x" * 50, "DATABASE_URL": "mysql://u:p@h/db"}
    result = settings_with(env, tmp_path)
    assert result.returncode != 0
    assert "PLATFORM_URL" in result.stderr
    result = settings_with({**env, "PLATFORM_URL": "https://mgmt.example.com"}, tmp_path)
    assert result.returncode != 0
    assert "MGMT_SERVER_IP" in result.stderr


def test_the_suite_itself_runs_on_mariadb(db):
    assert connection.vendor == "mysql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        assert "MariaDB" in cursor.fetchone()[0]


def test_make_run_stack_file_is_read_in_development(tmp_path):
    stack = tmp_path / "stack.env"
    stack.write_text("PLATFORM_URL=http://localhost:8081\nWORKSPACE_DEFAULT_IMAGE=team/ide:2\n")
    probe = "from django.conf import settings; print(settings.PLATFORM_URL, settings.WORKSPACE_DEFAULT_IMAGE)"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "mgmt.settings"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**env, "STACK_ENV_FILE": str(stack)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "http://localhost:8081 team/ide:2"
    # The environment still wins over the file.
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**env, "STACK_ENV_FILE": str(stack), "PLATFORM_URL": "http://localhost:9090"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip().splitlines()[-1] == "http://localhost:9090 team/ide:2"


def test_every_setting_read_from_the_environment_is_in_env_example():
    """The README says `.env.example` lists every variable: each `env.<type>("NAME")` of the
    settings is there, as a `#NAME=` line."""
    settings_text = (ROOT / "mgmt" / "settings.py").read_text()
    read = set(re.findall(r'\benv(?:\.[a-z]+)?\(\s*"([A-Z][A-Z0-9_]*)"', settings_text))
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert len(read) > 50  # the pattern still finds the settings
    assert sorted(read - listed) == []
