"""Thin API over the traffic rows: validate, call one selector, answer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.permissions import RequirePermission
from mgmt.api.renderers import APIResponse

from ..selectors import traffic_summary
from . import serializers as s


class TrafficView(APIView):
    """API traffic over the last hours: top routes, error rates, slowest routes."""

    permission_classes = [RequirePermission("view_traffic")]

    @extend_schema(parameters=[s.TrafficQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> APIResponse:
        query = s.TrafficQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return APIResponse(traffic_summary(**query.validated_data))
