from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from mgmt.api.filters import StrictFilterSet

from .models import User, UserStatus, UserType


class UserFilter(StrictFilterSet):
    """`?status=pending&type=qvp&search=ali` on the user list."""

    status = django_filters.ChoiceFilter(choices=UserStatus.choices)
    type = django_filters.ChoiceFilter(field_name="user_type", choices=UserType.choices)
    search = django_filters.CharFilter(method="filter_search", max_length=100)

    class Meta:
        model = User
        fields = ["status", "type", "search"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(username__icontains=value) | Q(email__icontains=value))
