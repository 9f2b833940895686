"""Input and output shapes of the servers API. Secrets are write-only: never in any output."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import Server, ServerStats


class ServerRegisterInput(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    address = serializers.CharField(max_length=253)
    agent_port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    agent_tls = serializers.BooleanField(required=False, default=False)
    agent_secret = serializers.CharField(write_only=True, trim_whitespace=False, max_length=512)
    ssh_user = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)
    ssh_port = serializers.IntegerField(required=False, default=22, min_value=1, max_value=65535)
    ssh_private_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, default="", trim_whitespace=False, max_length=16384
    )
    ssh_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, default="", trim_whitespace=False, max_length=512
    )
    ssh_host_key_fingerprint = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=128
    )
    labels = serializers.DictField(child=serializers.CharField(max_length=255), required=False, default=dict)


class ServerUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=63, required=False)
    address = serializers.CharField(max_length=253, required=False)
    agent_port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    agent_tls = serializers.BooleanField(required=False)
    agent_secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    ssh_user = serializers.CharField(required=False, allow_blank=True, max_length=32)
    ssh_port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    ssh_private_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, max_length=16384
    )
    ssh_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    ssh_host_key_fingerprint = serializers.CharField(required=False, allow_blank=True, max_length=128)
    labels = serializers.DictField(child=serializers.CharField(max_length=255), required=False)


class LiveStatsOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    reachable = serializers.BooleanField()
    fetched_at = serializers.CharField()
    error = serializers.CharField()
    elapsed_ms = serializers.IntegerField()
    stale = serializers.BooleanField()
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
    check = serializers.CharField(max_length=32)


class PinHostKeyInput(serializers.Serializer):
    expected = serializers.CharField(required=False, allow_blank=True, default="", max_length=128)


class CommandResultOutput(serializers.Serializer):
    exit_status = serializers.IntegerField()
    stdout = serializers.CharField()
    stderr = serializers.CharField()
    elapsed_ms = serializers.IntegerField()


class HistoryQuery(serializers.Serializer):
    hours = serializers.IntegerField(required=False, default=24, min_value=1, max_value=24 * 90)


class TrafficQuery(serializers.Serializer):
    hours = serializers.IntegerField(required=False, default=24, min_value=1, max_value=24 * 90)
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=200)


class DeleteQuery(serializers.Serializer):
    force = serializers.BooleanField(required=False, default=False)
