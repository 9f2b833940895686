import pytest
from django.core.exceptions import ValidationError

from registry.models import AllowedImage, validate_image_ref
from registry.selectors import allowed_workspace_images, default_workspace_image

pytestmark = pytest.mark.django_db


def test_without_a_list_the_configured_default_is_allowed(settings):
    settings.WORKSPACE_DEFAULT_IMAGE = "mgmt-test/workspace:latest"
    assert allowed_workspace_images() == ["mgmt-test/workspace:latest"]
    assert default_workspace_image() == "mgmt-test/workspace:latest"


def test_the_admins_list_replaces_the_default():
    AllowedImage.objects.create(name="registry.local:5000/team/jupyter:1.0")
    AllowedImage.objects.create(name="team/vscode:2", is_default=True)
    assert allowed_workspace_images() == ["team/vscode:2", "registry.local:5000/team/jupyter:1.0"]
    assert default_workspace_image() == "team/vscode:2"


@pytest.mark.parametrize("ref", ["UPPER:1", "a b", "../x", "x:../y", "x;rm", "a//b", "-a", ""])
def test_bad_references_are_refused(ref):
    with pytest.raises(ValidationError):
        validate_image_ref(ref)
