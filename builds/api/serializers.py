from __future__ import annotations

from rest_framework import serializers

from builds.models import Build, BuildSource, GuestUpload, Project, UploadKind
from registry.models import Registry
from servers.models import Server


class UploadStartSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=255)
    size = serializers.IntegerField(min_value=1)
    kind = serializers.ChoiceField(choices=UploadKind.choices)


class UploadFinishSerializer(serializers.Serializer):
    sha256 = serializers.CharField(max_length=64, min_length=64)


class UploadSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = GuestUpload
        fields = [
            "id",
            "filename",
            "kind",
            "size",
            "received",
            "sha256",
            "status",
            "created_by",
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = fields


class UploadImportSerializer(serializers.Serializer):
    server = serializers.PrimaryKeyRelatedField(queryset=Server.objects.all())
    tag = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class ProjectSerializer(serializers.ModelSerializer):
    members = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Project
        fields = ["id", "name", "description", "members", "created_by", "created_at"]
        read_only_fields = ["id", "members", "created_by", "created_at"]


class ProjectUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=255, allow_blank=True)


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class BuildCreateSerializer(serializers.Serializer):
    server = serializers.PrimaryKeyRelatedField(queryset=Server.objects.all())
    repository = serializers.CharField(max_length=200)
    tag = serializers.CharField(max_length=128, required=False, default="latest")
    source = serializers.ChoiceField(choices=BuildSource.choices)
    dockerfile = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    context = serializers.FileField(required=False, allow_null=True, default=None)
    base_upload = serializers.PrimaryKeyRelatedField(
        queryset=GuestUpload.objects.all(), required=False, allow_null=True, default=None
    )
    registry = serializers.PrimaryKeyRelatedField(
        queryset=Registry.objects.all(), required=False, allow_null=True, default=None
    )
    push = serializers.BooleanField(required=False, default=False)
    project = serializers.PrimaryKeyRelatedField(
        queryset=Project.objects.all(), required=False, allow_null=True, default=None
    )


class BuildSerializer(serializers.ModelSerializer):
    server = serializers.SlugRelatedField(slug_field="name", read_only=True)
    registry = serializers.SlugRelatedField(slug_field="name", read_only=True)
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Build
        fields = [
            "id",
            "repository",
            "tag",
            "reference",
            "source",
            "base_upload",
            "server",
            "registry",
            "push",
            "project",
            "requested_by",
            "status",
            "reason",
            "image_id",
            "digest",
            "log_lines",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class BuildLogQuery(serializers.Serializer):
    since = serializers.IntegerField(min_value=0, required=False, default=0)
