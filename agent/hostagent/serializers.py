"""Input shapes of the endpoints other than container create (validated by the policy)."""

from __future__ import annotations

from rest_framework import serializers


class RegistrySerializer(serializers.Serializer):
    url = serializers.CharField(required=False, allow_blank=True, max_length=255)
    username = serializers.CharField(required=False, allow_blank=True, max_length=255)
    password = serializers.CharField(required=False, allow_blank=True, max_length=1024, trim_whitespace=False)


class ImageTransferSerializer(serializers.Serializer):
    image = serializers.CharField(max_length=255)
    registry = RegistrySerializer(required=False)


class BuildSerializer(serializers.Serializer):
    tag = serializers.CharField(max_length=255)
    dockerfile = serializers.CharField(required=False, max_length=1024 * 1024, trim_whitespace=False)
    context = serializers.FileField(required=False)


class ImportQuerySerializer(serializers.Serializer):
    tag = serializers.CharField(max_length=255)
    change = serializers.ListField(
        child=serializers.CharField(max_length=1024), required=False, max_length=32
    )


class LogsQuerySerializer(serializers.Serializer):
    tail = serializers.IntegerField(min_value=1, max_value=10000, default=100)
    # The cursor an earlier answer gave: "<unix seconds>.<nanoseconds>".
    after = serializers.RegexField(
        r"\A[0-9]{1,12}\.[0-9]{9}\Z", required=False, default="", trim_whitespace=False
    )


class ActionQuerySerializer(serializers.Serializer):
    timeout = serializers.IntegerField(min_value=0, max_value=600, default=10)


class DeleteImageQuerySerializer(serializers.Serializer):
    force = serializers.BooleanField(default=False)
