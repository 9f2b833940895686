"""The base viewset scopes querysets: guardian object permissions for models without `visible_to`."""

import pytest
from django.contrib.auth.models import Group
from django.urls import include, path
from rest_framework import mixins, serializers

from accounts.roles import owner_permissions_grant, owner_permissions_revoke
from mgmt.api.viewsets import ScopedGenericViewSet
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class GroupOutput(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name"]


class GroupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedGenericViewSet):
    queryset = Group.objects.order_by("name")
    serializer_class = GroupOutput


urlpatterns = [
    path("api/test/groups", GroupViewSet.as_view({"get": "list"})),
    path("api/test/groups/<int:pk>", GroupViewSet.as_view({"get": "retrieve"})),
    path("", include("mgmt.urls")),
]


@pytest.fixture
def groups(alice):
    mine, theirs = Group.objects.create(name="t-alice"), Group.objects.create(name="t-bob")
    owner_permissions_grant(user=alice, obj=mine)
    return mine, theirs


def test_own_objects_only(groups, alice_api):
    mine, theirs = groups
    names = [g["name"] for g in alice_api.get("/api/test/groups").json()["data"]["results"]]
    assert names == ["t-alice"]
    assert alice_api.get(f"/api/test/groups/{mine.pk}").status_code == 200
    assert alice_api.get(f"/api/test/groups/{theirs.pk}").status_code == 404


def test_revoked_owner_permission_hides_the_object(groups, alice, alice_api):
    mine, _ = groups
    owner_permissions_revoke(user=alice, obj=mine)
    assert alice_api.get(f"/api/test/groups/{mine.pk}").status_code == 404


def test_a_stranger_gets_404(groups, bob_api):
    mine, _ = groups
    assert bob_api.get(f"/api/test/groups/{mine.pk}").status_code == 404


def test_global_permission_sees_everything(groups, admin_api):
    _, theirs = groups
    assert admin_api.get(f"/api/test/groups/{theirs.pk}").status_code == 200


def test_visible_to_is_used_when_the_model_has_it(alice, bob):
    from accounts.models import User

    assert list(User.objects.visible_to(alice)) == [alice]
    admin = UserFactory(username="ada", admin=True)
    assert set(User.objects.visible_to(admin)) == {alice, bob, admin}
