from __future__ import annotations

from rest_framework import serializers

from mgmt.api.fields import StrictBooleanField

from ..models import ReconcileRun


class FindingOutput(serializers.Serializer):
    kind = serializers.CharField()
    server = serializers.CharField()
    subject = serializers.CharField()
    detail = serializers.CharField()
    action = serializers.CharField()
    outcome = serializers.CharField()


class UnreachableOutput(serializers.Serializer):
    server = serializers.CharField()
    reason = serializers.CharField()


class ReconcileRunOutput(serializers.ModelSerializer):
    findings = FindingOutput(many=True)
    unreachable = UnreachableOutput(many=True)
    counts = serializers.DictField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = ReconcileRun
        fields = [
            "id",
            "started_at",
            "finished_at",
            "dry_run",
            "server_name",
            "trigger",
            "status",
            "counts",
            "findings",
            "unreachable",
            "error",
        ]


class ReconcileStartInput(serializers.Serializer):
    dry_run = StrictBooleanField(default=False)
    server = serializers.RegexField(
        r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z", max_length=100, required=False, default=""
    )
