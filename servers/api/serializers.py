"""Input and output shapes of the servers API. Secrets are write-only: never in any output."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mgmt.api.fields import StrictBooleanField
from mgmt.api.query import QuerySerializer

from ..models import Server, ServerStats
from ..services.ssh import DIAGNOSTICS

# The services' rules (servers.services.hosts.validate_*), as patterns the schema shows. CharFields trim
# surrounding whitespace first, so the services never see what `$` would let through.
_NAME = RegexValidator(r"^[a-z0-9][a-z0-9._-]{0,62}$", "1-63 lower-case letters, digits, '.', '_' or '-'.")
_ADDRESS = RegexValidator(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$",
    "An IPv4 address or a DNS name.",
)
_SSH_USER = RegexValidator(r"^([A-Za-z_][A-Za-z0-9_.-]{0,31})?$", "Not a valid user name.")
_FINGERPRINT = RegexValidator(r"^(SHA256:[A-Za-z0-9+/]{43})?$", '"SHA256:" and 43 base64 characters.')
_SECRET = RegexValidator(r"^$|^[\s\S]{16,}$", "At least 16 characters.")


_LABEL_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$(?!\n)"


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": 50,
        "propertyNames": {"pattern": _LABEL_KEY_PATTERN},
        "additionalProperties": {"type": "string", "maxLength": 255},
    }
)
class _LabelsField(serializers.DictField):
    pass


def _labels() -> serializers.DictField:
    return _LabelsField(
        child=serializers.CharField(max_length=255, trim_whitespace=False, allow_blank=True),
        required=False,
        validators=[_validate_label_keys],
    )


def _validate_label_keys(labels: dict[str, str]) -> None:
    if len(labels) > 50:
        raise serializers.ValidationError("At most 50 labels.")
    bad = [key for key in labels if not re.search(_LABEL_KEY_PATTERN, key)]
    if bad:
        raise serializers.ValidationError(f"{bad[0][:40]!r} is not a valid label name.")


class ServerRegisterInput(serializers.Serializer):
    name = serializers.CharField(max_length=63, validators=[_NAME])
    address = serializers.CharField(max_length=253, validators=[_ADDRESS])
    agent_port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    agent_tls = StrictBooleanField(required=False, default=False)
    agent_secret = serializers.CharField(
        write_only=True, trim_whitespace=False, min_length=16, max_length=512
    )
    ssh_user = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=32, validators=[_SSH_USER]
    )
    ssh_port = serializers.IntegerField(required=False, default=22, min_value=1, max_value=65535)
    ssh_private_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, default="", trim_whitespace=False, max_length=16384
    )
    ssh_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, default="", trim_whitespace=False, max_length=512
    )
    ssh_host_key_fingerprint = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=128, validators=[_FINGERPRINT]
    )
    labels = _labels()


class ServerUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=63, required=False, validators=[_NAME])
    address = serializers.CharField(max_length=253, required=False, validators=[_ADDRESS])
    agent_port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    agent_tls = StrictBooleanField(required=False)
    agent_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=512,
        validators=[_SECRET],
        help_text="Blank keeps the current secret.",
    )
    ssh_user = serializers.CharField(required=False, allow_blank=True, max_length=32, validators=[_SSH_USER])
    ssh_port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    ssh_private_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, max_length=16384
    )
    ssh_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, max_length=512
    )
    ssh_host_key_fingerprint = serializers.CharField(
        required=False, allow_blank=True, max_length=128, validators=[_FINGERPRINT]
    )
    labels = _labels()


class LiveStatsOutput(serializers.Serializer):
    ok = StrictBooleanField()
    reachable = StrictBooleanField()
    fetched_at = serializers.CharField()
    error = serializers.CharField()
    elapsed_ms = serializers.IntegerField()
    stale = StrictBooleanField()
    stats = serializers.DictField()


class ServerOutput(serializers.ModelSerializer):
    has_agent_secret = serializers.SerializerMethodField()
    has_ssh_private_key = serializers.SerializerMethodField()
    has_ssh_password = serializers.SerializerMethodField()
    live = serializers.SerializerMethodField()

    class Meta:
        model = Server
        fields = [
            "id",
            "name",
            "address",
            "agent_port",
            "agent_tls",
            "ssh_user",
            "ssh_port",
            "ssh_host_key_fingerprint",
            "has_agent_secret",
            "has_ssh_private_key",
            "has_ssh_password",
            "status",
            "status_detail",
            "last_seen",
            "cpu_count",
            "memory_total",
            "disk_total",
            "gpu_count",
            "labels",
            "created_at",
            "updated_at",
            "live",
        ]

    def get_has_agent_secret(self, obj: Server) -> bool:
        return bool(obj.agent_secret)

    def get_has_ssh_private_key(self, obj: Server) -> bool:
        return bool(obj.ssh_private_key)

    def get_has_ssh_password(self, obj: Server) -> bool:
        return bool(obj.ssh_password)

    def get_live(self, obj: Server) -> dict[str, Any] | None:
        """Current stats from the agent (cached), when the view fetched them."""
        live = self.context.get("live", {}).get(obj.pk)
        return LiveStatsOutput(live).data if live is not None else None


class ServerStatsOutput(serializers.ModelSerializer):
    memory_percent = serializers.FloatField(read_only=True)
    disk_percent = serializers.FloatField(read_only=True)

    class Meta:
        model = ServerStats
        fields = [
            "at",
            "cpu_percent",
            "load1",
            "memory_used",
            "memory_total",
            "memory_percent",
            "disk_used",
            "disk_total",
            "disk_percent",
            "gpu_count",
            "gpu_util_percent",
            "containers_running",
            "containers_total",
        ]


class DiagnoseInput(serializers.Serializer):
    check = serializers.ChoiceField(choices=sorted(DIAGNOSTICS))


class PinHostKeyInput(serializers.Serializer):
    expected = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=128, validators=[_FINGERPRINT]
    )


class CommandResultOutput(serializers.Serializer):
    exit_status = serializers.IntegerField()
    stdout = serializers.CharField()
    stderr = serializers.CharField()
    elapsed_ms = serializers.IntegerField()


class HistoryQuery(QuerySerializer):
    hours = serializers.IntegerField(required=False, default=24, min_value=1, max_value=24 * 90)


class DeleteQuery(QuerySerializer):
    force = StrictBooleanField(required=False, default=False)
