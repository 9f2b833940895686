from __future__ import annotations

from rest_framework import serializers

from registry.models import AllowedImage, Registry


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
    url = serializers.CharField(max_length=255)
    username = serializers.CharField(max_length=255, required=False, allow_blank=True)
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)
    is_default = serializers.BooleanField(required=False)
    verify_tls = serializers.BooleanField(required=False)


class RepositoryQuery(serializers.Serializer):
    repository = serializers.CharField(max_length=255)


class TagQuery(RepositoryQuery):
    tag = serializers.CharField(max_length=128)


class AllowedImageSerializer(serializers.ModelSerializer):
    class Meta:
        model = AllowedImage
        fields = ["id", "name", "description", "is_default", "created_at"]
        read_only_fields = ["id", "created_at"]


class AllowedImageUpdate(serializers.Serializer):
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    is_default = serializers.BooleanField(required=False)


class ImageQuery(serializers.Serializer):
    image = serializers.CharField(max_length=255)
    force = serializers.BooleanField(required=False, default=False)


class PullInput(serializers.Serializer):
    image = serializers.CharField(max_length=255)
    registry = serializers.PrimaryKeyRelatedField(
        queryset=Registry.objects.all(), required=False, allow_null=True
    )


class OverviewQuery(serializers.Serializer):
    image = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
