"""Input shapes of the traffic API."""

from __future__ import annotations

from rest_framework import serializers

from mgmt.api.query import QuerySerializer


class TrafficQuery(QuerySerializer):
    hours = serializers.IntegerField(required=False, default=24, min_value=1, max_value=24 * 90)
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=200)
