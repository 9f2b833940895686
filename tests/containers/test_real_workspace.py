"""The real workspace image (code-server + JupyterLab, images/workspace/) as a person uses it,
in Chromium, through the edge: sign up → approved → log in → both apps work on one folder."""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from accounts.models import User
from containers.models import WorkspaceStatus
from containers.services import workspace_approve, workspace_start, workspace_stop
from tests.containers.stack import Stack, unique_username
from tests.factories import TEST_PASSWORD, UserFactory
from tests.net import wait_until
from tests.services import require

pytestmark = [pytest.mark.docker, pytest.mark.nginx, pytest.mark.slow]

REAL_IMAGE = "mgmt/workspace:latest"
APP_TIMEOUT_MS = 90_000  # JupyterLab and the VS Code workbench load a lot on a 2-core machine


@pytest.fixture
def real_image(settings) -> str:
    present = subprocess.run(["docker", "image", "inspect", REAL_IMAGE], capture_output=True, timeout=30)
    require(present.returncode == 0, f"the real workspace image {REAL_IMAGE} (make workspace-image)")
    settings.WORKSPACE_DEFAULT_IMAGE = REAL_IMAGE
    settings.WORKSPACE_READY_TIMEOUT = 120
    return REAL_IMAGE


def _sign_up_approve_log_in(stack: Stack, page) -> User:
    base = stack.nginx.platform_url
    username = unique_username("re")
    page.goto(f"{base}/register")
    page.fill("#email", f"{username}@example.com")
    page.fill("#username", username)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/login")
    person = User.objects.get(username=username)
    admin = UserFactory(username=unique_username("ad"), admin=True)
    workspace, _ = workspace_approve(actor=admin, user=person, memory="2g")
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    page.fill("#email", person.email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/workspace")
    assert page.inner_text("#status") == "Active"
    return person


def _jupyter_files(page, jupyter: str) -> list[str]:
    """The folder as Jupyter's contents API lists it, asked from Jupyter's own origin."""
    page.goto(f"{jupyter}/api/contents/")
    listing = page.evaluate("JSON.parse(document.body.innerText)")
    return sorted(entry["name"] for entry in listing["content"])


def test_jupyterlab_and_vs_code_work_on_one_folder_and_survive_a_restart(stack, real_image, browser_page):
    page = browser_page
    person = _sign_up_approve_log_in(stack, page)
    name = person.username
    folder = stack.deploy / name
    jupyter = f"http://{stack.nginx.host(name, 'jupyter')}"
    vscode = f"http://{stack.nginx.host(name, 'vscode')}"

    # JupyterLab: a new notebook runs print(6*7) and shows 42.
    page.goto(f"{jupyter}/lab")
    page.wait_for_url(f"{jupyter}/lab**")
    page.locator(".jp-LauncherCard[data-category='Notebook']").first.click(timeout=APP_TIMEOUT_MS)
    cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    cell.wait_for(timeout=APP_TIMEOUT_MS)
    cell.click()
    page.keyboard.type("print(6*7)")
    output = page.locator(".jp-OutputArea-output", has_text="42").first
    # Run it; a kernel that is still connecting may drop the first request, so ask again.
    for _ in range(4):
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.locator("button[data-command='notebook:run-cell-and-select-next'], "
                     "jp-button[data-command='notebook:run-cell-and-select-next']").first.click()  # fmt: skip
        try:
            output.wait_for(timeout=20_000)
            break
        except PlaywrightTimeout:
            continue
    output.wait_for(timeout=1000)
    page.locator("[data-command='docmanager:save']").first.click()
    # JupyterLab asks for a name on the first save of an untitled notebook.
    page.locator(".jp-Dialog input[type=text]").fill("answer.ipynb")
    page.locator(".jp-Dialog button", has_text="Rename and Save").click()
    notebook = folder / "answer.ipynb"
    assert wait_until(lambda: notebook.exists() and "42" in notebook.read_text(), timeout=30)
    assert notebook.stat().st_uid == settings.WORKSPACE_UID

    # VS Code: the workbench connects (no reconnect dialog), opens a file of the folder, and a
    # command typed into its terminal writes into the folder.
    page.goto(f"{vscode}/?folder=/workspace")
    page.wait_for_url(f"{vscode}/**")
    page.locator(".monaco-workbench").wait_for(timeout=APP_TIMEOUT_MS)
    explorer_entry = page.locator(".explorer-folders-view .monaco-list-row", has_text="README.txt")
    explorer_entry.wait_for(timeout=APP_TIMEOUT_MS)
    explorer_entry.click()
    page.locator(".monaco-editor .view-lines", has_text="Your workspace.").wait_for(timeout=APP_TIMEOUT_MS)
    page.keyboard.press("Control+Backquote")
    terminal = page.locator(".terminal-wrapper .xterm").first
    terminal.wait_for(timeout=APP_TIMEOUT_MS)
    # Into the terminal (it must have the focus); the shell may still be starting: try again.
    for _ in range(5):
        terminal.click()
        page.keyboard.type("echo from-the-terminal > /workspace/terminal.txt")
        page.keyboard.press("Enter")
        if wait_until(lambda: (folder / "terminal.txt").exists(), timeout=10):
            break
    assert (folder / "terminal.txt").exists()
    assert (folder / "terminal.txt").read_text() == "from-the-terminal\n"
    assert not page.locator("text=/failed to connect|Reconnecting|Cannot reconnect/i").count()

    # One folder: what VS Code wrote, Jupyter lists; the notebook Jupyter saved, VS Code shows.
    assert {"terminal.txt", "answer.ipynb", "README.txt"} <= set(_jupyter_files(page, jupyter))
    page.goto(f"{vscode}/?folder=/workspace")
    page.locator(".explorer-folders-view .monaco-list-row", has_text="answer.ipynb").wait_for(
        timeout=APP_TIMEOUT_MS
    )

    # Another person gets 403 on both apps.
    stranger = UserFactory(username=unique_username("st"))
    from accounts.services import session_create

    token = session_create(user=stranger)[1]
    for app in ("vscode", "jupyter"):
        first = stack.ws(name, app, "/", None, Accept="text/html")
        authorize = urlsplit(first.headers["Location"])
        assert stack.get(f"{authorize.path}?{authorize.query}", token).status_code == 403

    # Stop → start keeps the files, and both apps come back.
    workspace = person.workspaces.get()
    workspace_stop(actor=person, workspace=workspace)
    workspace = workspace_start(actor=person, workspace=workspace)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    assert {"terminal.txt", "answer.ipynb", "README.txt"} <= set(_jupyter_files(page, jupyter))
