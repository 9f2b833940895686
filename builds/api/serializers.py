from __future__ import annotations

from rest_framework import serializers

from builds.models import GuestUpload, UploadKind


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
