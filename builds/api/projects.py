"""Thin API over projects and builds."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request

from accounts.permissions import ActionPermissionMixin, user_has_permission
from builds import selectors, services
from builds.models import Project
from mgmt.api.renderers import APIResponse
from mgmt.api.viewsets import ScopedGenericViewSet
from mgmt.exceptions import NotFound, PermissionDenied

from .serializers import (
    BuildCreateSerializer,
    BuildLogQuery,
    BuildSerializer,
    MemberSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    build_create_schema,
)


class ProjectViewSet(ActionPermissionMixin, ScopedGenericViewSet):
    """Projects: admins manage them; a qvp sees the projects they are a member of."""

    serializer_class = ProjectSerializer
    queryset = Project.objects.all()
    action_permissions = {"list": "build_images", "retrieve": "build_images"}
    default_action_permission = "manage_images"

    def get_queryset(self):
        return selectors.project_list(user=self.request.user)

    def list(self, request: Request) -> APIResponse:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ProjectSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> APIResponse:
        return APIResponse(ProjectSerializer(self.get_object()).data)

    def create(self, request: Request) -> APIResponse:
        data = ProjectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(actor=request.user, **data.validated_data)
        return APIResponse(ProjectSerializer(project).data, status=201, message="Project created.")

    @extend_schema(request=ProjectUpdateSerializer)
    def partial_update(self, request: Request, pk: str) -> APIResponse:
        project = self.get_object()
        data = ProjectUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_update(
            actor=request.user,
            project=project,
            description=data.validated_data.get("description", project.description),
        )
        return APIResponse(ProjectSerializer(project).data, message="Project updated.")

    def destroy(self, request: Request, pk: str) -> APIResponse:
        services.project_delete(actor=request.user, project=self.get_object())
        return APIResponse(None, message="Project deleted.")

    def _member(self, request: Request):
        # DELETE names the member in the query (a DELETE body is dropped by many clients and proxies);
        # a body is still read when the query has none.
        source = request.data
        if request.method == "DELETE" and "username" in request.query_params:
            source = request.query_params
        data = MemberSerializer(data=source)
        data.is_valid(raise_exception=True)
        user = get_user_model().objects.filter(username=data.validated_data["username"]).first()
        if user is None:
            raise NotFound("username: no such user.")
        return user

    @extend_schema(request=MemberSerializer, responses={200: ProjectSerializer, 404: None})
    @action(detail=True, methods=["post"])
    def members(self, request: Request, pk: str) -> APIResponse:
        project = services.project_member_add(
            actor=request.user, project=self.get_object(), user=self._member(request)
        )
        return APIResponse(ProjectSerializer(project).data, message="Member added.")

    @extend_schema(parameters=[MemberSerializer], responses={200: ProjectSerializer, 404: None})
    @members.mapping.delete
    def remove_member(self, request: Request, pk: str) -> APIResponse:
        project = services.project_member_remove(
            actor=request.user, project=self.get_object(), user=self._member(request)
        )
        return APIResponse(ProjectSerializer(project).data, message="Member removed.")


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
        build = services.build_create(
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
        build = services.build_cancel(actor=request.user, build=self.get_object())
        return APIResponse(BuildSerializer(build).data, message="Build cancelled.")
