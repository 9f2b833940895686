from rest_framework import serializers

from audit.models import AuditLog


class AuditLogOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditLog
        fields = [
            "id", "created_at", "username", "actor", "action_type", "details", "ip_address", "request_id",
            "server_id", "log_level", "source", "target_type", "target_id", "target_repr",
        ]  # fmt: skip
        read_only_fields = fields
