"""Input and output shapes of the workspaces API (validation only)."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from containers.models import Workspace
from containers.selectors import workspace_links
from mgmt.api.query import QuerySerializer
from servers.clients.agent import LOG_CURSOR_RE
from servers.models import Server

# Sizes of at least 64 MiB (containers.services.memory_parse takes more spellings, e.g. "1.5GiB").
_MEMORY = RegexValidator(
    r"^([1-9][0-9]{8,11}|(6[4-9]|[7-9][0-9]|[1-9][0-9]{2,5})[mM]|[1-9][0-9]{0,3}[gG]|[1-9][0-9]?[tT])$",
    'At least 64 MiB: bytes (at least 100000000) or a size like "512m", "2g".',
)


class MoveInput(serializers.Serializer):
    server = serializers.PrimaryKeyRelatedField(
        queryset=Server.objects.all(), help_text="The host to move to."
    )


class ApproveInput(serializers.Serializer):
    server = serializers.PrimaryKeyRelatedField(
        queryset=Server.objects.all(), required=False, allow_null=True
    )
    cpu = serializers.FloatField(required=False, min_value=0.1, max_value=256)
    memory = serializers.CharField(
        required=False, max_length=16, validators=[_MEMORY], help_text='Bytes or a size like "2g".'
    )
    gpus = serializers.IntegerField(required=False, min_value=0, max_value=16, default=0)
    image = serializers.CharField(required=False, max_length=255, allow_blank=True)

    def validate_memory(self, value: str) -> int | str:
        return int(value) if value.isdigit() else value


class LogsQuery(QuerySerializer):
    tail = serializers.IntegerField(required=False, min_value=1, max_value=10000, default=100)
    after = serializers.RegexField(
        LOG_CURSOR_RE,
        required=False,
        default="",
        trim_whitespace=False,
        help_text="An earlier answer's cursor: only newer lines.",
    )


class WorkspaceOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    owner_id = serializers.IntegerField()
    server = serializers.CharField(source="server.name", default=None, allow_null=True)
    links = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = [
            "id",
            "owner",
            "owner_id",
            "name",
            "server",
            "server_id",
            "status",
            "status_reason",
            "step",
            "attempts",
            "image",
            "cpu",
            "memory",
            "gpus",
            "container_name",
            "vscode_port",
            "jupyter_port",
            "links",
            "status_url",
            "created_at",
            "provisioned_at",
        ]

    def get_links(self, obj: Workspace) -> dict[str, str] | None:
        return workspace_links(workspace=obj) if obj.status in ("active", "stopped") else None

    def get_status_url(self, obj: Workspace) -> str:
        return f"/api/workspaces/{obj.pk}"


class WorkspaceDetailOutput(WorkspaceOutput):
    live = serializers.SerializerMethodField()

    class Meta(WorkspaceOutput.Meta):
        fields = [*WorkspaceOutput.Meta.fields, "live"]

    def get_live(self, obj: Workspace) -> dict[str, Any]:
        return self.context.get("live") or {}
