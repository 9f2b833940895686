"""The admin's index is the operators' dashboard (issue #15 item 1): hosts, sign-ups, workspaces
that need an operator, the last reconcile and the Celery backlog; and it works in Chromium."""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.models import UserStatus
from audit.models import AuditLog
from containers.models import Workspace, WorkspaceStatus
from maintenance.models import ReconcileRun, RunStatus
from servers.models import Server, ServerStats, ServerStatus
from tests.browser import admin_log_in
from tests.containers.stack import unique_username
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory

IMAGE = "mgmt-test/workspace:latest"


def row_text(html: str, css_class: str, attr: str, value: str) -> str:
    """The text of one dashboard row, tags dropped and white space collapsed."""
    row = re.search(rf'<tr class="{css_class}" {attr}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert row, f"no {css_class} row for {value}"
    return " ".join(re.sub(r"<[^>]+>", " ", row[1]).split())


def unreachable_server(name: str = "gone", **fields) -> Server:
    """A host whose agent does not answer (nothing listens on port 1)."""
    return ServerFactory(name=name, agent_port=1, **fields)


# --- what the page shows, to whom --------------------------------------------------------------
@pytest.mark.django_db
def test_dashboard_is_the_admin_index_and_renders_with_no_agent_reachable(admin_browser):
    gone = unreachable_server(status=ServerStatus.OFFLINE, cpu_count=8, memory_total=16 * 1024**3)
    sampled = unreachable_server("sampled", status=ServerStatus.ONLINE, memory_total=8 * 1024**3)
    ServerStats.objects.create(
        server=sampled, cpu_percent=50.0, memory_used=2 * 1024**3, memory_total=8 * 1024**3,
        disk_used=10 * 1024**3, disk_total=100 * 1024**3,
    )  # fmt: skip
    WorkspaceFactory(
        owner__username="ann", server=gone, image=IMAGE, cpu=2.5, memory=3 * 1024**3,
        status=WorkspaceStatus.STOPPED,
    )  # fmt: skip
    page = admin_browser.get("/admin/")
    assert page.status_code == 200
    assert page.templates[0].name == "admin/dashboard.html"
    html = page.content.decode()
    gone_row = row_text(html, "ops-host", "data-host", "gone")
    assert "figures unknown" in gone_row and "Offline" in gone_row
    assert "used unknown · reserved 2.5 / 8" in gone_row  # CPU: reserved against capacity
    assert "reserved 3.0 GB" in gone_row and "16.0 GB" in gone_row
    sampled_row = row_text(html, "ops-host", "data-host", "sampled")
    assert "last sample" in sampled_row and "used 2.0 GB" in sampled_row and "used 10.0 GB" in sampled_row
    # The app list stays reachable below the dashboard.
    assert 'id="dashboard-apps"' in html and "/admin/containers/workspace/" in html


@pytest.mark.django_db
def test_pending_and_failed_or_stuck_workspaces_are_listed_with_their_actions(admin_browser):
    server = unreachable_server(status=ServerStatus.ONLINE, cpu_count=4, memory_total=8 * 1024**3)
    UserFactory(username="pat", pending=True)
    failed = WorkspaceFactory(
        owner__username="fred", server=server, image=IMAGE, status=WorkspaceStatus.FAILED,
        status_reason="container: image not found",
    )  # fmt: skip
    stuck = WorkspaceFactory(
        owner__username="stu", server=server, image=IMAGE, status=WorkspaceStatus.PROVISIONING
    )  # fmt: skip
    deleting = WorkspaceFactory(
        owner__username="del", server=server, image=IMAGE, status=WorkspaceStatus.DELETING,
        status_reason="teardown: agent unreachable",
    )  # fmt: skip
    Workspace.objects.filter(pk__in=[stuck.pk, deleting.pk]).update(
        updated_at=timezone.now() - timedelta(hours=2)
    )
    WorkspaceFactory(  # provisioning right now: not stuck
        owner__username="fresh", server=server, image=IMAGE, status=WorkspaceStatus.PROVISIONING
    )
    html = admin_browser.get("/admin/").content.decode()
    pending = re.search(r'<tr class="ops-pending" data-user="pat">(.*?)</tr>', html, re.S)[1]
    assert "/admin/containers/pendinguser/" in pending and 'name="reason"' in pending
    # The server choice says what is left: two provisioning and one deleting workspace (1 CPU,
    # 2 GiB each) reserve.
    assert "gone — 1.0 CPU, 2.0 GiB free" in pending
    failed_row = re.search(r'<tr class="ops-attention" data-user="fred">(.*?)</tr>', html, re.S)[1]
    assert "container: image not found" in failed_row
    assert f"/admin/containers/workspace/{failed.pk}/retry/" in failed_row
    stuck_row = re.search(r'<tr class="ops-attention" data-user="stu">(.*?)</tr>', html, re.S)[1]
    assert "(stuck)" in stuck_row and "/retry/" not in stuck_row
    deleting_row = re.search(r'<tr class="ops-attention" data-user="del">(.*?)</tr>', html, re.S)[1]
    assert "(stuck)" in deleting_row and "teardown: agent unreachable" in deleting_row
    assert 'data-user="fresh"' not in html


@pytest.mark.django_db
def test_qvp_sees_hosts_and_background_work_but_no_user_or_workspace_actions(qvp_browser):
    unreachable_server(status=ServerStatus.ONLINE)
    UserFactory(username="pending-quinn", pending=True)
    WorkspaceFactory(owner__username="fred", image=IMAGE, status=WorkspaceStatus.FAILED)
    page = qvp_browser.get("/admin/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="dashboard-hosts"' in html and 'id="dashboard-background"' in html
    assert 'id="dashboard-pending"' not in html and 'id="dashboard-attention"' not in html
    assert "pending-quinn" not in html and "/retry/" not in html and "/approve/" not in html


@pytest.mark.django_db
def test_anonymous_and_regular_people_get_the_login_page(client, browser_as, alice):
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert browser_as(alice).get("/admin/")["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_last_reconcile_run_is_shown(admin_browser):
    assert "never run" in admin_browser.get("/admin/").content.decode()
    run = ReconcileRun.objects.create(
        status=RunStatus.DRIFT, trigger="beat", findings=[{"kind": "orphan_container"}] * 2,
        unreachable=[{"server": "gone", "reason": "down"}], finished_at=timezone.now(),
    )  # fmt: skip
    html = admin_browser.get("/admin/").content.decode()
    cell = re.search(r'<td id="dashboard-reconcile">(.*?)</td>', html, re.S)[1]
    assert f"/admin/maintenance/reconcilerun/{run.pk}/change/" in cell and "Drift found" in cell
    text = " ".join(cell.split())
    assert "2 findings, 1 host unreachable" in text


@pytest.mark.django_db
def test_queue_depth_is_n_a_without_redis_and_counted_with_it(admin_browser, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert "n/a (the broker is not Redis)" in admin_browser.get("/admin/").content.decode()

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    settings.CELERY_TASK_ALWAYS_EAGER, settings.CELERY_BROKER_URL = False, url
    client = redis.Redis.from_url(url)
    keys = ["provisioning", "builds", "default", "provisioning\x06\x166"]
    client.delete(*keys)
    try:
        client.rpush("provisioning", "a", "b")
        client.rpush("provisioning\x06\x166", "c")  # a message of priority 6: still waiting work
        client.rpush("builds", "d")
        html = admin_browser.get("/admin/").content.decode()
    finally:
        client.delete(*keys)
    cell = re.search(r'<td id="dashboard-queues">(.*?)</td>', html, re.S)[1]
    assert re.findall(r'data-queue="(\w+)">\w+: (\d+)', cell) == [("provisioning", "3"), ("builds", "1"),
                                                                    ("default", "0")]  # fmt: skip

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # Redis down: unknown, not a 500
    page = admin_browser.get("/admin/")
    assert page.status_code == 200 and "provisioning: n/a" in page.content.decode()


# --- in Chromium: two hosts, approve and reject in place, retry ---------------------------------
def says(page, text: str) -> None:
    """The admin's messages on the page after the click (waiting for it) include `text`; its
    template capitalises their first letter."""
    from playwright.sync_api import expect

    expect(page.locator(".messagelist")).to_contain_text(text, ignore_case=True)


def _log_in(page, base: str, email: str) -> None:
    admin_log_in(page, base, email)
    page.wait_for_selector("#dashboard-hosts")


@pytest.mark.docker
@pytest.mark.nginx
def test_dashboard_in_chromium_approve_reject_and_retry_in_place(stack, browser_page):
    base = stack.live_url
    unreachable_server(f"gone-{uuid.uuid4().hex[:4]}", status=ServerStatus.OFFLINE)
    admin = UserFactory(username=unique_username("ad"), admin=True)
    newcomer = UserFactory(username=unique_username("nc"), pending=True)
    spammer = UserFactory(username=unique_username("sp"), pending=True)
    failed = WorkspaceFactory(
        owner__username=unique_username("fa"), server=stack.server, image=IMAGE,
        cpu=1.0, memory=1024**3, status=WorkspaceStatus.FAILED, status_reason="container: agent unreachable",
    )  # fmt: skip

    page = browser_page
    _log_in(page, base, admin.email)
    assert page.url == f"{base}/admin/"
    hosts = page.locator("tr.ops-host")
    assert hosts.count() == 2
    real = page.locator(f"tr.ops-host[data-host='{stack.server.name}']")
    assert "live figures" in real.inner_text() and "Online" in real.inner_text()
    assert re.search(rf"/ {os.cpu_count()}\b", real.locator("td.ops-cpu").inner_text())
    gone = page.locator(f"tr.ops-host:not([data-host='{stack.server.name}'])")
    assert (
        "figures unknown" in gone.inner_text()
        and "used unknown" in gone.locator("td.ops-memory").inner_text()
    )

    # Approve in place on the real host: the workspace is provisioned (eager Celery) and active.
    row = page.locator(f"tr.ops-pending[data-user='{newcomer.username}']")
    row.locator("select[name=server]").select_option(str(stack.server.pk))
    row.locator("input[value=Approve]").click()
    says(page, f"{newcomer.username}: approved, workspace active.")
    assert page.url == f"{base}/admin/"
    assert page.locator(f"tr.ops-pending[data-user='{newcomer.username}']").count() == 0
    assert Workspace.objects.get(owner=newcomer).status == WorkspaceStatus.ACTIVE

    # Reject in place, with the reason the person will read.
    row = page.locator(f"tr.ops-pending[data-user='{spammer.username}']")
    row.locator("input[name=reason]").fill("not from our school")
    row.locator("input[value=Reject]").click()
    says(page, f"{spammer.username}: sign-up rejected.")
    spammer.refresh_from_db()
    assert spammer.status == UserStatus.REJECTED
    assert page.locator("#dashboard-pending").inner_text().count("No sign-up is waiting.") == 1

    # Retry the failed workspace: approved again, provisioned on its host, gone from the list.
    page.locator(f"tr.ops-attention[data-user='{failed.owner.username}'] input[value=Retry]").click()
    says(page, f"{failed}: retried, now active.")
    assert page.locator(f"tr.ops-attention[data-user='{failed.owner.username}']").count() == 0
    failed.refresh_from_db()
    assert failed.status == WorkspaceStatus.ACTIVE and failed.status_reason == ""
    assert AuditLog.objects.filter(
        action_type="workspace.retry", target_id=str(failed.pk), actor=admin
    ).exists()
    assert AuditLog.objects.filter(action_type="user.reject", target_id=str(spammer.pk), actor=admin).exists()
    assert django_settings.CELERY_TASK_ALWAYS_EAGER  # what made the approvals finish in the request
