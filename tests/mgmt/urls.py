"""Views that raise each kind of error, to test the envelope and the error mapping."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated as DRFNotAuthenticated
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from mgmt import exceptions as errors


class _NameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=5)


class RaiseView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    raising = {
        "conflict": errors.Conflict("Workspace is being deleted."),
        "upstream": errors.UpstreamUnavailable("Agent on host-1 did not answer."),
        "notfound": errors.NotFound("No such server."),
        "forbidden": errors.PermissionDenied("Only admins may do that."),
        "unauthenticated": errors.NotAuthenticated(),
        "drf-unauthenticated": DRFNotAuthenticated(),
        "domain-validation": errors.ValidationFailed("cpu: must be positive", details={"cpu": ["bad"]}),
    }

    def get(self, request, kind: str):
        if kind == "ok":
            return Response({"answer": 42})
        if kind == "crash":
            raise RuntimeError("a bug")
        raise self.raising[kind]

    def post(self, request, kind: str):
        serializer = _NameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data, status=201)


class UserNames(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["username"]


class PagedView(ListAPIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    queryset = User.objects.order_by("username")
    serializer_class = UserNames


urlpatterns = [
    path("api/test/paged", PagedView.as_view()),
    path("api/test/<str:kind>", RaiseView.as_view()),
    path("", include("mgmt.urls")),
]
