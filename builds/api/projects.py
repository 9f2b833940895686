"""Thin API over projects and their members."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request

from accounts.permissions import ActionPermissionMixin
from builds import selectors
from builds.models import Project
from builds.services.projects import (
    project_create,
    project_delete,
    project_member_add,
    project_member_remove,
    project_update,
)
from mgmt.api.renderers import APIResponse
from mgmt.api.viewsets import ScopedGenericViewSet
from mgmt.exceptions import NotFound

from .serializers import MemberSerializer, ProjectSerializer, ProjectUpdateSerializer


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
        project = project_create(actor=request.user, **data.validated_data)
        return APIResponse(ProjectSerializer(project).data, status=201, message="Project created.")

    @extend_schema(request=ProjectUpdateSerializer)
    def partial_update(self, request: Request, pk: str) -> APIResponse:
        project = self.get_object()
        data = ProjectUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_update(
            actor=request.user,
            project=project,
            description=data.validated_data.get("description", project.description),
        )
        return APIResponse(ProjectSerializer(project).data, message="Project updated.")

    def destroy(self, request: Request, pk: str) -> APIResponse:
        project_delete(actor=request.user, project=self.get_object())
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
        project = project_member_add(
            actor=request.user, project=self.get_object(), user=self._member(request)
        )
        return APIResponse(ProjectSerializer(project).data, message="Member added.")

    @extend_schema(parameters=[MemberSerializer], responses={200: ProjectSerializer, 404: None})
    @members.mapping.delete
    def remove_member(self, request: Request, pk: str) -> APIResponse:
        project = project_member_remove(
            actor=request.user, project=self.get_object(), user=self._member(request)
        )
        return APIResponse(ProjectSerializer(project).data, message="Member removed.")
