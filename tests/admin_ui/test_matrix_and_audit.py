"""Admin rights come from the permission matrix only, and every change made in the admin is
audited as the same change through the API is."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from accounts.permissions import has_permission
from accounts.roles import MatrixModelAdmin, role_model_permissions
from audit.models import AuditLog
from builds.models import Build, Project
from maintenance.models import CleanupPolicy
from registry.models import AllowedImage, Registry
from servers.models import ServerStats
from tests.factories import ServerFactory, UserFactory

pytestmark = pytest.mark.django_db


def audit_actions() -> list[str]:
    return list(AuditLog.objects.order_by("id").values_list("action_type", flat=True))


def test_a_qvp_cannot_add_a_cleanup_policy(qvp_browser):
    response = qvp_browser.post(
        "/admin/maintenance/cleanuppolicy/add/", {"prune_unused_images": "on", "image_prune_repositories": ""}
    )
    assert response.status_code == 403
    assert not CleanupPolicy.objects.exists()
    assert audit_actions() == []


def test_an_admin_sets_the_cleanup_policy_with_audit_rows(admin_browser):
    form = {"prune_unused_images": "on", "image_prune_repositories": "registry:5000/team/"}
    assert admin_browser.post("/admin/maintenance/cleanuppolicy/add/", form).status_code == 302
    policy = CleanupPolicy.objects.get()
    assert policy.prune_unused_images and policy.repository_prefixes == ["registry:5000/team/"]
    form["prune_unused_images"] = ""
    assert (
        admin_browser.post(f"/admin/maintenance/cleanuppolicy/{policy.pk}/change/", form).status_code == 302
    )
    policy.refresh_from_db()
    assert policy.prune_unused_images is False
    rows = AuditLog.objects.filter(action_type="cleanup_policy.update").order_by("id")
    assert [r.details["changes"].get("prune_unused_images") for r in rows] == [[False, True], [True, False]]


@pytest.mark.parametrize("persona", ["qvp", "regular"])
def test_no_admin_page_gives_more_than_the_matrix(persona):
    """A right on an admin page is a model permission of the persona's role group (both derived from
    the matrix in accounts/roles.py), or, on a MatrixModelAdmin, the matrix permission it names."""
    user = UserFactory(username=f"p-{persona}", qvp=persona == "qvp")
    request = RequestFactory().get("/admin/")
    request.user = user
    granted = role_model_permissions(user.user_type)
    too_much = []
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        for right in ("add", "change", "delete"):
            check = getattr(model_admin, f"has_{right}_permission")
            if not (check(request) if right == "add" else check(request, None)):
                continue
            if isinstance(model_admin, MatrixModelAdmin):
                declared = getattr(model_admin, f"{right}_permission")
                if declared is not None and has_permission(user.user_type, declared):
                    continue
            elif f"{meta.app_label}.{right}_{meta.model_name}" in granted:
                continue
            too_much.append(f"{meta.label}: {right}")
    assert not too_much, f"{persona} may do more in the admin than the matrix says: {too_much}"


def test_a_qvp_is_not_offered_the_server_actions(qvp_browser):
    ServerFactory(name="h1", address="192.0.2.9", agent_port=5005)
    page = qvp_browser.get("/admin/servers/server/")
    assert page.status_code == 200
    for action in ("drain", "undrain", "refresh", "ssh_check"):
        assert f'value="{action}"' not in page.content.decode()


def test_projects_in_the_admin_go_through_the_services(admin_browser):
    quentin, quinn = UserFactory(username="quentin", qvp=True), UserFactory(username="quinn", qvp=True)
    form = {"name": "vision", "description": "cv", "members": [quentin.pk]}
    assert admin_browser.post("/admin/builds/project/add/", form).status_code == 302
    project = Project.objects.get(name="vision")
    assert quentin.has_perm("builds.view_project", project)  # the member's object permission
    change = {"description": "computer vision", "members": [quinn.pk]}
    assert admin_browser.post(f"/admin/builds/project/{project.pk}/change/", change).status_code == 302
    assert list(project.members.all()) == [quinn]
    assert not type(quentin).objects.get(pk=quentin.pk).has_perm("builds.view_project", project)
    assert (
        admin_browser.post(f"/admin/builds/project/{project.pk}/delete/", {"post": "yes"}).status_code == 302
    )
    assert audit_actions() == [
        "project.create",
        "project.member_add",
        "project.update",
        "project.member_add",
        "project.member_remove",
        "project.delete",
    ]


def test_bulk_deletes_in_the_admin_are_audited(admin_browser):
    registries = [Registry.objects.create(name=f"r{i}", url=f"https://192.0.2.{i}") for i in (1, 2)]
    images = [AllowedImage.objects.create(name=f"team/ide:{i}") for i in (1, 2)]
    for path, objects in (("registry/registry", registries), ("registry/allowedimage", images)):
        response = admin_browser.post(
            f"/admin/{path}/",
            {"action": "delete_selected", "_selected_action": [o.pk for o in objects], "post": "yes"},
        )
        assert response.status_code == 302
    assert not Registry.objects.exists() and not AllowedImage.objects.exists()
    assert sorted(audit_actions()) == ["allowed_image.delete"] * 2 + ["registry.delete"] * 2


def test_what_has_no_audited_delete_cannot_be_deleted_in_the_admin(admin_browser):
    server = ServerFactory(name="h2", address="192.0.2.8", agent_port=5005)
    stats = ServerStats.objects.create(server=server, memory_used=1, memory_total=2)
    build = Build.objects.create(
        repository="team/x", reference="team/x:1", source="dockerfile", server=server
    )
    assert admin_browser.get(f"/admin/builds/build/{build.pk}/delete/").status_code == 403
    assert admin_browser.get(f"/admin/servers/serverstats/{stats.pk}/delete/").status_code == 403
