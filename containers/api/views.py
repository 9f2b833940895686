"""The workspaces API: thin views over containers.services and containers.selectors."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.permissions import RequirePermission
from containers import selectors, services
from containers.models import Workspace
from mgmt.api.renderers import APIResponse
from mgmt.api.schema import CONFLICT_ERROR, UPSTREAM_ERROR
from mgmt.api.viewsets import ScopedGenericViewSet

from .serializers import ApproveInput, LogsQuery, MoveInput, WorkspaceDetailOutput, WorkspaceOutput


class ApproveView(APIView):
    """Approve a sign-up: the workspace is provisioned in the background (202 + its status URL)."""

    permission_classes = [IsAuthenticated, RequirePermission("manage_users")]

    @extend_schema(request=ApproveInput, responses={202: WorkspaceOutput, 404: None})
    def post(self, request: Request, pk: int) -> APIResponse:
        user = selectors.user_for_approval(pk=pk)
        data = ApproveInput(data=request.data)
        data.is_valid(raise_exception=True)
        workspace, queued = services.workspace_approve(actor=request.user, user=user, **data.validated_data)
        workspace.refresh_from_db()  # with eager Celery (make run) provisioning has run already
        message = "Approved; the workspace is being provisioned." if queued else "Already approved."
        response = APIResponse(WorkspaceOutput(workspace).data, status=202, message=message)
        response["Location"] = f"/api/workspaces/{workspace.pk}"
        return response


class WorkspaceMoveView(APIView):
    """Move a workspace to another host (202): `moving`, then active there on the same URL; a
    failure leaves it running where it was. Its progress: `/events/workspace/<id>`."""

    permission_classes = [IsAuthenticated, RequirePermission("manage_workspaces")]

    @extend_schema(request=MoveInput, responses={202: WorkspaceOutput, 404: None, 409: CONFLICT_ERROR})
    def post(self, request: Request, pk: int) -> APIResponse:
        workspace = selectors.workspace_get(user=request.user, pk=pk)
        data = MoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        target = data.validated_data["server"]
        workspace = services.workspace_move(actor=request.user, workspace=workspace, server=target)
        workspace.refresh_from_db()  # with eager Celery the move has run already
        response = APIResponse(
            WorkspaceOutput(workspace).data, status=202, message=f"Moving to {target.name}."
        )
        response["Location"] = f"/api/workspaces/{workspace.pk}"
        return response


class WorkspaceViewSet(ScopedGenericViewSet):
    """Workspaces, scoped: their owner (guardian object permissions) and admins."""

    queryset = Workspace.objects.select_related("owner", "server")
    serializer_class = WorkspaceOutput
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        return super().get_queryset().order_by("-created_at", "-id")

    @extend_schema(responses={200: WorkspaceOutput(many=True)})
    def list(self, request: Request) -> APIResponse:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WorkspaceOutput(page, many=True).data)

    @extend_schema(responses={200: WorkspaceDetailOutput})
    def retrieve(self, request: Request, pk: int) -> APIResponse:
        workspace = self.get_object()
        live = selectors.workspace_live_state(workspace=workspace)
        return APIResponse(WorkspaceDetailOutput(workspace, context={"live": live}).data)

    def _operate(self, action: str) -> APIResponse:
        workspace = self.get_object()
        operation = {
            "start": services.workspace_start,
            "stop": services.workspace_stop,
            "restart": services.workspace_restart,
        }[action]
        workspace = operation(actor=self.request.user, workspace=workspace)
        return APIResponse(WorkspaceOutput(workspace).data, message=f"Workspace {action} done.")

    @extend_schema(request=None, responses={200: WorkspaceOutput, 409: CONFLICT_ERROR, 503: UPSTREAM_ERROR})
    def start(self, request: Request, pk: int) -> APIResponse:
        return self._operate("start")

    @extend_schema(request=None, responses={200: WorkspaceOutput, 409: CONFLICT_ERROR, 503: UPSTREAM_ERROR})
    def stop(self, request: Request, pk: int) -> APIResponse:
        return self._operate("stop")

    @extend_schema(request=None, responses={200: WorkspaceOutput, 409: CONFLICT_ERROR, 503: UPSTREAM_ERROR})
    def restart(self, request: Request, pk: int) -> APIResponse:
        return self._operate("restart")

    @extend_schema(
        parameters=[LogsQuery],
        responses={
            200: inline_serializer(
                "WorkspaceLogs",
                {
                    "lines": serializers.ListField(child=serializers.CharField()),
                    "cursor": serializers.CharField(),
                },
            ),
            409: CONFLICT_ERROR,
            503: UPSTREAM_ERROR,
        },
    )
    def logs(self, request: Request, pk: int) -> APIResponse:
        workspace = self.get_object()
        query = LogsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return APIResponse(selectors.workspace_logs(workspace=workspace, **query.validated_data))
