from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from mgmt.api.filters import StrictFilterSet

from .models import AuditLog, LogLevel


class AuditLogFilter(StrictFilterSet):
    """`?user=alice&action=user.&level=warning&source=api&since=…&until=…`"""

    user = django_filters.CharFilter(method="filter_user", max_length=255)
    action = django_filters.CharFilter(field_name="action_type", lookup_expr="startswith", max_length=100)
    level = django_filters.ChoiceFilter(field_name="log_level", choices=LogLevel.choices)
    source = django_filters.CharFilter(field_name="source", max_length=100)
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    target_type = django_filters.CharFilter(field_name="target_type", max_length=100)
    target_id = django_filters.CharFilter(field_name="target_id", max_length=64)

    class Meta:
        model = AuditLog
        fields = ["user", "action", "level", "source", "since", "until", "target_type", "target_id"]

    def filter_user(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """By username, or by the acting user's id."""
        query = Q(username=value)
        if value.isdigit():
            query |= Q(actor_id=int(value))
        return queryset.filter(query)
