from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from rest_framework import serializers

from builds.models import Build, BuildSource, GuestUpload, Project, UploadKind
from builds.services.builds import DOCKERFILE_MAX  # bytes, checked there; the schema states characters
from builds.services.uploads import EXTENSIONS
from mgmt.api.fields import StrictBooleanField
from mgmt.api.query import QuerySerializer
from registry.api.serializers import IMAGE_REF, REPOSITORY, TAG
from registry.models import Registry
from servers.models import Server

_FILENAME = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}"
_SHA256 = RegexValidator(r"^[0-9a-f]{64}$", "64 lower-case hexadecimal characters.")
_USERNAME = RegexValidator(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$", "A username.")


def _kind_filename_pattern(kind: str) -> str:
    def either_case(ext: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else f"[{c}]" for c in ext)

    return f"{_FILENAME}({'|'.join(either_case(ext) for ext in EXTENSIONS[kind])})$"


def upload_start_schema() -> dict[str, Any]:
    """One branch per allowed kind: the file name must end in one of that kind's extensions."""
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "filename": {
                        "type": "string",
                        "maxLength": 201,
                        "pattern": _kind_filename_pattern(kind),
                        "description": f"Ends in one of {', '.join(EXTENSIONS[kind])} (any case).",
                    },
                    "size": {"type": "integer", "minimum": 1, "maximum": settings.UPLOAD_MAX_BYTES},
                    "kind": {"type": "string", "enum": [kind]},
                },
                "required": ["filename", "size", "kind"],
            }
            for kind in UploadKind.values
            if kind in settings.UPLOAD_ALLOWED_KINDS
        ]
    }


class UploadStartSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=201, validators=[RegexValidator(f"{_FILENAME}$")])
    size = serializers.IntegerField(min_value=1)
    kind = serializers.ChoiceField(choices=UploadKind.choices)


class ChunkQuery(QuerySerializer):
    offset = serializers.IntegerField(min_value=0, help_text="Byte offset of this chunk.")


class UploadFinishSerializer(serializers.Serializer):
    sha256 = serializers.CharField(max_length=64, min_length=64, validators=[_SHA256])


class UploadSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

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
    tag = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default="", validators=[IMAGE_REF]
    )


class ProjectSerializer(serializers.ModelSerializer):
    members = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Project
        fields = ["id", "name", "description", "members", "created_by", "created_at"]
        read_only_fields = ["id", "members", "created_by", "created_at"]


class ProjectUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=255, allow_blank=True, required=False)


class MemberSerializer(QuerySerializer):
    username = serializers.CharField(max_length=32, validators=[_USERNAME])


class BuildCreateSerializer(serializers.Serializer):
    server = serializers.PrimaryKeyRelatedField(queryset=Server.objects.all())
    repository = serializers.CharField(max_length=200, validators=[REPOSITORY])
    tag = serializers.CharField(max_length=128, required=False, default="latest", validators=[TAG])
    source = serializers.ChoiceField(choices=BuildSource.choices)
    dockerfile = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False, max_length=DOCKERFILE_MAX
    )
    context = serializers.FileField(required=False, allow_null=True, default=None)
    base_upload = serializers.PrimaryKeyRelatedField(
        queryset=GuestUpload.objects.all(), required=False, allow_null=True, default=None
    )
    registry = serializers.PrimaryKeyRelatedField(
        queryset=Registry.objects.all(), required=False, allow_null=True, default=None
    )
    push = StrictBooleanField(required=False, default=False)
    project = serializers.PrimaryKeyRelatedField(
        queryset=Project.objects.all(), required=False, allow_null=True, default=None
    )


class BuildSerializer(serializers.ModelSerializer):
    server = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    registry = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    project = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

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


class BuildLogQuery(QuerySerializer):
    since = serializers.IntegerField(min_value=0, required=False, default=0)


def build_create_schema(*, multipart: bool) -> dict[str, Any]:
    """All fields, and per `source` what it needs (a context archive only comes as a file of a form)."""
    # A form field cannot be null: leave it out instead.
    optional_id = {"type": "integer"} if multipart else {"type": ["integer", "null"]}
    sources = [BuildSource.DOCKERFILE, BuildSource.UPLOAD] + ([BuildSource.CONTEXT] if multipart else [])
    properties: dict[str, Any] = {
        "server": {"type": "integer"},
        "repository": {"type": "string", "maxLength": 200, "pattern": REPOSITORY.regex.pattern},
        "tag": {"type": "string", "maxLength": 128, "pattern": TAG.regex.pattern, "default": "latest"},
        "source": {"type": "string", "enum": [str(source) for source in sources]},
        # No maxLength: the limit is in bytes, and no client tool can build a string over it.
        "dockerfile": {
            "type": "string",
            "default": "",
            "description": f"At most {DOCKERFILE_MAX} bytes (UTF-8).",
        },
        "base_upload": {"type": "string", "format": "uuid", "description": "A complete rootfs upload."},
        "registry": {**optional_id, "description": "Pushing needs one, or a default registry."},
        "push": {"type": "boolean", "default": False},
        "project": optional_id,
    }
    branches = [
        {  # a Dockerfile that is not blank
            "properties": {"source": {"const": BuildSource.DOCKERFILE}, "dockerfile": {"pattern": r"\S"}},
            "required": ["dockerfile"],
        },
        {  # on a guest OS upload; the Dockerfile (optional) leaves out FROM
            "properties": {"source": {"const": BuildSource.UPLOAD}},
            "required": ["base_upload"],
        },
    ]
    if multipart:
        properties["context"] = {
            "type": "string",
            "format": "binary",
            "description": "A tar with a Dockerfile.",
        }
        branches.append({"properties": {"source": {"const": BuildSource.CONTEXT}}, "required": ["context"]})
    return {
        "type": "object",
        "properties": properties,
        "required": ["server", "repository", "source"],
        "oneOf": branches,
    }
