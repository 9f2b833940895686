from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from mgmt.exceptions import NotFound
from mgmt.health import background_health, system_health

from .renderers import APIResponse


class HealthView(APIView):
    """Is the platform up? 200 when every dependency answers, 503 naming the failing ones."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "database": serializers.CharField(),
                "cache": serializers.CharField(),
                "broker": serializers.CharField(),
                "beat": serializers.CharField(required=False, help_text="absent when tasks run eagerly"),
                "worker:provisioning": serializers.CharField(required=False),
                "worker:builds": serializers.CharField(required=False),
                "worker:default": serializers.CharField(required=False),
            },
        )
    )
    def get(self, request: Request) -> APIResponse:
        checks, background = system_health(), background_health()
        data = {c.name: ("ok: " if c.ok else "error: ") + c.detail for c in [*checks, *background]}
        failing = [c.name for c in checks if not c.ok]
        if failing:
            return APIResponse(data, status=503, message=f"Unhealthy: {', '.join(failing)} down.")
        # A missing worker or beat leaves this web node able to serve: 200, but it says so.
        missing = [c.name for c in background if not c.ok]
        if missing:
            return APIResponse(data, message=f"Degraded: {', '.join(missing)} missing.")
        return APIResponse(data, message="Healthy.")


class ApiRootView(APIView):
    """The API's entry: where its schema, its documentation and its health check are. The
    browsable API's breadcrumbs start here."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def get_view_name(self) -> str:
        return "API"

    def get(self, request: Request) -> APIResponse:
        return APIResponse({"schema": "/api/schema/", "docs": "/api/docs/", "health": "/api/health"})


class NotFoundView(APIView):
    """Any unknown /api/ path: a 404 in the envelope instead of an HTML page."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def dispatch(self, request, *args, **kwargs):  # every method
        self.args, self.kwargs = args, kwargs
        self.request = self.initialize_request(request, *args, **kwargs)
        self.headers = self.default_response_headers
        response = self.handle_exception(NotFound(f"No API route matches {request.path}."))
        self.response = self.finalize_response(self.request, response, *args, **kwargs)
        return self.response
