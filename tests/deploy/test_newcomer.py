"""Where a newcomer starts: a fresh clone with its own fresh .venv, `make run` (on ports of its
own), then in Chromium: sign up, the admin approves in the admin site, the person opens VS Code.

Nothing from the test environment reaches `make run`: it gets a minimal environment, so it must
install and start everything it uses by itself (the README's promise).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.net import free_port, wait_until
from tests.services import require_binary, require_docker

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.docker, pytest.mark.nginx, pytest.mark.slow]


@dataclass
class Newcomer:
    url: str
    edge_port: int
    admin_password: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _newcomer_env(home: Path) -> dict[str, str]:
    """A login shell's environment: no DATABASE_URL, REDIS_URL, CI venv or test settings."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", str(home)),  # pip's cache, as on the newcomer's machine
        "LANG": "C.UTF-8",
        # This machine reaches PyPI only through its configured index and intercepting CA.
        **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "REQUESTS_CA", "SSL_CERT"))},
    }


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Newcomer]:
    require_docker()
    require_binary("nginx", "nginx")
    base = tmp_path_factory.mktemp("newcomer")
    clone = base / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    edge_port, app_port, agent_port = free_port(), free_port(), free_port()
    log = base / "make-run.log"
    env = _newcomer_env(base) | {
        "EDGE_PORT": str(edge_port),
        "APP_PORT": str(app_port),
        "AGENT_PORT_LOCAL": str(agent_port),
        # The stand-in image starts in a second; the real one is tested in tests/containers.
        "WORKSPACE_DEFAULT_IMAGE": "mgmt-test/workspace:latest",
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", "run"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    username_prefix = f"nc{secrets.token_hex(3)}"
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
        assert (clone / ".venv" / "bin" / "python").exists()  # its own, not the test suite's
        password = re.search(r"Generated password \(shown once\): (\S+)", text)
        assert password, text[-3000:]
        yield Newcomer(
            url=f"http://localhost:{edge_port}",
            edge_port=edge_port,
            admin_password=password.group(1),
            log=log,
        )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: honcho ends every process
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        names = subprocess.run(
            ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"name=mgmt-{username_prefix}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        for name in names:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        shutil.rmtree(clone / "var" / "workspaces", ignore_errors=True)


def test_a_fresh_clone_signs_up_gets_approved_and_opens_vs_code(newcomer: Newcomer, browser_context) -> None:
    base = newcomer.url
    username = f"nc{secrets.token_hex(3)}"
    person = browser_context.new_page()
    person.goto(f"{base}/register")
    person.fill("input[name=username]", username)
    person.fill("input[name=email]", f"{username}@example.org")
    person.fill("input[name=password]", "a long Passphrase 42")
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
    person.fill("input[name=password]", "a long Passphrase 42")
    person.locator("form button[type=submit], form input[type=submit]").first.click()
    person.goto(f"{base}/workspace")
    person.wait_for_selector("#open-vscode", timeout=120_000)
    person.click("#open-vscode")
    person.wait_for_url(re.compile(rf"^http://{username}--vscode\.localhost:{newcomer.edge_port}/"))
    # The app of the person's own container answers on its own origin.
    assert person.locator("h1").inner_text() == "vscode stand-in", person.content()[:1000]
    assert f"workspace of {username}" in person.locator("body").inner_text()
    assert "Server local" in newcomer.output()
