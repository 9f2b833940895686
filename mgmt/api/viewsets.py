"""The one base viewset that scopes every queryset to the requesting user.

Models expose `QuerySet.visible_to(user)` (e.g. `User.objects.visible_to(user)`);
a model without it falls back to django-guardian: global model permissions (the
role groups) or object permissions (a regular user's own objects). Because
`get_object()` looks up through the scoped queryset, another person's object
answers 404, never 403. Apps subclass `ScopedGenericViewSet` (or mix in
`ScopedQuerysetMixin`) instead of checking owners by hand in each view.
"""

from __future__ import annotations

from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user
from rest_framework import viewsets


def queryset_visible_to(queryset: QuerySet, user) -> QuerySet:
    if hasattr(queryset, "visible_to"):
        return queryset.visible_to(user)
    if user is None or not user.is_authenticated:
        return queryset.none()
    meta = queryset.model._meta
    return get_objects_for_user(
        user, f"{meta.app_label}.view_{meta.model_name}", klass=queryset, accept_global_perms=True
    )


class ScopedQuerysetMixin:
    def get_queryset(self) -> QuerySet:
        return queryset_visible_to(super().get_queryset(), self.request.user)  # type: ignore[misc]


class ScopedGenericViewSet(ScopedQuerysetMixin, viewsets.GenericViewSet):
    """A GenericViewSet whose queryset only holds what the user may see."""
