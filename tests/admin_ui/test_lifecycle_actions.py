"""Every lifecycle action of the admin (issue #15 item 2): as an admin it works through the API's
service and writes the same audit row; a qvp is not offered it and is refused when sending it
anyway; a service's refusal is an error message, never a 500.

Start/stop/restart run against a real agent and Docker (the `stack` of tests/containers).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from accounts.models import User, UserSession, UserStatus, UserType
from accounts.services import session_create
from audit.models import AuditLog
from containers.models import Workspace, WorkspaceStatus
from containers.selectors import workspace_live_state
from servers.models import Server, ServerStatus
from tests.containers.stack import unique_username
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory

IMAGE = "mgmt-test/workspace:latest"


def messages_of(response, level: str) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request) if m.level_tag == level]


def audited(action: str, target) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action_type=action, target_id=str(target.pk)))


@pytest.fixture
def online_server(db) -> Server:
    # No agent behind it: approvals only queue (the on-commit task is not run in these tests).
    return ServerFactory(
        name="adm-host", agent_port=1, status=ServerStatus.ONLINE, memory_total=8 * 1024**3, cpu_count=4
    )


@pytest.fixture
def failed_workspace(online_server) -> Workspace:
    return WorkspaceFactory(
        owner__username="fay", server=online_server, image=IMAGE, cpu=1.5, memory=1024**3,
        status=WorkspaceStatus.FAILED, status_reason="container: the agent was unreachable",
    )  # fmt: skip


# --- retry a failed workspace -------------------------------------------------------------------
@pytest.mark.django_db
def test_admin_retries_a_failed_workspace_from_its_row(
    admin_browser, admin_user, failed_workspace, django_capture_on_commit_callbacks
):
    page = admin_browser.get("/admin/containers/workspace/")
    retry_url = f"/admin/containers/workspace/{failed_workspace.pk}/retry/"
    assert f'formaction="{retry_url}"' in page.content.decode()
    assert "retry" in page.context["action_form"].fields["action"].choices.__repr__()

    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = admin_browser.post(retry_url, {"next": "/admin/"})
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    failed_workspace.refresh_from_db()
    assert failed_workspace.status == WorkspaceStatus.PENDING and failed_workspace.status_reason == ""
    assert (failed_workspace.cpu, failed_workspace.memory, failed_workspace.image) == (1.5, 1024**3, IMAGE)
    assert len(queued) == 1  # the provisioning task
    [row] = audited("workspace.retry", failed_workspace)  # the row the API's approve-again writes
    assert row.actor == admin_user and row.details["server"] == "adm-host"
    assert messages_of(answer, "success") == ["fay/default: retried, now pending."]


@pytest.mark.django_db
def test_retry_refused_by_the_service_is_a_message(admin_browser, failed_workspace):
    User.objects.filter(pk=failed_workspace.owner_id).update(status=UserStatus.DISABLED, is_active=False)
    answer = admin_browser.post(f"/admin/containers/workspace/{failed_workspace.pk}/retry/")
    assert answer.status_code == 302
    assert messages_of(answer, "error") == ["fay/default: This account is disabled; it cannot be approved."]
    failed_workspace.refresh_from_db()
    assert failed_workspace.status == WorkspaceStatus.FAILED and not audited(
        "workspace.retry", failed_workspace
    )


@pytest.mark.django_db
def test_retry_of_a_workspace_that_is_not_failed_is_refused(admin_browser, failed_workspace):
    Workspace.objects.filter(pk=failed_workspace.pk).update(status=WorkspaceStatus.STOPPED)
    answer = admin_browser.post(
        "/admin/containers/workspace/", {"action": "retry", "_selected_action": [failed_workspace.pk]}
    )
    assert answer.status_code == 302
    assert messages_of(answer, "error") == [
        "fay/default: Only a failed workspace is retried; this one is stopped."
    ]


@pytest.mark.django_db
def test_qvp_is_neither_offered_nor_allowed_workspace_operations(qvp_browser, failed_workspace):
    assert qvp_browser.get("/admin/containers/workspace/").status_code == 403
    for url in (
        f"/admin/containers/workspace/{failed_workspace.pk}/retry/",
        f"/admin/containers/workspace/{failed_workspace.pk}/operate/start/",
    ):
        assert qvp_browser.post(url).status_code == 403
    assert qvp_browser.get(f"/admin/containers/workspace/{failed_workspace.pk}/logs/").status_code == 403
    failed_workspace.refresh_from_db()
    assert failed_workspace.status == WorkspaceStatus.FAILED and not AuditLog.objects.exists()


# --- sign-ups: approve and reject in place, the reject action ------------------------------------
@pytest.mark.django_db
def test_admin_approves_in_place_with_the_chosen_server(
    admin_browser, admin_user, online_server, django_capture_on_commit_callbacks
):
    carol = UserFactory(username="carol", pending=True)
    with django_capture_on_commit_callbacks(execute=False):
        answer = admin_browser.post(
            f"/admin/containers/pendinguser/{carol.pk}/approve/",
            {"server": online_server.pk, "next": "/admin/"},
        )
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    workspace = Workspace.objects.get(owner=carol)
    assert workspace.server == online_server and workspace.status == WorkspaceStatus.PENDING
    assert [r.actor for r in audited("workspace.approve", workspace)] == [admin_user]
    assert [r.actor for r in audited("user.approve", carol)] == [admin_user]


@pytest.mark.django_db
def test_approve_refused_by_the_service_is_a_message(admin_browser, online_server):
    carol = UserFactory(username="carol", pending=True)
    answer = admin_browser.post(
        f"/admin/containers/pendinguser/{carol.pk}/approve/", {"server": online_server.pk, "memory": "64g"}
    )
    assert answer.status_code == 302
    [error] = messages_of(answer, "error")
    assert error.startswith("carol: Server adm-host has 8192 MiB left")
    assert not Workspace.objects.exists()


@pytest.mark.django_db
def test_admin_rejects_in_place_and_an_empty_reason_is_refused(admin_browser, admin_user):
    dan = UserFactory(username="dan", pending=True)
    empty = admin_browser.post(f"/admin/containers/pendinguser/{dan.pk}/reject/", {"reason": "  "})
    assert messages_of(empty, "error") == ["dan: reason: say why the sign-up is rejected."]
    dan.refresh_from_db()
    assert dan.status == UserStatus.PENDING

    answer = admin_browser.post(
        f"/admin/containers/pendinguser/{dan.pk}/reject/", {"reason": "not a student"}
    )
    assert answer.status_code == 302 and messages_of(answer, "success") == ["dan: sign-up rejected."]
    dan.refresh_from_db()
    assert dan.status == UserStatus.REJECTED and dan.metadata["rejection_reason"] == "not a student"
    [row] = audited("user.reject", dan)
    assert row.actor == admin_user and row.details == {"reason": "not a student"}


@pytest.mark.django_db
def test_reject_action_on_the_list_asks_for_a_reason(admin_browser):
    erin, finn = UserFactory(username="erin", pending=True), UserFactory(username="finn", pending=True)
    form = admin_browser.post(
        "/admin/containers/pendinguser/", {"action": "reject", "_selected_action": [erin.pk, finn.pk]}
    )
    assert form.status_code == 200 and b"Reject sign-ups" in form.content and b'name="reason"' in form.content
    admin_browser.post(
        "/admin/containers/pendinguser/",
        {"action": "reject", "_selected_action": [erin.pk, finn.pk], "apply": "1", "reason": "duplicate"},
    )
    assert set(User.objects.filter(status=UserStatus.REJECTED).values_list("username", flat=True)) == {
        "erin",
        "finn",
    }
    assert AuditLog.objects.filter(action_type="user.reject").count() == 2


@pytest.mark.django_db
def test_qvp_can_neither_approve_nor_reject(qvp_browser, online_server):
    gus = UserFactory(username="gus", pending=True)
    assert qvp_browser.get("/admin/containers/pendinguser/").status_code == 403
    assert qvp_browser.post(f"/admin/containers/pendinguser/{gus.pk}/approve/").status_code == 403
    assert (
        qvp_browser.post(f"/admin/containers/pendinguser/{gus.pk}/reject/", {"reason": "x"}).status_code
        == 403
    )
    gus.refresh_from_db()
    assert gus.status == UserStatus.PENDING and not AuditLog.objects.exists()


@pytest.mark.django_db
def test_the_approve_form_shows_each_servers_free_capacity(admin_browser, online_server):
    WorkspaceFactory(
        owner__username="hal", server=online_server, image=IMAGE, cpu=1.0, memory=2 * 1024**3,
        status=WorkspaceStatus.ACTIVE,
    )  # fmt: skip
    ivy = UserFactory(username="ivy", pending=True)
    form = admin_browser.post(
        "/admin/containers/pendinguser/", {"action": "approve", "_selected_action": [ivy.pk]}
    )
    assert "adm-host — 3.0 CPU, 6.0 GiB free" in form.content.decode()


# --- role, password, sessions ------------------------------------------------------------------
@pytest.mark.django_db
def test_admin_changes_a_role_through_the_service(admin_browser, admin_user):
    jo = UserFactory(username="jo")
    session_create(user=jo)
    page = admin_browser.get(f"/admin/accounts/user/{jo.pk}/change/")
    assert b'id="op-role"' in page.content and b'id="op-password"' in page.content
    answer = admin_browser.post(f"/admin/accounts/user/{jo.pk}/role/", {"user_type": UserType.QVP})
    assert answer.status_code == 302
    jo.refresh_from_db()
    assert jo.user_type == UserType.QVP and jo.groups.filter(name="qvp").exists()
    assert not UserSession.objects.filter(user=jo, is_active=True).exists()
    [row] = audited("user.update", jo)
    assert row.actor == admin_user and row.details == {"changes": {"user_type": ["regular", "qvp"]}}


@pytest.mark.django_db
def test_demoting_the_last_admin_is_a_message(admin_browser, admin_user):
    answer = admin_browser.post(
        f"/admin/accounts/user/{admin_user.pk}/role/", {"user_type": UserType.REGULAR}
    )
    assert answer.status_code == 302
    assert messages_of(answer, "error") == [
        f"{admin_user}: This is the last active admin; make someone else admin first."
    ]
    admin_user.refresh_from_db()
    assert admin_user.user_type == UserType.ADMIN


@pytest.mark.django_db
def test_change_role_action_on_the_list(admin_browser):
    kim, lee = UserFactory(username="kim"), UserFactory(username="lee")
    admin_browser.post(
        "/admin/accounts/user/",
        {"action": "change_role", "_selected_action": [kim.pk, lee.pk], "apply": "1", "user_type": "qvp"},
    )
    assert set(User.objects.filter(user_type="qvp").values_list("username", flat=True)) == {"kim", "lee"}
    assert AuditLog.objects.filter(action_type="user.update").count() == 2


@pytest.mark.django_db
def test_admin_resets_a_password_shown_once_and_never_stored_in_clear(admin_browser, admin_user):
    max_ = UserFactory(username="max")
    session_create(user=max_)
    confirm = admin_browser.get(f"/admin/accounts/user/{max_.pk}/password/")
    assert confirm.status_code == 200 and b"Reset the password" in confirm.content
    answer = admin_browser.post(f"/admin/accounts/user/{max_.pk}/password/")
    assert answer.status_code == 200 and "no-store" in answer["Cache-Control"]
    password = re.search(r'<code id="new-password"[^>]*>([^<]+)</code>', answer.content.decode())[1]
    max_.refresh_from_db()
    assert len(password) >= 16 and max_.check_password(password)
    assert not UserSession.objects.filter(user=max_, is_active=True).exists()
    [row] = audited("user.password_reset", max_)
    assert row.actor == admin_user and password not in str(row.details)
    assert not list(get_messages(answer.wsgi_request))  # not kept in the session for a later page
    assert password not in admin_browser.get(f"/admin/accounts/user/{max_.pk}/change/").content.decode()


@pytest.mark.django_db
def test_admin_ends_a_persons_sessions(admin_browser, admin_user):
    ned = UserFactory(username="ned")
    for _ in range(2):
        session_create(user=ned)
    page = admin_browser.get(f"/admin/accounts/user/{ned.pk}/change/")
    assert b'id="op-end-sessions"' in page.content
    answer = admin_browser.post(f"/admin/accounts/user/{ned.pk}/sessions/end/")
    assert answer.status_code == 302 and messages_of(answer, "success") == ["ned: 2 session(s) ended."]
    assert not UserSession.objects.filter(user=ned, is_active=True).exists()
    assert [r.actor for r in audited("session.revoke", ned)] == [admin_user, admin_user]


@pytest.mark.django_db
def test_qvp_gets_no_person_operations(qvp_browser, qvp_user):
    oz = UserFactory(username="oz")
    session_create(user=oz)
    assert qvp_browser.get("/admin/accounts/user/").status_code == 403
    assert qvp_browser.get(f"/admin/accounts/user/{oz.pk}/password/").status_code == 403
    for url, data in (
        (f"/admin/accounts/user/{oz.pk}/role/", {"user_type": "admin"}),
        (f"/admin/accounts/user/{oz.pk}/password/", {}),
        (f"/admin/accounts/user/{oz.pk}/sessions/end/", {}),
    ):
        assert qvp_browser.post(url, data).status_code == 403
    oz.refresh_from_db()
    assert oz.user_type == UserType.REGULAR and UserSession.objects.filter(user=oz, is_active=True).exists()
    assert not AuditLog.objects.exists()


# --- start/stop/restart, links and logs on a real workspace --------------------------------------
@pytest.mark.docker
@pytest.mark.nginx
def test_row_buttons_stop_start_restart_a_real_workspace_and_show_links_and_logs(stack, browser_as):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    owner = UserFactory(username=unique_username("ow"), pending=True)
    client = browser_as(admin)
    client.post(f"/admin/containers/pendinguser/{owner.pk}/approve/", {"server": stack.server.pk})
    workspace = Workspace.objects.get(owner=owner)
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason

    listing = client.get("/admin/containers/workspace/").content.decode()
    base = f"/admin/containers/workspace/{workspace.pk}/operate"
    assert f'formaction="{base}/stop/"' in listing and f'formaction="{base}/restart/"' in listing
    assert f'formaction="{base}/start/"' not in listing  # it runs already

    stopped = client.post(f"{base}/stop/")
    assert messages_of(stopped, "error") == []
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.STOPPED
    assert workspace_live_state(workspace=workspace)["state"] != "running"  # the agent's word

    listing = client.get("/admin/containers/workspace/").content.decode()
    assert f'formaction="{base}/start/"' in listing and f'formaction="{base}/stop/"' not in listing
    client.post(f"{base}/start/")
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason  # eager readiness check
    client.post("/admin/containers/workspace/", {"action": "restart", "_selected_action": [workspace.pk]})
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    actions = list(
        AuditLog.objects.filter(target_id=str(workspace.pk), action_type__in=[
            "workspace.stop", "workspace.start", "workspace.restart"
        ]).order_by("id").values_list("action_type", "actor")
    )  # fmt: skip
    assert actions == [
        ("workspace.stop", admin.pk),
        ("workspace.start", admin.pk),
        ("workspace.restart", admin.pk),
    ]

    change = client.get(f"/admin/containers/workspace/{workspace.pk}/change/").content.decode()
    assert f"http://{stack.nginx.host(owner.username, 'vscode')}/" in change
    assert f"http://{stack.nginx.host(owner.username, 'jupyter')}/" in change
    assert f"/admin/containers/workspace/{workspace.pk}/logs/" in change
    logs = client.get(f"/admin/containers/workspace/{workspace.pk}/logs/")
    assert (
        logs.status_code == 200
        and b'id="container-log"' in logs.content
        and b"logs-error" not in logs.content
    )


@pytest.mark.django_db
def test_operations_against_an_unreachable_agent_are_messages(admin_browser, online_server):
    workspace = WorkspaceFactory(
        owner__username="pia", server=online_server, image=IMAGE, status=WorkspaceStatus.STOPPED,
        container_name="pia",
    )  # fmt: skip
    answer = admin_browser.post(f"/admin/containers/workspace/{workspace.pk}/operate/start/")
    assert answer.status_code == 302
    [error] = messages_of(answer, "error")
    assert error.startswith("pia/default: ") and "unreachable" in error
    logs = admin_browser.get(f"/admin/containers/workspace/{workspace.pk}/logs/")
    assert logs.status_code == 200 and b'id="logs-error"' in logs.content
    assert not AuditLog.objects.filter(action_type="workspace.start").exists()
