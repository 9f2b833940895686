from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mgmt.api.fields import StrictBooleanField
from mgmt.api.query import QuerySerializer
from registry.clients import REPOSITORY_RE, TAG_RE
from registry.models import IMAGE_REF_RE, AllowedImage, Registry

# The services' rules as patterns the schema shows (CharFields trim whitespace before they apply).
_PORT = r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
_URL_PATTERN = rf"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?{_PORT}/?$"


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 255,
        "pattern": _URL_PATTERN,
        "description": "http(s)://host[:port]; credentials go in their own fields.",
    }
)
class _RegistryUrlField(serializers.CharField):
    """registry.clients.validate_registry_url checks it and says what is wrong; the schema shows it."""


IMAGE_REF = RegexValidator(
    f"^{IMAGE_REF_RE.pattern.replace(chr(92) + 'd', '[0-9]')}$",
    "An image reference like registry:5000/team/image:tag.",
)
REPOSITORY = RegexValidator(f"^{REPOSITORY_RE.pattern}$", "A repository name like team/image.")
TAG = RegexValidator(f"^{TAG_RE.pattern}$", "A tag: letters, digits, '_', '.' and '-'.")


class RegistryOutput(serializers.ModelSerializer):
    """Never the password: only whether credentials are set."""

    host = serializers.CharField(read_only=True)
    has_password = serializers.SerializerMethodField()

    class Meta:
        model = Registry
        fields = [
            "id",
            "name",
            "url",
            "host",
            "username",
            "has_password",
            "is_default",
            "verify_tls",
            "created_at",
        ]
        read_only_fields = fields

    def get_has_password(self, registry: Registry) -> bool:
        return bool(registry.password)


class RegistryInput(serializers.Serializer):
    name = serializers.RegexField(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z", max_length=64)
    url = _RegistryUrlField(max_length=255)
    username = serializers.CharField(max_length=255, required=False, allow_blank=True)
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)
    is_default = StrictBooleanField(required=False)
    verify_tls = StrictBooleanField(required=False)


class RepositoryQuery(QuerySerializer):
    repository = serializers.CharField(max_length=255, validators=[REPOSITORY])


class TagQuery(RepositoryQuery):
    tag = serializers.CharField(max_length=128, validators=[TAG])


class AllowedImageSerializer(serializers.ModelSerializer):
    # Declared, not derived from the model: the schema shows the pattern; a name on the list already
    # is the service's 409, not the model's unique check.
    name = serializers.CharField(max_length=255, validators=[IMAGE_REF])
    is_default = StrictBooleanField(required=False, default=False)

    class Meta:
        model = AllowedImage
        fields = ["id", "name", "description", "is_default", "created_at"]
        read_only_fields = ["id", "created_at"]


class AllowedImageUpdate(serializers.Serializer):
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    is_default = StrictBooleanField(required=False)


class ImageQuery(QuerySerializer):
    image = serializers.CharField(max_length=255, validators=[IMAGE_REF])
    force = StrictBooleanField(required=False, default=False)


class PullInput(serializers.Serializer):
    image = serializers.CharField(max_length=255, validators=[IMAGE_REF])
    registry = serializers.PrimaryKeyRelatedField(
        queryset=Registry.objects.all(), required=False, allow_null=True
    )


class RefreshQuery(QuerySerializer):
    refresh = StrictBooleanField(required=False, default=False, help_text="Ask the host now.")


class OverviewQuery(QuerySerializer):
    image = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
