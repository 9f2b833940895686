"""Where a newcomer starts: a fresh clone with its own fresh .venv, `make run` (on ports of its
own), then in Chromium: sign up, the admin approves in the admin site, the person opens VS Code.

Nothing from the test environment reaches `make run`: it gets a minimal environment, so it must
install and start everything it uses by itself (the README's promise).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import MySQLdb
import pytest
import redis
import requests

from tests.net import free_port, wait_until
from tests.services import require_binary, require_docker

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long Passphrase 42"

pytestmark = [pytest.mark.docker, pytest.mark.nginx, pytest.mark.slow]


@dataclass
class Newcomer:
    clone: Path
    url: str
    edge_port: int
    admin_password: str
    username: str  # the person this test signs up (and whose container it removes)
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _newcomer_env() -> dict[str, str]:
    """A login shell's environment: no DATABASE_URL, REDIS_URL, CI venv or test settings."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),  # pip's cache, as on the newcomer's machine
        "LANG": "C.UTF-8",
        # This machine reaches PyPI only through its configured index and intercepting CA.
        **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "REQUESTS_CA", "SSL_CERT"))},
    }


@contextmanager
def make_run(clone: Path, log: Path, **settings: str) -> Iterator[tuple[int, str]]:
    """`make run` in `clone` on ports of its own until the local agent is online; then Ctrl-C.

    Yields (the edge's port, make run's output so far)."""
    edge_port, app_port, agent_port = free_port(), free_port(), free_port()
    env = _newcomer_env() | settings
    env |= {"EDGE_PORT": str(edge_port), "APP_PORT": str(app_port), "AGENT_PORT_LOCAL": str(agent_port)}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", "run"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        # A fresh venv installs everything from the package index: minutes, not seconds.
        ready = wait_until(
            lambda: "Server local" in log.read_text(errors="replace") or process.poll() is not None,
            timeout=900,
            interval=1,
        )
        text = log.read_text(errors="replace")
        assert ready and process.poll() is None, text[-5000:]
        assert "is online" in text, text[-5000:]
        yield edge_port, text
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: honcho ends every process
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _remove_containers(username: str) -> None:
    names = subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"name=^mgmt-{username}$"],
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_docker()
    require_binary("nginx", "nginx")
    clone = tmp_path_factory.mktemp("newcomer") / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    return clone


@pytest.fixture
def newcomer(clone: Path) -> Iterator[Newcomer]:
    username = f"nc{secrets.token_hex(3)}"
    log = clone.parent / "make-run.log"
    # The stand-in image starts in a second; the real one is tested in tests/containers.
    try:
        with make_run(clone, log, WORKSPACE_DEFAULT_IMAGE="mgmt-test/workspace:latest") as (port, text):
            assert (clone / ".venv" / "bin" / "python").exists()  # its own, not the test suite's
            password = re.search(r"Generated password \(shown once\): (\S+)", text)
            assert password, text[-3000:]
            yield Newcomer(clone, f"http://localhost:{port}", port, password.group(1), username, log)
    finally:
        _remove_containers(username)


def test_a_fresh_clone_signs_up_gets_approved_and_opens_vs_code(newcomer: Newcomer, browser_context) -> None:
    base = newcomer.url
    username = newcomer.username
    person = browser_context.new_page()
    person.goto(f"{base}/register")
    person.fill("input[name=username]", username)
    person.fill("input[name=email]", f"{username}@example.org")
    person.fill("input[name=password]", PASSWORD)
    person.locator("form button[type=submit], form input[type=submit]").first.click()
    person.wait_for_load_state()
    assert "error" not in (person.locator(".error").all_inner_texts() or [""])[0].lower()

    # The admin, in a browser of their own, approves in the admin site.
    admin = browser_context.browser.new_context().new_page()
    admin.goto(f"{base}/admin/login/")
    admin.fill("input[name=username]", "admin@example.com")
    admin.fill("input[name=password]", newcomer.admin_password)
    admin.click("input[type=submit]")
    admin.goto(f"{base}/admin/containers/pendinguser/")
    admin.locator(f"tr:has-text('{username}') input[name=_selected_action]").check()
    admin.select_option("select[name=action]", "approve")
    admin.click("button[name=index]")
    admin.click("input[name=apply]")
    assert f"{username}: approved" in admin.locator(".messagelist").text_content().lower(), admin.content()[
        :2000
    ]

    # The person logs in and waits on their page (it refreshes itself) until the links appear.
    person.goto(f"{base}/login")
    person.fill("input[name=email]", f"{username}@example.org")
    person.fill("input[name=password]", PASSWORD)
    person.locator("form button[type=submit], form input[type=submit]").first.click()
    # The page follows the provisioning live and opens VS Code when it is ready; were it ready
    # already, the page offers the link instead.
    person.goto(f"{base}/workspace")
    vscode = re.compile(rf"^http://{username}--vscode\.localhost:{newcomer.edge_port}/")
    for _ in range(240):
        if vscode.match(person.url):
            break
        if person.locator("#open-vscode").count():
            person.click("#open-vscode")
            break
        person.wait_for_timeout(500)
    person.wait_for_url(vscode)
    # The app of the person's own container answers on its own origin.
    assert person.locator("h1").inner_text() == "vscode stand-in", person.content()[:1000]
    assert f"workspace of {username}" in person.locator("body").inner_text()

    # What make run was given is in var/stack.env, and manage.py in another shell reads it.
    assert (
        "WORKSPACE_DEFAULT_IMAGE=mgmt-test/workspace:latest" in (newcomer.clone / "var/stack.env").read_text()
    )
    other_shell = subprocess.run(
        [".venv/bin/python", "manage.py", "shell", "-c", "from django.conf import settings as s; "
         "print(s.WORKSPACE_DEFAULT_IMAGE, s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER)"],
        cwd=newcomer.clone, env=_newcomer_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert other_shell.stdout.split()[-3:] == [
        "mgmt-test/workspace:latest",
        "filesystem://localhost//",
        "False",
    ]


def test_make_run_with_mariadb_and_redis_runs_the_same_processes_on_them(clone: Path) -> None:
    """DATABASE_URL and REDIS_URL: the same Procfile on MariaDB and Redis; manage.py in another
    shell queues the approval to the running worker."""
    username = f"nc{secrets.token_hex(3)}"
    db_name = f"newcomer_{secrets.token_hex(3)}"
    db = MySQLdb.connect(host="127.0.0.1", user="mgmt", password="mgmt")
    db.cursor().execute(f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    redis_url = "redis://127.0.0.1:6379/13"
    redis.Redis.from_url(redis_url).flushdb()
    settings = {
        "DATABASE_URL": f"mysql://mgmt:mgmt@127.0.0.1:3306/{db_name}",
        "REDIS_URL": redis_url,
        "WORKSPACE_DEFAULT_IMAGE": "mgmt-test/workspace:latest",
    }
    try:
        with make_run(clone, clone.parent / "make-run-mariadb.log", **settings) as (port, text):
            assert "Processes: web worker beat agent nginx" in text
            signed_up = requests.post(
                f"http://localhost:{port}/api/auth/register",
                json={
                    "username": username,
                    "email": f"{username}@example.org",
                    "password": PASSWORD,
                },
                timeout=30,
            )
            assert signed_up.status_code in (200, 201), signed_up.text
            other_shell = subprocess.run(
                [".venv/bin/python", "manage.py", "approve_user", username],
                cwd=clone, env=_newcomer_env(), capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert other_shell.returncode == 0, other_shell.stdout + other_shell.stderr
            cursor = db.cursor()

            def status() -> str:
                db.commit()  # a fresh snapshot each time
                cursor.execute(
                    f"SELECT w.status FROM `{db_name}`.containers_workspace w "
                    f"JOIN `{db_name}`.accounts_user u ON u.id = w.owner_id WHERE u.username = %s",
                    [username],
                )
                row = cursor.fetchone()
                return row[0] if row else ""

            assert wait_until(lambda: status() == "active", timeout=90, interval=0.5), status()
            assert redis.Redis.from_url(redis_url).dbsize() > 0  # the broker and cache were Redis
    finally:
        _remove_containers(username)
        db.cursor().execute(f"DROP DATABASE IF EXISTS `{db_name}`")
        db.close()
        redis.Redis.from_url(redis_url).flushdb()
