"""Thin API over builds: queue one, follow its log, cancel it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request

from accounts.permissions import ActionPermissionMixin, user_has_permission
from builds import selectors
from builds.services.builds import build_cancel, build_create
from mgmt.api.renderers import APIResponse
from mgmt.api.viewsets import ScopedGenericViewSet
from mgmt.exceptions import PermissionDenied

from .serializers import BuildCreateSerializer, BuildLogQuery, BuildSerializer, build_create_schema


class BuildViewSet(ActionPermissionMixin, ScopedGenericViewSet):
    """Builds: queue one, follow its log (`log?since=N`), cancel it."""

    serializer_class = BuildSerializer
    parser_classes = [JSONParser, MultiPartParser]
    action_permissions = {
        "list": "build_images",
        "retrieve": "build_images",
        "create": "build_images",
        "log": "build_images",
        "cancel": "build_images",
    }
    default_action_permission = "manage_images"

    def get_queryset(self):
        return selectors.build_list(user=self.request.user)

    def list(self, request: Request) -> APIResponse:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(BuildSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> APIResponse:
        return APIResponse(BuildSerializer(self.get_object()).data)

    @extend_schema(
        request={
            "application/json": build_create_schema(multipart=False),
            "multipart/form-data": build_create_schema(multipart=True),
        },
        responses={201: BuildSerializer, 404: OpenApiResponse(description="A named object does not exist.")},
    )
    def create(self, request: Request) -> APIResponse:
        data = BuildCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if values["push"] and not user_has_permission(request.user, "push_images"):
            raise PermissionDenied("Your role does not allow pushing images.")
        context = values.pop("context")
        build = build_create(
            actor=request.user,
            context=context,
            context_size=context.size if context is not None else 0,
            **values,
        )
        return APIResponse(BuildSerializer(build).data, status=201, message="Build queued.")

    @extend_schema(parameters=[BuildLogQuery], responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def log(self, request: Request, pk: str) -> APIResponse:
        """The log lines numbered `since` and later; ask again with `since=next` for new ones."""
        query = BuildLogQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return APIResponse(
            selectors.build_log_since(build=self.get_object(), since=query.validated_data["since"])
        )

    @extend_schema(request=None, responses=BuildSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> APIResponse:
        build = build_cancel(actor=request.user, build=self.get_object())
        return APIResponse(BuildSerializer(build).data, message="Build cancelled.")
